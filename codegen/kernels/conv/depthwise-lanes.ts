// Depthwise 2-D float32 convolution with channels in lanes, for small images. On a 7x7 or 14x14
// image the row-vector kernel (conv/depthwise.ts) spends most of its time in border runs and scalar
// row tails (MobileNetV2's 7x7 layers: ~4-5 GFLOPS). Here each vector holds one pixel of 4
// channels, so every lane does useful work whatever the image's width:
//   1. per block of 4 channels, their image is copied into scratch as [Hp][Wp][4] (4x4
//      transposes), inside zero borders: padding needs no bounds checks, and the copy stays in L1;
//   2. the output's pixels, taken 4 at a time in row-major order (a block may wrap to the next
//      row), each sum their taps into their own accumulator (4 independent chains); the weights,
//      packed at compile time as [C/4][tap][4], sit in v128 locals for the 4 channels;
//   3. the 4x4 block (4 pixels x 4 channels) is transposed back into 4 channels x 4 consecutive
//      pixels, which are consecutive in the NCHW output: one store each, through the epilogue.
import { splitNest } from "../../threads.js";
import binaryen from "binaryen";
import { minI32, type Expr, type Local, type Trips } from "../../fn.js";
import { floatWindow } from "./small.js";
import { madd } from "../matmul/gemm-tile.js";
import { transpose4 } from "../movement/transpose.js";
import { derivedFrom, lazyFloat32, variant, type KernelCtx, type KernelPrep, type LayerCtx, type LazyConstant } from "../kernel.js";
import type { Tensor } from "../../../compiler/ir/graph.js";

/** taps held in v128 locals at once */
const MAX_TAPS = 25;
/**
 * Output images up to this many pixels take this kernel; bigger ones the row-vector kernel, whose
 * rows are long enough to fill its vectors and which reads the image in place.
 */
const MAX_PIXELS = 28 * 28;

interface Layout {
  N: number; C: number; H: number; W: number; OH: number; OW: number;
  kh: number; kw: number; sh: number; sw: number; dh: number; dw: number;
  padT: number; padL: number; Hp: number; Wp: number;
  scratchBytes: number;
}

/**
 * The layout this kernel would use for the layer, or undefined when it cannot run it or, unless
 * forced, when the image is big enough for the row-vector kernel (MAX_PIXELS).
 */
export function depthwiseLanesLayout(ctx: LayerCtx, forced = false): Layout | undefined {
  const win = floatWindow(ctx, { groups: true });
  if (!win) return undefined;
  const x = ctx.input(0), w = ctx.input(1), y = ctx.output(0);
  if (!w.value || x.dims.length !== 4) return undefined;
  const [N, C, H, W] = x.dims;
  if (ctx.attrs.int("group", 1) !== C || y.dims[1] !== C || w.dims[1] !== 1 || C % 4) return undefined;
  const [OH, OW] = win.out, [kh, kw] = win.kernel, [sh, sw] = win.strides, [dh, dw] = win.dilations;
  if (kh * kw > MAX_TAPS || (!forced && OH * OW > MAX_PIXELS)) return undefined;
  const [padT, padL] = win.padBegin;
  // every tap of every output pixel lands inside [0, Hp) x [0, Wp), the image at (padT, padL)
  const Hp = Math.max(padT + H, (OH - 1) * sh + (kh - 1) * dh + 1);
  const Wp = Math.max(padL + W, (OW - 1) * sw + (kw - 1) * dw + 1);
  return { N, C, H, W, OH, OW, kh, kw, sh, sw, dh, dw, padT, padL, Hp, Wp, scratchBytes: Hp * Wp * 16 };
}

/** w [C, 1, kh, kw] as [C/4][tap][4]: for each block of 4 channels, one vector per tap */
function packedTaps(t: Tensor, C: number, T: number): LazyConstant {
  return derivedFrom(lazyFloat32(C * T, (out) => {
    const w = t.data as Float32Array;
    for (let c = 0; c < C; c++) for (let k = 0; k < T; k++) out[((c >> 2) * T + k) * 4 + (c & 3)] = w[c * T + k];
  }), t, `depthwise lanes ${C}x${T}`);
}

