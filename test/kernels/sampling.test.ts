// RoiAlign, DeformConv, AffineGrid and MaxUnpool against onnxruntime-node on random inputs (and,
// where onnxruntime departs from the ONNX spec, against a direct JS reading of the spec), plus the
// run-time indices they take: out of range is BAD_INPUT naming the node.
import { describe, expect, it } from "vitest";
import type { Attr, Tensor } from "../../compiler/ir/graph.js";
import { exactHalfCodes, halfsToFloat32 } from "../../compiler/ir/values.js";
import { compareTensors } from "../../compiler/driver/testdata.js";
import type { DTypeName } from "../../runtime/dtypes.js";
import { rng } from "../../compiler/driver/cli/inputs.js";
import { Graph } from "../../compiler/ir/graph.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { importModel } from "../../compiler/onnx/import.js";
import { load } from "../../compiler/driver/api.js";
import { poisoner } from "../util/poison.js";
import { buildCase, declareTensor, expectMatchesOrt, runKiln, runOrt, tensor, type OpCase } from "../util/ort.js";

const int = (value: number): Attr => ({ type: "int", value });

/**
 * runKiln at -O2 and at -O0: -O2 widens float16 layers to float32 (Casts around them), so only
 * -O0 runs a kernel's own float16 path; both answers are returned, to be checked alike
 */
async function atLevels(bytes: Uint8Array, feeds: Record<string, Tensor>): Promise<Tensor[]> {
  const shapes = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dims]));
  const plain = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }]));
  return Promise.all(([2, 0] as const).map(async (level) => (await (await load(bytes, { shapes, level, cache: false })).run(plain)).out0 as Tensor));
}
const ints = (value: number[]): Attr => ({ type: "ints", value });
const str = (value: string): Attr => ({ type: "string", value });
const flt = (value: number): Attr => ({ type: "float", value });
const i64 = (dims: number[], data: number[], constant = false) => ({ dims, dtype: "int64" as DTypeName, data: data.map((v) => BigInt(v)), constant });

/** Boxes [x1, y1, x2, y2] around an H x W image in input coordinates (times 1/scale): inside, across the border, past it, tiny, inverted. */
function boxes(count: number, H: number, W: number, scale: number, seed: number): number[] {
  const r = rng(seed);
  const out: number[] = [];
  for (let k = 0; k < count; k++) {
    const x1 = -3 + r() * (W + 4), y1 = -3 + r() * (H + 4);
    const w = k % 7 === 6 ? -r() * 2 : k % 5 === 4 ? r() * 0.7 : r() * W * 1.3, h = k % 7 === 5 ? -r() * 2 : k % 5 === 3 ? r() * 0.7 : r() * H * 1.3;
    out.push(x1 / scale, y1 / scale, (x1 + w) / scale, (y1 + h) / scale);
  }
  return out;
}

// 6 channels by default: the float32 kernel takes four channels at a time, then the rest one by one
interface RoiOpts { N?: number; C?: number; H?: number; W?: number; R?: number; mode?: string; transform?: string; ratio?: number; scale?: number; outH?: number; outW?: number; dtype?: DTypeName; seed?: number }

function roiCase(o: RoiOpts): OpCase {
  const { N = 2, C = 6, H = 9, W = 11, R = 12, mode = "avg", transform = "half_pixel", ratio = 0, scale = 1, outH = 3, outW = 4, dtype = "float32", seed = 1 } = o;
  const r = rng(seed + 7);
  return {
    op: "RoiAlign", opset: 16, seed,
    attrs: { mode: str(mode), coordinate_transformation_mode: str(transform), sampling_ratio: int(ratio), spatial_scale: flt(scale), output_height: int(outH), output_width: int(outW) },
    inputs: [{ dims: [N, C, H, W], dtype, lo: -2, hi: 2 }, { dims: [R, 4], dtype, data: boxes(R, H, W, scale, seed) },
      i64([R], Array.from({ length: R }, () => Math.floor(r() * N)))],
    tolerance: { rtol: 1e-4, atol: 1e-5 },
  };
}

