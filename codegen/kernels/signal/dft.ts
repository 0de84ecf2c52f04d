// DFT and STFT. Power-of-two and long lines run an FFT (signal/fft.ts); short other lengths the
// direct transform here: each output bin sums its input samples times a twiddle
// e^(-+2 pi i jk/N), all in f64, with two trig calls per bin after which the twiddle advances by
// complex multiplication.
import binaryen from "binaryen";
import type { Expr, Local } from "../../fn.js";
import { stridesOf } from "../../fn.js";
import { convert, load, store } from "../../memory.js";
import { dftGeometry, stftGeometry } from "../../../compiler/ops/signal-dft.js";
import { byteAt } from "../quant/index.js";
import { constNumbers, invalidIn, requireNumbers } from "./values.js";
import { emitFft, fftPlan, fftRuns, type Transform } from "./fft.js";
import { KernelTable, simpleVariant, variant, type KernelCtx, type LayerCtx, type TensorRef } from "../kernel.js";

const table = new KernelTable();

/** The direct sum over every tap, per bin. */
function emitDirect(ctx: KernelCtx, t: Transform): void {
  const { m, fn } = ctx;
  const [re, im, c, s, stepC, stepS, nc, angle] = [0, 0, 0, 0, 0, 0, 0, 0].map(() => fn.local(binaryen.f64));
  const [sr, si] = [fn.local(binaryen.f64), fn.local(binaryen.f64)];
  const step = (2 * Math.PI) / t.n;
  fn.emit(fn.nest(t.outer, (o) => [fn.loop(t.bins, (k) => {
    // bin k turns by k steps per sample: its rotation comes from cos/sin once, and the twiddle
    // walks by complex multiplication (f64 keeps the drift near 1e-12 even for long frames)
    return [
      re.set(m.f64.const(0)), im.set(m.f64.const(0)),
      angle.set(m.f64.mul(m.f64.convert_u.i32(m.i32.rem_u(k.get(), m.i32.const(t.n))), m.f64.const(t.sign * step))),
      stepC.set(ctx.math.call("cos", "f64", angle.get())),
      stepS.set(ctx.math.call("sin", "f64", angle.get())),
      c.set(m.f64.const(1)), s.set(m.f64.const(0)),
      fn.loop(t.taps, (j) => {
        const { stmts, sample } = t.read(o, j);
        return [
          ...stmts,
          sr.set(sample[0]),
          // (a + ib)(c + is) = (ac - bs) + i(as + bc)
          ...(sample[1] === undefined
            ? [re.set(m.f64.add(re.get(), m.f64.mul(sr.get(), c.get()))), im.set(m.f64.add(im.get(), m.f64.mul(sr.get(), s.get())))]
            : [si.set(sample[1]),
              re.set(m.f64.add(re.get(), m.f64.sub(m.f64.mul(sr.get(), c.get()), m.f64.mul(si.get(), s.get())))),
              im.set(m.f64.add(im.get(), m.f64.add(m.f64.mul(sr.get(), s.get()), m.f64.mul(si.get(), c.get()))))]),
          nc.set(m.f64.sub(m.f64.mul(c.get(), stepC.get()), m.f64.mul(s.get(), stepS.get()))),
          s.set(m.f64.add(m.f64.mul(c.get(), stepS.get()), m.f64.mul(s.get(), stepC.get()))),
          c.set(nc.get()),
        ];
      }),
      ...t.write(o, k, m.f64.mul(re.get(), m.f64.const(t.scale)), m.f64.mul(im.get(), m.f64.const(t.scale))),
    ];
  })]));
}

/** Element (index) of a float tensor as f64. */
function f64At(ctx: KernelCtx, x: TensorRef, index: Expr): Expr {
  return convert(ctx.m, x.dtype, "float64", load(ctx.m, x.dtype, byteAt(ctx, x, index), x.addr));
}

function putF64(ctx: KernelCtx, y: TensorRef, index: Expr, v: Expr): Expr {
  return store(ctx.m, y.dtype, byteAt(ctx, y, index), convert(ctx.m, "float64", y.dtype, v), y.addr);
}

/** What decides the kernel: the transform's length, taps and direction (no code, no addresses). */
type Size = Pick<Transform, "n" | "taps" | "sign">;

function dftSize(layer: LayerCtx): Size {
  const x = layer.input(0);
  const g = dftGeometry(x.dims, layer.opset, layer.attrs, (i) => constNumbers(layer, i), invalidIn(layer));
  return { n: g.n, taps: g.irfft ? g.n : Math.min(x.dims[g.axis], g.n), sign: g.inverse ? 1 : -1 };
}

function stftSize(layer: LayerCtx): Size {
  const x = layer.input(0);
  const g = stftGeometry(x.dims[1], layer.attrs.int("onesided", 1) === 1, requireNumbers(layer, 1)[0], layer.inputs[2]?.dims[0], constNumbers(layer, 3)?.[0], invalidIn(layer));
  return { n: g.frameLength, taps: g.frameLength, sign: -1 };
}

