// Kernels that write mostly constants or index patterns: Pad, ConstantOfShape, EyeLike, Trilu,
// Range, OneHot, Shape (of symbolic dims). Values move as raw bytes where no arithmetic is needed.
import binaryen from "binaryen";
import { dtype, type DTypeName } from "../../../runtime/dtypes.js";
import { stridesOf, type Expr, type Local } from "../../fn.js";
import { constant, convert, load, store, wasmType } from "../../memory.js";
import { bytesOf, rawLoad, rawStore } from "./view.js";
import { KernelTable, type KernelCtx, type TensorRef } from "../kernel.js";
import { prefixDim } from "../../symbolic.js";

const table = new KernelTable();

/** Raw bits of one `dt` element holding `v`, as the integer rawStore takes. */
function bitsOf(dt: DTypeName, v: number | bigint): { bytes: Uint8Array; word: number | bigint } {
  const info = dtype(dt);
  const arr = new info.array(1);
  (arr as unknown as (number | bigint)[])[0] = info.big ? (typeof v === "bigint" ? v : BigInt(Math.trunc(v))) : Number(v);
  const bytes = new Uint8Array(arr.buffer);
  const dv = new DataView(arr.buffer);
  const word = info.bytes === 8 ? dv.getBigUint64(0, true) : info.bytes === 4 ? dv.getInt32(0, true) : info.bytes === 2 ? dv.getUint16(0, true) : dv.getUint8(0);
  return { bytes, word };
}

function rawConst(m: binaryen.Module, bytes: number, word: number | bigint): Expr {
  return bytes === 8 ? constant(m, "int64", word) : m.i32.const(Number(word));
}

/** Store `value` (raw bits, i32 or i64 as rawStore takes) into every element of `out`. */
function fillLoop(ctx: KernelCtx, out: TensorRef, value: Expr, count?: Expr): void {
  const { m, fn } = ctx;
  const b = bytesOf(out.dtype);
  const v = fn.local(b === 8 ? binaryen.i64 : binaryen.i32);
  const store = (i: Local) => [rawStore(m, b, m.i32.mul(i.get(), m.i32.const(b)), v.get(), out.addr)];
  fn.emit(v.set(value), count ? fn.loopDyn(m.i32.const(0), count, store) : fn.loop(out.size, store));
}

/** Fill `out` with a compile-time value given as stored data (float16 as its bits): memory.fill when every byte is the same. */
export function emitFillConst(ctx: KernelCtx, out: TensorRef, v: number | bigint, count?: Expr): void {
  if (out.size === 0) return;
  const m = ctx.m;
  const { bytes, word } = bitsOf(out.dtype, v);
  if (bytes.every((x) => x === bytes[0])) {
    ctx.fn.emit(m.memory.fill(m.i32.const(out.addr), m.i32.const(bytes[0]), count ? m.i32.mul(count, m.i32.const(bytes.length)) : m.i32.const(out.size * bytes.length)));
  } else fillLoop(ctx, out, rawConst(m, bytes.length, word), count);
}

/** Pad's fill value: constant_value input (runtime or constant) or the `value` attribute; over the first `count` elements when given. */
export function emitPadFill(ctx: KernelCtx, out: TensorRef, count?: Expr): void {
  const cv = ctx.opset >= 11 ? ctx.inputs[2] : undefined;
  if (cv && cv.size && !cv.value) return fillLoop(ctx, out, rawLoad(ctx.m, bytesOf(out.dtype), ctx.m.i32.const(cv.addr)), count);
  if (cv?.value) return emitFillConst(ctx, out, cv.value.data[0], count);
  const v = cv ? 0 : ctx.attrs.float("value", 0);
  // the attribute is a plain number; float16 needs its bits, which the typed store computes
  if (out.dtype !== "float16" || v === 0) return emitFillConst(ctx, out, v, count);
  const { m, fn } = ctx;
  fn.emit(fn.loop(out.size, (i) => [store(m, out.dtype, m.i32.mul(i.get(), m.i32.const(2)), constant(m, out.dtype, v), out.addr)]));
}

