// The float arithmetic the pools share: f32 or f64 by dtype, and LpPool's |v|^p and r^(1/p).
import binaryen from "binaryen";
import type { Expr } from "../../fn.js";
import { wasmType } from "../../memory.js";
import type { KernelCtx } from "../kernel.js";

/** f32 or f64 arithmetic for a float dtype */
export function floatOps(ctx: KernelCtx) {
  const t = wasmType(ctx.input(0).dtype);
  return { ops: t === binaryen.f64 ? ctx.m.f64 : ctx.m.f32, p: t === binaryen.f64 ? "f64" as const : "f32" as const };
}

/**
 * |v|^p by repeated multiplication (p is an integer attribute) and r^(1/p) as exp(log(r) / p) in
 * f64, with the common p = 1 and p = 2 done without exp/log.
 */
export function lpOps(ctx: KernelCtx, p: number) {
  const { ops } = floatOps(ctx);
  const { m, fn } = ctx;
  if (!Number.isInteger(p) || p < 1) ctx.unsupported(`LpPool p = ${p}; kiln supports integer p >= 1`);
  const f64 = wasmType(ctx.input(0).dtype) === binaryen.f64;
  return {
    power: (v: Expr) => {
      if (p === 1) return ops.abs(v);
      const a = fn.local(f64 ? binaryen.f64 : binaryen.f32);
      let e = a.get();
      for (let k = 1; k < p; k++) e = ops.mul(e, a.get());
      return m.block(null, [a.set(ops.abs(v)), e], f64 ? binaryen.f64 : binaryen.f32);
    },
    root: (r: Expr) => {
      if (p === 1) return r;
      if (p === 2) return ops.sqrt(r);
      const wide = f64 ? r : m.f64.promote(r);
      const y = ctx.math.call("exp", "f64", m.f64.div(ctx.math.call("log", "f64", wide), m.f64.const(p)));
      return f64 ? y : m.f32.demote(y);
    },
  };
}

