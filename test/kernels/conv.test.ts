import { describe, expect, it } from "vitest";
import type { Attr } from "../../compiler/ir/graph.js";
import { buildCase, expectMatchesOrt, runKiln, runOrt } from "../util/ort.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { parseGraph } from "../../compiler/ir/parse.js";
import { kernelsFor } from "../util/kernels.js";

const ints = (value: number[]): Attr => ({ type: "ints", value });
const int = (value: number): Attr => ({ type: "int", value });
const str = (value: string): Attr => ({ type: "string", value });
const tol = { rtol: 1e-4, atol: 1e-4 };

/** Conv (constant weights, a bias) then Relu, fused into the Conv's stores, against onnxruntime */
async function expectConvReluMatches(x: number[], w: number[], attrs: string): Promise<void> {
  const wv = Array.from({ length: w.reduce((a, b) => a * b) }, (_, i) => ((i * 7) % 13) / 13 - 0.5);
  const bv = Array.from({ length: w[0] }, (_, i) => (i % 5) * 0.1 - 0.2);
  const text = `kiln.graph opsets("" = 17)
input %x : float32[${x}]
const %w : float32[${w}] = dense<[${wv.join(", ")}]>
const %b : float32[${w[0]}] = dense<[${bv.join(", ")}]>
%c = Conv[${attrs}](%x, %w, %b) {name="conv"}
%y = Relu(%c) {name="act"}
output %y`;
  const bytes = exportModel(parseGraph(text));
  const feeds = { x: { dtype: "float32" as const, dims: x, data: Float32Array.from({ length: x.reduce((a, b) => a * b) }, (_, i) => Math.sin(i)) } };
  const got = (await runKiln(bytes, feeds)).y, want = (await runOrt(bytes, feeds)).y;
  expect(got.dims).toEqual(want.dims);
  for (let i = 0; i < want.data.length; i++) expect(Math.abs(got.data[i] as number - (want.data[i] as number)), `[${x}] * [${w}] element ${i}`).toBeLessThanOrEqual(1e-5);
}