describe("RoiAlign vs onnxruntime (opset 16: onnxruntime registers it up to there)", () => {
  it("avg and max, both coordinate transforms, adaptive and fixed sampling grids, rois past the image", async () => {
    for (const mode of ["avg", "max"]) {
      for (const transform of ["half_pixel", "output_half_pixel"]) {
        for (const ratio of [0, 1, 3]) await expectMatchesOrt(roiCase({ mode, transform, ratio, seed: ratio + 1 }));
      }
    }
  });

  it("spatial_scale, odd output sizes, one channel, one roi, large rois on a small map", async () => {
    await expectMatchesOrt(roiCase({ scale: 0.25, outH: 7, outW: 7, C: 5, seed: 3 }));
    await expectMatchesOrt(roiCase({ scale: 1 / 16, outH: 2, outW: 5, ratio: 2, mode: "max", seed: 4 }));
    await expectMatchesOrt(roiCase({ N: 1, C: 1, R: 1, H: 4, W: 3, outH: 1, outW: 1, seed: 5 }));
    await expectMatchesOrt(roiCase({ N: 3, H: 2, W: 2, R: 9, outH: 2, outW: 2, scale: 0.5, seed: 6 }));
  });

  it("float64", async () => {
    await expectMatchesOrt(roiCase({ dtype: "float64", seed: 8 }));
    await expectMatchesOrt(roiCase({ dtype: "float64", mode: "max", ratio: 2, transform: "output_half_pixel", seed: 9 }));
  });

  it("float16 computes in float32: onnxruntime's float32 result on the same values, rounded", async () => {
    const c = roiCase({ seed: 10 });
    const { feeds } = buildCase(c);
    // values on a 1/64 grid are exact in float16
    const half = (t: { data: ArrayLike<number | bigint> }) => exactHalfCodes(Float32Array.from(t.data as ArrayLike<number>, (v) => Math.round(v * 64) / 64))!;
    const x = half(feeds.in0), b = half(feeds.in1);
    const ref = buildCase({ ...c, inputs: [{ ...c.inputs[0]!, data: halfsToFloat32(x) }, { ...c.inputs[1]!, data: halfsToFloat32(b) }, c.inputs[2]] });
    const want = (await runOrt(ref.bytes, ref.feeds)).out0;
    const h = buildCase({ ...c, inputs: [{ ...c.inputs[0]!, dtype: "float16" }, { ...c.inputs[1]!, dtype: "float16" }, c.inputs[2]] });
    for (const got of await atLevels(h.bytes, { ...h.feeds, in0: { ...h.feeds.in0, data: x }, in1: { ...h.feeds.in1, data: b } })) {
      expect(got.dtype).toBe("float16");
      const cmp = compareTensors({ dtype: "float32", dims: got.dims, data: halfsToFloat32(got.data as Uint16Array) }, want, { rtol: 1e-2, atol: 1e-2 });
      expect(cmp.message ?? "ok").toBe("ok");
    }
  });

  it("a batch index outside [0, N) is BAD_INPUT naming the node; the session stays usable", async () => {
    const c = roiCase({ N: 2, R: 3 });
    const { bytes, feeds } = buildCase({ ...c, inputs: [c.inputs[0], c.inputs[1], i64([3], [0, 2, 1])] });
    await expect(runOrt(bytes, feeds), "onnxruntime-node refuses it too").rejects.toThrow();
    await expect(runKiln(bytes, feeds)).rejects.toThrow(/^BAD_INPUT: index 2 is out of range for an axis of length 2 \[node "node", RoiAlign\]$/);
    const neg = buildCase({ ...c, inputs: [c.inputs[0], c.inputs[1], i64([3], [0, 1, -1])] });
    await expect(runKiln(neg.bytes, neg.feeds)).rejects.toThrow(/index -1 is out of range for an axis of length 2 .*RoiAlign/);
  });

  it("non-finite and huge rois stay inside the image and finish (no sample count from the roi's size)", async () => {
    const c = roiCase({ N: 1, R: 4 });
    const data = [0, 0, 1e30, 1e30, -Infinity, 0, Infinity, 5, NaN, 1, 4, 4, 1, 1, 3e9, 2];
    const { bytes, feeds } = buildCase({ ...c, inputs: [c.inputs[0], { dims: [4, 4], data }, i64([4], [0, 0, 0, 0])] });
    const got = (await runKiln(bytes, feeds)).out0.data as Float32Array;
    // a roi covering the image a billion times over averages its few samples inside over the full grid: ~0
    expect(Math.abs(got[0])).toBeLessThan(1e-3);
    expect(got.length).toBe(4 * 6 * 3 * 4);
  });

  it("no rois: an empty output", async () => {
    const c = roiCase({});
    const { bytes, feeds } = buildCase({ ...c, inputs: [c.inputs[0], { dims: [0, 4], data: [] }, i64([0], [])] });
    const got = (await runKiln(bytes, feeds)).out0;
    expect(got.dims).toEqual([0, 6, 3, 4]);
  });

  it("rejects bad attributes and shapes with typed errors", async () => {
    const c = roiCase({});
    await expect(runKiln(buildCase({ ...c, attrs: { ...c.attrs, mode: str("sum") } }).bytes, buildCase(c).feeds)).rejects.toThrow(/INVALID_MODEL: mode sum/);
    const bad = buildCase({ ...c, inputs: [c.inputs[0], { dims: [12, 5], data: new Array(60).fill(1) }, c.inputs[2]] });
    await expect(runKiln(bad.bytes, bad.feeds)).rejects.toThrow(/SHAPE_MISMATCH: rois must be \[num_rois, 4\]/);
  });
});

