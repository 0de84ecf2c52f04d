// Single QDQ layers, as onnxruntime's quantize_static writes them, run by kiln as fused 8-bit
// kernels (passes/fuse-qdq.ts) against onnxruntime-node's plain run (graph optimizations off:
// DequantizeLinear -> float op -> QuantizeLinear, the model's own meaning): every output within
// one quantization step, and the 8-bit Add bit for bit (it computes the same float arithmetic).
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { parseGraph } from "../../compiler/ir/parse.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { load } from "../../compiler/driver/api.js";
import { rng } from "../../compiler/driver/cli/inputs.js";

const list = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i)).join(", ");

/** uniform integers in [lo, hi) */
function ints(n: number, lo: number, hi: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.floor(lo + r() * (hi - lo)));
}

async function runPlain(bytes: Uint8Array, feeds: Record<string, { data: Int8Array | Uint8Array; dims: number[] }>): Promise<Int8Array | Uint8Array> {
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "disabled" });
  const f = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor(t.data instanceof Int8Array ? "int8" : "uint8", t.data, t.dims)]));
  return Object.values(await s.run(f))[0].data as Int8Array | Uint8Array;
}

/** kiln's output, and the kernel variants its layers ran */
async function runKiln(bytes: Uint8Array, feeds: Record<string, { data: Int8Array | Uint8Array; dims: number[] }>) {
  const model = await load(bytes, { shapes: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dims])) });
  const out = Object.values(await model.run(feeds))[0].data as Int8Array | Uint8Array;
  return { out, kernels: model.session!.manifest.layers.map((l) => l.kernel) };
}

interface Case {
  name: string;
  /** IR text of the body; %xq (and %aq, %bq) are inputs, %yq the output */
  ir: string;
  inputs: Record<string, { dims: number[]; dtype: "int8" | "uint8" }>;
  kernel: string;
  /** largest allowed difference in quantization steps */
  steps: number;
}

function qdqConv(o: { x: number[]; w: number[]; attrs: string; act: string; xt: "int8" | "uint8"; yt: "int8" | "uint8"; group?: number }): string {
  const [OC] = o.w, wn = o.w.reduce((a, b) => a * b, 1);
  const sw = list(OC, (c) => 0.002 + 0.0007 * (c % 5));
  const sx = 0.04;
  const xz = o.xt === "uint8" ? 129 : -3, yz = o.yt === "uint8" ? 110 : 2;
  return `
const %sx : float32[] = dense<[${sx}]>
const %zx : ${o.xt}[] = dense<[${xz}]>
const %wq : int8[${o.w}] = dense<[${ints(wn, -127, 128, 5).join(", ")}]>
const %sw : float32[${OC}] = dense<[${sw}]>
const %zw : int8[${OC}] = splat<0>
const %bq : int32[${OC}] = dense<[${ints(OC, -2000, 2000, 6).join(", ")}]>
const %sb : float32[${OC}] = dense<[${list(OC, (c) => Math.fround(sx * Math.fround(0.002 + 0.0007 * (c % 5))))}]>
const %sy : float32[] = dense<[0.08]>
const %zy : ${o.yt}[] = dense<[${yz}]>
const %lo : float32[] = dense<[0]>
const %hi : float32[] = dense<[6]>
%x : float32[${o.x}] = DequantizeLinear(%xq, %sx, %zx) {name="dqx"}
%w : float32[${o.w}] = DequantizeLinear[axis=0](%wq, %sw, %zw) {name="dqw"}
%b : float32[${OC}] = DequantizeLinear[axis=0](%bq, %sb) {name="dqb"}
%c = Conv[${o.attrs}](%x, %w, %b) {name="conv"}
${o.act === "relu" ? `%r = Relu(%c) {name="act"}` : o.act === "clip" ? `%r = Clip(%c, %lo, %hi) {name="act"}` : `%r = Identity(%c) {name="act"}`}
%yq = QuantizeLinear(%r, %sy, %zy) {name="q"}
output %yq`;
}

