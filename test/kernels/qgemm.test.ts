// The int8 GEMM (codegen/kernels/quant/qgemm.ts): the standalone product against exact integer
// arithmetic on shapes that exercise every edge (odd K, rows past the last whole tile, a narrow
// last panel, runtime blocks of rows, both operands at run time, requantization and saturation);
// then the ops that run through it (QLinearConv, ConvInteger, QLinearMatMul, MatMulInteger)
// against onnxruntime-node, with the variant each layer takes checked first.
import { describe, expect, it } from "vitest";
import type { Attr } from "../../compiler/ir/graph.js";
import type { DTypeName } from "../../runtime/dtypes.js";
import { buildQGemm, referenceQGemm, type StandaloneQGemm } from "../../bench/qgemm.js";
import { expectMatchesOrt, type TensorSpec } from "../util/ort.js";
import { kernelsFor } from "../util/kernels.js";
import { packCols, packColsOf } from "../../codegen/kernels/quant/qgemm-pack.js";

const int = (value: number): Attr => ({ type: "int", value });
const ints = (value: number[]): Attr => ({ type: "ints", value });

function bytes(n: number, signed: boolean, seed: number): Int8Array | Uint8Array {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24);
  return signed ? Int8Array.from({ length: n }, () => next() - 128) : Uint8Array.from({ length: n }, next);
}

/** requantized as the store should: round half to even of sum * mult, clamped, + zp, saturated */
function requant(sum: number, mult: number, zp: number, signed: boolean, lo?: number, hi?: number): number {
  let v = Math.fround(Math.fround(sum) * mult);
  if (lo !== undefined) v = Math.max(v, lo);
  if (hi !== undefined) v = Math.min(v, hi);
  const r = Math.round(v), even = Math.abs(v - Math.trunc(v)) === 0.5 ? 2 * Math.round(v / 2) : r;
  const q = even + zp;
  return signed ? Math.max(-128, Math.min(127, q)) : Math.max(0, Math.min(255, q));
}

