// ArgMax, ArgMin and Hardmax: the index of the extreme element along one axis. They track an
// index beside the value, so they have their own (scalar) loop over an [outer, n, inner] view.
import binaryen from "binaryen";
import type { DTypeName } from "../../../runtime/dtypes.js";
import { dtype } from "../../../runtime/dtypes.js";
import { stridesOf, type Expr, type Local, type Trips } from "../../fn.js";
import { evalDim } from "../../../runtime/dims.js";
import { constant, isFloat, isUnsigned, load, store, wasmType } from "../../memory.js";
import { KernelTable, type KernelCtx } from "../kernel.js";
import type { View } from "./rows.js";

const table = new KernelTable();

/** Softmax-family view: opset >= 13 reduces one axis; older opsets flatten [axis, rank) into it. */
export function softmaxView(ctx: KernelCtx): View {
  const dims = ctx.input(0).dims;
  const r = dims.length;
  if (r === 0) return { dims: [1, 1, 1], reduced: [false, true, false] };
  const arg = ctx.node.op.startsWith("Arg");
  let axis = ctx.attrs.int("axis", arg ? 0 : ctx.opset >= 13 ? -1 : 1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) ctx.unsupported(`axis ${ctx.attrs.int("axis", 0)} is out of range for rank ${r}`);
  const prod = (a: number, b: number) => dims.slice(a, b).reduce((p, d) => p * d, 1);
  if (ctx.opset >= 13 || arg) {
    return { dims: [prod(0, axis), dims[axis], prod(axis + 1, r)], reduced: [false, true, false] };
  }
  return { dims: [prod(0, axis), prod(axis, r), 1], reduced: [false, true, false] };
}

/**
 * softmaxView with the input's own dims, unmerged: a layer with symbolic dims (reduce/rows.ts
 * gives each varying dim its own loop in the padded layout, which merged dims would hide)
 */
export function softmaxViewOf(ctx: KernelCtx): View {
  const flat = softmaxView(ctx); // checks the axis
  const dims = ctx.input(0).dims;
  const r = dims.length;
  if (!ctx.symbolic || r === 0) return flat;
  const arg = ctx.node.op.startsWith("Arg");
  let axis = ctx.attrs.int("axis", arg ? 0 : ctx.opset >= 13 ? -1 : 1);
  if (axis < 0) axis += r;
  const one = ctx.opset >= 13 || arg;
  return { dims: [...dims], reduced: dims.map((_, k) => (one ? k === axis : k >= axis)) };
}

type Cmp = (a: Expr, b: Expr) => Expr;

/** "a beats b" for a max (or min) search; with ties, `orEqual` makes the later index win. */
function beats(m: binaryen.Module, dt: DTypeName, max: boolean, orEqual: boolean): Cmp {
  const t = wasmType(dt);
  const u = isUnsigned(dt);
  if (t === binaryen.f32 || t === binaryen.f64) {
    const f = t === binaryen.f32 ? m.f32 : m.f64;
    return max ? (orEqual ? f.ge : f.gt) : (orEqual ? f.le : f.lt);
  }
  const i = t === binaryen.i64 ? m.i64 : m.i32;
  if (max) return orEqual ? (u ? i.ge_u : i.ge_s) : (u ? i.gt_u : i.gt_s);
  return orEqual ? (u ? i.le_u : i.le_s) : (u ? i.lt_u : i.lt_s);
}

/**
 * The search over a tensor with symbolic dims, in the padded layout (strides at the bounds): each
 * dim its own loop, the varying ones and the searched axis to this run's extents (CLIP's text
 * pooler: ArgMax of the ids over [batch, seq]). `then(idx, best, n)`, per position of the other
 * dims (in order), writes the result. The axis may not be empty at the bounds' lower end: there is
 * no answer then, and a module cannot refuse one run.
 */
function emitSearchPadded(ctx: KernelCtx, axis: number, better: Cmp, then: (idx: Local[], best: Expr, n: () => Expr) => Expr[]): void {
  const { m, fn } = ctx;
  const x = ctx.input(0);
  const sym = ctx.symbolic!;
  const e = sym.dims.get(x.name)![axis];
  if (typeof e !== "number" && evalDim(e, sym.symbols.map((s) => s.min)) < 1) {
    ctx.unsupported(`${ctx.node.op} over the varying dim ${axis} of ${JSON.stringify(x.name)}, which is empty at the bounds' lower end, has no answer; raise the bounds' minimum to 1`);
  }
  const xs = stridesOf(x.dims), bytes = dtype(x.dtype).bytes;
  const others = x.dims.map((_, k) => k).filter((k) => k !== axis);
  const extent = (k: number): Trips => (ctx.runtimeDim(x, k) === undefined ? x.dims[k] : () => ctx.runtimeDim(x, k)!);
  const n = () => ctx.runtimeDim(x, axis) ?? m.i32.const(x.dims[axis]);
  const t = wasmType(x.dtype);
  const [val, cur, best, base] = [fn.local(t), fn.local(t), fn.local(binaryen.i32), fn.local(binaryen.i32)];
  const at = (j: Expr) => m.i32.add(base.get(), m.i32.mul(j, m.i32.const(xs[axis] * bytes)));
  fn.emit(fn.nest(others.map(extent), (idx) => [
    base.set(fn.linear(idx, others.map((k) => xs[k] * bytes))),
    val.set(load(m, x.dtype, base.get(), x.addr)),
    best.set(m.i32.const(0)),
    fn.loopDyn(m.i32.const(1), n(), (j) => [
      m.if(better(cur.tee(load(m, x.dtype, at(j.get()), x.addr)), val.get()), m.block(null, [val.set(cur.get()), best.set(j.get())])),
    ]),
    ...then(idx, best.get(), n),
  ]));
}

