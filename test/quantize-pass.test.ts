// kiln's own quantization (issue 14, `--quantize int8|int4|w8a8`) on small graphs of odd shapes:
// the layers it rewrites and those it keeps float, the options it refuses, and the quantized graph
// it dumps run by onnxruntime-node (plain run) against kiln's quantized artifact.
import * as fs from "node:fs";
import * as path from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { compile, load } from "../compiler/driver/api.js";
import type { CompileOptions } from "../compiler/driver/compile.js";
import { exportModel } from "../compiler/onnx/export.js";
import { onnx } from "../compiler/onnx/proto.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { createSession } from "../runtime/index.js";
import { float, int, ints, ModelBuilder } from "../models/builder.js";
import { he } from "../models/init.js";
import { writeTensorFile } from "../models/testdata.js";
import { quantizeNBits, quantizePerChannel, reach } from "../passes/quantize-math.js";
import { rng } from "../compiler/driver/cli/inputs.js";
import { nearestNormalHalf } from "../compiler/ir/values.js";
import { kiln } from "./util/cli.js";
import { removeTempDirs, tempDir } from "./util/models.js";

afterAll(removeTempDirs);

const random = (dims: number[], seed: number): Tensor => {
  const r = rng(seed);
  return { dtype: "float32", dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1) };
};

/** MatMul [2, 5, 45] x [45, 13] (K not a whole block), Gemm with transB, alpha, beta and C per column, Gemm with a scalar C, and a Conv. */
function linearModel(): Uint8Array {
  const b = new ModelBuilder(7, 17);
  const x = b.input("x", [2, 5, 45]);
  const m = b.node("MatMul", [x, b.weight("w1", [45, 13], he(45))], [2, 5, 13], {}, "mm");
  const f = b.node("Reshape", [b.node("Relu", [m], [2, 5, 13]), b.int64s("flat", [10, 13])], [10, 13]);
  const g1 = b.node("Gemm", [f, b.weight("w2", [19, 13], he(13)), b.weight("c2", [19], he(4))], [10, 19], { transB: int(1), alpha: float(0.7), beta: float(1.3) }, "gemm_t");
  const g2 = b.node("Gemm", [g1, b.weight("w3", [19, 6], he(19)), b.weight("c3", [1], he(4))], [10, 6], {}, "gemm_s");
  const img = b.node("Reshape", [g2, b.int64s("img", [1, 6, 2, 5])], [1, 6, 2, 5]);
  const c = b.node("Conv", [img, b.weight("wc", [3, 6, 1, 3], he(18))], [1, 3, 2, 3], { kernel_shape: ints([1, 3]) }, "conv");
  b.output(g2);
  b.output(c);
  return exportModel(b.graph);
}

/** Conv (stride 2, pads) -> Relu -> 1x1 Conv -> Clip -> GlobalAveragePool -> Flatten -> Gemm, on a 1x3x11x9 image; and a MatMul branch. */
function convModel(): Uint8Array {
  const b = new ModelBuilder(11, 13);
  const x = b.input("x", [1, 3, 11, 9]);
  const c1 = b.node("Conv", [x, b.weight("w1", [6, 3, 3, 3], he(27)), b.weight("b1", [6], he(4))], [1, 6, 6, 5], { pads: ints([1, 1, 1, 1]), strides: ints([2, 2]), kernel_shape: ints([3, 3]) }, "conv1");
  const r1 = b.node("Relu", [c1], [1, 6, 6, 5], {}, "relu1");
  const c2 = b.node("Conv", [r1, b.weight("w2", [7, 6, 1, 1], he(6))], [1, 7, 6, 5], { kernel_shape: ints([1, 1]) }, "conv2");
  const r2 = b.node("Clip", [c2, b.scalar("lo", 0), b.scalar("hi", 6)], [1, 7, 6, 5], {}, "clip2");
  const p = b.node("Flatten", [b.node("GlobalAveragePool", [r2], [1, 7, 1, 1])], [1, 7]);
  const g = b.node("Gemm", [p, b.weight("wg", [10, 7], he(7)), b.weight("bg", [10], he(4))], [1, 10], { transB: int(1) }, "fc");
  const m = b.node("MatMul", [b.node("Reshape", [r1, b.int64s("rows", [36, 5])], [36, 5]), b.weight("wm", [5, 9], he(5))], [36, 9], {}, "mm");
  b.output(g);
  b.output(m);
  return exportModel(b.graph);
}

