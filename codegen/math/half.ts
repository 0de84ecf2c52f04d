// float16 <-> float32 conversion helpers used by loads and stores of float16 tensors.
// f32 -> f16 rounds to nearest even (after F. Giesen's float_to_half_fast3_rtne).
import binaryen from "binaryen";
import { Fn } from "../fn.js";
import { FLOAT_TO_HALF, HALF_TO_FLOAT } from "../memory.js";

export function addHalfHelpers(m: binaryen.Module): void {
  {
    const fn = new Fn(m, HALF_TO_FLOAT, [binaryen.i32]);
    const h = fn.param(0);
    const sign = fn.local(binaryen.i32);
    const exp = fn.local(binaryen.i32);
    const mant = fn.local(binaryen.i32);
    fn.emit(
      sign.set(m.i32.shl(m.i32.and(h.get(), m.i32.const(0x8000)), m.i32.const(16))),
      exp.set(m.i32.and(m.i32.shr_u(h.get(), m.i32.const(10)), m.i32.const(0x1f))),
      mant.set(m.i32.and(h.get(), m.i32.const(0x3ff))),
      m.if(m.i32.eqz(exp.get()),
        // subnormal or zero: mant * 2^-24 with the sign
        m.return(m.f32.copysign(m.f32.mul(m.f32.convert_u.i32(mant.get()), m.f32.const(2 ** -24)), m.f32.reinterpret(sign.get())))),
      m.if(m.i32.eq(exp.get(), m.i32.const(31)),
        m.return(m.f32.reinterpret(m.i32.or(m.i32.or(sign.get(), m.i32.const(0x7f800000)), m.i32.shl(mant.get(), m.i32.const(13)))))),
      m.return(m.f32.reinterpret(m.i32.or(m.i32.or(sign.get(), m.i32.shl(m.i32.add(exp.get(), m.i32.const(112)), m.i32.const(23))), m.i32.shl(mant.get(), m.i32.const(13))))),
    );
    fn.finish(binaryen.f32);
  }
  {
    const fn = new Fn(m, FLOAT_TO_HALF, [binaryen.f32]);
    const x = fn.param(0);
    const a = fn.local(binaryen.i32);
    const sign = fn.local(binaryen.i32);
    fn.emit(
      a.set(m.i32.reinterpret(x.get())),
      sign.set(m.i32.and(m.i32.shr_u(a.get(), m.i32.const(16)), m.i32.const(0x8000))),
      a.set(m.i32.and(a.get(), m.i32.const(0x7fffffff))),
      m.if(m.i32.gt_u(a.get(), m.i32.const(0x7f800000)), m.return(m.i32.or(sign.get(), m.i32.const(0x7e00)))),
      m.if(m.i32.ge_u(a.get(), m.i32.const(0x47800000)), m.return(m.i32.or(sign.get(), m.i32.const(0x7c00)))),
      m.if(m.i32.lt_u(a.get(), m.i32.const(0x38800000)),
        m.return(m.i32.or(sign.get(), m.i32.sub(
          m.i32.reinterpret(m.f32.add(m.f32.reinterpret(a.get()), m.f32.const(0.5))), m.i32.const(0x3f000000))))),
      m.return(m.i32.or(sign.get(), m.i32.shr_u(
        m.i32.add(m.i32.add(a.get(), m.i32.const(0xc8000fff | 0)), m.i32.and(m.i32.shr_u(a.get(), m.i32.const(13)), m.i32.const(1))),
        m.i32.const(13)))),
    );
    fn.finish(binaryen.i32);
  }
}

/** The module function WIDEN_HALFS(src, dst, n): n float16 codes at src, widened to float32 at dst. */
export const WIDEN_HALFS = "kiln_widen_f16";

/**
 * Adds WIDEN_HALFS, which a compact artifact's derive functions call to widen a float16 weight in
 * its own float32 slot (codegen/derive.ts): the codes sit in the slot's upper half (src = dst + 2n)
 * and are widened front to back, 8 at a time, each block loaded before anything is stored. Element
 * i is stored at [dst + 4i, dst + 4i + 4), below every code not yet read (dst + 2n + 2j, j > i), so
 * nothing is overwritten before it is read. Bit for bit what compiler/ir/values.ts halfsToFloat32
 * gives for every code but NaNs (which the artifact stores widened): |h| << 13 read as a float32 is
 * the half's value times 2^-112 (a float32 subnormal for a half subnormal; wasm keeps subnormals),
 * so one multiply by 2^112 gives the value exactly; Inf and NaN get the float32 exponent directly.
 */
const splat = (m: binaryen.Module, x: number) => m.i32x4.splat(m.i32.const(x | 0));
/** |h| << 13 of four float16 codes in zero-extended i32 lanes: the half's bits in a float32's place, its value times 2^-112 */
const halfBits = (m: binaryen.Module, lanes: () => binaryen.ExpressionRef) => m.i32x4.shl(m.v128.and(lanes(), splat(m, 0x7fff)), m.i32.const(13));
/** the four codes' signs in float32's sign bit */
const halfSigns = (m: binaryen.Module, lanes: () => binaryen.ExpressionRef) => m.i32x4.shl(m.v128.and(lanes(), splat(m, 0x8000)), m.i32.const(16));
/** the four codes' magnitudes as float32: one multiply by 2^112 gives every 0, subnormal and normal half exactly */
const halfMagnitudes = (m: binaryen.Module, lanes: () => binaryen.ExpressionRef) => m.f32x4.mul(halfBits(m, lanes), m.f32x4.splat(m.f32.const(2 ** 112)));

