// Winograd 3x3 convolution against onnxruntime-node: odd spatial sizes (partial last tiles in both
// axes), channel counts off multiples of 4, pads, bias, fused epilogues; and the layers that must
// keep the direct kernel.
import { describe, expect, it } from "vitest";
import { Graph, type Attr, type Node } from "../../compiler/ir/graph.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { compile } from "../../compiler/driver/api.js";
import { compareTensors } from "../../compiler/driver/testdata.js";
import { kernelsFor } from "../util/kernels.js";
import { F2, F4, transformWeights } from "../../codegen/kernels/conv/winograd-math.js";
import { expectMatchesOrt, runKiln, runOrt, tensor, type TensorSpec } from "../util/ort.js";

const ints = (value: number[]): Attr => ({ type: "ints", value });
const int = (value: number): Attr => ({ type: "int", value });
const tol = { rtol: 1e-4, atol: 1e-4 };

/** the Winograd variant that runs a Conv of these shapes, or undefined when another kernel does */
async function winogradFor(x: number[], w: number[], attrs: Record<string, Attr>, constant = true): Promise<string | undefined> {
  const { chosen } = await kernelsFor("Conv", [{ dims: x }, { dims: w, constant }], attrs);
  return chosen.startsWith("winograd") ? chosen : undefined;
}
/** whether an im2col variant can run the layer (whatever runs it) */
const im2colFor = async (x: number[], w: number[], attrs: Record<string, Attr>) =>
  (await kernelsFor("Conv", [{ dims: x }, { dims: w, constant: true }], attrs)).applicable.some((v) => v.startsWith("im2col")) || undefined;

const conv = (C: number, M: number, H: number, W: number, pad: number, bias: boolean) => expectMatchesOrt({
  op: "Conv", attrs: { pads: ints([pad, pad, pad, pad]) }, tolerance: tol,
  inputs: [{ dims: [1, C, H, W] }, { dims: [M, C, 3, 3], constant: true }, bias ? { dims: [M], constant: true } : null],
});

