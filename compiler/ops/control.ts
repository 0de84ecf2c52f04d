// Control flow: If. Its outputs come from its branches, which infer.ts infers (inferIf) with the
// enclosing scope's values in view; the shape rule here is never asked. An If whose condition is
// known at compile time is replaced by its branch during inference; the lower-control-flow pass
// inlines both branches of the others, guarded, before code generation: If has no kernel.
import { KilnError } from "../../runtime/errors.js";
import { OpTable } from "./registry.js";

const ops = new OpTable();

ops.define("If", (ctx) => {
  throw new KilnError("INTERNAL", "If's outputs come from its branches (infer.ts), not a shape rule", ctx.context());
}, { arity: [1, 1], traits: ["subgraphs"] });

export const CONTROL_OPS = ops.defs;
