// slice-count: a Slice that cuts a data-dependent dim (docs/ARCHITECTURE.md "Data-dependent dims";
// compiler/driver/count-cuts.ts). `keep[:100]` over the L boxes a NonMaxSuppression kept takes
// min(L, 100) of them, no polynomial of L: the Slice owns that length as a count of its own. Its
// kernel computes this run's count from L as the spec clamps a slice (a fixed start S and end E,
// step 1: max(0, min(L, E) - min(L, S))), writes it, and copies that many rows from S on.
import binaryen from "binaryen";
import { KilnError } from "../../../runtime/errors.js";
import { stridesOf } from "../../fn.js";
import { countCutAxis } from "../../../compiler/ops/movement.js";
import { rawSliceAxes, type ParamSource } from "../../../compiler/ops/movement-params.js";
import { writeCount } from "../counts.js";
import type { KernelCtx, LayerCtx } from "../kernel.js";
import { bytesOf, emitView, viewInto } from "./view.js";

/** Whether the layer's Slice owns a data-dependent dim, a count it cuts (its shape rule marks the node: movement.ts). */
export function cutsCount(layer: LayerCtx): boolean {
  return layer.node.meta?.cutsCount !== undefined;
}

/** The layer's Slice cutting a count: `src`, its attributes and constant inputs (index.ts params). */
export function emitSliceCount(ctx: KernelCtx, src: ParamSource): void {
  const { m, fn } = ctx;
  const x = ctx.input(0), out = ctx.output(0);
  const k = countCutAxis(src, x.dims.length);
  if (k === undefined) throw new KilnError("INTERNAL", "a Slice owning a count cuts one axis from a fixed start to a fixed end", ctx.context());
  const { start, end } = rawSliceAxes(src, x.dims.length)[k]!;
  // this run's length of the axis cut (a count, or a polynomial of counts), the slice clamped to it
  const len = fn.local(binaryen.i32);
  fn.emit(len.set(ctx.runtimeDim(x, k) ?? m.i32.const(x.dims[k])));
  const clamped = (v: number) => {
    const c = m.i32.const(Math.min(v, 2 ** 31 - 1));
    return m.select(m.i32.lt_s(c, len.get()), c, len.get());
  };
  const [s, e] = [fn.local(binaryen.i32), fn.local(binaryen.i32)];
  fn.emit(s.set(clamped(start)));
  fn.emit(e.set(clamped(end)));
  fn.emit(writeCount(ctx, m.select(m.i32.gt_s(e.get(), s.get()), m.i32.sub(e.get(), s.get()), m.i32.const(0))));
  // the rows from S on, this run's count of them, the other dims this run's extents
  const st = stridesOf(x.dims);
  const from = Math.min(start, x.dims[k]);
  const runtime = x.dims.map((_, j) => (j === k ? ctx.runtimeDim(out, k) : ctx.runtimeDim(x, j)));
  emitView(ctx, viewInto(out, x.addr + from * st[k] * bytesOf(x.dtype), st), false, runtime);
  ctx.readsPadded();
}
