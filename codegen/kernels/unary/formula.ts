// The vocabulary unary formulas are written in (codegen/kernels/unary/ops.ts): float arithmetic
// in one precision, f32x4 arithmetic, and integer views, each bound to a module and layer.
import binaryen from "binaryen";
import { dtype, type DTypeName } from "../../../runtime/dtypes.js";
import type { Expr } from "../../fn.js";
import type { Precision } from "../../math.js";
import { i64 } from "../../math/lib.js";
import { scalarOps, vectorOps } from "../../math/ops.js";
import { inlineVector } from "../../math/vector.js";
import { wasmType } from "../../memory.js";
import type { KernelCtx } from "../kernel.js";

// one table per math library (and function, for vectors) and precision, as math/ops.ts keeps them
const floatTables = new WeakMap<object, Map<Precision, ReturnType<typeof makeFloatOps>>>();
const vecTables = new WeakMap<object, WeakMap<object, ReturnType<typeof makeVecOps>>>();

/** Arithmetic in one float precision, so a formula is written once for f32 and f64. */
export function floatOps(m: binaryen.Module, p: Precision, ctx: KernelCtx) {
  let byP = floatTables.get(ctx.math);
  if (!byP) floatTables.set(ctx.math, (byP = new Map()));
  let ops = byP.get(p);
  if (!ops) byP.set(p, (ops = makeFloatOps(m, p, ctx)));
  return ops;
}
export type FloatOps = ReturnType<typeof floatOps>;

function makeFloatOps(m: binaryen.Module, p: Precision, ctx: KernelCtx) {
  const math = ctx.math;
  return { ...scalarOps(m, p), math: (name: string, ...args: Expr[]) => math.call(name, p, ...args) };
}

/** f32x4 arithmetic for the SIMD forms. */
export function vecOps(m: binaryen.Module, ctx: KernelCtx) {
  let byFn = vecTables.get(ctx.math);
  if (!byFn) vecTables.set(ctx.math, (byFn = new WeakMap()));
  let ops = byFn.get(ctx.fn);
  if (!ops) byFn.set(ctx.fn, (ops = makeVecOps(m, ctx)));
  return ops;
}
export type VecOps = ReturnType<typeof vecOps>;

function makeVecOps(m: binaryen.Module, ctx: KernelCtx) {
  const { fn, math } = ctx;
  // the module's table underneath, this function's math on top: one object per layer, not a copy
  const ops: ReturnType<typeof vectorOps> & { math: (name: string, x: Expr) => Expr } = Object.create(vectorOps(m));
  ops.math = (name, x) => inlineVector(m, fn, name, x) ?? math.call4(name, x);
  return ops;
}

/** Integer view: i32 or i64 compute type, signedness from the dtype. */
export function intOps(m: binaryen.Module, dt: DTypeName) {
  const wide = wasmType(dt) === binaryen.i64;
  const I = wide ? m.i64 : m.i32;
  const signed = dtype(dt).signed;
  return {
    dt,
    signed,
    c: (v: number) => (wide ? i64(m, BigInt(v)) : m.i32.const(v)),
    sub: (a: Expr, b: Expr) => I.sub(a, b),
    xor: (a: Expr, b: Expr) => I.xor(a, b),
    lt: (a: Expr, b: Expr) => (signed ? I.lt_s(a, b) : I.lt_u(a, b)),
    gt: (a: Expr, b: Expr) => (signed ? I.gt_s(a, b) : I.gt_u(a, b)),
    ne: (a: Expr, b: Expr) => I.ne(a, b),
    /** an i32 condition as this int type (0/1) */
    fromBool: (b: Expr) => (wide ? m.i64.extend_u(b) : b),
    select: (cond: Expr, a: Expr, b: Expr) => m.select(cond, a, b),
  };
}
export type IntOps = ReturnType<typeof intOps>;

/** x is a getter: the loaded value sits in a local, so a formula may read it more than once. */
type Get = () => Expr;

export interface UnaryOp {
  /** the op's domain when it is not ai.onnx (ai.onnx.ml) */
  domain?: string;
  float?: (F: FloatOps, x: Get, ctx: KernelCtx) => Expr;
  simd?: (V: VecOps, x: Get, ctx: KernelCtx) => Expr;
  int?: (I: IntOps, x: Get, ctx: KernelCtx) => Expr;
  /** the integer formula is defined for signed types only (Neg) */
  signedOnly?: boolean;
  /** integer inputs computed by the float formula in f64 and cast back (Shrink) */
  intViaF64?: boolean;
  bool?: (m: binaryen.Module, x: Get) => Expr;
}