interface DeformOpts { N?: number; C?: number; H?: number; W?: number; M?: number; k?: [number, number]; group?: number; offsetGroup?: number;
  strides?: number[]; pads?: number[]; dilations?: number[]; mask?: boolean; bias?: boolean; spread?: number; dtype?: DTypeName; seed?: number }

function deformCase(o: DeformOpts): OpCase {
  const { N = 1, C = 4, H = 7, W = 8, M = 6, k = [3, 3], group = 1, offsetGroup = 1, strides = [1, 1], pads = [1, 1, 1, 1], dilations = [1, 1], spread = 2.5, dtype = "float32", seed = 1 } = o;
  const out = [0, 1].map((a) => Math.floor(([H, W][a] + pads[a] + pads[a + 2] - ((k[a] - 1) * dilations[a] + 1)) / strides[a]) + 1);
  const taps = k[0] * k[1];
  return {
    op: "DeformConv", opset: 19, seed, tolerance: dtype === "float16" ? { rtol: 1e-2, atol: 2e-2 } : { rtol: 1e-4, atol: 1e-4 },
    attrs: { kernel_shape: ints(k), group: int(group), offset_group: int(offsetGroup), strides: ints(strides), pads: ints(pads), dilations: ints(dilations) },
    inputs: [{ dims: [N, C, H, W], dtype }, { dims: [M, C / group, ...k], dtype, constant: seed % 2 === 0 }, { dims: [N, offsetGroup * 2 * taps, ...out], dtype, lo: -spread, hi: spread },
      o.bias ? { dims: [M], dtype } : null, o.mask ? { dims: [N, offsetGroup * taps, ...out], dtype, lo: 0, hi: 1 } : null].slice(0, o.mask ? 5 : o.bias ? 4 : 3),
  };
}

