// The padded layout's padding, filled with a value (docs/ARCHITECTURE.md "Symbolic dims"). A
// window kernel over images whose height or width varies (Conv, the pools) runs the code of the
// bound's image: its windows at this run's right and bottom edges read the slot past this run's
// extents, where the image's own padding would be. That halo filled first with what the padding
// reads as (0 for a convolution or an average, -inf for a maximum), every output within this run's
// extents is what a module pinned at this run's dims computes; outputs past them are padding,
// never read as values, and may read anything.
import { dtype, type DTypeName } from "../../runtime/dtypes.js";
import { minI32, stridesOf, type Expr } from "../fn.js";
import { constant, store } from "../memory.js";
import type { KernelCtx, KernelVariant, TensorRef } from "./kernel.js";

/**
 * Emit: every element of t's slot past this run's extent in some varying dim set to `value` (as
 * t's type holds it; or an expression of t's computing type, read once per row: an 8-bit
 * convolution's run-time zero point). `reach` (by dim of t): how many slabs past the run's extent
 * along a dim a window reads at most (its halo), the rest of the padding left as it is; all of it
 * where not given. Nothing when t's dims are static. Marks the layer as reading the padded layout
 * (KernelCtx.runtimeDim).
 */
export function fillPadding(ctx: KernelCtx, t: TensorRef, value: number | (() => Expr), reach?: readonly number[]): void {
  const e = ctx.symbolic?.dims.get(t.name);
  if (!e) return;
  const { m, fn } = ctx;
  const bytes = dtype(t.dtype).bytes;
  const varying = t.dims.map((_, k) => typeof e[k] !== "number");
  const last = varying.lastIndexOf(true);
  if (last < 0) return;
  const strides = stridesOf(t.dims).map((s) => s * bytes);
  // one byte per element (int8's -128 is the byte 0x80; a run-time zero point) or zeros: memory.fill
  const byteFill = value === 0 || bytes === 1;
  const byteValue = () => (typeof value === "number" ? m.i32.const(value & 0xff) : value());
  // [from, to) bytes past t.addr
  const fill = (from: Expr, to: Expr): Expr[] => {
    if (byteFill) return [m.memory.fill(m.i32.add(m.i32.const(t.addr), from), byteValue(), m.i32.sub(to, from))];
    return [fn.loopDyn(from, to, (i) => [store(m, t.dtype, i.get(), typeof value === "number" ? constant(m, t.dtype, value) : value(), t.addr)], bytes)];
  };
  // dims before the first varying one and between varying ones loop; past the last varying dim
  // the padding of a row is one contiguous run of bytes
  const level = (k: number, base: () => Expr): Expr[] => {
    if (k > last) return [];
    const run = varying[k] ? ctx.runtimeDim(t, k)! : undefined;
    const out: Expr[] = [];
    const inner = (i: { get: () => Expr }) => level(k + 1, () => m.i32.add(base(), m.i32.mul(i.get(), m.i32.const(strides[k]))));
    if (k < last) out.push(run ? fn.loopDyn(m.i32.const(0), run, (i) => inner(i)) : fn.loop(t.dims[k], (i) => inner(i)));
    if (run) {
      const end = haloEnd(ctx, t, k, reach?.[k] ?? Infinity);
      out.push(...fill(m.i32.add(base(), m.i32.mul(ctx.runtimeDim(t, k)!, m.i32.const(strides[k]))), m.i32.add(base(), m.i32.mul(end, m.i32.const(strides[k])))));
    }
    return out;
  };
  fn.emit(...level(0, () => m.i32.const(0)));
}

/** where the halo `reach` slabs past this run's extent along the varying dim k of t ends: at most the slot's end */
function haloEnd(ctx: KernelCtx, t: TensorRef, k: number, reach: number): Expr {
  const m = ctx.m;
  if (reach >= t.dims[k]) return m.i32.const(t.dims[k]);
  return minI32(m, () => m.i32.add(ctx.runtimeDim(t, k)!, m.i32.const(reach)), () => m.i32.const(t.dims[k]));
}

/** the identity of a maximum, what its padding reads as: an 8-bit type's lowest value (the pools' integer types), else -inf */
export const lowestValue = (dt: DTypeName): number => (dt === "int8" ? -128 : dt === "uint8" ? 0 : -Infinity);

/** Whether t has a varying dim past its leading two (an image's height or width: [N, C, H, W]). */
export function spatialVarying(ctx: KernelCtx, t: TensorRef | undefined): boolean {
  const e = t && ctx.symbolic?.dims.get(t.name);
  return !!e && e.some((d, k) => k >= 2 && typeof d !== "number");
}