const feedsOf = (seed: number, dims: number[]) => ({ x: random(dims, seed) });

/** Compile with `options`, keeping the ONNX export of the graph right after the quantize pass. */
async function quantized(model: Uint8Array, options: CompileOptions) {
  let dumped: Uint8Array | undefined;
  const pass = options.quantize === "w8a8" ? "quantize-static" : "quantize-weights";
  const r = await compile(model, { ...options, simd: "baseline", dump: { after: [pass], write: (g) => { dumped = exportModel(g); } } });
  return { ...r, dumped: dumped! };
}

async function ortPlain(bytes: Uint8Array, feeds: Record<string, Tensor>): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "disabled" });
  const out = await s.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor("float32", t.data as Float32Array, t.dims)])));
  await s.release();
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
}

async function kilnRun(wasm: Uint8Array, feeds: Record<string, Tensor>): Promise<Record<string, Float32Array>> {
  const out = await (await createSession(wasm)).run(feeds);
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
}

const opsOf = (bytes: Uint8Array) => new Set(Array.from(new TextDecoder("latin1").decode(bytes).matchAll(/(MatMulNBits|QuantizeLinear|DequantizeLinear)/g), (m) => m[1]));

describe("quantize math", () => {
  it("packs MatMulNBits weights that decode (as the operator defines them) to the dequantized values", () => {
    const r = rng(5), N = 3, K = 37;
    const rows = Float32Array.from({ length: N * K }, () => r() * 4 - 1);
    for (const bits of [4, 8] as const) {
      const q = quantizeNBits(rows, N, K, bits, 16);
      const blob = (16 * bits) / 8, zRow = Math.ceil((q.blocks * bits) / 8);
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
        const b = Math.floor(k / 16), byte = q.B[n * q.blocks * blob + b * blob + Math.floor(((k % 16) * bits) / 8)];
        const code = bits === 8 ? byte : k & 1 ? byte >> 4 : byte & 15;
        const zb = q.zeros ? q.zeros[n * zRow + (b >> 1)] : 128;
        const zp = bits === 8 ? zb : b & 1 ? zb >> 4 : zb & 15;
        const w = (code - zp) * q.scales[n * q.blocks + b];
        expect(q.deq[n * K + k]).toBeCloseTo(w, 6);
        // 8 bits: within half a step of the float weight (4 bits may clip a block's extremes)
        if (bits === 8) expect(Math.abs(w - rows[n * K + k])).toBeLessThanOrEqual(q.scales[n * q.blocks + b] / 2 + 1e-6);
      }
    }
  });

  it("4 bits: each block's squared error at most that of its plain [min, max] range, scale a float16 value as stored (what clipping buys)", () => {
    const r = rng(9), N = 5, K = 64, bs = 32;
    // heavy tails: a few large weights per block, where clipping pays
    const rows = Float32Array.from({ length: N * K }, (_, i) => (i % 29 === 0 ? 6 : 1) * (r() * 2 - 1));
    const q = quantizeNBits(rows, N, K, 4, bs);
    let clipped = 0;
    for (let n = 0; n < N; n++) for (let b = 0; b < K / bs; b++) {
      const block = rows.subarray(n * K + b * bs, n * K + b * bs + bs);
      const lo = Math.min(0, ...block), hi = Math.max(0, ...block), s = nearestNormalHalf(Math.fround((hi - lo) / 15)), z = Math.min(15, Math.max(0, Math.round(-lo / s)));
      let plain = 0, got = 0;
      block.forEach((w, k) => {
        plain += ((Math.min(15, Math.max(0, Math.round(w / s) + z)) - z) * s - w) ** 2;
        got += (q.deq[n * K + b * bs + k] - w) ** 2;
      });
      expect(got).toBeLessThanOrEqual(plain * (1 + 1e-6));
      if (got < plain * 0.99) clipped++;
    }
    expect(clipped, "blocks where a shrunk range won").toBeGreaterThan(0);
  });

  it("quantizes per output channel symmetrically, an all-zero channel to zeros", () => {
    const w = Float32Array.from([0.5, -1, 0.25, 0, 0, 0, 3, -3, 1.5]);
    const { q, scales, deq } = quantizePerChannel(w, [3, 3], 0);
    expect(Array.from(q)).toEqual([64, -127, 32, 0, 0, 0, 127, -127, 64]);
    expect(scales[1]).toBe(1);
    expect(deq[6]).toBeCloseTo(3, 6);
  });

  it("an activation's range reaches past the calibration inputs' by the most one of them went past the rest", () => {
    const ranges: [number, number][] = [[-1, 4], [-0.5, 5], [-2, 3], [-1, 8]];
    // max 8 is 3 past the others' 5; min -2 is 1 past the others' -1
    expect(reach(ranges)).toEqual([-3, 11]);
    // input 3 left out: max 5 is 1 past 4, min -2 is 1 past -1
    expect(reach(ranges, 3)).toEqual([-3, 6]);
    // two inputs (or one left of two) give no jackknife: their union
    expect(reach(ranges.slice(0, 2))).toEqual([-1, 5]);
    expect(reach(ranges.slice(0, 3), 2)).toEqual([-1, 5]);
    expect(reach([[0, 1]], 0)).toEqual([0, 1]);
  });
});

