// LpNormalization (scale each vector along one axis to unit Lp norm) and LRN (normalize by a
// window of neighbouring channels).
import binaryen from "binaryen";
import { dtype } from "../../../runtime/dtypes.js";
import type { Expr, Local } from "../../fn.js";
import { scalarOps, vectorOps, type Ops } from "../reduce/ops.js";
import { dense, emitRows, type View } from "../reduce/rows.js";
import { KernelTable } from "../kernel.js";
import { threadShare } from "../../threads.js";
import { axisOf, floatType } from "./index.js";

const table = new KernelTable();

table.add("LpNormalization", (ctx) => {
  const dt = floatType(ctx);
  const X = ctx.input(0);
  const r = X.dims.length;
  const axis = axisOf(ctx);
  const p = ctx.attrs.int("p", 2);
  if (p !== 1 && p !== 2) ctx.unsupported(`LpNormalization with p=${p} is not supported (p is 1 or 2)`);
  const prod = (a: number, b: number) => X.dims.slice(a, b).reduce((q, d) => q * d, 1);
  const view: View = { dims: [prod(0, axis), X.dims[axis], prod(axis + 1, r)], reduced: [false, true, false] };
  const x = dense(X, view);
  const y = dense(ctx.output(0), view);
  emitRows(ctx, dt, view, [x, y], (k) => {
    const s = k.reduce("add", 0, (E, get) => (p === 1 ? E.abs(get(x)) : E.mul(get(x), get(x))));
    const norm = k.S.local();
    // a vector of norm 0 gives zeros (as in onnxruntime): divide by +inf instead of 0. (Dividing
    // by the least positive float kept zeros at zero but blew up subnormals whose squares
    // underflow: x = -9e-41 gave -66180.)
    k.emit(norm.set(p === 1 ? s.get() : k.S.sqrt(s.get())));
    k.emit(norm.set(k.S.whereEqual(norm.get(), k.S.c(0), k.S.c(Infinity), norm.get())));
    k.write(y, (E, get, stat) => E.div(get(x), stat(norm)));
  });
});

/**
 * y = x / (bias + alpha / size * sum of x^2 over the channel window) ^ beta; f32x4 along the spatial
 * dims. Channels whose window lies inside [0, C) sum an unrolled window; beta 0.75 (AlexNet,
 * GoogLeNet), 0.5 and 1 take square roots instead of exp(beta * log(base)).
 */
table.add("LRN", (ctx) => {
  const dt = floatType(ctx);
  const { m, fn } = ctx;
  const X = ctx.input(0);
  const Y = ctx.output(0);
  const [N, C] = X.dims;
  const hw = X.dims.slice(2).reduce((a, b) => a * b, 1);
  const size = ctx.attrs.int("size");
  const alpha = ctx.attrs.float("alpha", 1e-4);
  const beta = ctx.attrs.float("beta", 0.75);
  const bias = ctx.attrs.float("bias", 1);
  const bytes = dtype(dt).bytes;
  const before = Math.floor((size - 1) / 2);
  const after = Math.ceil((size - 1) / 2);
  const lo = fn.local(binaryen.i32);
  const hi = fn.local(binaryen.i32);
  const at = (n: Local, c: Expr, s: Local) =>
    m.i32.mul(m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(n.get(), m.i32.const(C)), c), m.i32.const(hw)), s.get()), m.i32.const(bytes));
  /** base ^ beta */
  const power = (E: Ops, v: Local): Expr[] => {
    if (beta === 1) return [];
    if (beta === 0.5) return [v.set(E.sqrt(v.get()))];
    if (beta === 0.75) {
      const r = E.local();
      return [r.set(E.sqrt(v.get())), v.set(E.mul(r.get(), E.sqrt(r.get())))];
    }
    // base ^ beta as exp(beta * log(base)); base >= bias > 0 for the usual bias = 1
    return [v.set(E.exp(E.mul(E.c(beta), E.log(v.get()))))];
  };
  const point = (E: Ops, unrolled: boolean) => {
    const acc = E.local();
    const v = E.local();
    return (n: Local, c: Local, s: Local): Expr[] => {
      const square = (j: Expr): Expr[] => [
        v.set(E.load(dt, at(n, j, s), X.addr)),
        acc.set(E.add(acc.get(), E.mul(v.get(), v.get()))),
      ];
      const window = unrolled
        ? Array.from({ length: size }, (_, k) => square(m.i32.add(c.get(), m.i32.const(k - before)))).flat()
        : [fn.loopDyn(lo.get(), hi.get(), (j) => square(j.get()))];
      return [
        acc.set(E.c(0)),
        ...window,
        v.set(E.add(E.c(bias), E.mul(E.c(alpha / size), acc.get()))),
        ...power(E, v),
        E.store(Y.dtype, at(n, c.get(), s), Y.addr, E.div(E.load(dt, at(n, c.get(), s), X.addr), v.get())),
      ];
    };
  };
  const vecEnd = dt === "float32" ? hw - (hw % 4) : 0;
  const channel = (unrolled: boolean) => {
    const vec = vecEnd ? point(vectorOps(m, fn, ctx.math), unrolled) : undefined;
    const one = point(scalarOps(m, fn, ctx.math, dt), unrolled);
    return (n: Local, c: Local): Expr[] => [
      lo.set(m.i32.sub(c.get(), m.i32.const(before))),
      lo.set(m.select(m.i32.lt_s(lo.get(), m.i32.const(0)), m.i32.const(0), lo.get())),
      hi.set(m.i32.add(c.get(), m.i32.const(after + 1))),
      hi.set(m.select(m.i32.gt_s(hi.get(), m.i32.const(C)), m.i32.const(C), hi.get())),
      fn.loop(vecEnd, (s) => vec!(n, c, s), { step: 4 }),
      fn.loop(hw, (s) => one(n, c, s), { start: vecEnd }),
    ];
  };
  // channels [0, before) and [C - after, C) clip their window; the ones between sum all of it
  const inner = Math.max(before, Math.min(C, C - after));
  const edge = channel(false), full = channel(true);
  // threads: each its contiguous share [c0, c1) of every image's channels, each channel through
  // the path (clipped or whole window) it takes on one thread
  const threads = ctx.splitAmong();
  if (!threads) {
    fn.emit(fn.trips(ctx.outerCount(X, N), (n) => [
      fn.loop(Math.min(before, C), (c) => edge(n, c)),
      fn.loop(inner, (c) => full(n, c), { start: before }),
      fn.loop(C, (c) => edge(n, c), { start: inner }),
    ]));
    return;
  }
  const share = threadShare(m, threads, C);
  const c0 = fn.local(binaryen.i32), c1 = fn.local(binaryen.i32);
  // x clamped to [lo, hi] (lo <= hi)
  const clamp = (x: Local, lo: number, hi: number) =>
    m.select(m.i32.lt_s(x.get(), m.i32.const(lo)), m.i32.const(lo), m.select(m.i32.gt_s(x.get(), m.i32.const(hi)), m.i32.const(hi), x.get()));
  const part = (from: number, to: number, f: (n: Local, c: Local) => Expr[], n: Local) =>
    fn.loopDyn(clamp(c0, from, to), clamp(c1, from, to), (c) => f(n, c));
  fn.emit(c0.set(share.lo), c1.set(share.hi), fn.trips(ctx.outerCount(X, N), (n) => [
    part(0, Math.min(before, C), edge, n),
    part(before, inner, full, n),
    part(inner, C, edge, n),
  ]));
});

export const KERNELS = table.families;
