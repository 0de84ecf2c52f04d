// Optionals. kiln resolves an optional at compile time: one that holds a value is that value (a
// tensor, or a sequence), one that holds nothing is marked so (Value.none), and an absent optional
// input reads as nothing. So OptionalHasElement's answer is a constant and OptionalGetElement is
// its input; a graph input's optional is fixed by the feed it was compiled for.
import { OpTable, passOn } from "./registry.js";

const ops = new OpTable();

const bool = (has: boolean) => ({ dtype: "bool" as const, dims: [], data: new Uint8Array([has ? 1 : 0]) });

ops.define("OptionalHasElement", (ctx) => {
  const has = ctx.optional(0) !== undefined;
  return [{ dtype: "bool", shape: [], value: bool(has) }];
}, { arity: [0, 1], traits: ["compile-time-only"], compound: (s) => {
  const o = s.operands[0];
  return [{ tensor: s.build.constant("has_element", bool(Boolean(o && !("none" in o)))) }];
} });

ops.define("OptionalGetElement", (ctx) => {
  const x = ctx.input(0);
  return [{ dtype: x.dtype, shape: [...x.shape], value: x.value }];
}, { arity: [1, 1], traits: ["alias", "moves"], compound: (s) => {
  const o = s.operands[0]!;
  if ("none" in o) s.ctx.invalid("the optional holds nothing (onnxruntime fails here too): test it with OptionalHasElement first");
  return [passOn(o)];
} });

export const OPTIONAL_OPS = ops.defs;
