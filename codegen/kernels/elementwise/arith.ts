// Arithmetic with numpy broadcasting: Add Sub Mul Div Mod, variadic Max Min Sum Mean, and PRelu.
// Integer ops wrap around like onnxruntime's C++ and never trap: x / 0 and x % 0 give 0 (C leaves
// them undefined; x86 raises SIGFPE), INT_MIN / -1 gives INT_MIN (wrapped negation).
import binaryen from "binaryen";
import { dtype, type DTypeName } from "../../../runtime/dtypes.js";
import type { Expr } from "../../fn.js";
import { isFloat, wasmType } from "../../memory.js";
import { anyLanes, bind, i64, BroadcastTable, laneOp, scalarOps, type LaneKind } from "./ops.js";
import type { KernelCtx } from "../kernel.js";

const broadcast = new BroadcastTable();

const isSigned = (dt: DTypeName) => dtype(dt).signed;

/** the deepest a variadic op's fold nests its expressions (see foldLeft) */
const FOLD_DEPTH = 64;

/**
 * ((v0 op v1) op v2) ... in this order. Past FOLD_DEPTH operands the running value goes through a
 * local every FOLD_DEPTH steps: the same operations in the same order (a local holds the value
 * exactly), but no expression nests deeper than that. A Sum of 10,000 inputs nested 10,000 deep
 * overflowed binaryen's stack.
 */
export function foldLeft(ctx: KernelCtx, type: binaryen.Type, v: Expr[], op: (a: Expr, b: Expr) => Expr): Expr {
  if (v.length <= FOLD_DEPTH) return v.reduce(op);
  const acc = ctx.fn.local(type);
  const stmts: Expr[] = [];
  let cur = v[0];
  for (let k = 1; k < v.length; k++) {
    cur = op(cur, v[k]);
    if (k % FOLD_DEPTH === 0 && k < v.length - 1) {
      stmts.push(acc.set(cur));
      cur = acc.get();
    }
  }
  return ctx.m.block(null, [...stmts, cur], type);
}

/** a op b for two operands, folded left over more (variadic ops). */
const fold = (name: string) => (m: binaryen.Module, dt: DTypeName, v: Expr[], ctx: KernelCtx) => {
  const ops = scalarOps(m, dt);
  return foldLeft(ctx, ops.t, v, (a, b) => ops.op(name)(a, b));
};

const laneFold = (name: string) => (m: binaryen.Module, kind: LaneKind, v: Expr[], ctx: KernelCtx) => foldLeft(ctx, binaryen.v128, v, (a, b) => laneOp(m, kind, name)(a, b));

for (const [op, name] of [["Add", "add"], ["Sub", "sub"], ["Mul", "mul"]] as const) {
  broadcast.define(op, { scalar: fold(name), simd: laneFold(name), simdWhen: anyLanes });
}

/** Integer a / b and a % b without traps (see the header). */
function safeIntDivide(ctx: KernelCtx, dt: DTypeName, [a, b]: Expr[], rem: boolean): Expr {
  const m = ctx.m;
  const ops = scalarOps(m, dt);
  const t = ops.t;
  const c = (v: number) => (t === binaryen.i64 ? i64(m, v) : m.i32.const(v));
  return bind(ctx, [a, b], [t, t], ([x, y]) => {
    const zero = ops.op("eq")(y(), c(0));
    const minusOne = isSigned(dt) && !rem ? ops.op("eq")(y(), c(-1)) : undefined;
    const unsafe = minusOne ? m.i32.or(zero, minusOne) : zero;
    const q = ops.op(rem ? "rem" : "div")(x(), m.select(unsafe, c(1), y()));
    const wrapped = minusOne ? m.select(minusOne, ops.op("sub")(c(0), x()), q) : q;
    return m.select(ops.op("eq")(y(), c(0)), c(0), wrapped);
  });
}

