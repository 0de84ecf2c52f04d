// The compile-time side of the packed GEMM (matmul/gemm-packed.ts): constant operands laid out in the
// order its microkernel reads them. packB: B in panels of NR columns, K-major inside a panel, the
// tail panel zero-padded. packA: A's rows MR-interleaved per K block. The *Of forms are kernel
// constants written straight into the weights image (or memory) when that is written.
import type { Tensor } from "../../../compiler/ir/graph.js";
import { readOnce } from "../../../compiler/ir/raw.js";
import { isLazySplat, splatValue } from "../../../compiler/ir/splat.js";
import { DEFAULT_TILE, type PackedTile } from "./gemm-packed-spec.js";
import binaryen from "binaryen";
import { derivedFrom, lazyFloat32, type DeriveCode, type LazyConstant } from "../kernel.js";

/**
 * B (row-major K x N, or N x K when transB) packed into ceil(N / nr) panels; panel p holds
 * B[k][p*nr + j] at float index (p*K + k)*nr + j, zero for columns >= N.
 */
export function packB(b: Float32Array, K: number, N: number, transB: boolean, nr = DEFAULT_TILE.nr): Uint8Array {
  const out = new Float32Array(packedBytes(K, N, nr) / 4);
  packBInto(out, b, K, N, transB, nr);
  return new Uint8Array(out.buffer);
}

/** packB into `out` (every float of it written, the zero padding past N too). */
function packBInto(out: Float32Array, b: Float32Array, K: number, N: number, transB: boolean, nr: number): void {
  const panels = Math.ceil(N / nr);
  if (N % nr) out.fill(0, (panels - 1) * K * nr);
  // one loop per orientation, reading B along its rows (this runs at JIT load for every weight)
  if (transB) {
    for (let p = 0; p < panels; p++) {
      const cols = Math.min(nr, N - p * nr);
      const panel = p * K * nr;
      for (let j = 0; j < cols; j++) {
        const from = (p * nr + j) * K;
        for (let k = 0, o = panel + j; k < K; k++, o += nr) out[o] = b[from + k];
      }
    }
    return;
  }
  // KB rows of B at a time across all panels: those rows' pages stay in the TLB while every panel
  // takes its nr columns of them (one panel down all K rows, N floats apart, measured 1.2-1.8x slower)
  const KB = 16;
  for (let k0 = 0; k0 < K; k0 += KB) {
    const k1 = Math.min(K, k0 + KB);
    for (let p = 0; p < panels; p++) {
      const c0 = p * nr, cols = Math.min(nr, N - c0);
      for (let k = k0, o = (p * K + k0) * nr; k < k1; k++, o += nr) {
        const from = k * N + c0;
        for (let j = 0; j < cols; j++) out[o + j] = b[from + j];
      }
    }
  }
}

/**
 * A (row-major M x K) in the microkernel's order: per K block (KC, the last one shorter), each
 * whole MR tile of rows k-major with its MR values interleaved; the block at k0 starts at float
 * k0 * Mfull and tile row i of it at i * len, so the kernel finds any tile without a table.
 */
export function packA(a: Float32Array, M: number, K: number, tile: Partial<PackedTile> = {}): Uint8Array {
  const mr = tile.mr ?? DEFAULT_TILE.mr;
  const out = new Float32Array((M - (M % mr)) * K);
  packAInto(out, a, M, K, tile);
  return new Uint8Array(out.buffer);
}

/** packA into `out` (every float of it written). */
export function packAInto(out: Float32Array, a: Float32Array, M: number, K: number, tile: Partial<PackedTile> = {}): void {
  const t = { ...DEFAULT_TILE, ...tile };
  const Mfull = M - (M % t.mr);
  for (let k0 = 0; k0 < K; k0 += t.kc) {
    const len = Math.min(t.kc, K - k0);
    for (let i = 0; i < Mfull; i += t.mr) {
      const o = k0 * Mfull + i * len;
      // row by row: reads run along A's rows, writes MR apart inside the tile's block
      for (let r = 0; r < t.mr; r++) {
        const from = (i + r) * K + k0;
        for (let u = 0, at = o + r; u < len; u++, at += t.mr) out[at] = a[from + u];
      }
    }
  }
}

/**
 * packB and packA of a constant tensor as kernel constants, packed straight into the weights image
 * (or memory) when that is written, not into an array of their own first: at JIT load that array
 * would be fresh memory written once and copied once (seeded ResNet-50 with lazy Winograd and
 * packed weights: load ~0.9 s -> ~0.7 s). A splat (every element one value, compiler/ir/splat.ts;
 * the light models' weights) packs to that value everywhere but the zero padding: its full array
 * is never built.
 */
