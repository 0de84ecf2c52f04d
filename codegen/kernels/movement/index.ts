// Data-movement kernels. Reshape-like ops are whole-tensor copies (memory planning may alias them
// later); everything else is a strided view (movement/view.ts) so contiguous runs use memory.copy.
import binaryen from "binaryen";
import { dtype, storageBytes } from "../../../runtime/dtypes.js";
import { KilnError } from "../../../runtime/errors.js";
import { padAmounts, rawSliceAxes, sliceParams, type ParamSource, type RawSliceAxis } from "../../../compiler/ops/movement-params.js";
import { evalDim, formatDim, type DimTerm } from "../../../runtime/dims.js";
import { splitSizes } from "../../../compiler/ops/movement.js";
import { broadcastStrides, stridesOf, type Expr, type Trips } from "../../fn.js";
import { bytesOf, copyBytes, emitView, transposeView, viewInto } from "./view.js";
import { keepsPaddedLayout, prefixDim } from "../../../compiler/ir/padded.js";
import { KernelTable, simpleVariant, variant, type KernelCtx, type TensorRef } from "../kernel.js";
import { emitFillConst, emitPadFill, emitPadIndexed } from "./fill.js";
import { emitSliceByValues, slicesByValues } from "./slice-values.js";
import { cutsCount, emitSliceCount } from "./slice-count.js";

const table = new KernelTable();

/** memory.copy of a whole tensor (same dtype and element count). */
export function emitCopy(ctx: KernelCtx, from: TensorRef, to: TensorRef): void {
  const bytes = storageBytes(from.dtype, from.size);
  if (bytes === 0 || from.addr === to.addr) return;
  const m = ctx.m;
  // symbolic dims in the padded layout: the same bytes, or the run's elements moved to their places
  const [fe, te] = [ctx.symbolic?.dims.get(from.name), ctx.symbolic?.dims.get(to.name)];
  if (fe || te) {
    const prefix = fe && te && prefixDim(from.dims, fe) !== undefined && prefixDim(to.dims, te) !== undefined;
    if (!prefix && keepsPaddedLayout(from.dims, fe, to.dims, te)) {
      ctx.readsPadded();
      ctx.fn.emit(m.memory.copy(m.i32.const(to.addr), m.i32.const(from.addr), m.i32.const(bytes)));
      return;
    }
    if (!prefix) return emitRelayout(ctx, from, to);
  }
  // a symbolic leading dim (both in the prefix form: the same first elements): this run's elements
  const rows = dtype(from.dtype).bits >= 8 ? ctx.runtimeExtent(from, from.size) : undefined;
  const n = rows ? m.i32.mul(rows, m.i32.const(dtype(from.dtype).bytes)) : m.i32.const(bytes);
  ctx.fn.emit(m.memory.copy(m.i32.const(to.addr), m.i32.const(from.addr), n));
}

/**
 * A reshape between padded layouts that place the run's elements differently ([2, seq] at most
 * [2, 64] to [2*seq, 1]): the input's elements in order, over this run's extents, each block of
 * elements contiguous in both (the static tail both shapes share) copied to the output's place of
 * its logical index (digits of this run's output dims).
 */