/**
 * How far past this run's extent, per dim of x [N, C, ...], a window kernel reads where the
 * outputs depend on it: its halo ((kernel - 1) * dilation), at least 4 (a vector block of 4
 * positions reaching past the run, as ConvTranspose's scatter reads its input). A kernel whose
 * outputs mix the values of a whole tile (Winograd's transforms) makes its own plane instead.
 */
export function windowReach(ctx: KernelCtx): number[] {
  const x = ctx.input(0), w = ctx.inputs[1];
  const spatial = x.dims.length - 2;
  const kernel = ctx.attrs.has("kernel_shape") ? ctx.attrs.ints("kernel_shape") : w ? w.dims.slice(2) : Array<number>(spatial).fill(1);
  const dilations = ctx.attrs.has("dilations") ? ctx.attrs.ints("dilations") : Array<number>(spatial).fill(1);
  return [0, 0, ...kernel.map((k, a) => Math.max(4, (k - 1) * (dilations[a] ?? 1)))];
}

/**
 * A window kernel (Conv, ConvTranspose) over an image whose height or width varies: the variant's
 * code for the bound's image, over x's padding filled with zeros, what a convolution's own padding
 * reads as; with `pointwise`, a 1x1 window's variant, which reads no position but its own (no fill).
 * Its batch stays static (or varies alone, the variants' outerCount).
 */
export function zeroPadded<P>(v: KernelVariant<P>, pointwise = false): KernelVariant<P> {
  return {
    ...v,
    emit: (ctx, plan) => {
      if (spatialVarying(ctx, ctx.inputs[0])) {
        if (pointwise) ctx.readsPadded();
        else fillPadding(ctx, ctx.input(0), 0, windowReach(ctx));
      }
      v.emit(ctx, plan);
    },
  };
}

/**
 * Per spatial axis of y ([N, C, ...]): this run's extent (a getter of a fresh i32 expression)
 * where it varies, else undefined; for runLoops' limits (conv/segments.ts).
 */
export function spatialLimits(ctx: KernelCtx, y: TensorRef): ((() => Expr) | undefined)[] {
  const e = ctx.symbolic?.dims.get(y.name);
  return y.dims.slice(2).map((_, a) => (e && typeof e[a + 2] !== "number" ? () => ctx.runtimeDim(y, a + 2)! : undefined));
}

/**
 * Emit: t's padding filled with copies of the run's last element along each varying dim (its
 * edge): what a kernel clamping an index to this run's extent reads (Resize's taps at the run's
 * edge), as far as `reach` slabs past it (the rest of the padding untouched). Innermost varying
 * dim first, so the corners past two of them take the corner element.
 */
export function fillEdges(ctx: KernelCtx, t: TensorRef, reach = Infinity): void {
  const e = ctx.symbolic?.dims.get(t.name);
  if (!e) return;
  const { m, fn } = ctx;
  const bytes = dtype(t.dtype).bytes;
  const strides = stridesOf(t.dims).map((s) => s * bytes);
  const varying = t.dims.map((_, k) => typeof e[k] !== "number");
  const extent = (k: number) => (varying[k] ? ctx.runtimeDim(t, k)! : m.i32.const(t.dims[k]));
  for (let k = t.dims.length - 1; k >= 0; k--) {
    if (!varying[k]) continue;
    // over this run's indices of the dims before k: each slab past the run's last along k, a copy of that one
    const outer = (j: number, base: () => Expr): Expr[] => {
      if (j === k) {
        const last = () => m.i32.add(base(), m.i32.mul(m.i32.sub(extent(k), m.i32.const(1)), m.i32.const(strides[k])));
        return [m.if(m.i32.gt_s(extent(k), m.i32.const(0)), fn.loopDyn(extent(k), haloEnd(ctx, t, k, reach), (i) => [
          m.memory.copy(m.i32.add(m.i32.const(t.addr), m.i32.add(base(), m.i32.mul(i.get(), m.i32.const(strides[k])))), m.i32.add(m.i32.const(t.addr), last()), m.i32.const(strides[k])),
        ]))];
      }
      return [fn.loopDyn(m.i32.const(0), extent(j), (i) => outer(j + 1, () => m.i32.add(base(), m.i32.mul(i.get(), m.i32.const(strides[j])))))];
    };
    fn.emit(...outer(0, () => m.i32.const(0)));
  }
}
