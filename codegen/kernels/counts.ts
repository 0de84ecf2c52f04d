// Kernels whose output length their input values decide (docs/ARCHITECTURE.md "Data-dependent
// dims"): the layer's node owns a symbol, and its kernel writes that length where the symbol's
// value lies (SYMBOLS_ADDR + 4k), for the layers after it and for the runtime, which reads it back.
import type binaryen from "binaryen";
import { SYMBOLS_ADDR } from "../../runtime/dims.js";
import { KilnError } from "../../runtime/errors.js";
import type { KernelCtx } from "./kernel.js";

/** The store of `count` as the length the layer's node owns; marks the layer's symbolic form as handled. */
export function writeCount(ctx: KernelCtx, count: binaryen.ExpressionRef): binaryen.ExpressionRef {
  const k = ctx.symbolic?.symbols.findIndex((s) => s.node === ctx.node.name) ?? -1;
  if (k < 0) throw new KilnError("INTERNAL", `${ctx.node.op} has no data-dependent dim of its own to write`, ctx.context());
  ctx.symbolic!.used = true;
  return ctx.m.i32.store(0, 4, ctx.m.i32.const(SYMBOLS_ADDR + 4 * k), count);
}
