// Scaled constants (compiler/ir/scaled.ts, compiler/driver/evaluate-scaled.ts): a large weight times a
// vector along one axis (BatchNormalization folded into a Conv) is kept as its two factors until
// the weights image is written. The product must be bit for bit the Mul kernel's, nothing at
// compile time may multiply it out, and folded models must still compute what they did.
import { describe, expect, it } from "vitest";
import { load } from "../compiler/driver/api.js";
import { evaluateNode, evaluateNodes } from "../compiler/driver/evaluate.js";
import { evaluateWithScaling, MIN_SCALED_ELEMENTS } from "../compiler/driver/evaluate-scaled.js";
import type { EvalRequest } from "../compiler/driver/evaluate-splat.js";
import { Graph, type Tensor } from "../compiler/ir/graph.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { isScaled, scaledTensor } from "../compiler/ir/scaled.js";
import { splatTensor } from "../compiler/ir/splat.js";
import { rawTensor } from "../compiler/ir/raw.js";
import { exportModel } from "../compiler/onnx/export.js";
import { mergeConstants } from "../passes/cse.js";
import { foldConstantsPass } from "../passes/fold-constants.js";
import { runOrt } from "./util/ort.js";

/** float32 values with the edges: zeros of both signs, subnormals, huge, infinities, NaN */
function edgy(n: number, seed: number): Float32Array {
  const edges = [0, -0, 1e-45, -3e-39, 1.1754942e-38, 3.4e38, -3.4e38, Infinity, -Infinity, NaN, 1, -1];
  let s = seed;
  return Float32Array.from({ length: n }, (_, i) => {
    s = (s * 1103515245 + 12345) >>> 0;
    return i % 7 === 3 ? edges[(s >>> 8) % edges.length] : ((s >>> 8) / (1 << 24) - 0.5) * 2 ** ((s % 60) - 30);
  });
}

/** The Mul kernel's own result for a * b (b broadcast), computed in a compiled module. */
async function mulKernel(a: Tensor, b: Tensor): Promise<Float32Array> {
  const g = new Graph();
  g.opsets.set("", 13);
  const node = { name: "mul", op: "Mul", domain: "", inputs: ["a", "b"], outputs: ["y"], attrs: {} };
  const [[y]] = await evaluateNodes([{ graph: g, node, inputs: [a, b], outputs: [{ dtype: "float32", shape: a.dims }] }]);
  return y.data as Float32Array;
}

/** Same bits, NaN payloads aside. */
function expectSameFloats(got: Float32Array, want: Float32Array) {
  expect(got.length).toBe(want.length);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length), w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < got.length; i++) {
    if (Number.isNaN(got[i]) && Number.isNaN(want[i])) continue;
    if (g[i] !== w[i]) expect(`element ${i}: ${got[i]} (0x${g[i].toString(16)})`).toBe(`${want[i]} (0x${w[i].toString(16)})`);
  }
}

