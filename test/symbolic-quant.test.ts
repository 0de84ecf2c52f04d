// The 4-bit MatMulNBits over a symbolic sequence (docs/ARCHITECTURE.md "Symbolic dims"): one
// module for seq 1..16 whose runs of one or two rows take the GEMV's code and the rest the panel
// GEMM, each run the bytes of kiln's build pinned at that length (which picks by the same rule),
// and within float rounding of onnxruntime-node. The int8 convolutions (ConvInteger, as
// quantize_dynamic leaves a CNN's) over a symbolic batch, each variant, exactly as onnxruntime.
import { describe, expect, it } from "vitest";
import { Graph, type Tensor } from "../compiler/ir/graph.js";
import { exportModel } from "../compiler/onnx/export.js";
import { load } from "../compiler/driver/api.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import { runOrt } from "./util/ort.js";
import { loadAt } from "./util/load-threads.js";

const K = 64, N = 20, BS = 32, MAX = 16;

function nbitsModel(): Uint8Array {
  const g = new Graph();
  g.opsets.set("", 17);
  g.opsets.set("com.microsoft", 1);
  const x = g.value("x");
  Object.assign(x, { dtype: "float32", shape: [1, "seq", K] });
  g.inputs.push("x");
  let s = 7;
  const next = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8);
  const blocks = K / BS;
  Object.assign(g.value("b"), { dtype: "uint8", shape: [N, blocks, BS / 2], const: { dtype: "uint8", dims: [N, blocks, BS / 2], data: Uint8Array.from({ length: N * blocks * BS / 2 }, () => next() & 255) } });
  Object.assign(g.value("scales"), { dtype: "float32", shape: [N * blocks], const: { dtype: "float32", dims: [N * blocks], data: Float32Array.from({ length: N * blocks }, () => (next() % 1000) / 20000 + 0.01) } });
  g.addNode({ name: "q4", op: "MatMulNBits", domain: "com.microsoft", inputs: ["x", "b", "scales"], outputs: ["y"],
    attrs: { K: { type: "int", value: K }, N: { type: "int", value: N }, bits: { type: "int", value: 4 }, block_size: { type: "int", value: BS } } });
  Object.assign(g.value("y"), { dtype: "float32", shape: [1, "seq", N] });
  g.outputs.push("y");
  return exportModel(g, { valueInfo: false });
}

const bytesOf = (t: Tensor) => Array.from(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));

describe("MatMulNBits over a symbolic sequence", () => {
  it("one module for seq 1..16: one or two rows the GEMV, more the panels, each run the pinned build's bytes and as onnxruntime-node's", async () => {
    const bytes = nbitsModel();
    const m = await load(bytes, { shapes: { seq: [1, MAX] } });
    for (const seq of [1, 2, 3, 16, 7]) {
      const feeds: Record<string, Tensor> = { x: { dtype: "float32", dims: [1, seq, K], data: Float32Array.from({ length: seq * K }, (_, i) => Math.sin(i * 0.37 + seq)) } };
      const got = (await m.run(feeds)).y;
      const pinned = await load(bytes, { shapes: { seq } });
      expect(pinned.session!.manifest.layers.find((l) => l.op.includes("MatMulNBits"))!.kernel, `seq ${seq}`).toBe(seq <= 2 ? "gemv-nbits" : "panels-nbits");
      expect(bytesOf(got), `seq ${seq}`).toEqual(bytesOf((await pinned.run(feeds)).y));
      expect(compareTensors(got, (await runOrt(bytes, feeds)).y, { rtol: 1e-4, atol: 1e-5 }).message ?? "ok", `seq ${seq}`).toBe("ok");
    }
    expect(m.modulesCompiled).toBe(1);
  });
});

/**
 * x uint8 [batch, 4, 8, 8] through three ConvIntegers (onnxruntime's quantize_dynamic form of a
 * convolution, its activations' zero point a scalar): a 3x3 with padding, a 1x1, a depthwise 3x3
 */
function convIntegerModel(): Uint8Array {
  const g = new Graph();
  g.opsets.set("", 17);
  Object.assign(g.value("x"), { dtype: "uint8", shape: ["batch", 4, 8, 8] });
  g.inputs.push("x");
  let s = 11;
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) & 255);
  const constant = (name: string, dims: number[], data: Uint8Array) => Object.assign(g.value(name), { dtype: "uint8", shape: dims, const: { dtype: "uint8", dims, data } });
  constant("xzp", [], Uint8Array.of(131));
  const convs: [string, number[], Record<string, number | number[]>][] = [
    ["c3", [8, 4, 3, 3], { pads: [1, 1, 1, 1] }], ["c1", [8, 4, 1, 1], {}], ["dw", [4, 1, 3, 3], { pads: [1, 1, 1, 1], group: 4 }],
  ];
  for (const [name, w, attrs] of convs) {
    constant(`${name}_w`, w, bytes(w.reduce((a, b) => a * b, 1)));
    constant(`${name}_wzp`, [], Uint8Array.of(119));
    g.addNode({ name, op: "ConvInteger", domain: "", inputs: ["x", `${name}_w`, "xzp", `${name}_wzp`], outputs: [`${name}_y`],
      attrs: Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, Array.isArray(v) ? { type: "ints" as const, value: v } : { type: "int" as const, value: v }])) });
    Object.assign(g.value(`${name}_y`), { dtype: "int32", shape: ["batch", w[0], 8, 8] });
    g.outputs.push(`${name}_y`);
  }
  return exportModel(g, { valueInfo: false });
}

