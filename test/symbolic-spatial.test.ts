// Images whose height and width vary, compiled once (docs/ARCHITECTURE.md "Symbolic dims",
// codegen/kernels/padding.ts): a dim given bounds with a step (H: [8, 40, 8], the multiples a
// network's strides divide), every Conv variant, depthwise and pointwise, strided and dilated,
// ConvTranspose, MaxPool, AveragePool, GlobalAveragePool, BatchNormalization and nearest Resize run
// over this run's image. Each run against onnxruntime-node with the arena poisoned with NaN between
// runs (a window reading padding that was not filled shows there); each variant forced in turn.
// What kiln does not take over a varying image is refused naming the node.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ModelBuilder } from "../models/builder.js";
import { exportModel } from "../compiler/onnx/export.js";
import { load } from "../compiler/driver/api.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import { KilnError } from "../runtime/errors.js";
import { runOrt } from "./util/ort.js";
import { poisoner } from "./util/poison.js";
import { loadAt } from "./util/load-threads.js";
import { kiln } from "./util/cli.js";
import { quantizedModel } from "../models/quantize/refill.js";
import { ocrInput } from "../models/ocr-inputs.js";

const ints = (value: number[]) => ({ type: "ints" as const, value });
const int = (value: number) => ({ type: "int" as const, value });
const str = (value: string) => ({ type: "string" as const, value });
const u = (lo = -0.5, hi = 0.5) => ({ kind: "uniform" as const, lo, hi });

/** names the dims of values: {value: [dims with names]} */
function named(b: ModelBuilder, shapes: Record<string, (number | string)[]>): void {
  for (const [v, s] of Object.entries(shapes)) b.graph.values.get(v)!.shape = s;
}

/**
 * x [1, 3, H, W] through the layers a small CNN has (built at H 16, W 24; only the graph's inputs
 * and outputs declare dims): y [1, 8, H, W], z [1, 4, H, W] (a dilated Conv), g [1, 8, 1, 1] (their
 * mean) and gm [1, 4, 1, 1] (z's maximum)
 */
function cnn(): Uint8Array {
  const b = new ModelBuilder(13);
  const [H, W] = [16, 24];
  const x = b.input("x", [1, 3, H, W]);
  const c1 = b.node("Conv", [x, b.weight("w1", [8, 3, 3, 3], u()), b.weight("b1", [8], u())], [1, 8, H, W], { pads: ints([1, 1, 1, 1]) });
  const r1 = b.node("Relu", [c1], [1, 8, H, W]);
  const c2 = b.node("Conv", [r1, b.weight("w2", [16, 8, 3, 3], u()), b.weight("b2", [16], u())], [1, 16, H / 2, W / 2], { pads: ints([1, 1, 1, 1]), strides: ints([2, 2]) });
  const c3 = b.node("Conv", [c2, b.weight("w3", [16, 1, 3, 3], u()), b.weight("b3", [16], u())], [1, 16, H / 2, W / 2], { pads: ints([1, 1, 1, 1]), group: int(16) });
  const sum = b.node("Add", [c3, c2], [1, 16, H / 2, W / 2]);
  const bn = b.node("BatchNormalization", [sum, b.weight("s", [16], u(0.5, 1.5)), b.weight("t", [16], u()), b.weight("mu", [16], u()), b.weight("var", [16], u(0.5, 1.5))], [1, 16, H / 2, W / 2]);
  const c4 = b.node("Conv", [bn, b.weight("w4", [24, 16, 1, 1], u())], [1, 24, H / 2, W / 2]);
  const mp = b.node("MaxPool", [c4], [1, 24, H / 2, W / 2], { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) });
  const ap = b.node("AveragePool", [mp], [1, 24, H / 4, W / 4], { kernel_shape: ints([2, 2]), strides: ints([2, 2]) });
  const ct = b.node("ConvTranspose", [ap, b.weight("wt", [24, 8, 3, 3], u()), b.weight("bt", [8], u())], [1, 8, H / 2, W / 2], { strides: ints([2, 2]), pads: ints([1, 1, 0, 0]) });
  // kernel = stride, no pads: the GEMM form
  const ct2 = b.node("ConvTranspose", [ap, b.weight("wt2", [24, 8, 2, 2], u())], [1, 8, H / 2, W / 2], { strides: ints([2, 2]) });
  const cts = b.node("Add", [ct, ct2], [1, 8, H / 2, W / 2]);
  const scales = b.weight("scales", [4], u(1, 1));
  b.graph.values.get(scales)!.const!.data = Float32Array.of(1, 1, 2, 2);
  const rs = b.node("Resize", [cts, "", scales], [1, 8, H, W], { mode: str("nearest"), coordinate_transformation_mode: str("asymmetric"), nearest_mode: str("floor") });
  const y = b.node("Add", [rs, r1], [1, 8, H, W]);
  const z = b.node("Conv", [y, b.weight("w5", [4, 8, 3, 3], u())], [1, 4, H, W], { pads: ints([2, 2, 2, 2]), dilations: ints([2, 2]) });
  const g = b.node("GlobalAveragePool", [y], [1, 8, 1, 1]);
  const gm = b.node("GlobalMaxPool", [z], [1, 4, 1, 1]);
  for (const o of [y, z, g, gm]) b.output(o);
  named(b, { [x]: [1, 3, "H", "W"], [y]: [1, 8, "H", "W"], [z]: [1, 4, "H", "W"] });
  return exportModel(b.graph, { valueInfo: false });
}