describe("--quantize int8 / int4: MatMul and Gemm as MatMulNBits", () => {
  for (const mode of ["int8", "int4"] as const) {
    it(`${mode}: the dumped graph runs in onnxruntime-node with kiln's outputs; Conv stays float and says why`, async () => {
      const model = linearModel();
      const r = await quantized(model, { quantize: mode });
      const q = r.quantization!;
      expect(q.layers.map((l) => [l.layer, l.form])).toEqual([["mm", mode], ["gemm_t", mode], ["gemm_s", mode], ["conv", "float"]]);
      expect(q.layers[3].reason).toMatch(/MatMul and Gemm/);
      // no calibration: the error is the weights'
      expect(q.layers[0].errorOf).toBe("weights");
      expect(q.layers[0].error).toBeGreaterThan(0);
      expect(q.layers[0].error).toBeLessThan(mode === "int8" ? 0.01 : 0.1);
      expect(opsOf(r.dumped).has("MatMulNBits")).toBe(true);
      for (const seed of [21, 22]) {
        const feeds = feedsOf(seed, [2, 5, 45]);
        const want = await ortPlain(r.dumped, feeds), got = await kilnRun(r.wasm, feeds);
        for (const o of Object.keys(want)) {
          for (let i = 0; i < want[o].length; i++) expect(Math.abs(got[o][i] - want[o][i]), `${o}[${i}]`).toBeLessThan(1e-4 + 1e-4 * Math.abs(want[o][i]));
        }
      }
      // against the float model, on the random inputs it evaluates with
      expect(q.accuracy.holdout!.source).toBe("random");
      expect(q.accuracy.holdout!.relativeL2Error).toBeGreaterThan(0);
      expect(q.accuracy.holdout!.relativeL2Error).toBeLessThan(mode === "int8" ? 0.01 : 0.1);
      // small layers pay for a whole padded block per row: the model tests check the ~4x and ~6x
      expect(q.weightBytes.layersAfter).toBeLessThan(q.weightBytes.layersBefore / 2);
    }, 60_000);
  }

  it("keeps a layer float when its error is over the threshold, and records it", async () => {
    const r = await quantized(linearModel(), { quantize: "int4", quantizeThreshold: 1e-6 });
    expect(r.quantization!.quantized).toBe(0);
    expect(r.quantization!.layers[0].reason).toMatch(/over the threshold 0.000001/);
    expect(opsOf(r.dumped).has("MatMulNBits")).toBe(false);
    expect(r.quantization!.accuracy.holdout!.relativeL2Error).toBe(0);
  }, 60_000);
});