/** The case's model, and seeded 8-bit inputs (seeds from `seed` on) */
function caseModel(c: Case, seed: number) {
  const inputs = Object.entries(c.inputs).map(([k, t]) => `input %${k} : ${t.dtype}[${t.dims}]`).join("\n");
  const bytes = exportModel(parseGraph(`kiln.graph opsets("" = 21)\n${inputs}\n${c.ir}`), { valueInfo: false });
  const feeds = Object.fromEntries(Object.entries(c.inputs).map(([k, t], i) => {
    const n = t.dims.reduce((a, b) => a * b, 1);
    const v = ints(n, t.dtype === "uint8" ? 0 : -128, t.dtype === "uint8" ? 256 : 128, seed + i);
    return [k, { data: t.dtype === "uint8" ? Uint8Array.from(v) : Int8Array.from(v), dims: t.dims }];
  }));
  return { bytes, feeds };
}

const CASES: Case[] = [
  { name: "Conv 3x3 pad 1, per-channel, Relu, uint8", ir: qdqConv({ x: [1, 8, 9, 11], w: [12, 8, 3, 3], attrs: "pads=[1, 1, 1, 1]", act: "relu", xt: "uint8", yt: "uint8" }),
    inputs: { xq: { dims: [1, 8, 9, 11], dtype: "uint8" } }, kernel: "qwinograd", steps: 1 },
  { name: "Conv 1x1, int8, no activation", ir: qdqConv({ x: [1, 24, 7, 5], w: [20, 24, 1, 1], attrs: "", act: "none", xt: "int8", yt: "int8" }),
    inputs: { xq: { dims: [1, 24, 7, 5], dtype: "int8" } }, kernel: "qgemm-pointwise", steps: 1 },
  { name: "depthwise 3x3 stride 2, Clip(0, 6)", ir: qdqConv({ x: [1, 6, 15, 14], w: [6, 1, 3, 3], attrs: "group=6, pads=[1, 1, 1, 1], strides=[2, 2]", act: "clip", xt: "int8", yt: "int8" }),
    inputs: { xq: { dims: [1, 6, 15, 14], dtype: "int8" } }, kernel: "qdepthwise", steps: 1 },
  {
    name: "MatMul per-column weights, batched activations", kernel: "qgemm", steps: 1,
    inputs: { xq: { dims: [2, 5, 33], dtype: "uint8" } },
    ir: `
const %sx : float32[] = dense<[0.03]>
const %zx : uint8[] = dense<[120]>
const %wq : int8[33,17] = dense<[${ints(33 * 17, -127, 128, 9).join(", ")}]>
const %sw : float32[17] = dense<[${list(17, (c) => 0.003 + 0.001 * (c % 3))}]>
const %zw : int8[17] = splat<0>
const %sy : float32[] = dense<[0.2]>
const %zy : uint8[] = dense<[128]>
%x : float32[2,5,33] = DequantizeLinear(%xq, %sx, %zx) {name="dqx"}
%w : float32[33,17] = DequantizeLinear[axis=1](%wq, %sw, %zw) {name="dqw"}
%m = MatMul(%x, %w) {name="mm"}
%yq = QuantizeLinear(%m, %sy, %zy) {name="q"}
output %yq`,
  },
  {
    name: "Gemm transB with a float bias", kernel: "qgemm", steps: 1,
    inputs: { xq: { dims: [3, 40], dtype: "int8" } },
    ir: `
const %sx : float32[] = dense<[0.05]>
const %zx : int8[] = dense<[1]>
const %wq : int8[10,40] = dense<[${ints(400, -127, 128, 10).join(", ")}]>
const %sw : float32[10] = dense<[${list(10, (c) => 0.004 + 0.001 * (c % 4))}]>
const %b : float32[10] = dense<[${list(10, (c) => (c - 5) * 0.37)}]>
const %sy : float32[] = dense<[0.25]>
const %zy : int8[] = dense<[-10]>
%x : float32[3,40] = DequantizeLinear(%xq, %sx, %zx) {name="dqx"}
%w : float32[10,40] = DequantizeLinear[axis=0](%wq, %sw) {name="dqw"}
%g = Gemm[transB=1](%x, %w, %b) {name="gemm"}
%yq = QuantizeLinear(%g, %sy, %zy) {name="q"}
output %yq`,
  },
  {
    name: "Add + Relu of two 8-bit tensors", kernel: "qadd", steps: 0,
    inputs: { aq: { dims: [1, 3, 7, 5], dtype: "uint8" }, bq: { dims: [1, 3, 7, 5], dtype: "uint8" } },
    ir: `
const %sa : float32[] = dense<[0.07]>
const %za : uint8[] = dense<[100]>
const %sb : float32[] = dense<[0.03]>
const %zb : uint8[] = dense<[140]>
const %sy : float32[] = dense<[0.05]>
const %zy : uint8[] = dense<[0]>
%a : float32[1,3,7,5] = DequantizeLinear(%aq, %sa, %za) {name="dqa"}
%b : float32[1,3,7,5] = DequantizeLinear(%bq, %sb, %zb) {name="dqb"}
%s = Add(%a, %b) {name="add"}
%r = Relu(%s) {name="relu"}
%yq = QuantizeLinear(%r, %sy, %zy) {name="q"}
output %yq`,
  },
  {
    // (a + b + 3) / 2 + 5: every odd sum a half, rounded to even; sums past int8 saturate
    name: "Add of two int8 tensors to int8, halves and saturation", kernel: "qadd", steps: 0,
    inputs: { aq: { dims: [2, 61], dtype: "int8" }, bq: { dims: [2, 61], dtype: "int8" } },
    ir: `
const %sa : float32[] = dense<[0.5]>
const %za : int8[] = dense<[0]>
const %sb : float32[] = dense<[0.5]>
const %zb : int8[] = dense<[-3]>
const %sy : float32[] = dense<[1]>
const %zy : int8[] = dense<[5]>
%a : float32[2,61] = DequantizeLinear(%aq, %sa, %za) {name="dqa"}
%b : float32[2,61] = DequantizeLinear(%bq, %sb, %zb) {name="dqb"}
%s = Add(%a, %b) {name="add"}
%yq = QuantizeLinear(%s, %sy, %zy) {name="q"}
output %yq`,
  },
];