export const DEPTHWISE_LANES = variant<Layout>({
  name: "depthwise-lanes",
  plan: depthwiseLanesLayout,
  // the packed taps and the scratch image
  prepare: (ctx, lay): KernelPrep => ({ constants: [packedTaps(ctx.input(1).value!, lay.C, lay.kh * lay.kw)], scratchBytes: lay.scratchBytes, unread: [1] }),
  emit: emitDepthwiseLanes,
});

function emitDepthwiseLanes(ctx: KernelCtx, lay: Layout): void {
  const { m, fn } = ctx;
  const { N, C, H, W, OH, OW, kh, kw, sh, sw, dh, dw, padT, padL, Hp, Wp } = lay;
  const x = ctx.input(0), y = ctx.output(0), bias = ctx.inputs[2];
  const post = ctx.epilogue;
  const S = ctx.scratchAddr, taps = ctx.constantAddrs[0];
  const T = kh * kw, P = OH * OW, P4 = P - (P % 4), W4 = W - (W % 4), CB = C / 4;
  const i32 = (v: number) => m.i32.const(v);
  const add = (...e: Expr[]) => e.reduce((p, q) => m.i32.add(p, q));
  const mul = (l: Local, k: number) => m.i32.mul(l.get(), i32(k));
  const v128s = (n: number) => Array.from({ length: n }, () => fn.local(binaryen.v128));
  const [rows, tmp, outs, acc] = [v128s(4), v128s(4), v128s(4), v128s(4)];
  const wv = v128s(T);
  const bv = fn.local(binaryen.v128);
  const src = fn.local(binaryen.i32), dst = fn.local(binaryen.i32), cur = fn.local(binaryen.i32), ow = fn.local(binaryen.i32);
  const py = fn.local(binaryen.i32), yBase = fn.local(binaryen.i32);
  const pix = Array.from({ length: 4 }, () => fn.local(binaryen.i32));
  const plane = H * W * 4, oplane = P * 4;
  // an image whose height varies (padding.ts): the input rows this run's output rows read (its
  // halo filled), and this run's output rows' pixels (the width stays the bound's)
  const runOH = () => ctx.runtimeDim(y, 2)!;
  const varyH = ctx.runtimeDim(y, 2) !== undefined;
  const inRows: Trips = !varyH ? H : () => minI32(m, () => m.i32.add(m.i32.mul(m.i32.sub(runOH(), i32(1)), i32(sh)), i32((kh - 1) * dh + 1 - padT)), () => i32(H));
  const pixels = () => m.i32.mul(runOH(), i32(OW));

  // 1. the block's 4 channels into scratch, one pixel per vector; only the borders are zeroed (the
  // scratch is shared: other layers leave their data there), the image overwrites the rest
  const zero = m.v128.const(new Array(16).fill(0));
  const padR = Wp - padL - W, below = (padT + H) * Wp * 16;
  const zeros = (at: () => Expr, from: number, count: number): Expr[] => count <= 8
    ? Array.from({ length: count }, (_, q) => m.v128.store(from + q * 16, 16, at(), zero))
    : [m.memory.fill(add(at(), i32(from)), i32(0), i32(count * 16))];
  // threads: each thread its own block of channels at a time, in its own scratch
  const threads = ctx.splitAmong();
  const own = (at: number) => (threads ? add(i32(at), m.i32.mul(threads.tid(), i32(threads.scratchStride))) : i32(at));
  const copyIn = (n: Local, cb: Local): Expr[] => [
    ...(padT ? [m.memory.fill(own(S), i32(0), i32(padT * Wp * 16))] : []),
    ...(below < lay.scratchBytes ? [m.memory.fill(own(S + below), i32(0), i32(lay.scratchBytes - below))] : []),
    fn.trips(inRows, (ih) => [
      src.set(add(mul(n, C * plane), mul(cb, 4 * plane), mul(ih, W * 4))),
      dst.set(add(own(S + (padT * Wp + padL) * 16), mul(ih, Wp * 16))),
      ...(padL ? zeros(() => m.i32.sub(dst.get(), i32(padL * 16)), 0, padL) : []),
      ...zeros(dst.get, W * 16, padR),
      fn.loop(W4, (iw) => [
        ...rows.map((r, j) => r.set(m.v128.load(x.addr + j * plane, 4, add(src.get(), mul(iw, 4))))),
        ...transpose4(m, rows, tmp, outs),
        ...outs.map((o, q) => m.v128.store(q * 16, 16, add(dst.get(), mul(iw, 16)), o.get())),
      ], { step: 4 }),
      fn.loop(W, (iw) => {
        let v = m.f32x4.splat(m.f32.load(x.addr, 4, add(src.get(), mul(iw, 4))));
        for (let j = 1; j < 4; j++) v = m.f32x4.replace_lane(v, j, m.f32.load(x.addr + j * plane, 4, add(src.get(), mul(iw, 4))));
        return [m.v128.store(0, 16, add(dst.get(), mul(iw, 16)), v)];
      }, { start: W4 }),
    ]),
  ];

  // the scratch address of output pixel `ow`'s first tap: cur; step to the next pixel in row-major order
  const rowJump = (sh * Wp - OW * sw) * 16;
  const next = (): Expr[] => [
    ow.set(m.i32.add(ow.get(), i32(1))),
    cur.set(add(cur.get(), i32(sw * 16), m.select(m.i32.eq(ow.get(), i32(OW)), i32(rowJump), i32(0)))),
    ow.set(m.select(m.i32.eq(ow.get(), i32(OW)), i32(0), ow.get())),
  ];
  const tapOff = (k: number) => ((Math.floor(k / kw) * dh) * Wp + (k % kw) * dw) * 16;
  const sum = (a: Local, p: Local): Expr[] => wv.map((w, k) => a.set(madd(m, m.v128.load(tapOff(k), 16, p.get()), w.get(), a.get())));
  const store = (v: Expr): Expr => m.v128.store(y.addr, 4, py.get(), post ? post.vec(v, py.get, y.addr) : v);
  const storeLane = (v: Expr): Expr => m.f32.store(y.addr, 4, py.get(), post ? post.scalar(v, py.get, y.addr) : v);

  /** for (p = from; p < end; p += step): the static bounds, or this run's where the height varies */
  const loopTo = (end: number, runEnd: () => Expr, body: (p: Local) => Expr[], step = 1, from = 0, runFrom?: () => Expr): Expr =>
    (varyH ? fn.loopDyn(runFrom ? runFrom() : i32(from), runEnd(), body, step) : fn.loop(end, body, { start: from, step }));

  // 2 + 3. 4 pixels at a time, transposed into 4 channel rows of the output
  const compute = (n: Local, cb: Local): Expr[] => [
    ...wv.map((w, k) => w.set(m.v128.load(taps + k * 16, 16, mul(cb, T * 16)))),
    bv.set(bias ? m.v128.load(bias.addr, 4, mul(cb, 16)) : m.v128.const(new Array(16).fill(0))),
    cur.set(own(S)),
    ow.set(i32(0)),
    yBase.set(add(mul(n, C * oplane), mul(cb, 4 * oplane))),
    loopTo(P4, () => m.i32.and(pixels(), i32(~3)), (p) => [
      ...pix.flatMap((l) => [l.set(cur.get()), ...next()]),
      ...acc.map((a) => a.set(bv.get())),
      ...acc.flatMap((a, q) => sum(a, pix[q])),
      ...transpose4(m, acc, tmp, outs),
      ...outs.map((o, j) => [py.set(add(yBase.get(), mul(p, 4), i32(j * oplane))), store(o.get())]).flat(),
    ], 4),
    loopTo(P, pixels, (p) => [
      pix[0].set(cur.get()), ...next(),
      acc[0].set(bv.get()),
      ...sum(acc[0], pix[0]),
      ...[0, 1, 2, 3].flatMap((j) => [py.set(add(yBase.get(), mul(p, 4), i32(j * oplane))), storeLane(m.f32x4.extract_lane(acc[0].get(), j))]),
    ], 1, P4, () => m.i32.and(pixels(), i32(~3))),
  ];

  // a call per channel block: optimized code early in the first run (Fn.outline)
  fn.emit(threads
    ? fn.trips(ctx.outerCount(x, N), (n) => [splitNest(fn, threads, [CB], ([cb]) => {
      const block = [...copyIn(n, cb), ...compute(n, cb)];
      return [fn.outline(block) ?? fn.block(block)];
    })])
    : fn.nest([ctx.outerCount(x, N), CB], ([n, cb]) => [...copyIn(n, cb), ...compute(n, cb)], { outline: true }));
}
