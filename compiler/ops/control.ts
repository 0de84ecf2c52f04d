// Control flow: If, Loop, Scan. If's outputs come from its branches, which infer.ts infers (inferIf) with the
// enclosing scope's values in view; the shape rule here is never asked. An If whose condition is
// known at compile time is replaced by its branch during inference; the lower-control-flow pass
// inlines both branches of the others, guarded, before code generation: If has no kernel.
import { KilnError } from "../../runtime/errors.js";
import { OpTable, type ShapeCtx } from "./registry.js";

const ops = new OpTable();

const fromSubgraphs = (ctx: ShapeCtx): never => {
  throw new KilnError("INTERNAL", `${ctx.node.op}'s outputs come from its subgraphs (infer-control.ts), not a shape rule`, ctx.context());
};

ops.define("If", fromSubgraphs, { arity: [1, 1], lastChange: 13, traits: ["subgraphs"] });
// unrolled during inference (infer-loop.ts): they never reach the passes
// Loop's trip count and condition may both be absent: infer-loop.ts checks the inputs
ops.define("Loop", fromSubgraphs, { lastChange: 13, traits: ["subgraphs"] });
// Scan-8's first input (sequence_lens) may be absent: infer-loop.ts checks the inputs by opset
ops.define("Scan", fromSubgraphs, { lastChange: 11, traits: ["subgraphs"] });

export const CONTROL_OPS = ops.defs;
