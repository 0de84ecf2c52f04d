// The lane form of ConvInteger / QLinearConv for constant weights: the prepare step packs
// (w - w_zero_point) as i32, four output channels side by side for every (input channel, tap), so
// one splatted input value feeds four channels per i32x4 multiply, and each input tap is loaded
// and bounds-checked once per four channels instead of once per channel.
import binaryen from "binaryen";
import { fillPadding, spatialVarying } from "../padding.js";
import type { Expr, Local } from "../../fn.js";
import { stridesOf } from "../../fn.js";
import { store } from "../../memory.js";
import { slidingWindow } from "../../../compiler/ops/nn-geometry.js";
import { byteAt, elem, zeroPoint } from "./common.js";
import { elementsOf } from "./qlayer.js";
import type { KernelCtx, KernelPrep, TensorRef } from "../kernel.js";

export interface ConvOperands {
  x: TensorRef;
  w: TensorRef;
  xZp: number;
  wZp: number;
}

/** One i32 sum and its output channel (an i32 expression) -> the stored value. */
export type ConvEpilogue = (acc: Expr, oc: () => Expr) => Expr;

const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);
const numbers = (t: TensorRef | undefined) => (t?.value ? elementsOf(t.value) : undefined);

/** Geometry both conv forms share. */
export function convFrame(ctx: KernelCtx, ops: ConvOperands) {
  const { x, w } = ops;
  const group = ctx.attrs.int("group", 1);
  const win = slidingWindow(ctx.attrs, x.dims.slice(2), w.dims.slice(2));
  const pos = win.out.map(() => ctx.fn.local(binaryen.i32));
  return { group, win, Cg: x.dims[1] / group, OCg: w.dims[0] / group, xs: stridesOf(x.dims), pos };
}
export type ConvFrame = ReturnType<typeof convFrame>;

/**
 * The input tap for output position o and kernel offset k: statements that set the position
 * locals, the i32 test that it lies inside the image (one unsigned compare per axis also rejects
 * negative positions), and the element index in x of channel `chan` of image n.
 */
export function tapAt(ctx: KernelCtx, f: ConvFrame, n: Expr, chan: Expr, o: Local[], k: Local[]): { set: Expr[]; inside: Expr; index: Expr } {
  const m = ctx.m;
  const { win, xs, pos } = f;
  const set = k.map((kk, a) => pos[a].set(m.i32.add(
    m.i32.sub(m.i32.mul(o[a].get(), m.i32.const(win.strides[a])), m.i32.const(win.padBegin[a])),
    m.i32.mul(kk.get(), m.i32.const(win.dilations[a])))));
  const inside = pos.map((p, a) => m.i32.lt_u(p.get(), m.i32.const(win.in[a]))).reduce((acc, e) => m.i32.and(acc, e));
  const index = m.i32.add(m.i32.add(m.i32.mul(n, m.i32.const(xs[0])), m.i32.mul(chan, m.i32.const(xs[1]))), ctx.fn.linear(pos, xs.slice(2)));
  return { set, inside, index };
}

/** Packed weights when w and its zero point are compile-time constants; otherwise nothing. */
export function packConvWeights(ctx: KernelCtx, ops: ConvOperands): KernelPrep {
  const w = ops.w;
  const wv = numbers(w);
  const zpT = ctx.inputs[ops.wZp];
  const zp = zpT ? numbers(zpT) : [0];
  if (!wv || !zp) return {};
  const group = ctx.attrs.int("group", 1);
  const [OC, Cg] = [w.dims[0], w.dims[1]];
  const OCg = OC / group;
  const blocks = Math.ceil(OCg / 4);
  const K = prod(w.dims.slice(2));
  const packed = new Int32Array(group * blocks * Cg * K * 4);
  for (let g = 0; g < group; g++) {
    for (let b = 0; b < blocks; b++) {
      for (let l = 0; l < 4; l++) {
        const ocg = 4 * b + l;
        if (ocg >= OCg) continue; // lanes past the group's channels stay 0
        const oc = g * OCg + ocg;
        const z = zp.length === 1 ? zp[0] : zp[oc];
        for (let c = 0; c < Cg; c++) {
          for (let k = 0; k < K; k++) packed[(((g * blocks + b) * Cg + c) * K + k) * 4 + l] = wv[(oc * Cg + c) * K + k] - z;
        }
      }
    }
  }
  return { constants: [new Uint8Array(packed.buffer)] };
}

