// QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear, plus the integer helpers the
// quantized MatMul and Conv kernels share: exact round-half-to-even and saturation to the
// target type. Scales and zero points are read per tensor, per axis or per block.
import binaryen from "binaryen";
import { dtype, type DTypeName } from "../../../runtime/dtypes.js";
import type { Expr, Local } from "../../fn.js";
import { stridesOf } from "../../fn.js";
import type { Precision } from "../../math.js";
import { scalarOps } from "../../math/ops.js";
import { convert, load, store } from "../../memory.js";
import { emitElementwise } from "../loops.js";
import { KernelTable, type KernelCtx, type TensorRef } from "../kernel.js";

const table = new KernelTable();

/** Byte offset (relative to t.addr) of the element at i32 element index `index`. */
export function byteAt(ctx: KernelCtx, t: TensorRef, index: Expr): Expr {
  const b = dtype(t.dtype).bytes;
  return b === 1 ? index : ctx.m.i32.mul(index, ctx.m.i32.const(b));
}

/** Element `index` of t in its compute type. */
export function elem(ctx: KernelCtx, t: TensorRef, index: Expr): Expr {
  return load(ctx.m, t.dtype, byteAt(ctx, t, index), t.addr);
}

/** An optional integer input (a zero point) as i32: element `index`, or 0 when absent. */
export function zeroPoint(ctx: KernelCtx, i: number, index: Expr): Expr {
  const t = ctx.inputs[i];
  return t ? elem(ctx, t, t.size === 1 ? ctx.m.i32.const(0) : index) : ctx.m.i32.const(0);
}

/** A scale as a float of precision p: element `index`, or element 0 of a one-value scale. */
export function scaleAt(ctx: KernelCtx, t: TensorRef, index: Expr, p: Precision): Expr {
  return convert(ctx.m, t.dtype, p === "f64" ? "float64" : "float32", elem(ctx, t, t.size === 1 ? ctx.m.i32.const(0) : index));
}

const floatOf = (p: Precision): DTypeName => (p === "f64" ? "float64" : "float32");

/**
 * round_half_even(v) + zp, saturated to dt, as i32. The zero point is added in f64, so an
 * int32 result is exact; NaN saturates to 0 like the truncating conversion.
 */
export function quantize(ctx: KernelCtx, p: Precision, v: Expr, zp: Expr, dt: DTypeName): Expr {
  const m = ctx.m;
  const S = scalarOps(m, p);
  const r = p === "f32" ? m.f64.promote(S.nearest(v)) : S.nearest(v);
  const info = dtype(dt);
  const [lo, hi] = info.signed ? [-(2 ** (info.bytes * 8 - 1)), 2 ** (info.bytes * 8 - 1) - 1] : [0, 2 ** (info.bytes * 8) - 1];
  const sum = m.f64.add(r, m.f64.convert_s.i32(zp));
  return m.i32.trunc_s_sat.f64(m.f64.min(m.f64.max(sum, m.f64.const(lo)), m.f64.const(hi)));
}

/**
 * The scale/zero-point element for each x element: 0 per tensor, idx[axis] per axis,
 * and the block's position in the blocked scale tensor.
 */
function paramIndex(ctx: KernelCtx, x: TensorRef, scale: TensorRef): (idx: Local[]) => Expr {
  const m = ctx.m;
  const rank = x.dims.length;
  const block = ctx.attrs.int("block_size", 0);
  const a = ctx.attrs.int("axis", 1);
  const axis = a < 0 ? a + rank : a;
  if (block > 0) {
    const ss = stridesOf(scale.dims);
    return (idx) => idx.reduce<Expr>((acc, l, k) => {
      const i = k === axis ? m.i32.div_u(l.get(), m.i32.const(block)) : l.get();
      return m.i32.add(acc, ss[k] === 1 ? i : m.i32.mul(i, m.i32.const(ss[k])));
    }, m.i32.const(0));
  }
  if (scale.size === 1 && scale.dims.length <= 1) return () => m.i32.const(0);
  return (idx) => idx[axis].get();
}

function precisionOf(...ts: TensorRef[]): Precision {
  return ts.some((t) => t.dtype === "float64") ? "f64" : "f32";
}

/** Scale and zero point as tensors that broadcast against x (per axis: [D] at the axis, 1 elsewhere). */
function paramViews(ctx: KernelCtx, x: TensorRef, scale: TensorRef): TensorRef[] {
  const a = ctx.attrs.int("axis", 1);
  const axis = a < 0 ? a + x.dims.length : a;
  const perAxis = scale.size !== 1 || scale.dims.length > 1;
  const view = (t: TensorRef): TensorRef => ({ ...t, dims: perAxis ? x.dims.map((d, k) => (k === axis ? d : 1)) : [] });
  const zp = ctx.inputs[2];
  return zp ? [view(scale), view(zp)] : [view(scale)];
}

type QuantFormula = (x: Expr, scale: Expr, zp: Expr) => Expr;

/**
 * out = formula(x, scale, zero point) per element. Per tensor and per axis run through the shared
 * elementwise loop (with its 4-lane form when given); blocked scales walk the blocks.
 */
