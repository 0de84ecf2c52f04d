// Winograd F(m x m, 3 x 3) transform matrices (Lavin & Gray, "Fast Algorithms for Convolutional
// Neural Networks"), the compile-time weight transform U = G g G^T, and f32x4 code for the
// unrolled data transforms (B^T d B, A^T M A) with the matrices' zeros and ones folded away.
import binaryen from "binaryen";
import type { Tensor } from "../../../compiler/ir/graph.js";
import { readOnce } from "../../../compiler/ir/raw.js";
import { isLazySplat, splatValue } from "../../../compiler/ir/splat.js";
import { derivedFrom, lazyFloat32, type DeriveCode, type LazyConstant } from "../kernel.js";
import type { Expr, Fn } from "../../fn.js";

export interface WinogradTile {
  /** outputs per tile side */
  m: number;
  /** input tile side, m + 2 */
  a: number;
  BT: number[][];
  G: number[][];
  AT: number[][];
}

/** F(2x2,3x3): 16 products per 4 outputs; exact in float32 up to rounding (coefficients 0, +-1, 1/2). */
export const F2: WinogradTile = {
  m: 2, a: 4,
  BT: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
  G: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
  AT: [[1, 1, 1, 0], [0, 1, -1, -1]],
};

/** F(4x4,3x3): 36 products per 16 outputs; coefficients up to 8 cost some accuracy. */
export const F4: WinogradTile = {
  m: 4, a: 6,
  BT: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
  G: [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
  AT: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
};

/**
 * Weights [M, C, 3, 3] -> U[xi][M/4][C][4] (xi = i*a + j, output channels padded to a multiple of
 * 4 with zeros): the GEMM microkernel splats the 4 channels of a block from one 16-byte row.
 * Runs at JIT load time (ResNet-50: 1.3M filters), so F2 and F4 have unrolled forms; a splat
 * filter bank gives bit for bit what its full array gives.
 */
export function transformWeights(t: WinogradTile, w: Tensor, M: number, C: number): Float32Array {
  const U = new Float32Array(transformedLength(t, M, C));
  const one = isLazySplat(w) ? splatValue(w) : undefined;
  if (one) return splatTransform(t, Number(one[0]), U, M, C);
  return transformDense(t, floatsOf(w), U, M, C);
}

const floatsOf = (w: Tensor) => { const d = readOnce(w); return d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>); };

const transformedLength = (t: WinogradTile, M: number, C: number) => t.a * t.a * Math.ceil(M / 4) * 4 * C;

/**
 * U as a kernel constant, transformed straight into the weights image (or memory) when that is
 * written: no array of its own, which at JIT load was fresh memory written once and copied once.
 * A splat filter bank (compiler/ir/splat.ts) fills its planes with one value each. `derive` is
 * the same transform as wasm (winograd-derive.ts), for float32 filters.
 */
export function transformedConstant(t: WinogradTile, w: Tensor, M: number, C: number, derive?: DeriveCode): LazyConstant {
  const recipe = `winograd F${t.m} ${M}x${C}`;
  const wasm = w.dtype === "float32" ? derive : undefined;
  const one = isLazySplat(w) ? splatValue(w) : undefined;
  if (one) return derivedFrom(lazyFloat32(transformedLength(t, M, C), (U) => splatTransform(t, Number(one[0]), U, M, C)), w, recipe, wasm);
  return derivedFrom(lazyFloat32(transformedLength(t, M, C), (U) => {
    if (M % 4) U.fill(0); // the padding channels of the last block: the transform leaves them
    transformDense(t, floatsOf(w), U, M, C);
  }), w, recipe, wasm);
}

/**
 * Every filter the same (a splat constant): each xi plane holds one value (zero at the padding
 * channels), so one filter is transformed, by the path full arrays take, and the planes filled.
 * Writes every element of U.
 */
function splatTransform(t: WinogradTile, value: number, U: Float32Array, M: number, C: number): Float32Array {
  const u = transformDense(t, new Float32Array(9).fill(value), new Float32Array(transformedLength(t, 1, 1)), 1, 1);
  const plane = U.length / (t.a * t.a);
  for (let xi = 0; xi < t.a * t.a; xi++) U.fill(u[xi * 4], xi * plane, (xi + 1) * plane);
  const Mp = Math.ceil(M / 4) * 4;
  for (let xi = 0; xi < t.a * t.a && M < Mp; xi++) {
    for (let c = 0; c < C; c++) U.fill(0, xi * plane + ((Mp / 4 - 1) * C + c) * 4 + (M % 4), xi * plane + ((Mp / 4 - 1) * C + c) * 4 + 4);
  }
  return U;
}

