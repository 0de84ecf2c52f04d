// Cast and CastLike between every dtype kiln has (memory.ts `convert` holds the semantics:
// float -> int truncates toward zero, saturating, NaN -> 0; ints wrap, 4- and 2-bit ones too;
// -> bool is != 0). The narrow floats (float16, bfloat16, float8, float4e2m1) are rounded once,
// from the exact value, when stored: the value reaches the store as a float32 that is exact or
// rounded to odd (f64 and 32/64-bit ints), so the second rounding is the only one that counts.
// `saturate` (float8) and `round_mode` (float8e8m0) choose how the store rounds.
import binaryen from "binaryen";
import { dtype, type DTypeName } from "../../../runtime/dtypes.js";
import type { Expr } from "../../fn.js";
import { clearPadding, convert, loadElement, storeElement, type StoreMode } from "../../memory.js";
import type { E8M0Rounding } from "../../../runtime/lowbit.js";
import { anyLanes, bind, laneKind, maskToBool } from "./ops.js";
import { emitElementwise } from "../loops.js";
import { KernelTable, type KernelCtx } from "../kernel.js";

const table = new KernelTable();

/**
 * f64 -> f32 rounded to odd: float16 stores round f32 to nearest even, and f64 -> f16 through a
 * plain f32 would round twice; rounding to odd first keeps the second rounding exact.
 */
export function demoteToOdd(ctx: KernelCtx, x: Expr): Expr {
  const m = ctx.m;
  return bind(ctx, [x, m.f32.demote(x)], [binaryen.f64, binaryen.f32], ([d, f]) => {
    const inexact = m.i32.and(m.f64.ne(m.f64.promote(f()), d()), m.f64.eq(d(), d()));
    const bits = m.i32.reinterpret(f());
    // nearest rounded away from zero: step back one ulp to the truncation, then set the odd bit
    const tooBig = m.f64.gt(m.f64.abs(m.f64.promote(f())), m.f64.abs(d()));
    const truncated = m.i32.sub(bits, tooBig);
    return m.select(inexact, m.f32.reinterpret(m.i32.or(truncated, m.i32.const(1))), f());
  });
}

/**
 * The 4-lane form of a Cast between lane dtypes (float32, 8..32-bit ints, bool), matching
 * `convert`: lanes of narrow ints are already widened by their signedness and wrapped on store, so
 * int -> int is the identity; float -> int is trunc_sat like the scalar path.
 */
function simdCast(m: binaryen.Module, from: DTypeName, to: DTypeName): ((v: Expr[]) => Expr) | undefined {
  const fromFloat = from === "float32";
  if (to === "bool") {
    return ([v]) => maskToBool(m, fromFloat ? m.f32x4.ne(v, m.f32x4.splat(m.f32.const(0))) : m.i32x4.ne(v, m.i32x4.splat(m.i32.const(0))));
  }
  if (fromFloat === (to === "float32")) return ([v]) => v;
  if (fromFloat) return ([v]) => (to === "uint32" ? m.i32x4.trunc_sat_f32x4_u(v) : m.i32x4.trunc_sat_f32x4_s(v));
  return ([v]) => (laneKind(from) === "s32" ? m.f32x4.convert_i32x4_s(v) : m.f32x4.convert_i32x4_u(v));
}

/** float16 and the coded floats: float32 compute values that a store rounds */
const narrowFloat = (dt: DTypeName) => dtype(dt).float && dt !== "float32" && dt !== "float64";

/** The dtypes the shared loop does not take: packed, or rounded on store by a Cast-specific mode. */
const coded = (dt: DTypeName) => narrowFloat(dt) && dt !== "float16" || dtype(dt).bits < 8;

/** v (compute type of `from`) as the compute value a store of `to` rounds once (see the header). */
function castValue(ctx: KernelCtx, from: DTypeName, to: DTypeName, v: Expr): Expr {
  const m = ctx.m;
  if (!narrowFloat(to)) return convert(m, from, to, v);
  if (from === "float64") return demoteToOdd(ctx, v);
  // 32- and 64-bit ints through f64 (exact for 32 bits), then rounded to odd
  if (["int32", "uint32", "int64", "uint64"].includes(from)) return demoteToOdd(ctx, convert(m, from, "float64", v));
  return convert(m, from, "float32", v);
}

/** Element by element, for the packed and coded types: out[i] = cast(x[i]), rounded as `mode` says. */
function emitCodedCast(ctx: KernelCtx, from: DTypeName, to: DTypeName, mode: StoreMode): void {
  const { m, fn } = ctx;
  const [x, out] = [ctx.input(0), ctx.output(0)];
  fn.emit(fn.loop(out.size, (i) => [storeElement(m, to, out.addr, i.get(), castValue(ctx, from, to, loadElement(m, from, x.addr, i.get())), mode)]));
  fn.emit(clearPadding(m, to, out.addr, out.size));
}

function castKernel(ctx: KernelCtx, to: DTypeName): void {
  const x = ctx.input(0);
  const from = x.dtype;
  if (coded(from) || coded(to)) {
    const mode = { saturate: ctx.attrs.int("saturate", 1) !== 0, round: ctx.attrs.string("round_mode", "up") as E8M0Rounding };
    return emitCodedCast(ctx, from, to, mode);
  }
  emitElementwise(ctx, {
    inputs: [x],
    output: ctx.output(0),
    scalar: ([v]) => castValue(ctx, from, to, v),
    simd: simdCast(ctx.m, from, to),
    simdWhen: anyLanes,
  });
}

table.add(["Cast", "CastLike"], (ctx) => castKernel(ctx, ctx.output(0).dtype));

export const KERNELS = table.families;