describe("DeformConv vs onnxruntime", () => {
  it("3x3 with pads, mask and bias, offsets reaching past the image", async () => {
    await expectMatchesOrt(deformCase({}));
    await expectMatchesOrt(deformCase({ mask: true, bias: true, seed: 2 }));
    await expectMatchesOrt(deformCase({ mask: true, seed: 3 }));
    await expectMatchesOrt(deformCase({ bias: true, spread: 12, seed: 4 }));
  });

  it("groups, offset groups, strides, dilations, odd kernels, batches", async () => {
    await expectMatchesOrt(deformCase({ C: 6, M: 4, group: 2, offsetGroup: 3, mask: true, bias: true, seed: 5 }));
    await expectMatchesOrt(deformCase({ N: 2, C: 4, M: 4, group: 4, offsetGroup: 2, strides: [2, 1], dilations: [1, 2], pads: [0, 2, 1, 0], seed: 6 }));
    await expectMatchesOrt(deformCase({ N: 2, C: 3, M: 5, k: [2, 3], strides: [2, 2], pads: [0, 0, 0, 0], H: 9, W: 6, bias: true, seed: 7 }));
    await expectMatchesOrt(deformCase({ C: 1, M: 1, k: [1, 1], pads: [0, 0, 0, 0], H: 1, W: 5, mask: true, seed: 8 }));
  });

  it("a layer whose im2col is built in chunks of positions (and a tail)", async () => {
    await expectMatchesOrt(deformCase({ C: 64, M: 3, H: 100, W: 100, bias: true, mask: true, spread: 1.5, seed: 9 }));
  });

  it("float64 and float16", async () => {
    await expectMatchesOrt(deformCase({ dtype: "float64", mask: true, bias: true, C: 4, M: 2, group: 2, offsetGroup: 2, seed: 10 }));
    const half = buildCase(deformCase({ dtype: "float16", mask: true, bias: true, seed: 11 }));
    const want = (await runOrt(half.bytes, half.feeds)).out0;
    for (const got of await atLevels(half.bytes, half.feeds)) expect(compareTensors(got, want, { rtol: 1e-2, atol: 2e-2 }).message ?? "ok").toBe("ok");
  });

  it("non-finite offsets read nothing outside X: NaN gives NaN, infinities count as outside", async () => {
    const c = deformCase({ C: 1, M: 1, k: [1, 1], pads: [0, 0, 0, 0], H: 2, W: 2 });
    const { bytes, feeds } = buildCase({ ...c, inputs: [{ dims: [1, 1, 2, 2], data: [1, 2, 3, 4] }, { dims: [1, 1, 1, 1], data: [1] }, { dims: [1, 2, 2, 2], data: [0, NaN, Infinity, -Infinity, 0, 0, 0, 1e30] }] });
    const got = Array.from((await runKiln(bytes, feeds)).out0.data as Float32Array);
    expect(got[0]).toBe(1);
    expect(got[1]).toBeNaN();
    expect(got.slice(2)).toEqual([0, 0]);
    // taps outside the image are zero, not 0 x the nearest element: an infinite X stays inside. The
    // ONNX reference gives [0, 0, NaN, 0] (a sample on the infinite corner meets -inf x 0 at its
    // neighbour inside); onnxruntime 1.30 gives NaN at all four
    const inf = buildCase({ ...c, inputs: [{ dims: [1, 1, 2, 2], data: [Infinity, 2, 3, -Infinity] }, { dims: [1, 1, 1, 1], data: [1] }, { dims: [1, 2, 2, 2], data: [-5, -5, 0, 7, -5, 0.5, 0, 0] }] });
    expect(Array.from((await runKiln(inf.bytes, inf.feeds)).out0.data as Float32Array)).toEqual([0, 0, NaN, 0]);
  });

  it("refuses 3-D images and mismatched offsets with typed errors", async () => {
    const c = deformCase({});
    const bad = buildCase({ ...c, inputs: [c.inputs[0], c.inputs[1], { dims: [1, 18, 6, 8] }] });
    await expect(runKiln(bad.bytes, bad.feeds)).rejects.toThrow(/SHAPE_MISMATCH: offset must be \[1,18,7,8\]/);
    const three = buildCase({ op: "DeformConv", opset: 19, attrs: {}, inputs: [{ dims: [1, 1, 3, 3, 3] }, { dims: [1, 1, 2, 2, 2] }, { dims: [1, 24, 2, 2, 2] }] });
    await expect(runKiln(three.bytes, three.feeds)).rejects.toThrow(/UNSUPPORTED_OP: kiln's DeformConv takes 2-D images/);
  });
});

describe("AffineGrid vs onnxruntime (opset 20)", () => {
  const grid = (theta: number[], size: number[], align: number, constSize = true, dtype: DTypeName = "float32"): OpCase => ({
    op: "AffineGrid", opset: 20, attrs: { align_corners: int(align) }, seed: size.length + align,
    inputs: [{ dims: theta, dtype, lo: -2, hi: 2 }, i64([size.length], size, constSize)], tolerance: dtype === "float16" ? { rtol: 1e-2, atol: 1e-2 } : { rtol: 1e-5, atol: 1e-5 },
  });
  it("2-D and 3-D, align_corners, odd sizes and batches; size given as an input (frozen when loading)", async () => {
    for (const align of [0, 1]) {
      await expectMatchesOrt(grid([3, 2, 3], [3, 5, 7, 4], align));
      await expectMatchesOrt(grid([1, 2, 3], [1, 1, 2, 9], align, false));
      await expectMatchesOrt(grid([2, 3, 4], [2, 3, 4, 3, 5], align));
      await expectMatchesOrt(grid([1, 3, 4], [1, 2, 2, 3, 3], align, false));
    }
  });

  it("float64 and float16", async () => {
    await expectMatchesOrt(grid([2, 2, 3], [2, 1, 4, 6], 1, true, "float64"));
    await expectMatchesOrt(grid([2, 3, 4], [2, 1, 3, 2, 5], 0, true, "float64"));
    // onnxruntime has no float16 AffineGrid: the float32 answer on the same (exact) values
    const c = grid([2, 2, 3], [2, 1, 5, 3], 1);
    const codes = exactHalfCodes(Float32Array.from(tensor(c.inputs[0]!, 2000).data as Float32Array, (v) => Math.round(v * 64) / 64))!;
    const f32 = buildCase({ ...c, inputs: [{ ...c.inputs[0]!, data: halfsToFloat32(codes) }, c.inputs[1]] });
    const want = (await runOrt(f32.bytes, f32.feeds)).out0;
    const h = buildCase({ ...c, inputs: [{ ...c.inputs[0]!, dtype: "float16" }, c.inputs[1]] });
    for (const got of await atLevels(h.bytes, { ...h.feeds, in0: { ...h.feeds.in0, data: codes } })) {
      const cmp = compareTensors({ dtype: "float32", dims: got.dims, data: halfsToFloat32(got.data as Uint16Array) }, want, { rtol: 1e-2, atol: 1e-2 });
      expect(cmp.message ?? "ok").toBe("ok");
    }
  });

  // every reading differs here: PyTorch 0, onnxruntime 1, the ONNX reference -1, the spec's function NaN (2 / 0)
  it("a dim of size 1 with align_corners has base coordinate 0, as PyTorch's affine_grid", async () => {
    const t = [1, 0.5, 0.25, 0.3, 1, -0.5];
    const { bytes, feeds } = buildCase({ ...grid([1, 2, 3], [1, 1, 1, 3], 1), inputs: [{ dims: [1, 2, 3], data: t }, i64([4], [1, 1, 1, 3], true)] });
    const got = Array.from((await runKiln(bytes, feeds)).out0.data as Float32Array);
    const f = t.map(Math.fround);
    const want = [-1, 0, 1].flatMap((x) => [f[0] * x + f[2], f[3] * x + f[5]].map(Math.fround));
    expect(got).toEqual(want);
  });

  it("AffineGrid feeding GridSample (a spatial transformer)", async () => {
    const g = new Graph();
    g.opsets.set("", 20);
    const feeds = {};
    const x = declareTensor(g, "x", tensor({ dims: [2, 3, 6, 5] }, 1), false, feeds);
    const theta = declareTensor(g, "theta", tensor({ dims: [2, 2, 3], lo: -1.2, hi: 1.2 }, 2), false, feeds);
    const size = declareTensor(g, "size", { dtype: "int64", dims: [4], data: BigInt64Array.of(2n, 3n, 4n, 7n) }, true, feeds);
    g.addNode({ name: "affine", op: "AffineGrid", domain: "", inputs: [theta, size], outputs: ["grid"], attrs: { align_corners: int(0) } });
    g.addNode({ name: "sample", op: "GridSample", domain: "", inputs: [x, "grid"], outputs: ["y"], attrs: { mode: str("linear"), padding_mode: str("zeros") } });
    g.outputs = ["y"];
    const bytes = exportModel(g, { valueInfo: false });
    const cmp = compareTensors((await runKiln(bytes, feeds)).y, (await runOrt(bytes, feeds)).y, { rtol: 1e-4, atol: 1e-5 });
    expect(cmp.message ?? "ok").toBe("ok");
  });

  it("refuses a theta that does not fit size", async () => {
    const bad = buildCase(grid([2, 3, 4], [2, 1, 4, 4], 0));
    await expect(runKiln(bad.bytes, bad.feeds)).rejects.toThrow(/SHAPE_MISMATCH: theta must be \[2, 2, 3\]/);
  });
});

describe("MaxUnpool vs onnxruntime", () => {
  /** indices into an output of `size` elements: distinct (a permutation's prefix) or with repeats */
  const indices = (count: number, size: number, seed: number, repeats: boolean) => {
    const r = rng(seed);
    const all = Array.from({ length: size }, (_, k) => k);
    for (let k = size - 1; k > 0; k--) { const j = Math.floor(r() * (k + 1)); [all[k], all[j]] = [all[j], all[k]]; }
    return Array.from({ length: count }, (_, k) => (repeats ? all[Math.floor(r() * Math.min(size, 3 + count / 2))] : all[k % size]));
  };
  const unpool = (x: number[], kernel: number[], strides: number[], pads: number[], out: number[] | undefined, opts: { repeats?: boolean; dtype?: DTypeName; seed?: number } = {}): OpCase => {
    const inferred = [x[0], x[1], ...x.slice(2).map((d, a) => (d - 1) * strides[a] - pads[a] - pads[a + kernel.length] + kernel[a])];
    const size = (out ?? inferred).reduce((a, b) => a * b, 1), count = x.reduce((a, b) => a * b, 1);
    return {
      op: "MaxUnpool", opset: 11, attrs: { kernel_shape: ints(kernel), strides: ints(strides), pads: ints(pads) }, seed: opts.seed ?? 1,
      inputs: [{ dims: x, dtype: opts.dtype ?? "float32" }, i64(x, indices(count, size, opts.seed ?? 1, !!opts.repeats)), ...(out ? [i64([out.length], out, true)] : [])],
    };
  };

  it("1-D, 2-D and 3-D, batches and channels, pads and strides, without and with output_shape", async () => {
    await expectMatchesOrt(unpool([2, 3, 4, 5], [2, 2], [2, 2], [0, 0, 0, 0], undefined));
    await expectMatchesOrt(unpool([1, 2, 3, 3], [3, 2], [2, 3], [1, 0, 0, 1], undefined, { seed: 2 }));
    await expectMatchesOrt(unpool([2, 2, 7], [3], [2], [1, 0], undefined, { seed: 3 }));
    await expectMatchesOrt(unpool([1, 2, 2, 3, 2], [2, 2, 2], [2, 2, 2], [0, 0, 0, 0, 0, 0], undefined, { seed: 4 }));
    // output_shape past the inferred shape: the indices address the larger output
    await expectMatchesOrt(unpool([2, 3, 2, 2], [2, 2], [2, 2], [0, 0, 0, 0], [2, 3, 5, 5], { seed: 5 }));
    await expectMatchesOrt(unpool([1, 1, 3, 4], [2, 2], [2, 2], [0, 0, 0, 0], [1, 1, 6, 8], { seed: 6 }));
  });

  it("repeated indices: the last element in X's order wins, as onnxruntime", async () => {
    await expectMatchesOrt(unpool([2, 2, 4, 4], [2, 2], [2, 2], [0, 0, 0, 0], undefined, { repeats: true, seed: 7 }));
  });

  // onnxruntime runs float32 only: the others against its float32 answer on the same values
  it("float64 and float16 move their bits", async () => {
    const d = unpool([1, 3, 3, 3], [2, 2], [2, 2], [0, 0, 0, 0], undefined, { seed: 8 });
    const want64 = (await runOrt(buildCase(d).bytes, buildCase(d).feeds)).out0.data as Float32Array;
    const d64 = buildCase({ ...d, inputs: [{ dims: [1, 3, 3, 3], dtype: "float64", data: buildCase(d).feeds.in0.data as Float32Array }, d.inputs[1]] });
    expect(Array.from((await runKiln(d64.bytes, d64.feeds)).out0.data as Float64Array)).toEqual(Array.from(want64));
    const c = unpool([1, 2, 2, 3], [2, 2], [2, 2], [0, 0, 0, 0], undefined, { seed: 9 });
    const codes = Uint16Array.from({ length: 12 }, (_, k) => 0x3c00 + k * 37); // 1.0 and up, exact
    const h = buildCase({ ...c, inputs: [{ dims: [1, 2, 2, 3], dtype: "float16" }, c.inputs[1]] });
    const f = buildCase({ ...c, inputs: [{ dims: [1, 2, 2, 3], data: halfsToFloat32(codes) }, c.inputs[1]] });
    const want = Array.from((await runOrt(f.bytes, f.feeds)).out0.data as Float32Array);
    for (const got of await atLevels(h.bytes, { ...h.feeds, in0: { ...h.feeds.in0, data: codes } })) expect(Array.from(halfsToFloat32(got.data as Uint16Array))).toEqual(want);
  });

  it("undoes MaxPool with its indices, output_shape from the pooled input's Shape (5x5 pooled to 2x2)", async () => {
    const g = new Graph();
    g.opsets.set("", 13);
    const feeds = {};
    const x = declareTensor(g, "x", tensor({ dims: [2, 3, 5, 5] }, 3), false, feeds);
    g.addNode({ name: "pool", op: "MaxPool", domain: "", inputs: [x], outputs: ["p", "i"], attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) } });
    g.addNode({ name: "shape", op: "Shape", domain: "", inputs: [x], outputs: ["s"], attrs: {} });
    g.addNode({ name: "unpool", op: "MaxUnpool", domain: "", inputs: ["p", "i", "s"], outputs: ["y"], attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) } });
    g.outputs = ["y"];
    const bytes = exportModel(g, { valueInfo: false });
    const got = (await runKiln(bytes, feeds)).y, want = (await runOrt(bytes, feeds)).y;
    expect(got.dims).toEqual([2, 3, 5, 5]);
    expect(compareTensors(got, want, { rtol: 0, atol: 0 }).message ?? "ok").toBe("ok");
  });

  it("an empty X leaves the output zeros", async () => {
    const c = unpool([1, 2, 2, 2], [2, 2], [2, 2], [0, 0, 0, 0], [1, 2, 3, 3]);
    const { bytes, feeds } = buildCase({ ...c, inputs: [{ dims: [1, 2, 0, 2] }, i64([1, 2, 0, 2], []), c.inputs[2]] });
    const got = (await runKiln(bytes, feeds)).out0;
    expect(got.dims).toEqual([1, 2, 3, 3]);
    expect(Array.from(got.data as Float32Array)).toEqual(new Array(18).fill(0));
  });

  it("an index outside the output is BAD_INPUT naming the node", async () => {
    const c = unpool([1, 1, 2, 2], [2, 2], [2, 2], [0, 0, 0, 0], undefined);
    const big = buildCase({ ...c, inputs: [c.inputs[0], i64([1, 1, 2, 2], [0, 16, 3, 4])] });
    await expect(runOrt(big.bytes, big.feeds), "onnxruntime-node refuses it too").rejects.toThrow();
    await expect(runKiln(big.bytes, big.feeds)).rejects.toThrow(/^BAD_INPUT: index 16 is out of range for an axis of length 16 \[node "node", MaxUnpool\]$/);
    const neg = buildCase({ ...c, inputs: [c.inputs[0], i64([1, 1, 2, 2], [0, -1, 3, 4])] });
    await expect(runKiln(neg.bytes, neg.feeds)).rejects.toThrow(/index -1 is out of range for an axis of length 16 .*MaxUnpool/);
  });
});