describe("Conv vs onnxruntime", () => {
  it("2-D with pads, strides and bias over odd sizes (border runs and 4-wide interior)", async () => {
    for (const [H, W] of [[7, 13], [5, 5], [1, 9]]) {
      await expectMatchesOrt({ op: "Conv", attrs: { pads: ints([1, 2, 1, 0]) }, tolerance: tol,
        inputs: [{ dims: [2, 3, H, W] }, { dims: [5, 3, 3, 3], constant: true }, { dims: [5], constant: true }] });
    }
    await expectMatchesOrt({ op: "Conv", attrs: { strides: ints([2, 3]), pads: ints([1, 1, 1, 1]) }, tolerance: tol,
      inputs: [{ dims: [1, 2, 9, 11] }, { dims: [3, 2, 3, 2] }] });
  });
  it("im2col with strides above 2 (AlexNet's 11x11/4 stem, odd widths, constant weights)", async () => {
    await expectMatchesOrt({ op: "Conv", attrs: { strides: ints([4, 4]) }, tolerance: tol,
      inputs: [{ dims: [1, 3, 43, 47] }, { dims: [8, 3, 11, 11], constant: true }, { dims: [8], constant: true }] });
    await expectMatchesOrt({ op: "Conv", attrs: { strides: ints([3, 5]), pads: ints([2, 1, 0, 3]) }, tolerance: tol,
      inputs: [{ dims: [2, 4, 19, 23] }, { dims: [12, 4, 5, 3], constant: true }] });
  });

  it("dilations, auto_pad SAME_UPPER / SAME_LOWER / VALID", async () => {
    await expectMatchesOrt({ op: "Conv", attrs: { dilations: ints([2, 3]), pads: ints([2, 2, 2, 2]) }, tolerance: tol,
      inputs: [{ dims: [1, 2, 10, 12] }, { dims: [4, 2, 3, 3] }] });
    for (const auto of ["SAME_UPPER", "SAME_LOWER", "VALID"]) {
      await expectMatchesOrt({ op: "Conv", attrs: { auto_pad: str(auto), strides: ints([2, 1]) }, tolerance: tol,
        inputs: [{ dims: [1, 3, 8, 7] }, { dims: [2, 3, 4, 3] }] });
    }
  });
  it("output-channel blocks of 4 with 8-, 4- and 1-wide column runs", async () => {
    for (const W of [8, 13, 21]) {
      await expectMatchesOrt({ op: "Conv", attrs: { pads: ints([1, 1, 1, 1]) }, tolerance: tol,
        inputs: [{ dims: [1, 3, 6, W] }, { dims: [8, 3, 3, 3], constant: true }, { dims: [8], constant: true }] });
    }
    await expectMatchesOrt({ op: "Conv", attrs: { strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) }, tolerance: tol,
      inputs: [{ dims: [1, 3, 7, 37] }, { dims: [8, 3, 3, 3], constant: true }, { dims: [8], constant: true }] });
    await expectMatchesOrt({ op: "Conv", attrs: { strides: ints([2, 2]), pads: ints([3, 3, 3, 3]) }, tolerance: tol,
      inputs: [{ dims: [1, 3, 20, 29] }, { dims: [4, 3, 7, 7], constant: true }] });
    await expectMatchesOrt({ op: "Conv", attrs: { strides: ints([2, 2]) }, tolerance: tol, inputs: [{ dims: [1, 5, 9, 21] }, { dims: [8, 5, 1, 1], constant: true }] });
    await expectMatchesOrt({ op: "Conv", attrs: { group: int(2), pads: ints([0, 2, 1, 1]) }, tolerance: tol,
      inputs: [{ dims: [2, 4, 5, 19] }, { dims: [8, 2, 2, 5] }, { dims: [8] }] });
  });
  it("pads wider than the kernel: windows wholly in padding give the bias", async () => {
    await expectMatchesOrt({ op: "Conv", attrs: { pads: ints([3, 3, 3, 3]) }, tolerance: tol, inputs: [{ dims: [1, 2, 4, 5] }, { dims: [8, 2, 2, 2] }, { dims: [8] }] });
  });
  it("groups and depthwise", async () => {
    await expectMatchesOrt({ op: "Conv", attrs: { group: int(2), pads: ints([1, 1, 1, 1]) }, tolerance: tol,
      inputs: [{ dims: [1, 4, 6, 9] }, { dims: [6, 2, 3, 3] }, { dims: [6] }] });
    await expectMatchesOrt({ op: "Conv", attrs: { group: int(5), pads: ints([1, 1, 1, 1]), strides: ints([2, 2]) }, tolerance: tol,
      inputs: [{ dims: [1, 5, 11, 10] }, { dims: [5, 1, 3, 3] }, { dims: [5] }] });
  });
  it("depthwise path: strides 1 and 2, 5x5 and dilated kernels, wide rows, 1-D", async () => {
    for (const s of [1, 2]) {
      await expectMatchesOrt({ op: "Conv", attrs: { group: int(6), pads: ints([2, 2, 2, 1]), strides: ints([s, s]) }, tolerance: tol,
        inputs: [{ dims: [2, 6, 9, 27] }, { dims: [6, 1, 5, 5], constant: true }, { dims: [6], constant: true }] });
      await expectMatchesOrt({ op: "Conv", attrs: { group: int(3), dilations: ints([2, 2]), pads: ints([2, 2, 2, 2]), strides: ints([1, s]) }, tolerance: tol,
        inputs: [{ dims: [1, 3, 7, 18] }, { dims: [3, 1, 3, 3] }] });
    }
    await expectMatchesOrt({ op: "Conv", attrs: { group: int(4), pads: ints([1, 1]) }, tolerance: tol, inputs: [{ dims: [1, 4, 23] }, { dims: [4, 1, 3] }, { dims: [4] }] });
  });
  it("1-D, 3-D and 1x1 (the GEMM path)", async () => {
    await expectMatchesOrt({ op: "Conv", attrs: { pads: ints([2, 1]) }, tolerance: tol, inputs: [{ dims: [2, 3, 17] }, { dims: [4, 3, 5] }] });
    await expectMatchesOrt({ op: "Conv", attrs: { pads: ints([1, 0, 1, 1, 0, 1]) }, tolerance: tol,
      inputs: [{ dims: [1, 2, 5, 4, 6] }, { dims: [3, 2, 3, 2, 3] }, { dims: [3] }] });
    await expectMatchesOrt({ op: "Conv", tolerance: tol, inputs: [{ dims: [2, 7, 5, 3] }, { dims: [9, 7, 1, 1], constant: true }, { dims: [9] }] });
    await expectMatchesOrt({ op: "Conv", attrs: { group: int(3) }, tolerance: tol, inputs: [{ dims: [2, 6, 5, 7] }, { dims: [12, 2, 1, 1], constant: true }, { dims: [12] }] });
  });
  it("grouped 1x1 as the packed GEMM per group (ShuffleNet's): prepacked groups of whole row tiles, odd groups read in place, a fused Relu", async () => {
    const cases: { x: number[]; w: number[]; group: number }[] = [
      { x: [1, 240, 28, 28], w: [240, 80, 1, 1], group: 3 }, // ShuffleNet's stage 2
      { x: [2, 12, 5, 7], w: [18, 4, 1, 1], group: 3 },
      { x: [1, 10, 9, 9], w: [25, 2, 1, 1], group: 5 }, // 5 output channels a group: not whole tiles of 2
    ];
    for (const c of cases) {
      const attrs = { group: int(c.group) };
      const inputs = [{ dims: c.x }, { dims: c.w, constant: true }, { dims: [c.w[0]], constant: true }];
      expect((await kernelsFor("Conv", inputs, attrs)).chosen, `[${c.x}] * [${c.w}] group ${c.group}`).toBe("pointwise-gemm");
      await expectMatchesOrt({ op: "Conv", attrs, tolerance: tol, inputs });
      await expectConvReluMatches(c.x, c.w, `group=${c.group}`);
    }
    // weights computed at run time (no prepacking) and a group's rows of W read in place
    await expectMatchesOrt({ op: "Conv", attrs: { group: int(4) }, tolerance: tol, inputs: [{ dims: [1, 16, 6, 6] }, { dims: [20, 4, 1, 1] }] });
  });
  it("1-D as the im2col GEMM (Whisper's audio stem: k3 pad 1 at stride 1 and 2), strides, groups, runtime weights, few positions", async () => {
    const cases: { x: number[]; w: number[]; attrs: Record<string, Attr>; constant: boolean; bias: boolean }[] = [
      { x: [1, 20, 97], w: [16, 20, 3], attrs: { pads: ints([1, 1]) }, constant: true, bias: true },
      { x: [1, 20, 37], w: [16, 20, 3], attrs: { pads: ints([1, 1]) }, constant: true, bias: true },
      { x: [2, 16, 41], w: [12, 16, 3], attrs: { pads: ints([1, 1]), strides: ints([2]) }, constant: true, bias: true },
      { x: [1, 8, 30], w: [9, 8, 5], attrs: { pads: ints([2, 0]), strides: ints([3]) }, constant: false, bias: false },
      { x: [1, 16, 29], w: [16, 8, 3], attrs: { pads: ints([0, 2]), group: int(2) }, constant: true, bias: true },
    ];
    const chosen = new Set<string>();
    for (const c of cases) {
      const inputs = [{ dims: c.x }, { dims: c.w, constant: c.constant }, ...(c.bias ? [{ dims: [c.w[0]], constant: true }] : [])];
      const { chosen: variant } = await kernelsFor("Conv", inputs, c.attrs);
      expect(variant, `x [${c.x}] w [${c.w}]`).toMatch(/^im2col-(gemm|positions)$/);
      chosen.add(variant);
      await expectMatchesOrt({ op: "Conv", attrs: c.attrs, tolerance: tol, inputs });
    }
    expect([...chosen].sort()).toEqual(["im2col-gemm", "im2col-positions"]);
    // and with an epilogue fused into the GEMM's stores
    await expectConvReluMatches([1, 6, 25], [8, 6, 3], "pads=[1, 1], strides=[2]");
  });
  it("one output position with a fused activation (im2col-positions stores C transposed, one column: Silero VAD's encoder)", async () => {
    for (const [x, w, pads, strides] of [
      [[1, 64, 2, 2], [64, 64, 3, 3], [1, 1, 1, 1], [2, 2]],
      [[1, 64, 2], [64, 64, 3], [1, 1], [2]],
      [[2, 32, 1], [40, 32, 3], [1, 1], [1]],
    ]) {
      const { chosen } = await kernelsFor("Conv", [{ dims: x }, { dims: w, constant: true }, { dims: [w[0]], constant: true }], { pads: ints(pads), strides: ints(strides) });
      expect(chosen, `[${x}] * [${w}]`).toBe("im2col-positions");
      await expectConvReluMatches(x, w, `pads=[${pads.join(", ")}], strides=[${strides.join(", ")}]`);
    }
  });
  it("zero input channels: every output is its channel's bias (1x1 over a 4x4 image)", async () => {
    const bias = [1.5, -2, 0.25, 3, -0.5];
    const { bytes, feeds } = buildCase({ op: "Conv", inputs: [{ dims: [1, 0, 4, 4] }, { dims: [5, 0, 1, 1], constant: true }, { dims: [5], data: bias, constant: true }] });
    const got = (await runKiln(bytes, feeds)).out0;
    expect(got.dims).toEqual([1, 5, 4, 4]);
    expect(Array.from(got.data as Float32Array)).toEqual(bias.flatMap((b) => new Array(16).fill(b)));
  });
});

