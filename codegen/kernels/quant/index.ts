// DynamicQuantizeLinear, and the family's other kernel files (QuantizeLinear / DequantizeLinear
// in linear.ts; the quantized MatMul and Conv in matmul.ts and conv.ts, listed on their own).
import binaryen from "binaryen";
import { stridesOf, type Expr, type Local, type Trips } from "../../fn.js";
import { lastThread, stepShare } from "../../threads.js";
import { scalarOps } from "../../math/ops.js";
import { store } from "../../memory.js";
import { KernelTable } from "../kernel.js";
import { elem, nearestPlusZp, quantize, ROUND_BOUND, roundBias } from "./common.js";
import { KERNELS as LINEAR } from "./linear.js";

// other families read tensors through these
export { byteAt, elem, quantize, scaleAt, zeroPoint } from "./common.js";

const table = new KernelTable();

// uint8 over [min(0, x), max(0, x)]: scale = range / 255, zero point = round(-min / scale).
// A zero range takes scale 1 (as onnxruntime), so an all-zero input quantizes to zeros, not NaN.
// NaN elements, which the spec leaves open, go as in onnxruntime: left out of the range, and
// quantized to 0 (the truncating conversion's NaN).
// Both passes over x run 4 lanes at a time (min/max with NaN kept, then x / scale rounded, shifted, saturated by
// the narrowing instructions), the same arithmetic as the scalar tail.
// At threads each thread takes its share of the vectors in both passes (the scalar tails on the
// last thread): its min and max go to its scratch, a barrier, and every thread takes the min and
// max of all of them. Exact either way (the lanes start at 0 and take only smaller or larger
// values), so the range, and every byte, is one thread's. Over symbolic dims ([1, seq, K], or
// [batch, seq, K] in the padded layout) both passes run this run's elements, on one thread.
table.add("DynamicQuantizeLinear", (ctx) => {
  const { m, fn } = ctx;
  const x = ctx.input(0);
  const [y, yScale, yZp] = [ctx.output(0), ctx.output(1), ctx.output(2)];
  const S = scalarOps(m, "f32");
  const [lo, hi, scale, zp] = [fn.local(binaryen.f32), fn.local(binaryen.f32), fn.local(binaryen.f32), fn.local(binaryen.i32)];
  const [vlo, vhi, vs, vz] = [fn.local(binaryen.v128), fn.local(binaryen.v128), fn.local(binaryen.v128), fn.local(binaryen.v128)];
  const f32 = x.dtype === "float32";
  const i32 = binaryen.i32;
  // symbolic dims (the padded layout): this run's elements, block by block (each block a run of
  // the last varying dim times the static dims after it, at the padded strides; the prefix form
  // is one block), the vector loops to each block's whole vectors, one thread: the range is over
  // the run's elements, never the padding
  const xe = ctx.symbolic?.dims.get(x.name);
  const kv = xe ? xe.reduce<number>((a, d, j) => (typeof d === "number" ? a : j), -1) : -1;
  const blocks = kv < 0 ? undefined : (() => {
    const st = stridesOf(x.dims), inner = x.dims.slice(kv + 1).reduce((a, b) => a * b, 1);
    const outer: Trips[] = x.dims.slice(0, kv).map((d, j) => (ctx.runtimeDim(x, j) !== undefined ? () => ctx.runtimeDim(x, j)! : d));
    const base = fn.local(i32), len = fn.local(i32);
    /** body in each block of the run, base and len set to its first element and its length */
    const each = (body: () => Expr[]): Expr => {
      const set = (at: Expr) => [base.set(at), len.set(m.i32.mul(ctx.runtimeDim(x, kv)!, m.i32.const(inner))), ...body()];
      return outer.length ? fn.nest(outer, (idx) => set(fn.linear(idx, st.slice(0, kv)))) : fn.block(set(m.i32.const(0)));
    };
    const upTo = (step: number) => m.i32.add(base.get(), m.i32.and(len.get(), m.i32.const(~(step - 1))));
    return { each, base, len, upTo };
  })();
  const n4 = f32 ? x.size - (x.size % 4) : 0;
  const n16 = f32 ? x.size - (x.size % 16) : 0;
  const threads = n16 >= 32 && !blocks ? ctx.splitAmong() : undefined;
  const last = fn.local(i32);
  /** body over elements 0.. n in steps of `step` (n a multiple of it), or this thread's share of the steps */
  const steps = (n: number, step: number, body: (i: Local) => Expr[]): Expr => {
    if (blocks) return blocks.each(() => [fn.loopDyn(blocks.base.get(), blocks.upTo(step), body, step)]);
    if (!threads) return fn.loop(n, body, { step });
    const s = stepShare(m, threads, n / step, step);
    return fn.loopDyn(s.lo, s.hi, body, step);
  };
  /** body over the elements past a vector loop's (of 4 or 16 elements a step) to the last */
  const rest = (after: 4 | 16, body: (i: Local) => Expr[]): Expr => {
    if (!blocks) return fn.loop(x.size, body, { start: after === 4 ? n4 : n16 });
    return blocks.each(() => [fn.loopDyn(f32 ? blocks.upTo(after) : blocks.base.get(), m.i32.add(blocks.base.get(), blocks.len.get()), body)]);
  };
  /** the scalar tail's code, on the last thread only at threads */
  const tail = (code: Expr): Expr => (threads ? m.if(last.get(), code) : code);
  if (threads) fn.emit(last.set(lastThread(m, threads)));
  const lane = (v: Local, q: number) => m.f32x4.extract_lane(v.get(), q);
  fn.emit(lo.set(S.c(0)), hi.set(S.c(0)));
  if (n4 > 0) {
    // pmin/pmax: one instruction each on x64 (f32x4.min/max about eight), and they skip NaN
    const v = fn.local(binaryen.v128);
    fn.emit(vlo.set(m.f32x4.splat(S.c(0))), vhi.set(m.f32x4.splat(S.c(0))));
    fn.emit(steps(n4, 4, (i) => [
      v.set(m.v128.load(x.addr, 4, m.i32.shl(i.get(), m.i32.const(2)))),
      vlo.set(m.f32x4.pmin(vlo.get(), v.get())), vhi.set(m.f32x4.pmax(vhi.get(), v.get())),
    ]));
    fn.emit(lo.set(S.min(S.min(lane(vlo, 0), lane(vlo, 1)), S.min(lane(vlo, 2), lane(vlo, 3)))),
      hi.set(S.max(S.max(lane(vhi, 0), lane(vhi, 1)), S.max(lane(vhi, 2), lane(vhi, 3)))));
  }
  fn.emit(tail(rest(4, (i) => {
    const v = fn.local(binaryen.f32);
    // a NaN compares false: skipped, as in the lanes
    return [v.set(elem(ctx, x, i.get())), lo.set(m.select(S.lt(v.get(), lo.get()), v.get(), lo.get())), hi.set(m.select(S.gt(v.get(), hi.get()), v.get(), hi.get()))];
  })));
  if (threads) {
    // each thread's range at its own scratch; after the barrier, the range of them all
    const stride = threads.scratchStride, at = (t: Expr) => m.i32.mul(t, m.i32.const(stride));
    fn.emit(m.f32.store(ctx.scratchAddr, 4, at(threads.tid()), lo.get()), m.f32.store(ctx.scratchAddr + 4, 4, at(threads.tid()), hi.get()), threads.barrier());
    fn.emit(fn.loopDyn(m.i32.const(0), threads.count(), (t) => [
      lo.set(S.min(lo.get(), m.f32.load(ctx.scratchAddr, 4, at(t.get())))), hi.set(S.max(hi.get(), m.f32.load(ctx.scratchAddr + 4, 4, at(t.get())))),
    ]));
  }
  fn.emit(scale.set(m.select(S.eq(lo.get(), hi.get()), S.c(1), S.div(S.sub(hi.get(), lo.get()), S.c(255)))));
  fn.emit(zp.set(quantize(ctx, "f32", S.div(S.neg(lo.get()), scale.get()), m.i32.const(0), "uint8")));
  if (n16 > 0) {
    // x / scale clamped to +-ROUND_BOUND (NaN to the low end: pmax(lo, NaN) is lo, which saturates
    // to 0 as the truncating conversion's NaN does), then rounded and shifted by nearestPlusZp
    const bound = (x: number) => m.f32x4.splat(S.c(x));
    fn.emit(vs.set(m.f32x4.splat(scale.get())), vz.set(roundBias(m, zp.get())));
    fn.emit(steps(n16, 16, (i) => {
      const q = [0, 1, 2, 3].map((k) => nearestPlusZp(m, m.f32x4.pmin(bound(ROUND_BOUND), m.f32x4.pmax(bound(-ROUND_BOUND), m.f32x4.div(
        m.v128.load(x.addr + 16 * k, 4, m.i32.shl(i.get(), m.i32.const(2))), vs.get()))), vz.get()));
      return [m.v128.store(y.addr, 1, i.get(), m.i8x16.narrow_i16x8_u(m.i16x8.narrow_i32x4_s(q[0], q[1]), m.i16x8.narrow_i32x4_s(q[2], q[3])))];
    }));
  }
  fn.emit(tail(fn.block([
    rest(16, (i) => [
      store(m, "uint8", i.get(), quantize(ctx, "f32", S.div(elem(ctx, x, i.get()), scale.get()), zp.get(), "uint8"), y.addr),
    ]),
    store(m, "float32", m.i32.const(0), scale.get(), yScale.addr), store(m, "uint8", m.i32.const(0), zp.get(), yZp.addr),
  ])));
}, { prepare: () => ({ scratchBytes: 16 }) });

export const KERNELS = [...LINEAR, ...table.families];