const feed = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * 2);
// sums over several layers of values near 1 (float32 sums in another order than onnxruntime's)
const tolerance = { rtol: 1e-4, atol: 2e-4 };
const SHAPES = { H: [8, 40, 8], W: [8, 64, 8] };
const RUNS = [[8, 8], [40, 64], [16, 24], [24, 56], [40, 8], [8, 64]];

async function expectRuns(bytes: Uint8Array, options: { kernels?: string; level?: 0 | 2; threads?: number }, runs = RUNS): Promise<void> {
  const model = await load(bytes, { shapes: SHAPES, cache: false, ...options });
  const poison = poisoner(model);
  for (const [H, W] of runs) {
    const dims = [1, 3, H, W];
    const data = feed(3 * H * W, H + W);
    poison();
    const got = await model.run({ x: { data, dims } });
    const want = await runOrt(bytes, { x: { dtype: "float32", dims, data } });
    for (const [name, w] of Object.entries(want)) {
      const at = `${name} at H ${H}, W ${W} (${JSON.stringify(options)})`;
      expect(got[name].dims, at).toEqual(w.dims);
      expect(compareTensors(got[name], w, tolerance).message ?? "ok", at).toBe("ok");
    }
  }
  expect(model.modulesCompiled).toBe(1);
}

describe("images whose height and width vary, compiled once", () => {
  const bytes = cnn();

  it("a small CNN at -O2 and -O0: one module for H 8..40 and W 8..64 in steps of 8", async () => {
    await expectRuns(bytes, { level: 2 });
    await expectRuns(bytes, { level: 0 }, RUNS.slice(0, 3));
  });

  // every Conv variant that takes these layers, forced (the others stay where they cannot)
  for (const kernels of ["conv/direct", "conv/im2col-gemm", "conv/im2col-positions", "conv/depthwise-lanes", "conv/pointwise-positions", "conv/grouped-gemm", "-winograd", "conv/winograd-f2x2", "conv/winograd-f4x4", "conv-transpose/scatter"]) {
    it(`with ${kernels}`, async () => {
      await expectRuns(bytes, { kernels }, RUNS.slice(0, 4));
    });
  }

  it("at 2 threads: the same outputs, bit for bit, as at 1", async () => {
    const one = await load(bytes, { shapes: SHAPES, cache: false });
    const two = await (await loadAt(2))(bytes, { shapes: SHAPES, cache: false, threads: 2 });
    const bits = (t: { data: ArrayBufferView }) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    for (const [H, W] of RUNS.slice(0, 4)) {
      const x = { data: feed(3 * H * W, H * W), dims: [1, 3, H, W] };
      const [a, b] = [await one.run({ x }), await two.run({ x })];
      for (const name of Object.keys(a)) expect(bits(b[name]).equals(bits(a[name])), `${name} at H ${H}, W ${W}`).toBe(true);
    }
  });

  it("a feed off the step, or past the bounds, is BAD_INPUT saying the steps", async () => {
    const model = await load(bytes, { shapes: SHAPES, cache: false });
    const run = (H: number, W: number) => model.run({ x: { data: new Float32Array(3 * H * W), dims: [1, 3, H, W] } });
    await expect(run(8, 12)).rejects.toThrow(/BAD_INPUT.*\[1,3,8,12\].*W 8\.\.64 in steps of 8/);
    await expect(run(48, 8)).rejects.toThrow(/BAD_INPUT.*H 8\.\.40 in steps of 8/);
  });

  it("bounds whose step does not divide them, and a dim that is not a polynomial of the symbols without a step, are refused", async () => {
    await expect(load(bytes, { shapes: { H: [8, 40, 6], W: 16 }, cache: false })).rejects.toThrow(/BAD_OPTION: shapes\.H: bounds \[8, 40, 6\]: the step must be at least 1 and divide both bounds/);
    // without a step: a probe at an odd H, where the stride's H/2 no longer meets the skip's H; the
    // error says a step may be what the dim needs
    await expect(load(bytes, { shapes: { H: [8, 40], W: 16 }, cache: false })).rejects.toThrow(/SHAPE_MISMATCH: at H=\d*[13579] .* give its bounds a step \(H: \[min, max, step\], --shape H=MIN\.\.MAX:STEP\)/);
    // a step the strides do not divide (2 where a stride 2 and a stride-2 upsampling need 4): a larger one
    await expect(load(bytes, { shapes: { H: [8, 40, 2], W: 16 }, cache: false })).rejects.toThrow(/at H=\d+ .* give their bounds a larger step, one the model's strides divide \(now H in steps of 2\)/);
  });
});

// A YOLOv8-shaped detector as torch.onnx.export writes it (test/fixtures/detector/make_fixture.py,
// seeded weights): C2f blocks, SPPF's MaxPools, nearest upsampling and Concat across scales, and the
// head's anchors made from the feature maps' dims (Shape -> Range -> meshgrid), which run in the
// module (symbolic-unfold.ts), so the anchors' count is 21 * (h/32) * (w/32).
describe("a YOLO-style detector over images of any size in steps of 32", () => {
  it("one module for 64..640 on both sides, each size's boxes and scores as onnxruntime-node's", async () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(import.meta.dirname, "fixtures/detector/detector.onnx")));
    const model = await load(bytes, { shapes: { height: [64, 640, 32], width: [64, 640, 32] }, cache: false });
    const poison = poisoner(model);
    for (const [H, W] of [[64, 64], [640, 640], [160, 224], [96, 608]]) {
      const data = Float32Array.from({ length: 3 * H * W }, (_, i) => Math.sin(i * 0.01 + H) * 0.5 + 0.5);
      poison();
      const got = await model.run({ images: { data, dims: [1, 3, H, W] } });
      const want = await runOrt(bytes, { images: { dtype: "float32", dims: [1, 3, H, W], data } });
      expect(got.output0.dims).toEqual([1, 9, 21 * (H / 32) * (W / 32)]);
      expect(compareTensors(got.output0, want.output0, { rtol: 1e-4, atol: 1e-4 }).message ?? "ok", `at ${H}x${W}`).toBe("ok");
    }
    expect(model.modulesCompiled).toBe(1);
  });
});