broadcast.define("Div", {
  scalar: (m, dt, v, ctx) => (isFloat(dt) ? scalarOps(m, dt).op("div")(v[0], v[1]) : safeIntDivide(ctx, dt, v, false)),
  simd: (m, _k, [a, b]) => m.f32x4.div(a, b),
});

/** fmod=0 on signed ints: the remainder takes the divisor's sign (Python's %). */
function floorMod(ctx: KernelCtx, dt: DTypeName, v: Expr[]): Expr {
  const ops = scalarOps(ctx.m, dt);
  const m = ctx.m;
  return bind(ctx, [safeIntDivide(ctx, dt, v, true), v[1]], [ops.t, ops.t], ([r, b]) => {
    const z = ops.zero();
    const fix = m.i32.and(ops.op("ne")(r(), z), ops.op("lt")(ops.op("xor")(r(), b()), ops.zero()));
    return m.select(fix, ops.op("add")(r(), b()), r());
  });
}

broadcast.define("Mod", {
  scalar: (_m, dt, v, ctx) => {
    // exact C fmod (its f32 entry goes through f64, where f32 operands and the result are exact)
    if (isFloat(dt)) return ctx.math.call("fmod", wasmType(dt) === binaryen.f64 ? "f64" : "f32", v[0], v[1]);
    const c = ctx.attrs.int("fmod", 0) === 1 || !isSigned(dt);
    return c ? safeIntDivide(ctx, dt, v, true) : floorMod(ctx, dt, v);
  },
});

/** Max/Min: floats through f32.max/min, which propagate NaN like numpy; ints by signed/unsigned compare. */
function extreme(name: "max" | "min") {
  return (m: binaryen.Module, dt: DTypeName, v: Expr[], ctx: KernelCtx) => {
    const ops = scalarOps(m, dt);
    return foldLeft(ctx, ops.t, v, (a, b) => {
      if (ops.float) return ops.op(name)(a, b);
      return bind(ctx, [a, b], [ops.t, ops.t], ([x, y]) => m.select(ops.op(name === "max" ? "gt" : "lt")(x(), y()), x(), y()));
    });
  };
}

broadcast.define("Max", { scalar: extreme("max"), simd: laneFold("max"), simdWhen: anyLanes });
broadcast.define("Min", { scalar: extreme("min"), simd: laneFold("min"), simdWhen: anyLanes });
broadcast.define("Sum", { scalar: fold("add"), simd: laneFold("add") });
broadcast.define("Mean", {
  scalar: (m, dt, v, ctx) => {
    const ops = scalarOps(m, dt);
    const n = ops.t === binaryen.f64 ? m.f64.const(v.length) : m.f32.const(v.length);
    return ops.op("div")(fold("add")(m, dt, v, ctx), n);
  },
  simd: (m, k, v, ctx) => m.f32x4.div(laneFold("add")(m, k, v, ctx), m.f32x4.splat(m.f32.const(v.length))),
});

// PRelu: x < 0 ? slope * x : x, slope broadcast to x (the output has x's shape, so the loop's
// broadcasting is exactly the unidirectional rule).
broadcast.define("PRelu", {
  scalar: (m, dt, [x0, s0], ctx) => {
    const ops = scalarOps(m, dt);
    return bind(ctx, [x0, s0], [ops.t, ops.t], ([x, s]) => m.select(ops.op("lt")(x(), ops.zero()), ops.op("mul")(s(), x()), x()));
  },
  simd: (m, kind, [x0, s0], ctx) => bind(ctx, [x0, s0], [binaryen.v128, binaryen.v128], ([x, s]) =>
    m.v128.bitselect(laneOp(m, kind, "mul")(s(), x()), x(), laneOp(m, kind, "lt")(x(), kind === "f32" ? m.f32x4.splat(m.f32.const(0)) : m.i32x4.splat(m.i32.const(0))))),
  simdWhen: anyLanes,
});

export const ARITH_FORMULAS = broadcast.formulas;
export const KERNELS = broadcast.kernels();
