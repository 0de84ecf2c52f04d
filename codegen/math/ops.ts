// Short-named float arithmetic bound to a module, one shape for f32, f64 and f32x4, so that a
// formula (a math-library body, an activation) is written once for every precision.
import binaryen from "binaryen";
import type { Expr } from "../fn.js";
import type { Precision } from "../math.js";

type Un = (a: Expr) => Expr;
type Bin = (a: Expr, b: Expr) => Expr;
/** the operations f32, f64 and f32x4 share in binaryen, under the same names */
interface Arith {
  add: Bin; sub: Bin; mul: Bin; div: Bin; min: Bin; max: Bin; lt: Bin; gt: Bin; eq: Bin; ne: Bin;
  abs: Un; neg: Un; sqrt: Un; floor: Un; ceil: Un; nearest: Un;
}

function shared(T: Arith, c: (v: number) => Expr) {
  return {
    c,
    add: (a: Expr, b: Expr) => T.add(a, b),
    sub: (a: Expr, b: Expr) => T.sub(a, b),
    mul: (a: Expr, b: Expr) => T.mul(a, b),
    div: (a: Expr, b: Expr) => T.div(a, b),
    min: (a: Expr, b: Expr) => T.min(a, b),
    max: (a: Expr, b: Expr) => T.max(a, b),
    lt: (a: Expr, b: Expr) => T.lt(a, b),
    gt: (a: Expr, b: Expr) => T.gt(a, b),
    eq: (a: Expr, b: Expr) => T.eq(a, b),
    ne: (a: Expr, b: Expr) => T.ne(a, b),
    abs: (a: Expr) => T.abs(a),
    neg: (a: Expr) => T.neg(a),
    sqrt: (a: Expr) => T.sqrt(a),
    floor: (a: Expr) => T.floor(a),
    ceil: (a: Expr) => T.ceil(a),
    nearest: (a: Expr) => T.nearest(a),
    /** c[0] + x*(c[1] + x*(c[2] + ...)) */
    horner: (x: () => Expr, coeffs: readonly number[]): Expr => {
      let acc = c(coeffs[coeffs.length - 1]);
      for (let i = coeffs.length - 2; i >= 0; i--) acc = T.add(T.mul(acc, x()), c(coeffs[i]));
      return acc;
    },
    /**
     * The same polynomial by Estrin's scheme: (c0 + c1 x) + x^2 (c2 + c3 x), halves joined by x^4,
     * ... Its dependency chain is about log2(n) multiply-adds long instead of n: in a SIMD loop the
     * core overlaps few iterations of a long chain (its FP scheduler fills first), so this runs
     * faster though it does a multiply or two more. pow(h) reads x^h for h = 1, 2, 4, ...
     */
    estrin: (pow: (h: number) => Expr, coeffs: readonly number[]): Expr => {
      const part = (lo: number, n: number): Expr => {
        if (n === 1) return c(coeffs[lo]);
        let h = 1;
        while (2 * h < n) h *= 2;
        return T.add(part(lo, h), T.mul(part(lo + h, n - h), pow(h)));
      };
      return part(0, coeffs.length);
    },
  };
}

/**
 * One table per module and precision: a table is some thirty closures, and a fused loop asks for
 * one per body op (a 200,000-op chain spent seconds building them, more collecting them).
 */
const scalarTables = new WeakMap<binaryen.Module, Map<Precision, ReturnType<typeof makeScalarOps>>>();
const vectorTables = new WeakMap<binaryen.Module, ReturnType<typeof makeVectorOps>>();

/** scalar ops in precision p */
export function scalarOps(m: binaryen.Module, p: Precision) {
  let byP = scalarTables.get(m);
  if (!byP) scalarTables.set(m, (byP = new Map()));
  let ops = byP.get(p);
  if (!ops) byP.set(p, (ops = makeScalarOps(m, p)));
  return ops;
}

/** f32x4 ops under the same names (comparisons give lane masks) */
export function vectorOps(m: binaryen.Module) {
  let ops = vectorTables.get(m);
  if (!ops) vectorTables.set(m, (ops = makeVectorOps(m)));
  return ops;
}

function makeScalarOps(m: binaryen.Module, p: Precision) {
  const T = p === "f32" ? m.f32 : m.f64;
  return {
    ...shared(T, (v) => T.const(v)),
    p,
    copysign: (mag: Expr, sign: Expr) => T.copysign(mag, sign),
    isNaN: (a: Expr) => T.ne(a, a),
    /** max / min of a and a bound that is not NaN, NaN in a kept (as max / min) */
    maxBound: (a: Expr, bound: Expr) => T.max(a, bound),
    minBound: (a: Expr, bound: Expr) => T.min(a, bound),
    /** a where cond else b */
    select: (cond: Expr, a: Expr, b: Expr) => m.select(cond, a, b),
    /** toward zero as an i32, saturating (NaN is 0) */
    truncI32: (a: Expr) => (p === "f32" ? m.i32.trunc_s_sat.f32(a) : m.i32.trunc_s_sat.f64(a)),
    /** a signed i32 in this precision */
    fromI32: (a: Expr) => T.convert_s.i32(a),
  };
}

function makeVectorOps(m: binaryen.Module) {
  return {
    ...shared(m.f32x4, (x) => m.f32x4.splat(m.f32.const(x))),
    /** the sign bit of `sign` on the magnitude of `mag` */
    copysign: (mag: Expr, sign: Expr) => m.v128.or(m.v128.and(sign, m.i32x4.splat(m.i32.const(0x80000000 | 0))), m.f32x4.abs(mag)),
    /**
     * max / min of a and a bound that is not NaN: pmax(a, b) = a < b ? b : a is one maxps where
     * f32x4.max costs about eight instructions on x64, and a NaN lane of a fails the compare, so
     * stays NaN (Relu, Clip in epilogues)
     */
    maxBound: (a: Expr, bound: Expr) => m.f32x4.pmax(a, bound),
    minBound: (a: Expr, bound: Expr) => m.f32x4.pmin(a, bound),
    /** lanes of a where mask, else b */
    select: (mask: Expr, a: Expr, b: Expr) => m.v128.bitselect(a, b, mask),
  };
}
