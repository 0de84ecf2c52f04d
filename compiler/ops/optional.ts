// Optionals as far as a tensor carries them: kiln has no optional type (a graph input or output of
// one is unsupported), so an OptionalHasElement's answer is known at compile time (an input given
// or not) and OptionalGetElement of a tensor is that tensor.
import { OpTable } from "./registry.js";

const ops = new OpTable();

ops.define("OptionalHasElement", (ctx) => {
  const has = ctx.optional(0) !== undefined;
  return [{ dtype: "bool", shape: [], value: { dtype: "bool", dims: [], data: new Uint8Array([has ? 1 : 0]) } }];
}, { arity: [0, 1], traits: ["compile-time-only"] });

ops.define("OptionalGetElement", (ctx) => {
  const x = ctx.input(0);
  return [{ dtype: x.dtype, shape: [...x.shape], value: x.value }];
}, { arity: [1, 1], traits: ["alias", "moves"] });

export const OPTIONAL_OPS = ops.defs;
