// Kernels driven by runtime index tensors (Gather/Scatter families) and by per-row scans and
// ranks (CumSum, ReverseSequence, TopK).
//
// Out-of-range indices: ONNX makes them an error. The kernel reports the first one of a run where
// the runtime finds it (KernelCtx.badIndex: the layer, the index, the axis's length), which throws
// BAD_INPUT after the run; meanwhile a gather with an index outside [-d, d) reads
// zeros and a scatter with one skips that update, so neither touches memory outside the tensors.
import binaryen from "binaryen";
import type { DTypeName } from "../../../runtime/dtypes.js";
import { stridesOf, type Expr, type Local, type Trips } from "../../fn.js";
import { evalDim } from "../../../runtime/dims.js";
import { prefixDim } from "../../symbolic.js";
import { constant, convert, isUnsigned, load, store, wasmType } from "../../memory.js";
import { emitCopy } from "./index.js";
import { bytesOf, copyBytes, rawLoad, rawStore, rawZero } from "./view.js";
import { KernelTable, type KernelCtx, type TensorRef } from "../kernel.js";
import { writeCount } from "../counts.js";

const table = new KernelTable();

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/**
 * into = idx[elem] normalized into [0, dim), or -1 when it is out of range, which is reported
 * (INDEX_ERROR). `dim` may be a run-time i32 expression (a symbolic dim: this run's value).
 */
function normIndex(ctx: KernelCtx, idx: TensorRef, elem: Expr, dim: number | (() => Expr), into: Local): Expr[] {
  const { m, fn } = ctx;
  const [given, v] = [fn.local(binaryen.i64), fn.local(binaryen.i64)];
  const raw = load(m, idx.dtype, m.i32.mul(elem, m.i32.const(bytesOf(idx.dtype))), idx.addr);
  const d = () => (typeof dim === "number" ? constant(m, "int64", dim) : m.i64.extend_s(dim()));
  return [
    given.set(convert(m, idx.dtype, "int64", raw)),
    v.set(m.select(m.i64.lt_s(given.get(), m.i64.const(0)), m.i64.add(given.get(), d()), given.get())),
    into.set(m.select(m.i64.lt_u(v.get(), d()), m.i32.wrap(v.get()), m.i32.const(-1))),
    m.if(m.i32.lt_s(into.get(), m.i32.const(0)), ctx.badIndex(() => given.get(), d)),
  ];
}

function zeroBytes(m: binaryen.Module, dst: Expr, bytes: number): Expr {
  if ([1, 2, 4, 8].includes(bytes)) return rawStore(m, bytes, dst, rawZero(m, bytes));
  return m.memory.fill(dst, m.i32.const(0), m.i32.const(bytes));
}

const byteAddr = (m: binaryen.Module, base: number, elem: Expr, bytes: number) => m.i32.add(m.i32.const(base), m.i32.mul(elem, m.i32.const(bytes)));

