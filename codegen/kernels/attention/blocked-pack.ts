// Attention "blocked" (blocked.ts): K and V copied into the packed GEMM's panel order
// (gemm-packed.ts: panels of 16 columns, every k a row of 16 floats, [panel][k][16]), once per
// (batch, kv head) a thread meets, into that thread's scratch. The two products then read B as a
// packed constant would be read. V packed per block of query rows instead (the GEMM's bScratch,
// a KC x 16 panel gathered per MC block: all of V again for every 32 queries at 1,500 keys) cost
// about 3% of the layer (bench/attention.ts, docs/TRANSFORMERS.md).
import binaryen from "binaryen";
import type { Expr, Fn, Local } from "../../fn.js";

/** a loop over the keys: all `keys`, or this run's (keysRt) */
function overKeys(m: binaryen.Module, fn: Fn, keys: number, keysRt: (() => Expr) | undefined, body: (t: Local) => Expr[]): Expr {
  return keysRt ? fn.loopDyn(m.i32.const(0), keysRt(), body) : fn.loop(keys, body);
}

export interface PackSource {
  /** byte address of the tensor; row t (a key) at addr + base() + 4 * t * rowStride */
  addr: number;
  rowStride: number;
  base: () => Expr;
}

export interface PackTarget {
  /** byte address of the panels, plus dstBase() (the thread's scratch offset) */
  addr: number;
  base: () => Expr;
}

/**
 * K^T for Q K^T: B is K^T (width rows, keys columns), so a panel holds 16 keys, each of the width
 * rows 16 floats; the last panel's lanes past `keys` zero. With `keysRt` (symbolic dims: this
 * run's keys, at most `keys`) only those are copied, and the lanes past them are left as they
 * are: the scores they make lie past the run's keys, which the softmax sets to -inf or never reads.
 */
export function packKeysT(m: binaryen.Module, fn: Fn, keys: number, width: number, src: PackSource, dst: PackTarget, keysRt?: () => Expr): Expr[] {
  const P = Math.ceil(keys / 16);
  const kp = fn.local(binaryen.i32), from = fn.local(binaryen.i32), kd = fn.local(binaryen.v128);
  return [
    ...(keys % 16 && !keysRt ? [fn.loop(width, (d) => [m.memory.fill(
      m.i32.add(m.i32.add(dst.base(), m.i32.const(dst.addr + (P - 1) * width * 64 + 4 * (keys % 16))), m.i32.mul(d.get(), m.i32.const(64))),
      m.i32.const(0), m.i32.const(4 * (16 - (keys % 16))))])] : []),
    overKeys(m, fn, keys, keysRt, (t) => [
      from.set(m.i32.add(src.base(), m.i32.mul(t.get(), m.i32.const(4 * src.rowStride)))),
      // t's column: panel t >> 4, lane t & 15
      kp.set(m.i32.add(dst.base(), m.i32.add(m.i32.mul(m.i32.shr_u(t.get(), m.i32.const(4)), m.i32.const(width * 64)), m.i32.shl(m.i32.and(t.get(), m.i32.const(15)), m.i32.const(2))))),
      ...Array.from({ length: Math.floor(width / 4) }, (_, d4) => [
        kd.set(m.v128.load(src.addr + 16 * d4, 4, from.get())),
        ...[0, 1, 2, 3].map((l) => m.f32.store(dst.addr + 64 * (4 * d4 + l), 4, kp.get(), m.f32x4.extract_lane(kd.get(), l))),
      ]).flat(),
      ...Array.from({ length: width % 4 }, (_, l) => {
        const d = width - (width % 4) + l;
        return m.f32.store(dst.addr + 64 * d, 4, kp.get(), m.f32.load(src.addr + 4 * d, 4, from.get()));
      }),
    ]),
  ];
}

/**
 * V for P V: B is V (keys rows, width columns), a panel 16 of its columns, each key a row of 16
 * floats (a vector copy per 4 columns); the last panel's lanes past `width` zero. With `keysRt`
 * only this run's keys are copied, into panels laid out for `keys` (the product reads that many
 * rows at most).
 */
export function packValues(m: binaryen.Module, fn: Fn, keys: number, width: number, src: PackSource, dst: PackTarget, keysRt?: () => Expr): Expr[] {
  const P = Math.ceil(width / 16);
  const vp = fn.local(binaryen.i32), from = fn.local(binaryen.i32);
  const at = (d: number) => dst.addr + (d >> 4) * keys * 64 + 4 * (d & 15);
  return [
    ...(width % 16 ? [m.memory.fill(m.i32.add(dst.base(), m.i32.const(dst.addr + (P - 1) * keys * 64)), m.i32.const(0), m.i32.const(keys * 64))] : []),
    overKeys(m, fn, keys, keysRt, (t) => [
      from.set(m.i32.add(src.base(), m.i32.mul(t.get(), m.i32.const(4 * src.rowStride)))),
      vp.set(m.i32.add(dst.base(), m.i32.shl(t.get(), m.i32.const(6)))),
      ...Array.from({ length: Math.floor(width / 4) }, (_, d4) => m.v128.store(at(4 * d4), 4, vp.get(), m.v128.load(src.addr + 16 * d4, 4, from.get()))),
      ...Array.from({ length: width % 4 }, (_, l) => {
        const d = width - (width % 4) + l;
        return m.f32.store(at(d), 4, vp.get(), m.f32.load(src.addr + 4 * d, 4, from.get()));
      }),
    ]),
  ];
}