/** Source coordinate along one axis for the non-constant pad modes (i = o - begin, in a local). */
function padSource(ctx: KernelCtx, mode: string, o: Expr, begin: number, d: number | (() => Expr)): Expr[] {
  const { m, fn } = ctx;
  if (d === 1) return [m.i32.const(0)];
  const i = fn.local(binaryen.i32);
  const c = (v: number) => m.i32.const(v);
  // d: the axis' length, this run's where it varies (an i32 expression each call; a divisor at least 1)
  const len = () => (typeof d === "number" ? c(d) : d());
  const atLeast1 = (e: () => Expr) => (typeof d === "number" ? e() : m.select(m.i32.gt_s(e(), c(1)), e(), c(1)));
  const mod = (e: Expr, p: () => Expr) => m.i32.rem_s(m.i32.add(m.i32.rem_s(e, atLeast1(p)), atLeast1(p)), atLeast1(p));
  const set = i.set(m.i32.sub(o, c(begin)));
  const source = (() => {
    switch (mode) {
      case "edge":
        return [set, m.select(m.i32.lt_s(i.get(), c(0)), c(0), m.select(m.i32.gt_s(i.get(), m.i32.sub(len(), c(1))), m.i32.sub(len(), c(1)), i.get()))];
      case "wrap": return [set, mod(i.get(), len)];
      default: {
        // reflect: period 2(d-1), mirrored in its second half
        const p = () => m.i32.mul(c(2), m.i32.sub(len(), c(1)));
        return [set, i.set(mod(i.get(), p)), m.select(m.i32.ge_s(i.get(), len()), m.i32.sub(p(), i.get()), i.get())];
      }
    }
  })();
  if (typeof d === "number") return source;
  // a run's length of 1 reads its one element (reflect's period would be 0)
  const last = source.pop()!;
  return [...source, m.select(m.i32.le_s(len(), c(1)), c(0), last)];
}

/**
 * Pad in reflect/edge/wrap mode: every output element reads one computed input element. `runtime`:
 * dims k's extents in this run where they vary (padded layout), of x then of the output: the
 * source index folds over the run's length (an image padded by reflection before a Conv).
 */
export function emitPadIndexed(ctx: KernelCtx, x: TensorRef, out: TensorRef, begin: number[], mode: string, runtime?: { x: (k: number) => Expr | undefined; out: (k: number) => Expr | undefined }): void {
  const { m, fn } = ctx;
  const b = bytesOf(x.dtype);
  const xs = stridesOf(x.dims);
  const os = stridesOf(out.dims);
  const varies = out.dims.map((_, k) => runtime?.x(k) !== undefined);
  fn.emit(fn.nest(out.dims.map((d, k) => (varies[k] ? () => runtime!.out(k)! : d)), (idx) => {
    const pre: Expr[] = [];
    let src: Expr = m.i32.const(0);
    idx.forEach((l, k) => {
      if (x.dims[k] === 1 && !varies[k]) return;
      // a varying dim not padded: its index is its own
      if (varies[k] && begin[k] === 0 && out.dims[k] === x.dims[k]) return (src = m.i32.add(src, m.i32.mul(l.get(), m.i32.const(xs[k]))));
      const s = padSource(ctx, mode, l.get(), begin[k], varies[k] ? () => runtime!.x(k)! : x.dims[k]);
      pre.push(...s.slice(0, -1));
      src = m.i32.add(src, m.i32.mul(s[s.length - 1], m.i32.const(xs[k])));
    });
    const dst = m.i32.mul(fn.linear(idx, os), m.i32.const(b));
    return [...pre, rawStore(m, b, dst, rawLoad(m, b, m.i32.mul(src, m.i32.const(b)), x.addr), out.addr)];
  }));
}

table.add("ConstantOfShape", (ctx) => {
  const v = ctx.attrs.tensor("value");
  const out = ctx.output(0);
  // symbolic dims: in the prefix form this run's elements, else the whole slot at the bounds (the
  // padding takes the value too)
  const e = ctx.symbolic?.dims.get(out.name);
  if (e && dtype(out.dtype).bits >= 8) {
    if (prefixDim(out.dims, e) !== undefined) return emitFillConst(ctx, out, v ? v.data[0] : 0, ctx.runtimeExtent(out, out.size));
    ctx.readsPadded();
  }
  emitFillConst(ctx, out, v ? v.data[0] : 0);
});