// An image-to-image network as torch.onnx.export writes it (test/fixtures/segmenter/make_fixture.py,
// seeded): reflection and replication Pad, InstanceNorm and GroupNorm over this run's pixels, a
// spatial mean, PixelUnshuffle and PixelShuffle, bilinear upsampling, per-pixel Softmax and ArgMax.
describe("a segmentation-style network over images of any size in steps of 16", () => {
  it("one module for 16..64 on both sides at -O2 and -O0, each size's classes as onnxruntime-node's", async () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(import.meta.dirname, "fixtures/segmenter/segmenter.onnx")));
    for (const level of [2, 0] as const) {
      const model = await load(bytes, { shapes: { H: [16, 64, 16], W: [16, 64, 16] }, level, cache: false });
      const poison = poisoner(model);
      for (const [H, W] of [[16, 16], [64, 64], [32, 48], [48, 16]]) {
        const data = feed(3 * H * W, H + 2 * W);
        poison();
        const got = await model.run({ x: { data, dims: [1, 3, H, W] } });
        const want = await runOrt(bytes, { x: { dtype: "float32", dims: [1, 3, H, W], data } });
        for (const name of ["p", "a"]) {
          expect(got[name].dims, `${name} at ${H}x${W} -O${level}`).toEqual(want[name].dims);
          expect(compareTensors(got[name], want[name], { rtol: 1e-5, atol: 1e-5 }).message ?? "ok", `${name} at ${H}x${W} -O${level}`).toBe("ok");
        }
      }
      expect(model.modulesCompiled).toBe(1);
    }
  });
});