describe("ConvTranspose vs onnxruntime", () => {
  it("strides, pads, output_padding, dilations, groups", async () => {
    await expectMatchesOrt({ op: "ConvTranspose", attrs: { strides: ints([2, 2]), pads: ints([1, 0, 1, 1]), output_padding: ints([1, 1]) }, tolerance: tol,
      inputs: [{ dims: [1, 3, 5, 7] }, { dims: [3, 2, 3, 3] }, { dims: [2] }] });
    await expectMatchesOrt({ op: "ConvTranspose", attrs: { dilations: ints([2]), group: int(2), strides: ints([3]) }, tolerance: tol,
      inputs: [{ dims: [2, 4, 6] }, { dims: [4, 3, 3] }] });
    for (const s of [1, 2]) {
      await expectMatchesOrt({ op: "ConvTranspose", attrs: { strides: ints([s, s]), pads: ints([1, 2, 0, 1]), dilations: ints([1, 2]), group: int(2) }, tolerance: tol,
        inputs: [{ dims: [1, 4, 5, 19] }, { dims: [4, 3, 3, 3], constant: true }, { dims: [6] }] });
      await expectMatchesOrt({ op: "ConvTranspose", attrs: { strides: ints([s]) }, tolerance: tol, inputs: [{ dims: [2, 3, 13] }, { dims: [3, 2, 4] }] });
    }
    await expectMatchesOrt({ op: "ConvTranspose", attrs: { strides: ints([2, 2]), output_shape: ints([10, 9]) }, tolerance: tol,
      inputs: [{ dims: [1, 2, 5, 4] }, { dims: [2, 3, 3, 3] }] });
  });
});

