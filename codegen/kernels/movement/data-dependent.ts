// Data movement whose output length the input values decide (docs/ARCHITECTURE.md
// "Data-dependent dims"): NonZero, Compress over a condition known only at run time, Unique over
// the flattened input, and a Loop's scan outputs cut to the iterations that ran (kiln.control.LoopCount). Each
// writes its count (kernels/counts.ts); its output is laid out at the bound (the padded layout:
// NonZero's [rank, count] rows at the stride of every element being non-zero, Compress's kept
// slices at the stride of every slice kept). Compress over a constant condition copies its kept
// slabs, their places known at compile time.
import binaryen from "binaryen";
import { stridesOf, type Expr, type Trips } from "../../fn.js";
import { convert, load, store, wasmType } from "../../memory.js";
import { bytesOf, copyBytes, emitView } from "./view.js";
import { KernelTable, variant, type KernelCtx, type TensorRef } from "../kernel.js";
import { writeCount } from "../counts.js";
import { Heap } from "../heap.js";
import { before } from "./indexing.js";
import { CONTROL_DOMAIN } from "../../../compiler/ops/control.js";

const table = new KernelTable();
const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** x[at] != 0 as an i32, Cast's test to bool (NaN counts as non-zero, as numpy's nonzero has it) */
function nonZero(ctx: KernelCtx, x: TensorRef, at: Expr): Expr {
  const { m } = ctx;
  return convert(m, x.dtype, "bool", load(m, x.dtype, m.i32.add(m.i32.const(x.addr), m.i32.mul(at, m.i32.const(bytesOf(x.dtype))))));
}

table.add("NonZero", (ctx) => {
  // every element in row-major order, each non-zero one's coordinates appended as a column
  const { m, fn } = ctx;
  const [x, out] = [ctx.input(0), ctx.output(0)];
  const most = x.size; // the output's columns at the bound: its row stride
  const count = fn.local(binaryen.i32);
  // a varying dim of x runs this run's extent (x in the padded layout: strides at the bounds)
  const trips: Trips[] = x.dims.map((d, k) => (ctx.runtimeDim(x, k) ? () => ctx.runtimeDim(x, k)! : d));
  fn.emit(count.set(m.i32.const(0)));
  fn.emit(fn.nest(trips, (idx) => [
    m.if(nonZero(ctx, x, fn.linear(idx, stridesOf(x.dims))), m.block(null, [
      ...idx.map((i, a) => store(m, "int64", m.i32.add(m.i32.const(out.addr + 8 * a * most), m.i32.shl(count.get(), m.i32.const(3))), m.i64.extend_u(i.get()))),
      count.set(m.i32.add(count.get(), m.i32.const(1))),
    ])),
  ]));
  fn.emit(writeCount(ctx, count.get()));
  ctx.readsPadded(); // the output's rows at the bound's stride
});

/** Compress's geometry: the slices along the axis (the whole input flattened without one), their count before and elements in each */
function compressGeometry(ctx: KernelCtx) {
  const x = ctx.input(0);
  const hasAxis = ctx.attrs.has("axis");
  const dims = hasAxis ? x.dims : [x.size];
  const axis = hasAxis ? (ctx.attrs.int("axis") + dims.length) % dims.length : 0;
  return { dims, axis, outer: prod(dims.slice(0, axis)), inner: prod(dims.slice(axis + 1)) };
}