// The QDQ PaddleOCR detector (onnxruntime's quantize_static, per-channel: models/quantize): the
// int8 convolutions (the GEMM, depthwise and Winograd forms) read padding filled with their input's
// zero point, the 8-bit Add and lookup tables map the whole slot; each size as the build pinned there.
describe("a quantized (QDQ) detector over images of any size", () => {
  it("q:ppocr_det.qdq at 64..640 in steps of 32: bit for bit the build pinned at each size", async () => {
    const bytes = await quantizedModel("ppocr_det", "qdq");
    const [n, h, w] = ["p2o.DynamicDimension.0", "p2o.DynamicDimension.1", "p2o.DynamicDimension.2"];
    const bounded = await load(bytes, { shapes: { [n]: 1, [h]: [64, 640, 32], [w]: [64, 640, 32] }, cache: false });
    const poison = poisoner(bounded);
    for (const [H, W] of [[64, 64], [96, 640], [320, 224]]) {
      const pinned = await load(bytes, { shapes: { [n]: 1, [h]: H, [w]: W }, cache: false });
      const x = { data: ocrInput("ppocr_det", [1, 3, H, W], H + W), dims: [1, 3, H, W] };
      poison();
      const [a, b] = [Object.values(await bounded.run({ x }))[0], Object.values(await pinned.run({ x }))[0]];
      expect(a.dims).toEqual(b.dims);
      expect(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength)), `at ${H}x${W}`).toBe(true);
    }
    expect(bounded.modulesCompiled).toBe(1);
  }, 120_000);
});

// YOLOv5's Focus: the image's four phases x[..., 0::2, 0::2], x[..., 1::2, 0::2], ... stacked on the
// channels, then a Conv: Slice with step 2 from a fixed start to the end of a varying dim.
describe("Slice with a step along an image's varying height and width (YOLOv5's Focus)", () => {
  it("one module for 8..40 by 8..64 in steps of 8, as onnxruntime-node", async () => {
    const b = new ModelBuilder(5);
    const [H, W] = [16, 24];
    const x = b.input("x", [1, 3, H, W]);
    const END = 2 ** 62;
    const phase = (i: number, j: number) => b.node("Slice", [x, b.int64s(`s${i}${j}`, [i, j]), b.int64s(`e${i}${j}`, [END, END]), b.int64s(`a${i}${j}`, [2, 3]), b.int64s(`p${i}${j}`, [2, 2])], [1, 3, H / 2, W / 2]);
    const cat = b.node("Concat", [phase(0, 0), phase(1, 0), phase(0, 1), phase(1, 1)], [1, 12, H / 2, W / 2], { axis: int(1) });
    const y = b.node("Conv", [cat, b.weight("w", [8, 12, 3, 3], u()), b.weight("bias", [8], u())], [1, 8, H / 2, W / 2], { pads: ints([1, 1, 1, 1]) });
    b.output(y);
    named(b, { [x]: [1, 3, "H", "W"], [y]: [1, 8, "h", "w"] });
    const bytes = exportModel(b.graph, { valueInfo: false });
    for (const level of [2, 0] as const) {
      const model = await load(bytes, { shapes: SHAPES, level, cache: false });
      const poison = poisoner(model);
      for (const [h, w] of [[8, 8], [40, 64], [16, 40]]) {
        const data = feed(3 * h * w, h - w);
        poison();
        const got = await model.run({ x: { data, dims: [1, 3, h, w] } });
        const want = await runOrt(bytes, { x: { dtype: "float32", dims: [1, 3, h, w], data } });
        expect(got[y].dims).toEqual([1, 8, h / 2, w / 2]);
        expect(compareTensors(got[y], want[y], tolerance).message ?? "ok", `at ${h}x${w} -O${level}`).toBe("ok");
      }
      expect(model.modulesCompiled).toBe(1);
    }
  });
});

