// Each kernel that splits its work among threads (docs/THREADS.md), on odd shapes at 2 threads:
// the layer is split, its outputs are the bytes of 1 thread and match onnxruntime-node. Shapes are
// chosen for the split's edges: tail panels and row tiles, several K blocks, batches, groups,
// images after the first (the shared scratch rewritten), Winograd's partial tiles.
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import type * as Api from "../compiler/driver/api.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import { buildCase, runOrt, type OpCase } from "./util/ort.js";
import { splitLayers, type SplitCandidate } from "../codegen/threads.js";
import { ModelBuilder, int } from "../models/builder.js";
import { uniform } from "../models/init.js";
import { exportModel } from "../compiler/onnx/export.js";

// from dist/ (npm test builds it first): the workers run runtime/thread-worker.js, which exists only there
const { load } = (await import(path.join(path.resolve(import.meta.dirname, ".."), "dist/compiler/driver/api.js"))) as typeof Api;

const bytesOf = (t: { data: ArrayBufferView }) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

async function expectSplitAndSame(c: OpCase, kernel: string, kernels?: string): Promise<void> {
  const { bytes, feeds, outputs } = buildCase(c);
  const shapes = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dims]));
  const plain = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }]));
  const one = await load(bytes, { shapes, kernels, cache: false, simd: "baseline" });
  const two = await load(bytes, { shapes, kernels, cache: false, simd: "baseline", threads: 2 });
  try {
    const layer = two.session!.manifest.layers.find((l) => l.name === "node")!;
    expect(layer.kernel).toBe(kernel);
    expect(layer.split, "the layer is split").toBe(true);
    const want = await runOrt(bytes, feeds);
    const [a, b] = [await one.run(plain), await two.run(plain)];
    // a second run: the weights are in place, the whole run is one call
    const again = await two.run(plain);
    for (const o of outputs) {
      expect(Buffer.compare(bytesOf(b[o]), bytesOf(a[o])), `${o}: 2 threads give the bytes of 1`).toBe(0);
      expect(Buffer.compare(bytesOf(again[o]), bytesOf(a[o])), `${o}: and again`).toBe(0);
      expect(compareTensors(b[o] as Tensor, want[o], c.tolerance ?? { rtol: 1e-4, atol: 1e-4 }).message ?? "ok").toBe("ok");
    }
  } finally {
    two.session?.terminate?.();
  }
}

const f = (dims: number[], constant = false) => ({ dims, constant });

/** QLinearConv of a uint8 image [N, C, ...] and int8 weights [OC, C/group, k, k] per output channel, requantized to uint8 */
function qlinearConv(x: number[], w: number[], attrs: OpCase["attrs"] = {}): OpCase {
  const OC = w[0];
  return {
    op: "QLinearConv", opset: 10, attrs,
    inputs: [{ dims: x, dtype: "uint8" }, { dims: [], data: [0.02], constant: true }, { dims: [], dtype: "uint8", data: [120], constant: true },
      { dims: w, dtype: "int8", constant: true }, { dims: [OC], lo: 0.001, hi: 0.004, constant: true }, { dims: [OC], dtype: "int8", data: new Array(OC).fill(0), constant: true },
      { dims: [], data: [0.05], constant: true }, { dims: [], dtype: "uint8", data: [128], constant: true }],
  };
}