function emitRelayout(ctx: KernelCtx, from: TensorRef, to: TensorRef): void {
  const { m, fn } = ctx;
  if (dtype(from.dtype).bits < 8) ctx.unsupported(`${ctx.node.op} of ${from.dtype} between these symbolic layouts has no kernel yet; pin the dims (--shape NAME=N)`);
  const bytes = dtype(from.dtype).bytes;
  // each side: its dims through the last varying one, then its static tail as one dim
  const side = (t: TensorRef) => {
    const e = ctx.symbolic?.dims.get(t.name);
    const last = e ? Math.max(-1, ...e.flatMap((d, k) => (typeof d === "number" ? [] : [k]))) : -1;
    return { t, e, head: t.dims.slice(0, last + 1), tail: t.dims.slice(last + 1).reduce((a, b) => a * b, 1) };
  };
  const [a, b] = [side(from), side(to)];
  const gcd = (x: number, y: number): number => (y ? gcd(y, x % y) : x);
  const g = gcd(a.tail, b.tail);
  // dim k of a side in this run (a fresh expression), its trips, and its padded strides in elements
  const dim = (s: ReturnType<typeof side>, k: number): Expr => (k < s.head.length ? ctx.runtimeDim(s.t, k) ?? m.i32.const(s.head[k]) : m.i32.const(s.tail / g));
  const trips: Trips[] = [...a.head.map((d, k) => (!a.e || typeof a.e[k] === "number" ? d : () => dim(a, k))), a.tail / g];
  const strides = (s: ReturnType<typeof side>) => [...stridesOf([...s.head, s.tail]).slice(0, -1), g];
  const [aStrides, bStrides] = [strides(a), strides(b)];
  const [count, rest, addr] = [fn.local(binaryen.i32), fn.local(binaryen.i32), fn.local(binaryen.i32)];
  ctx.readsPadded();
  fn.emit(count.set(m.i32.const(0)));
  fn.emit(fn.nest(trips, (ix) => {
    const stmts = [rest.set(count.get()), addr.set(m.i32.const(to.addr))];
    for (let k = b.head.length; k >= 0; k--) {
      stmts.push(addr.set(m.i32.add(addr.get(), m.i32.mul(m.i32.rem_u(rest.get(), dim(b, k)), m.i32.const(bStrides[k] * bytes)))));
      if (k > 0) stmts.push(rest.set(m.i32.div_u(rest.get(), dim(b, k))));
    }
    const src = m.i32.add(m.i32.const(from.addr), m.i32.mul(fn.linear(ix, aStrides), m.i32.const(bytes)));
    return [...stmts, copyBytes(fn, addr.get(), src, g * bytes), count.set(m.i32.add(count.get(), m.i32.const(1)))];
  }));
}

/** Attributes and constant int inputs of a kernel, for the parameter helpers shared with shape rules. */
export function params(ctx: KernelCtx): ParamSource {
  return {
    attrs: ctx.attrs,
    opset: ctx.opset,
    ints: (i) => {
      const v = ctx.constValue(i);
      if (!ctx.inputs[i]) return undefined;
      if (!v) ctx.unsupported(`input ${i} must be a compile-time constant`);
      return Array.from(v.data as ArrayLike<number | bigint>, Number);
    },
    invalid: (msg) => {
      throw new KilnError("INVALID_MODEL", msg, ctx.context());
    },
  };
}