describe("kiln compile --shape H=8..40:8 --shape W=8..64:8", () => {
  it("compiles one module; kiln inspect shows the steps and the dims; kiln run takes a run's dims on the step, refuses one off it", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-spatial-"));
    fs.writeFileSync(path.join(dir, "cnn.onnx"), cnn());
    const c = kiln(["compile", path.join(dir, "cnn.onnx"), "-o", path.join(dir, "cnn.wasm"), "--shape", "H=8..40:8", "--shape", "W=8..64:8", "--emit-ts", "--quiet"]);
    expect(c.stderr).toBe("");
    expect(c.code).toBe(0);
    // the typed bindings give the steps
    const ts = fs.readFileSync(path.join(dir, "cnn.ts"), "utf8");
    expect(ts).toContain("export const dims = { H: [8, 40, 8], W: [8, 64, 8] } as const;");
    expect(ts).toContain("/** float32 [1, 3, H=8..40 in steps of 8, W=8..64 in steps of 8]: at most 7680 elements. */");
    const shown = kiln(["inspect", path.join(dir, "cnn.wasm")]).stdout;
    expect(shown).toContain("symbolic dims (one module for every value in the bounds): H 8..40 in steps of 8, W 8..64 in steps of 8");
    expect(shown).toContain("  x: float32[1,3,H,W] (at most [1,3,40,64])");
    const r = kiln(["run", path.join(dir, "cnn.wasm"), "--shape", "H=16", "--shape", "W=24", "--json"]);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout).outputs.map((o: { dims: number[] }) => o.dims)).toEqual([[1, 8, 16, 24], [1, 4, 16, 24], [1, 8, 1, 1], [1, 4, 1, 1]]);
    expect(kiln(["run", path.join(dir, "cnn.wasm"), "--shape", "W=20"]).stderr).toMatch(/--shape W=20: this module takes W 8\.\.64 in steps of 8/);
    expect(kiln(["compile", path.join(dir, "cnn.onnx"), "-o", path.join(dir, "bad.wasm"), "--shape", "H=8..40:3", "--shape", "W=16"]).stderr).toMatch(/BAD_OPTION: shapes\.H: bounds \[8, 40, 3\]: the step must be at least 1 and divide both bounds/);
  });
});

