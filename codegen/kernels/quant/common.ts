// What the quantization kernels share: element access whatever the dtype (the packed 4- and
// 2-bit ones included), per-tensor / per-axis / per-block scale lookup, and exact
// round-half-to-even with saturation to an integer type.
import type binaryen from "binaryen";
import { dtype, type DTypeName } from "../../../runtime/dtypes.js";
import type { Expr } from "../../fn.js";
import type { Precision } from "../../math.js";
import { scalarOps } from "../../math/ops.js";
import { convert, loadElement } from "../../memory.js";
import type { KernelCtx, TensorRef } from "../kernel.js";

/** Byte offset (relative to t.addr) of the element at i32 element index `index` (byte-wide dtypes). */
export function byteAt(ctx: KernelCtx, t: TensorRef, index: Expr): Expr {
  const b = dtype(t.dtype).bytes;
  return b === 1 ? index : ctx.m.i32.mul(index, ctx.m.i32.const(b));
}

/** Element `index` of t in its compute type (any dtype, packed ones included). */
export function elem(ctx: KernelCtx, t: TensorRef, index: Expr): Expr {
  return loadElement(ctx.m, t.dtype, t.addr, index);
}

/** An optional input (a zero point) in its compute type: element `index`, element 0 of a one-value tensor, or 0 when absent. */
export function zeroPoint(ctx: KernelCtx, i: number, index: Expr, absent: Expr = ctx.m.i32.const(0)): Expr {
  const t = ctx.inputs[i];
  return t ? elem(ctx, t, t.size === 1 ? ctx.m.i32.const(0) : index) : absent;
}

/** A scale as a float of precision p: element `index`, or element 0 of a one-value scale. */
export function scaleAt(ctx: KernelCtx, t: TensorRef, index: Expr, p: Precision): Expr {
  return convert(ctx.m, t.dtype, p === "f64" ? "float64" : "float32", elem(ctx, t, t.size === 1 ? ctx.m.i32.const(0) : index));
}

/** [lowest, highest] of an integer dtype, from its bit width (int4: [-8, 7]). */
export function intRange(dt: DTypeName): [number, number] {
  const { bits, signed } = dtype(dt);
  return signed ? [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1] : [0, 2 ** bits - 1];
}

/**
 * f32x4 lanes holding whole numbers (nearest(x / scale) + zp) to i32 lanes saturated to [lo, hi]:
 * the conversion first, then the clamp as i32x4.max_s/min_s (one instruction each on x64, where
 * f32x4.max/min cost about eight for their NaN and signed-zero rules). Same results as clamping in
 * f32 first: whole numbers convert exactly, out-of-i32 values saturate to the same end, NaN to 0.
 */
export function saturateLanes(m: binaryen.Module, v: Expr, lo: number, hi: number): Expr {
  return m.i32x4.min_s(m.i32x4.max_s(m.i32x4.trunc_sat_f32x4_s(v), m.i32x4.splat(m.i32.const(lo))), m.i32x4.splat(m.i32.const(hi)));
}

/**
 * round_half_even(v) + zp, saturated to dt, as i32. The zero point is added in f64, so an
 * int32 result is exact; NaN saturates to 0 like the truncating conversion.
 */
export function quantize(ctx: KernelCtx, p: Precision, v: Expr, zp: Expr, dt: DTypeName): Expr {
  const m = ctx.m;
  const S = scalarOps(m, p);
  const r = p === "f32" ? m.f64.promote(S.nearest(v)) : S.nearest(v);
  const [lo, hi] = intRange(dt);
  const sum = m.f64.add(r, m.f64.convert_s.i32(zp));
  return m.i32.trunc_s_sat.f64(m.f64.min(m.f64.max(sum, m.f64.const(lo)), m.f64.const(hi)));
}

/** |x| bound of nearestPlusZp: beyond it an 8-bit result saturates anyway (and 2^16 + 255 still saturates i16) */
export const ROUND_BOUND = 65536;

/**
 * nearest(x) + zp as i32 lanes, for f32 lanes x within [-ROUND_BOUND, ROUND_BOUND] (the caller
 * clamps; NaN must not reach here): x + 1.5 * 2^23 rounds x to a whole number, ties to even (f32
 * addition's rounding, the same as f32x4.nearest), and leaves it in the low mantissa bits, so the
 * sum's bits less those of 1.5 * 2^23, less zp, are nearest(x) + zp. Exactly
 * trunc_sat(nearest(x) + zp) on those lanes, in two instructions where that takes about nine on
 * x64 (V8's trunc_sat alone is seven). `bias` is roundBias(zp), computed once outside a loop.
 */
export function nearestPlusZp(m: binaryen.Module, x: Expr, bias: Expr): Expr {
  return m.i32x4.sub(m.f32x4.add(x, m.f32x4.splat(m.f32.const(12582912))), bias);
}

/** the i32x4 nearestPlusZp subtracts for zero point zp (an i32 expression) */
export function roundBias(m: binaryen.Module, zp: Expr): Expr {
  return m.i32x4.splat(m.i32.sub(m.i32.const(0x4b400000), zp));
}
