// Integer shape arithmetic folded in JavaScript (compiler/driver/evaluate-ints.ts, evaluate-logic.ts) gives the bits the
// kernels give: each case is evaluated both ways, here and by a compiled module of the node
// (compiler/driver/evaluate.ts evaluateNodes), on values that wrap, truncate, broadcast, and index
// from the end; and the cases the JavaScript side leaves to the module stay with it (an index out of
// range: the module refuses it).
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
  { what: "Gather along axis 1, negative indices", op: "Gather", inputs: [i64([2, 3], [1, 2, 3, 4, 5, 6]), i32([3], [2, -3, 0])], out: { dtype: "int64", dims: [2, 3] }, attrs: { axis: int(1) } },
  { what: "Concat int64 vectors", op: "Concat", inputs: [i64([1], [2]), i64([2], [-1, 8]), i64([0], [])], out: { dtype: "int64", dims: [3] }, attrs: { axis: int(0) } },
  { what: "Concat along axis 1", op: "Concat", inputs: [i32([2, 1], [1, 2]), i32([2, 2], [3, 4, 5, 6])], out: { dtype: "int32", dims: [2, 3] }, attrs: { axis: int(-1) } },
  // Slice and Tile move integers (DeBERTa's relative positions, rel_pos[:seq])
  { what: "Slice int64 rows, a negative start, an end past the dim", op: "Slice", inputs: [i64([3, 4], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), i64([2], [-2, 1]), i64([2], [MAX, 3]), i64([2], [0, 1])], out: { dtype: "int64", dims: [2, 2] } },
  { what: "Slice with a negative step", op: "Slice", inputs: [i32([5], [1, 2, 3, 4, 5]), i64([1], [-1]), i64([1], [MIN]), i64([1], [0]), i64([1], [-2])], out: { dtype: "int32", dims: [3] } },
  { what: "Slice a bool mask", op: "Slice", inputs: [bool([4], [1, 0, 0, 1]), i64([1], [1]), i64([1], [4])], out: { dtype: "bool", dims: [3] } },
  { what: "Tile int64", op: "Tile", inputs: [i64([1, 2], [3, -4]), i64([2], [2, 2])], out: { dtype: "int64", dims: [2, 4] } },
  // casts between integers and floats
  { what: "Cast int64 -> float32 rounds once", op: "Cast", inputs: [i64([4], [2n ** 24n + 1n, -(2n ** 25n) - 3n, 7, 2n ** 52n + 1n])], out: { dtype: "float32", dims: [4] }, attrs: { to: int(1) } },
  { what: "Cast bool -> float32", op: "Cast", inputs: [bool([2], [1, 0])], out: { dtype: "float32", dims: [2] }, attrs: { to: int(1) } },
  { what: "Cast float32 -> int64 truncates, saturates, NaN -> 0", op: "Cast", inputs: [f32([7], [2.9, -2.9, NaN, Infinity, -Infinity, 1e20, -0.5])], out: { dtype: "int64", dims: [7] }, attrs: { to: int(7) } },
  { what: "Cast float32 -> int32 saturates", op: "Cast", inputs: [f32([4], [3e9, -3e9, 2147483520, -7.5])], out: { dtype: "int32", dims: [4] }, attrs: { to: int(6) } },
  // comparisons, logic and clamps (evaluate-logic.ts)
  { what: "Less, broadcast", op: "Less", inputs: [i64([2, 2], [1, 5, MIN, 4]), i64([2], [2, 4])], out: { dtype: "bool", dims: [2, 2] } },
  { what: "Greater on int32", op: "Greater", inputs: [i32([3], [-1, 0, 7]), i32([], [0])], out: { dtype: "bool", dims: [3] } },
  { what: "LessOrEqual", op: "LessOrEqual", inputs: [i64([3], [1, 2, 3]), i64([3], [2, 2, 2])], out: { dtype: "bool", dims: [3] } },
  { what: "GreaterOrEqual", op: "GreaterOrEqual", inputs: [i64([3], [1, 2, 3]), i64([3], [2, 2, 2])], out: { dtype: "bool", dims: [3] } },
  { what: "And, Or, Xor broadcast", op: "Xor", inputs: [bool([2, 2], [1, 0, 1, 0]), bool([2], [1, 1])], out: { dtype: "bool", dims: [2, 2] } },
  { what: "And", op: "And", inputs: [bool([4], [1, 0, 1, 0]), bool([4], [1, 1, 0, 0])], out: { dtype: "bool", dims: [4] } },
  { what: "Or", op: "Or", inputs: [bool([4], [1, 0, 1, 0]), bool([4], [1, 1, 0, 0])], out: { dtype: "bool", dims: [4] } },
  { what: "Not", op: "Not", inputs: [bool([2], [1, 0])], out: { dtype: "bool", dims: [2] } },
  { what: "Neg int64 wraps at the least value", op: "Neg", inputs: [i64([3], [MIN, -5, 0])], out: { dtype: "int64", dims: [3] } },
  { what: "Abs int32 wraps at the least value", op: "Abs", inputs: [i32([3], [-(2 ** 31), -5, 4])], out: { dtype: "int32", dims: [3] } },
  { what: "Sign int64", op: "Sign", inputs: [i64([3], [MIN, 0, 9])], out: { dtype: "int64", dims: [3] } },
  { what: "Min of three, broadcast", op: "Min", inputs: [i64([2], [3, -1]), i64([], [2]), i64([2, 1], [0, 9])], out: { dtype: "int64", dims: [2, 2] } },
  { what: "Max int32", op: "Max", inputs: [i32([3], [3, -1, 5]), i32([3], [2, 2, 2])], out: { dtype: "int32", dims: [3] } },
  { what: "Clip int64 between inputs", op: "Clip", inputs: [i64([4], [-9, 0, 5, 99]), i64([], [-1]), i64([], [7])], out: { dtype: "int64", dims: [4] } },
  { what: "Clip with a min above the max gives the max", op: "Clip", inputs: [i32([3], [-9, 0, 9]), i32([], [5]), i32([], [2])], out: { dtype: "int32", dims: [3] } },
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

  it("leaves to the module what it does not take: a zero divisor, the overflowing quotient, float arithmetic and comparisons, an integer cast to float from 2^53, big results", () => {
    const skip = (c: Case) => evaluateInts(request(c).node, c.inputs, c.out);
    expect(skip({ what: "", op: "Div", inputs: [i64([2], [1, 2]), i64([2], [1, 0])], out: { dtype: "int64", dims: [2] } })).toBeUndefined();
    expect(skip({ what: "", op: "Div", inputs: [i64([1], [MIN]), i64([1], [-1])], out: { dtype: "int64", dims: [1] } })).toBeUndefined();
    expect(skip({ what: "", op: "Add", inputs: [f32([1], [1]), f32([1], [2])], out: { dtype: "float32", dims: [1] } })).toBeUndefined();
    expect(skip({ what: "", op: "Cast", inputs: [i64([1], [2n ** 53n])], out: { dtype: "float32", dims: [1] }, attrs: { to: int(1) } })).toBeUndefined();
    expect(skip({ what: "", op: "Less", inputs: [f32([1], [1]), f32([1], [2])], out: { dtype: "bool", dims: [1] } })).toBeUndefined();
    expect(skip({ what: "", op: "Expand", inputs: [i64([1], [3]), i64([1], [5000])], out: { dtype: "int64", dims: [5000] } })).toBeUndefined();
  });

  it("leaves a Gather index out of range to the module, which refuses it as an invalid model, naming the node", async () => {
    const c: Case = { what: "gather-oor", op: "Gather", inputs: [i64([2, 3], [1, 2, 3, 4, 5, 6]), i32([3], [2, -4, 0])], out: { dtype: "int64", dims: [2, 3] }, attrs: { axis: int(1) } };
    expect(evaluateInts(request(c).node, c.inputs, c.out)).toBeUndefined();
    await expect(evaluateNodes([request(c)])).rejects.toThrow(/^INVALID_MODEL: index -4 is out of range for an axis of length 3, in values computed at compile time \[node "gather-oor", Gather\]/);
  });
});
