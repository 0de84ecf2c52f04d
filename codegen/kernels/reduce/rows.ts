// One loop structure for every reduction-shaped kernel (ReduceX, Softmax, the normalizations):
// a view of the input as dims split into kept and reduced axes; every operand (input, output,
// scale, statistics) is addressed by element strides over that view (0 = broadcast). For each
// kept position the kernel body runs phases: reduce(...) into a statistic, write(...) every
// element, put(...) a statistic. Dims are coalesced, then one of three loop shapes is picked:
//   "row":    the innermost reduced axis is contiguous -> f32x4 lanes along it (lane-split
//             accumulators, folded pairwise at the end), scalar tail;
//   "across": the innermost kept axis is contiguous -> four kept positions at once, each lane
//             its own statistic (reductions over outer axes), scalar tail;
//   "scalar": anything else, and every non-float32 dtype.
import { splitNest, threadShare, type ThreadCtx } from "../../threads.js";
import binaryen from "binaryen";
import { dtype, sizeOf, type DTypeName } from "../../../runtime/dtypes.js";
import type { Expr, Local } from "../../fn.js";
import { convert, wasmType } from "../../memory.js";
import { coalesce } from "../loops.js";
import { horizontal, noteNaN, restoreNaN, scalarOps, vectorOps, type Ops } from "./ops.js";
import type { KernelCtx, TensorRef } from "../kernel.js";
import type { DimExpr } from "../../../runtime/dims.js";
import { prefixDim } from "../../symbolic.js";

export interface Operand {
  t: TensorRef;
  /** element strides over the view dims */
  strides: number[];
}

export type Combine = "add" | "mul" | "max" | "min";

export type Getter = (o: Operand) => Expr;
export type StatUse = (l: Local) => Expr;
export type ElementFn = (E: Ops, get: Getter, stat: StatUse) => Expr;

export interface ReduceSpec {
  combine: Combine;
  init: number | bigint;
  map: ElementFn;
  /** also store each mapped element here */
  store?: Operand;
}

/** What a kernel body sees for one kept position (or four, in "across" mode). */
export interface Kit {
  /** ops at the width of the statistics (4 in "across" mode) */
  S: Ops;
  /** number of reduced elements per kept position */
  count: number;
  /** that number in S's type: this run's where a reduced dim varies (a mean over a batch of images) */
  countOf(): Expr;
  /** accumulate map(element) over the reduced elements into a new statistic local (also storing each mapped element to `store`) */
  reduce(combine: Combine, init: number | bigint, map: ElementFn, store?: Operand): Local;
  /** several reductions in one pass over the data */
  reduceAll(specs: ReduceSpec[]): Local[];
  /** store f(element) to dst for every reduced element */
  write(dst: Operand, f: ElementFn): void;
  /** store a statistic to dst at the kept position */
  put(dst: Operand, v: Expr): void;
  /** the first reduced element of o at this kept position (a cheap estimate to shift sums by) */
  first(o: Operand): Expr;
  /** a statement of the kernel's own (e.g. setting a statistic local) */
  emit(e: Expr): void;
}

export interface View {
  dims: number[];
  reduced: boolean[];
}

/** Strides of a tensor of `dims` broadcast (right-aligned, numpy rules) onto view dims. */
export function viewStrides(dims: readonly number[], viewDims: readonly number[]): number[] {
  const out = new Array<number>(viewDims.length).fill(0);
  let acc = 1;
  for (let k = dims.length - 1, j = viewDims.length - 1; k >= 0; k--, j--) {
    if (dims[k] !== 1) out[j] = acc;
    acc *= dims[k];
  }
  return out;
}

/** A tensor laid out densely over the whole view. */
export function dense(t: TensorRef, view: View): Operand {
  return { t, strides: viewStrides(view.dims, view.dims) };
}

/** A dense tensor over the kept axes only (0 stride on reduced axes). */
export function keptOnly(t: TensorRef, view: View): Operand {
  const strides = new Array<number>(view.dims.length).fill(0);
  let acc = 1;
  for (let k = view.dims.length - 1; k >= 0; k--) {
    if (view.reduced[k]) continue;
    strides[k] = view.dims[k] === 1 ? 0 : acc;
    acc *= view.dims[k];
  }
  return { t, strides };
}

type Mode = "row" | "across" | "scalar";