describe("int8 convolutions over a symbolic batch (onnxruntime's quantize_dynamic of a CNN: ConvInteger)", () => {
  const bytes = convIntegerModel();
  for (const [selection, threads] of [["", 1], ["", 2], ["+qgemm-im2col", 1], ["+packed-lanes", 1], ["+direct", 1]] as const) {
    it(`kernels "${selection || "kiln's choice"}", ${threads} thread${threads > 1 ? "s" : ""}: one module for batch 1..3, each batch as onnxruntime-node's`, async () => {
      const m = await (await loadAt(threads))(bytes, { shapes: { batch: [1, 3] }, kernels: selection, threads, cache: false });
      for (const batch of [3, 1, 2]) {
        const feeds: Record<string, Tensor> = { x: { dtype: "uint8", dims: [batch, 4, 8, 8], data: Uint8Array.from({ length: batch * 256 }, (_, i) => (i * 37 + batch) & 255) } };
        const got = await m.run(feeds), want = await runOrt(bytes, feeds);
        for (const name of ["c3_y", "c1_y", "dw_y"]) {
          expect(got[name].dims).toEqual(want[name].dims);
          expect(Array.from(got[name].data as Int32Array), `${name} batch ${batch}`).toEqual(Array.from(want[name].data as Int32Array));
        }
      }
      expect(m.modulesCompiled).toBe(1);
      if (!selection) expect(m.session!.manifest.layers.map((l) => l.kernel)).toEqual(expect.arrayContaining(["qgemm-pointwise", "qdepthwise"]));
      m.session?.terminate?.();
    });
  }
});

/** x uint8 [batch, 16, 16, 16] through a 3x3 QLinearConv (the int8 Winograd's) */
function qlinearConvModel(): Uint8Array {
  const g = new Graph();
  g.opsets.set("", 17);
  Object.assign(g.value("x"), { dtype: "uint8", shape: ["batch", 16, 16, 16] });
  g.inputs.push("x");
  const c = (name: string, dtype: "uint8" | "float32", dims: number[], data: Uint8Array | Float32Array) => Object.assign(g.value(name), { dtype, shape: dims, const: { dtype, dims, data } });
  c("xs", "float32", [], Float32Array.of(0.02));
  c("xzp", "uint8", [], Uint8Array.of(131));
  c("w", "uint8", [16, 16, 3, 3], Uint8Array.from({ length: 16 * 16 * 9 }, (_, i) => (i * 7 + (i >> 4)) & 255));
  c("ws", "float32", [], Float32Array.of(0.01));
  c("wzp", "uint8", [], Uint8Array.of(119));
  c("ys", "float32", [], Float32Array.of(0.5));
  c("yzp", "uint8", [], Uint8Array.of(128));
  g.addNode({ name: "conv", op: "QLinearConv", domain: "", inputs: ["x", "xs", "xzp", "w", "ws", "wzp", "ys", "yzp"], outputs: ["y"], attrs: { pads: { type: "ints", value: [1, 1, 1, 1] } } });
  Object.assign(g.value("y"), { dtype: "uint8", shape: ["batch", 16, 16, 16] });
  g.outputs.push("y");
  return exportModel(g, { valueInfo: false });
}

describe("the int8 Winograd over a symbolic batch (QLinearConv)", () => {
  const bytes = qlinearConvModel();
  for (const threads of [1, 2]) {
    it(`${threads} thread${threads > 1 ? "s" : ""}: one module for batch 1..3, each within one quantization step of onnxruntime-node`, async () => {
      const m = await (await loadAt(threads))(bytes, { shapes: { batch: [1, 3] }, threads, cache: false });
      for (const batch of [3, 1, 2]) {
        const feeds: Record<string, Tensor> = { x: { dtype: "uint8", dims: [batch, 16, 16, 16], data: Uint8Array.from({ length: batch * 4096 }, (_, i) => (i * 37 + batch) & 255) } };
        const got = (await m.run(feeds)).y, want = (await runOrt(bytes, feeds)).y;
        expect(got.dims).toEqual(want.dims);
        const worst = Array.from(got.data as Uint8Array).reduce((a, v, i) => Math.max(a, Math.abs(v - (want.data as Uint8Array)[i])), 0);
        expect(worst, `batch ${batch}`).toBeLessThanOrEqual(1);
      }
      expect(m.modulesCompiled).toBe(1);
      expect(m.session!.manifest.layers.map((l) => l.kernel)).toEqual(["qwinograd"]);
      m.session?.terminate?.();
    });
  }
});