describe("kernels split at 2 threads: split, the bytes of 1 thread, onnxruntime's values", () => {
  it("MatMul packed: odd rows, a 13-column tail panel", () => expectSplitAndSame({ op: "MatMul", inputs: [f([3, 37, 200]), f([200, 333], true)] }, "packed"));
  it("MatMul packed: three K blocks, odd M", () => expectSplitAndSame({ op: "MatMul", inputs: [f([65, 900]), f([900, 70], true)] }, "packed"));
  it("MatMul packed-runtime: batches, B computed", () => expectSplitAndSame({ op: "MatMul", inputs: [f([4, 64, 48]), f([4, 48, 100])] }, "packed-runtime"));
  it("Einsum packed: Q read in [b, s, h, d], odd sizes", () => expectSplitAndSame({ op: "Einsum", opset: 12, attrs: { equation: { type: "string", value: "bshd,bhdt->bhst" } }, inputs: [f([2, 67, 3, 40]), f([2, 3, 40, 99])] }, "packed"));
  it("Einsum packed: K read in [b, t, h, d] (B gathered into each thread's panel), odd rows", () => expectSplitAndSame({ op: "Einsum", opset: 12, attrs: { equation: { type: "string", value: "bshd,bthd->bhst" } }, inputs: [f([2, 67, 3, 40]), f([2, 99, 3, 40])] }, "packed"));
  it("Einsum packed: the context written in [b, s, h, d]", () => expectSplitAndSame({ op: "Einsum", opset: 12, attrs: { equation: { type: "string", value: "bhst,bthd->bshd" } }, inputs: [f([1, 5, 64, 70]), f([1, 70, 5, 45])] }, "packed"));
  it("Einsum packed: a batch label B broadcasts (SAM's relative positions), each thread its own matrices", () => expectSplitAndSame({ op: "Einsum", opset: 12, attrs: { equation: { type: "string", value: "bhwc,hkc->bhwk" } }, inputs: [f([4, 6, 48, 32]), f([6, 48, 32])] }, "packed"));
  it("Einsum packed: N of two labels run as one (MaskFormer's masks)", () => expectSplitAndSame({ op: "Einsum", opset: 12, attrs: { equation: { type: "string", value: "bqc,bchw->bqhw" } }, inputs: [f([2, 100, 64]), f([2, 64, 12, 13])] }, "packed"));
  it("Attention blocked: (batch, head, row block) items, tail blocks, a mask, each thread its own scores scratch", () => expectSplitAndSame({
    op: "Attention", opset: 23, attrs: { q_num_heads: { type: "int", value: 3 }, kv_num_heads: { type: "int", value: 3 } },
    inputs: [f([2, 130, 3 * 24]), f([2, 409, 3 * 24]), f([2, 409, 3 * 20]), f([2, 3, 130, 409])],
  }, "blocked"));
  it("Gemm packed with a bias", () => expectSplitAndSame({ op: "Gemm", attrs: { transB: { type: "int", value: 1 } }, inputs: [f([33, 256]), f([300, 256], true), f([300], true)] }, "packed"));
  it("Conv im2col-gemm: 2 images, 2 groups, stride 2", () => expectSplitAndSame({
    op: "Conv", attrs: { group: { type: "int", value: 2 }, strides: { type: "ints", value: [2, 2] }, pads: { type: "ints", value: [1, 1, 1, 1] } },
    inputs: [f([2, 16, 31, 29]), f([32, 8, 3, 3], true), f([32], true)],
  }, "im2col-gemm"));
  it("Conv im2col-gemm: an 11x11 stride-4 stem over 3 channels (the copy shared by channel and kernel row)", () => expectSplitAndSame({
    op: "Conv", attrs: { strides: { type: "ints", value: [4, 4] } }, inputs: [f([1, 3, 99, 95]), f([24, 3, 11, 11], true), f([24], true)],
  }, "im2col-gemm", "+im2col-gemm"));
  it("Conv im2col-positions: a small output", () => expectSplitAndSame({
    op: "Conv", attrs: { strides: { type: "ints", value: [2, 2] } }, inputs: [f([1, 64, 11, 11]), f([128, 64, 3, 3], true)],
  }, "im2col-positions"));
  it("Conv im2col-gemm 1-D: 2 images, stride 2 (the Whisper-style encoder's stem)", () => expectSplitAndSame({
    op: "Conv", attrs: { strides: { type: "ints", value: [2] }, pads: { type: "ints", value: [1, 1] } }, inputs: [f([2, 32, 301]), f([48, 32, 3], true), f([48], true)],
  }, "im2col-gemm"));
  it("Conv pointwise-gemm: 2 images", () => expectSplitAndSame({ op: "Conv", inputs: [f([2, 64, 13, 10]), f([80, 64, 1, 1], true), f([80], true)] }, "pointwise-gemm"));
  it("Conv pointwise-gemm grouped: 2 images, 3 groups (ShuffleNet's 1x1)", () => expectSplitAndSame({ op: "Conv", attrs: { group: { type: "int", value: 3 } }, inputs: [f([2, 120, 20, 19]), f([60, 40, 1, 1], true), f([60], true)] }, "pointwise-gemm"));
  it("Conv pointwise-positions", () => expectSplitAndSame({ op: "Conv", inputs: [f([1, 128, 7, 7]), f([200, 128, 1, 1], true)] }, "pointwise-positions"));
  it("Conv winograd-f4x4 by phases (one block a image): 2 images, partial tiles", () => expectSplitAndSame({
    op: "Conv", attrs: { pads: { type: "ints", value: [1, 1, 1, 1] } }, inputs: [f([2, 32, 18, 21]), f([40, 32, 3, 3], true), f([40], true)], tolerance: { rtol: 1e-3, atol: 1e-3 },
  }, "winograd-f4x4"));
  it("Conv winograd-f4x4 by blocks (an even count of tile-row blocks: each thread whole blocks in its own scratch): 2 images, a tail block", () => expectSplitAndSame({
    op: "Conv", attrs: { pads: { type: "ints", value: [1, 1, 1, 1] } }, inputs: [f([2, 24, 40, 36]), f([16, 24, 3, 3], true), f([16], true)], tolerance: { rtol: 1e-3, atol: 1e-3 },
  }, "winograd-f4x4", "+winograd-f4x4"));
  it("Conv winograd-f2x2: 2 groups", () => expectSplitAndSame({
    op: "Conv", attrs: { group: { type: "int", value: 2 }, pads: { type: "ints", value: [1, 1, 1, 1] } }, inputs: [f([1, 32, 15, 15]), f([48, 16, 3, 3], true)], tolerance: { rtol: 1e-3, atol: 1e-3 },
  }, "winograd-f2x2", "+winograd-f2x2"));
  it("MatMulInteger qgemm: odd rows, a 13-column tail panel, constant int8 weights (X's rows packed by each thread)", () => expectSplitAndSame({
    op: "MatMulInteger", opset: 10,
    inputs: [{ dims: [3, 37, 200], dtype: "uint8" }, { dims: [200, 333], dtype: "int8", constant: true }, { dims: [], dtype: "uint8", data: [131], constant: true }, { dims: [], dtype: "int8", data: [-3], constant: true }],
  }, "qgemm"));
  it("MatMulInteger qgemm: batches, both operands computed (each thread packs its panels of B)", () => expectSplitAndSame({
    op: "MatMulInteger", opset: 10, inputs: [{ dims: [2, 41, 200], dtype: "uint8" }, { dims: [2, 200, 100], dtype: "uint8" }],
  }, "qgemm"));
  it("QLinearConv qgemm-pointwise: 2 images, a tail panel of positions, per-channel weights", () => expectSplitAndSame(qlinearConv([2, 48, 13, 13], [72, 48, 1, 1]), "qgemm-pointwise"));
  it("QLinearConv qdepthwise: 2 images, stride 2, each thread its own padded plane", () => expectSplitAndSame(qlinearConv([2, 32, 81, 79], [32, 1, 3, 3], { group: { type: "int", value: 32 }, strides: { type: "ints", value: [2, 2] }, pads: { type: "ints", value: [1, 1, 1, 1] } }), "qdepthwise"));
  it("QLinearConv qwinograd: 2 images, an odd channel count, odd output rows (each phase shared, barriers between)", () => expectSplitAndSame(qlinearConv([2, 21, 17, 15], [24, 21, 3, 3], { pads: { type: "ints", value: [1, 1, 1, 1] } }), "qwinograd", "+qwinograd"));
  it("QLinearConv qgemm-im2col: 2 images, 2 groups, stride 2 (col written by channel, a barrier after it and after the product)", () => expectSplitAndSame(qlinearConv([2, 22, 41, 39], [24, 11, 3, 3], { group: { type: "int", value: 2 }, strides: { type: "ints", value: [2, 2] }, pads: { type: "ints", value: [1, 1, 1, 1] } }), "qgemm-im2col"));
  it("DynamicQuantizeLinear: each thread's range, a barrier, the range of all; scalar tails on the last thread", () => expectSplitAndSame({
    op: "DynamicQuantizeLinear", opset: 11, outputs: 3, inputs: [{ dims: [5, 127, 105], lo: -3, hi: 5 }],
  }, "default"));
  it("MatMulNBits panels-nbits: 4 bits, a tail panel, each thread dequantizing its panels into its own scratch", () => expectSplitAndSame({
    op: "MatMulNBits", domain: "com.microsoft", opset: 1,
    attrs: { K: { type: "int", value: 256 }, N: { type: "int", value: 150 }, bits: { type: "int", value: 4 }, block_size: { type: "int", value: 32 } },
    inputs: [f([37, 256]), { dims: [150, 8, 16], dtype: "uint8", constant: true }, { dims: [150 * 8], lo: 0.01, hi: 0.05, constant: true }],
  }, "panels-nbits"));
  it("MatMulNBits gemv-nbits: one row, a tail panel", () => expectSplitAndSame({
    op: "MatMulNBits", domain: "com.microsoft", opset: 1,
    attrs: { K: { type: "int", value: 1024 }, N: { type: "int", value: 1030 }, bits: { type: "int", value: 4 }, block_size: { type: "int", value: 32 } },
    inputs: [f([1, 1024]), { dims: [1030, 32, 16], dtype: "uint8", constant: true }, { dims: [1030 * 32], lo: 0.01, hi: 0.05, constant: true }],
  }, "gemv-nbits"));
  it("Softmax over rows", () => expectSplitAndSame({ op: "Softmax", attrs: { axis: { type: "int", value: -1 } }, inputs: [f([4, 12, 33, 65])] }, "default"));
  it("LayerNormalization", () => expectSplitAndSame({ op: "LayerNormalization", attrs: { axis: { type: "int", value: -1 } }, inputs: [f([2, 300, 257]), f([257], true), f([257], true)] }, "default"));
  it("Add with broadcasting", () => expectSplitAndSame({ op: "Add", inputs: [f([8, 64, 130]), f([64, 1])] }, "default"));
});

