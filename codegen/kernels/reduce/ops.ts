// Arithmetic over one "width" of values: a scalar in a dtype's compute type, or an f32x4 vector.
// The reduction and normalization kernels are written once against this interface and emitted
// both ways (vector main loop, scalar tail), so the two paths cannot drift apart.
import binaryen from "binaryen";
import type { DTypeName } from "../../../runtime/dtypes.js";
import type { Expr, Fn, Local } from "../../fn.js";
import { constant, isUnsigned, load, store, wasmType } from "../../memory.js";
import type { MathLib } from "../../math.js";
import { inlineVector } from "../../math/vector.js";

export interface Ops {
  readonly w: 1 | 4;
  readonly type: binaryen.Type;
  c(v: number | bigint): Expr;
  add(a: Expr, b: Expr): Expr;
  sub(a: Expr, b: Expr): Expr;
  mul(a: Expr, b: Expr): Expr;
  div(a: Expr, b: Expr): Expr;
  max(a: Expr, b: Expr): Expr;
  min(a: Expr, b: Expr): Expr;
  abs(a: Expr): Expr;
  /** `a` where x equals y, else `b` (per lane for f32x4); each argument is evaluated once */
  whereEqual(x: Expr, y: Expr, a: Expr, b: Expr): Expr;
  sqrt(a: Expr): Expr;
  exp(a: Expr): Expr;
  log(a: Expr): Expr;
  /** a scalar of the same compute type spread over the width */
  splat(s: Expr): Expr;
  local(): Local;
  /** load element(s) of dtype dt at byte address ptr + offset, in this width's type */
  load(dt: DTypeName, ptr: Expr, offset: number): Expr;
  store(dt: DTypeName, ptr: Expr, offset: number, v: Expr): Expr;
}

/** NaN-propagating max/min for scalars (wasm f32.max already propagates NaN, like numpy). */
export function scalarOps(m: binaryen.Module, fn: Fn, math: MathLib, dt: DTypeName): Ops {
  const type = wasmType(dt);
  const f = type === binaryen.f32 ? m.f32 : type === binaryen.f64 ? m.f64 : undefined;
  const i = type === binaryen.i64 ? m.i64 : m.i32;
  const p = type === binaryen.f64 ? "f64" : "f32";
  const u = isUnsigned(dt);
  const pick = (gt: (a: Expr, b: Expr) => Expr) => (a: Expr, b: Expr) => {
    const x = fn.local(type);
    const y = fn.local(type);
    return fn.m.block(null, [x.set(a), y.set(b), m.select(gt(x.get(), y.get()), x.get(), y.get())], type);
  };
  const noFloat = (): never => { throw new Error(`float function on integer type ${dt}`); };
  return {
    w: 1,
    type,
    c: (v) => constant(m, dt, v),
    add: (a, b) => (f ? f.add(a, b) : i.add(a, b)),
    sub: (a, b) => (f ? f.sub(a, b) : i.sub(a, b)),
    mul: (a, b) => (f ? f.mul(a, b) : i.mul(a, b)),
    div: (a, b) => (f ? f.div(a, b) : u ? i.div_u(a, b) : i.div_s(a, b)),
    max: f ? (a, b) => f.max(a, b) : pick(u ? i.gt_u : i.gt_s),
    min: f ? (a, b) => f.min(a, b) : pick(u ? i.lt_u : i.lt_s),
    abs: (a) => {
      if (f) return f.abs(a);
      if (u) return a;
      const x = fn.local(type);
      return fn.m.block(null, [x.set(a), m.select(i.lt_s(x.get(), i.const(0 as never)), i.sub(i.const(0 as never), x.get()), x.get())], type);
    },
    whereEqual: (x, y, a, b) => m.select(f ? f.eq(x, y) : i.eq(x, y), a, b),
    sqrt: (a) => (f ? f.sqrt(a) : noFloat()),
    exp: (a) => (f ? math.call("exp", p, a) : noFloat()),
    log: (a) => (f ? math.call("log", p, a) : noFloat()),
    splat: (s) => s,
    local: () => fn.local(type),
    load: (d, ptr, offset) => load(m, d, ptr, offset),
    store: (d, ptr, offset, v) => store(m, d, ptr, v, offset),
  };
}

/** f32x4 ops; exp/log use the vector math library (inlined) when it has them, else four scalar calls. */
export function vectorOps(m: binaryen.Module, fn: Fn, math: MathLib): Ops {
  const lanes = (name: string) => (a: Expr): Expr => {
    // expanded in place: a call per four lanes costs more than the polynomial (softmax rows)
    if (math.hasVector(name)) return inlineVector(m, fn, name, a) ?? math.call4(name, a);
    const x = fn.local(binaryen.v128);
    let v: Expr = m.f32x4.splat(math.call(name, "f32", m.f32x4.extract_lane(x.tee(a), 0)));
    for (let k = 1; k < 4; k++) v = m.f32x4.replace_lane(v, k, math.call(name, "f32", m.f32x4.extract_lane(x.get(), k)));
    return v;
  };
  // f32x4.max/min propagate NaN like the scalar forms (pmax/pmin would not)
  return {
    w: 4,
    type: binaryen.v128,
    c: (v) => m.f32x4.splat(m.f32.const(Number(v))),
    add: (a, b) => m.f32x4.add(a, b),
    sub: (a, b) => m.f32x4.sub(a, b),
    mul: (a, b) => m.f32x4.mul(a, b),
    div: (a, b) => m.f32x4.div(a, b),
    max: (a, b) => m.f32x4.max(a, b),
    min: (a, b) => m.f32x4.min(a, b),
    abs: (a) => m.f32x4.abs(a),
    whereEqual: (x, y, a, b) => m.v128.bitselect(a, b, m.f32x4.eq(x, y)),
    sqrt: (a) => m.f32x4.sqrt(a),
    exp: lanes("exp"),
    log: lanes("log"),
    splat: (s) => m.f32x4.splat(s),
    local: () => fn.local(binaryen.v128),
    load: (_d, ptr, offset) => m.v128.load(offset, 4, ptr),
    store: (_d, ptr, offset, v) => m.v128.store(offset, 4, ptr, v),
  };
}

/**
 * f32x4.max/min take several instructions on x64 for their NaN rules; max/min folds use the
 * one-instruction pmax/pmin, which skip NaN, and keep a mask of the lanes that saw one:
 * mask | (v != v), and at the end the folded value with NaN back in those lanes.
 */
export function noteNaN(m: binaryen.Module, mask: Expr, v: () => Expr): Expr {
  return m.v128.or(mask, m.f32x4.ne(v(), v()));
}

export function restoreNaN(m: binaryen.Module, v: Expr, mask: Expr): Expr {
  return m.v128.bitselect(m.f32x4.splat(m.f32.const(NaN)), v, mask);
}

/** Fold the four lanes of a vector into one f32 with a binary op (pairwise). */
export function horizontal(m: binaryen.Module, fn: Fn, v: Expr, op: (a: Expr, b: Expr) => Expr): Expr {
  const x = fn.local(binaryen.v128);
  const lane = (k: number) => m.f32x4.extract_lane(k === 0 ? x.tee(v) : x.get(), k);
  const a = op(lane(0), lane(1));
  return op(a, op(lane(2), lane(3)));
}