export function emitRows(ctx: KernelCtx, dt: DTypeName, view: View, operands: Operand[], body: (k: Kit) => void): void {
  const { m, fn } = ctx;
  if (view.dims.some((d, k) => d === 0 && !view.reduced[k])) return; // no kept positions
  const ops = [...new Set(operands)];
  const pick = (want: boolean) => {
    const dims = view.dims.filter((_, k) => view.reduced[k] === want);
    const strides = ops.map((o) => o.strides.filter((_, k) => view.reduced[k] === want));
    return coalesce(dims, strides);
  };
  // symbolic dims anywhere but as the rows' prefix (attention's [heads, seq, seq] scores): the
  // padded layout's strides, each varying dim its own loop with this run's extent, none merged
  const prefixRows = keptRows(ctx, view, ops, pick(false).dims[0]);
  const varying = prefixRows ? undefined : paddedExtents(ctx, view, ops);
  const pickPadded = (want: boolean) => {
    const at = view.dims.flatMap((d, k) => (view.reduced[k] === want && d !== 1 ? [k] : []));
    return { dims: at.map((k) => view.dims[k]), strides: ops.map((o) => at.map((k) => o.strides[k])), rt: at.map((k) => varying![k]) };
  };
  const K = varying ? pickPadded(false) : pick(false);
  const R = varying ? pickPadded(true) : pick(true);
  const Krt = varying ? pickPadded(false).rt : [], Rrt = varying ? pickPadded(true).rt : [];
  // with threads: dim 0 shared out (its extent this run's where it varies)
  const nestRt = (dims: number[], rts: (RtDim | undefined)[], body: (idx: Local[]) => Expr[], threads?: ThreadCtx): Expr => {
    const idx: Local[] = [];
    const build = (k: number): Expr[] => {
      if (k === dims.length) return body(idx);
      const next = (i: Local) => (idx[k] = i, build(k + 1));
      if (k === 0 && threads) {
        const share = threadShare(m, threads, rts[0] ?? dims[0]);
        return [fn.loopDyn(share.lo, share.hi, next)];
      }
      return [rts[k] ? fn.loopDyn(m.i32.const(0), rts[k]!(), next) : fn.loop(dims[k], next)];
    };
    return dims.some((d) => d === 0) ? m.nop() : fn.block(build(0));
  };
  const rowEnd = varying ? Rrt[R.dims.length - 1] : undefined;
  const count = sizeOf(view.dims.filter((_, k) => view.reduced[k]));
  const bytes = ops.map((o) => dtype(o.t.dtype).bytes);
  const slot = (o: Operand) => {
    const j = ops.indexOf(o);
    if (j < 0) throw new Error("operand was not declared to emitRows");
    return j;
  };

  const f32 = dt === "float32" && ops.every((o) => o.t.dtype === "float32");
  const unitAt = (strides: number[][], k: number) => k >= 0 && strides.every((s) => s[k] === 0 || s[k] === 1);
  const rLast = R.dims.length - 1;
  const kLast = K.dims.length - 1;
  const rowOk = f32 && rLast >= 0 && R.dims[rLast] >= 4 && unitAt(R.strides, rLast);
  const acrossOk = f32 && kLast >= 0 && K.dims[kLast] >= 4 && unitAt(K.strides, kLast);
  const mode: Mode = rowOk && (!acrossOk || R.dims[rLast] >= 16 || varying) ? "row" : acrossOk ? "across" : "scalar";

  const S1 = scalarOps(m, fn, ctx.math, dt);
  const V = f32 ? vectorOps(m, fn, ctx.math) : undefined;
  const bases = ops.map(() => fn.local(binaryen.i32));
  const addr = (j: number, idx: Local[]) => m.i32.add(bases[j].get(), fn.linear(idx, R.strides[j].map((s) => s * bytes[j])));

  // in row mode the vector loop handles two quads per trip (part 1 is 4 elements on, folded into
  // the memarg offset) so reductions keep two independent accumulators in flight
  const partOffset = (j: number, part: number) => (mode === "row" ? part * 4 * R.strides[j][rLast] * bytes[j] : 0);
  /** element access at reduced index idx; a width-4 E splats operands with stride 0 on its vector axis */
  const getter = (E: Ops, idx: Local[], vecStride: (j: number) => number, part = 0): Getter => (o) => {
    const j = slot(o);
    const off = o.t.addr + partOffset(j, part);
    if (E.w === 4 && vecStride(j) === 0) return E.splat(S1.load(o.t.dtype, addr(j, idx), off));
    return E.load(o.t.dtype, addr(j, idx), off);
  };

  type Each = (E: Ops, idx: Local[], get: Getter, part: number) => Expr;
  const kit = (S: Ops, out: Expr[]): Kit => {
    const statUse = (E: Ops): StatUse => (l) => (E.w === S.w ? l.get() : E.splat(l.get()));
    const comb = (E: Ops, c: Combine) => (a: Expr, b: Expr) => E[c](a, b);
    // the reduced nest; in row mode its last axis runs 8 then 4 at a time, then a scalar tail
    const iterate = (each: Each): Expr => {
      if (mode !== "row") {
        const vs = mode === "across" ? (j: number) => K.strides[j][kLast] : () => 1;
        if (varying) return nestRt(R.dims, Rrt, (idx) => [each(S, idx, getter(S, idx, vs), 0)]);
        return fn.nest(R.dims, (idx) => [each(S, idx, getter(S, idx, vs), 0)]);
      }
      const vs = (j: number) => R.strides[j][rLast];
      if (varying) {
        // the row's length may vary: pairs, quads and the tail up to this run's
        const n = fn.local(binaryen.i32), pairs = fn.local(binaryen.i32), quads = fn.local(binaryen.i32);
        return nestRt(R.dims.slice(0, rLast), Rrt, (idx) => [
          n.set(rowEnd ? rowEnd() : m.i32.const(R.dims[rLast])),
          pairs.set(m.i32.and(n.get(), m.i32.const(~7))),
          quads.set(m.i32.and(n.get(), m.i32.const(~3))),
          fn.loopDyn(m.i32.const(0), pairs.get(), (i) => [0, 1].map((part) => each(V!, [...idx, i], getter(V!, [...idx, i], vs, part), part)), 8),
          fn.loopDyn(pairs.get(), quads.get(), (i) => [each(V!, [...idx, i], getter(V!, [...idx, i], vs), 0)], 4),
          fn.loopDyn(quads.get(), n.get(), (i) => [each(S1, [...idx, i], getter(S1, [...idx, i], vs), 0)]),
        ]);
      }
      const n = R.dims[rLast];
      const vecEnd = n - (n % 4);
      const pairEnd = n - (n % 8);
      return fn.nest(R.dims.slice(0, rLast), (idx) => [
        fn.loop(pairEnd, (i) => [0, 1].map((part) => each(V!, [...idx, i], getter(V!, [...idx, i], vs, part), part)), { step: 8 }),
        fn.loop(vecEnd, (i) => [each(V!, [...idx, i], getter(V!, [...idx, i], vs), 0)], { start: pairEnd, step: 4 }),
        fn.loop(n, (i) => [each(S1, [...idx, i], getter(S1, [...idx, i], vs), 0)], { start: vecEnd }),
      ]);
    };
    return {
      S,
      get count() {
        // a statistic over a varying length needs it at run time: countOf
        if (varying && Rrt.some((r) => r)) ctx.unsupported(`${ctx.node.op} divides by the count of a symbolic dim, which it has no run-time form for yet; pin the dim (--shape NAME=N)`);
        return count;
      },
      countOf() {
        if (!varying || !Rrt.some((r) => r)) return S.c(count);
        // the product of the reduced dims, each this run's extent where it varies
        const n = R.dims.reduce<Expr>((e, d, k) => m.i32.mul(e, Rrt[k] ? Rrt[k]!() : m.i32.const(d)), m.i32.const(1));
        const t = S.type;
        const c = t === binaryen.f32 || t === binaryen.v128 ? m.f32.convert_u.i32(n) : t === binaryen.f64 ? m.f64.convert_u.i32(n) : t === binaryen.i64 ? m.i64.extend_u(n) : n;
        return S.w === 4 ? m.f32x4.splat(c) : c;
      },
      reduce(c, init, map, store) {
        return this.reduceAll([{ combine: c, init, map, store }])[0];
      },
      reduceAll(specs) {
        // one pass over the data for all accumulators
        const accs = specs.map((r) => {
          const acc = S.local();
          out.push(acc.set(S.c(r.init)));
          const vacc = mode === "row" ? V!.local() : undefined;
          const vacc2 = mode === "row" ? V!.local() : undefined;
          if (vacc) out.push(vacc.set(V!.c(r.init)), vacc2!.set(V!.c(r.init)));
          // f32x4.max/min are slow (their NaN rules take several instructions); vector lanes use
          // pmax/pmin, which skip NaN, and record NaN lanes to put it back at the end
          const fast = (r.combine === "max" || r.combine === "min") && (vacc !== undefined || S.w === 4);
          const nan = fast ? V!.local() : undefined;
          if (nan) out.push(nan.set(V!.c(0)));
          return { ...r, acc, vacc, vacc2, nan, temps: new Map<string, Local>() };
        });
        out.push(iterate((E, idx, get, part) => fn.block(accs.flatMap((r) => {
          const c = r.combine;
          const l = E.w === 4 && r.vacc ? (part ? r.vacc2! : r.vacc) : r.acc;
          const key = `${E.w}:${part}`;
          const t = r.temps.get(key) ?? E.local();
          r.temps.set(key, t);
          const stmts = [t.set(r.map(E, get, statUse(E)))];
          if (r.store) {
            const j = slot(r.store);
            stmts.push(E.store(r.store.t.dtype, addr(j, idx), r.store.t.addr + partOffset(j, part), t.get()));
          }
          if (r.nan && E.w === 4) {
            stmts.push(r.nan.set(noteNaN(m, r.nan.get(), t.get)));
            stmts.push(l.set(c === "max" ? m.f32x4.pmax(l.get(), t.get()) : m.f32x4.pmin(l.get(), t.get())));
          } else {
            stmts.push(l.set(comb(E, c)(l.get(), t.get())));
          }
          return stmts;
        }))));
        for (const { acc, vacc, vacc2, nan, combine: c } of accs) {
          const fold = (a: Expr, b: Expr) => (nan ? (c === "max" ? m.f32x4.pmax(a, b) : m.f32x4.pmin(a, b)) : comb(V!, c)(a, b));
          if (vacc) out.push(vacc.set(fold(vacc.get(), vacc2!.get())));
          if (vacc) out.push(acc.set(comb(S, c)(horizontal(m, fn, vacc.get(), comb(S1, c)), acc.get())));
          if (nan && S.w === 4) out.push(acc.set(restoreNaN(m, acc.get(), nan.get())));
          else if (nan) out.push(acc.set(m.select(m.v128.any_true(nan.get()), S.c(NaN), acc.get())));
        }
        return accs.map((r) => r.acc);
      },
      write(dst, f) {
        const j = slot(dst);
        out.push(iterate((E, idx, get, part) => E.store(dst.t.dtype, addr(j, idx), dst.t.addr + partOffset(j, part), f(E, get, statUse(E)))));
      },
      put(dst, v) {
        // a statistic may be stored in another float type (LayerNormalization's float32 Mean of float64 X)
        const w = S.w === 1 && wasmType(dst.t.dtype) !== S.type ? convert(m, dt, dst.t.dtype, v) : v;
        out.push(S.store(dst.t.dtype, bases[slot(dst)].get(), dst.t.addr, w));
      },
      first(o) {
        const j = slot(o);
        const vs = mode === "across" ? K.strides[j][kLast] : 1;
        if (S.w === 4 && vs === 0) return S.splat(S1.load(o.t.dtype, bases[j].get(), o.t.addr));
        return S.load(o.t.dtype, bases[j].get(), o.t.addr);
      },
      emit(e) {
        out.push(e);
      },
    };
  };

  const at = (idx: Local[], S: Ops): Expr[] => {
    const out = ops.map((_, j) => bases[j].set(fn.linear(idx, K.strides[j].map((s) => s * bytes[j]))));
    body(kit(S, out));
    return out;
  };
  // threads: each kept position (a row and its statistics) is one thread's, the outermost kept
  // dim shared out; the threads meet after the pass, since a kernel's next pass may read another
  // partition of the statistics (GroupNormalization: per group, then per channel)
  const outer = mode !== "across" ? K.dims.length : kLast;
  if (varying && mode !== "across") {
    const threads = K.dims.length > 0 ? ctx.splitAmong() : undefined;
    fn.emit(nestRt(K.dims, Krt, (idx) => at(idx, S1), threads));
    if (threads) fn.emit(threads.barrier());
    return;
  }
  if (varying) {
    // across the last kept dim, four positions a vector up to this run's extent, then one at a
    // time (a softmax over channels of a map whose width varies); the dims before it shared out
    const threads = kLast > 0 ? ctx.splitAmong() : undefined;
    const n = fn.local(binaryen.i32), vecEnd = fn.local(binaryen.i32);
    fn.emit(nestRt(K.dims.slice(0, kLast), Krt.slice(0, kLast), (idx) => [
      n.set(Krt[kLast] ? Krt[kLast]!() : m.i32.const(K.dims[kLast])),
      vecEnd.set(m.i32.and(n.get(), m.i32.const(~3))),
      fn.loopDyn(m.i32.const(0), vecEnd.get(), (i) => at([...idx, i], V!), 4),
      fn.loopDyn(vecEnd.get(), n.get(), (i) => at([...idx, i], S1)),
    ], threads));
    if (threads) fn.emit(threads.barrier());
    return;
  }
  const rows = prefixRows;
  if (rows) {
    // a symbolic leading kept dim: its run-time extent for the outermost kept loop, shared out
    // among threads as above (a single vector row stays on one thread)
    const n = fn.local(binaryen.i32), vecEnd = fn.local(binaryen.i32);
    fn.emit(n.set(rows));
    const shared = mode !== "across" || kLast > 0 ? ctx.splitAmong() : undefined;
    const share = shared ? threadShare(m, shared, n.get) : { lo: m.i32.const(0), hi: n.get() };
    if (mode !== "across") fn.emit(fn.loopDyn(share.lo, share.hi, (i) => [fn.nest(K.dims.slice(1), (idx) => at([i, ...idx], S1))]));
    else if (kLast > 0) {
      fn.emit(fn.loopDyn(share.lo, share.hi, (i) => [fn.nest(K.dims.slice(1, kLast), (idx) => [
        fn.loop(K.dims[kLast] - (K.dims[kLast] % 4), (j) => at([i, ...idx, j], V!), { step: 4 }),
        fn.loop(K.dims[kLast], (j) => at([i, ...idx, j], S1), { start: K.dims[kLast] - (K.dims[kLast] % 4) }),
      ])]));
    } else {
      fn.emit(vecEnd.set(m.i32.and(n.get(), m.i32.const(~3))));
      fn.emit(fn.loopDyn(m.i32.const(0), vecEnd.get(), (i) => at([i], V!), 4));
      fn.emit(fn.loopDyn(vecEnd.get(), n.get(), (i) => at([i], S1)));
    }
    if (shared) fn.emit(shared.barrier());
    return;
  }
  const threads = outer > 0 ? ctx.splitAmong() : undefined;
  if (mode !== "across") {
    fn.emit(splitNest(fn, threads, K.dims, (idx) => at(idx, S1)));
  } else {
    const n = K.dims[kLast];
    const vecEnd = n - (n % 4);
    fn.emit(splitNest(fn, threads, K.dims.slice(0, kLast), (idx) => [
      fn.loop(vecEnd, (i) => at([...idx, i], V!), { step: 4 }),
      fn.loop(n, (i) => at([...idx, i], S1), { start: vecEnd }),
    ]));
  }
  if (threads) fn.emit(threads.barrier());
}

