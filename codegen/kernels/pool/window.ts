// Windowed pools (MaxPool, AveragePool, LpPool): per (batch, channel) plane, output positions are
// split into runs with a constant range of in-bounds taps (conv/segments.ts), so neither the
// interior nor the border checks bounds, and average divisors are per-run constants.
import { splitNest } from "../../threads.js";
import binaryen from "binaryen";
import type { Window } from "../../../compiler/ops/nn-geometry.js";
import { dtype } from "../../../runtime/dtypes.js";
import { stridesOf, type Expr, type Local } from "../../fn.js";
import { constant, load, store, wasmType } from "../../memory.js";
import { product, runLoops, segments, strided4, type Segment } from "../conv/segments.js";
import { noteNaN, restoreNaN } from "../reduce/ops.js";
import type { KernelCtx, TensorRef } from "../kernel.js";
import { lowestValue, spatialLimits } from "../padding.js";

/** How one pool folds its window: start value, step per tap, and the final value from the run. */
export interface Fold {
  init: () => Expr;
  step: (acc: Expr, v: Expr) => Expr;
  finish: (acc: Expr, segs: Segment[]) => Expr;
  /** f32x4 forms, for 4 outputs at once along the last axis (float32, stride 1 or 2) */
  step4?: (acc: Expr, v: Expr) => Expr;
  finish4?: (acc: Expr, segs: Segment[]) => Expr;
  /** step4 may drop NaN lanes (pmax): keep a mask of lanes that saw NaN and give them NaN at the end */
  nan4?: boolean;
  /** 16 outputs at once along the last axis (8-bit dtypes, stride 1 or 2): the start vector and the step on i8x16 lanes */
  init16?: () => Expr;
  step16?: (acc: Expr, v: Expr) => Expr;
}

/**
 * 8-bit lanes at element offsets 0, s, .., 15s from byte address ptr + off, for stride s of 1 or
 * 2; stride 2 takes the even bytes of two loads, the second ending at the last byte it needs.
 */
function strided16(m: binaryen.Module, ptr: () => Expr, off: number, stride: number): Expr {
  if (stride === 1) return m.v128.load(off, 1, ptr());
  const even = Array.from({ length: 16 }, (_, i) => (i < 8 ? 2 * i : 16 + 2 * (i - 8) + 1));
  return m.i8x16.shuffle(m.v128.load(off, 1, ptr()), m.v128.load(off + 15, 1, ptr()), even);
}

export interface PoolSpec {
  x: TensorRef;
  y: TensorRef;
  win: Window;
  fold: () => Fold;
  /** MaxPool's Indices output and storage_order */
  indices?: { out: TensorRef; columnMajor: boolean };
}

const sum = (m: binaryen.Module, parts: Expr[]) => parts.reduce((a, b) => m.i32.add(a, b));