table.add("EyeLike", (ctx) => {
  const out = ctx.output(0);
  const { m, fn } = ctx;
  const [rows, cols] = out.dims;
  const k = ctx.attrs.int("k", 0);
  const b = bytesOf(out.dtype);
  emitFillConst(ctx, out, 0);
  const first = Math.max(0, -k);
  const end = Math.min(rows, cols - k);
  fn.emit(fn.loop(end, (i) => [store(m, out.dtype, m.i32.mul(i.get(), m.i32.const((cols + 1) * b)), constant(m, out.dtype, 1), out.addr + k * b)], { start: first }));
});

/** An int64 (or int32) scalar input as an i64 expression; `def` when the input is absent. */
function scalarI64(ctx: KernelCtx, i: number, def: number): Expr {
  const t = ctx.inputs[i];
  const m = ctx.m;
  if (!t) return constant(m, "int64", def);
  return convert(m, t.dtype, "int64", load(m, t.dtype, m.i32.const(t.addr)));
}

table.add("Trilu", (ctx) => {
  const x = ctx.input(0);
  const out = ctx.output(0);
  const { m, fn } = ctx;
  const r = x.dims.length;
  const [rows, cols] = x.dims.slice(r - 2);
  const batch = x.size / Math.max(rows * cols, 1);
  const upper = ctx.attrs.int("upper", 1) === 1;
  const b = bytesOf(x.dtype);
  const k = fn.local(binaryen.i64);
  fn.emit(k.set(scalarI64(ctx, 1, 0)));
  const zero = b === 8 ? m.i64.const(0) : m.i32.const(0);
  /** element (i, j) of a matrix at byte offset `at`: kept on its side of diagonal k, else 0 */
  const element = (i: Local, j: Local, at: () => Expr): Expr => {
    const diag = m.i64.extend_s(m.i32.sub(j.get(), i.get()));
    const keep = upper ? m.i64.ge_s(diag, k.get()) : m.i64.le_s(diag, k.get());
    return rawStore(m, b, at(), m.select(keep, rawLoad(m, b, at(), x.addr), zero), out.addr);
  };
  // symbolic dims (the padded layout, x and the output alike: a causal mask [seq, seq]): each dim
  // this run's extent, the elements at the bounds' strides
  const varying = x.dims.map((_, a) => [ctx.runtimeDim(x, a), ctx.runtimeDim(out, a)].some((e) => e !== undefined));
  if (varying.some(Boolean)) {
    const strides = stridesOf(x.dims).map((st) => st * b);
    const trips = x.dims.map((d, a) => (varying[a] ? () => ctx.runtimeDim(out, a)! : d));
    fn.emit(fn.nest(trips, (idx) => [element(idx[r - 2], idx[r - 1], () => fn.linear(idx, strides))]));
    return;
  }
  fn.emit(fn.nest([batch, rows, cols], ([n, i, j]) => [element(i, j, () => m.i32.mul(fn.linear([n, i, j], [rows * cols, cols, 1]), m.i32.const(b)))]));
});

table.add("Range", (ctx) => {
  const out = ctx.output(0);
  const { m, fn } = ctx;
  const dt = out.dtype;
  const t = wasmType(dt);
  const start = fn.local(t);
  const delta = fn.local(t);
  fn.emit(start.set(load(m, dt, m.i32.const(ctx.input(0).addr))), delta.set(load(m, dt, m.i32.const(ctx.input(2).addr))));
  const b = bytesOf(dt);
  const value = (i: Local): Expr => {
    const ops = t === binaryen.f32 ? m.f32 : t === binaryen.f64 ? m.f64 : undefined;
    if (ops) return ops.add(start.get(), ops.mul(convert(m, "int32", dt, i.get()), delta.get()));
    if (t === binaryen.i64) return m.i64.add(start.get(), m.i64.mul(m.i64.extend_s(i.get()), delta.get()));
    return m.i32.add(start.get(), m.i32.mul(i.get(), delta.get()));
  };
  // a symbolic length (past+seq): this run's elements only
  const count = ctx.runtimeExtent(out, out.size);
  const each = (f: (i: Local) => Expr[]) => (count ? fn.loopDyn(m.i32.const(0), count, f) : fn.loop(out.size, f));
  fn.emit(each((i) => [store(m, dt, m.i32.mul(i.get(), m.i32.const(b)), value(i), out.addr)]));
});

