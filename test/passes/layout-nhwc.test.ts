// layout-nhwc: regions grown from depthwise Convs run channels-last, with Transposes only at their
// edges. The rewritten graphs must compute what onnxruntime computes on the original model
// (odd sizes, strides, pads, dilations, residual adds, values read outside the region, graph
// outputs inside it), and layers the pass cannot take must be left as they are.
import { describe, expect, it } from "vitest";
import { load } from "../../compiler/driver/api.js";
import { evaluateNode } from "../../compiler/driver/evaluate.js";
import { parseGraph } from "../../compiler/ir/parse.js";
import { verifyGraph } from "../../compiler/ir/verify.js";
import type { Graph } from "../../compiler/ir/graph.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { foldConstantsPass } from "../../passes/fold-constants.js";
import { layoutNhwc } from "../../passes/layout-nhwc.js";
import { isDeferred } from "../../compiler/ir/scaled.js";
import { fusePatternsPass } from "../../passes/fuse-patterns.js";
import { fuseEpiloguePass } from "../../passes/fuse-epilogue.js";
import { fuseElementwisePass } from "../../passes/fuse-elementwise.js";
import { runOrt } from "../util/ort.js";

let seed = 1;
const rand = (n: number, scale = 1) => Array.from({ length: n }, () => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return Math.round(((seed >>> 8) / (1 << 24) * 2 - 1) * scale * 1e4) / 1e4;
});
const dense = (n: number, scale = 1) => `dense<[${rand(n, scale).join(", ")}]>`;

interface Block {
  /** batch (default 1) */
  N?: number;
  C: number; M: number; H: number; W: number; k: number; s: number; d?: number;
  pads: [number, number, number, number];
  out: number;
  residual?: boolean;
  depthwiseBias?: boolean;
  /** also output the depthwise layer's activation (a region value read outside the region) */
  tap?: boolean;
}

/** x -> 1x1 expand + bias + Clip -> depthwise (+ bias) + Clip -> 1x1 project [+ x] */
function block(b: Block): { text: string; out: number[] } {
  const d = b.d ?? 1, N = b.N ?? 1;
  const [pt, pl, pb, pr] = b.pads;
  const OH = Math.floor((b.H + pt + pb - d * (b.k - 1) - 1) / b.s) + 1;
  const OW = Math.floor((b.W + pl + pr - d * (b.k - 1) - 1) / b.s) + 1;
  const lines = [
    `kiln.graph opsets("" = 13)`,
    `input %x : float32[${N},${b.C},${b.H},${b.W}]`,
    `const %w1 : float32[${b.M},${b.C},1,1] = ${dense(b.M * b.C, 0.5)}`,
    `const %b1 : float32[${b.M}] = ${dense(b.M)}`,
    `const %lo : float32[] = dense<[0]>`,
    `const %hi : float32[] = dense<[6]>`,
    `const %wd : float32[${b.M},1,${b.k},${b.k}] = ${dense(b.M * b.k * b.k)}`,
    ...(b.depthwiseBias ? [`const %bd : float32[${b.M}] = ${dense(b.M)}`] : []),
    `const %w2 : float32[${b.out},${b.M},1,1] = ${dense(b.out * b.M, 0.5)}`,
    `%e : float32[${N},${b.M},${b.H},${b.W}] = Conv(%x, %w1, %b1) {name="expand"}`,
    `%e6 : float32[${N},${b.M},${b.H},${b.W}] = Clip(%e, %lo, %hi) {name="expand.relu6"}`,
    `%dw : float32[${N},${b.M},${OH},${OW}] = Conv[group=${b.M}, kernel_shape=[${b.k}, ${b.k}], pads=[${b.pads.join(", ")}], strides=[${b.s}, ${b.s}], dilations=[${d}, ${d}]](%e6, %wd${b.depthwiseBias ? ", %bd" : ""}) {name="dw"}`,
    `%d6 : float32[${N},${b.M},${OH},${OW}] = Clip(%dw, %lo, %hi) {name="dw.relu6"}`,
    `%p : float32[${N},${b.out},${OH},${OW}] = Conv(%d6, %w2) {name="project"}`,
  ];
  if (b.residual) lines.push(`%y : float32[${N},${b.out},${OH},${OW}] = Add(%p, %x) {name="residual"}`, `output %y`);
  else lines.push(`output %p`);
  if (b.tap) lines.push(`output %d6`);
  return { text: lines.join("\n"), out: [N, b.out, OH, OW] };
}

