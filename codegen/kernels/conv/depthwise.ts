// Depthwise float32 convolution (one input and one output channel per group): every tap is
// unrolled and its weight splatted into a v128 local once per channel, so the spatial loops only
// load inputs and multiply-add, 4 outputs at a time along the last axis (stride 1: one load;
// stride 2: the even lanes of two loads). Borders run over constant tap ranges as in conv-direct.
import binaryen from "binaryen";
import { stridesOf, type Expr, type Local } from "../../fn.js";
import { product, runLoops, segments, strided4, type Segment } from "./segments.js";
import { madd } from "../matmul/gemm-tile.js";
import type { DirectConv } from "./direct.js";
import type { KernelCtx, TensorInfo } from "../kernel.js";
import { threadShare } from "../../threads.js";
import { spatialLimits } from "../padding.js";

/** Largest kernel whose taps are all unrolled. */
const MAX_TAPS = 49;

export function depthwiseApplies(c: { x: TensorInfo; y: TensorInfo; group: number; win: DirectConv["win"] }): boolean {
  const { x, y, group, win } = c;
  const s = win.strides[win.strides.length - 1];
  return y.dtype === "float32" && x.dims[1] === group && y.dims[1] === group &&
    win.kernel.reduce((a, b) => a * b, 1) <= MAX_TAPS && (s === 1 || s === 2);
}

export function emitDepthwise(ctx: KernelCtx, c: DirectConv): void {
  const { m, fn } = ctx;
  const { x, w, y, bias, win } = c;
  const rank = win.in.length, last = rank - 1;
  const [N, C] = x.dims;
  const inStr = stridesOf(win.in), kStr = stridesOf(win.kernel), outStr = stridesOf(win.out);
  const Isz = win.in.reduce((a, b) => a * b, 1), Ksz = win.kernel.reduce((a, b) => a * b, 1), Osz = win.out.reduce((a, b) => a * b, 1);
  const stride = win.strides[last];
  const runs = win.out.map((o, a) => segments(o, win.in[a], win.kernel[a], win.strides[a], win.dilations[a], win.padBegin[a]));
  const wv = Array.from({ length: Ksz }, () => fn.local(binaryen.v128));
  const b4 = fn.local(binaryen.v128);
  const xBase = fn.local(binaryen.i32), yBase = fn.local(binaryen.i32), px = fn.local(binaryen.i32), py = fn.local(binaryen.i32);
  const post = ctx.epilogue;

  const point = (o: Local[], segs: Segment[], lanes: 1 | 4): Expr[] => {
    const acc = fn.local(lanes === 4 ? binaryen.v128 : binaryen.f32);
    const xConst = segs.reduce((s, g, a) => s + (g.kLo * win.dilations[a] - win.padBegin[a]) * inStr[a] * 4, 0);
    const code: Expr[] = [
      acc.set(lanes === 4 ? b4.get() : m.f32x4.extract_lane(b4.get(), 0)),
      px.set(m.i32.add(o.map((l, a) => m.i32.mul(l.get(), m.i32.const(win.strides[a] * inStr[a] * 4))).reduce((p, q) => m.i32.add(p, q), xBase.get()), m.i32.const(xConst))),
    ];
    for (const ks of product(segs.map((g) => Array.from({ length: g.kHi - g.kLo }, (_, i) => g.kLo + i)))) {
      const off = x.addr + ks.reduce((s, k, a) => s + (k - segs[a].kLo) * win.dilations[a] * inStr[a] * 4, 0);
      const tap = ks.reduce((s, k, a) => s + k * kStr[a], 0);
      if (lanes === 1) {
        code.push(acc.set(m.f32.add(acc.get(), m.f32.mul(m.f32.load(off, 4, px.get()), m.f32x4.extract_lane(wv[tap].get(), 0)))));
        continue;
      }
      const xs = strided4(m, px.get, off, stride);
      code.push(acc.set(madd(m, xs, wv[tap].get(), acc.get())));
    }
    const yp = o.map((l, a) => m.i32.mul(l.get(), m.i32.const(outStr[a] * 4))).reduce((p, q) => m.i32.add(p, q), yBase.get());
    code.push(py.set(yp));
    if (lanes === 4) code.push(m.v128.store(y.addr, 4, py.get(), post ? post.vec(acc.get(), py.get, y.addr) : acc.get()));
    else code.push(m.f32.store(y.addr, 4, py.get(), post ? post.scalar(acc.get(), py.get, y.addr) : acc.get()));
    return code;
  };

  // an image whose height or width varies: this run's outputs (its padding filled: padding.ts)
  const limits = spatialLimits(ctx, y);
  const body = product(runs).map((segs) => runLoops(fn, segs, [4, 1], (o, width) => point(o, segs, width as 1 | 4), true, limits));
  // plane p of the N x C (image, channel) planes
  const ch = fn.local(binaryen.i32);
  const plane = (p: Local): Expr[] => [
    ch.set(m.i32.rem_u(p.get(), m.i32.const(C))),
    xBase.set(m.i32.mul(p.get(), m.i32.const(Isz * 4))),
    yBase.set(m.i32.mul(p.get(), m.i32.const(Osz * 4))),
    ...wv.map((l, k) => l.set(m.f32x4.splat(m.f32.load(w.addr + 4 * k, 4, m.i32.mul(ch.get(), m.i32.const(Ksz * 4)))))),
    b4.set(m.f32x4.splat(bias ? m.f32.load(bias.addr, 4, m.i32.mul(ch.get(), m.i32.const(4))) : m.f32.const(0))),
    ...body,
  ];
  // a call per plane: optimized code early in the first run (Fn.outline); threads: each its
  // contiguous share of the planes
  const threads = ctx.splitAmong();
  const planes = ctx.outerCount(x, N * C);
  if (!threads) return fn.emit(fn.trips(planes, plane, { outline: true }));
  const share = threadShare(m, threads, planes);
  fn.emit(fn.loopDyn(share.lo, share.hi, (p) => {
    const code = plane(p);
    return [fn.outline(code) ?? fn.block(code)];
  }));
}