describe("depthwise convolutions split at 2 threads", () => {
  const dw = (c: number, extra: Record<string, unknown> = {}) => ({ group: { type: "int" as const, value: c }, pads: { type: "ints" as const, value: [1, 1, 1, 1] }, ...extra });
  it("depthwise-lanes: 2 images, channel blocks shared out", () => expectSplitAndSame({
    op: "Conv", attrs: dw(64), inputs: [f([2, 64, 30, 30]), f([64, 1, 3, 3], true), f([64], true)],
  }, "depthwise-lanes", "+depthwise-lanes"));
  it("depthwise-rows: 1 image (the planes, not the images, shared out), 5x5 stride 2, an odd channel count", () => expectSplitAndSame({
    op: "Conv", attrs: dw(37, { strides: { type: "ints", value: [2, 2] }, pads: { type: "ints", value: [2, 2, 2, 2] } }), inputs: [f([1, 37, 97, 95]), f([37, 1, 5, 5], true), f([37], true)],
  }, "depthwise-rows", "+depthwise-rows"));
});

describe("pooling splits at 2 threads", () => {
  it("MaxPool 3x3 stride 2 with pads", () => expectSplitAndSame({
    op: "MaxPool", attrs: { kernel_shape: { type: "ints", value: [3, 3] }, strides: { type: "ints", value: [2, 2] }, pads: { type: "ints", value: [1, 1, 1, 1] } },
    inputs: [f([2, 40, 57, 57])],
  }, "default"));
  it("AveragePool 2x2", () => expectSplitAndSame({
    op: "AveragePool", attrs: { kernel_shape: { type: "ints", value: [2, 2] }, strides: { type: "ints", value: [2, 2] } }, inputs: [f([1, 64, 80, 81])],
  }, "default"));
  it("LRN size 5: the channels shared out, the clipped windows at both ends on whichever thread holds them", () => expectSplitAndSame({
    op: "LRN", attrs: { size: { type: "int", value: 5 }, alpha: { type: "float", value: 1e-4 }, beta: { type: "float", value: 0.75 } }, inputs: [f([2, 37, 31, 29])],
  }, "default"));
  it("GlobalAveragePool", () => expectSplitAndSame({ op: "GlobalAveragePool", inputs: [f([4, 512, 33, 33])] }, "default"));
  it("elementwise over one coalesced dim: the vectors shared out, the scalar tail (67,893 = 4 x 16,973 + 1) the last thread's", () =>
    expectSplitAndSame({ op: "Add", inputs: [f([3, 7, 61, 53]), f([3, 7, 61, 53])] }, "default"));
  it("elementwise over one dim without a vector form (int64): the elements shared out", () =>
    expectSplitAndSame({ op: "Add", inputs: [{ dims: [70001], dtype: "int64" }, { dims: [70001], dtype: "int64" }] }, "default"));
  it("Resize nearest 2x (PP-OCR's FPN): the channels shared out", () => expectSplitAndSame({
    op: "Resize", opset: 13, attrs: { mode: { type: "string", value: "nearest" } },
    inputs: [f([1, 24, 41, 40]), null, { dims: [4], data: [1, 1, 2, 2], constant: true }],
  }, "default"));
  it("Resize nearest 2x of one plane: its rows shared out (a repeated row is copied only from this thread's own)", () => expectSplitAndSame({
    op: "Resize", opset: 13, attrs: { mode: { type: "string", value: "nearest" } },
    inputs: [f([1, 1, 201, 200]), null, { dims: [4], data: [1, 1, 2, 2], constant: true }],
  }, "default"));
  it("Resize linear, align_corners, 2 images: the images shared out", () => expectSplitAndSame({
    op: "Resize", opset: 13, attrs: { mode: { type: "string", value: "linear" }, coordinate_transformation_mode: { type: "string", value: "align_corners" } },
    inputs: [f([2, 5, 41, 29]), null, { dims: [4], data: [1, 1, 2, 3], constant: true }],
  }, "default"));
  it("ConvTranspose stride-gemm 2x2 stride 2, 2 images: the GEMM and the rearrangement split, the threads meeting between", () => expectSplitAndSame({
    op: "ConvTranspose", attrs: { strides: { type: "ints", value: [2, 2] } }, inputs: [f([2, 24, 37, 41]), f([24, 12, 2, 2], true), f([12], true)],
  }, "stride-gemm"));
});