describe("ConvTranspose with kernel = stride (one GEMM and a rearrangement) vs onnxruntime", () => {
  it("2x2 stride 2, 3x3 stride 3, 2x3 stride (2, 3); batches, odd sizes, one output channel, bias or none", async () => {
    const cases: [number[], number[], number[], boolean][] = [
      // x dims, w dims, strides, bias
      [[1, 24, 9, 7], [24, 24, 2, 2], [2, 2], true],
      [[2, 5, 3, 11], [5, 3, 3, 3], [3, 3], false],
      [[1, 7, 5, 6], [7, 4, 2, 3], [2, 3], true],
      [[1, 24, 6, 5], [24, 1, 2, 2], [2, 2], true],
      [[1, 1, 4, 4], [1, 2, 2, 2], [2, 2], false],
    ];
    for (const [x, w, strides, bias] of cases) {
      await expectMatchesOrt({ op: "ConvTranspose", attrs: { strides: ints(strides) }, tolerance: tol,
        inputs: [{ dims: x }, { dims: w, constant: true }, ...(bias ? [{ dims: [w[1]], constant: true }] : [])] });
    }
  });
  it("with a fused bias add and Sigmoid after it", async () => {
    const wv = Array.from({ length: 6 * 3 * 4 }, (_, i) => ((i * 7) % 13) / 13 - 0.5);
    const text = `kiln.graph opsets("" = 13)
input %x : float32[1,6,5,3]
const %w : float32[6,3,2,2] = dense<[${wv.join(", ")}]>
const %b : float32[3,1,1] = dense<[0.25, -0.5, 0.125]>
%t : float32[1,3,10,6] = ConvTranspose[strides=[2, 2]](%x, %w) {name="up"}
%a : float32[1,3,10,6] = Add(%t, %b) {name="bias"}
%y : float32[1,3,10,6] = Sigmoid(%a) {name="act"}
output %y`;
    const bytes = exportModel(parseGraph(text));
    const x = Float32Array.from({ length: 90 }, (_, i) => Math.sin(i));
    const got = await runKiln(bytes, { x: { dtype: "float32", dims: [1, 6, 5, 3], data: x } });
    const want = await runOrt(bytes, { x: { dtype: "float32", dims: [1, 6, 5, 3], data: x } });
    const g = got.y.data as Float32Array, r = want.y.data as Float32Array;
    for (let i = 0; i < r.length; i++) expect(Math.abs(g[i] - r[i])).toBeLessThanOrEqual(1e-5);
  });
});

describe("float16 convolutions vs onnxruntime", () => {
  const half = { rtol: 1e-2, atol: 1e-2 };
  it("Conv and ConvTranspose", async () => {
    await expectMatchesOrt({ op: "Conv", tolerance: half, attrs: { pads: ints([1, 1, 1, 1]) }, inputs: [{ dims: [1, 2, 5, 6], dtype: "float16" }, { dims: [3, 2, 3, 3], dtype: "float16" }] });
    await expectMatchesOrt({ op: "ConvTranspose", tolerance: half, attrs: { strides: ints([2, 2]) }, inputs: [{ dims: [1, 2, 3, 3], dtype: "float16" }, { dims: [2, 2, 3, 3], dtype: "float16" }] });
  });
});