table.add(["Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "OptionalGetElement"], (ctx) => emitCopy(ctx, ctx.input(0), ctx.output(0)));
// the same bytes as another type of the same width (an alias unless memory planning kept them apart)
table.add("BitCast", (ctx) => emitCopy(ctx, ctx.input(0), ctx.output(0)));

table.add("Dropout", (ctx) => {
  emitCopy(ctx, ctx.input(0), ctx.output(0));
  const mask = ctx.outputs[1];
  if (!mask || !mask.size) return;
  if (mask.dtype === "bool") ctx.fn.emit(ctx.m.memory.fill(ctx.m.i32.const(mask.addr), ctx.m.i32.const(1), ctx.m.i32.const(mask.size)));
  else emitFillConst(ctx, mask, 1); // before opset 10 the mask has the input's type
});

table.add("Transpose", (ctx) => {
  const x = ctx.input(0);
  const perm = ctx.attrs.ints("perm", [...x.dims.keys()].reverse());
  const out = ctx.output(0);
  // symbolic dims: the padded layout's strides, each varying output dim this run's extent
  emitView(ctx, transposeView(out, x.addr, x.dims, perm), true, out.dims.map((_, k) => ctx.runtimeDim(out, k)));
});

/**
 * Views between parts and consecutive blocks of a bigger tensor along `axis`; a part without a
 * tensor (an absent Split output) still takes its length of the axis.
 */
function blockViews(ctx: KernelCtx, parts: { ref?: TensorRef; len: number }[], whole: TensorRef, axis: number, intoWhole: boolean): void {
  const ws = stridesOf(whole.dims);
  const bytes = bytesOf(whole.dtype);
  const m = ctx.m;
  let offset = 0;
  // symbolic dims (padded layout): each part's varying dims run this run's extents, and a part
  // after parts of symbolic length on the axis starts where they end in this run
  const before: { ref: TensorRef; len: number }[] = [];
  // a fresh expression each time (binaryen takes a node once)
  const shiftOf = () => before.map(({ ref, len }) => m.i32.mul(m.i32.sub(ctx.runtimeDim(ref, axis)!, m.i32.const(len)), m.i32.const(ws[axis] * bytes)))
    .reduce<binaryen.ExpressionRef | undefined>((a, b) => (a ? m.i32.add(a, b) : b), undefined);
  for (const { ref, len } of parts) {
    const shift = shiftOf();
    if (ref) {
      const own = { addr: ref.addr, strides: stridesOf(ref.dims) };
      const big = { addr: whole.addr + offset * ws[axis] * bytes, strides: ws };
      const runtime = ref.dims.map((_, k) => ctx.runtimeDim(ref, k));
      emitView(ctx, { dims: ref.dims, bytes, src: intoWhole ? own : big, dst: intoWhole ? big : own }, false,
        runtime.some((e) => e) ? runtime : undefined, shift === undefined ? undefined : intoWhole ? { dst: shift } : { src: shift });
    }
    // a part of symbolic length on the axis moves the next ones by its length less its upper bound
    if (ref && typeof ctx.symbolic?.dims.get(ref.name)?.[axis] === "object") before.push({ ref, len });
    offset += len;
  }
}

const axisOf = (ctx: KernelCtx, rank: number, def?: number) => {
  const a = ctx.attrs.int("axis", def);
  return a < 0 ? a + rank : a;
};

table.add("Concat", (ctx) => {
  const out = ctx.output(0);
  const axis = axisOf(ctx, out.dims.length);
  blockViews(ctx, ctx.inputs.map((_, i) => ({ ref: ctx.input(i), len: ctx.input(i).dims[axis] })), out, axis, true);
});

table.add("Split", (ctx) => {
  const x = ctx.input(0);
  const axis = axisOf(ctx, x.dims.length, 0);
  const split = splitSizes(ctx.attrs, x.dims[axis], ctx.outputs.length, params(ctx).ints(1));
  const sizes = typeof split === "string" ? ctx.unsupported(split) : split;
  blockViews(ctx, sizes.map((len, i) => ({ ref: ctx.outputs[i], len })), x, axis, false);
});

table.family("Slice", "Slice", [
  // a Slice that cuts a data-dependent dim (keep[:100]): its own length written as it runs
  variant<object>({ name: "slice-count", plan: (layer) => (cutsCount(layer) ? {} : undefined), emit: (ctx) => emitSliceCount(ctx, params(ctx)) }),
  simpleVariant(emitSlice),
]);

function emitSlice(ctx: KernelCtx): void {
  if (slicesByValues(ctx)) return emitSliceByValues(ctx, params(ctx));
  if (cutsCount(ctx)) ctx.unsupported("this Slice cuts a data-dependent dim, which only the slice-count kernel runs");
  const x = ctx.input(0), out = ctx.output(0);
  const p = sliceParams(params(ctx), x.dims);
  const st = stridesOf(x.dims);
  const start = p.reduce((a, s, k) => a + s.start * st[k], 0);
  // symbolic dims (the padded layout's strides): each varying output dim runs this run's extent;
  // an axis sliced along a varying dim starts where this run's length puts it (varyingSlice)
  const m = ctx.m;
  const xe = ctx.symbolic?.dims.get(x.name);
  const raw = xe && rawSliceAxes(params(ctx), x.dims.length);
  let shift: Expr | undefined;
  const runtime = xe && p.map((s, k) => {
    if (typeof xe[k] === "number") return undefined;
    const r = raw![k];
    if (r && (r.start !== 0 || r.step !== 1 || r.end < x.dims[k])) {
      const moved = varyingSlice(ctx, x, out, k, r);
      if (moved) shift = shift ? m.i32.add(shift, moved(st[k] * bytesOf(x.dtype))) : moved(st[k] * bytesOf(x.dtype));
    }
    return ctx.runtimeDim(out, k);
  });
  emitView(ctx, viewInto(out, x.addr + start * bytesOf(x.dtype), p.map((s, k) => s.step * st[k])), false, runtime, shift === undefined ? undefined : { src: shift });
}

/**
 * Slice along a varying dim k of x (its length L this run's, in [Lmin, Lmax] over the bounds),
 * with step 1 (or a larger one from a fixed start to the end): the output's length must be its
 * expression for every L, so a start or end is taken only where clamping never changes its form
 * within the bounds (a start of s >= 0 at most Lmin, or of -s at least s from the end; an end past
 * Lmax, at most Lmin, or counted from the end). Returns the run-time shift of the start from where
 * it lies at the bounds, as bytes for a stride of `bytes`; undefined where it does not move.
 */
function varyingSlice(ctx: KernelCtx, x: TensorRef, out: TensorRef, k: number, r: RawSliceAxis): ((bytes: number) => Expr) | undefined {
  const sym = ctx.symbolic!;
  const xe = sym.dims.get(x.name)![k] as DimTerm[], oe = sym.dims.get(out.name)?.[k] ?? out.dims[k];
  // an int64 extreme (exporters' "to the end") as its name, not as the float it was read into
  const int = (v: number) => (v >= 2 ** 62 ? "INT64_MAX" : v <= -(2 ** 62) ? "INT64_MIN" : String(v));
  const refuse = (why: string): never => ctx.unsupported(`Slice along the symbolic dim ${k} of ${JSON.stringify(x.name)} (${formatDim(xe, sym.symbols)} in ${lo}..${hi} over the bounds) with starts ${int(r.start)}, ends ${int(r.end)}, steps ${int(r.step)}: ${why}; ${sym.symbols.some((s, i) => s.node === undefined && xe.some(([, ...t]) => t.includes(i))) ? "narrow its bounds, or " : ""}${ctx.pinHintOf(x, k)}`);
  const lo = evalDim(xe, sym.symbols.map((s) => s.min)), hi = evalDim(xe, sym.symbols.map((s) => s.max));
  if (xe.some(([c, ...s]) => s.length > 0 && c < 0)) refuse("its length is not increasing in the symbols");
  // a step past 1: from a fixed start to the end (YOLOv5's Focus, x[..., ::2, 1::2]), this run's
  // ceil((L - start) / step) elements
  if (r.step < 1) refuse("kiln takes a positive step there so far");
  if (r.step > 1 && (r.start < 0 || r.end < hi)) refuse("kiln takes a step past 1 there only from a fixed start to the end so far");
  // the start and end as L-relative (L + v) or fixed (v) for every L in [lo, hi]
  const startFromEnd = r.start < 0;
  if (startFromEnd ? lo + r.start < 0 : r.start > lo) refuse(`the start is clamped at some lengths within the bounds`);
  const endFromEnd = r.end < 0 || r.end >= hi;
  if (r.end < 0 ? lo + r.end < 0 : r.end < hi && r.end > lo) refuse(`the end is clamped at some lengths within the bounds`);
  const count = (L: number) => Math.ceil(((endFromEnd ? L + Math.min(r.end, 0) : r.end) - (startFromEnd ? L + r.start : r.start)) / r.step);
  if (count(lo) < 0 || count(hi) < 0) refuse("it is empty at some lengths within the bounds");
  // the output's length as fitted must be this slice's at both ends of the bounds
  const [oLo, oHi] = [sym.symbols.map((s) => s.min), sym.symbols.map((s) => s.max)].map((v) => evalDim(oe, v));
  if (oLo !== count(lo) || oHi !== count(hi)) refuse(`its length (${formatDim(oe, sym.symbols)}) is not ${count(lo)}..${count(hi)}`);
  ctx.readsPadded();
  if (!startFromEnd) return undefined;
  const m = ctx.m;
  // this run's start less the bounds': L - Lmax
  return (bytes) => m.i32.mul(m.i32.sub(ctx.runtimeDim(x, k)!, m.i32.const(hi)), m.i32.const(bytes));
}

table.add("Expand", (ctx) => {
  const x = ctx.input(0);
  const out = ctx.output(0);
  // symbolic dims: the padded layout's strides, each varying output dim this run's extent
  emitView(ctx, viewInto(out, x.addr, broadcastStrides(x.dims, out.dims)), false, out.dims.map((_, k) => ctx.runtimeDim(out, k)));
});

table.add("Tile", (ctx) => {
  // out[r0, d0, r1, d1, ...] = x[d0, d1, ...]: a view with stride 0 on the repeat dims.
  const x = ctx.input(0);
  const out = ctx.output(0);
  // repeats computed from the dims (Mask2Former's queries tiled by the batch: [1, batch, 1]):
  // their values at the bounds, a varying one taken only for a dim of 1 (a broadcast)
  const symbolic = ctx.inputs[1] && !ctx.constValue(1) ? ctx.symbolValues?.values.get(ctx.inputs[1].name) : undefined;
  const reps = symbolic ? symbolic.map((e, k) => (typeof e === "number" ? e : out.dims[k] / x.dims[k])) : params(ctx).ints(1)!;
  const st = stridesOf(x.dims);
  // symbolic dims (the padded layout): a varying dim repeated once runs this run's extent; one
  // repeated more would place its copies at this run's length apart, which the bounds' strides do not
  const varying = x.dims.map((_, k) => ctx.runtimeDim(x, k));
  varying.forEach((v, k) => {
    if (v !== undefined && reps[k] !== 1) ctx.unsupported(`Tile repeating the varying dim ${k} of ${JSON.stringify(x.name)} ${reps[k]} times has no symbolic form; ${ctx.pinHintOf(x, k)}`);
  });
  const copies = x.dims.map((d, k) => {
    if (typeof symbolic?.[k] !== "object") return undefined;
    if (d !== 1) ctx.unsupported(`Tile repeating dim ${k} of ${JSON.stringify(x.name)} (${d} long) a number of times computed from the dims has no symbolic form; ${ctx.pinHintOf(out, k)}`);
    return ctx.runtimeDim(out, k);
  });
  const runtime = [...varying, ...copies].some((v) => v !== undefined) ? varying.flatMap((v, k) => [copies[k], v]) : undefined;
  emitView(ctx, viewInto(out, x.addr, x.dims.flatMap((_, k) => [0, st[k]]), x.dims.flatMap((d, k) => [reps[k], d])), false, runtime);
});

/**
 * The run-time extents of a pixel shuffle's view (6 dims, in the output's order): its batch at 0
 * and, over an image whose height or width varies (the padded layout: the bounds' strides), the
 * image's height and width (`t`'s dims 2 and 3, in this run) at `at`; a varying channel has no
 * symbolic form.
 */
function shuffleExtents(ctx: KernelCtx, x: TensorRef, t: TensorRef, at: [number, number]): (Expr | undefined)[] | undefined {
  if (ctx.runtimeDim(x, 1) !== undefined) ctx.unsupported(`${ctx.node.op} over the varying dim 1 of ${JSON.stringify(x.name)} has no symbolic form; ${ctx.pinHintOf(x, 1)}`);
  const rt: (Expr | undefined)[] = [ctx.runtimeDim(x, 0), undefined, undefined, undefined, undefined, undefined];
  rt[at[0]] = ctx.runtimeDim(t, 2);
  rt[at[1]] = ctx.runtimeDim(t, 3);
  ctx.symbolic?.dims.get(ctx.output(0).name)?.forEach((_, k) => ctx.runtimeDim(ctx.output(0), k));
  return rt.some((e) => e !== undefined) ? rt : undefined;
}

table.add("DepthToSpace", (ctx) => {
  const x = ctx.input(0);
  const b = ctx.attrs.int("blocksize");
  const [n, c, h, w] = x.dims;
  const cc = c / (b * b);
  const crd = ctx.attrs.string("mode", "DCR") === "CRD";
  const dims = crd ? [n, cc, b, b, h, w] : [n, b, b, cc, h, w];
  const perm = crd ? [0, 1, 4, 2, 5, 3] : [0, 3, 4, 1, 5, 2];
  // the output's order [n, cc, h, b, w, b]: x's height and width this run's
  emitView(ctx, transposeView(ctx.output(0), x.addr, dims, perm), false, shuffleExtents(ctx, x, x, [2, 4]));
});

table.add("SpaceToDepth", (ctx) => {
  const x = ctx.input(0);
  const b = ctx.attrs.int("blocksize");
  const [n, c, h, w] = x.dims;
  // the output's order [n, b, b, c, h/b, w/b]: the output's height and width this run's
  emitView(ctx, transposeView(ctx.output(0), x.addr, [n, c, h / b, b, w / b, b], [0, 3, 5, 1, 2, 4]), false, shuffleExtents(ctx, x, ctx.output(0), [4, 5]));
});

table.add("Pad", (ctx) => {
  const x = ctx.input(0);
  const out = ctx.output(0);
  const mode = ctx.attrs.string("mode", "constant");
  const { begin, end } = padAmounts(params(ctx), x.dims.length);
  // symbolic dims (the padded layout: strides at the bounds): this run's extent of each varying
  // dim, padded by no negative amount; the fill covers the slot (the prefix form: the run's
  // elements), the copy and the indexed loops this run's extents, the reflect/edge/wrap source
  // index folding over this run's length
  const varying = x.dims.map((_, k) => ctx.runtimeDim(x, k));
  varying.forEach((v, k) => {
    if (v === undefined) return;
    if (begin[k] < 0 || end[k] < 0) ctx.unsupported(`Pad cropping the varying dim ${k} of ${JSON.stringify(x.name)} has no symbolic form; ${ctx.pinHintOf(x, k)}`);
  });
  const rt = varying.some((v) => v !== undefined) ? varying : undefined;
  if (mode !== "constant") return emitPadIndexed(ctx, x, out, begin, mode, rt && { x: (k) => ctx.runtimeDim(x, k), out: (k) => ctx.runtimeDim(out, k) });
  const e = ctx.symbolic?.dims.get(out.name);
  emitPadFill(ctx, out, e && prefixDim(out.dims, e) !== undefined ? ctx.runtimeExtent(out, out.size) : undefined);
  // copy the kept part of the input (negative pads crop) into the interior
  const xs = stridesOf(x.dims);
  const os = stridesOf(out.dims);
  const bytes = bytesOf(x.dtype);
  const srcStart = begin.map((b) => Math.max(0, -b));
  const dstStart = begin.map((b) => Math.max(0, b));
  const dims = x.dims.map((d, k) => Math.max(0, Math.min(d - srcStart[k], out.dims[k] - dstStart[k])));
  const off = (s: number[], st: number[]) => s.reduce((a, v, k) => a + v * st[k], 0) * bytes;
  emitView(ctx, { dims, bytes, src: { addr: x.addr + off(srcStart, xs), strides: xs }, dst: { addr: out.addr + off(dstStart, os), strides: os } }, false, rt);
});

export const KERNELS = table.families;