/** The transform's variants: the FFT (radix 2, or Bluestein for long other lengths) where it runs, else the direct sum. */
function transformFamily(name: string, op: string, size: (layer: LayerCtx) => Size, transform: (ctx: KernelCtx) => Transform): void {
  table.family(name, op, [
    variant<Size>({
      name: "fft",
      plan: (layer) => {
        const s = size(layer);
        return fftRuns(s) ? s : undefined;
      },
      prepare: (_ctx, s) => fftPlan(s),
      emit: (ctx) => emitFft(ctx, transform(ctx)),
    }),
    simpleVariant((ctx) => emitDirect(ctx, transform(ctx)), undefined, "direct-sum"),
  ]);
}

function dftTransform(ctx: KernelCtx): Transform {
  const m = ctx.m;
  const [x, y] = [ctx.input(0), ctx.output(0)];
  const g = dftGeometry(x.dims, ctx.opset, ctx.attrs, (i) => constNumbers(ctx, i), invalidIn(ctx));
  const rank = x.dims.length;
  const complexIn = x.dims[rank - 1] === 2;
  const nIn = x.dims[g.axis];
  const xs = stridesOf(x.dims);
  const ys = stridesOf(y.dims);
  // the other axes, with the transform axis and the complex dim left out
  const others = x.dims.map((_, k) => k).filter((k) => k !== g.axis && k !== rank - 1);
  const base = (o: Local[], strides: number[]) => ctx.fn.linear(o, others.map((k) => strides[k]));
  const half = Math.floor(g.n / 2);
  return {
    outer: others.map((k) => x.dims[k]),
    n: g.n,
    // an irfft sums the full Hermitian spectrum, rebuilt from the half it is given
    taps: g.irfft ? g.n : Math.min(nIn, g.n),
    bins: y.dims[g.axis],
    sign: g.inverse ? 1 : -1,
    scale: g.inverse ? 1 / g.n : 1,
    read: (o, j) => {
      if (!g.irfft) {
        const at = m.i32.add(base(o, xs), m.i32.mul(j.get(), m.i32.const(xs[g.axis])));
        return { stmts: [], sample: [f64At(ctx, x, at), complexIn ? f64At(ctx, x, m.i32.add(at, m.i32.const(1))) : undefined] };
      }
      // bin j > N/2 is the conjugate of bin N - j; bins past the given half are zero
      const src = ctx.fn.local(binaryen.i32);
      const upper = m.i32.gt_u(j.get(), m.i32.const(half));
      const inside = m.i32.lt_u(src.get(), m.i32.const(nIn));
      const at = m.i32.add(base(o, xs), m.i32.mul(src.get(), m.i32.const(xs[g.axis])));
      const safeAt = m.select(inside, at, base(o, xs));
      const reV = f64At(ctx, x, safeAt);
      const imV = f64At(ctx, x, m.i32.add(safeAt, m.i32.const(1)));
      return {
        stmts: [src.set(m.select(upper, m.i32.sub(m.i32.const(g.n), j.get()), j.get()))],
        sample: [m.select(inside, reV, m.f64.const(0)), m.select(inside, m.select(upper, m.f64.neg(imV), imV), m.f64.const(0))],
      };
    },
    write: (o, k, re, im) => {
      const at = m.i32.add(base(o, ys), m.i32.mul(k.get(), m.i32.const(ys[g.axis])));
      return g.irfft ? [putF64(ctx, y, at, re)] : [putF64(ctx, y, at, re), putF64(ctx, y, m.i32.add(at, m.i32.const(1)), im)];
    },
  };
}

transformFamily("dft", "DFT", dftSize, dftTransform);

function stftTransform(ctx: KernelCtx): Transform {
  const m = ctx.m;
  const [x, y] = [ctx.input(0), ctx.output(0)];
  const window = ctx.inputs[2];
  const ints = (i: number) => constNumbers(ctx, i);
  const onesided = ctx.attrs.int("onesided", 1) === 1;
  const g = stftGeometry(x.dims[1], onesided, requireNumbers(ctx, 1)[0], window?.dims[0], ints(3)?.[0], invalidIn(ctx));
  const complexIn = x.dims[2] === 2;
  const xs = stridesOf(x.dims);
  const ys = stridesOf(y.dims);
  return {
    outer: [x.dims[0], g.frames],
    n: g.frameLength,
    taps: g.frameLength,
    bins: g.bins,
    sign: -1,
    scale: 1,
    read: ([b, f], j) => {
      const at = m.i32.add(m.i32.mul(b.get(), m.i32.const(xs[0])), m.i32.mul(m.i32.add(m.i32.mul(f.get(), m.i32.const(g.step)), j.get()), m.i32.const(xs[1])));
      const w = (v: Expr) => (window ? m.f64.mul(v, f64At(ctx, window, j.get())) : v);
      return { stmts: [], sample: [w(f64At(ctx, x, at)), complexIn ? w(f64At(ctx, x, m.i32.add(at, m.i32.const(1)))) : undefined] };
    },
    write: ([b, f], k, re, im) => {
      const at = m.i32.add(m.i32.add(m.i32.mul(b.get(), m.i32.const(ys[0])), m.i32.mul(f.get(), m.i32.const(ys[1]))), m.i32.mul(k.get(), m.i32.const(ys[2])));
      return [putF64(ctx, y, at, re), putF64(ctx, y, m.i32.add(at, m.i32.const(1)), im)];
    },
  };
}

transformFamily("stft", "STFT", stftSize, stftTransform);

export const KERNELS = table.families;
