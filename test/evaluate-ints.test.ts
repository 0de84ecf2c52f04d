// Integer shape arithmetic folded in JavaScript (compiler/driver/evaluate-ints.ts) gives the bits the
// kernels give: each case is evaluated both ways, here and by a compiled module of the node
// (compiler/driver/evaluate.ts evaluateNodes), on values that wrap, truncate, broadcast, and index
// out of range; and the cases the JavaScript side leaves to the module stay with it.
import { describe, expect, it } from "vitest";
import { Graph, type Attr, type Tensor } from "../compiler/ir/graph.js";
import { evaluateInts } from "../compiler/driver/evaluate-ints.js";
import { evaluateNodes } from "../compiler/driver/evaluate.js";
import type { DTypeName } from "../runtime/dtypes.js";

const i64 = (dims: number[], v: (bigint | number)[]): Tensor => ({ dtype: "int64", dims, data: BigInt64Array.from(v.map(BigInt)) });
const i32 = (dims: number[], v: number[]): Tensor => ({ dtype: "int32", dims, data: Int32Array.from(v) });
const bool = (dims: number[], v: number[]): Tensor => ({ dtype: "bool", dims, data: Uint8Array.from(v) });
const f32 = (dims: number[], v: number[]): Tensor => ({ dtype: "float32", dims, data: Float32Array.from(v) });
const int = (value: number): Attr => ({ type: "int", value });

const MAX = 2n ** 63n - 1n, MIN = -(2n ** 63n);

interface Case { what: string; op: string; inputs: Tensor[]; out: { dtype: DTypeName; dims: number[] }; attrs?: Record<string, Attr> }

const CASES: Case[] = [
  { what: "int64 + wraps, broadcasting a scalar", op: "Add", inputs: [i64([3], [MAX, MIN, -5]), i64([], [7])], out: { dtype: "int64", dims: [3] } },
  { what: "int64 - wraps, broadcasting a column", op: "Sub", inputs: [i64([2, 1], [MIN, 3]), i64([3], [1, -1, 4])], out: { dtype: "int64", dims: [2, 3] } },
  { what: "int64 * wraps", op: "Mul", inputs: [i64([4], [MAX, 3n ** 39n, -2, 0]), i64([4], [2, 3n ** 3n, MIN, 9])], out: { dtype: "int64", dims: [4] } },
  { what: "int64 / truncates toward zero", op: "Div", inputs: [i64([6], [7, -7, 7, -7, MIN, 1]), i64([6], [2, 2, -2, -2, 3, 5])], out: { dtype: "int64", dims: [6] } },
  { what: "int32 + and * wrap", op: "Mul", inputs: [i32([3], [2 ** 31 - 1, -(2 ** 31), 46341]), i32([3], [2, 3, 46341])], out: { dtype: "int32", dims: [3] } },
  { what: "int32 / truncates toward zero", op: "Div", inputs: [i32([4], [7, -7, -(2 ** 31), 9]), i32([4], [-2, 2, 7, -4])], out: { dtype: "int32", dims: [4] } },
  { what: "Equal on int64, broadcast", op: "Equal", inputs: [i64([2, 2], [1, 2, 3, 4]), i64([2], [1, 4])], out: { dtype: "bool", dims: [2, 2] } },
  { what: "Where over int64, the condition broadcast", op: "Where", inputs: [bool([2], [1, 0]), i64([2, 2], [1, 2, 3, 4]), i64([], [-9])], out: { dtype: "int64", dims: [2, 2] } },
  { what: "Expand an int64 row", op: "Expand", inputs: [i64([1, 3], [5, 6, 7]), i64([2], [2, 3])], out: { dtype: "int64", dims: [2, 3] } },
  { what: "Expand a float32 column (moves only)", op: "Expand", inputs: [f32([2, 1], [1.5, -0]), i64([2], [2, 3])], out: { dtype: "float32", dims: [2, 3] } },
  { what: "Cast int64 -> int32 wraps", op: "Cast", inputs: [i64([3], [2n ** 32n + 5n, -1, 2n ** 31n])], out: { dtype: "int32", dims: [3] }, attrs: { to: int(6) } },
  { what: "Cast int32 -> int64 sign-extends", op: "Cast", inputs: [i32([2], [-3, 2 ** 31 - 1])], out: { dtype: "int64", dims: [2] }, attrs: { to: int(7) } },
  { what: "Cast int64 -> bool", op: "Cast", inputs: [i64([3], [0, -2, 2n ** 40n])], out: { dtype: "bool", dims: [3] }, attrs: { to: int(9) } },
  { what: "Cast int64 -> uint8 wraps", op: "Cast", inputs: [i64([3], [256, -1, 300])], out: { dtype: "uint8", dims: [3] }, attrs: { to: int(2) } },
  { what: "Cast bool -> int64", op: "Cast", inputs: [bool([2], [1, 0])], out: { dtype: "int64", dims: [2] }, attrs: { to: int(7) } },
  { what: "Cast float32 -> float32", op: "Cast", inputs: [f32([2], [NaN, -0])], out: { dtype: "float32", dims: [2] }, attrs: { to: int(1) } },
  { what: "Range int64, negative delta", op: "Range", inputs: [i64([], [10]), i64([], [-3]), i64([], [-4])], out: { dtype: "int64", dims: [4] } },
  { what: "Range int32", op: "Range", inputs: [i32([], [-2]), i32([], [7]), i32([], [3])], out: { dtype: "int32", dims: [3] } },
  { what: "Gather a scalar from a shape, negative index", op: "Gather", inputs: [i64([4], [2, 16, 8, 64]), i64([], [-3])], out: { dtype: "int64", dims: [] } },
  { what: "Gather along axis 1, an index out of range reads zeros", op: "Gather", inputs: [i64([2, 3], [1, 2, 3, 4, 5, 6]), i32([3], [2, -4, 0])], out: { dtype: "int64", dims: [2, 3] }, attrs: { axis: int(1) } },
  { what: "Concat int64 vectors", op: "Concat", inputs: [i64([1], [2]), i64([2], [-1, 8]), i64([0], [])], out: { dtype: "int64", dims: [3] }, attrs: { axis: int(0) } },
  { what: "Concat along axis 1", op: "Concat", inputs: [i32([2, 1], [1, 2]), i32([2, 2], [3, 4, 5, 6])], out: { dtype: "int32", dims: [2, 3] }, attrs: { axis: int(-1) } },
];