describe("sampling kernels split at 2 threads", () => {
  // boxes inside, across and past a 20x23 map, some tiny or inverted; batch indices alternating
  const boxes = Array.from({ length: 97 }, (_, k) => [(k * 7) % 30 - 4, (k * 5) % 26 - 3, (k * 7) % 30 - 4 + ((k * 11) % 19) - 2, (k * 5) % 26 - 3 + ((k * 13) % 17) - 2]).flat();
  const roiAlign = (mode: string, ratio: number): OpCase => ({
    op: "RoiAlign", opset: 16, attrs: { mode: { type: "string", value: mode }, sampling_ratio: { type: "int", value: ratio }, output_height: { type: "int", value: 7 }, output_width: { type: "int", value: 7 } },
    inputs: [f([2, 32, 20, 23]), { dims: [97, 4], data: boxes }, { dims: [97], dtype: "int64", data: Array.from({ length: 97 }, (_, k) => BigInt(k % 2)) }],
  });
  it("RoiAlign avg, adaptive grid: the rois shared out, each thread its own sample tables", () => expectSplitAndSame(roiAlign("avg", 0), "roi-tables"));
  it("RoiAlign max, sampling_ratio 2", () => expectSplitAndSame(roiAlign("max", 2), "roi-tables"));
  it("DeformConv: 2 images, 2 groups, 3 offset groups, mask and bias; col filled in channel shares, the packed GEMM split", () => expectSplitAndSame({
    op: "DeformConv", opset: 19, attrs: { kernel_shape: { type: "ints", value: [3, 3] }, pads: { type: "ints", value: [1, 1, 1, 1] }, group: { type: "int", value: 2 }, offset_group: { type: "int", value: 3 } },
    inputs: [f([2, 6, 19, 17]), f([66, 3, 3, 3], true), { dims: [2, 54, 19, 17], lo: -3, hi: 3 }, f([66], true), { dims: [2, 27, 19, 17], lo: 0, hi: 1 }],
  }, "deform-im2col-gemm"));
});

