// Shape rules for reductions, arg-reductions and softmax-like operators.
import { reduceAxes } from "./reduce-axes.js";
import { normAxis, OpTable, type ShapeCtx, type ShapeRule } from "./registry.js";
import { unaryRule } from "./elementwise.js";

const ops = new OpTable();

const reduceShape: ShapeRule = (ctx: ShapeCtx) => {
  const x = ctx.input(0);
  const axes = reduceAxes(ctx.node.op, ctx.opset, x.shape.length, ctx.attrs, ctx.optional(1),
    (msg) => ctx.unsupported(msg), (msg) => ctx.invalid(msg));
  const keep = ctx.attrs.int("keepdims", 1) === 1;
  const shape = keep ? x.shape.map((d, k) => (axes.includes(k) ? 1 : d)) : x.shape.filter((_, k) => !axes.includes(k));
  return [{ dtype: x.dtype, shape }];
};
// ReduceSum took its axes as an input from opset 13, the others from 18
ops.define("ReduceSum", reduceShape, { arity: [1, 2], lastChange: 13, axesInput: 13 });
ops.define(["ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"],
  reduceShape, { arity: [1, 2], lastChange: 18, axesInput: 18 });

ops.define(["ArgMax", "ArgMin"], (ctx) => {
  const x = ctx.input(0);
  const r = x.shape.length;
  if (r === 0) ctx.invalid(`${ctx.node.op} needs a tensor of rank >= 1`);
  const axis = normAxis(ctx, ctx.attrs.int("axis", 0), r);
  if (x.shape[axis] === 0) ctx.invalid(`${ctx.node.op} over an empty axis has no answer`);
  const keep = ctx.attrs.int("keepdims", 1) === 1;
  const shape = keep ? x.shape.map((d, k) => (k === axis ? 1 : d)) : x.shape.filter((_, k) => k !== axis);
  return [{ dtype: "int64", shape }];
}, { lastChange: 13, arity: [1, 1] });

const softmaxShape: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  if (x.shape.length > 0) normAxis(ctx, ctx.attrs.int("axis", ctx.opset >= 13 ? -1 : 1), x.shape.length);
  return unaryRule(ctx);
};
ops.define(["Softmax", "LogSoftmax"], softmaxShape, { arity: [1, 1], lastChange: 13 });
ops.define("Hardmax", softmaxShape, { lastChange: 13, arity: [1, 1] });

export const REDUCE_OPS = ops.defs;
