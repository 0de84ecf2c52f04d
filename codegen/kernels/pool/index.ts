// Pooling kernels: MaxPool, AveragePool and LpPool over windows (pool/window.ts), and the global
// pools (pool/global.ts).
import binaryen from "binaryen";
import { slidingWindow } from "../../../compiler/ops/nn-geometry.js";
import type { Expr } from "../../fn.js";
import { constant, wasmType } from "../../memory.js";
import type { Segment } from "../conv/segments.js";
import { emitWindowPool, greater, lowest, type Fold } from "./window.js";
import { KernelTable, type KernelCtx } from "../kernel.js";
import { floatOps, lpOps } from "./lp.js";
import { emitGlobalAverage } from "./global.js";
import { fillPadding, lowestValue, spatialVarying, windowReach } from "../padding.js";

const table = new KernelTable();

function window(ctx: KernelCtx) {
  return slidingWindow(ctx.attrs, ctx.input(0).dims.slice(2), ctx.attrs.ints("kernel_shape"), ctx.attrs.int("ceil_mode", 0) !== 0);
}

/**
 * An image whose height or width varies (padding.ts): the bound's windows, over x's padding filled
 * with what the pool's own padding reads as (`value`). `exact` says whether that holds for a window
 * reaching past this run's edge (an average over the taps inside the image alone does not).
 */
function spatialPadding(ctx: KernelCtx, value: number, exact: boolean | string): void {
  const x = ctx.input(0);
  if (!spatialVarying(ctx, x)) return;
  if (exact !== true) ctx.unsupported(`${ctx.node.op} over an image whose height or width varies (${JSON.stringify(x.name)}) ${exact}; ${ctx.pinHintOf(x)}`);
  fillPadding(ctx, x, value, windowReach(ctx));
}

table.add("MaxPool", (ctx) => {
  const x = ctx.input(0), dt = x.dtype;
  const m = ctx.m;
  const t = wasmType(dt);
  const indices = ctx.outputs[1];
  // the indices count positions at this run's width: not the bound's
  spatialPadding(ctx, lowestValue(dt), !indices || "with its Indices output (positions in this run's image)");
  const fold = (): Fold => ({
    init: () => lowest(m, dt),
    step: t === binaryen.f32 ? (a, v) => m.f32.max(a, v) : (a, v) => m.f64.max(a, v),
    finish: (a) => a,
    // pmax is one maxps where f32x4.max costs about eight instructions on x64; NaN inputs are
    // tracked beside it (Fold.nan4) so a NaN anywhere in the window still gives NaN
    step4: (a, v) => m.f32x4.pmax(a, v),
    finish4: (a) => a,
    nan4: true,
  });
  // integer max needs both operands twice: keep them in locals
  const stepInt = (): Fold => {
    const a = ctx.fn.local(binaryen.i32), v = ctx.fn.local(binaryen.i32);
    const byte = dt === "int8" || dt === "uint8";
    return {
      init: () => lowest(m, dt), step: (acc, val) => m.block(null, [a.set(acc), v.set(val), m.select(greater(m, dt, v.get(), a.get()), v.get(), a.get())], binaryen.i32), finish: (acc) => acc,
      // 8-bit: 16 outputs a vector (a quantized network's MaxPool on its 8-bit tensor)
      ...(byte ? { init16: () => m.i8x16.splat(m.i32.const(dt === "int8" ? -128 : 0)), step16: (acc: Expr, val: Expr) => (dt === "int8" ? m.i8x16.max_s(acc, val) : m.i8x16.max_u(acc, val)) } : {}),
    };
  };
  emitWindowPool(ctx, {
    x, y: ctx.output(0), win: window(ctx), fold: t === binaryen.i32 ? stepInt : fold,
    indices: indices ? { out: indices, columnMajor: ctx.attrs.int("storage_order", 0) === 1 } : undefined,
  });
});

table.add("AveragePool", (ctx) => {
  const { ops } = floatOps(ctx);
  const dt = ctx.input(0).dtype;
  const includePad = ctx.attrs.int("count_include_pad", 0) !== 0;
  const m = ctx.m;
  const count = (segs: Segment[]) => segs.reduce((n, g) => n * (includePad ? g.padTaps : g.kHi - g.kLo), 1);
  const win = window(ctx);
  // one window over the whole plane at every size within the bounds (EfficientNet's pooler,
  // AvgPool2d of a kernel past the image, ceil_mode): the plane's mean over this run's pixels
  const x = ctx.input(0);
  if (spatialVarying(ctx, x) && win.padBegin.every((p) => p === 0) && win.padEnd.every((p) => p === 0) &&
    win.out.every((o) => o === 1) && win.kernel.every((k, a) => k >= x.dims[a + 2])) return emitGlobalAverage(ctx);
  // without the pads counted, a window past this run's right or bottom edge (pads at the end, or
  // ceil_mode) averages fewer taps than the bound's code counts
  const crosses = ctx.attrs.int("ceil_mode", 0) !== 0 || (!includePad && win.padEnd.some((p) => p > 0));
  spatialPadding(ctx, 0, !crosses || "with pads at the end or ceil_mode, whose windows at this run's edge take fewer taps");
  emitWindowPool(ctx, {
    x: ctx.input(0), y: ctx.output(0), win,
    fold: () => ({
      init: () => constant(m, dt, 0),
      step: (a, v) => ops.add(a, v),
      finish: (a, segs) => ops.div(a, constant(m, dt, count(segs))),
      step4: (a, v) => m.f32x4.add(a, v),
      finish4: (a, segs) => m.f32x4.div(a, m.f32x4.splat(m.f32.const(count(segs)))),
    }),
  });
});

table.add("LpPool", (ctx) => {
  const { ops } = floatOps(ctx);
  const lp = lpOps(ctx, ctx.attrs.int("p", 2));
  spatialPadding(ctx, 0, true);
  emitWindowPool(ctx, {
    x: ctx.input(0), y: ctx.output(0), win: window(ctx),
    fold: () => ({ init: () => constant(ctx.m, ctx.input(0).dtype, 0), step: (a, v) => ops.add(a, lp.power(v)), finish: (a) => lp.root(a) }),
  });
});

export const KERNELS = table.families;