table.add("Gather", (ctx) => {
  const [x, idx, out] = [ctx.input(0), ctx.input(1), ctx.output(0)];
  const { m, fn } = ctx;
  const a = ctx.attrs.int("axis", 0);
  const axis = a < 0 ? a + x.dims.length : a;
  const [pre, d, post] = [prod(x.dims.slice(0, axis)), x.dims[axis], prod(x.dims.slice(axis + 1))];
  const b = bytesOf(x.dtype);
  const n = idx.size;
  const k = fn.local(binaryen.i32);
  // symbolic dims, read in the padded layout (strides at the bounds). The output is
  // x.dims[:axis] + idx.dims + x.dims[axis+1:] at the bounds, so its padded layout lines up with
  // both: the dims before the axis and the indices loop over this run's extents (indices in the
  // prefix form: this run's count of them), a varying dim after the axis is copied whole (its
  // padding lands in the output's), and a varying gathered axis bounds the indices by this run's
  // length (the padding past it reads as out of range: zeros)
  const xs = ctx.symbolic?.dims.get(x.name);
  const dimD = xs && typeof xs[axis] !== "number" ? () => ctx.runtimeDim(x, axis)! : d;
  const preTrips: Trips[] = x.dims.slice(0, axis).map((e, t) => (typeof xs?.[t] === "object" ? () => ctx.runtimeDim(x, t)! : e));
  xs?.forEach((_, t) => ctx.runtimeDim(x, t));
  ctx.symbolic?.dims.get(out.name)?.forEach((_, t) => ctx.runtimeDim(out, t));
  const is = ctx.symbolic?.dims.get(idx.name);
  const prefix = !is || prefixDim(idx.dims, is) !== undefined;
  const rows = prefix ? ctx.runtimeExtent(idx, n) : undefined;
  const each = (f: (j: Local) => Expr[]): Expr => {
    if (prefix) return rows ? fn.loopDyn(m.i32.const(0), rows, f) : fn.loop(n, f);
    const trips: Trips[] = idx.dims.map((e, t) => (typeof is![t] === "object" ? () => ctx.runtimeDim(idx, t)! : e));
    const j = fn.local(binaryen.i32);
    return fn.nest(trips, (ix) => [j.set(fn.linear(ix, stridesOf(idx.dims))), ...f(j)]);
  };
  const pre1 = preTrips.some((t) => typeof t !== "number");
  const preLoop = (f: (p: () => Expr) => Expr[]): Expr => (pre1 ? fn.nest(preTrips, (ix) => f(() => fn.linear(ix, stridesOf(x.dims.slice(0, axis))))) : fn.loop(pre, (p) => f(() => p.get())));
  fn.emit(each((j) => [
    ...normIndex(ctx, idx, j.get(), dimD, k),
    preLoop((p) => {
      const dst = () => byteAddr(m, out.addr, m.i32.mul(m.i32.add(m.i32.mul(p(), m.i32.const(n)), j.get()), m.i32.const(post)), b);
      const src = byteAddr(m, x.addr, m.i32.mul(m.i32.add(m.i32.mul(p(), m.i32.const(d)), k.get()), m.i32.const(post)), b);
      return [m.if(m.i32.lt_s(k.get(), m.i32.const(0)), zeroBytes(m, dst(), post * b), copyBytes(fn, dst(), src, post * b))];
    }),
  ]));
});

table.add("GatherElements", (ctx) => {
  const [x, idx, out] = [ctx.input(0), ctx.input(1), ctx.output(0)];
  const { m, fn } = ctx;
  const a = ctx.attrs.int("axis", 0);
  const axis = a < 0 ? a + x.dims.length : a;
  const xs = stridesOf(x.dims);
  const os = stridesOf(out.dims);
  const b = bytesOf(x.dtype);
  const k = fn.local(binaryen.i32);
  // symbolic dims, in the padded layout (strides at the bounds; idx and out share their dims): the
  // loops run this run's extents, and a varying axis of x bounds the indices by this run's length
  const sym = ctx.symbolic;
  const trips = out.dims.map((d, t): Trips => (typeof sym?.dims.get(out.name)?.[t] === "object" ? () => ctx.runtimeDim(out, t)! : d));
  const xe = sym?.dims.get(x.name);
  xe?.forEach((_, t) => ctx.runtimeDim(x, t));
  sym?.dims.get(idx.name)?.forEach((_, t) => ctx.runtimeDim(idx, t));
  const bound = xe && typeof xe[axis] === "object" ? () => ctx.runtimeDim(x, axis)! : x.dims[axis];
  fn.emit(fn.nest(trips, (ix) => {
    const src = m.i32.add(fn.linear(ix.filter((_, t) => t !== axis), xs.filter((_, t) => t !== axis)), m.i32.mul(k.get(), m.i32.const(xs[axis])));
    return [
      ...normIndex(ctx, idx, fn.linear(ix, os), bound, k),
      rawStore(m, b, byteAddr(m, out.addr, fn.linear(ix, os), b),
        m.if(m.i32.lt_s(k.get(), m.i32.const(0)), rawZero(m, b), rawLoad(m, b, byteAddr(m, x.addr, src, b)))),
    ];
  }));
});

/**
 * For each index tuple of a GatherND/ScatterND: `body(tuple, offset, ok)` where offset is the
 * element offset of the addressed block inside its batch and ok is 0 when any index is out of range.
 */
