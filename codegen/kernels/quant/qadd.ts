// The 8-bit sum of a QDQ group DequantizeLinear(a), DequantizeLinear(b) -> Add (-> Relu | Clip)
// -> QuantizeLinear, 16 elements a vector, computed with the group's own float32 arithmetic:
// y = (a - za) * sa + (b - zb) * sb, clamped, q = round_half_even(y / sy) + zy, saturated. That is
// what onnxruntime's plain run computes element by element, so the two agree bit for bit.
import binaryen from "binaryen";
import type { Expr, Local } from "../../fn.js";
import { lastThread, stepShare } from "../../threads.js";
import { storeBytes } from "./qgemm-store.js";
import { nearestPlusZp, ROUND_BOUND, roundBias } from "./common.js";
import type { KernelCtx } from "../kernel.js";

export interface QAddPlan {
  /** input slots of a and b, their dtypes, scales and zero points */
  a: { index: number; signed: boolean; scale: number; zp: number };
  b: { index: number; signed: boolean; scale: number; zp: number };
  yScale: number;
  yZp: number;
  ySigned: boolean;
  lo?: number;
  hi?: number;
  size: number;
}

export function emitQAdd(ctx: KernelCtx, p: QAddPlan): void {
  const { m, fn } = ctx;
  const a = ctx.input(p.a.index), b = ctx.input(p.b.index), y = ctx.output(0);
  // symbolic dims: a, b and y of one shape share one padded layout, so the whole slot adds (the
  // padding's bytes too, never read as values)
  if (a.dims.join() === y.dims.join() && b.dims.join() === y.dims.join()) ctx.readsPadded();
  const f = (v: number) => m.f32x4.splat(m.f32.const(v));
  const bytes = [fn.local(binaryen.v128), fn.local(binaryen.v128)];
  const out = fn.local(binaryen.v128);
  // no lane can be NaN (scales far from overflow, y_scale finite and not 0): the short exact rounding (common.ts nearestPlusZp)
  const short = Math.abs(p.a.scale) < 1e30 && Math.abs(p.b.scale) < 1e30 && Number.isFinite(p.yScale) && p.yScale !== 0;
  /** four i32x4 of (x - zp) for 16 bytes of one operand */
  const quarters = (v: Local, signed: boolean, zp: number): Expr[] => {
    const halves = [false, true].map((high) => (signed
      ? (high ? m.i16x8.extend_high_i8x16_s(v.get()) : m.i16x8.extend_low_i8x16_s(v.get()))
      : (high ? m.i16x8.extend_high_i8x16_u(v.get()) : m.i16x8.extend_low_i8x16_u(v.get()))));
    return halves.flatMap((h) => [m.i32x4.extend_low_i16x8_s(h), m.i32x4.extend_high_i16x8_s(h)])
      .map((q) => m.i32x4.sub(q, m.i32x4.splat(m.i32.const(zp))));
  };
  const lanes = (n: number, at: Expr): Expr[] => {
    const code: Expr[] = [];
    const load = (t: { addr: number }, k: number) => {
      if (n === 16) return m.v128.load(t.addr, 1, at);
      let v = m.v128.const(new Array(16).fill(0));
      for (let q = 0; q < n; q++) v = m.v128.load8_lane(t.addr + q, 1, q, at, v);
      return v;
    };
    code.push(bytes[0].set(load(a, 0)), bytes[1].set(load(b, 1)));
    const qa = quarters(bytes[0], p.a.signed, p.a.zp), qb = quarters(bytes[1], p.b.signed, p.b.zp);
    const q = qa.map((x, k) => {
      let v = m.f32x4.add(m.f32x4.mul(m.f32x4.convert_i32x4_s(x), f(p.a.scale)), m.f32x4.mul(m.f32x4.convert_i32x4_s(qb[k]), f(p.b.scale)));
      if (p.lo !== undefined) v = m.f32x4.pmax(v, f(p.lo));
      if (p.hi !== undefined) v = m.f32x4.pmin(v, f(p.hi));
      const y = m.f32x4.div(v, f(p.yScale));
      if (short) return nearestPlusZp(m, m.f32x4.pmin(m.f32x4.pmax(y, f(-ROUND_BOUND)), f(ROUND_BOUND)), roundBias(m, m.i32.const(p.yZp)));
      return m.i32x4.trunc_sat_f32x4_s(m.f32x4.add(m.f32x4.nearest(y), f(p.yZp)));
    });
    const lo = m.i16x8.narrow_i32x4_s(q[0], q[1]), hi = m.i16x8.narrow_i32x4_s(q[2], q[3]);
    code.push(out.set(p.ySigned ? m.i8x16.narrow_i16x8_s(lo, hi) : m.i8x16.narrow_i16x8_u(lo, hi)));
    return code;
  };
  const i = fn.local(binaryen.i32);
  const full = p.size - (p.size % 16);
  // at threads each takes a contiguous share of the vectors, the last one the tail too
  const vectors = full / 16;
  const threads = vectors > 1 ? ctx.splitAmong() : undefined;
  if (full > 0) {
    const step = (k: Local): Expr[] => [i.set(k.get()), ...lanes(16, i.get()), m.v128.store(y.addr, 1, i.get(), out.get())];
    const share = threads && stepShare(m, threads, vectors, 16);
    fn.emit(share ? fn.loopDyn(share.lo, share.hi, step, 16) : fn.loop(full, step, { step: 16 }));
  }
  if (p.size % 16) {
    const tail = [i.set(m.i32.const(full)), ...lanes(p.size % 16, i.get()), ...storeBytes(m, y.addr, i.get, out.get, p.size % 16)];
    fn.emit(threads ? m.if(lastThread(m, threads), fn.block(tail)) : fn.block(tail));
  }
}
