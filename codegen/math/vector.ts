// f32x4 versions of the hot functions (exp, expm1, log, sigmoid, tanh, erf) for SIMD inner loops:
// branch-free polynomial approximations with range reduction, a few ulp from the f32 result.
// Saturation comes from clamping (exp) or from limits of the formulas; f32x4.min/max propagate
// NaN, so NaN lanes stay NaN.
import binaryen from "binaryen";
import { Fn, type Expr, type Local } from "../fn.js";
import { defineMath } from "../math.js";
import { invFactorials } from "./lib.js";
import { vectorOps } from "./ops.js";

export type V = ReturnType<typeof vectorOps>;

type VectorBody = (m: binaryen.Module, fn: Fn, x: Local, V: V) => Expr[];
const bodies = new Map<string, VectorBody>();

/** Define vector function `name`4: one v128 param; body returns statements ending in the result. */
export function defineVector(name: string, body: VectorBody): void {
  bodies.set(name, body);
  defineMath(`${name}4`, (m, fname) => {
    const fn = new Fn(m, fname, [binaryen.v128]);
    const stmts = body(m, fn, fn.param(0), vectorOps(m));
    fn.emit(...stmts.slice(0, -1), m.return(stmts[stmts.length - 1]));
    fn.finish(binaryen.v128);
  });
}

/**
 * The vector function `name` expanded in place inside `fn` (no call): hot elementwise loops use
 * this, since a call per four lanes costs a quarter to a third of the time when nothing inlines
 * it (kiln does not run Binaryen's optimizer by default). undefined when there is no such function.
 */
export function inlineVector(m: binaryen.Module, fn: Fn, name: string, arg: Expr): Expr | undefined {
  const body = bodies.get(name);
  if (!body) return undefined;
  const x = fn.local(binaryen.v128);
  return m.block(null, [x.set(arg), ...body(m, fn, x, vectorOps(m))], binaryen.v128);
}

/**
 * x^2, x^4, ... in locals set by `stmts`, as many as Estrin's scheme over `terms` coefficients reads
 * (V.estrin); pow(h) reads x^h.
 */
function powers(fn: Fn, V: V, x: Local, terms: number): { stmts: Expr[]; pow: (h: number) => Expr } {
  const ls = [x];
  const stmts: Expr[] = [];
  for (let h = 2; h < terms; h *= 2) {
    const prev = ls[ls.length - 1], l = fn.local(binaryen.v128);
    stmts.push(l.set(V.mul(prev.get(), prev.get())));
    ls.push(l);
  }
  return { stmts, pow: (h) => ls[Math.log2(h)].get() };
}

const LOG2E = 1.44269504088896341;
const LN2_HI = 0.693359375; // exact in f32, so k * LN2_HI is exact for |k| < 2^15
const LN2_LO = Math.LN2 - LN2_HI;
const EXP_POLY = invFactorials(7); // |r| <= 0.35: error below 1e-8 relative

/** 1.5 * 2^23: an f32 in [2^23, 2^24) has ulp 1, so adding this rounds to an integer (ties to even) */
const ROUNDER = 12582912;
const ROUNDER_BITS = 0x4b400000;

/**
 * exp of each lane of x (a local that is overwritten). x is clamped to [-104, 89] (beyond, the f32
 * result is 0 or inf anyway); 2^k is applied as 2^k1 * 2^k2 so that k in [-150, 129] stays in range.
 * k = round(x log2 e) comes from t = x log2 e + 1.5 * 2^23: t - 1.5 * 2^23 is k as a float (what
 * f32x4.nearest gives) and t's bits minus the constant's are k as an integer, in place of
 * i32x4.trunc_sat_f32x4_s, which takes about eight instructions on x64 for its NaN and overflow rules.
 */