function forEachTuple(ctx: KernelCtx, data: TensorRef, idx: TensorRef, batchDims: number,
  body: (batch: Local, tuple: Local, offset: Local, ok: Local) => Expr[]): void {
  const { m, fn } = ctx;
  const q = idx.dims[idx.dims.length - 1];
  const batches = prod(data.dims.slice(0, batchDims));
  const tuples = prod(idx.dims.slice(batchDims, -1));
  const st = stridesOf(data.dims.slice(batchDims));
  const [off, ok, k] = [fn.local(binaryen.i32), fn.local(binaryen.i32), fn.local(binaryen.i32)];
  fn.emit(fn.nest([batches, tuples], ([bi, ti]) => {
    const stmts: Expr[] = [off.set(m.i32.const(0)), ok.set(m.i32.const(1))];
    for (let t = 0; t < q; t++) {
      const elem = m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(bi.get(), m.i32.const(tuples)), ti.get()), m.i32.const(q)), m.i32.const(t));
      stmts.push(
        ...normIndex(ctx, idx, elem, data.dims[batchDims + t], k),
        ok.set(m.i32.and(ok.get(), m.i32.ge_s(k.get(), m.i32.const(0)))),
        off.set(m.i32.add(off.get(), m.i32.mul(k.get(), m.i32.const(st[t])))),
      );
    }
    return [...stmts, ...body(bi, ti, off, ok)];
  }));
}

table.add("GatherND", (ctx) => {
  const [x, idx, out] = [ctx.input(0), ctx.input(1), ctx.output(0)];
  const { m, fn } = ctx;
  const bd = ctx.attrs.int("batch_dims", 0);
  const q = idx.dims[idx.dims.length - 1];
  const block = prod(x.dims.slice(bd + q));
  const batchSize = prod(x.dims.slice(bd));
  const tuples = prod(idx.dims.slice(bd, -1));
  const b = bytesOf(x.dtype);
  if (ctx.symbolic) return gatherNDPadded(ctx, bd, q, block);
  forEachTuple(ctx, x, idx, bd, (bi, ti, off, ok) => {
    const dst = () => byteAddr(m, out.addr, m.i32.mul(m.i32.add(m.i32.mul(bi.get(), m.i32.const(tuples)), ti.get()), m.i32.const(block)), b);
    const src = byteAddr(m, x.addr, m.i32.add(m.i32.mul(bi.get(), m.i32.const(batchSize)), off.get()), b);
    return [m.if(ok.get(), copyBytes(fn, dst(), src, block * b), zeroBytes(m, dst(), block * b))];
  });
});

/**
 * GatherND with symbolic dims, in the padded layout (strides at the bounds): a loop over the
 * indices' leading dims (this run's extents), each tuple's indices bounded by this run's dims of
 * the data (out of range: zeros, as always), each block (the data's dims past the tuple) copied
 * whole (a varying dim there copies its padding to the output's).
 */
function gatherNDPadded(ctx: KernelCtx, bd: number, q: number, block: number): void {
  const [x, idx, out] = [ctx.input(0), ctx.input(1), ctx.output(0)];
  const { m, fn } = ctx;
  const sym = ctx.symbolic!;
  const varies = (t: TensorRef, k: number) => typeof sym.dims.get(t.name)?.[k] === "object";
  for (const t of [x, idx, out]) sym.dims.get(t.name)?.forEach((_, k) => ctx.runtimeDim(t, k));
  if (varies(idx, idx.dims.length - 1)) ctx.unsupported("GatherND's index tuples vary in length; pin the dim (--shape NAME=N)");
  const lead = idx.dims.slice(0, -1);
  const trips: Trips[] = lead.map((d, k) => (varies(idx, k) ? () => ctx.runtimeDim(idx, k)! : d));
  const [xs, is, os] = [stridesOf(x.dims), stridesOf(idx.dims), stridesOf(out.dims)];
  const b = bytesOf(x.dtype);
  const [off, ok, k] = [fn.local(binaryen.i32), fn.local(binaryen.i32), fn.local(binaryen.i32)];
  fn.emit(fn.nest(trips, (ix) => {
    // the batch dims index the data as they index the indices
    const stmts: Expr[] = [off.set(fn.linear(ix.slice(0, bd), xs.slice(0, bd))), ok.set(m.i32.const(1))];
    for (let t = 0; t < q; t++) {
      const dim = varies(x, bd + t) ? () => ctx.runtimeDim(x, bd + t)! : x.dims[bd + t];
      stmts.push(
        ...normIndex(ctx, idx, m.i32.add(fn.linear(ix, is.slice(0, -1)), m.i32.const(t)), dim, k),
        ok.set(m.i32.and(ok.get(), m.i32.ge_s(k.get(), m.i32.const(0)))),
        off.set(m.i32.add(off.get(), m.i32.mul(k.get(), m.i32.const(xs[bd + t])))),
      );
    }
    const dst = () => byteAddr(m, out.addr, fn.linear(ix, os.slice(0, lead.length)), b);
    return [...stmts, m.if(ok.get(), copyBytes(fn, dst(), byteAddr(m, x.addr, off.get(), b), block * b), zeroBytes(m, dst(), block * b))];
  }));
}

