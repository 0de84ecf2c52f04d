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

/** the domain of the ops kiln puts in place of control flow it resolves (kiln.control.LoopCount) */
export const CONTROL_DOMAIN = "kiln.control";

/**
 * A Loop's scan output stacked over every iteration unrolled (infer-loop.ts), cut to those that
 * ran: `always` of them run whatever the conditions, then one more for each of the conditions
 * (each gating the next iteration) that holds, up to the first that does not. The count is a
 * data-dependent dim (ShapeCtx.dataDim) its kernel writes.
 */
ops.define("LoopCount", (ctx) => {
  const x = ctx.input(0);
  const always = ctx.attrs.int("always");
  if (always < 0 || always + ctx.count - 1 !== x.shape[0]) ctx.invalid(`${always} iterations always run and ${ctx.count - 1} conditions gate the rest, for ${x.shape[0]} stacked`);
  for (let i = 1; i < ctx.count; i++) ctx.expectDType(i, ["bool"]);
  return [{ dtype: x.dtype, shape: [ctx.dataDim(x.shape[0]), ...x.shape.slice(1)] }];
}, { domain: CONTROL_DOMAIN, arity: [1, Infinity], traits: ["data-dependent"] });

export const CONTROL_OPS = ops.defs;