function transformDense(t: WinogradTile, src: Float32Array, U: Float32Array, M: number, C: number): Float32Array {
  const Mp = Math.ceil(M / 4) * 4;
  const xiStride = (Mp / 4) * C * 4;
  if (t === F2) transformF2(src, U, M, C, Mp, xiStride);
  else if (t === F4) transformF4(src, U, M, C, xiStride);
  else transformAny(t, src, U, M, C, xiStride);
  return U;
}

/**
 * transformAny for F(4x4,3x3), unrolled: the filter, a row of G g and the columns of G in locals
 * (~2x faster than the loops, the same float64 expressions in the same order, so the same U).
 */
function transformF4(src: Float32Array, U: Float32Array, M: number, C: number, xs: number): void {
  const G = Float64Array.from(F4.G.flat());
  const [G00, G01, G02, G10, G11, G12, G20, G21, G22, G30, G31, G32, G40, G41, G42, G50, G51, G52] = G;
  for (let ob = 0; ob < Math.ceil(M / 4); ob++) {
    for (let c = 0; c < C; c++) {
      for (let r = 0; r < 4 && ob * 4 + r < M; r++) {
        const f = ((ob * 4 + r) * C + c) * 9;
        const a0 = src[f], a1 = src[f + 1], a2 = src[f + 2], b0 = src[f + 3], b1 = src[f + 4], b2 = src[f + 5];
        const c0 = src[f + 6], c1 = src[f + 7], c2 = src[f + 8];
        for (let i = 0, at = (ob * C + c) * 4 + r; i < 6; i++, at += 6 * xs) {
          const q0 = G[i * 3], q1 = G[i * 3 + 1], q2 = G[i * 3 + 2];
          const t0 = q0 * a0 + q1 * b0 + q2 * c0, t1 = q0 * a1 + q1 * b1 + q2 * c1, t2 = q0 * a2 + q1 * b2 + q2 * c2;
          U[at] = t0 * G00 + t1 * G01 + t2 * G02;
          U[at + xs] = t0 * G10 + t1 * G11 + t2 * G12;
          U[at + 2 * xs] = t0 * G20 + t1 * G21 + t2 * G22;
          U[at + 3 * xs] = t0 * G30 + t1 * G31 + t2 * G32;
          U[at + 4 * xs] = t0 * G40 + t1 * G41 + t2 * G42;
          U[at + 5 * xs] = t0 * G50 + t1 * G51 + t2 * G52;
        }
      }
    }
  }
}

/** Any tile, the plain loops: in U's own order (channel block, input channel, channel in block), every write next to the previous one of its xi plane. */
function transformAny(t: WinogradTile, src: Float32Array, U: Float32Array, M: number, C: number, xiStride: number): void {
  const { a } = t;
  const G = Float64Array.from(t.G.flat());
  const g = new Float64Array(9), tmp = new Float64Array(a * 3);
  for (let ob = 0; ob < Math.ceil(M / 4); ob++) {
    for (let c = 0; c < C; c++) {
      for (let r = 0; r < 4 && ob * 4 + r < M; r++) {
        const from = ((ob * 4 + r) * C + c) * 9;
        for (let k = 0; k < 9; k++) g[k] = src[from + k];
        for (let i = 0; i < a; i++) {
          const g0 = G[i * 3], g1 = G[i * 3 + 1], g2 = G[i * 3 + 2];
          for (let l = 0; l < 3; l++) tmp[i * 3 + l] = g0 * g[l] + g1 * g[3 + l] + g2 * g[6 + l];
        }
        let at = (ob * C + c) * 4 + r;
        for (let i = 0; i < a; i++) {
          const t0 = tmp[i * 3], t1 = tmp[i * 3 + 1], t2 = tmp[i * 3 + 2];
          for (let j = 0; j < a; j++, at += xiStride) U[at] = t0 * G[j * 3] + t1 * G[j * 3 + 1] + t2 * G[j * 3 + 2];
        }
      }
    }
  }
}

/**
 * transformWeights for F(2x2,3x3) with G's rows spelled out ([1,0,0], [.5,.5,.5], [.5,-.5,.5],
 * [0,0,1]): the generic loops' products by 0 and 1 gone (ResNet-50's filters ~3x faster). The
 * same float64 sums in the same order as the generic form, so U is the same.
 */