type Reduction = "none" | "add" | "mul" | "max" | "min";

/** a (op) b in the compute type of dt. */
function combine(m: binaryen.Module, dt: DTypeName, red: Reduction, a: Expr, b: Expr, tmp: [Local, Local]): Expr {
  const t = wasmType(dt);
  const ops = t === binaryen.f32 ? m.f32 : t === binaryen.f64 ? m.f64 : undefined;
  if (ops) return red === "add" ? ops.add(a, b) : red === "mul" ? ops.mul(a, b) : red === "max" ? ops.max(a, b) : ops.min(a, b);
  const I = t === binaryen.i64 ? m.i64 : m.i32;
  if (red === "add") return I.add(a, b);
  if (red === "mul") return I.mul(a, b);
  const u = isUnsigned(dt);
  // wasm select evaluates its condition last, so the operands go through locals first
  const [x, y] = tmp;
  const gt = u ? I.gt_u(x.get(), y.get()) : I.gt_s(x.get(), y.get());
  const pick = red === "max" ? m.select(gt, x.get(), y.get()) : m.select(gt, y.get(), x.get());
  return m.block(null, [x.set(a), y.set(b), pick], t);
}

function reduction(ctx: KernelCtx): Reduction {
  const r = ctx.attrs.string("reduction", "none");
  if (!["none", "add", "mul", "max", "min"].includes(r)) ctx.unsupported(`reduction ${r}`);
  if (r !== "none" && ctx.output(0).dtype === "bool") ctx.unsupported(`reduction ${r} on bool`);
  return r as Reduction;
}

/** out[dst] = reduce(out[dst], upd[src]) for one element (element indices). */
function applyUpdate(ctx: KernelCtx, red: Reduction, out: TensorRef, dst: () => Expr, upd: TensorRef, src: () => Expr, tmp: [Local, Local]): Expr {
  const m = ctx.m;
  const dt = out.dtype;
  const b = bytesOf(dt);
  if (red === "none") return rawStore(m, b, byteAddr(m, out.addr, dst(), b), rawLoad(m, b, byteAddr(m, upd.addr, src(), b)));
  const cur = load(m, dt, byteAddr(m, out.addr, dst(), b));
  return store(m, dt, byteAddr(m, out.addr, dst(), b), combine(m, dt, red, cur, load(m, dt, byteAddr(m, upd.addr, src(), b)), tmp));
}

function tmpPair(ctx: KernelCtx, dt: DTypeName): [Local, Local] {
  const t = wasmType(dt);
  return [ctx.fn.local(t), ctx.fn.local(t)];
}

table.add("ScatterND", (ctx) => {
  const [x, idx, upd, out] = [ctx.input(0), ctx.input(1), ctx.input(2), ctx.output(0)];
  const { m, fn } = ctx;
  const red = reduction(ctx);
  emitCopy(ctx, x, out);
  if (ctx.symbolic) return scatterNDPadded(ctx, red);
  const q = idx.dims[idx.dims.length - 1];
  const block = prod(x.dims.slice(q));
  const b = bytesOf(x.dtype);
  const tmp = tmpPair(ctx, x.dtype);
  forEachTuple(ctx, x, idx, 0, (_bi, ti, off, ok) => {
    const updAt = () => m.i32.mul(ti.get(), m.i32.const(block));
    const body = red === "none"
      ? copyBytes(fn, byteAddr(m, out.addr, off.get(), b), byteAddr(m, upd.addr, updAt(), b), block * b)
      : fn.loop(block, (e) => [applyUpdate(ctx, red, out, () => m.i32.add(off.get(), e.get()), upd, () => m.i32.add(updAt(), e.get()), tmp)]);
    return [m.if(ok.get(), body)];
  });
});

/**
 * ScatterND with symbolic dims, in the padded layout (strides at the bounds), after the copy of the
 * data: a loop over the indices' leading dims (this run's extents: the slot's padding holds
 * another run's tuples), each tuple's indices bounded by this run's dims of the data, each block
 * (the data's dims past the tuple) taken whole from the updates at their padded place.
 */