describe("QDQ layers as fused 8-bit kernels vs onnxruntime's plain run", () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const { bytes, feeds } = caseModel(c, 20);
      const want = await runPlain(bytes, feeds);
      const got = await runKiln(bytes, feeds);
      expect(got.kernels).toContain(c.kernel);
      let worst = 0, differ = 0;
      for (let i = 0; i < want.length; i++) {
        const d = Math.abs(got.out[i] - want[i]);
        worst = Math.max(worst, d);
        if (d) differ++;
      }
      expect(worst, `${differ} of ${want.length} outputs differ`).toBeLessThanOrEqual(c.steps);
      // the outputs are not all saturated or zero: the layer is exercised
      expect(new Set(want).size).toBeGreaterThan(4);
    });
  }
});

// A QDQ graph's float island (HardSwish as quantize_static leaves it: Add -> Q -> DQ -> Mul -> Q ->
// DQ -> Div) runs as one fused loop in which each Q -> DQ pair is computed in f32 lanes
// (codegen/kernels/fused/elementwise.ts fakeQuantPair). Against onnxruntime's plain run on finite
// values, and against kiln's own unfused -O0 build (QuantizeLinear to the integer and back) on
// every edge: NaN, infinities, signed zeros, both saturation ends, exact halves.
describe("QDQ float islands: Q -> DQ pairs in f32 lanes", () => {
  const ir = (zp1: number, zp2: number) => `kiln.graph opsets("" = 21)
input %x : float32[2,3,5,7]
const %three : float32[] = dense<[3]>
const %six : float32[] = dense<[6]>
const %s1 : float32[] = dense<[0.0235294122248888]>
const %z1 : uint8[] = dense<[${zp1}]>
const %s2 : float32[] = dense<[0.05]>
const %z2 : int8[] = dense<[${zp2}]>
%a = Add(%x, %three) {name="add"}
%aq = QuantizeLinear(%a, %s1, %z1) {name="q1"}
%ad = DequantizeLinear(%aq, %s1, %z1) {name="dq1"}
%m = Mul(%x, %ad) {name="mul"}
%mq = QuantizeLinear(%m, %s2, %z2) {name="q2"}
%md = DequantizeLinear(%mq, %s2, %z2) {name="dq2"}
%d = Div(%md, %six) {name="div"}
output %d`;
  const r = rng(33);
  const edges = [NaN, Infinity, -Infinity, 0, -0, 1e30, -1e30, 3, -3, 0.025, -0.025, 0.0117647061124444, -3.0117647, 2.9882353];
  const x = Float32Array.from({ length: 210 }, (_, i) => (i < edges.length ? edges[i] : (r() * 2 - 1) * 8));
  const run = async (bytes: Uint8Array, level: 0 | 2) => {
    const model = await load(bytes, { shapes: { x: [2, 3, 5, 7] }, level });
    const out = Object.values(await model.run({ x: { data: x, dims: [2, 3, 5, 7] } }))[0].data as Float32Array;
    return { out, kernels: model.session!.manifest.layers.map((l) => l.kernel) };
  };
  for (const [zp1, zp2] of [[0, 0], [17, -5]]) {
    it(`zero points ${zp1} and ${zp2}`, async () => {
      const bytes = exportModel(parseGraph(ir(zp1, zp2)), { valueInfo: false });
      const fused = await run(bytes, 2), plain = await run(bytes, 0);
      expect(fused.kernels).toEqual(["fused-loop"]);
      expect(plain.kernels).not.toContain("fused-loop");
      for (let i = 0; i < x.length; i++) expect(Object.is(fused.out[i], plain.out[i]), `x = ${x[i]}: fused ${fused.out[i]}, unfused ${plain.out[i]}`).toBe(true);
      const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "disabled" });
      const want = Object.values(await s.run({ x: new ort.Tensor("float32", x, [2, 3, 5, 7]) }))[0].data as Float32Array;
      for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i])) expect(fused.out[i], `x = ${x[i]}`).toBe(want[i]);
      expect(new Set(fused.out).size).toBeGreaterThan(20);
    });
  }
});

