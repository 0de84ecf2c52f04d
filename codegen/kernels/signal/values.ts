// Compile-time input values for the signal kernels: sizes, lengths and shapes that the shape
// rules already required to be known (frozen), read here as plain numbers.
import { KilnError } from "../../../runtime/errors.js";
import type { LayerCtx } from "../kernel.js";

/** The numbers of input i, or undefined when it is absent or only known at run time. */
export function constNumbers(ctx: LayerCtx, i: number): number[] | undefined {
  const v = ctx.constValue(i);
  return v ? Array.from(v.data as ArrayLike<number | bigint>, Number) : undefined;
}

/** The numbers of input i, which must be known when compiling. */
export function requireNumbers(ctx: LayerCtx, i: number): number[] {
  return constNumbers(ctx, i) ?? ctx.unsupported(`input ${i} must be known when compiling`);
}

/** An INVALID_MODEL thrower naming this node, for the shared geometry helpers. */
export function invalidIn(ctx: LayerCtx): (msg: string) => never {
  return (msg) => {
    throw new KilnError("INVALID_MODEL", msg, ctx.context());
  };
}
