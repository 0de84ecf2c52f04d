// Direct convolution: output positions are split into runs with a constant range of in-bounds taps
// (conv/segments.ts), so no tap is bounds-checked. float32 computes a block of up to 4 output
// channels x 8 (or 4) consecutive positions of the last axis (stride 1 or 2) in v128 accumulators:
// each input vector load feeds every channel of the block, each weight splat every vector.
import binaryen from "binaryen";
import { dtype } from "../../../runtime/dtypes.js";
import type { Window } from "../../../compiler/ops/nn-geometry.js";
import { stridesOf, type Expr, type Local } from "../../fn.js";
import { constant, load, store, wasmType } from "../../memory.js";
import { product, runLoops, segments, strided4, type Segment } from "./segments.js";
import { madd } from "../matmul/gemm-tile.js";
import type { KernelCtx, TensorRef } from "../kernel.js";
import { spatialLimits } from "../padding.js";

export interface DirectConv {
  x: TensorRef;
  w: TensorRef;
  bias?: TensorRef;
  y: TensorRef;
  group: number;
  win: Window;
}

const sum = (m: binaryen.Module, parts: Expr[]) => parts.length ? parts.reduce((a, b) => m.i32.add(a, b)) : m.i32.const(0);

export function emitDirectConv(ctx: KernelCtx, c: DirectConv): void {
  const { m, fn } = ctx;
  const { x, w, y, bias, group, win } = c;
  const post = ctx.epilogue;
  const dt = y.dtype;
  const eb = dtype(dt).bytes;
  const t = wasmType(dt);
  const ar = t === binaryen.f64 ? m.f64 : m.f32;
  const rank = win.in.length;
  const [N, C] = x.dims, M = y.dims[1];
  const Cg = C / group, Mg = M / group;
  const inStr = stridesOf(win.in), kStr = stridesOf(win.kernel), outStr = stridesOf(win.out);
  const Isz = win.in.reduce((a, b) => a * b, 1), Ksz = win.kernel.reduce((a, b) => a * b, 1), Osz = win.out.reduce((a, b) => a * b, 1);
  const runs = win.out.map((o, a) => segments(o, win.in[a], win.kernel[a], win.strides[a], win.dilations[a], win.padBegin[a]));
  const last = rank - 1;
  const f32 = dt === "float32";
  const stride = win.strides[last];
  const vectorOk = f32 && (stride === 1 || stride === 2);
  // output channels per block: 4 when they divide evenly (float32), else 1
  const OCB = f32 && Mg % 4 === 0 ? 4 : 1;
  const xBase = fn.local(binaryen.i32), wBase = fn.local(binaryen.i32), yBase = fn.local(binaryen.i32);
  const b0 = Array.from({ length: OCB }, () => fn.local(t));
  const px = fn.local(binaryen.i32), pw = fn.local(binaryen.i32);

  /** Code for `lanes` (1, 4 or 8) consecutive outputs along the last axis, for OCB channels. */
  const point = (o: Local[], segs: Segment[], lanes: number): Expr[] => {
    const V = lanes >= 4 ? lanes / 4 : 0;
    const acc = Array.from({ length: OCB }, () => Array.from({ length: Math.max(V, 1) }, () => fn.local(V ? binaryen.v128 : t)));
    const xv = Array.from({ length: Math.max(V, 1) }, () => fn.local(V ? binaryen.v128 : t));
    const taps: Local[] = [];
    // constant part of the first in-bounds tap (may be negative; the sum never is)
    const xConst = segs.reduce((s, g, a) => s + (g.kLo * win.dilations[a] - win.padBegin[a]) * inStr[a] * eb, 0);
    const wConst = segs.reduce((s, g, a) => s + g.kLo * kStr[a] * eb, 0);
    const inner = (ic: Local): Expr[] => {
      const body: Expr[] = [
        px.set(sum(m, [xBase.get(), m.i32.mul(ic.get(), m.i32.const(Isz * eb)),
          ...o.map((l, a) => m.i32.mul(l.get(), m.i32.const(win.strides[a] * inStr[a] * eb))),
          ...taps.map((k, a) => m.i32.mul(k.get(), m.i32.const(win.dilations[a] * inStr[a] * eb))),
          m.i32.const(xConst)])),
        pw.set(sum(m, [wBase.get(), m.i32.mul(ic.get(), m.i32.const(Ksz * eb)),
          ...taps.map((k, a) => m.i32.mul(k.get(), m.i32.const(kStr[a] * eb))), m.i32.const(wConst)])),
      ];
      const g = segs[last];
      for (let k = 0; k < g.kHi - g.kLo; k++) {
        const xo = x.addr + k * win.dilations[last] * eb;
        xv.forEach((l, v) => body.push(l.set(V ? strided4(m, px.get, xo + 16 * v * stride, stride) : load(m, dt, px.get(), xo))));
        for (let j = 0; j < OCB; j++) {
          const wv = load(m, dt, pw.get(), w.addr + (j * Cg * Ksz + k) * eb);
          if (!V) { body.push(acc[j][0].set(ar.add(acc[j][0].get(), ar.mul(xv[0].get(), wv)))); continue; }
          const ws = fn.local(binaryen.v128);
          body.push(ws.set(m.f32x4.splat(wv)));
          acc[j].forEach((l, v) => body.push(l.set(madd(m, xv[v].get(), ws.get(), l.get()))));
        }
      }
      return body;
    };
    // loops over the input channel and every kernel axis but the last (unrolled above)
    const tapLoops = (ic: Local, a: number): Expr[] => {
      if (a === last) return inner(ic);
      const g = segs[a];
      return [fn.loop(g.kHi - g.kLo, (k) => { taps[a] = k; return tapLoops(ic, a + 1); })];
    };
    const empty = segs.some((g) => g.kHi === g.kLo);
    const py = fn.local(binaryen.i32);
    const out: Expr[] = [];
    acc.forEach((row, j) => row.forEach((l) => out.push(l.set(V ? m.f32x4.splat(b0[j].get()) : b0[j].get()))));
    if (!empty) out.push(fn.loop(Cg, (ic) => tapLoops(ic, 0)));
    out.push(py.set(sum(m, [yBase.get(), ...o.map((l, a) => m.i32.mul(l.get(), m.i32.const(outStr[a] * eb)))])));
    acc.forEach((row, j) => row.forEach((l, v) => {
      const off = y.addr + j * Osz * eb + 16 * v;
      if (V) out.push(m.v128.store(off, 4, py.get(), post ? post.vec(l.get(), py.get, off) : l.get()));
      else out.push(store(m, dt, py.get(), post ? post.scalar(l.get(), py.get, off) : l.get(), off));
    }));
    return out;
  };

  // an image whose height or width varies: this run's outputs (its padding filled: padding.ts)
  const limits = spatialLimits(ctx, y);
  const body = product(runs).map((segs) => runLoops(fn, segs, vectorOk ? [8, 4, 1] : [1], (o, width) => point(o, segs, width), true, limits));
  fn.emit(fn.nest([ctx.outerCount(x, N), group, Mg / OCB], ([n, g, ob]) => {
    const oc = () => m.i32.add(m.i32.mul(g.get(), m.i32.const(Mg)), m.i32.mul(ob.get(), m.i32.const(OCB)));
    return [
      xBase.set(m.i32.add(m.i32.mul(n.get(), m.i32.const(C * Isz * eb)), m.i32.mul(g.get(), m.i32.const(Cg * Isz * eb)))),
      wBase.set(m.i32.mul(oc(), m.i32.const(Cg * Ksz * eb))),
      yBase.set(m.i32.mul(m.i32.add(m.i32.mul(n.get(), m.i32.const(M)), oc()), m.i32.const(Osz * eb))),
      ...b0.map((l, j) => l.set(bias ? load(m, bias.dtype, m.i32.mul(oc(), m.i32.const(eb)), bias.addr + j * eb) : constant(m, dt, 0))),
      ...body,
    ];
  }, { outline: true })); // a call per block of output channels: optimized code early in the first run (Fn.outline)
}