describe("transposes split at 2 threads", () => {
  const perm = (p: number[]) => ({ perm: { type: "ints" as const, value: p } });
  it("attention's heads: contiguous runs, 131 rows", () => expectSplitAndSame({ op: "Transpose", attrs: perm([0, 2, 1, 3]), inputs: [f([1, 131, 12, 45])] }, "default"));
  it("4x4 tiles over 5 batches, both tails odd", () => expectSplitAndSame({ op: "Transpose", attrs: perm([0, 2, 1]), inputs: [f([5, 130, 103])] }, "default"));
  it("a 2-D transpose: rows of tiles shared out, the row tail the last thread's", () => expectSplitAndSame({ op: "Transpose", attrs: perm([1, 0]), inputs: [f([259, 263])] }, "default"));
  it("keys to K^T (MiniLM's, 2-D after coalescing)", () => expectSplitAndSame({ op: "Transpose", attrs: perm([0, 2, 3, 1]), inputs: [f([1, 200, 12, 32])] }, "default"));
});

describe("which layers split", () => {
  const big: SplitCandidate = { flops: 5e6, outputs: 50000, reads: 50000, alias: false };
  const small = (outputs: number): SplitCandidate => ({ flops: undefined, outputs, reads: outputs, alias: false });
  const view: SplitCandidate = { flops: undefined, outputs: 50000, reads: 50000, alias: true };
  it("a small layer between two big ones splits (their barriers are there anyway), through aliases", () => {
    expect(splitLayers([big, small(49152), big])).toEqual([true, true, true]);
    expect(splitLayers([big, view, small(49152), view, big])).toEqual([true, false, true, false, true]);
    // at the end: run_layers' own barrier follows
    expect(splitLayers([big, small(49152)])).toEqual([true, true]);
  });
  it("a small layer next to a single one, at the start, or tiny stays on thread 0", () => {
    expect(splitLayers([small(49152), big])).toEqual([false, true]);
    expect(splitLayers([big, small(49152), small(100), big])).toEqual([true, false, false, true]);
    expect(splitLayers([big, small(1000), big])).toEqual([true, false, true]);
  });
});

