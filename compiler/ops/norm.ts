// Shape rules for normalization operators: Y has X's shape; LayerNormalization's optional Mean and
// InvStdDev keep X's leading dims with the normalized ones set to 1.
import { dtypeFromOnnx } from "../../runtime/dtypes.js";
import { unaryRule } from "./elementwise.js";
import { normAxis, OpTable, type ShapeCtx, type ShapeRule } from "./registry.js";

const ops = new OpTable();

const floats = ["float32", "float64", "float16"] as const;

function sameAsX(ctx: ShapeCtx) {
  ctx.expectDType(0, floats);
  return unaryRule(ctx);
}

const normalizeShape: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  if (ctx.node.op !== "LpNormalization" && ctx.node.op !== "MeanVarianceNormalization" && x.shape.length < 2) {
    ctx.invalid(`${ctx.node.op} needs input of rank >= 2 (N, C, ...)`);
  }
  if (ctx.node.op === "LpNormalization") normAxis(ctx, ctx.attrs.int("axis", -1), x.shape.length);
  return sameAsX(ctx);
};
ops.define("InstanceNormalization", normalizeShape, { arity: [3, 3], lastChange: 6 });
// 21 made scale and bias per channel (18 took them per group)
ops.define("GroupNormalization", normalizeShape, { arity: [3, 3], lastChange: 21 });
ops.define(["LpNormalization", "LRN", "MeanVarianceNormalization"], normalizeShape, { lastChange: 13, arity: [1, 1] });

ops.define("BatchNormalization", (ctx) => {
  const [y] = sameAsX(ctx);
  if (ctx.attrs.int("spatial", 1) === 0) ctx.unsupported("BatchNormalization with spatial=0 (opset < 9, per-element statistics) is not supported");
  const training = ctx.opset >= 14 && ctx.attrs.int("training_mode", 0) === 1;
  if (ctx.node.outputs.slice(training ? 3 : 1).some((o) => o)) {
    ctx.unsupported("BatchNormalization's saved statistics outputs (opset < 14 training) are not supported");
  }
  if (!training) return [y];
  // training mode: Y and the running mean and variance, one per channel
  const stat = { dtype: ctx.input(3).dtype, shape: [y.shape[1] ?? 1] };
  return [y, stat, { ...stat, shape: [...stat.shape] }];
}, { arity: [5, 5], lastChange: 13 });

function normalizedAxis(ctx: ShapeCtx): number {
  return normAxis(ctx, ctx.attrs.int("axis", -1), ctx.input(0).shape.length);
}

ops.define("LayerNormalization", (ctx) => {
  const [y] = sameAsX(ctx);
  const axis = normalizedAxis(ctx);
  const stash = dtypeFromOnnx(ctx.attrs.int("stash_type", 1))?.name ?? "undefined";
  if (stash !== "float32" && stash !== "float64") ctx.unsupported(`stash_type ${ctx.attrs.int("stash_type", 1)} is not supported`);
  const stat = { dtype: stash as "float32" | "float64", shape: y.shape.map((d, k) => (k < axis ? d : 1)) };
  return [y, stat, { ...stat, shape: [...stat.shape] }];
}, { arity: [2, 3], lastChange: 13 });

ops.define("RMSNormalization", (ctx) => {
  normalizedAxis(ctx);
  return sameAsX(ctx);
}, { arity: [2, 2], lastChange: 23 });

export const NORM_OPS = ops.defs;
