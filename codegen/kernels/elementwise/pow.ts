// Pow(X, Y) with numpy broadcasting; the output has X's dtype, Y may be of another type.
// Float results come from pow in f64 (codegen/math/pow.ts). int ^ int is exact repeated squaring
// that wraps like C multiplication; a negative exponent gives the truncated 1/x^n (1, -1 or 0;
// 0 ^ negative gives 0 where C would say inf). int ^ float is pow in f64 truncated toward zero.
import binaryen from "binaryen";
import type { DTypeName } from "../../../runtime/dtypes.js";
import { Fn, type Expr } from "../../fn.js";
import { convert, isFloat } from "../../memory.js";
import { emitElementwise } from "../loops.js";
import { KernelTable, type KernelCtx, type TensorRef } from "../kernel.js";
import { i64 } from "./ops.js";

const table = new KernelTable();

const IPOW = "kiln_ipow_i64";

/** i64 base ^ i64 exponent by squaring, added to the module once. */
function addIntPow(m: binaryen.Module): void {
  if (m.getFunction(IPOW)) return;
  const fn = new Fn(m, IPOW, [binaryen.i64, binaryen.i64]);
  const [b, e] = [fn.param(0), fn.param(1)];
  const r = fn.local(binaryen.i64);
  const k = (v: number) => i64(m, v);
  const loop = fn.label("ipow");
  const done = fn.label("ipowdone");
  fn.emit(
    m.if(m.i64.lt_s(e.get(), k(0)), m.return(
      m.if(m.i64.eq(b.get(), k(1)), k(1),
        m.if(m.i64.eq(b.get(), k(-1)), m.select(m.i32.wrap(m.i64.and(e.get(), k(1))), k(-1), k(1)), k(0))))),
    r.set(k(1)),
    m.block(done, [m.loop(loop, m.block(null, [
      m.br(done, m.i64.eqz(e.get())),
      m.if(m.i32.wrap(m.i64.and(e.get(), k(1))), r.set(m.i64.mul(r.get(), b.get()))),
      b.set(m.i64.mul(b.get(), b.get())),
      e.set(m.i64.shr_u(e.get(), k(1))),
      m.br(loop),
    ]))]),
    m.return(r.get()),
  );
  fn.finish(binaryen.i64);
}

/**
 * A float Pow whose exponent is a constant 2 or 3 (x^3 in GELU's tanh form, x^2 in T5's and other
 * RMS norms): x * x and x * x * x in the base's precision, as onnxruntime computes them (its x^3
 * rounds after each product, not once as pow does), and in SIMD lanes. undefined for others.
 */
export function smallPower(xDt: DTypeName, exponent: TensorRef | undefined): 2 | 3 | undefined {
  const v = exponent?.value;
  if ((xDt !== "float32" && xDt !== "float64") || !v || v.data.length === 0) return undefined;
  const first = Number(v.data[0]);
  if ((first !== 2 && first !== 3) || Array.from(v.data as ArrayLike<number | bigint>, Number).some((e) => e !== first)) return undefined;
  return first;
}

/** x^k for k 2 or 3 by products: `mul` the base's (scalar f32/f64 or f32x4), `x` a fresh read of the base each call */
export const powByProducts = (mul: (a: Expr, b: Expr) => Expr, x: () => Expr, k: 2 | 3): Expr => (k === 2 ? mul(x(), x()) : mul(mul(x(), x()), x()));

/** Pow's scalar formula for the operands' dtypes (fused elementwise kernels reuse it). */
export function powScalar(ctx: KernelCtx, xDt: DTypeName, yDt: DTypeName, outDt: DTypeName): (vals: Expr[]) => Expr {
  const m = ctx.m;
  const intPow = !isFloat(xDt) && !isFloat(yDt);
  if (intPow) addIntPow(m);
  return ([xv, yv]) => {
    if (intPow) {
      const r = m.call(IPOW, [convert(m, xDt, "int64", xv), convert(m, yDt, "int64", yv)], binaryen.i64);
      return convert(m, "int64", outDt, r);
    }
    const f64 = (dt: DTypeName, v: Expr) => convert(m, dt, "float64", v);
    return convert(m, "float64", outDt, ctx.math.call("pow", "f64", f64(xDt, xv), f64(yDt, yv)));
  };
}

table.add("Pow", (ctx) => {
  const [x, y] = [ctx.input(0), ctx.input(1)];
  const out = ctx.output(0);
  const m = ctx.m;
  const k = smallPower(x.dtype, y);
  if (k) {
    const F = x.dtype === "float64" ? m.f64 : m.f32;
    // the base in a local, read k times
    const held = (type: binaryen.Type, v: Expr, mul: (a: Expr, b: Expr) => Expr) => {
      const l = ctx.fn.local(type);
      return m.block(null, [l.set(v), powByProducts(mul, () => l.get(), k)], type);
    };
    emitElementwise(ctx, {
      inputs: [x, y], output: out,
      scalar: ([xv]) => held(x.dtype === "float64" ? binaryen.f64 : binaryen.f32, xv, (a, b) => F.mul(a, b)),
      simd: ([xv]) => held(binaryen.v128, xv, (a, b) => m.f32x4.mul(a, b)),
    });
    return;
  }
  emitElementwise(ctx, { inputs: [x, y], output: out, scalar: powScalar(ctx, x.dtype, y.dtype, out.dtype) });
});

export const KERNELS = table.families;