table.family("Compress", "Compress", [
  // the condition a constant: each kept slab copied to its place
  variant<object>({
    name: "compress-slabs",
    plan: (layer) => (layer.constValue(1) ? {} : undefined),
    emit: (ctx) => {
      const [x, out] = [ctx.input(0), ctx.output(0)];
      const cond = Array.from(ctx.constValue(1)!.data as ArrayLike<number>, (v) => Number(v) !== 0);
      const { dims, axis, outer, inner } = compressGeometry(ctx);
      const bytes = bytesOf(x.dtype);
      let j = 0;
      for (let i = 0; i < dims[axis]; i++) {
        if (!cond[i]) continue;
        const src = { addr: x.addr + i * inner * bytes, strides: [dims[axis] * inner, 1] };
        const dst = { addr: out.addr + j++ * inner * bytes, strides: [out.size / Math.max(outer, 1), 1] };
        emitView(ctx, { dims: [outer, inner], bytes, src, dst });
      }
    },
  }),
  // the condition known at run time: each slice it keeps copied to the next place, the count written
  variant<object>({
    name: "compress-scan",
    plan: (layer) => (layer.constValue(1) ? undefined : {}),
    emit: (ctx) => {
      const { m, fn } = ctx;
      const [x, cond, out] = [ctx.input(0), ctx.input(1), ctx.output(0)];
      for (const t of [x, cond]) {
        const e = ctx.symbolic?.dims.get(t.name);
        const k = e?.findIndex((d) => typeof d !== "number") ?? -1;
        if (k >= 0) ctx.unsupported(`Compress over a run-time condition with the varying dim ${k} of ${JSON.stringify(t.name)} has no symbolic form yet; ${ctx.pinHintOf(t, k)}`);
      }
      const { dims, axis, outer, inner } = compressGeometry(ctx);
      const most = Math.min(cond.size, dims[axis]); // the output's slices at the bound
      const bytes = bytesOf(x.dtype) * inner;
      const count = fn.local(binaryen.i32);
      fn.emit(count.set(m.i32.const(0)));
      fn.emit(fn.loop(most, (i) => [
        m.if(m.i32.load8_u(0, 1, m.i32.add(m.i32.const(cond.addr), i.get())), m.block(null, [
          fn.loop(outer, (o) => [copyBytes(fn,
            m.i32.add(m.i32.const(out.addr), m.i32.mul(m.i32.add(m.i32.mul(o.get(), m.i32.const(most)), count.get()), m.i32.const(bytes))),
            m.i32.add(m.i32.const(x.addr), m.i32.mul(m.i32.add(m.i32.mul(o.get(), m.i32.const(dims[axis])), i.get()), m.i32.const(bytes))),
            bytes)]),
          count.set(m.i32.add(count.get(), m.i32.const(1))),
        ])),
      ]));
      fn.emit(writeCount(ctx, count.get()));
      ctx.readsPadded(); // the kept slices at the bound's stride
    },
  }),
]);

table.add("LoopCount", (ctx) => {
  // the iterations that ran: `always`, then one per condition up to the first false; their slices copied
  const { m, fn } = ctx;
  const [x, out] = [ctx.input(0), ctx.output(0)];
  const slice = (x.size / x.dims[0]) * bytesOf(x.dtype);
  const count = fn.local(binaryen.i32);
  const ran = fn.label("X");
  fn.emit(count.set(m.i32.const(ctx.attrs.int("always"))));
  fn.emit(m.block(ran, ctx.inputs.slice(1).flatMap((c) => [
    m.br(ran, m.i32.eqz(m.i32.load8_u(0, 1, m.i32.const(c!.addr)))),
    count.set(m.i32.add(count.get(), m.i32.const(1))),
  ])));
  fn.emit(m.memory.copy(m.i32.const(out.addr), m.i32.const(x.addr), m.i32.mul(count.get(), m.i32.const(slice))));
  fn.emit(writeCount(ctx, count.get()));
}, { domain: CONTROL_DOMAIN });

/**
 * Unique over the flattened input known only at run time: the element ids sorted by (value, id) in
 * scratch (heapsort), so equal values lie together, the lowest id first; a walk over them gives each
 * distinct value its first index, its count and every element's group (sorted: the value order).
 * Unsorted (sorted=0), the groups are ranked by their first index instead (a second sort). -0
 * equals 0; the NaNs are one group, after every number (numpy's unique).
 */