describe("symbolic dims: one module for a bounded roi count or batch, the arena poisoned between runs", () => {
  /** the model of `c` with input k's leading dim (and the output's) named `dim`, run at each size against onnxruntime */
  async function bounded(c: (n: number) => OpCase, named: number[], outRest: number[], bounds: [number, number], sizes: number[]) {
    const { bytes } = buildCase(c(bounds[1]));
    const g = importModel(bytes);
    for (const k of named) g.values.get(`in${k}`)!.shape = ["n", ...g.values.get(`in${k}`)!.shape!.slice(1)];
    g.values.get("out0")!.shape = ["n", ...outRest];
    g.values.get("out0")!.dtype = "float32";
    const model = await load(exportModel(g, { valueInfo: true }), { shapes: { n: bounds }, cache: false });
    const poison = poisoner(model);
    for (const n of sizes) {
      const { bytes: fixed, feeds } = buildCase(c(n));
      poison();
      const got = await model.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])) as never);
      const want = (await runOrt(fixed, feeds)).out0;
      expect(got.out0.dims).toEqual(want.dims);
      expect(compareTensors(got.out0, want, { rtol: 1e-4, atol: 1e-4 }).message ?? "ok", `at ${n}`).toBe("ok");
    }
    expect(model.modulesCompiled).toBe(1);
  }

  // a constant in each model (X, W): the poisoner finds the arena after the weights
  it("RoiAlign over a varying number of rois", () => bounded((n) => { const c = roiCase({ R: n, seed: 12 }); return { ...c, inputs: [{ ...c.inputs[0]!, constant: true }, ...c.inputs.slice(1)] }; }, [1, 2], [6, 3, 4], [1, 20], [20, 3, 1, 11]));
  it("DeformConv over a varying batch", () => bounded((n) => deformCase({ N: n, mask: true, bias: true, seed: 14 }), [0, 2, 4], [6, 7, 8], [1, 3], [3, 1, 2]));
});