export function emitWindowPool(ctx: KernelCtx, spec: PoolSpec): void {
  const { m, fn } = ctx;
  const { x, y, win } = spec;
  if (y.size === 0) return;
  const dt = x.dtype;
  const eb = dtype(dt).bytes;
  const t = wasmType(dt);
  const planes = x.dims[0] * x.dims[1];
  const Isz = x.size / planes, Osz = y.size / planes;
  const inStr = stridesOf(win.in), outStr = stridesOf(win.out);
  // storage_order 1 numbers the spatial positions column-major
  const idxStr = spec.indices?.columnMajor ? win.in.map((_, a) => win.in.slice(0, a).reduce((p, d) => p * d, 1)) : inStr;
  const rank = win.in.length;
  const last = rank - 1;
  const runs = win.out.map((o, a) => segments(o, win.in[a], win.kernel[a], win.strides[a], win.dilations[a], win.padBegin[a], win.padEnd[a]));
  // an image whose height or width varies: this run's outputs (its padding filled: pool/index.ts)
  const limits = spatialLimits(ctx, y);
  const plane = fn.local(binaryen.i32);
  const acc = fn.local(t), v = fn.local(t), best = fn.local(binaryen.i32);

  const run = (segs: Segment[]): Expr => {
    const o: Local[] = [], k: Local[] = [];
    // element offset (within the plane) of the current tap, by the given per-axis strides
    const tapIndex = (str: number[]) => sum(m, [
      ...o.map((l, a) => m.i32.mul(l.get(), m.i32.const(win.strides[a] * str[a]))),
      ...k.map((l, a) => m.i32.mul(l.get(), m.i32.const(win.dilations[a] * str[a]))),
      m.i32.const(segs.reduce((s, g, a) => s + (g.kLo * win.dilations[a] - win.padBegin[a]) * str[a], 0)),
    ]);
    const fold = spec.fold();
    const taps = (a: number): Expr[] => {
      if (a < rank) return [fn.loop(segs[a].kHi - segs[a].kLo, (l) => { k[a] = l; return taps(a + 1); })];
      const xp = m.i32.mul(m.i32.add(m.i32.mul(plane.get(), m.i32.const(Isz)), tapIndex(inStr)), m.i32.const(eb));
      if (!spec.indices) return [acc.set(fold.step(acc.get(), load(m, dt, xp, x.addr)))];
      // first maximum wins; -1 marks "no tap seen yet" so an all -inf / NaN window still gets an index
      return [
        v.set(load(m, dt, xp, x.addr)),
        m.if(m.i32.or(greater(m, dt, v.get(), acc.get()), m.i32.eq(best.get(), m.i32.const(-1))),
          m.block(null, [acc.set(v.get()), best.set(tapIndex(idxStr))])),
      ];
    };
    const yAt = (bytes: number) => m.i32.mul(sum(m, [m.i32.mul(plane.get(), m.i32.const(Osz)),
      ...o.map((l, a) => m.i32.mul(l.get(), m.i32.const(outStr[a])))]), m.i32.const(bytes));
    const point = (): Expr[] => {
      const out: Expr[] = [acc.set(fold.init()), best.set(m.i32.const(-1))];
      if (segs.every((g) => g.kHi > g.kLo)) out.push(...taps(0));
      out.push(store(m, y.dtype, yAt(eb), fold.finish(acc.get(), segs), y.addr));
      if (spec.indices) {
        const flat = m.i64.extend_s(m.i32.add(m.i32.mul(plane.get(), m.i32.const(Isz)), best.get()));
        out.push(m.i64.store(spec.indices.out.addr, 8, yAt(8), flat));
      }
      return out;
    };
    // 4 outputs along the last axis: lanes are x at o*s + k*d for o..o+3, one load (stride 1) or
    // the even lanes of two (stride 2)
    const point4 = (): Expr[] => {
      const g = segs[last];
      const px = fn.local(binaryen.i32), v4 = fn.local(binaryen.v128);
      const nan = fold.nan4 ? fn.local(binaryen.v128) : undefined, tap = fn.local(binaryen.v128);
      const taps4 = (a: number): Expr[] => {
        if (a < last) return [fn.loop(segs[a].kHi - segs[a].kLo, (l) => { k[a] = l; return taps4(a + 1); })];
        const code: Expr[] = [px.set(m.i32.mul(m.i32.add(m.i32.mul(plane.get(), m.i32.const(Isz)), tapIndex(inStr)), m.i32.const(4)))];
        for (let kk = 0; kk < g.kHi - g.kLo; kk++) {
          const off = x.addr + kk * win.dilations[last] * 4;
          const lanes = strided4(m, px.get, off, win.strides[last]);
          if (!nan) code.push(v4.set(fold.step4!(v4.get(), lanes)));
          else code.push(tap.set(lanes), v4.set(fold.step4!(v4.get(), tap.get())), nan.set(noteNaN(m, nan.get(), tap.get)));
        }
        return code;
      };
      k.length = last;
      const out: Expr[] = [v4.set(m.f32x4.splat(fold.init()))];
      if (nan) out.push(nan.set(m.v128.const(new Array(16).fill(0))));
      if (segs.every((q) => q.kHi > q.kLo)) out.push(...taps4(0));
      const result = nan ? restoreNaN(m, v4.get(), nan.get()) : v4.get();
      out.push(m.v128.store(y.addr, 4, yAt(4), fold.finish4!(result, segs)));
      k.length = 0;
      return out;
    };
    // 16 bytes along the last axis: as point4, on i8x16 lanes
    const point16 = (): Expr[] => {
      const g = segs[last];
      const px = fn.local(binaryen.i32), v16 = fn.local(binaryen.v128);
      const taps16 = (a: number): Expr[] => {
        if (a < last) return [fn.loop(segs[a].kHi - segs[a].kLo, (l) => { k[a] = l; return taps16(a + 1); })];
        const code: Expr[] = [px.set(m.i32.add(m.i32.mul(plane.get(), m.i32.const(Isz)), tapIndex(inStr)))];
        for (let kk = 0; kk < g.kHi - g.kLo; kk++) code.push(v16.set(fold.step16!(v16.get(), strided16(m, px.get, x.addr + kk * win.dilations[last], win.strides[last]))));
        return code;
      };
      k.length = last;
      const out: Expr[] = [v16.set(fold.init16!())];
      if (segs.every((q) => q.kHi > q.kLo)) out.push(...taps16(0));
      out.push(m.v128.store(y.addr, 1, yAt(1), v16.get()));
      k.length = 0;
      return out;
    };
    const strideOk = win.strides[last] === 1 || win.strides[last] === 2;
    const vector = dt === "float32" && !spec.indices && fold.step4 && fold.finish4 && strideOk;
    const bytes16 = eb === 1 && !spec.indices && fold.step16 && fold.init16 && strideOk;
    const widths = vector ? [4, 1] : bytes16 ? [16, 1] : [1];
    return runLoops(fn, segs, widths, (pos, width) => { pos.forEach((l, a) => (o[a] = l)); return width === 4 ? point4() : width === 16 ? point16() : point(); }, true, limits);
  };
  const body = product(runs).map(run);
  // a call per plane: optimized code early in the first run (Fn.outline); threads: planes shared out
  const threads = ctx.splitAmong();
  fn.emit(threads
    ? splitNest(fn, threads, [ctx.outerCount(x, planes)], ([p]) => {
      const one = [plane.set(p.get()), ...body];
      return [fn.outline(one) ?? fn.block(one)];
    })
    : fn.trips(ctx.outerCount(x, planes), (p) => [plane.set(p.get()), ...body], { outline: true }));
}

export function greater(m: binaryen.Module, dt: string, a: Expr, b: Expr): Expr {
  switch (dt) {
    case "float64": return m.f64.gt(a, b);
    case "float32": case "float16": return m.f32.gt(a, b);
    case "uint8": return m.i32.gt_u(a, b);
    default: return m.i32.gt_s(a, b);
  }
}

/** The smallest value of a MaxPool dtype (the identity of max). */
export function lowest(m: binaryen.Module, dt: TensorRef["dtype"]): Expr {
  return constant(m, dt, lowestValue(dt));
}
