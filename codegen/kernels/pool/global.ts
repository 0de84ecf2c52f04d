// Global pools: one reduction per (batch, channel) plane; float32 reduces 4 lanes at a time.
import { splitNest } from "../../threads.js";
import binaryen from "binaryen";
import { dtype } from "../../../runtime/dtypes.js";
import type { Expr } from "../../fn.js";
import { constant, load, store, wasmType } from "../../memory.js";
import { lpOps } from "./lp.js";
import { spatialVarying } from "../padding.js";
import { KernelTable, type KernelCtx } from "../kernel.js";

const table = new KernelTable();

interface GlobalFold {
  init: number;
  step: (a: Expr, v: Expr) => Expr;
  /** the 4-lane step and how lanes combine, when the fold has a SIMD form */
  step4?: (a: Expr, v: Expr) => Expr;
  /** the result from the fold over `count` elements (a float of the computing type) */
  finish: (a: Expr, count: Expr) => Expr;
}

function emitGlobal(ctx: KernelCtx, fold: GlobalFold): void {
  const { m, fn } = ctx;
  const x = ctx.input(0), y = ctx.output(0);
  if (y.size === 0) return;
  // an image whose height or width varies (padding.ts): this run's rows of each plane, each over
  // this run's columns (the padding never read), over this run's count of elements
  if (spatialVarying(ctx, x)) return emitGlobalRuns(ctx, fold);
  const dt = x.dtype, eb = dtype(dt).bytes, t = wasmType(dt);
  const planes = y.size, len = x.size / planes;
  const acc = fn.local(t), px = fn.local(binaryen.i32);
  const vecLen = dt === "float32" && fold.step4 ? len - (len % 4) : 0;
  const v4 = fn.local(binaryen.v128);
  // threads: planes shared out
  fn.emit(splitNest(fn, ctx.splitAmong(), [ctx.outerCount(y, planes)], ([p]) => {
    const body: Expr[] = [px.set(m.i32.mul(p.get(), m.i32.const(len * eb))), acc.set(constant(m, dt, fold.init))];
    if (vecLen > 0) {
      const lane = (l: number) => m.f32x4.extract_lane(v4.get(), l);
      body.push(
        v4.set(m.f32x4.splat(m.f32.const(fold.init))),
        fn.loop(vecLen, () => [v4.set(fold.step4!(v4.get(), m.v128.load(x.addr, 4, px.get()))), px.set(m.i32.add(px.get(), m.i32.const(16)))], { step: 4 }),
        acc.set(fold.step(fold.step(lane(0), lane(1)), fold.step(lane(2), lane(3)))),
      );
    }
    body.push(
      fn.loop(len, () => [acc.set(fold.step(acc.get(), load(m, dt, px.get(), x.addr))), px.set(m.i32.add(px.get(), m.i32.const(eb)))], { start: vecLen }),
      store(m, dt, m.i32.mul(p.get(), m.i32.const(eb)), fold.finish(acc.get(), constant(m, dt, len)), y.addr),
    );
    return body;
  }));
}

/**
 * emitGlobal over a plane in the padded layout: per plane, the rows of this run (every dim before
 * the last, each its run's extent) and in each row its run's columns, 4 at a time for float32 with a
 * vector fold, the rest one at a time; the fold's lanes combined once per plane.
 */
function emitGlobalRuns(ctx: KernelCtx, fold: GlobalFold): void {
  const { m, fn } = ctx;
  const x = ctx.input(0), y = ctx.output(0);
  const dt = x.dtype, eb = dtype(dt).bytes, t = wasmType(dt);
  const spatial = x.dims.slice(2), last = spatial.length - 1;
  const len = spatial.reduce((a, b) => a * b, 1);
  const extent = (k: number) => ctx.runtimeDim(x, k + 2) ?? m.i32.const(spatial[k]);
  const acc = fn.local(t), row = fn.local(binaryen.i32), v4 = fn.local(binaryen.v128), vecEnd = fn.local(binaryen.i32);
  const vector = dt === "float32" && fold.step4 !== undefined;
  const strides = spatial.map((_, k) => spatial.slice(k + 1).reduce((a, b) => a * b, 1) * eb);
  const n = () => spatial.map((_, k) => extent(k)).reduce((a, b) => m.i32.mul(a, b));
  const count = () => (t === binaryen.f64 ? m.f64.convert_s.i32(n()) : m.f32.convert_s.i32(n()));
  const lane = (l: number) => m.f32x4.extract_lane(v4.get(), l);
  fn.emit(splitNest(fn, ctx.splitAmong(), [ctx.outerCount(y, y.size)], ([p]) => {
    // the rows: every index of the dims before the last, each to its run's extent
    const rows = fn.nest(spatial.slice(0, last).map((_, k) => () => extent(k)), (idx) => [
      row.set(idx.reduce((a, l, k) => m.i32.add(a, m.i32.mul(l.get(), m.i32.const(strides[k]))), m.i32.mul(p.get(), m.i32.const(len * eb)))),
      ...(vector ? [fn.loopDyn(m.i32.const(0), vecEnd.get(), (w) => [v4.set(fold.step4!(v4.get(), m.v128.load(x.addr, 4, m.i32.add(row.get(), m.i32.shl(w.get(), m.i32.const(2))))))], 4)] : []),
      fn.loopDyn(vector ? vecEnd.get() : m.i32.const(0), extent(last), (w) => [acc.set(fold.step(acc.get(), load(m, dt, m.i32.add(row.get(), m.i32.mul(w.get(), m.i32.const(eb))), x.addr)))]),
    ]);
    return [
      acc.set(constant(m, dt, fold.init)),
      ...(vector ? [v4.set(m.f32x4.splat(m.f32.const(fold.init))), vecEnd.set(m.i32.and(extent(last), m.i32.const(~3)))] : []),
      rows,
      ...(vector ? [acc.set(fold.step(acc.get(), fold.step(fold.step(lane(0), lane(1)), fold.step(lane(2), lane(3)))))] : []),
      store(m, dt, m.i32.mul(p.get(), m.i32.const(eb)), fold.finish(acc.get(), count()), y.addr),
    ];
  }));
}

const ops = (ctx: KernelCtx) => (wasmType(ctx.input(0).dtype) === binaryen.f64 ? ctx.m.f64 : ctx.m.f32);

/** The mean of each plane (GlobalAveragePool; an AveragePool whose one window covers the plane). */
export const emitGlobalAverage = (ctx: KernelCtx): void => emitGlobal(ctx, {
  init: 0,
  step: (a, v) => ops(ctx).add(a, v),
  step4: (a, v) => ctx.m.f32x4.add(a, v),
  finish: (a, n) => ops(ctx).div(a, n),
});

table.add("GlobalAveragePool", emitGlobalAverage);

table.add("GlobalMaxPool", (ctx) => emitGlobal(ctx, {
  init: -Infinity,
  step: (a, v) => ops(ctx).max(a, v),
  step4: (a, v) => ctx.m.f32x4.max(a, v),
  finish: (a) => a,
}));

table.add("GlobalLpPool", (ctx) => {
  const lp = lpOps(ctx, ctx.attrs.int("p", 2));
  emitGlobal(ctx, { init: 0, step: (a, v) => ops(ctx).add(a, lp.power(v)), finish: (a) => lp.root(a) });
});

export const KERNELS = table.families;