function expLanes(m: binaryen.Module, fn: Fn, x: Local, V: V): { stmts: Expr[]; result: Expr } {
  const t = fn.local(binaryen.v128);
  const k = fn.local(binaryen.v128);
  const r = fn.local(binaryen.v128);
  const ki = fn.local(binaryen.v128);
  const k1 = fn.local(binaryen.v128);
  const Q = EXP_POLY.slice(2);
  const rp = powers(fn, V, r, Q.length);
  const pow2 = (e: Expr) => m.i32x4.shl(m.i32x4.add(e, m.i32x4.splat(m.i32.const(127))), m.i32.const(23));
  return {
    stmts: [
      x.set(V.maxBound(V.minBound(x.get(), V.c(89)), V.c(-104))), // NaN lanes stay NaN (bound second)
      t.set(V.add(V.mul(x.get(), V.c(LOG2E)), V.c(ROUNDER))),
      k.set(V.sub(t.get(), V.c(ROUNDER))),
      r.set(V.sub(V.sub(x.get(), V.mul(k.get(), V.c(LN2_HI))), V.mul(k.get(), V.c(LN2_LO)))),
      ki.set(m.i32x4.sub(t.get(), m.i32x4.splat(m.i32.const(ROUNDER_BITS)))),
      k1.set(m.i32x4.shr_s(ki.get(), m.i32.const(1))),
      ...rp.stmts,
    ],
    // 1 + (r + r^2 q(r)): the last add rounds once, the errors of q's shorter (Estrin) chain come in scaled by r^2
    result: V.mul(V.mul(V.add(V.c(1), V.add(r.get(), V.mul(rp.pow(2), V.estrin(rp.pow, Q)))), pow2(k1.get())), pow2(m.i32x4.sub(ki.get(), k1.get()))),
  };
}

defineVector("exp", (m, fn, x, V) => {
  const { stmts, result } = expLanes(m, fn, x, V);
  return [...stmts, result];
});

// expm1: Taylor polynomial for |x| < 0.35 (where exp(x) - 1 cancels), exp(x) - 1 elsewhere.
const EXPM1_POLY = invFactorials(9).slice(1); // x * (1 + x/2 + ...): r^9/9! at 0.35 is 2e-9 relative
defineVector("expm1", (m, fn, x, V) => {
  const e = fn.local(binaryen.v128);
  const { stmts, result } = expLanes(m, fn, e, V);
  return [
    e.set(x.get()),
    ...stmts,
    V.select(m.f32x4.lt(V.abs(x.get()), V.c(0.35)), V.mul(x.get(), V.horner(x.get, EXPM1_POLY)), V.sub(result, V.c(1))),
  ];
});

// log: x = 2^e f with f in [sqrt(1/2), sqrt(2)), log f = 2 atanh(s) with s = (f-1)/(f+1), |s| <= 0.172.
// Subnormals are scaled by 2^23 first; 0, negatives, inf and NaN are patched in at the end.
const ATANH_SERIES = [1, 1 / 3, 1 / 5, 1 / 7, 1 / 9, 1 / 11];
defineVector("log", (m, fn, x, V) => logLanes(m, fn, x, V));

// log1p(x) = log(u) * x / (u - 1) with u = 1 + x: the quotient cancels the rounding of u.
defineVector("log1p", (m, fn, x, V) => {
  const u = fn.local(binaryen.v128);
  const lu = fn.local(binaryen.v128);
  const log = logLanes(m, fn, lu, V);
  return [
    u.set(V.add(x.get(), V.c(1))),
    lu.set(u.get()),
    ...log.slice(0, -1),
    lu.set(log[log.length - 1]),
    V.select(m.v128.or(V.eq(u.get(), V.c(1)), V.eq(u.get(), V.c(Infinity))), V.select(V.eq(u.get(), V.c(1)), x.get(), u.get()),
      V.select(V.eq(u.get(), V.c(0)), lu.get(), V.mul(lu.get(), V.div(x.get(), V.sub(u.get(), V.c(1)))))),
  ];
});