table.add("Unique", (ctx) => {
  const { m, fn } = ctx;
  const x = ctx.input(0);
  const [y, firstOut, inverse, countsOut] = [0, 1, 2, 3].map((k) => ctx.outputs[k]);
  const n = x.size;
  const dt = x.dtype;
  const bytes = bytesOf(dt);
  const i32 = (v: number) => m.i32.const(v);
  const t = wasmType(dt);
  const value = (id: Expr) => load(m, dt, m.i32.add(i32(x.addr), m.i32.mul(id, i32(bytes))));
  // floats in a total order: NaN after every number (TopK's order, smallest first) and equal to
  // another NaN (numpy's unique: one NaN group, last)
  const F = t === binaryen.f32 ? m.f32 : t === binaryen.f64 ? m.f64 : undefined;
  const nan = (v: () => Expr) => F!.ne(v(), v());
  const eq = (a: () => Expr, b: () => Expr) => (F ? m.i32.or(F.eq(a(), b()), m.i32.and(nan(a), nan(b))) : t === binaryen.i64 ? m.i64.eq(a(), b()) : m.i32.eq(a(), b()));
  // scratch: the sorted ids, then per group its first id and its count, then the groups' order
  const ids = new Heap(fn, ctx.scratchAddr);
  const firstAt = (g: Expr) => m.i32.add(i32(ctx.scratchAddr + 4 * n), m.i32.shl(g, i32(2)));
  const countAt = (g: Expr) => m.i32.add(i32(ctx.scratchAddr + 8 * n), m.i32.shl(g, i32(2)));
  const groups = new Heap(fn, ctx.scratchAddr + 12 * n);
  const [size, g, id] = [fn.local(binaryen.i32), fn.local(binaryen.i32), fn.local(binaryen.i32)];
  fn.emit(size.set(i32(n)));
  fn.emit(fn.loop(n, (i) => [ids.set(i.get(), i.get())]));
  fn.emit(ids.sort(size, (a, b) => before(m, dt, false, () => value(a()), a(), () => value(b()), b())));
  // the groups: a new one where the value differs from the one before
  fn.emit(g.set(i32(-1)));
  const fresh = fn.local(binaryen.i32);
  fn.emit(fn.loop(n, (p) => [
    id.set(ids.get(p.get())),
    // (nested: the id before is read only where there is one)
    fresh.set(i32(1)),
    m.if(p.get(), fresh.set(m.i32.eqz(eq(() => value(id.get()), () => value(ids.get(m.i32.sub(p.get(), i32(1)))))))),
    m.if(fresh.get(), m.block(null, [
      g.set(m.i32.add(g.get(), i32(1))),
      m.i32.store(0, 4, firstAt(g.get()), id.get()),
      m.i32.store(0, 4, countAt(g.get()), i32(0)),
    ])),
    m.i32.store(0, 4, countAt(g.get()), m.i32.add(m.i32.load(0, 4, countAt(g.get())), i32(1))),
    // the element's group in value order; unsorted, renumbered below
    ...(inverse ? [m.i64.store(0, 8, m.i32.add(i32(inverse.addr), m.i32.shl(id.get(), i32(3))), m.i64.extend_u(g.get()))] : []),
  ]));
  fn.emit(size.set(m.i32.add(g.get(), i32(1))));
  const sorted = ctx.attrs.int("sorted", 1) === 1;
  // the r-th group out: in value order, or (unsorted) in the order of their first index
  fn.emit(fn.loopDyn(i32(0), size.get(), (r) => [groups.set(r.get(), r.get())]));
  if (!sorted) fn.emit(groups.sort(size, (a, b) => m.i32.lt_u(m.i32.load(0, 4, firstAt(a())), m.i32.load(0, 4, firstAt(b())))));
  const rank = new Heap(fn, ctx.scratchAddr + 16 * n); // group -> its place out (unsorted only)
  fn.emit(fn.loopDyn(i32(0), size.get(), (r) => {
    const grp = () => groups.get(r.get());
    const first = () => m.i32.load(0, 4, firstAt(grp()));
    const put = (o: TensorRef | undefined, v: Expr, b: number, store: (addr: Expr, v: Expr) => Expr) => (o ? [store(m.i32.add(i32(o.addr), m.i32.mul(r.get(), i32(b))), v)] : []);
    return [
      ...(sorted ? [] : [rank.set(grp(), r.get())]),
      ...put(y, value(first()), bytes, (a, v) => store(m, dt, a, v)),
      ...put(firstOut, m.i64.extend_u(first()), 8, (a, v) => m.i64.store(0, 8, a, v)),
      ...put(countsOut, m.i64.extend_u(m.i32.load(0, 4, countAt(grp()))), 8, (a, v) => m.i64.store(0, 8, a, v)),
    ];
  }));
  if (!sorted && inverse) {
    fn.emit(fn.loop(n, (e) => {
      const at = m.i32.add(i32(inverse.addr), m.i32.shl(e.get(), i32(3)));
      return [m.i64.store(0, 8, at, m.i64.extend_u(rank.get(m.i32.wrap(m.i64.load(0, 8, m.i32.add(i32(inverse.addr), m.i32.shl(e.get(), i32(3))))))))];
    }));
  }
  fn.emit(writeCount(ctx, size.get()));
}, { prepare: (ctx) => ({ scratchBytes: 20 * ctx.input(0).size }) });

export const KERNELS = table.families;