async function optimized(text: string): Promise<Graph> {
  const g = parseGraph(text);
  await foldConstantsPass.run(g, { evaluate: evaluateNode });
  layoutNhwc(g);
  verifyGraph(g, { typed: true });
  return g;
}

const ops = (g: Graph) => g.topoOrder().map((n) => n.op);

async function expectLikeOrt(text: string, N: number, C: number, H: number, W: number) {
  const bytes = exportModel(parseGraph(text));
  const x = Float32Array.from(rand(N * C * H * W, 2));
  const model = await load(bytes);
  const got = await model.run({ x: { data: x, dims: [N, C, H, W] } });
  const want = await runOrt(bytes, { x: { dtype: "float32", dims: [N, C, H, W], data: x } });
  for (const [name, w] of Object.entries(want)) {
    const gv = got[name].data as Float32Array, wv = w.data as Float32Array;
    expect(got[name].dims).toEqual(w.dims);
    let worst = 0;
    for (let i = 0; i < wv.length; i++) worst = Math.max(worst, Math.abs(gv[i] - wv[i]) / (1e-4 + 1e-4 * Math.abs(wv[i])));
    expect(worst, `${name}: worst error in units of the tolerance`).toBeLessThanOrEqual(1);
  }
}

describe("layout-nhwc", () => {
  it("runs an inverted-residual block channels-last with one Transpose in and one out", async () => {
    const { text } = block({ C: 8, M: 24, H: 9, W: 7, k: 3, s: 1, pads: [1, 1, 1, 1], out: 8, residual: true });
    const g = await optimized(text);
    const list = ops(g);
    expect(list.filter((o) => o === "Transpose")).toHaveLength(2);
    expect(list).toContain("DepthwiseConvNhwc");
    expect(list.filter((o) => o === "MatMul")).toHaveLength(2);
    // the 1x1 weights' transposes wait for the weights image: compiling never computes them
    for (const mm of g.topoOrder().filter((n) => n.op === "MatMul")) expect(isDeferred(g.values.get(mm.inputs[1])!.const!)).toBe(true);
    expect(list).not.toContain("Conv");
    // the first op reads the graph input, the last writes the graph output, both Transposes
    const order = g.topoOrder();
    expect(order[0].op).toBe("Transpose");
    expect(order[order.length - 1].op).toBe("Transpose");
    expect(g.outputs).toEqual(["y"]);
    expect(g.values.get("y")!.shape).toEqual([1, 8, 9, 7]);
  });

  it("leaves a depthwise Conv with no pointwise neighbour, and channels that are not whole vectors, in NCHW", async () => {
    const alone = await optimized(`kiln.graph opsets("" = 13)
input %x : float32[1,8,5,5]
const %w : float32[8,1,3,3] = ${dense(72)}
%y : float32[1,8,5,5] = Conv[group=8, pads=[1, 1, 1, 1]](%x, %w) {name="dw"}
output %y`);
    expect(ops(alone)).toEqual(["Conv"]);
    const { text } = block({ C: 6, M: 18, H: 5, W: 5, k: 3, s: 1, pads: [1, 1, 1, 1], out: 6 });
    expect(ops(await optimized(text)).filter((o) => o === "Conv")).toHaveLength(3);
  });

  it("exports as standard ONNX (the depthwise op as Transpose, Conv, Transpose; fused bodies too) that onnxruntime runs to the same outputs", async () => {
    const b: Block = { C: 8, M: 16, H: 7, W: 5, k: 3, s: 2, pads: [1, 1, 1, 1], out: 8, depthwiseBias: true, tap: true };
    const { text } = block(b);
    const g = await optimized(text);
    for (const p of [fusePatternsPass, fuseEpiloguePass, fuseElementwisePass]) await p.run(g, { evaluate: evaluateNode });
    expect(g.topoOrder().some((n) => n.body?.some((x) => x.op === "DepthwiseConvNhwc"))).toBe(true);
    const x = Float32Array.from(rand(b.C * b.H * b.W, 2));
    const feeds = { x: { dtype: "float32" as const, dims: [1, b.C, b.H, b.W], data: x } };
    const want = await runOrt(exportModel(parseGraph(text)), feeds);
    const got = await runOrt(exportModel(g), feeds);
    for (const [name, w] of Object.entries(want)) {
      const gv = got[name].data as Float32Array, wv = w.data as Float32Array;
      for (let i = 0; i < wv.length; i++) expect(Math.abs(gv[i] - wv[i])).toBeLessThanOrEqual(1e-4 + 1e-4 * Math.abs(wv[i]));
    }
  });

  it("takes auto_pad SAME_UPPER depthwise layers as they are padded, stride 2 on an odd image", async () => {
    const text = `kiln.graph opsets("" = 13)
input %x : float32[1,4,9,7]
const %w1 : float32[12,4,1,1] = ${dense(48, 0.5)}
const %wd : float32[12,1,3,3] = ${dense(108)}
const %w2 : float32[4,12,1,1] = ${dense(48, 0.5)}
%e : float32[1,12,9,7] = Conv(%x, %w1) {name="expand"}
%d : float32[1,12,5,4] = Conv[group=12, kernel_shape=[3, 3], auto_pad="SAME_UPPER", strides=[2, 2]](%e, %wd) {name="dw"}
%y : float32[1,4,5,4] = Conv(%d, %w2) {name="project"}
output %y`;
    expect(ops(await optimized(text))).toContain("DepthwiseConvNhwc");
    await expectLikeOrt(text, 1, 4, 9, 7);
  });

  const cases: [string, Block][] = [
    ["3x3 stride 1, residual", { C: 8, M: 24, H: 9, W: 7, k: 3, s: 1, pads: [1, 1, 1, 1], out: 8, residual: true }],
    ["3x3 stride 2, odd sizes, depthwise bias", { C: 4, M: 12, H: 11, W: 13, k: 3, s: 2, pads: [1, 1, 1, 1], out: 20, depthwiseBias: true }],
    ["5x5, asymmetric pads", { C: 8, M: 16, H: 10, W: 9, k: 5, s: 1, pads: [2, 1, 1, 2], out: 12 }],
    ["3x3 dilation 2, no pads", { C: 4, M: 8, H: 12, W: 12, k: 3, s: 1, d: 2, pads: [0, 0, 0, 0], out: 4 }],
    ["wide image (interior run of 4s and a remainder)", { C: 4, M: 32, H: 3, W: 38, k: 3, s: 1, pads: [1, 1, 1, 1], out: 8, depthwiseBias: true }],
    ["channel blocks in L1-sized chunks, the last one short (15 blocks: 13 + 2)", { C: 8, M: 60, H: 5, W: 38, k: 3, s: 1, pads: [1, 1, 1, 1], out: 8, depthwiseBias: true }],
    ["1x1 image, every column an edge", { C: 8, M: 16, H: 1, W: 1, k: 3, s: 1, pads: [1, 1, 1, 1], out: 8, residual: true }],
    ["a batch of 3, stride 2, residual-free", { N: 3, C: 8, M: 16, H: 9, W: 11, k: 3, s: 2, pads: [1, 1, 1, 1], out: 12, depthwiseBias: true }],
    ["a region value read outside and as a graph output", { C: 8, M: 16, H: 6, W: 6, k: 3, s: 2, pads: [0, 0, 1, 1], out: 8, tap: true }],
  ];
  for (const [name, b] of cases) {
    it(`computes what onnxruntime does: ${name}`, async () => {
      const { text } = block(b);
      expect(ops(await optimized(text))).toContain("DepthwiseConvNhwc");
      await expectLikeOrt(text, b.N ?? 1, b.C, b.H, b.W);
    });
  }
});