/**
 * Four float16 codes (zero-extended i32 lanes, read twice: a local's get) as f32x4, exact for
 * every finite code (Inf and NaN: WIDEN_HALFS's form).
 */
export function widenFiniteHalfs(m: binaryen.Module, lanes: () => binaryen.ExpressionRef): binaryen.ExpressionRef {
  return m.v128.or(halfMagnitudes(m, lanes), halfSigns(m, lanes));
}

export function addWidenHalfs(m: binaryen.Module): void {
  const fn = new Fn(m, WIDEN_HALFS, [binaryen.i32, binaryen.i32, binaryen.i32]);
  const src = fn.param(0), dst = fn.param(1), n = fn.param(2);
  const v = fn.local(binaryen.v128), lanes = fn.local(binaryen.v128);
  // four codes (zero-extended lanes) widened and stored at dst + offset
  const store = (offset: number, codes: binaryen.ExpressionRef) => [
    lanes.set(codes),
    m.v128.store(offset, 4, dst.get(), m.v128.or(
      m.v128.bitselect(
        m.v128.or(halfBits(m, lanes.get), splat(m, 0x7f800000)),
        halfMagnitudes(m, lanes.get),
        m.i32x4.gt_s(m.v128.and(lanes.get(), splat(m, 0x7fff)), splat(m, 0x7bff))),
      halfSigns(m, lanes.get))),
  ];
  const blocks = fn.label("blocks"), tail = fn.label("tail");
  const step = (bytesIn: number, bytesOut: number) => [src.set(m.i32.add(src.get(), m.i32.const(bytesIn))), dst.set(m.i32.add(dst.get(), m.i32.const(bytesOut))), n.set(m.i32.sub(n.get(), m.i32.const(bytesIn / 2)))];
  fn.emit(
    m.block(blocks + "_out", [m.loop(blocks, m.block(null, [
      m.br(blocks + "_out", m.i32.lt_u(n.get(), m.i32.const(8))),
      v.set(m.v128.load(0, 1, src.get())),
      ...store(0, m.i32x4.extend_low_i16x8_u(v.get())),
      ...store(16, m.i32x4.extend_high_i16x8_u(v.get())),
      ...step(16, 32),
      m.br(blocks),
    ]))]),
    m.block(tail + "_out", [m.loop(tail, m.block(null, [
      m.br(tail + "_out", m.i32.eqz(n.get())),
      m.f32.store(0, 4, dst.get(), m.call(HALF_TO_FLOAT, [m.i32.load16_u(0, 1, src.get())], binaryen.f32)),
      ...step(2, 4),
      m.br(tail),
    ]))]),
  );
  fn.finish();
}

/** The module function SCALE_F32(dst, n, factors, count, inner): float32 x[k] at dst times factors[floor(k / inner) % count], in place. */
export const SCALE_F32 = "kiln_scale_f32";

/**
 * Adds SCALE_F32, which applies a float16 weight's folded BatchNormalization (compiler/ir/scaled.ts)
 * after WIDEN_HALFS: one f32.mul per element, the Math.fround(w * s) the compiler computes.
 */
export function addScaleF32(m: binaryen.Module): void {
  const fn = new Fn(m, SCALE_F32, [binaryen.i32, binaryen.i32, binaryen.i32, binaryen.i32, binaryen.i32]);
  const dst = fn.param(0), n = fn.param(1), factors = fn.param(2), count = fn.param(3), inner = fn.param(4);
  const c = fn.local(binaryen.i32), j = fn.local(binaryen.i32), f = fn.local(binaryen.f32);
  const outer = fn.label("rows"), row = fn.label("row");
  fn.emit(m.block(outer + "_out", [m.loop(outer, m.block(null, [
    m.br(outer + "_out", m.i32.eqz(n.get())),
    f.set(m.f32.load(0, 4, m.i32.add(factors.get(), m.i32.shl(c.get(), m.i32.const(2))))),
    j.set(inner.get()),
    m.block(row + "_out", [m.loop(row, m.block(null, [
      m.br(row + "_out", m.i32.eqz(j.get())),
      m.f32.store(0, 4, dst.get(), m.f32.mul(m.f32.load(0, 4, dst.get()), f.get())),
      dst.set(m.i32.add(dst.get(), m.i32.const(4))),
      j.set(m.i32.sub(j.get(), m.i32.const(1))),
      m.br(row),
    ]))]),
    n.set(m.i32.sub(n.get(), inner.get())),
    c.set(m.i32.add(c.get(), m.i32.const(1))),
    m.if(m.i32.eq(c.get(), count.get()), c.set(m.i32.const(0))),
    m.br(outer),
  ]))]));
  fn.finish();
}