// A QDQ layer whose result no QuantizeLinear takes (kiln's quantize-static leaves one wherever no
// int8 layer reads the result): the int8 kernels with a float store, each i32 sum times x_scale *
// w_scale of its channel. onnxruntime's plain run computes the float Conv / MatMul of the
// dequantized operands: the same values up to float32 summation order.
describe("QDQ layers with a float result: int8 kernels, float store, vs onnxruntime's plain run", () => {
  /** the layer's own result as the graph output, no QuantizeLinear */
  const floatResult = (ir: string, result: string) => ir.replace(/%yq = QuantizeLinear[^\n]*\n/, "").replace("output %yq", `output ${result}`);
  /** the Conv's bias a float constant of `oc` values */
  const withFloatBias = (ir: string, oc: number) => ir.replace(/(%c = Conv\[[^\]]*\]\(%x, %w, )%b\)/, "$1%bf)").replace("%x : float32", `const %bf : float32[${oc}] = dense<[${list(oc, (c) => (c - 4) * 0.61)}]>\n%x : float32`);
  /** a QDQ Conv with a float result; its bias int32 in x_scale * w_scale (default), a float constant, or int32 in a scale of its own */
  const floatConv = (o: { name: string; x: number[]; w: number[]; attrs: string; t: "int8" | "uint8"; kernel: string; bias?: "float" | "own" }): Case => {
    let ir = floatResult(qdqConv({ x: o.x, w: o.w, attrs: o.attrs, act: "none", xt: o.t, yt: o.t }), "%c");
    if (o.bias === "float") ir = withFloatBias(ir, o.w[0]);
    if (o.bias === "own") ir = ir.replace("(%bq, %sb)", "(%bq, %sw)");
    return { name: o.name, ir, inputs: { xq: { dims: o.x, dtype: o.t } }, kernel: o.kernel, steps: 0 };
  };
  const FLOAT_CASES: Case[] = [
    floatConv({ name: "Conv 3x3 pad 1, uint8, 13 channels", x: [1, 8, 9, 11], w: [13, 8, 3, 3], attrs: "pads=[1, 1, 1, 1]", t: "uint8", kernel: "qgemm-im2col" }),
    floatConv({ name: "Conv 3x3, 2 groups, stride 2 (the channel scales offset per group)", x: [1, 8, 11, 7], w: [10, 4, 3, 3], attrs: "group=2, strides=[2, 2], pads=[0, 1, 1, 0]", t: "int8", kernel: "qgemm-im2col" }),
    floatConv({ name: "Conv 1x1, 2 images, 21 channels", x: [2, 24, 7, 5], w: [21, 24, 1, 1], attrs: "", t: "int8", kernel: "qgemm-pointwise" }),
    floatConv({ name: "depthwise 3x3 stride 2, odd plane", x: [1, 6, 15, 13], w: [6, 1, 3, 3], attrs: "group=6, pads=[1, 1, 1, 1], strides=[2, 2]", t: "int8", kernel: "qdepthwise" }),
    floatConv({ name: "depthwise 5x5 stride 1, uint8, 2 images, width 19", x: [2, 5, 9, 19], w: [5, 1, 5, 5], attrs: "group=5, pads=[2, 2, 2, 2]", t: "uint8", kernel: "qdepthwise" }),
    // MobileNetV2's projections: more positions than a tile, channels not a whole tile
    floatConv({ name: "Conv 1x1 at MobileNetV2's size, 144 -> 24 channels of 28x28", x: [1, 144, 28, 28], w: [24, 144, 1, 1], attrs: "", t: "int8", kernel: "qgemm-pointwise" }),
    // a float constant bias (kiln's quantize-static leaves the bias float), added after the scale
    floatConv({ name: "Conv 1x1 with a float bias", x: [1, 16, 5, 9], w: [11, 16, 1, 1], attrs: "", t: "int8", kernel: "qgemm-pointwise", bias: "float" }),
    floatConv({ name: "depthwise 3x3 stride 2 with a float bias", x: [1, 8, 9, 10], w: [8, 1, 3, 3], attrs: "group=8, pads=[1, 1, 1, 1], strides=[2, 2]", t: "int8", kernel: "qdepthwise", bias: "float" }),
    // a bias scale that is not x_scale * w_scale: added in float after the scale
    floatConv({ name: "Conv 1x1 with a bias in its own scale", x: [1, 16, 5, 9], w: [11, 16, 1, 1], attrs: "", t: "int8", kernel: "qgemm-pointwise", bias: "own" }),
    floatConv({ name: "depthwise 3x3 with a bias in its own scale", x: [1, 7, 6, 10], w: [7, 1, 3, 3], attrs: "group=7, pads=[1, 1, 1, 1]", t: "int8", kernel: "qdepthwise", bias: "own" }),
    { name: "MatMul per-column weights, batched activations", ir: floatResult(CASES[3].ir, "%m"), inputs: CASES[3].inputs, kernel: "qgemm", steps: 0 },
    { name: "Gemm transB with a float bias", ir: floatResult(CASES[4].ir, "%g"), inputs: CASES[4].inputs, kernel: "qgemm", steps: 0 },
  ];
  for (const c of FLOAT_CASES) {
    it(c.name, async () => {
      const { bytes, feeds } = caseModel(c, 40);
      const want = (await runPlain(bytes, feeds)) as unknown as Float32Array;
      const got = await runKiln(bytes, feeds);
      expect(want).toBeInstanceOf(Float32Array);
      expect(got.out).toBeInstanceOf(Float32Array);
      // the whole layer one fused int8 kernel: no float Conv / MatMul, no DequantizeLinear layer
      expect(got.kernels).toEqual([c.kernel]);
      expect(got.out.length).toBe(want.length);
      const peak = want.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
      for (let i = 0; i < want.length; i++) expect(Math.abs(got.out[i] - want[i]), `output ${i}: kiln ${got.out[i]}, onnxruntime ${want[i]}`).toBeLessThanOrEqual(2e-6 * peak);
      expect(new Set(want).size).toBeGreaterThan(want.length / 2);
    });
  }
});