describe("layers kiln does not take over an image whose height or width varies", () => {
  /** x [1, 4, H, W] -> op -> Relu */
  const one = (op: string, attrs: Record<string, unknown>, out: (H: number, W: number) => number[], more: (b: ModelBuilder) => string[] = () => [], opset = 17) => {
    const b = new ModelBuilder(3, opset);
    const x = b.input("x", [1, 4, 16, 16]);
    const p = b.node(op, [x, ...more(b)], out(16, 16), attrs as never);
    const y = b.node("Relu", [p], out(16, 16));
    b.output(y);
    named(b, { [x]: [1, 4, "H", "W"], [y]: [1, 4, "OH", "OW"] });
    return exportModel(b.graph, { valueInfo: false });
  };

  it("AveragePool whose windows at the run's edge take fewer taps (pads at the end, not counted), naming the node", async () => {
    const bytes = one("AveragePool", { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) }, (H, W) => [1, 4, H, W]);
    await expect(load(bytes, { shapes: { H: [8, 32, 8], W: [8, 32, 8] }, cache: false })).rejects.toThrow(/UNSUPPORTED_OP: AveragePool over an image whose height or width varies .* pads at the end/);
    // counted, the same windows are the bound's: taken
    const counted = one("AveragePool", { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), count_include_pad: int(1) }, (H, W) => [1, 4, H, W]);
    const model = await load(counted, { shapes: { H: [8, 32, 8], W: [8, 32, 8] }, cache: false });
    const data = feed(4 * 8 * 24, 1);
    const want = await runOrt(counted, { x: { dtype: "float32", dims: [1, 4, 8, 24], data } });
    const got = await model.run({ x: { data, dims: [1, 4, 8, 24] } });
    const name = Object.keys(want)[0];
    expect(compareTensors(got[name], want[name], tolerance).message ?? "ok").toBe("ok");
  });

  it("MaxPool's Indices (positions in this run's image) and a Resize whose coordinates measure the axis", async () => {
    const pool = new ModelBuilder(12);
    const x = pool.input("x", [1, 4, 16, 16]);
    const [v, i] = [pool.node("MaxPool", [x], [1, 4, 8, 8], { kernel_shape: ints([2, 2]), strides: ints([2, 2]) }), "idx"];
    pool.graph.nodeList().find((n) => n.op === "MaxPool")!.outputs.push(i);
    pool.graph.values.set(i, { name: i, dtype: "int64", shape: [1, 4, 8, 8] } as never);
    pool.output(v);
    pool.output(i);
    named(pool, { [x]: [1, 4, "H", "W"] });
    await expect(load(exportModel(pool.graph, { valueInfo: false }), { shapes: { H: [8, 32, 8], W: 16 }, cache: false })).rejects.toThrow(/UNSUPPORTED_OP: MaxPool over an image whose height or width varies .* Indices/);
    // align_corners measures the axis: its coordinates differ at every length
    const corners = resized({ mode: str("linear"), coordinate_transformation_mode: str("align_corners") }, [1, 1, 2, 2]);
    await expect(load(corners, { shapes: { H: [8, 32, 8], W: 16 }, cache: false })).rejects.toThrow(KilnError);
    await expect(load(corners, { shapes: { H: [8, 32, 8], W: 16 }, cache: false })).rejects.toThrow(/UNSUPPORTED_OP: Resize runs a symbolic dim along an axis it resizes only where the source coordinate does not measure the axis .* mode align_corners/);
  });

  /** x [1, 4, H, W] -> Resize(attrs, scales) -> Relu */
  const resized = (attrs: Record<string, unknown>, scales: number[], opset = 17) => one("Resize", attrs, (H, W) => [1, 4, H * scales[2], W * scales[3]], (b) => {
    const s = b.weight("scales", [4], u(1, 1));
    b.graph.values.get(s)!.const!.data = Float32Array.from(scales);
    return ["", s];
  }, opset);

  it("Resize along varying axes: linear and cubic (half_pixel, pytorch_half_pixel, asymmetric), nearest rounding either way, up and down, taps past the run's edge reading its copies", async () => {
    const cases: [Record<string, unknown>, number[], number?][] = [
      [{ mode: str("linear") }, [1, 1, 2, 2]],
      [{ mode: str("linear"), coordinate_transformation_mode: str("pytorch_half_pixel") }, [1, 1, 2, 4]],
      [{ mode: str("cubic"), coordinate_transformation_mode: str("asymmetric") }, [1, 1, 2, 2]],
      [{ mode: str("nearest"), coordinate_transformation_mode: str("half_pixel"), nearest_mode: str("round_prefer_ceil") }, [1, 1, 4, 2]],
      [{ mode: str("linear") }, [1, 1, 0.5, 0.5]],
      // antialiasing stretches the kernel over 4 input columns a side: taps reach 4 past the edge
      [{ mode: str("cubic"), antialias: int(1) }, [1, 1, 0.5, 0.25], 18],
    ];
    for (const [attrs, scales, opset] of cases) {
      const bytes = resized(attrs, scales, opset);
      const model = await load(bytes, { shapes: { H: [8, 32, 8], W: [8, 24, 8] }, cache: false });
      const poison = poisoner(model);
      for (const [H, W] of [[8, 8], [32, 24], [16, 8], [24, 16]]) {
        const data = feed(4 * H * W, H - W);
        poison();
        const got = await model.run({ x: { data, dims: [1, 4, H, W] } });
        const want = await runOrt(bytes, { x: { dtype: "float32", dims: [1, 4, H, W], data } });
        const name = Object.keys(want)[0];
        expect(got[name].dims).toEqual(want[name].dims);
        expect(compareTensors(got[name], want[name], { rtol: 1e-5, atol: 1e-5 }).message ?? "ok", `${JSON.stringify(attrs)} x${scales.slice(2)} at ${H}x${W}`).toBe("ok");
      }
      expect(model.modulesCompiled).toBe(1);
    }
  });
});