export function packBOf(b: Tensor, K: number, N: number, transB: boolean, nr = DEFAULT_TILE.nr): LazyConstant {
  const recipe = `packB ${K}x${N} ${transB ? "t" : "n"} nr${nr}`;
  const one = isLazySplat(b) ? splatValue(b) : undefined;
  const derive = b.dtype === "float32" ? packBDerive(K, N, transB, nr) : undefined;
  if (!one) return derivedFrom(lazyFloat32(packedBytes(K, N, nr) / 4, (out) => packBInto(out, readOnce(b) as Float32Array, K, N, transB, nr)), b, recipe, derive);
  const value = Number(one[0]), panels = Math.ceil(N / nr), tail = N - (panels - 1) * nr;
  return derivedFrom(lazyFloat32(panels * K * nr, (out) => {
    out.fill(value);
    if (tail < nr) for (let k = 0, o = (panels - 1) * K * nr; k < K; k++, o += nr) out.fill(0, o + tail, o + nr);
  }), b, recipe, derive);
}

/**
 * packB as wasm (a compact artifact derives the panels as its weights are placed, codegen/derive.ts):
 * the same moves, float bits copied as they are, the tail panel's padding zero.
 */
function packBDerive(K: number, N: number, transB: boolean, nr: number): DeriveCode {
  const panels = Math.ceil(N / nr), full = Math.floor(N / nr), tail = N - full * nr;
  return (fn, src, dst) => {
    const m = fn.m;
    const i32 = (v: number) => m.i32.const(v);
    if (tail) fn.emit(m.memory.fill(i32(dst + (panels - 1) * K * nr * 4), i32(0), i32(K * nr * 4)));
    const from = fn.local(binaryen.i32), to = fn.local(binaryen.i32);
    if (transB) {
      // column n of the panels (row n of B): K floats, each nr floats after the last
      fn.emit(fn.loop(N, (n) => [
        from.set(m.i32.add(i32(src), m.i32.mul(n.get(), i32(K * 4)))),
        to.set(m.i32.add(i32(dst), m.i32.shl(m.i32.add(m.i32.mul(m.i32.div_u(n.get(), i32(nr)), i32(K * nr)), m.i32.rem_u(n.get(), i32(nr))), i32(2)))),
        fn.loop(K, () => [
          m.i32.store(0, 4, to.get(), m.i32.load(0, 4, from.get())),
          from.set(m.i32.add(from.get(), i32(4))),
          to.set(m.i32.add(to.get(), i32(nr * 4))),
        ]),
      ]));
      return;
    }
    // row k of B: nr floats into each panel's row k (whole vectors when nr is a multiple of 4)
    const copy = (floats: number): binaryen.ExpressionRef[] => (floats % 4 === 0
      ? Array.from({ length: floats / 4 }, (_, v) => m.v128.store(v * 16, 4, to.get(), m.v128.load(v * 16, 4, from.get())))
      : [m.memory.copy(to.get(), from.get(), i32(floats * 4))]);
    fn.emit(fn.loop(K, (k) => [
      from.set(m.i32.add(i32(src), m.i32.mul(k.get(), i32(N * 4)))),
      to.set(m.i32.add(i32(dst), m.i32.mul(k.get(), i32(nr * 4)))),
      ...(full ? [fn.loop(full, () => [
        ...copy(nr),
        from.set(m.i32.add(from.get(), i32(nr * 4))),
        to.set(m.i32.add(to.get(), i32(K * nr * 4))),
      ])] : []),
      ...(tail ? copy(tail) : []),
    ]));
  };
}

export function packAOf(a: Tensor, M: number, K: number, tile: Partial<PackedTile> = {}): LazyConstant {
  const one = isLazySplat(a) ? splatValue(a) : undefined;
  const mr = tile.mr ?? DEFAULT_TILE.mr;
  const n = (M - (M % mr)) * K;
  const t = { ...DEFAULT_TILE, ...tile };
  const packed = lazyFloat32(n, one ? (out) => out.fill(Number(one[0])) : (out) => packAInto(out, readOnce(a) as Float32Array, M, K, tile));
  return derivedFrom(packed, a, `packA ${M}x${K} mr${t.mr} kc${t.kc}`);
}

/** Bytes packB returns. */
export function packedBytes(K: number, N: number, nr = DEFAULT_TILE.nr): number {
  return Math.ceil(N / nr) * K * nr * 4;
}