const bits = (t: Tensor) => Array.from(t.data as ArrayLike<number | bigint>, (v) => (typeof v === "bigint" ? v.toString() : Object.is(v, -0) ? "-0" : String(v)));

function request(c: Case) {
  const graph = new Graph();
  graph.opsets.set("", 17);
  const node = { name: c.what, op: c.op, domain: "", inputs: c.inputs.map((_, k) => `in${k}`), outputs: ["out"], attrs: c.attrs ?? {} };
  return { graph, node, inputs: c.inputs, outputs: [{ dtype: c.out.dtype, shape: c.out.dims }] };
}

describe("integer shape arithmetic folded in JavaScript", () => {
  for (const c of CASES) {
    it(`${c.what}: the module's bits`, async () => {
      const r = request(c);
      const here = evaluateInts(r.node, c.inputs, c.out);
      expect(here, "evaluated in JavaScript").toBeDefined();
      const [[module]] = await evaluateNodes([r]);
      expect(here!.dtype).toBe(module.dtype);
      expect(here!.dims).toEqual(module.dims);
      expect(bits(here!)).toEqual(bits(module));
    });
  }

  it("leaves to the module what it does not take: a zero divisor, the overflowing quotient, float arithmetic, float casts, big results", () => {
    const skip = (c: Case) => evaluateInts(request(c).node, c.inputs, c.out);
    expect(skip({ what: "", op: "Div", inputs: [i64([2], [1, 2]), i64([2], [1, 0])], out: { dtype: "int64", dims: [2] } })).toBeUndefined();
    expect(skip({ what: "", op: "Div", inputs: [i64([1], [MIN]), i64([1], [-1])], out: { dtype: "int64", dims: [1] } })).toBeUndefined();
    expect(skip({ what: "", op: "Add", inputs: [f32([1], [1]), f32([1], [2])], out: { dtype: "float32", dims: [1] } })).toBeUndefined();
    expect(skip({ what: "", op: "Cast", inputs: [i64([1], [3])], out: { dtype: "float32", dims: [1] }, attrs: { to: int(1) } })).toBeUndefined();
    expect(skip({ what: "", op: "Expand", inputs: [i64([1], [3]), i64([1], [5000])], out: { dtype: "int64", dims: [5000] } })).toBeUndefined();
  });
});