function logLanes(m: binaryen.Module, fn: Fn, x: Local, V: V): Expr[] {
  const i = m.i32x4;
  const ic = (v: number) => i.splat(m.i32.const(v));
  const sub = fn.local(binaryen.v128);
  const bits = fn.local(binaryen.v128);
  const e = fn.local(binaryen.v128);
  const f = fn.local(binaryen.v128);
  const big = fn.local(binaryen.v128);
  const s = fn.local(binaryen.v128);
  const z = fn.local(binaryen.v128);
  const res = fn.local(binaryen.v128);
  return [
    sub.set(m.f32x4.lt(x.get(), V.c(1.1754943508222875e-38))),
    bits.set(V.select(sub.get(), V.mul(x.get(), V.c(2 ** 23)), x.get())),
    e.set(i.sub(i.sub(i.shr_u(bits.get(), m.i32.const(23)), ic(127)), m.v128.and(sub.get(), ic(23)))),
    f.set(m.v128.or(m.v128.and(bits.get(), ic(0x007fffff)), ic(0x3f800000))),
    big.set(m.f32x4.gt(f.get(), V.c(Math.SQRT2))),
    f.set(V.select(big.get(), V.mul(f.get(), V.c(0.5)), f.get())),
    e.set(i.sub(e.get(), big.get())), // the mask is -1 where f was halved
    s.set(V.div(V.sub(f.get(), V.c(1)), V.add(f.get(), V.c(1)))),
    z.set(V.mul(s.get(), s.get())),
    res.set(m.f32x4.convert_i32x4_s(e.get())),
    res.set(V.add(V.add(V.mul(V.c(2), V.mul(s.get(), V.horner(z.get, ATANH_SERIES))), V.mul(res.get(), V.c(LN2_LO))),
      V.mul(res.get(), V.c(LN2_HI)))),
    res.set(V.select(V.eq(x.get(), V.c(Infinity)), x.get(), res.get())),
    res.set(V.select(V.eq(x.get(), V.c(0)), V.c(-Infinity), res.get())),
    V.select(m.v128.not(m.f32x4.ge(x.get(), V.c(0))), V.c(NaN), res.get()),
  ];
}

// sigmoid = 1 / (1 + exp(-x)); exp(-x) = inf for very negative x gives 0.
defineVector("sigmoid", (m, fn, x, V) => {
  const nx = fn.local(binaryen.v128);
  const { stmts, result } = expLanes(m, fn, nx, V);
  return [nx.set(m.f32x4.neg(x.get())), ...stmts, V.div(V.c(1), V.add(V.c(1), result))];
});

// tanh: odd Taylor polynomial for |x| < 0.55 (where 1 - 2/(e^2x + 1) would cancel), else
// 1 - 2/(exp(2|x|) + 1) with the sign of x; exp saturating to inf gives exactly 1.
const TANH_TAYLOR = [1, -1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925, 21844 / 6081075,
  -929569 / 638512875, 6404582 / 10854718875];
defineVector("tanh", (m, fn, x, V) => {
  const e = fn.local(binaryen.v128);
  const z = fn.local(binaryen.v128);
  const { stmts, result } = expLanes(m, fn, e, V);
  return [
    e.set(V.mul(V.c(2), V.abs(x.get()))),
    ...stmts,
    e.set(V.copysign(V.sub(V.c(1), V.div(V.c(2), V.add(result, V.c(1)))), x.get())),
    z.set(V.mul(x.get(), x.get())),
    V.select(m.f32x4.lt(V.abs(x.get()), V.c(0.55)), V.mul(x.get(), V.horner(z.get, TANH_TAYLOR)), e.get()),
  ];
});

// erf: rational approximation x P(x^2) / Q(x^2) on [-4, 4] (Eigen's generic_fast_erf_float;
// max error 4e-7), inputs clamped to [-4, 4] where erf is +-1 in f32.
const ERF_P = [-1.60960333262415e-02, -2.95459980854025e-03, -7.34990630326855e-04, -5.69250639462346e-05,
  -2.10102402082508e-06, 2.77068142495902e-08, -2.72614225801306e-10];
const ERF_Q = [-1.42647390514189e-02, -7.37332916720468e-03, -1.68282697438203e-03, -2.13374055278905e-04,
  -1.45660718464996e-05];
defineVector("erf", (m, fn, x, V) => {
  const c = fn.local(binaryen.v128);
  const z = fn.local(binaryen.v128);
  const zp = powers(fn, V, z, Math.max(ERF_P.length, ERF_Q.length));
  return [
    c.set(V.maxBound(V.minBound(x.get(), V.c(4)), V.c(-4))), // NaN lanes stay NaN (bound second)
    z.set(V.mul(c.get(), c.get())),
    ...zp.stmts,
    V.mul(c.get(), V.div(V.estrin(zp.pow, ERF_P), V.estrin(zp.pow, ERF_Q))), // x last: subnormal x rounds once
  ];
});