describe("bounded (symbolic) layers split at 2 threads: every length the bytes of 1 thread, onnxruntime's values", () => {
  /** a graph whose every non-constant value has `seq` at the dims its shape marks -1 */
  function symbolicModel(build: (b: ModelBuilder) => void): Uint8Array {
    const b = new ModelBuilder(11);
    build(b);
    for (const v of b.graph.values.values()) if (v.shape && !v.const) v.shape = v.shape.map((d) => (d === -1 ? "seq" : d));
    return exportModel(b.graph, { valueInfo: false });
  }

  async function expectSameAtLengths(bytes: Uint8Array, bound: number, lengths: number[], feedsAt: (seq: number) => Record<string, Tensor>, layers: string[]): Promise<void> {
    const shapes = { seq: [1, bound] as [number, number] };
    const one = await load(bytes, { shapes, cache: false, simd: "baseline" });
    const two = await load(bytes, { shapes, cache: false, simd: "baseline", threads: 2 });
    try {
      const split = two.session!.manifest.layers.filter((l) => l.split).map((l) => `${l.op}/${l.kernel}`);
      for (const l of layers) expect(split, "split layers").toContain(l);
      for (const seq of lengths) {
        const feeds = feedsAt(seq);
        const plain = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }]));
        const [a, b] = [await one.run(plain), await two.run(plain)];
        const want = await runOrt(bytes, feeds);
        for (const o of Object.keys(want)) {
          expect(Buffer.compare(bytesOf(b[o]), bytesOf(a[o])), `seq ${seq} ${o}: 2 threads give the bytes of 1`).toBe(0);
          expect(compareTensors(b[o] as Tensor, want[o], { rtol: 1e-4, atol: 1e-5 }).message ?? "ok", `seq ${seq} ${o}`).toBe("ok");
        }
      }
      expect(two.modulesCompiled).toBe(1);
    } finally {
      two.session?.terminate?.();
    }
  }
  const random = (dims: number[], seed: number): Tensor => ({ dtype: "float32", dims, data: Float32Array.from({ length: dims.reduce((a, d) => a * d, 1) }, (_, i) => Math.sin(i * 0.61 + seed)) });

  it("MatMul packed with run-time rows (odd bound, a 13-column tail panel), then Softmax rows and a broadcast product (rows shared out)", async () => {
    // [seq, 200] x [200, 333]: at the bound 301, 100K outputs: each layer splits on its own
    const bytes = symbolicModel((b) => {
      const x = b.input("x", [-1, 200]), g = b.input("g", [1, 333]);
      const y = b.node("MatMul", [x, b.weight("w", [200, 333], uniform(-0.2, 0.2))], [-1, 333]);
      b.output(b.node("Mul", [b.node("Softmax", [y], [-1, 333], { axis: int(-1) }), g], [-1, 333]));
    });
    await expectSameAtLengths(bytes, 301, [1, 2, 7, 150, 300, 301], (seq) => ({ x: random([seq, 200], seq), g: random([1, 333], -seq) }), ["MatMul/packed", "Softmax/default", "Mul/default"]);
  }, 120_000);

  it("attention's products over seq x seq: Q K^T with run-time rows and columns, the softmax of the padded scores by head", async () => {
    const bytes = symbolicModel((b) => {
      const q = b.input("q", [4, -1, 24]), kt = b.input("kt", [4, 24, -1]);
      b.output(b.node("Softmax", [b.node("MatMul", [q, kt], [4, -1, -1])], [4, -1, -1], { axis: int(-1) }));
    });
    await expectSameAtLengths(bytes, 130, [1, 3, 17, 64, 129, 130], (seq) => ({ q: random([4, seq, 24], seq), kt: random([4, 24, seq], 2 * seq) }), ["MatMul/packed-runtime", "Softmax/default"]);
  }, 120_000);
});
