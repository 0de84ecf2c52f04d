// 8-bit depthwise convolution (one input channel per group): per channel, its plane is first
// widened to i16 with the zero point subtracted into a zero-padded scratch plane (padding is the
// zero point, i.e. 0 there, so no tap needs a bounds check); then each output row goes 8
// positions at a time, every tap one i16x8 load (a shuffle of two at stride 2) times the tap's
// splatted weight, widened into two i32x4 accumulators by i32x4.extmul_low/high_i16x8_s. The
// sums start from the bias and leave through the same store as the GEMM's (requantized, i32, or
// scaled to float per channel).
// At threads (one output channel per input channel) the (image, channel) planes are shared among
// the threads, each widening its channels into its own scratch plane: the same code per channel.
import binaryen from "binaryen";
import { fillPadding, spatialVarying } from "../padding.js";
import type { Expr, Local } from "../../fn.js";
import { threadShare } from "../../threads.js";
import { elementsOf, perChannel } from "./qlayer.js";
import { convStore, floatScaleTable, type QConvPlan } from "./qconv-gemm.js";
import type { KernelCtx, KernelPrep, LazyConstant } from "../kernel.js";
import { qchannelTables, qwidenedConstant } from "./qgemm-derive.js";

/** output positions per block */
const B = 8;

/** The padded i16 plane: rows Hp, columns Wp (enough for every block's reads), in scratch. */
export function depthwiseScratch(p: QConvPlan): { Hp: number; Wp: number; bytes: number } {
  const blocks = Math.ceil(p.OW / B);
  const Hp = (p.OH - 1) * p.sh + (p.kh - 1) * p.dh + 1;
  // a block reads B positions at stride sw (two vectors at stride 2), from its first tap on
  const Wp = (blocks * B - 1) * p.sw + (p.kw - 1) * p.dw + 1 + 16;
  return { Hp, Wp, bytes: Hp * Wp * 2 + 64 };
}

export function qdepthwiseApplies(p: QConvPlan): boolean {
  return p.Cg === 1 && (p.sw === 1 || p.sw === 2);
}

/** Constants: the taps (w - zw) as i16 per output channel, the bias and the multipliers. */
export function qdepthwisePrepare(p: QConvPlan): KernelPrep {
  const { q, OC, kh, kw } = p;
  const w = elementsOf(q.w.value!);
  const zp = (q.w.zp as { values: number[] }).values;
  const T = kh * kw;
  const taps = new Int16Array(OC * T);
  for (let oc = 0; oc < OC; oc++) for (let t = 0; t < T; t++) taps[oc * T + t] = w[oc * T + t] - perChannel(zp, oc);
  // a compact artifact ships the 8-bit taps and derives this i16 form (qgemm-derive.ts)
  const uniform = zp.every((z) => z === zp[0]) ? zp[0] : undefined;
  const constants: (Uint8Array | LazyConstant)[] = [qwidenedConstant(new Uint8Array(taps.buffer), q.w.value!, uniform), ...qchannelTables(q, OC, OC + 4), ...floatScaleTable(q, OC, OC + 4)];
  return { constants, scratchBytes: depthwiseScratch(p).bytes, unread: [q.w.index] };
}

