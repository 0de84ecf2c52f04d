// Global pools: one reduction per (batch, channel) plane; float32 reduces 4 lanes at a time.
import { splitNest } from "../../threads.js";
import binaryen from "binaryen";
import { dtype } from "../../../runtime/dtypes.js";
import type { Expr } from "../../fn.js";
import { constant, load, store, wasmType } from "../../memory.js";
import { lpOps } from "./index.js";
import { fillPadding, spatialVarying } from "../padding.js";
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
  const dt = x.dtype, eb = dtype(dt).bytes, t = wasmType(dt);
  const planes = y.size, len = x.size / planes;
  const acc = fn.local(t), px = fn.local(binaryen.i32);
  const vecLen = dt === "float32" && fold.step4 ? len - (len % 4) : 0;
  const v4 = fn.local(binaryen.v128);
  // an image whose height or width varies: the bound's whole plane, its padding filled with the
  // fold's start (padding.ts), over this run's count of elements
  const varying = spatialVarying(ctx, x);
  if (varying) fillPadding(ctx, x, fold.init);
  const count = (): Expr => {
    if (!varying) return constant(m, dt, len);
    const n = x.dims.slice(2).map((d, k) => ctx.runtimeDim(x, k + 2) ?? m.i32.const(d)).reduce((a, b) => m.i32.mul(a, b));
    return t === binaryen.f64 ? m.f64.convert_s.i32(n) : m.f32.convert_s.i32(n);
  };
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
      store(m, dt, m.i32.mul(p.get(), m.i32.const(eb)), fold.finish(acc.get(), count()), y.addr),
    );
    return body;
  }));
}

const ops = (ctx: KernelCtx) => (wasmType(ctx.input(0).dtype) === binaryen.f64 ? ctx.m.f64 : ctx.m.f32);

table.add("GlobalAveragePool", (ctx) => emitGlobal(ctx, {
  init: 0,
  step: (a, v) => ops(ctx).add(a, v),
  step4: (a, v) => ctx.m.f32x4.add(a, v),
  finish: (a, n) => ops(ctx).div(a, n),
}));

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