function scatterNDPadded(ctx: KernelCtx, red: Reduction): void {
  const [x, idx, upd, out] = [ctx.input(0), ctx.input(1), ctx.input(2), ctx.output(0)];
  const { m, fn } = ctx;
  const sym = ctx.symbolic!;
  const varies = (t: TensorRef, k: number) => typeof sym.dims.get(t.name)?.[k] === "object";
  for (const t of [x, idx, upd, out]) sym.dims.get(t.name)?.forEach((_, k) => ctx.runtimeDim(t, k));
  if (varies(idx, idx.dims.length - 1)) ctx.unsupported("ScatterND's index tuples vary in length; pin the dim (--shape NAME=N)");
  const q = idx.dims[idx.dims.length - 1];
  const lead = idx.dims.slice(0, -1);
  const trips: Trips[] = lead.map((d, k) => (varies(idx, k) ? () => ctx.runtimeDim(idx, k)! : d));
  const [xs, is, us] = [stridesOf(x.dims), stridesOf(idx.dims), stridesOf(upd.dims)];
  const block = prod(x.dims.slice(q));
  const b = bytesOf(x.dtype);
  const tmp = tmpPair(ctx, x.dtype);
  const [off, ok, k] = [fn.local(binaryen.i32), fn.local(binaryen.i32), fn.local(binaryen.i32)];
  fn.emit(fn.nest(trips, (ix) => {
    const stmts: Expr[] = [off.set(m.i32.const(0)), ok.set(m.i32.const(1))];
    for (let t = 0; t < q; t++) {
      const dim = varies(x, t) ? () => ctx.runtimeDim(x, t)! : x.dims[t];
      stmts.push(
        ...normIndex(ctx, idx, m.i32.add(fn.linear(ix, is.slice(0, -1)), m.i32.const(t)), dim, k),
        ok.set(m.i32.and(ok.get(), m.i32.ge_s(k.get(), m.i32.const(0)))),
        off.set(m.i32.add(off.get(), m.i32.mul(k.get(), m.i32.const(xs[t])))),
      );
    }
    const at = () => fn.linear(ix, us.slice(0, lead.length));
    const body = red === "none"
      ? copyBytes(fn, byteAddr(m, out.addr, off.get(), b), byteAddr(m, upd.addr, at(), b), block * b)
      : fn.loop(block, (e) => [applyUpdate(ctx, red, out, () => m.i32.add(off.get(), e.get()), upd, () => m.i32.add(at(), e.get()), tmp)]);
    return [...stmts, m.if(ok.get(), body)];
  }));
}

table.add(["ScatterElements", "Scatter"], (ctx) => {
  const [x, idx, upd, out] = [ctx.input(0), ctx.input(1), ctx.input(2), ctx.output(0)];
  const { m, fn } = ctx;
  const red = reduction(ctx);
  emitCopy(ctx, x, out);
  const a = ctx.attrs.int("axis", 0);
  const axis = a < 0 ? a + x.dims.length : a;
  const xs = stridesOf(x.dims);
  const is = stridesOf(idx.dims);
  const k = fn.local(binaryen.i32);
  const tmp = tmpPair(ctx, x.dtype);
  // symbolic dims, in the padded layout (strides at the bounds; the indices and updates share
  // their dims): this run's extents, a varying axis of the data bounding the indices by this run's length
  const sym = ctx.symbolic;
  for (const t of [x, idx, upd, out]) sym?.dims.get(t.name)?.forEach((_, d) => ctx.runtimeDim(t, d));
  const trips = idx.dims.map((d, t): Trips => (typeof sym?.dims.get(idx.name)?.[t] === "object" ? () => ctx.runtimeDim(idx, t)! : d));
  const bound = typeof sym?.dims.get(x.name)?.[axis] === "object" ? () => ctx.runtimeDim(x, axis)! : x.dims[axis];
  fn.emit(fn.nest(trips, (ix) => {
    const dst = () => m.i32.add(fn.linear(ix.filter((_, t) => t !== axis), xs.filter((_, t) => t !== axis)), m.i32.mul(k.get(), m.i32.const(xs[axis])));
    return [
      ...normIndex(ctx, idx, fn.linear(ix, is), bound, k),
      m.if(m.i32.ge_s(k.get(), m.i32.const(0)), applyUpdate(ctx, red, out, dst, upd, () => fn.linear(ix, is), tmp)),
    ];
  }));
});