describe("load() with quantize", () => {
  it("compiles the quantized model in process: the same outputs as compile()'s artifact", async () => {
    const model = linearModel(), feeds = feedsOf(41, [2, 5, 45]);
    const viaLoad = await (await load(model, { quantize: "int4", simd: "baseline" })).run(feeds);
    const aot = await kilnRun((await compile(model, { quantize: "int4", simd: "baseline" })).wasm, feeds);
    const plain = await (await load(model, { simd: "baseline" })).run(feeds);
    for (const o of Object.keys(aot)) {
      expect(Array.from(viaLoad[o].data as Float32Array)).toEqual(Array.from(aot[o]));
    }
    // and it is the quantized model, not the float one
    expect(Array.from(plain.gemm_s_out.data as Float32Array)).not.toEqual(Array.from(aot.gemm_s_out));
  }, 60_000);
});

describe("--quantize w8a8: QDQ from calibration, run on the int8 kernels", () => {
  it("quantizes Conv, Gemm and MatMul per channel; kiln's artifact matches onnxruntime-node's plain run of the dump", async () => {
    const model = convModel();
    const calibrate = [1, 2, 3, 4].map((s) => feedsOf(s, [1, 3, 11, 9]));
    const evaluate = [5, 6].map((s) => feedsOf(s, [1, 3, 11, 9]));
    // target 0: each layer's own error decides, so that all four run int8
    const r = await quantized(model, { quantize: "w8a8", quantizeTarget: 0, calibrate, quantizeEvaluate: evaluate });
    const q = r.quantization!;
    expect(q.layers.map((l) => [l.layer, l.form]).sort()).toEqual([["conv1", "w8a8"], ["conv2", "w8a8"], ["fc", "w8a8"], ["mm", "w8a8"]]);
    expect(q.layers.every((l) => l.errorOf === "calibration" && l.error! > 0 && l.error! < 0.05)).toBe(true);
    expect(q.calibrationInputs).toBe(4);
    expect(q.accuracy.holdout!.source).toBe("given");
    // rows of both [N, C] outputs count as classes: one of mm's 36 rows may flip on a near-tie
    expect(q.accuracy.holdout!.top1Agreement).toBeGreaterThanOrEqual(0.95);
    expect(q.accuracy.calibration!.relativeL2Error).toBeLessThan(0.05);
    // all four run as int8 groups, the two whose results are graph outputs too (then dequantized)
    const kernels = r.manifest.layers.map((l) => l.kernel ?? "");
    expect(kernels.filter((k) => k.startsWith("q")).length).toBe(4);
    const ops = opsOf(r.dumped);
    expect(ops.has("QuantizeLinear") && ops.has("DequantizeLinear")).toBe(true);
    for (const seed of [31, 32, 33]) {
      const feeds = feedsOf(seed, [1, 3, 11, 9]);
      const want = await ortPlain(r.dumped, feeds), got = await kilnRun(r.wasm, feeds);
      for (const o of Object.keys(want)) {
        // an int8 value rounded the other way on a tie moves an output by about one input step
        // times a weight: most elements agree to float precision, none by more than a few steps
        let exact = 0;
        for (let i = 0; i < want[o].length; i++) {
          const d = Math.abs(got[o][i] - want[o][i]);
          if (d < 1e-4 + 1e-4 * Math.abs(want[o][i])) exact++;
          expect(d, `${o}[${i}]`).toBeLessThan(0.05);
        }
        expect(exact / want[o].length, o).toBeGreaterThan(0.9);
      }
    }
  }, 120_000);
});

/** Conv (pads) -> Relu -> 1x1 Conv -> GlobalAveragePool -> Flatten -> Gemm at `opset`: ops that mean the same from opset 9 to 13. */
function oldOpsetModel(opset: number): Uint8Array {
  const b = new ModelBuilder(23, opset);
  const x = b.input("x", [1, 3, 11, 9]);
  const c1 = b.node("Conv", [x, b.weight("w1", [6, 3, 3, 3], he(27)), b.weight("b1", [6], he(4))], [1, 6, 11, 9], { pads: ints([1, 1, 1, 1]), kernel_shape: ints([3, 3]) }, "conv1");
  const r1 = b.node("Relu", [c1], [1, 6, 11, 9], {}, "relu1");
  const c2 = b.node("Conv", [r1, b.weight("w2", [5, 6, 1, 1], he(6))], [1, 5, 11, 9], { kernel_shape: ints([1, 1]) }, "conv2");
  const p = b.node("Flatten", [b.node("GlobalAveragePool", [c2], [1, 5, 1, 1])], [1, 5]);
  b.output(b.node("Gemm", [p, b.weight("wg", [7, 5], he(5)), b.weight("bg", [7], he(4))], [1, 7], { transB: int(1) }, "fc"));
  return exportModel(b.graph);
}