describe("int8 GEMM, standalone", () => {
  // N % 16 from 1 to 13: the last panel computes 1, 2, 3 or 4 of its vectors (qgemm.ts tile)
  const shapes: [number, number, number][] = [[1, 1, 1], [2, 16, 2], [3, 17, 5], [7, 33, 31], [64, 48, 64], [65, 50, 129], [130, 19, 200], [5, 21, 40], [4, 25, 18], [9, 45, 23], [3, 49, 77]];
  for (const [M, N, K] of shapes) {
    for (const constant of ["a", "b"] as const) {
      it(`${M}x${N}x${K}, ${constant === "b" ? "weights as columns" : "weights as rows"}, int32 and requantized`, async () => {
        const spec: StandaloneQGemm = { M, N, K, a: bytes(M * K, false, M + 1), b: bytes(K * N, true, N + 2), aZp: 131, bZp: -3, constant, mc: 32 };
        const want = referenceQGemm(spec);
        const bias = Int32Array.from({ length: constant === "b" ? N : M }, (_, i) => (i * 37) % 101 - 50);
        const got = await buildQGemm({ ...spec, bias, biasPerRow: constant === "a" });
        got.run();
        const withBias = want.map((v, i) => v + bias[constant === "b" ? i % N : Math.floor(i / N)]);
        expect(Array.from(got.out)).toEqual(Array.from(withBias));
        expect(got.guard.every((x) => x === 0)).toBe(true);
        // requantized to int8 with a per-channel multiplier, Relu-like lower bound
        const mult = Float32Array.from({ length: constant === "b" ? N : M }, (_, i) => 0.001 + 0.0003 * (i % 7));
        const q = await buildQGemm({ ...spec, requant: { mult, zp: -5, signed: true, lo: 0, perRow: constant === "a" } });
        q.run();
        const expected = want.map((v, i) => requant(v, mult[constant === "b" ? i % N : Math.floor(i / N)], -5, true, 0));
        expect(Array.from(q.out)).toEqual(Array.from(expected));
        expect(q.guard.every((x) => x === 0)).toBe(true);
      });
    }
  }

  it("saturates uint8 outputs and rounds halves to even", async () => {
    const M = 3, N = 20, K = 4;
    const spec: StandaloneQGemm = { M, N, K, a: bytes(M * K, false, 9), b: bytes(K * N, false, 8), aZp: 0, bZp: 0, constant: "b" };
    const want = referenceQGemm(spec);
    for (const mult of [0.5, 0.25, 1e-4, 7]) {
      const q = await buildQGemm({ ...spec, requant: { mult, zp: 128, signed: false } });
      q.run();
      expect(Array.from(q.out)).toEqual(Array.from(want, (v) => requant(v, mult, 128, false)));
    }
  });

  // the short rounding (quant/common.ts nearestPlusZp, finite multipliers) against trunc_sat's form
  // and the reference: halves, sums past the +-65536 clamp, activation bounds inside and outside it
  it("rounds as trunc_sat(nearest(x) + zp) does, with or without the short form", async () => {
    const M = 5, N = 37, K = 300;
    const spec: StandaloneQGemm = { M, N, K, a: bytes(M * K, false, 3), b: bytes(K * N, true, 4), aZp: 0, bZp: 0, constant: "b" };
    const want = referenceQGemm(spec);
    const cases: { mult: number; zp: number; signed: boolean; lo?: number; hi?: number }[] = [
      { mult: 0.5, zp: 0, signed: true }, { mult: 0.25, zp: -3, signed: true }, { mult: 1e-3, zp: 100, signed: false },
      { mult: 4, zp: 7, signed: true }, { mult: 3e4, zp: 200, signed: false }, { mult: 1e-5, zp: -128, signed: true },
      { mult: 0.01, zp: 10, signed: false, lo: 0 }, { mult: 0.01, zp: -5, signed: true, lo: -20, hi: 30.5 },
      { mult: 2, zp: 1, signed: true, lo: -1e6, hi: 7e5 }, { mult: 0.5, zp: 0, signed: false, lo: 7e4, hi: 9e4 },
    ];
    for (const c of cases) {
      const outs = [];
      for (const finite of [true, false]) {
        const q = await buildQGemm({ ...spec, requant: { ...c, finite } });
        q.run();
        outs.push(Array.from(q.out));
      }
      expect(outs[0]).toEqual(outs[1]);
      expect(outs[0]).toEqual(Array.from(want, (v) => requant(v, c.mult, c.zp, c.signed, c.lo, c.hi)));
    }
  });
});

const u8 = (dims: number[], constant = false): TensorSpec => ({ dims, dtype: "uint8", lo: 0, hi: 256, constant });
const i8 = (dims: number[], constant = false): TensorSpec => ({ dims, dtype: "int8", lo: -128, hi: 128, constant });
const scalar = (v: number, dtype?: DTypeName): TensorSpec => ({ dims: [], dtype, data: [v], constant: true });

describe("packing constant weights", () => {
  // packColsOf reads w row by row; packCols (the reference layout) asks a callback column by column
  for (const [K, N] of [[1, 1], [3, 17], [16, 16], [33, 40], [384, 100]]) {
    for (const transW of [false, true]) {
      for (const perColumn of [false, true]) {
        it(`${K}x${N}${transW ? " transposed" : ""}, ${perColumn ? "a zero point per column" : "one zero point"}: the same bytes as packCols`, () => {
          const w = bytes(K * N, true, K * 31 + N);
          const zp = perColumn ? Int8Array.from(bytes(N, true, N + 5), (z) => z >> 2) : Int8Array.of(-3);
          const z = (n: number) => zp[zp.length === 1 ? 0 : n];
          const want = packCols((k, n) => (transW ? w[n * K + k] : w[k * N + n]) - z(n), K, N);
          expect(Buffer.compare(packColsOf(w, zp, K, N, transW), want)).toBe(0);
        });
      }
    }
  }
});

