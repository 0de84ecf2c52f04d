// QuantizeLinear and DequantizeLinear for every quantized type the spec names (8/16-bit ints,
// int4/uint4/int2/uint2, float8, float4e2m1) and every scale (float32, float16, bfloat16, float64,
// int32, and float8e8m0's power-of-two scales), per tensor, per axis or per block.
//
// Precision: QuantizeLinear divides in the `precision` attribute's type, else the scale's, as the
// spec says (x and the scale rounded to it, the quotient rounded to it; float16 and bfloat16 divide
// in f32 and round: the f32 quotient of two such values rounds to the same as a division in that
// type). Then, as the reference computes it: integers round half to even, add the zero point and
// saturate; float8 ignores the zero point and rounds on store (saturating unless `saturate` = 0);
// float4e2m1 adds it and saturates. DequantizeLinear multiplies in f32 (f64 for float64) and
// rounds once to the output type, as the reference does.
import binaryen from "binaryen";
import { dtypeFromOnnx, type DTypeName } from "../../../runtime/dtypes.js";
import { isCoded } from "../../../runtime/lowbit.js";
import type { Expr, Local } from "../../fn.js";
import { stridesOf } from "../../fn.js";
import { scalarOps } from "../../math/ops.js";
import { clearPadding, convert, roundTo, storeElement, wasmType, type StoreMode } from "../../memory.js";
import { demoteToOdd } from "../elementwise/cast.js";
import { emitElementwise } from "../loops.js";
import { KernelTable, type KernelCtx, type TensorRef } from "../kernel.js";
import { elem, intRange, quantize, zeroPoint } from "./common.js";

const table = new KernelTable();

/** The float types arithmetic may be done in. */
type Arith = "float32" | "float16" | "bfloat16" | "float64";
const ARITH: readonly DTypeName[] = ["float32", "float16", "bfloat16", "float64"];

/** Integer dtypes whose every value float32 holds exactly. */
const SMALL_INTS: readonly DTypeName[] = ["int8", "uint8", "int16", "uint16", "int4", "uint4", "int2", "uint2", "bool"];

/** v (compute type of `from`) as a value of precision `to`, rounded once, correctly. */
function toPrecision(ctx: KernelCtx, from: DTypeName, to: Arith, v: Expr): Expr {
  const m = ctx.m;
  if (to === "float64" || to === "float32") return convert(m, from, to, v);
  // narrow: an exact f32, or one rounded to odd (f64, 32- and 64-bit ints), then rounded to `to`
  const exact = wasmType(from) === binaryen.f32 || SMALL_INTS.includes(from);
  return roundTo(m, to, exact ? convert(m, from, "float32", v) : demoteToOdd(ctx, convert(m, from, "float64", v)));
}

/**
 * The scale and zero-point element for each x element: 0 per tensor, idx[axis] per axis,
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

/** Scale and zero point as tensors that broadcast against x (per axis: [D] at the axis, 1 elsewhere). */
function paramViews(ctx: KernelCtx, x: TensorRef, scale: TensorRef): TensorRef[] {
  const a = ctx.attrs.int("axis", 1);
  const axis = a < 0 ? a + x.dims.length : a;
  const perAxis = scale.size !== 1 || scale.dims.length > 1;
  const view = (t: TensorRef): TensorRef => ({ ...t, dims: perAxis ? x.dims.map((d, k) => (k === axis ? d : 1)) : [] });
  const zp = ctx.inputs[2];
  return zp ? [view(scale), view(zp)] : [view(scale)];
}

/** out = formula(x, scale, zero point) in compute types; the zero point is `absent` when not given. */
type QuantFormula = (x: Expr, scale: Expr, zp: Expr) => Expr;

interface QuantLoop {
  scalar: QuantFormula;
  /** the 4-lane form, for the shared loop when `fast` */
  simd?: QuantFormula;
  simdWhen?: (dts: DTypeName[]) => boolean;
  /** every operand byte-addressed and no store mode: the shared elementwise loop (per tensor, per axis) */
  fast: boolean;
  absent: Expr;
  mode?: StoreMode;
}

/**
 * Per tensor and per axis through the shared elementwise loop when `fast`; otherwise (blocked
 * scales, packed or coded operands, a float8 store mode) element by element over x's index space.
 */
function emitQuant(ctx: KernelCtx, q: QuantLoop): void {
  const { m, fn } = ctx;
  const [x, scale, out] = [ctx.input(0), ctx.input(1), ctx.output(0)];
  if (q.fast && ctx.attrs.int("block_size", 0) === 0) {
    const zeroLanes = () => m.v128.const(new Array(16).fill(0));
    emitElementwise(ctx, {
      inputs: [x, ...paramViews(ctx, x, scale)],
      output: out,
      scalar: ([xv, sv, zv]) => q.scalar(xv, sv, zv ?? q.absent),
      simd: q.simd && (([xv, sv, zv]) => q.simd!(xv, sv, zv ?? zeroLanes())),
      simdWhen: q.simdWhen,
    });
    return;
  }
  if (out.size === 0) return;
  const pi = paramIndex(ctx, x, scale);
  const xs = stridesOf(x.dims);
  fn.emit(fn.nest(x.dims, (idx) => {
    const at = fn.linear(idx, xs);
    const value = q.scalar(elem(ctx, x, at), elem(ctx, scale, pi(idx)), zeroPoint(ctx, 2, pi(idx), q.absent));
    return [storeElement(m, out.dtype, out.addr, fn.linear(idx, xs), value, q.mode)];
  }));
  fn.emit(clearPadding(m, out.dtype, out.addr, out.size));
}