/** The searched axis of ArgMax, ArgMin (default 0) and Hardmax (default -1 from opset 13), made non-negative. */
function searchAxis(ctx: KernelCtx): number {
  const r = ctx.input(0).dims.length;
  const a = ctx.attrs.int("axis", ctx.node.op.startsWith("Arg") ? 0 : ctx.opset >= 13 ? -1 : 1);
  return a < 0 ? a + r : a;
}

/** Emit, per [outer, inner] position, the search; `then(o, i, best)` writes the result. */
function emitSearch(ctx: KernelCtx, better: Cmp, then: (o: Expr, i: Expr, best: Expr, n: number, inner: number) => Expr[]): void {
  const { m, fn } = ctx;
  const x = ctx.input(0);
  const [outer, n, inner] = softmaxView(ctx).dims;
  if (n === 0) ctx.unsupported("arg-reduction over an empty axis has no answer");
  const bytes = dtype(x.dtype).bytes;
  const t = wasmType(x.dtype);
  const val = fn.local(t);
  const cur = fn.local(t);
  const best = fn.local(binaryen.i32);
  const at = (o: Expr, j: Expr, i: Expr) => m.i32.mul(m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(o, m.i32.const(n)), j), m.i32.const(inner)), i), m.i32.const(bytes));
  fn.emit(fn.nest([outer, inner], ([o, i]) => [
    val.set(load(m, x.dtype, at(o.get(), m.i32.const(0), i.get()), x.addr)),
    best.set(m.i32.const(0)),
    fn.loop(n, (j) => [
      m.if(better(cur.tee(load(m, x.dtype, at(o.get(), j.get(), i.get()), x.addr)), val.get()),
        m.block(null, [val.set(cur.get()), best.set(j.get())])),
    ], { start: 1 }),
    ...then(o.get(), i.get(), best.get(), n, inner),
  ]));
}

for (const [op, max] of [["ArgMax", true], ["ArgMin", false]] as const) {
  table.add(op, (ctx) => {
    const x = ctx.input(0);
    if (x.dtype === "bool") ctx.unsupported(`${op} on bool is not supported`);
    const y = ctx.output(0);
    const m = ctx.m;
    const last = ctx.attrs.int("select_last_index", 0) === 1;
    if (ctx.symbolic?.dims.has(x.name)) {
      // y keeps the axis as a 1 (keepdims) or drops it: the other dims' strides in y at the bounds
      const axis = searchAxis(ctx), ys = stridesOf(y.dims);
      const yStrides = x.dims.map((_, k) => k).filter((k) => k !== axis).map((k, p) => 8 * (y.dims.length === x.dims.length ? ys[k] : ys[p]));
      return emitSearchPadded(ctx, axis, beats(m, x.dtype, max, last), (idx, best) => [store(m, y.dtype, ctx.fn.linear(idx, yStrides), m.i64.extend_u(best), y.addr)]);
    }
    emitSearch(ctx, beats(m, x.dtype, max, last), (o, i, best, _n, inner) => [
      store(m, y.dtype, m.i32.shl(m.i32.add(m.i32.mul(o, m.i32.const(inner)), i), m.i32.const(3)), m.i64.extend_u(best), y.addr),
    ]);
  });
}

table.add("Hardmax", (ctx) => {
  const x = ctx.input(0);
  if (!isFloat(x.dtype)) ctx.unsupported(`Hardmax on ${x.dtype} is not supported`);
  const y = ctx.output(0);
  const { m, fn } = ctx;
  const bytes = dtype(y.dtype).bytes;
  const b = fn.local(binaryen.i32);
  if (ctx.symbolic?.dims.has(x.name)) {
    // opset 13's one axis (older opsets flatten [axis, rank) into one, which varying dims would not keep)
    if (ctx.opset < 13) ctx.unsupported(`Hardmax before opset 13 flattens the dims from its axis on, which has no symbolic form; ${ctx.pinHintOf(x)}`);
    const axis = searchAxis(ctx), xs = stridesOf(x.dims);
    const others = x.dims.map((_, k) => k).filter((k) => k !== axis);
    return emitSearchPadded(ctx, axis, beats(m, x.dtype, true, false), (idx, best, n) => [
      b.set(best),
      fn.loopDyn(m.i32.const(0), n(), (j) => [store(m, y.dtype, m.i32.add(fn.linear(idx, others.map((k) => xs[k] * bytes)), m.i32.mul(j.get(), m.i32.const(xs[axis] * bytes))),
        m.select(m.i32.eq(j.get(), b.get()), constant(m, y.dtype, 1), constant(m, y.dtype, 0)), y.addr)]),
    ]);
  }
  emitSearch(ctx, beats(m, x.dtype, true, false), (o, i, best, n, inner) => [
    b.set(best),
    fn.loop(n, (j) => {
      const addr = m.i32.mul(m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(o, m.i32.const(n)), j.get()), m.i32.const(inner)), i), m.i32.const(bytes));
      return [store(m, y.dtype, addr, m.select(m.i32.eq(j.get(), b.get()), constant(m, y.dtype, 1), constant(m, y.dtype, 0)), y.addr)];
    }),
  ]);
});

export const KERNELS = table.families;