describe("Winograd conv vs onnxruntime", () => {
  it("weight transform: U = G g G^T reproduces a direct 3x3 correlation through the tile algebra", () => {
    for (const t of [F2, F4]) {
      const w = tensor({ dims: [1, 1, 3, 3] }, 7);
      const U = transformWeights(t, w, 1, 1);
      const d = Array.from({ length: t.a * t.a }, (_, k) => Math.sin(k + 1));
      // V = BT d B, Y = AT (U .* V) A
      const mm = (A: number[][], B: number[][]) => A.map((r) => B[0].map((_, j) => r.reduce((s, a, k) => s + a * B[k][j], 0)));
      const tr = (A: number[][]) => A[0].map((_, j) => A.map((r) => r[j]));
      const D = Array.from({ length: t.a }, (_, i) => d.slice(i * t.a, (i + 1) * t.a));
      const V = mm(mm(t.BT, D), tr(t.BT));
      const P = V.map((r, i) => r.map((v, j) => v * U[(i * t.a + j) * 4]));
      const Y = mm(mm(t.AT, P), tr(t.AT));
      for (let i = 0; i < t.m; i++) {
        for (let j = 0; j < t.m; j++) {
          let want = 0;
          for (let ki = 0; ki < 3; ki++) for (let kj = 0; kj < 3; kj++) want += D[i + ki][j + kj] * Number(w.data[ki * 3 + kj]);
          expect(Y[i][j]).toBeCloseTo(want, 5);
        }
      }
    }
  });

  it("F(2x2,3x3)'s spelled-out weight transform gives the generic loops' U bit for bit (M off multiples of 4)", () => {
    const M = 7, C = 5;
    const w = tensor({ dims: [M, C, 3, 3], lo: -3, hi: 3 }, 11);
    const fast = transformWeights(F2, w, M, C);
    const generic = transformWeights({ ...F2 }, w, M, C); // a copy of F2 is not F2: the generic loops
    expect(fast.length).toBe(generic.length);
    expect(Array.from(fast).every((v, i) => Object.is(v, generic[i]))).toBe(true);
    expect(fast.some((v) => v !== 0)).toBe(true);
  });

  it("odd spatial sizes (partial tiles), channels off multiples of 4, pads 0/1, with and without bias", async () => {
    for (const [H, W] of [[5, 5], [7, 7], [13, 13], [9, 14], [6, 21]]) await conv(16, 16, H, W, 1, true);
    await conv(17, 19, 7, 13, 1, false);
    await conv(8, 9, 7, 7, 1, true);
    await conv(18, 21, 13, 5, 0, true);
    await conv(16, 20, 8, 8, 0, false);
  });

  it("56x56, 2 images, 64 -> 32 channels (several blocks of tile rows and a tail block)", async () => {
    await expectMatchesOrt({ op: "Conv", attrs: { pads: ints([1, 1, 1, 1]) }, tolerance: { rtol: 1e-4, atol: 2e-4 },
      inputs: [{ dims: [2, 24, 56, 56] }, { dims: [32, 24, 3, 3], constant: true }, { dims: [32], constant: true }] });
    expect(await winogradFor([2, 24, 56, 56], [32, 24, 3, 3], { pads: ints([1, 1, 1, 1]) })).toBeDefined();
  });

  it("grouped layers (AlexNet's conv4/conv5): each block of 4 output channels reads its group's inputs, F(4x4) and F(2x2)", async () => {
    for (const [G, C, M, H, tile] of [[2, 32, 16, 12, F2], [4, 32, 32, 7, F2], [2, 24, 40, 13, F2], [2, 64, 24, 12, F4]] as const) {
      const attrs = { pads: ints([1, 1, 1, 1]), group: int(G) };
      expect(await winogradFor([1, C, H, H], [M, C / G, 3, 3], attrs)).toBe(tile === F4 ? "winograd-f4x4" : "winograd-f2x2");
      await expectMatchesOrt({ op: "Conv", attrs, tolerance: { rtol: 1e-4, atol: 2e-4 },
        inputs: [{ dims: [2, C, H, H] }, { dims: [M, C / G, 3, 3], constant: true }, { dims: [M], constant: true }] });
    }
  });

  it("which tile: F(4x4) from 12x12 outputs and 32 input channels up, F(2x2) below; F(4x4) vs onnxruntime", async () => {
    const pads = ints([1, 1, 1, 1]);
    expect(await winogradFor([1, 32, 14, 14], [16, 32, 3, 3], { pads })).toBe("winograd-f4x4");
    expect(await winogradFor([1, 16, 14, 14], [16, 16, 3, 3], { pads })).toBe("winograd-f2x2");
    expect(await winogradFor([1, 64, 11, 11], [16, 64, 3, 3], { pads })).toBe("winograd-f2x2");
    for (const [C, M, H, W] of [[32, 20, 14, 14], [40, 12, 13, 17], [32, 8, 24, 12]]) {
      expect(await winogradFor([1, C, H, W], [M, C, 3, 3], { pads })).toBe("winograd-f4x4");
      await expectMatchesOrt({ op: "Conv", attrs: { pads }, tolerance: { rtol: 1e-4, atol: 5e-4 },
        inputs: [{ dims: [2, C, H, W] }, { dims: [M, C, 3, 3], constant: true }, { dims: [M], constant: true }] });
    }
  });

  it("pads wider than 1 (tiles wholly in padding give the bias), auto_pad SAME_UPPER", async () => {
    await expectMatchesOrt({ op: "Conv", attrs: { pads: ints([3, 2, 2, 3]) }, tolerance: tol,
      inputs: [{ dims: [1, 8, 4, 6] }, { dims: [12, 8, 3, 3], constant: true }, { dims: [12], constant: true }] });
    await expectMatchesOrt({ op: "Conv", attrs: { auto_pad: { type: "string", value: "SAME_UPPER" } }, tolerance: tol,
      inputs: [{ dims: [3, 8, 10, 9] }, { dims: [8, 8, 3, 3], constant: true }] });
  });

  it("asymmetric pads and edge values", async () => {
    await expectMatchesOrt({ op: "Conv", attrs: { pads: ints([0, 1, 1, 0]) }, tolerance: tol,
      inputs: [{ dims: [1, 16, 9, 11], lo: -1000, hi: 1000 }, { dims: [16, 16, 3, 3], constant: true }, { dims: [16], constant: true }] });
  });

  it("stride 2, dilation 2, group 2, runtime weights, few channels keep the direct kernel", async () => {
    const pads = ints([1, 1, 1, 1]);
    expect(await winogradFor([1, 16, 14, 14], [16, 16, 3, 3], { pads })).toBeDefined();
    expect(await winogradFor([1, 16, 14, 14], [16, 16, 3, 3], { pads, strides: ints([2, 2]) })).toBeUndefined();
    expect(await winogradFor([1, 16, 14, 14], [16, 16, 3, 3], { pads, dilations: ints([2, 2]) })).toBeUndefined();
    // grouped: only when each group's output channels come in whole blocks of 4
    expect(await winogradFor([1, 16, 14, 14], [16, 8, 3, 3], { pads, group: int(2) })).toBeDefined();
    expect(await winogradFor([1, 16, 14, 14], [20, 8, 3, 3], { pads, group: int(2) })).toBeUndefined();
    expect(await winogradFor([1, 16, 14, 14], [16, 16, 3, 3], { pads }, false)).toBeUndefined();
    expect(await winogradFor([1, 3, 14, 14], [16, 3, 3, 3], { pads })).toBeUndefined();
    for (const attrs of [{ pads, strides: ints([2, 2]) }, { pads, dilations: ints([2, 2]) }] as Record<string, Attr>[]) {
      await expectMatchesOrt({ op: "Conv", attrs, tolerance: tol, inputs: [{ dims: [1, 16, 14, 14] }, { dims: [16, 16, 3, 3], constant: true }] });
    }
    await expectMatchesOrt({ op: "Conv", attrs: { pads, group: int(2) }, tolerance: tol,
      inputs: [{ dims: [1, 16, 14, 14] }, { dims: [16, 8, 3, 3], constant: true }] });
  });
});

