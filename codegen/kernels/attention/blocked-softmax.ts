// Attention "blocked" (blocked.ts): the softmax along each row of a block's scores in scratch
// (row stride LkP floats, the padding past Lk set to -inf here), leaving exp(s - max) in place and
// 1/sum per row for the P V product's epilogue.
// Two passes over a row: the max (scaled and masked scores stored back, when there is a mask or a
// negative scale), then exp, stored, summed. With no mask and a positive scale the first pass
// only reads: the max of the unscaled scores is the max, and the scale is applied as exp's
// argument is formed, 2^((s - max) * scale * log2 e) (saves a multiply and a store per four scores).
import binaryen from "binaryen";
import type { Expr, Fn, Local } from "../../fn.js";
import { softmaxExp2 } from "./softmax-exp.js";

export interface BlockSoftmax {
  /** byte address of the scores (plus base()) and of the 1/sum per row (plus base()) */
  scores: number;
  inv: number;
  base: () => Expr;
  /** keys (at most, with keysRt), and the row stride (Lk rounded up to 4, or more) */
  Lk: number;
  LkP: number;
  /**
   * this run's keys (symbolic dims): every row runs ceil(keys / 4) vectors, the lanes past the
   * keys set to -inf by a lane mask (the mask's vector is read whole: lanes past its row are
   * replaced); undefined: Lk, vectors and the tail compiled
   */
  keysRt?: Local;
  scale: number;
  /** a float mask [.., rows, Lk]: byte address, the row stride in floats and the block's first row's byte offset */
  mask?: { addr: number; rowStride: number; base: () => Expr };
}

