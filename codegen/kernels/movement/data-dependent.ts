// Data movement whose output length the input values decide (docs/ARCHITECTURE.md
// "Data-dependent dims"): NonZero, Compress over a condition known only at run time, and a Loop's
// scan outputs cut to the iterations that ran (kiln.control.LoopCount). Each
// writes its count (kernels/counts.ts); its output is laid out at the bound (the padded layout:
// NonZero's [rank, count] rows at the stride of every element being non-zero, Compress's kept
// slices at the stride of every slice kept). Compress over a constant condition copies its kept
// slabs, their places known at compile time.
import binaryen from "binaryen";
import { stridesOf, type Expr, type Trips } from "../../fn.js";
import { constant, load, store, wasmType } from "../../memory.js";
import { bytesOf, copyBytes, emitView } from "./view.js";
import { KernelTable, variant, type KernelCtx, type TensorRef } from "../kernel.js";
import { writeCount } from "../counts.js";
import { CONTROL_DOMAIN } from "../../../compiler/ops/control.js";

const table = new KernelTable();
const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** x[at] != 0 as an i32 (NaN counts as non-zero, as numpy's nonzero has it) */
function nonZero(ctx: KernelCtx, x: TensorRef, at: Expr): Expr {
  const { m } = ctx;
  const v = load(m, x.dtype, m.i32.add(m.i32.const(x.addr), m.i32.mul(at, m.i32.const(bytesOf(x.dtype)))));
  switch (wasmType(x.dtype)) {
    case binaryen.f32: return m.f32.ne(v, m.f32.const(0));
    case binaryen.f64: return m.f64.ne(v, m.f64.const(0));
    case binaryen.i64: return m.i64.ne(v, constant(m, "int64", 0));
    default: return m.i32.ne(v, m.i32.const(0));
  }
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

export const KERNELS = table.families;