/** [pre, n, post] around an axis. */
function aroundAxis(dims: number[], axis: number): [number, number, number] {
  return [prod(dims.slice(0, axis)), dims[axis], prod(dims.slice(axis + 1))];
}

/** CumSum along one axis as one statement. */
function cumsumAlong(ctx: KernelCtx, x: TensorRef, out: TensorRef, axis: number): Expr {
  const { m, fn } = ctx;
  const [pre, n, post] = aroundAxis(x.dims, axis);
  const dt = x.dtype;
  const b = bytesOf(dt);
  const exclusive = ctx.attrs.int("exclusive", 0) === 1;
  const reverse = ctx.attrs.int("reverse", 0) === 1;
  const acc = fn.local(wasmType(dt));
  const tmp = tmpPair(ctx, dt);
  const xe = ctx.symbolic?.dims.get(x.name);
  if (xe) {
    // symbolic dims, in the padded layout (strides at the bounds): every varying dim this run's
    // extent, a reversed sum starting at this run's last element along the axis
    const st = stridesOf(x.dims);
    const trips = x.dims.map((d, k): Trips => (typeof xe[k] === "number" ? d : () => ctx.runtimeDim(x, k)!));
    ctx.symbolic?.dims.get(out.name)?.forEach((_, k) => ctx.runtimeDim(out, k));
    const others = x.dims.flatMap((_, k) => (k === axis ? [] : [k]));
    const len = () => (typeof trips[axis] === "number" ? m.i32.const(trips[axis] as number) : (trips[axis] as () => Expr)());
    return fn.nest(others.map((k) => trips[k]), (ix) => [
      acc.set(constant(m, dt, exclusive ? 0 : -0)),
      fn.trips(trips[axis], (t) => {
        const pos = () => m.i32.add(fn.linear(ix, others.map((k) => st[k])), m.i32.mul(reverse ? m.i32.sub(m.i32.sub(len(), m.i32.const(1)), t.get()) : t.get(), m.i32.const(st[axis])));
        const add = acc.set(combine(m, dt, "add", acc.get(), load(m, dt, byteAddr(m, x.addr, pos(), b)), tmp));
        const put = store(m, dt, byteAddr(m, out.addr, pos(), b), acc.get());
        return exclusive ? [put, add] : [add, put];
      }),
    ]);
  }
  return fn.nest([pre, post], ([p, q]) => [
    // -0 + x is x for every x (0 + -0 is +0): an inclusive sum's first element is x[0] itself,
    // -0 included; an exclusive one starts at +0, the empty sum
    acc.set(constant(m, dt, exclusive ? 0 : -0)),
    fn.loop(n, (t) => {
      const pos = () => m.i32.add(m.i32.mul(p.get(), m.i32.const(n * post)), m.i32.add(q.get(),
        m.i32.mul(reverse ? m.i32.sub(m.i32.const(n - 1), t.get()) : t.get(), m.i32.const(post))));
      const add = acc.set(combine(m, dt, "add", acc.get(), load(m, dt, byteAddr(m, x.addr, pos(), b)), tmp));
      const put = store(m, dt, byteAddr(m, out.addr, pos(), b), acc.get());
      return exclusive ? [put, add] : [add, put];
    }),
  ]);
}

/**
 * Emit `along(axis)` for the axis in the scalar tensor `axisT`: directly when it is a constant;
 * for a run-time axis, one specialized loop per possible axis, chosen when the layer runs.
 */
export function emitAlongAxis(ctx: KernelCtx, axisT: TensorRef, rank: number, along: (axis: number) => Expr): void {
  const { m, fn } = ctx;
  if (axisT.value) {
    const a = Number(axisT.value.data[0]);
    fn.emit(along(a < 0 ? a + rank : a));
    return;
  }
  const a = fn.local(binaryen.i64);
  fn.emit(a.set(convert(m, axisT.dtype, "int64", load(m, axisT.dtype, m.i32.const(axisT.addr)))));
  fn.emit(a.set(m.select(m.i64.lt_s(a.get(), constant(m, "int64", 0)), m.i64.add(a.get(), constant(m, "int64", rank)), a.get())));
  for (let k = 0; k < rank; k++) fn.emit(m.if(m.i64.eq(a.get(), constant(m, "int64", k)), along(k)));
}

table.add("CumSum", (ctx) => {
  const [x, axisT, out] = [ctx.input(0), ctx.input(1), ctx.output(0)];
  if (x.dtype === "bool") ctx.unsupported("CumSum on bool");
  emitAlongAxis(ctx, axisT, x.dims.length, (axis) => cumsumAlong(ctx, x, out, axis));
});

