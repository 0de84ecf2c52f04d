// Small float32 arithmetic folded in JavaScript (compiler/driver/evaluate-exact.ts) must be bit for bit
// what the kernels compute, broadcasting included, and must leave everything else, and
// everything that reads it, to the compiled module.
import { describe, expect, it } from "vitest";
import { evaluateNodes } from "../compiler/driver/evaluate.js";
import { evaluateExact, MAX_EXACT_ELEMENTS } from "../compiler/driver/evaluate-exact.js";
import type { EvalRequest } from "../compiler/driver/evaluate-splat.js";
import { Graph, type Tensor } from "../compiler/ir/graph.js";

function edgy(n: number, seed: number): Float32Array {
  const edges = [0, -0, 1e-45, -3e-39, 1.1754942e-38, 3.4e38, -3.4e38, Infinity, -Infinity, NaN, 1, -1, 3, 7];
  let s = seed;
  return Float32Array.from({ length: n }, (_, i) => {
    s = (s * 1103515245 + 12345) >>> 0;
    return i % 5 === 2 ? edges[(s >>> 8) % edges.length] : ((s >>> 8) / (1 << 24) - 0.5) * 2 ** ((s % 50) - 25);
  });
}

const g = new Graph();
g.opsets.set("", 13);
const f32 = (dims: number[], seed: number): Tensor => ({ dtype: "float32", dims, data: edgy(dims.reduce((a, b) => a * b, 1), seed) });
const req = (op: string, inputs: (Tensor | undefined)[], names: string[], out: string, shape: number[], dtype: "float32" | "int64" = "float32"): EvalRequest =>
  ({ graph: g, node: { name: out, op, domain: "", inputs: names, outputs: [out], attrs: {} }, inputs, outputs: [{ dtype, shape }] });

/** Same bits, NaN payloads aside. */
function expectSameFloats(got: Tensor, want: Tensor) {
  expect(got.dims).toEqual(want.dims);
  const a = got.data as Float32Array, b = want.data as Float32Array;
  const ab = new Uint32Array(a.buffer, a.byteOffset, a.length), bb = new Uint32Array(b.buffer, b.byteOffset, b.length);
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) && Number.isNaN(b[i])) continue;
    if (ab[i] !== bb[i]) expect(`element ${i}: ${a[i]}`).toBe(`${b[i]}`);
  }
}

/** evaluateExact with a module that must not be asked for anything */
const noModule = async () => { throw new Error("a module was compiled"); };

describe("exact folding in JavaScript", () => {
  const shapes: [number[], number[], number[]][] = [
    [[3, 4], [3, 4], [3, 4]],
    [[2, 3, 4], [4], [2, 3, 4]],
    [[2, 1, 4], [3, 1], [2, 3, 4]],
    [[], [5], [5]],
    [[1], [], [1]],
    [[6, 1, 1, 1], [1, 2, 1, 3], [6, 2, 1, 3]],
  ];
  for (const op of ["Add", "Sub", "Mul", "Div"]) {
    it(`${op}: bit for bit the kernel's, broadcasting both ways, with edge values`, async () => {
      for (const [k, [da, db, out]] of shapes.entries()) {
        const a = f32(da, 3 + k), b = f32(db, 11 + k);
        const [[got]] = await evaluateExact([req(op, [a, b], ["a", "b"], "y", out)], noModule);
        const [[want]] = await evaluateNodes([req(op, [a, b], ["a", "b"], "y", out)]);
        expectSameFloats(got, want);
      }
    });
  }

  for (const op of ["Sqrt", "Neg", "Abs", "Floor", "Ceil"]) {
    it(`${op}: bit for bit the kernel's`, async () => {
      const a = f32([7, 9], 5);
      const [[got]] = await evaluateExact([req(op, [a], ["a"], "y", [7, 9])], noModule);
      const [[want]] = await evaluateNodes([req(op, [a], ["a"], "y", [7, 9])]);
      expectSameFloats(got, want);
    });
  }

  it("folds BatchNormalization's parameter chain without compiling a module", async () => {
    const scale = f32([8], 1), variance = { ...f32([8], 2), data: Float32Array.from(edgy(8, 2), Math.abs) };
    const eps: Tensor = { dtype: "float32", dims: [], data: Float32Array.of(1e-5) };
    const shape: Tensor = { dtype: "int64", dims: [4], data: BigInt64Array.of(8n, 1n, 1n, 1n) };
    const got = await evaluateExact([
      req("Add", [variance, eps], ["var", "eps"], "ve", [8]),
      req("Sqrt", [undefined], ["ve"], "sd", [8]),
      req("Div", [scale, undefined], ["scale", "sd"], "s", [8]),
      req("Reshape", [undefined, shape], ["s", "shape"], "sw", [8, 1, 1, 1]),
    ], noModule);
    const want = await evaluateNodes([
      req("Add", [variance, eps], ["var", "eps"], "ve", [8]),
      req("Sqrt", [undefined], ["ve"], "sd", [8]),
      req("Div", [scale, undefined], ["scale", "sd"], "s", [8]),
      req("Reshape", [undefined, shape], ["s", "shape"], "sw", [8, 1, 1, 1]),
    ]);
    got.forEach(([t], k) => expectSameFloats(t, want[k][0]));
  });

  it("leaves other ops, large results, and what reads them to the module, with its own results as constants", async () => {
    const a = f32([4], 7), b = f32([4], 8);
    const asked: string[] = [];
    const spy = async (rs: EvalRequest[]) => {
      asked.push(...rs.map((r) => `${r.node.op}(${r.inputs.map((t) => (t ? "const" : "pending")).join(",")})`));
      return evaluateNodes(rs);
    };
    const big = f32([MAX_EXACT_ELEMENTS + 1], 9);
    const [[sum], [e], [after], [large]] = await evaluateExact([
      req("Add", [a, b], ["a", "b"], "sum", [4]),
      req("Exp", [undefined], ["sum"], "e", [4]),
      req("Mul", [undefined, undefined], ["e", "sum"], "after", [4]),
      req("Neg", [big], ["big"], "large", big.dims),
    ], spy);
    expect(asked).toEqual(["Exp(const)", "Mul(pending,const)", "Neg(const)"]);
    for (let i = 0; i < 4; i++) {
      expect(Object.is((after.data as Float32Array)[i], Math.fround((e.data as Float32Array)[i] * (sum.data as Float32Array)[i]))).toBe(true);
    }
    expect((large.data as Float32Array).length).toBe(MAX_EXACT_ELEMENTS + 1);
  });
});