const NARROW_INTS: DTypeName[] = ["int8", "uint8", "int16", "uint16"];
const plain = (ctx: KernelCtx) => ctx.inputs.every((t) => !t || !isCoded(t.dtype)) && !isCoded(ctx.output(0).dtype);

/** The type QuantizeLinear divides in: `precision`, else the scale's (int32 scales in f64, float8e8m0 ones in f32). */
function divisionType(ctx: KernelCtx, scale: DTypeName): Arith {
  const p = dtypeFromOnnx(ctx.attrs.int("precision", 0))?.name;
  if (p && ARITH.includes(p)) return p as Arith;
  if (ARITH.includes(scale)) return scale as Arith;
  return scale === "int32" ? "float64" : "float32";
}

table.add("QuantizeLinear", (ctx) => {
  const m = ctx.m;
  const [x, scale, out] = [ctx.input(0), ctx.input(1), ctx.output(0)];
  const P = divisionType(ctx, scale.dtype);
  const p = P === "float64" ? "f64" : "f32";
  const S = scalarOps(m, p);
  const quotient = (xv: Expr, sv: Expr) => roundTo(m, P, S.div(toPrecision(ctx, x.dtype, P, xv), toPrecision(ctx, scale.dtype, P, sv)));
  // the quotient as the f32 a float store rounds (f64 rounded to odd first: one rounding in all)
  const asF32 = (v: Expr) => (p === "f64" ? demoteToOdd(ctx, v) : v);
  if (out.dtype.startsWith("float8")) {
    emitQuant(ctx, { scalar: (xv, sv) => asF32(quotient(xv, sv)), fast: false, absent: m.f32.const(0), mode: { saturate: ctx.attrs.int("saturate", 1) !== 0 } });
    return;
  }
  if (out.dtype === "float4e2m1") {
    emitQuant(ctx, { scalar: (xv, sv, zv) => asF32(S.add(quotient(xv, sv), convert(m, "float32", P, zv))), fast: false, absent: m.f32.const(0) });
    return;
  }
  const intOut = NARROW_INTS.includes(out.dtype) && plain(ctx);
  emitQuant(ctx, {
    scalar: (xv, sv, zv) => quantize(ctx, p, quotient(xv, sv), zv, out.dtype),
    // in f32 lanes: nearest(x / s) + zp is exact below 2^24, and anything larger saturates anyway
    simd: (xv, sv, zv) => {
      const [lo, hi] = intRange(out.dtype);
      return m.i32x4.trunc_sat_f32x4_s(m.f32x4.min(m.f32x4.max(
        m.f32x4.add(m.f32x4.nearest(m.f32x4.div(xv, sv)), m.f32x4.convert_i32x4_s(zv)),
        m.f32x4.splat(m.f32.const(lo))), m.f32x4.splat(m.f32.const(hi))));
    },
    simdWhen: (dts) => dts[0] === "float32" && dts[1] === "float32" && P === "float32" && NARROW_INTS.includes(dts[dts.length - 1]),
    fast: intOut,
    absent: m.i32.const(0),
  });
});

// (x - zp) in i32 for integers (as onnxruntime computes it), in f32 for the float types, times
// the scale in f32 (f64 when the scale or the output is float64), rounded once to the output type
// when stored: the reference's arithmetic (a float32 product cast to the output type).
table.add("DequantizeLinear", (ctx) => {
  const m = ctx.m;
  const [x, scale, out] = [ctx.input(0), ctx.input(1), ctx.output(0)];
  const P: Arith = scale.dtype === "float64" || out.dtype === "float64" ? "float64" : "float32";
  const S = scalarOps(m, P === "float64" ? "f64" : "f32");
  const floatX = wasmType(x.dtype) === binaryen.f32;
  const shifted = (xv: Expr, zv: Expr): Expr => floatX ? convert(m, "float32", P, m.f32.sub(xv, zv)) : convert(m, "int32", P, m.i32.sub(xv, zv));
  emitQuant(ctx, {
    scalar: (xv, sv, zv) => convert(m, P, out.dtype, S.mul(shifted(xv, zv), convert(m, scale.dtype, P, sv))),
    simd: (xv, sv, zv) => m.f32x4.mul(m.f32x4.convert_i32x4_s(m.i32x4.sub(xv, zv)), sv),
    simdWhen: (dts) => dts[1] === "float32" && dts[dts.length - 1] === "float32",
    fast: plain(ctx),
    absent: floatX ? m.f32.const(0) : m.i32.const(0),
  });
});

export const KERNELS = table.families;