describe("im2col + packed GEMM conv vs onnxruntime", () => {
  const run = (x: number[], w: number[], attrs: Record<string, Attr>, bias: boolean) => expectMatchesOrt({ op: "Conv", attrs, tolerance: tol,
    inputs: [{ dims: x }, { dims: w, constant: true }, bias ? { dims: [w[0]], constant: true } : null] });
  it("strided 3x3 and 1x1, the 7x7 stem, 5x5, odd sizes, 2 images, with and without bias", async () => {
    const pads = (p: number) => ints([p, p, p, p]);
    const cases: [number[], number[], Record<string, Attr>][] = [
      [[2, 16, 13, 11], [20, 16, 3, 3], { pads: pads(1), strides: ints([2, 2]) }],
      [[1, 24, 14, 14], [9, 24, 1, 1], { strides: ints([2, 2]) }],
      [[1, 3, 23, 23], [16, 3, 7, 7], { pads: pads(3), strides: ints([2, 2]) }],
      [[1, 8, 7, 9], [12, 8, 5, 5], { pads: pads(2) }],
      [[1, 16, 9, 10], [8, 16, 3, 3], { pads: ints([0, 1, 2, 0]), strides: ints([1, 2]) }],
    ];
    for (const [x, w, attrs] of cases) {
      expect(await im2colFor(x, w, attrs)).toBeDefined();
      for (const bias of [true, false]) await run(x, w, attrs, bias);
    }
  });
  it("pointwise layers as the packed GEMM over the image in place: odd positions, 2 images, bias", async () => {
    await run([2, 13, 11, 13], [9, 13, 1, 1], {}, true);
    await run([1, 32, 9, 15], [20, 32, 1, 1], {}, false);
    await run([1, 64, 56, 56], [16, 64, 1, 1], {}, true);
  });
  it("grouped layers: one GEMM per group over its channels (AlexNet's group=2 convolutions), bias per group, 2 images", async () => {
    const cases: [number[], number[], Record<string, Attr>][] = [
      [[2, 16, 9, 11], [20, 8, 3, 3], { pads: ints([1, 1, 1, 1]), group: int(2) }], // 10 channels per group: not Winograd
      [[1, 24, 13, 13], [32, 6, 5, 5], { pads: ints([2, 2, 2, 2]), group: int(4) }],
      [[1, 32, 10, 9], [32, 8, 3, 3], { strides: ints([2, 2]), group: int(4) }],
      [[1, 16, 9, 9], [18, 8, 3, 3], { pads: ints([1, 1, 1, 1]), group: int(2) }], // 9 rows per group: W read in place, not pre-packed
    ];
    for (const [x, w, attrs] of cases) {
      expect(await im2colFor(x, w, attrs)).toBeDefined();
      for (const bias of [true, false]) await run(x, w, attrs, bias);
    }
    // depthwise and grouped pointwise keep their own kernels
    expect(await im2colFor([1, 16, 9, 9], [16, 1, 3, 3], { group: int(16) })).toBeUndefined();
    expect(await im2colFor([1, 16, 9, 9], [16, 4, 1, 1], { group: int(4) })).toBeUndefined();
  });
  it("weights given at run time (read in place by the GEMM)", async () => {
    await expectMatchesOrt({ op: "Conv", attrs: { pads: ints([1, 1, 1, 1]) }, tolerance: tol,
      inputs: [{ dims: [1, 16, 9, 9] }, { dims: [12, 16, 3, 3] }, { dims: [12] }] });
    await expectMatchesOrt({ op: "Conv", tolerance: tol, inputs: [{ dims: [1, 16, 12, 12] }, { dims: [12, 16, 1, 1] }] });
  });
  it("keeps the direct kernel for dilations, few channels; pointwise stride 1 stays a plain GEMM; stride 3 takes im2col", async () => {
    expect(await im2colFor([1, 16, 14, 14], [16, 16, 3, 3], { dilations: ints([2, 2]) })).toBeUndefined();
    expect(await im2colFor([1, 16, 14, 14], [16, 16, 3, 3], { strides: ints([3, 3]) })).toBeDefined();
    expect(await im2colFor([1, 1, 14, 14], [16, 1, 3, 3], {})).toBeUndefined();
    expect(await im2colFor([1, 16, 14, 14], [16, 16, 1, 1], {})).toBeUndefined();
  });
});