describe("scaled tensors", () => {
  it("multiply out bit for bit as the Mul kernel does, on every axis, dense, raw and splat bases", async () => {
    const dims = [6, 5, 3, 7];
    const n = dims.reduce((a, b) => a * b, 1);
    const w = edgy(n, 1);
    const bases: Tensor[] = [
      { dtype: "float32", dims, data: w },
      rawTensor("float32", dims, new Uint8Array(w.buffer)),
      splatTensor("float32", dims, Float32Array.of(-2.5e-39)),
    ];
    for (const base of bases) {
      for (let axis = 0; axis < dims.length; axis++) {
        const s = edgy(dims[axis], 7 + axis);
        const sDims = dims.map((d, k) => (k === axis ? d : 1));
        const t = scaledTensor(base, s, axis);
        expect(isScaled(t)).toBe(true);
        expectSameFloats(t.data as Float32Array, await mulKernel(base, { dtype: "float32", dims: sDims, data: s }));
      }
      // one factor everywhere
      expectSameFloats(scaledTensor(base, Float32Array.of(3.25), 0).data as Float32Array, await mulKernel(base, { dtype: "float32", dims: [1], data: Float32Array.of(3.25) }));
    }
  });

  it("refuse a factor count that does not match the axis", () => {
    expect(() => scaledTensor({ dtype: "float32", dims: [4, 2], data: new Float32Array(8) }, new Float32Array(3), 0)).toThrow(/3 factors/);
  });

  it("are hashed and compared by CSE without being multiplied out", () => {
    const base: Tensor = { dtype: "float32", dims: [64, 64], get data(): Float32Array { throw new Error("the product was computed"); } };
    const g = parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[64]
const %a : float32[64,64] = splat<1>
const %b : float32[64,64] = splat<1>
%y : float32[64] = MatMul(%a, %x)
%z : float32[64] = MatMul(%b, %x)
output %y
output %z`);
    g.values.get("a")!.const = scaledTensor(base, new Float32Array(64).fill(2), 0);
    g.values.get("b")!.const = scaledTensor(base, new Float32Array(64).fill(2), 0);
    expect(mergeConstants(g)).toBe(0);
  });
});

describe("deferred products in constant folding", () => {
  const big = (dims: number[], seed: number): Tensor => ({ dtype: "float32", dims, data: edgy(dims.reduce((a, b) => a * b, 1), seed) });

  it("defers a large Mul by a per-axis factor computed in the same batch, and only that", async () => {
    const g = new Graph();
    g.opsets.set("", 13);
    const w = big([64, 8, 3, 3], 3);
    const s = { dtype: "float32" as const, dims: [64], data: edgy(64, 5) };
    const shape = { dtype: "int64" as const, dims: [4], data: BigInt64Array.of(64n, 1n, 1n, 1n) };
    const node = (name: string, op: string, inputs: string[], outputs: string[]) => ({ name, op, domain: "", inputs, outputs, attrs: {} });
    const requests: EvalRequest[] = [
      { graph: g, node: node("r", "Reshape", ["s", "shape"], ["sw"]), inputs: [s, shape], outputs: [{ dtype: "float32", shape: [64, 1, 1, 1] }] },
      { graph: g, node: node("m", "Mul", ["w", "sw"], ["w2"]), inputs: [w, undefined], outputs: [{ dtype: "float32", shape: w.dims }] },
      // too small to defer, and a factor along two axes: both computed in the module
      { graph: g, node: node("small", "Mul", ["w3", "s3"], ["y3"]), inputs: [big([4, 4], 9), big([4, 1], 11)], outputs: [{ dtype: "float32", shape: [4, 4] }] },
      { graph: g, node: node("two", "Mul", ["w4", "s4"], ["y4"]), inputs: [big([64, 64, 2], 13), big([64, 64, 1], 17)], outputs: [{ dtype: "float32", shape: [64, 64, 2] }] },
    ];
    expect(64 * 8 * 9).toBeGreaterThanOrEqual(MIN_SCALED_ELEMENTS);
    const [[sw], [w2], [y3], [y4]] = await evaluateWithScaling(requests, evaluateNodes);
    expect(isScaled(w2)).toBe(true);
    expect([y3, y4, sw].some(isScaled)).toBe(false);
    expectSameFloats(w2.data as Float32Array, await mulKernel(w, { ...s, dims: [64, 1, 1, 1] }));
    expectSameFloats(y4.data as Float32Array, await mulKernel(requests[3].inputs[0]!, requests[3].inputs[1]!));
  });

  it("keeps a product another request of the batch reads in the module", async () => {
    const g = new Graph();
    g.opsets.set("", 13);
    const w = big([64, 128], 21);
    const node = (name: string, op: string, inputs: string[], outputs: string[]) => ({ name, op, domain: "", inputs, outputs, attrs: {} });
    const [[p], [q]] = await evaluateWithScaling([
      { graph: g, node: node("m", "Mul", ["w", "s"], ["p"]), inputs: [w, big([64, 1], 23)], outputs: [{ dtype: "float32", shape: [64, 128] }] },
      { graph: g, node: node("n", "Neg", ["p"], ["q"]), inputs: [undefined], outputs: [{ dtype: "float32", shape: [64, 128] }] },
    ], evaluateNodes);
    expect(isScaled(p)).toBe(false);
    expect((q.data as Float32Array)[5]).toBe(-(p.data as Float32Array)[5]);
  });

  it("folds Conv + BatchNormalization into scaled weights, and the model computes what onnxruntime does", async () => {
    const C = 32, M = 16; // 4608 weights: over MIN_SCALED_ELEMENTS
    const w = Array.from(edgy(M * C * 9, 31), (v) => (Number.isFinite(v) && Math.abs(v) < 10 ? v : 0.5));
    const vec = (seed: number, pos = false) => Array.from(edgy(M, seed), (v) => (Number.isFinite(v) && Math.abs(v) < 10 ? (pos ? Math.abs(v) + 0.1 : v) : 1));
    const text = `kiln.graph opsets("" = 13)
input %x : float32[1,${C},9,9]
const %w : float32[${M},${C},3,3] = dense<[${w.join(", ")}]>
const %scale : float32[${M}] = dense<[${vec(1).join(", ")}]>
const %beta : float32[${M}] = dense<[${vec(2).join(", ")}]>
const %mean : float32[${M}] = dense<[${vec(3).join(", ")}]>
const %var : float32[${M}] = dense<[${vec(4, true).join(", ")}]>
%c : float32[1,${M},9,9] = Conv[pads=[1,1,1,1]](%x, %w) {name="conv"}
%y : float32[1,${M},9,9] = BatchNormalization(%c, %scale, %beta, %mean, %var) {name="bn"}
output %y`;
    const g = parseGraph(text);
    await foldConstantsPass.run(g, { evaluate: evaluateNode });
    const [conv] = g.topoOrder();
    expect(conv.op).toBe("Conv");
    expect(isScaled(g.values.get(conv.inputs[1])!.const!)).toBe(true);
    const bytes = exportModel(parseGraph(text));
    const x = Float32Array.from(edgy(C * 81, 41), (v) => (Number.isFinite(v) && Math.abs(v) < 10 ? v : -0.25));
    const model = await load(bytes);
    const got = await model.run({ x: { data: x, dims: [1, C, 9, 9] } });
    const want = await runOrt(bytes, { x: { dtype: "float32", dims: [1, C, 9, 9], data: x } });
    const y = got.y.data as Float32Array, r = want.y.data as Float32Array;
    for (let i = 0; i < r.length; i++) expect(Math.abs(y[i] - r[i])).toBeLessThanOrEqual(1e-4 + 1e-4 * Math.abs(r[i]));
  });
});