function transformF2(src: Float32Array, U: Float32Array, M: number, C: number, Mp: number, xiStride: number): void {
  const t = new Float64Array(12);
  for (let ob = 0; ob < Mp / 4; ob++) {
    for (let c = 0; c < C; c++) {
      for (let r = 0; r < 4 && ob * 4 + r < M; r++) {
        const f = ((ob * 4 + r) * C + c) * 9;
        // tmp = G g (4 x 3)
        for (let l = 0; l < 3; l++) {
          const g0 = src[f + l], g1 = src[f + 3 + l], g2 = src[f + 6 + l];
          t[l] = g0;
          t[3 + l] = 0.5 * g0 + 0.5 * g1 + 0.5 * g2;
          t[6 + l] = 0.5 * g0 + -0.5 * g1 + 0.5 * g2;
          t[9 + l] = g2;
        }
        // U = tmp G^T (4 x 4)
        let at = (ob * C + c) * 4 + r;
        for (let i = 0; i < 4; i++, at += 4 * xiStride) {
          const t0 = t[i * 3], t1 = t[i * 3 + 1], t2 = t[i * 3 + 2];
          U[at] = t0;
          U[at + xiStride] = 0.5 * t0 + 0.5 * t1 + 0.5 * t2;
          U[at + 2 * xiStride] = 0.5 * t0 + -0.5 * t1 + 0.5 * t2;
          U[at + 3 * xiStride] = t2;
        }
      }
    }
  }
}

/** sum_k coeffs[k] * xs[k] over f32x4 values, skipping zeros and multiplying by +-1 for free */
export function combine(m: binaryen.Module, coeffs: number[], xs: (() => Expr)[]): Expr {
  let acc: Expr | undefined;
  coeffs.forEach((c, k) => {
    if (c === 0) return;
    const mag = Math.abs(c);
    const term = mag === 1 ? xs[k]() : m.f32x4.mul(xs[k](), m.f32x4.splat(m.f32.const(mag)));
    if (acc === undefined) acc = c < 0 ? m.f32x4.neg(term) : term;
    else acc = c < 0 ? m.f32x4.sub(acc, term) : m.f32x4.add(acc, term);
  });
  return acc ?? m.v128.const(new Array(16).fill(0));
}

/**
 * out = Lm X Rm^T for a square grid X of f32x4 getters (Lm: p x n, Rm: q x n), the row pass kept in
 * locals; returns p x q expressions (each to be used once) after the `setup` statements.
 */
export function transform2d(fn: Fn, Lm: number[][], Rm: number[][], X: (() => Expr)[][]): { setup: Expr[]; out: Expr[][] } {
  const m = fn.m;
  const n = X.length;
  const rows = Lm.map(() => Array.from({ length: n }, () => fn.local(binaryen.v128)));
  const setup: Expr[] = [];
  Lm.forEach((coeffs, i) => {
    for (let l = 0; l < n; l++) setup.push(rows[i][l].set(combine(m, coeffs, X.map((row) => row[l]))));
  });
  const out = rows.map((row) => Rm.map((coeffs) => combine(m, coeffs, row.map((t) => t.get))));
  return { setup, out };
}

/**
 * Interleave an m-wide row of output vectors (o[j] holds column j of 4 consecutive tiles) into m
 * vectors of consecutive outputs: lane-major order tile0 j0..jm-1, tile1 j0..jm-1, ...
 */
export function interleave(fn: Fn, o: (() => Expr)[]): { setup: Expr[]; out: Expr[] } {
  const m = fn.m;
  const lanes = (a: Expr, b: Expr, idx: number[]) => m.i8x16.shuffle(a, b, idx.flatMap((l) => [0, 1, 2, 3].map((k) => l * 4 + k)));
  if (o.length === 2) return { setup: [], out: [lanes(o[0](), o[1](), [0, 4, 1, 5]), lanes(o[0](), o[1](), [2, 6, 3, 7])] };
  if (o.length !== 4) throw new Error(`no interleave for ${o.length} columns`);
  // a 4x4 transpose through two pairs of half-interleaved vectors
  const setup: Expr[] = [], out: Expr[] = [];
  for (const half of [[0, 4, 1, 5], [2, 6, 3, 7]]) {
    const lo = fn.local(binaryen.v128), hi = fn.local(binaryen.v128);
    setup.push(lo.set(lanes(o[0](), o[1](), half)), hi.set(lanes(o[2](), o[3](), half)));
    for (const q of [[0, 1, 4, 5], [2, 3, 6, 7]]) out.push(lanes(lo.get(), hi.get(), q));
  }
  return { setup, out };
}