async function fusedMatchesOrt(values: Record<string, TensorSpec>, nodes: { op: string; inputs: string[]; out: string; attrs?: Record<string, Attr> }[], fused: string) {
  const g = new Graph();
  g.opsets.set("", 17);
  const feeds: Record<string, ReturnType<typeof tensor>> = {};
  Object.entries(values).forEach(([name, spec], k) => {
    const t = tensor(spec, 200 + k);
    const v = g.value(name);
    v.dtype = t.dtype;
    v.shape = [...t.dims];
    if (spec.constant) v.const = t;
    else { g.inputs.push(name); feeds[name] = t; }
  });
  nodes.forEach((n, k) => g.addNode({ name: `n${k}`, op: n.op, domain: "", inputs: n.inputs, outputs: [n.out], attrs: n.attrs ?? {} }));
  const out = nodes[nodes.length - 1].out;
  g.outputs = [out];
  const bytes = exportModel(g, { valueInfo: false });
  const { manifest } = await compile(bytes, { shapes: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dims])) });
  expect(manifest.layers.map((l) => l.op)).toEqual([fused]);
  const want = await runOrt(bytes, feeds);
  const got = await runKiln(bytes, feeds);
  expect(compareTensors(got[out], want[out], { rtol: 1e-4, atol: 1e-4 }).message ?? "ok").toBe("ok");
}

describe("Winograd conv with fused epilogues", () => {
  const x = (...dims: number[]): TensorSpec => ({ dims });
  const k = (...dims: number[]): TensorSpec => ({ dims, constant: true });
  it("Conv + bias Add + residual Add + Relu, odd size", () => fusedMatchesOrt(
    { x: x(1, 16, 13, 11), w: k(20, 16, 3, 3), b: k(20), b2: k(1, 20, 1, 1), r: x(1, 20, 13, 11) },
    [
      { op: "Conv", inputs: ["x", "w", "b"], out: "c", attrs: { pads: ints([1, 1, 1, 1]) } },
      { op: "Add", inputs: ["c", "b2"], out: "d" },
      { op: "Add", inputs: ["d", "r"], out: "e" },
      { op: "Relu", inputs: ["e"], out: "y" },
    ], "Conv_Add_Add_Relu"));
  it("strided Conv (im2col path) + bias Add + residual Add + Relu", () => fusedMatchesOrt(
    { x: x(2, 16, 11, 13), w: k(12, 16, 3, 3), b2: k(12, 1, 1), r: x(2, 12, 6, 7) },
    [
      { op: "Conv", inputs: ["x", "w"], out: "c", attrs: { pads: ints([1, 1, 1, 1]), strides: ints([2, 2]) } },
      { op: "Add", inputs: ["c", "b2"], out: "d" },
      { op: "Add", inputs: ["d", "r"], out: "e" },
      { op: "Relu", inputs: ["e"], out: "y" },
    ], "Conv_Add_Add_Relu"));
  it("grouped Conv (im2col per group) + residual Add + Relu", () => fusedMatchesOrt(
    { x: x(1, 16, 9, 7), w: k(16, 8, 3, 3), b: k(16), r: x(1, 16, 9, 7) },
    [
      { op: "Conv", inputs: ["x", "w", "b"], out: "c", attrs: { pads: ints([1, 1, 1, 1]), group: int(2) } },
      { op: "Add", inputs: ["c", "r"], out: "e" },
      { op: "Relu", inputs: ["e"], out: "y" },
    ], "Conv_Add_Relu"));
  it("Conv (no bias) + Relu, 7x7", () => fusedMatchesOrt(
    { x: x(1, 32, 7, 7), w: k(32, 32, 3, 3) },
    [
      { op: "Conv", inputs: ["x", "w"], out: "c", attrs: { pads: ints([1, 1, 1, 1]) } },
      { op: "Relu", inputs: ["c"], out: "y" },
    ], "Conv_Relu"));
});