table.add("ReverseSequence", (ctx) => {
  const [x, lens, out] = [ctx.input(0), ctx.input(1), ctx.output(0)];
  const { m, fn } = ctx;
  const bAxis = ctx.attrs.int("batch_axis", 1);
  const tAxis = ctx.attrs.int("time_axis", 0);
  const T = x.dims[tAxis];
  const st = stridesOf(x.dims);
  const b = bytesOf(x.dtype);
  const len = fn.local(binaryen.i64);
  const t = fn.local(binaryen.i32);
  fn.emit(fn.nest(x.dims, (ix) => {
    const rawLen = convert(m, lens.dtype, "int64", load(m, lens.dtype, m.i32.mul(ix[bAxis].get(), m.i32.const(bytesOf(lens.dtype))), lens.addr));
    // lengths are clamped to [0, T] so a bad length cannot read outside the sequence
    const clampLen = m.select(m.i64.gt_s(len.get(), constant(m, "int64", T)), constant(m, "int64", T),
      m.select(m.i64.lt_s(len.get(), m.i64.const(0)), m.i64.const(0), len.get()));
    const srcT = m.select(m.i64.lt_s(m.i64.extend_u(ix[tAxis].get()), len.get()),
      m.i32.sub(m.i32.sub(m.i32.wrap(len.get()), m.i32.const(1)), ix[tAxis].get()), ix[tAxis].get());
    const rest = fn.linear(ix.filter((_, k) => k !== tAxis), st.filter((_, k) => k !== tAxis));
    return [
      len.set(rawLen), len.set(clampLen), t.set(srcT),
      rawStore(m, b, byteAddr(m, out.addr, fn.linear(ix, st), b),
        rawLoad(m, b, byteAddr(m, x.addr, m.i32.add(rest, m.i32.mul(t.get(), m.i32.const(st[tAxis]))), b))),
    ];
  }));
});

/**
 * TopK's total order as an i32 condition "element (a, ia) comes before (b, ib)": larger (or
 * smaller) value first, NaN counted as the largest value, ties by lower index (Unique sorts by it
 * too). Values are thunks
 * because each is read more than once.
 */
export function before(m: binaryen.Module, dt: DTypeName, largest: boolean, a: () => Expr, ia: Expr, b: () => Expr, ib: Expr): Expr {
  const t = wasmType(dt);
  const F = t === binaryen.f32 ? m.f32 : t === binaryen.f64 ? m.f64 : undefined;
  if (F) {
    const nan = (v: () => Expr) => F.ne(v(), v());
    const [hi, lo] = largest ? [a, b] : [b, a];
    // hi beats lo: hi > lo, or hi is NaN and lo is not
    const beats = m.i32.or(F.gt(hi(), lo()), m.i32.and(nan(hi), m.i32.eqz(nan(lo))));
    const tie = m.i32.or(F.eq(a(), b()), m.i32.and(nan(a), nan(b)));
    return m.i32.or(beats, m.i32.and(tie, m.i32.lt_u(ia, ib)));
  }
  const I = t === binaryen.i64 ? m.i64 : m.i32;
  const u = isUnsigned(dt);
  const gt = (x: Expr, y: Expr) => (u ? I.gt_u(x, y) : I.gt_s(x, y));
  const beats = largest ? gt(a(), b()) : gt(b(), a());
  return m.i32.or(beats, m.i32.and(I.eq(a(), b()), m.i32.lt_u(ia, ib)));
}

