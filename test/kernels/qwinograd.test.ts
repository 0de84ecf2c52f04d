// "qwinograd" (codegen/kernels/quant/qwinograd.ts): 8-bit 3x3 stride-1 convolutions as exact
// Winograd F(2x2, 3x3) on the int8 GEMM, against onnxruntime-node's QLinearConv (the integer sums
// are exact, so the 8-bit outputs must be equal) on shapes that hit every edge of the tiling
// (odd output rows and columns, output widths of every residue mod 8, a tile row split across
// panels, odd channel counts, batches, no padding, asymmetric padding), at the ends of the 8-bit
// ranges (zero points 0 / 255 / -128 / 127, full-range weights, saturated outputs); and against
// the im2col variant of the same model, bit for bit.
import { describe, expect, it } from "vitest";
import type { Attr } from "../../compiler/ir/graph.js";
import { compile, load } from "../../compiler/driver/api.js";
import { createSession } from "../../runtime/session.js";
import { buildCase, expectMatchesOrt, runOrt, type TensorSpec } from "../util/ort.js";
import { kernelsFor } from "../util/kernels.js";

const ints = (value: number[]): Attr => ({ type: "ints", value });
const scalar = (v: number, dtype?: "int8" | "uint8"): TensorSpec => ({ dims: [], dtype, data: [v], constant: true });

interface Case {
  name: string;
  x: number[];
  w: number[];
  attrs: Record<string, Attr>;
  xt: "uint8" | "int8";
  xzp: number;
  yzp: number;
  /** y_scale: small saturates most outputs */
  ys?: number;
  /** weights' range */
  wr?: [number, number];
}

const pads = (t: number, l: number, b: number, r: number) => ({ pads: ints([t, l, b, r]) });
const CASES: Case[] = [
  { name: "pad 1, odd 9x11, uint8 zp 131", x: [1, 8, 9, 11], w: [12, 8, 3, 3], attrs: pads(1, 1, 1, 1), xt: "uint8", xzp: 131, yzp: 100 },
  { name: "odd channels 9 -> 11, no pad, 13x21", x: [1, 9, 13, 21], w: [11, 9, 3, 3], attrs: {}, xt: "int8", xzp: -7, yzp: 3 },
  { name: "batch 2, asymmetric pads, width 37 (a tile row across panels)", x: [2, 10, 6, 37], w: [8, 10, 3, 3], attrs: pads(0, 2, 1, 0), xt: "uint8", xzp: 0, yzp: 255 },
  { name: "7x7, 16 -> 24, zp at the top of uint8", x: [1, 16, 7, 7], w: [24, 16, 3, 3], attrs: pads(1, 1, 1, 1), xt: "uint8", xzp: 255, yzp: 0 },
  { name: "int8 zp -128, full-range weights, saturating", x: [1, 12, 10, 17], w: [9, 12, 3, 3], attrs: pads(1, 1, 1, 1), xt: "int8", xzp: -128, yzp: 127, ys: 0.002, wr: [-128, 128] },
  { name: "int8 zp 127, widths 3..8 of output, one output row", x: [1, 8, 3, 10], w: [8, 8, 3, 3], attrs: pads(0, 0, 0, 0), xt: "int8", xzp: 127, yzp: -128, ys: 0.01 },
  { name: "tall 30x5, 33 -> 17", x: [1, 33, 30, 5], w: [17, 33, 3, 3], attrs: pads(1, 1, 1, 1), xt: "uint8", xzp: 77, yzp: 128 },
];

function inputs(c: Case): TensorSpec[] {
  const [lo, hi] = c.xt === "uint8" ? [0, 256] : [-128, 128];
  const yt = c.xt;
  const [wlo, whi] = c.wr ?? [-127, 128];
  return [
    { dims: c.x, dtype: c.xt, lo, hi }, scalar(0.05), scalar(c.xzp, c.xt),
    { dims: c.w, dtype: "int8", lo: wlo, hi: whi, constant: true }, { dims: [c.w[0]], lo: 0.001, hi: 0.01, constant: true },
    { dims: [c.w[0]], dtype: "int8", data: new Array(c.w[0]).fill(0), constant: true },
    scalar(c.ys ?? 0.2), scalar(c.yzp, yt), { dims: [c.w[0]], dtype: "int32", lo: -3000, hi: 3000, constant: true },
  ];
}