/** out[n, oc, o...] = epilogue(sum over (c, k...) of (x - xZp) * packed[oc][c][k], oc), four channels at a time. */
export function emitPackedConv(ctx: KernelCtx, ops: ConvOperands, epilogue: ConvEpilogue): void {
  const { m, fn } = ctx;
  const { x } = ops;
  const out = ctx.output(0);
  // an image whose height or width varies: the bound's code over x's padding filled with its zero point (padding.ts)
  if (spatialVarying(ctx, x)) fillPadding(ctx, x, () => zeroPoint(ctx, ops.xZp, m.i32.const(0)));
  const f = convFrame(ctx, ops);
  const { group, win, Cg, OCg } = f;
  const blocks = Math.ceil(OCg / 4);
  const K = prod(win.kernel);
  const ys = stridesOf(out.dims);
  const packedAddr = ctx.constantAddrs[0];
  const acc = fn.local(binaryen.v128);
  const [chan0, wBase, yBase] = [fn.local(binaryen.i32), fn.local(binaryen.i32), fn.local(binaryen.i32)];
  // a symbolic batch: this run's images
  fn.emit(fn.nest([ctx.outerCount(x, x.dims[0]), group, blocks, ...win.out], ([n, g, b, ...o]) => {
    const taps = fn.nest([Cg, ...win.kernel], ([c, ...k]) => {
      const tap = tapAt(ctx, f, n.get(), m.i32.add(chan0.get(), c.get()), o, k);
      const wAt = m.i32.mul(m.i32.add(m.i32.add(wBase.get(), m.i32.mul(c.get(), m.i32.const(K))), fn.linear(k, stridesOf(win.kernel))), m.i32.const(16));
      return [...tap.set, m.if(tap.inside, acc.set(m.i32x4.add(acc.get(), m.i32x4.mul(
        m.i32x4.splat(m.i32.sub(elem(ctx, x, tap.index), zeroPoint(ctx, ops.xZp, m.i32.const(0)))),
        m.v128.load(packedAddr, 16, wAt)))))];
    });
    // output channel of lane l: g * OCg + 4b + l
    const oc = (l: number) => () => m.i32.add(m.i32.add(m.i32.mul(g.get(), m.i32.const(OCg)), m.i32.mul(b.get(), m.i32.const(4))), m.i32.const(l));
    const puts = [0, 1, 2, 3].map((l) => {
      const put = store(m, out.dtype, byteAt(ctx, out, m.i32.add(yBase.get(), m.i32.mul(oc(l)(), m.i32.const(ys[1])))),
        epilogue(m.i32x4.extract_lane(acc.get(), l), oc(l)), out.addr);
      // only the group's last block can run past its channels
      return OCg % 4 === 0 || l === 0 ? put : m.if(m.i32.lt_u(m.i32.add(m.i32.mul(b.get(), m.i32.const(4)), m.i32.const(l)), m.i32.const(OCg)), put);
    });
    return [
      acc.set(m.v128.const(new Array(16).fill(0))),
      chan0.set(m.i32.mul(g.get(), m.i32.const(Cg))),
      wBase.set(m.i32.mul(m.i32.add(m.i32.mul(g.get(), m.i32.const(blocks)), b.get()), m.i32.const(Cg * K))),
      yBase.set(m.i32.add(m.i32.mul(n.get(), m.i32.const(ys[0])), fn.linear(o, ys.slice(2)))),
      taps, ...puts,
    ];
  }));
}
