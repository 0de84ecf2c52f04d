// Shape rules for the loss operators. Both take scores [N, C, d1..dk] and integer targets
// [N, d1..dk]; the loss is per element for reduction "none", else a scalar.
import { OpTable, type ShapeCtx } from "./registry.js";

const ops = new OpTable();

const FLOATS = ["float32", "float64", "float16"] as const;
const REDUCTIONS = ["none", "sum", "mean"];

function lossShape(ctx: ShapeCtx): number[] {
  const x = ctx.input(0);
  const t = ctx.input(1);
  ctx.expectDType(0, FLOATS);
  ctx.expectDType(1, ["int32", "int64"]);
  if (x.shape.length < 2) ctx.invalid(`${ctx.node.op} needs scores of rank >= 2 ([N, C, ...]), got [${x.shape.join(",")}]`);
  const want = [x.shape[0], ...x.shape.slice(2)];
  if (t.shape.length !== want.length || t.shape.some((d, k) => d !== want[k])) {
    ctx.fail(`${ctx.node.op} target shape [${t.shape.join(",")}] must be [${want.join(",")}] (scores without the class axis)`);
  }
  const w = ctx.optional(2);
  if (w) {
    if (w.dtype !== x.dtype) ctx.invalid(`weight type ${w.dtype} differs from the scores' ${x.dtype}`);
    if (w.shape.length !== 1 || w.shape[0] !== x.shape[1]) ctx.fail(`weight must be [C] = [${x.shape[1]}], got [${w.shape.join(",")}]`);
  }
  const reduction = ctx.attrs.string("reduction", "mean");
  if (!REDUCTIONS.includes(reduction)) ctx.invalid(`reduction ${JSON.stringify(reduction)} is not one of ${REDUCTIONS.join(", ")}`);
  return reduction === "none" ? want : [];
}

ops.define("NegativeLogLikelihoodLoss", (ctx) => [{ dtype: ctx.input(0).dtype, shape: lossShape(ctx) }], { lastChange: 13 });

// The second output (log_prob) has the scores' shape.
ops.define("SoftmaxCrossEntropyLoss", (ctx) => {
  const x = ctx.input(0);
  return [{ dtype: x.dtype, shape: lossShape(ctx) }, { dtype: x.dtype, shape: [...x.shape] }];
}, { lastChange: 13 });

export const LOSS_OPS = ops.defs;