table.add("TopK", (ctx) => {
  // k selection passes per row: pass r picks the first element, in TopK order, that comes after
  // the pick of pass r-1. O(n*k), sorted, stable for ties, no scratch memory.
  const [x, vals] = [ctx.input(0), ctx.output(0)];
  const inds = ctx.outputs[1];
  const { m, fn } = ctx;
  const a = ctx.attrs.int("axis", -1);
  const axis = a < 0 ? a + x.dims.length : a;
  const [pre, n, post] = aroundAxis(x.dims, axis);
  const k = vals.dims[axis];
  const dt = x.dtype;
  const largest = ctx.attrs.int("largest", 1) === 1;
  const b = bytesOf(dt);
  const [prev, best] = [fn.local(binaryen.i32), fn.local(binaryen.i32)];
  // symbolic dims: a varying batch before the axis runs this run's rows (the prefix form); a
  // varying axis or a dim after it has no symbolic form
  // the axis itself may vary (read at the bound's strides, this run's length searched)
  const xe = ctx.symbolic?.dims.get(x.name);
  const late = xe?.findIndex((d, j) => j > axis && typeof d !== "number") ?? -1;
  if (late >= 0) ctx.unsupported(`TopK with the varying dim ${late} of ${JSON.stringify(x.name)} after its axis ${axis} has no symbolic form; ${ctx.pinHintOf(x, late)}`);
  const axisExpr = xe?.[axis];
  const nRun = axisExpr !== undefined && typeof axisExpr !== "number" ? ctx.runtimeDim(x, axis) : undefined;
  const shortest = nRun ? evalDim(axisExpr!, ctx.symbolic!.symbols.map((s) => s.min)) : n;
  const rows = xe && xe.slice(0, axis).some((d) => typeof d !== "number") ? ctx.outerCount(x, pre) : pre;
  // k known only at run time (a data-dependent dim: kernels/counts.ts): read, checked within the
  // axis (a k past it is reported, BAD_INPUT after the run, and taken as the axis's length), the
  // outputs laid out at the bound's strides along the axis
  // (a constant k past this run's length of a varying axis likewise: invalid there, as onnxruntime has it)
  const runtimeK = ctx.opset >= 10 && !ctx.constValue(1);
  const kk = fn.local(binaryen.i32);
  const len = () => nRun ? ctx.runtimeDim(x, axis)! : m.i32.const(n);
  if (runtimeK || (nRun && k > shortest)) {
    const given = fn.local(binaryen.i64);
    const kIn = ctx.inputs[1];
    fn.emit(given.set(runtimeK ? load(m, kIn!.dtype, m.i32.const(kIn!.addr)) : m.i64.extend_u(m.i32.const(k))));
    fn.emit(m.if(m.i64.gt_u(given.get(), m.i64.extend_u(len())), m.block(null, [ctx.badIndex(() => given.get(), () => m.i64.extend_u(len())), given.set(m.i64.extend_u(len()))])));
    fn.emit(kk.set(m.i32.wrap(given.get())));
    if (runtimeK) fn.emit(writeCount(ctx, kk.get()));
  } else fn.emit(kk.set(m.i32.const(k)));
  if (runtimeK || nRun) ctx.readsPadded();
  else for (const o of [vals, inds]) if (o && ctx.symbolic?.dims.has(o.name)) ctx.outerCount(o, pre);
  fn.emit(fn.nest([rows, post], ([p, q]) => {
    const at = (i: Expr, len: number) => m.i32.add(m.i32.mul(p.get(), m.i32.const(len * post)), m.i32.add(q.get(), m.i32.mul(i, m.i32.const(post))));
    const xAt = (i: () => Expr) => () => load(m, dt, byteAddr(m, x.addr, at(i(), n), b));
    const order = (i: () => Expr, j: () => Expr) => before(m, dt, largest, xAt(i), i(), xAt(j), j());
    const passes = (body: (r: Local) => Expr[]) => (runtimeK || nRun ? fn.loopDyn(m.i32.const(0), kk.get(), body) : fn.loop(k, body));
    return [passes((r) => {
      const outAt = () => byteAddr(m, 0, at(r.get(), k), 1);
      return [
        best.set(m.i32.const(-1)),
        (nRun ? (body: (j: Local) => Expr[]) => fn.loopDyn(m.i32.const(0), len(), body) : (body: (j: Local) => Expr[]) => fn.loop(n, body))((j) => {
          const afterPrev = m.i32.or(m.i32.eqz(r.get()), order(() => prev.get(), () => j.get()));
          // nested ifs: the order test must not read x[best] while best is still -1
          const take = m.if(m.i32.lt_s(best.get(), m.i32.const(0)), best.set(j.get()),
            m.if(order(() => j.get(), () => best.get()), best.set(j.get())));
          return [m.if(afterPrev, take)];
        }),
        prev.set(best.get()),
        store(m, dt, m.i32.mul(outAt(), m.i32.const(b)), xAt(() => best.get())(), vals.addr),
        ...(inds ? [m.i64.store(inds.addr, 8, m.i32.mul(outAt(), m.i32.const(8)), m.i64.extend_u(best.get()))] : []),
      ];
    })];
  }));
});

export const KERNELS = table.families;