export function emitQDepthwise(ctx: KernelCtx, p: QConvPlan, zp: () => Expr): void {
  const { m, fn } = ctx;
  const { q } = p;
  const x = ctx.input(q.x.index), y = ctx.output(0);
  // an image whose height or width varies: the bound's code over x's padding filled with its zero point (padding.ts)
  if (spatialVarying(ctx, x)) fillPadding(ctx, x, zp);
  const [tapsAt, biasAt, ...tables] = ctx.constantAddrs;
  const { Hp, Wp } = depthwiseScratch(p);
  const plane = ctx.scratchAddr;
  const T = p.kh * p.kw, OCg = p.OC / p.group;
  const i32 = (v: number) => m.i32.const(v);
  const signed = q.x.dtype === "int8";
  const w = Array.from({ length: T }, () => fn.local(binaryen.v128));
  const acc = [fn.local(binaryen.v128), fn.local(binaryen.v128)];
  const z = fn.local(binaryen.v128), v = fn.local(binaryen.v128), src = fn.local(binaryen.i32), dst = fn.local(binaryen.i32);
  const oc = fn.local(binaryen.i32), n = fn.local(binaryen.i32), row = fn.local(binaryen.i32), yBase = fn.local(binaryen.i32);
  const outBytes = q.result.kind === "requant" ? 1 : 4;
  const threads = OCg === 1 && p.N * p.OC > 1 ? ctx.splitAmong() : undefined;
  /** this thread's plane: thread 0's at `plane`, thread t's tid * scratchStride past it */
  // this thread's plane's offset from thread 0's, set once
  const planeOff = fn.local(binaryen.i32);
  const own = (e: Expr): Expr => (threads && threads.scratchStride ? m.i32.add(e, planeOff.get()) : e);
  if (threads && threads.scratchStride) fn.emit(planeOff.set(m.i32.mul(threads.tid(), i32(threads.scratchStride))));

  // channel c of image n -> the padded plane: rows of W values as i16 (x - zp), 8 at a time
  const W8 = p.W - (p.W % 8);
  const widen = (e: Expr) => (signed ? m.i16x8.extend_low_i8x16_s(e) : m.i16x8.extend_low_i8x16_u(e));
  const toPlane = (c: () => Expr): Expr[] => [
    m.memory.fill(own(i32(plane)), i32(0), i32(Hp * Wp * 2)),
    fn.loop(Math.min(p.H, Hp - p.padT), (h) => {
      const rowSrc = m.i32.add(m.i32.add(i32(x.addr), m.i32.mul(m.i32.add(m.i32.mul(n.get(), i32(p.C)), c()), i32(p.H * p.W))), m.i32.mul(h.get(), i32(p.W)));
      const rowDst = own(m.i32.add(i32(plane + 2 * (p.padT * Wp + p.padL)), m.i32.mul(h.get(), i32(2 * Wp))));
      const code: Expr[] = [src.set(rowSrc), dst.set(rowDst)];
      if (W8 > 0) code.push(fn.loop(W8, (k) => [m.v128.store(0, 2, m.i32.add(dst.get(), m.i32.shl(k.get(), i32(1))),
        m.i16x8.sub(widen(m.v128.load64_zero(0, 1, m.i32.add(src.get(), k.get()))), z.get()))], { step: 8 }));
      const cols = Math.min(p.W, Wp - p.padL);
      for (let k = W8; k < cols; k++) {
        code.push(m.i32.store16(2 * k, 2, dst.get(), m.i32.sub(signed ? m.i32.load8_s(k, 1, src.get()) : m.i32.load8_u(k, 1, src.get()), zp())));
      }
      return code;
    }),
  ];

  const evenLanes = [0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29];
  /** B positions of tap (ki, kj) for output row `row`, block starting at position o */
  const tapVector = (ki: number, kj: number, o: () => Expr): Expr => {
    const at = () => own(m.i32.add(m.i32.mul(row.get(), i32(2 * p.sh * Wp)), m.i32.mul(o(), i32(2 * p.sw))));
    const off = plane + 2 * (ki * p.dh * Wp + kj * p.dw);
    if (p.sw === 1) return m.v128.load(off, 2, at());
    return m.i8x16.shuffle(m.v128.load(off, 2, at()), m.v128.load(off + 16, 2, at()), evenLanes);
  };
  const out = { addr: y.addr, rs: p.OW, base: yBase.get };
  const store = convStore(fn, q, out, tables);
  const block = (o: () => Expr, cols: number): Expr[] => {
    const code: Expr[] = [];
    const bias = () => m.i32x4.splat(m.i32.load(biasAt, 4, m.i32.shl(oc.get(), i32(2))));
    code.push(acc[0].set(bias()), acc[1].set(bias()));
    for (let ki = 0; ki < p.kh; ki++) {
      for (let kj = 0; kj < p.kw; kj++) {
        const t = ki * p.kw + kj;
        code.push(v.set(tapVector(ki, kj, o)));
        code.push(acc[0].set(m.i32x4.add(acc[0].get(), m.i32x4.extmul_low_i16x8_s(v.get(), w[t].get()))));
        code.push(acc[1].set(m.i32x4.add(acc[1].get(), m.i32x4.extmul_high_i16x8_s(v.get(), w[t].get()))));
      }
    }
    // the store's "row" is the channel (multiplier per channel); row stride OW, rows of a channel by yBase
    code.push(...store(acc, () => oc.get(), () => m.i32.add(m.i32.mul(row.get(), i32(p.OW)), o()), cols));
    return code;
  };
  const full = p.OW - (p.OW % B);
  fn.emit(z.set(m.i16x8.splat(zp())));
  const channel = (img: Local, ch: Local): Expr[] => [
    n.set(img.get()), oc.set(ch.get()),
    ...(OCg === 1 ? toPlane(() => ch.get()) : [m.if(m.i32.eqz(m.i32.rem_u(ch.get(), i32(OCg))), fn.block(toPlane(() => m.i32.div_u(ch.get(), i32(OCg)))))]),
    ...w.map((l, t) => l.set(m.i16x8.splat(m.i32.load16_s(tapsAt, 2, m.i32.mul(m.i32.add(m.i32.mul(ch.get(), i32(T)), i32(t)), i32(2)))))),
    // the store adds row * rs to yBase: the channel's plane starts at -oc * OW (per-channel row in the store)
    yBase.set(m.i32.mul(m.i32.sub(m.i32.mul(m.i32.add(m.i32.mul(img.get(), i32(p.OC)), ch.get()), i32(p.OH * p.OW)), m.i32.mul(ch.get(), i32(p.OW))), i32(outBytes))),
    fn.loop(p.OH, (r) => [
      row.set(r.get()),
      full > 0 ? fn.loop(full, (o) => block(o.get, B), { step: B }) : m.nop(),
      p.OW % B ? fn.block(block(() => i32(full), p.OW % B)) : m.nop(),
    ], { outline: true }),
  ];
  if (threads) {
    // this thread's (image, channel) items, in order
    const share = threadShare(m, threads, ctx.outerCount(x, p.N * p.OC));
    const img = fn.local(binaryen.i32), ch = fn.local(binaryen.i32);
    fn.emit(fn.loopDyn(share.lo, share.hi, (k) => [img.set(m.i32.div_u(k.get(), i32(p.OC))), ch.set(m.i32.rem_u(k.get(), i32(p.OC))), ...channel(img, ch)]));
  } else fn.emit(fn.nest([ctx.outerCount(x, p.N), p.OC], ([img, ch]) => channel(img, ch), { outline: false }));
}
