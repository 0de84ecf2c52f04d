// Cast and CastLike between every dtype kiln has (memory.ts `convert` holds the semantics:
// float -> int truncates toward zero, saturating, NaN -> 0; ints wrap; -> bool is != 0). The
// shape rule refuses float8/4-bit/bfloat16/string targets; `saturate` only concerns float8.
import binaryen from "binaryen";
import type { DTypeName } from "../../../runtime/dtypes.js";
import type { Expr } from "../../fn.js";
import { convert } from "../../memory.js";
import { anyLanes, bind, laneKind, maskToBool } from "./ops.js";
import { emitElementwise } from "../loops.js";
import { KernelTable, type KernelCtx } from "../kernel.js";

const table = new KernelTable();

/**
 * f64 -> f32 rounded to odd: float16 stores round f32 to nearest even, and f64 -> f16 through a
 * plain f32 would round twice; rounding to odd first keeps the second rounding exact.
 */
function demoteToOdd(ctx: KernelCtx, x: Expr): Expr {
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

function castKernel(ctx: KernelCtx, to: DTypeName): void {
  const x = ctx.input(0);
  const from = x.dtype;
  emitElementwise(ctx, {
    inputs: [x],
    output: ctx.output(0),
    scalar: ([v]) => (from === "float64" && to === "float16" ? demoteToOdd(ctx, v) : convert(ctx.m, from, to, v)),
    simd: simdCast(ctx.m, from, to),
    simdWhen: anyLanes,
  });
}

table.add(["Cast", "CastLike"], (ctx) => castKernel(ctx, ctx.output(0).dtype));

export const KERNELS = table.families;