describe("--quantize w8a8 below opset 13", () => {
  it("opset 9 (no QuantizeLinear yet): quantized all the same, per channel; the dump writes com.microsoft Q/DQ, which onnxruntime-node runs with kiln's outputs and kiln reads back", async () => {
    const calibrate = [1, 2, 3, 4].map((s) => feedsOf(s, [1, 3, 11, 9]));
    // the opset's forms, each layer on its own error (quantize-sensitivity.test.ts tests the choice by the output's)
    const r = await quantized(oldOpsetModel(9), { quantize: "w8a8", calibrate, quantizeEvaluate: [feedsOf(5, [1, 3, 11, 9])], quantizeTarget: 0 });
    const q = r.quantization!;
    expect(q.layers.map((l) => [l.layer, l.form, l.weights])).toEqual([["conv1", "w8a8", "per-channel"], ["conv2", "w8a8", "per-channel"], ["fc", "w8a8", "per-channel"]]);
    expect(r.manifest.layers.filter((l) => l.kernel?.startsWith("q")).length).toBe(3);
    // a 7-class output of three seeded layers: 0.056
    expect(q.accuracy.holdout!.relativeL2Error).toBeLessThan(0.08);
    // opset 9 has no QuantizeLinear: the dump keeps opset 9 and writes onnxruntime's contrib ops
    const m = onnx.ModelProto.decode(r.dumped);
    expect(m.opsetImport.map((o) => [o.domain, Number(o.version)]).sort()).toEqual([["", 9], ["com.microsoft", 1]]);
    const qdq = m.graph!.node!.filter((n) => n.opType === "QuantizeLinear" || n.opType === "DequantizeLinear");
    expect(qdq.length).toBeGreaterThan(0);
    expect(qdq.every((n) => n.domain === "com.microsoft")).toBe(true);
    const again = (await compile(r.dumped, { simd: "baseline" })).wasm;
    for (const seed of [31, 32]) {
      const feeds = feedsOf(seed, [1, 3, 11, 9]);
      const want = await ortPlain(r.dumped, feeds), got = await kilnRun(r.wasm, feeds), back = await kilnRun(again, feeds);
      for (const o of Object.keys(want)) {
        for (let i = 0; i < want[o].length; i++) expect(Math.abs(got[o][i] - want[o][i]), `${o}[${i}]`).toBeLessThan(0.05);
        // kiln compiles its own dump to the artifact's outputs, bit for bit
        expect(Array.from(back[o])).toEqual(Array.from(got[o]));
      }
    }
  }, 120_000);

  it("opset 11 (no DequantizeLinear axis yet): per-tensor weights where they are within the threshold, a dump onnxruntime runs at 11", async () => {
    const calibrate = [1, 2, 3, 4].map((s) => feedsOf(s, [1, 3, 11, 9]));
    const r = await quantized(oldOpsetModel(11), { quantize: "w8a8", calibrate, quantizeEvaluate: [feedsOf(5, [1, 3, 11, 9])], quantizeTarget: 0 });
    expect(r.quantization!.layers.map((l) => [l.layer, l.form, l.weights])).toEqual([["conv1", "w8a8", "per-tensor"], ["conv2", "w8a8", "per-tensor"], ["fc", "w8a8", "per-tensor"]]);
    const feeds = feedsOf(31, [1, 3, 11, 9]);
    const want = await ortPlain(r.dumped, feeds), got = await kilnRun(r.wasm, feeds);
    for (const o of Object.keys(want)) for (let i = 0; i < want[o].length; i++) expect(Math.abs(got[o][i] - want[o][i]), `${o}[${i}]`).toBeLessThan(0.05);
  }, 120_000);
});