// Shape runs only where its input has symbolic dims (elsewhere inference folds it): this run's dims
table.add("Shape", (ctx) => {
  const x = ctx.input(0), out = ctx.output(0);
  const { m, fn } = ctx;
  const r = x.dims.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const start = clamp(ctx.attrs.int("start", 0));
  // only dims are read: any layout of a symbolic x
  ctx.readsPadded();
  for (let j = 0; j < out.size; j++) {
    const d = ctx.runtimeDim(x, start + j);
    fn.emit(m.i64.store(8 * j, 8, m.i32.const(out.addr), d ? m.i64.extend_u(d) : m.i64.const(BigInt(x.dims[start + j]))));
  }
});

// Size likewise: the product of this run's dims
table.add("Size", (ctx) => {
  const x = ctx.input(0), out = ctx.output(0);
  const { m, fn } = ctx;
  ctx.readsPadded();
  const product = x.dims.reduce<Expr>((p, d, k) => {
    const e = ctx.runtimeDim(x, k);
    return e ? m.i64.mul(p, m.i64.extend_u(e)) : d === 1 ? p : m.i64.mul(p, m.i64.const(BigInt(d)));
  }, m.i64.const(1n));
  fn.emit(m.i64.store(0, 8, m.i32.const(out.addr), product));
});

table.add("OneHot", (ctx) => {
  const idx = ctx.input(0);
  const vals = ctx.input(2);
  const out = ctx.output(0);
  const { m, fn } = ctx;
  const r = out.dims.length;
  const a = ctx.attrs.int("axis", -1);
  const axis = a < 0 ? a + r : a;
  const depth = out.dims[axis];
  const pre = out.dims.slice(0, axis).reduce((p, d) => p * d, 1);
  const post = out.dims.slice(axis + 1).reduce((p, d) => p * d, 1);
  const b = bytesOf(out.dtype);
  const vt = b === 8 ? binaryen.i64 : binaryen.i32;
  const [off, on] = [fn.local(vt), fn.local(vt)];
  const v = fn.local(binaryen.i64);
  fn.emit(off.set(rawLoad(m, b, m.i32.const(vals.addr))), on.set(rawLoad(m, b, m.i32.const(vals.addr + b))));
  const ib = bytesOf(idx.dtype);
  fn.emit(fn.nest([pre, post], ([p, q]) => {
    const x = () => load(m, idx.dtype, m.i32.mul(fn.linear([p, q], [post, 1]), m.i32.const(ib)), idx.addr);
    const raw = convert(m, idx.dtype, "int64", x());
    // like onnxruntime, a fractional float index matches no position
    const F = wasmType(idx.dtype) === binaryen.f32 ? m.f32 : wasmType(idx.dtype) === binaryen.f64 ? m.f64 : undefined;
    return [
      v.set(F ? m.select(F.eq(F.trunc(x()), x()), raw, constant(m, "int64", depth)) : raw),
      v.set(m.select(m.i64.lt_s(v.get(), m.i64.const(0)), m.i64.add(v.get(), constant(m, "int64", depth)), v.get())),
      fn.loop(depth, (d) => {
        const at = m.i32.mul(fn.linear([p, d, q], [depth * post, post, 1]), m.i32.const(b));
        return [rawStore(m, b, at, m.select(m.i64.eq(v.get(), m.i64.extend_u(d.get())), on.get(), off.get()), out.addr)];
      }),
    ];
  }));
});

export const KERNELS = table.families;