describe("ops through the int8 GEMM vs onnxruntime", () => {
  const convs: [string, number[], number[], Record<string, Attr>][] = [
    ["pointwise", [1, 19, 5, 7], [13, 19, 1, 1], {}],
    ["pointwise, batch 2, groups", [2, 8, 6, 3], [6, 4, 1, 1], { group: int(2) }],
    ["3x3 padded", [1, 5, 9, 11], [17, 5, 3, 3], { pads: ints([1, 1, 1, 1]) }],
    ["3x3 stride 2", [1, 6, 13, 21], [8, 6, 3, 3], { pads: ints([1, 1, 1, 1]), strides: ints([2, 2]) }],
    ["5x3 stride 3x1, dilations, asymmetric pads", [1, 3, 14, 17], [5, 3, 3, 2], { pads: ints([2, 0, 1, 1]), strides: ints([3, 1]), dilations: ints([2, 2]) }],
    ["1x1 stride 2", [1, 16, 9, 9], [32, 16, 1, 1], { strides: ints([2, 2]) }],
    ["7x7 stem, stride 2", [1, 3, 23, 23], [16, 3, 7, 7], { pads: ints([3, 3, 3, 3]), strides: ints([2, 2]) }],
    ["grouped 3x3", [1, 12, 8, 8], [12, 3, 3, 3], { group: int(4), pads: ints([1, 1, 1, 1]) }],
    ["1-D", [2, 4, 20], [6, 4, 3], { pads: ints([1, 1]) }],
  ];
  for (const [name, xd, wd, attrs] of convs) {
    it(`QLinearConv ${name}`, async () => {
      const kh = wd.length === 4 ? wd[2] * wd[3] : wd[2];
      expect((await kernelsFor("QLinearConv", [{ dims: xd, dtype: "uint8" }, { dims: [], constant: true }, { dims: [], dtype: "uint8", constant: true },
        { dims: wd, dtype: "int8", constant: true }, { dims: [wd[0]], constant: true }, { dims: [wd[0]], dtype: "int8", constant: true, data: new Array(wd[0]).fill(0) },
        { dims: [], constant: true }, { dims: [], dtype: "uint8", constant: true }], attrs)).chosen).toBe(kh === 1 && !attrs.strides ? "qgemm-pointwise" : "qgemm-im2col");
      for (const [xt, yt] of [["uint8", "uint8"], ["int8", "int8"]] as const) {
        const x = xt === "uint8" ? u8(xd) : i8(xd);
        await expectMatchesOrt({ op: "QLinearConv", attrs, inputs: [
          x, scalar(0.05), scalar(xt === "uint8" ? 131 : -7, xt),
          i8(wd, true), { dims: [wd[0]], lo: 0.001, hi: 0.01, constant: true }, { dims: [wd[0]], dtype: "int8", data: new Array(wd[0]).fill(0), constant: true },
          scalar(0.2), scalar(yt === "uint8" ? 100 : 3, yt), { dims: [wd[0]], dtype: "int32", lo: -3000, hi: 3000, constant: true }] });
      }
      // uint8 weights with a zero point, int32 out
      await expectMatchesOrt({ op: "ConvInteger", attrs, inputs: [u8(xd), u8(wd, true), scalar(17, "uint8"), scalar(130, "uint8")] });
    });
  }

  const depthwise: [string, number[], number[], Record<string, Attr>][] = [
    ["3x3", [1, 6, 13, 19], [6, 1, 3, 3], { group: int(6), pads: ints([1, 1, 1, 1]) }],
    ["3x3 stride 2, batch 2", [2, 5, 14, 17], [5, 1, 3, 3], { group: int(5), pads: ints([1, 1, 1, 1]), strides: ints([2, 2]) }],
    ["5x5, no pad", [1, 3, 9, 24], [3, 1, 5, 5], { group: int(3) }],
    ["channel multiplier 2, dilation 2, asymmetric pads", [1, 3, 11, 10], [6, 1, 3, 3], { group: int(3), pads: ints([2, 1, 0, 2]), dilations: ints([2, 2]) }],
    ["1-D", [1, 4, 23], [4, 1, 3], { group: int(4), pads: ints([1, 1]) }],
  ];
  for (const [name, xd, wd, attrs] of depthwise) {
    it(`QLinearConv depthwise ${name}`, async () => {
      expect((await kernelsFor("QLinearConv", [{ dims: xd, dtype: "uint8" }, { dims: [], constant: true }, { dims: [], dtype: "uint8", constant: true },
        { dims: wd, dtype: "int8", constant: true }, { dims: [wd[0]], constant: true }, { dims: [wd[0]], dtype: "int8", constant: true, data: new Array(wd[0]).fill(0) },
        { dims: [], constant: true }, { dims: [], dtype: "uint8", constant: true }], attrs)).chosen).toBe("qdepthwise");
      for (const xt of ["uint8", "int8"] as const) {
        await expectMatchesOrt({ op: "QLinearConv", attrs, inputs: [
          xt === "uint8" ? u8(xd) : i8(xd), scalar(0.05), scalar(xt === "uint8" ? 120 : 5, xt),
          i8(wd, true), { dims: [wd[0]], lo: 0.002, hi: 0.02, constant: true }, { dims: [wd[0]], dtype: "int8", data: new Array(wd[0]).fill(0), constant: true },
          scalar(0.1), scalar(xt === "uint8" ? 128 : -1, xt), { dims: [wd[0]], dtype: "int32", lo: -300, hi: 300, constant: true }] });
      }
      await expectMatchesOrt({ op: "ConvInteger", attrs, inputs: [u8(xd), u8(wd, true), scalar(17, "uint8"), scalar(130, "uint8")] });
    });
  }

  it("QLinearConv with a runtime activation zero point", async () => {
    await expectMatchesOrt({ op: "QLinearConv", attrs: { pads: ints([1, 1, 1, 1]) }, inputs: [
      u8([1, 4, 6, 6]), scalar(0.05), { dims: [], dtype: "uint8", data: [140] },
      i8([5, 4, 3, 3], true), scalar(0.004), scalar(0, "int8"), scalar(0.1), scalar(128, "uint8")] });
  });

  const products: [number[], number[]][] = [[[3, 5], [5, 7]], [[2, 17, 33], [33, 19]], [[130, 64], [64, 48]], [[1, 40], [40, 3]]];
  for (const [ad, bd] of products) {
    it(`MatMulInteger and QLinearMatMul ${ad.join("x")} * ${bd.join("x")}`, async () => {
      expect((await kernelsFor("MatMulInteger", [{ dims: ad, dtype: "uint8" }, { dims: bd, dtype: "int8", constant: true }])).chosen).toBe("qgemm");
      for (const constant of [true, false]) {
        await expectMatchesOrt({ op: "MatMulInteger", inputs: [u8(ad), i8(bd, constant), scalar(120, "uint8"), scalar(-4, "int8")] });
        await expectMatchesOrt({ op: "MatMulInteger", inputs: [u8(ad), u8(bd, constant), { dims: [], dtype: "uint8", data: [77] }, scalar(129, "uint8")] });
        await expectMatchesOrt({ op: "QLinearMatMul", inputs: [
          i8(ad), scalar(0.02), scalar(3, "int8"), i8(bd, constant), { dims: [bd[1]], lo: 0.002, hi: 0.01, constant: true }, { dims: [bd[1]], dtype: "int8", data: new Array(bd[1]).fill(0), constant: true },
          scalar(0.6), scalar(-2, "int8")] });
      }
    });
  }

  it("MatMulInteger with batched runtime operands", async () => {
    await expectMatchesOrt({ op: "MatMulInteger", inputs: [u8([2, 3, 9, 20]), u8([2, 3, 20, 18]), scalar(5, "uint8"), scalar(200, "uint8")] });
  });
});