describe("quantize options", () => {
  const model = linearModel();
  it.each([
    [{ quantize: "int3" }, /option quantize takes "int8", "int4" or "w8a8", got "int3"/],
    [{ quantize: "w8a8" }, /w8a8" needs calibration inputs/],
    [{ calibrate: [{}] }, /option calibrate is for quantization/],
    [{ quantize: "int8", quantizeThreshold: -1 }, /option quantizeThreshold takes a number above 0/],
    [{ quantize: "w8a8", calibrate: [{}], quantizeTarget: -0.5 }, /option quantizeTarget takes a number, 0 or above/],
    [{ quantizeTarget: 0.1 }, /option quantizeTarget is for quantization/],
    [{ quantize: "int8", calibrate: [] }, /option calibrate takes an array/],
    [{ quantize: "int8", calibrate: ["/nonexistent/kiln-calibration"] }, /does not exist/],
  ])("%j is BAD_OPTION", async (options, message) => {
    await expect(compile(model, options as CompileOptions)).rejects.toMatchObject({ code: "BAD_OPTION", message: expect.stringMatching(message) });
  });

  it("the CLI: --quantize w8a8 without --calibrate exits 2; with a test_data_set folder it writes the report's quantization block", () => {
    const dir = tempDir("kiln-quantize-");
    const file = path.join(dir, "conv.onnx");
    fs.writeFileSync(file, convModel());
    const bad = kiln(["compile", file, "-o", path.join(dir, "q.wasm"), "--quantize", "w8a8"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/BAD_OPTION: quantize "w8a8" needs calibration inputs/);
    for (const [k, seed] of [[0, 1], [1, 2]]) {
      fs.mkdirSync(path.join(dir, "calib", `test_data_set_${k}`), { recursive: true });
      writeTensorFile(path.join(dir, "calib", `test_data_set_${k}`, "input_0.pb"), "x", random([1, 3, 11, 9], seed));
    }
    // a threshold and a target for the output that no layer of these seeded weights is over
    const ok = kiln(["compile", file, "-o", path.join(dir, "q.wasm"), "--quantize", "w8a8", "--calibrate", path.join(dir, "calib"), "--quantize-threshold", "1", "--quantize-target", "1", "--report", path.join(dir, "r.json"), "--quiet"]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    const report = JSON.parse(fs.readFileSync(path.join(dir, "r.json"), "utf8"));
    expect(report.quantization.calibrationInputs).toBe(2);
    expect(report.quantization.quantized).toBe(4);
    expect(report.passes.map((p: { name: string }) => p.name).slice(0, 5)).toEqual(["simplify", "fold-constants", "dce", "calibrate", "quantize-static"]);
    expect(report.quantization.target).toBe(1);
    // the default target is not the threshold: held-out inputs lose more than calibration ones
    const defaulted = kiln(["compile", file, "-o", path.join(dir, "q.wasm"), "--quantize", "w8a8", "--calibrate", path.join(dir, "calib"), "--quantize-threshold", "1", "--report", path.join(dir, "r.json"), "--quiet"]);
    expect(defaulted.stderr).toBe("");
    const q = JSON.parse(fs.readFileSync(path.join(dir, "r.json"), "utf8")).quantization;
    expect(q.target).toBe(0.03);
    expect(q.accuracy.calibration.relativeL2Error).toBeLessThanOrEqual(0.03);
    const negative = kiln(["compile", file, "-o", path.join(dir, "q.wasm"), "--quantize", "w8a8", "--calibrate", path.join(dir, "calib"), "--quantize-target", "-1"]);
    expect(negative.code).toBe(2);
    expect(negative.stderr).toMatch(/--quantize-target takes a number, 0 or above, got "-1"/);
    const usage = kiln(["compile", file, "-o", path.join(dir, "q.wasm"), "--quantize", "int2"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--quantize takes int8, int4 or w8a8/);
    // without --report or --quiet, a line says what was quantized: a weight-only mode leaves convolutions float
    const said = kiln(["compile", file, "-o", path.join(dir, "q.wasm"), "--quantize", "int8"]);
    expect(said.code).toBe(0);
    expect(said.stdout).toMatch(/kiln: --quantize int8: 2 of 4 layers quantized; 2 float: weight-only quantization covers MatMul and Gemm \(use w8a8 for convolutions\)/);
  }, 120_000);
});