function emitQuant(ctx: KernelCtx, scalar: QuantFormula, simd: QuantFormula | undefined, simdWhen: (dts: DTypeName[]) => boolean): void {
  const { m, fn } = ctx;
  const [x, scale, out] = [ctx.input(0), ctx.input(1), ctx.output(0)];
  if (ctx.attrs.int("block_size", 0) > 0) {
    const pi = paramIndex(ctx, x, scale);
    const xs = stridesOf(x.dims);
    fn.emit(fn.nest(x.dims, (idx) => [store(m, out.dtype, byteAt(ctx, out, fn.linear(idx, xs)),
      scalar(elem(ctx, x, fn.linear(idx, xs)), elem(ctx, scale, pi(idx)), zeroPoint(ctx, 2, pi(idx))), out.addr)]));
    return;
  }
  const params = paramViews(ctx, x, scale);
  const zeroLanes = () => m.v128.const(new Array(16).fill(0));
  emitElementwise(ctx, {
    inputs: [x, ...params],
    output: out,
    scalar: ([xv, sv, zv]) => scalar(xv, sv, zv ?? m.i32.const(0)),
    simd: simd && (([xv, sv, zv]) => simd(xv, sv, zv ?? zeroLanes())),
    simdWhen,
  });
}

const NARROW_INTS: DTypeName[] = ["int8", "uint8", "int16", "uint16"];

table.add("QuantizeLinear", (ctx) => {
  const m = ctx.m;
  const [x, scale, out] = [ctx.input(0), ctx.input(1), ctx.output(0)];
  const p = precisionOf(x, scale);
  const S = scalarOps(m, p);
  const info = dtype(out.dtype);
  const [lo, hi] = info.signed ? [-(2 ** (info.bytes * 8 - 1)), 2 ** (info.bytes * 8 - 1) - 1] : [0, 2 ** (info.bytes * 8) - 1];
  emitQuant(ctx,
    (xv, sv, zv) => quantize(ctx, p, S.div(convert(m, x.dtype, floatOf(p), xv), convert(m, scale.dtype, floatOf(p), sv)), zv, out.dtype),
    // in f32 lanes: nearest(x / s) + zp is exact below 2^24, and anything larger saturates anyway
    (xv, sv, zv) => m.i32x4.trunc_sat_f32x4_s(m.f32x4.min(m.f32x4.max(
      m.f32x4.add(m.f32x4.nearest(m.f32x4.div(xv, sv)), m.f32x4.convert_i32x4_s(zv)),
      m.f32x4.splat(m.f32.const(lo))), m.f32x4.splat(m.f32.const(hi)))),
    (dts) => dts[0] === "float32" && dts[1] === "float32" && NARROW_INTS.includes(dts[dts.length - 1]));
});

// (x - zp) in i32, as ORT computes it, then times the scale.
table.add("DequantizeLinear", (ctx) => {
  const m = ctx.m;
  const [scale, out] = [ctx.input(1), ctx.output(0)];
  const p = precisionOf(scale, out);
  const S = scalarOps(m, p);
  emitQuant(ctx,
    (xv, sv, zv) => convert(m, floatOf(p), out.dtype, S.mul(convert(m, "int32", floatOf(p), m.i32.sub(xv, zv)), convert(m, scale.dtype, floatOf(p), sv))),
    (xv, sv, zv) => m.f32x4.mul(m.f32x4.convert_i32x4_s(m.i32x4.sub(xv, zv)), sv),
    (dts) => dts[1] === "float32" && dts[dts.length - 1] === "float32");
});

// uint8 over [min(0, x), max(0, x)]: scale = range / 255, zero point = round(-min / scale).
// A zero range takes scale 1 (as onnxruntime), so an all-zero input quantizes to zeros, not NaN.
table.add("DynamicQuantizeLinear", (ctx) => {
  const { m, fn } = ctx;
  const x = ctx.input(0);
  const [y, yScale, yZp] = [ctx.output(0), ctx.output(1), ctx.output(2)];
  const S = scalarOps(m, "f32");
  const [lo, hi, scale, zp] = [fn.local(binaryen.f32), fn.local(binaryen.f32), fn.local(binaryen.f32), fn.local(binaryen.i32)];
  fn.emit(lo.set(S.c(0)), hi.set(S.c(0)));
  fn.emit(fn.loop(x.size, (i) => {
    const v = fn.local(binaryen.f32);
    return [v.set(elem(ctx, x, i.get())), lo.set(S.min(lo.get(), v.get())), hi.set(S.max(hi.get(), v.get()))];
  }));
  fn.emit(scale.set(m.select(S.eq(lo.get(), hi.get()), S.c(1), S.div(S.sub(hi.get(), lo.get()), S.c(255)))));
  fn.emit(zp.set(quantize(ctx, "f32", S.div(S.neg(lo.get()), scale.get()), m.i32.const(0), "uint8")));
  fn.emit(fn.loop(x.size, (i) => [
    store(m, "uint8", i.get(), quantize(ctx, "f32", S.div(elem(ctx, x, i.get()), scale.get()), zp.get(), "uint8"), y.addr),
  ]));
  fn.emit(store(m, "float32", m.i32.const(0), scale.get(), yScale.addr), store(m, "uint8", m.i32.const(0), zp.get(), yZp.addr));
});

export const KERNELS = table.families;