/** code for the softmax of the block's first n rows (a number, or this run's count) */
export function blockSoftmax(m: binaryen.Module, fn: Fn, p: BlockSoftmax): (n: number | (() => Expr)) => Expr[] {
  const { Lk, LkP, mask, scale, keysRt } = p;
  const i32 = binaryen.i32, v128 = binaryen.v128;
  const ptr = fn.local(i32), mp = fn.local(i32), end = fn.local(i32), row = fn.local(i32);
  const x = fn.local(v128), mx = fn.local(v128), sum = fn.local(v128);
  const mxs = fn.local(binaryen.f32), total = fn.local(binaryen.f32);
  const exp2 = softmaxExp2(m, fn);
  const full = Lk >> 2, rem = Lk & 3;
  const splat = (v: number) => m.f32x4.splat(m.f32.const(v));
  const lane = (v: Local, l: number) => m.f32x4.extract_lane(v.get(), l);
  const late = !mask && scale > 0 && scale !== 1;
  /** a loop over the row's vectors from ptr to end (a do-while: the row has at least one) */
  const vectors = (body: Expr[], last: number | (() => Expr)): Expr => {
    const label = fn.label("t");
    return m.block(null, [
      end.set(m.i32.add(ptr.get(), typeof last === "number" ? m.i32.const(16 * last) : m.i32.shl(last(), m.i32.const(4)))),
      m.loop(label, m.block(null, [...body, ptr.set(m.i32.add(ptr.get(), m.i32.const(16))), m.br(label, m.i32.lt_u(ptr.get(), end.get()))])),
    ]);
  };
  const rowStart = () => m.i32.add(p.base(), m.i32.mul(row.get(), m.i32.const(4 * LkP)));
  /** x = the scores at ptr, scaled unless late, masked (`lanes` real, the rest -inf) */
  const scores = (lanes: number): Expr[] => {
    let s: Expr = m.v128.load(p.scores, 16, ptr.get());
    if (scale !== 1 && !late) s = m.f32x4.mul(s, splat(scale));
    if (mask) {
      let mv: Expr = lanes === 4 ? m.v128.load(mask.addr, 4, mp.get()) : m.v128.load32_zero(mask.addr, 4, mp.get());
      for (let l = 1; l < lanes && lanes < 4; l++) mv = m.v128.load32_lane(mask.addr + 4 * l, 4, l, mp.get(), mv);
      s = m.f32x4.add(s, mv);
    }
    const out: Expr[] = [x.set(s)];
    if (lanes < 4) out.push(x.set(m.v128.bitselect(x.get(), splat(-Infinity), m.v128.const(Array.from({ length: 16 }, (_, b) => (b >> 2 < lanes ? 255 : 0))))));
    return out;
  };
  // run-time keys: the lanes of the vector at ptr past them (the row's first key at rowAt)
  const rowAt = fn.local(i32);
  const pastKeys = () => m.i32x4.ge_s(
    m.i32x4.add(m.v128.const([0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]), m.i32x4.splat(m.i32.shr_u(m.i32.sub(ptr.get(), rowAt.get()), m.i32.const(2)))),
    m.i32x4.splat(keysRt!.get()));
  const changed = (scale !== 1 && !late) || !!mask;
  /** exp(x - max) as 2^((x - max) log2 e), the scale folded in when late */
  const arg = () => m.f32x4.mul(m.f32x4.sub(m.v128.load(p.scores, 16, ptr.get()), mx.get()), splat((late ? scale : 1) * Math.LOG2E));
  const runVectors = () => m.i32.shr_u(m.i32.add(keysRt!.get(), m.i32.const(3)), m.i32.const(2));
  const maxPass = (): Expr[] => keysRt ? [
    rowAt.set(ptr.get()),
    vectors([
      ...scores(4),
      x.set(m.v128.bitselect(splat(-Infinity), x.get(), pastKeys())),
      m.v128.store(p.scores, 16, ptr.get(), x.get()),
      mx.set(m.f32x4.pmax(mx.get(), x.get())),
      ...(mask ? [mp.set(m.i32.add(mp.get(), m.i32.const(16)))] : []),
    ], runVectors),
  ] : [
    ...(full ? [vectors([
      ...scores(4),
      ...(changed ? [m.v128.store(p.scores, 16, ptr.get(), x.get())] : []),
      mx.set(m.f32x4.pmax(mx.get(), x.get())),
      ...(mask ? [mp.set(m.i32.add(mp.get(), m.i32.const(16)))] : []),
    ], full)] : []),
    ...(rem ? [...scores(rem), m.v128.store(p.scores, 16, ptr.get(), x.get()), mx.set(m.f32x4.pmax(mx.get(), x.get()))] : []),
  ];
  const softmaxRow = (): Expr[] => [
    // max over the row (the padding past Lk stored as -inf)
    mx.set(splat(-Infinity)),
    ptr.set(rowStart()),
    ...(mask ? [mp.set(m.i32.add(mask.base(), m.i32.mul(row.get(), m.i32.const(4 * mask.rowStride))))] : []),
    ...maxPass(),
    mxs.set(m.f32.max(m.f32.max(lane(mx, 0), lane(mx, 1)), m.f32.max(lane(mx, 2), lane(mx, 3)))),
    // a row with every key masked: max 0, every exp 0, 1/sum taken as 0 (zeros, as the row kernel
    // gives and the decomposed graphs' Where(IsNaN(p), 0, p) does)
    mxs.set(m.select(m.f32.eq(mxs.get(), m.f32.const(-Infinity)), m.f32.const(0), mxs.get())),
    mx.set(m.f32x4.splat(mxs.get())),
    sum.set(splat(0)),
    ptr.set(rowStart()),
    vectors([
      x.set(exp2(arg())),
      m.v128.store(p.scores, 16, ptr.get(), x.get()),
      sum.set(m.f32x4.add(sum.get(), x.get())),
    ], keysRt ? runVectors : full + (rem ? 1 : 0)),
    total.set(m.f32.add(m.f32.add(lane(sum, 0), lane(sum, 1)), m.f32.add(lane(sum, 2), lane(sum, 3)))),
    m.f32.store(p.inv, 4, m.i32.add(p.base(), m.i32.shl(row.get(), m.i32.const(2))),
      m.select(m.f32.gt(total.get(), m.f32.const(0)), m.f32.div(m.f32.const(1), total.get()), m.f32.const(0))),
  ];
  return (n) => [fn.loopDyn(m.i32.const(0), typeof n === "number" ? m.i32.const(n) : n(), (r) => [row.set(r.get()), ...softmaxRow()])];
}