/**
 * The run-time extent of the outermost kept dim, when a tensor laid out densely over the view (x,
 * y) has its symbolic leading dim as the outermost part of the view's first dim, and the statistics
 * do not run over that dim: the rows are independent. undefined otherwise (a symbolic dim the
 * statistics run over has no symbolic form here: the layer is refused).
 */
function keptRows(ctx: KernelCtx, view: View, ops: readonly Operand[], first: number | undefined): Expr | undefined {
  if (first === undefined || !ctx.symbolic) return undefined;
  const j = view.dims.findIndex((d) => d !== 1);
  if (j < 0 || view.reduced[j]) return undefined;
  const stride = sizeOf(view.dims.slice(j + 1));
  for (const o of ops) {
    const e: readonly DimExpr[] | undefined = ctx.symbolic.dims.get(o.t.name);
    const k = e ? e.findIndex((d) => typeof d !== "number") : -1;
    const rest = o.t.size / o.t.dims[k];
    if (k < 0 || prefixDim(o.t.dims, e!) === undefined || view.dims[j] * stride !== o.t.size || rest % stride !== 0) continue;
    return ctx.runtimeExtent(o.t, first);
  }
  return undefined;
}

type RtDim = () => Expr;

/**
 * This run's extent of each view dim that varies (a factory: a fresh expression per call), read
 * from the operands laid out over the view (KernelCtx.runtimeDim); undefined when no operand
 * varies, or when an operand's varying dim is not a view dim of its own (it would need the view's
 * merged dims split: refused by the caller, as no kernel asked).
 */
function paddedExtents(ctx: KernelCtx, view: View, ops: readonly Operand[]): (RtDim | undefined)[] | undefined {
  if (!ctx.symbolic) return undefined;
  const rt: (RtDim | undefined)[] = view.dims.map(() => undefined);
  let any = false;
  for (const o of ops) {
    const e: readonly DimExpr[] | undefined = ctx.symbolic.dims.get(o.t.name);
    if (!e) continue;
    if (o.t.dims.length !== view.dims.length || o.t.dims.some((d, k) => d !== view.dims[k] && d !== 1)) return undefined;
    e.forEach((d, k) => {
      if (typeof d === "number") return;
      rt[k] = () => ctx.runtimeDim(o.t, k)!;
      any = true;
    });
  }
  return any ? rt : undefined;
}