describe("qwinograd: QLinearConv 3x3 stride 1 as Winograd F(2x2, 3x3) vs onnxruntime", () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const specs = inputs(c);
      const layer = specs.map((s, k) => ({ dims: s.dims, dtype: s.dtype, constant: !!s.constant, ...(k === 5 ? { data: s.data as number[] } : {}) }));
      expect((await kernelsFor("QLinearConv", layer, c.attrs)).chosen).toBe("qwinograd");
      await expectMatchesOrt({ op: "QLinearConv", attrs: c.attrs, inputs: specs, tolerance: { rtol: 0, atol: 0 } });
    });
  }

  it("agrees with qgemm-im2col bit for bit on a ResNet-sized layer (64 -> 64, 56x56)", async () => {
    const c: Case = { name: "resnet", x: [1, 64, 56, 56], w: [64, 64, 3, 3], attrs: pads(1, 1, 1, 1), xt: "uint8", xzp: 3, yzp: 0 };
    const { bytes, feeds } = buildCase({ op: "QLinearConv", attrs: c.attrs, inputs: inputs(c) });
    const shapes = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dims]));
    const wino = await load(bytes, { shapes, cache: false });
    const im2col = await load(bytes, { shapes, cache: false, kernels: "-qwinograd" });
    expect(wino.session!.manifest.layers.map((l) => l.kernel)).toEqual(["qwinograd"]);
    expect(im2col.session!.manifest.layers.map((l) => l.kernel)).toEqual(["qgemm-im2col"]);
    const run = async (mdl: typeof wino) => Array.from((await mdl.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])))).out0.data as Uint8Array);
    const a = await run(wino), b = await run(im2col);
    expect(new Set(a).size).toBeGreaterThan(20);
    expect(a).toEqual(b);
  });

  it("leaves a layer whose 4 Y could overflow i32 to im2col", async () => {
    // weights reaching -128, activations 0..255 with zero point 0: 4 * C * 9 * 128 * 255 passes 2^31 from C = 1828
    const layer = (C: number) => [
      { dims: [1, C, 4, 4], dtype: "uint8" as const }, { dims: [], constant: true }, { dims: [], dtype: "uint8" as const, constant: true, data: [0] },
      { dims: [8, C, 3, 3], dtype: "int8" as const, constant: true, data: Array.from({ length: 8 * C * 9 }, (_, i) => (i % 3 === 0 ? -128 : (i % 251) - 125)) },
      { dims: [8], constant: true }, { dims: [8], dtype: "int8" as const, constant: true, data: new Array(8).fill(0) },
      { dims: [], constant: true }, { dims: [], dtype: "uint8" as const, constant: true, data: [0] }];
    expect((await kernelsFor("QLinearConv", layer(1830), pads(1, 1, 1, 1))).chosen).toBe("qgemm-im2col");
    expect((await kernelsFor("QLinearConv", layer(1820), pads(1, 1, 1, 1))).chosen).toBe("qwinograd");
  });

  it("a compact artifact derives U' from the 8-bit filters: the prepacked build's bits, and onnxruntime's", async () => {
    for (const [xt, wt] of [["uint8", "uint8"], ["int8", "int8"]] as const) {
      const c: Case = { name: "compact", x: [1, 11, 9, 13], w: [10, 11, 3, 3], attrs: pads(1, 1, 1, 1), xt, xzp: xt === "uint8" ? 200 : -100, yzp: xt === "uint8" ? 30 : -20 };
      const specs = inputs(c);
      // uint8 weights with a zero point of 140: the derive subtracts it
      if (wt === "uint8") { specs[3] = { dims: c.w, dtype: "uint8", lo: 0, hi: 256, constant: true }; specs[5] = { dims: [c.w[0]], dtype: "uint8", data: new Array(c.w[0]).fill(140), constant: true }; }
      const { bytes, feeds } = buildCase({ op: "QLinearConv", attrs: c.attrs, inputs: specs });
      const shapes = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dims]));
      const compact = await compile(bytes, { shapes });
      const packed = await compile(bytes, { shapes, prepack: true });
      const layer = compact.manifest.layers.find((l) => l.kernel === "qwinograd");
      expect((layer?.derived ?? []).length, "the transformed weights, bias and multipliers derived").toBe(3);
      const want = Array.from((await runOrt(bytes, feeds)).out0.data as Uint8Array);
      for (const [wasm, placement] of [[compact.wasm, "lazy"], [compact.wasm, "eager"], [packed.wasm, "lazy"]] as const) {
        const session = await createSession(wasm, { placement });
        const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.data])) as never);
        expect(Array.from(out.out0.data as Uint8Array), `${xt} x, ${wt} w, ${placement}`).toEqual(want);
      }
    }
  });
});
