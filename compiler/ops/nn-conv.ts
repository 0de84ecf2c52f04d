// Shape rules for Conv, ConvTranspose and the pools.
import type { DTypeName } from "../../runtime/dtypes.js";
import { slidingWindow, transposedWindow } from "./nn-geometry.js";
import { OpTable, type ShapeCtx, type ShapeRule } from "./registry.js";

const ops = new OpTable();

const count = (dims: readonly number[]) => dims.reduce((a, d) => a * d, 1);

const FLOATS: DTypeName[] = ["float32", "float64", "float16"];

function spatialInput(ctx: ShapeCtx): number[] {
  const x = ctx.input(0).shape;
  if (x.length < 3) ctx.invalid(`input must be [N, C, spatial...]; got rank ${x.length}`);
  return x;
}

function convWeights(ctx: ShapeCtx, x: number[]): number[] {
  const w = ctx.input(1).shape;
  if (w.length !== x.length) ctx.invalid(`weights rank ${w.length} differs from input rank ${x.length}`);
  const kernel = ctx.attrs.ints("kernel_shape", w.slice(2));
  if (kernel.some((k, a) => k !== w[a + 2])) ctx.fail(`kernel_shape [${kernel}] differs from the weights [${w.slice(2)}]`);
  return w;
}

ops.define("Conv", (ctx) => {
  const dt = ctx.expectDType(0, FLOATS);
  const x = spatialInput(ctx);
  const w = convWeights(ctx, x);
  const group = ctx.attrs.int("group", 1);
  if (x[1] !== w[1] * group) ctx.fail(`input has ${x[1]} channels; weights expect ${w[1]} x group ${group}`);
  if (w[0] % group !== 0) ctx.invalid(`output channels ${w[0]} are not divisible by group ${group}`);
  const b = ctx.optional(2);
  if (b && (b.shape.length !== 1 || b.shape[0] !== w[0])) ctx.fail(`bias must be [${w[0]}]`);
  const win = slidingWindow(ctx.attrs, x.slice(2), w.slice(2));
  return [{ dtype: dt, shape: [x[0], w[0], ...win.out] }];
}, { arity: [2, 3], lastChange: 13, traits: ["epilogue-anchor"], anchor: { bias: 2, channelAxis: 1 }, weightsOutputAxis: () => 0,
  // each output reads C/group x kernel of the weights: all of W divided by its M output channels
  flops: (_n, [, w], [y]) => (2 * count(y) * count(w)) / w[0] });

ops.define("ConvTranspose", (ctx) => {
  const dt = ctx.expectDType(0, FLOATS);
  const x = spatialInput(ctx);
  const w = convWeights(ctx, x);
  const group = ctx.attrs.int("group", 1);
  if (x[1] !== w[0]) ctx.fail(`input has ${x[1]} channels; weights expect ${w[0]}`);
  if (w[0] % group !== 0) ctx.invalid(`input channels ${w[0]} are not divisible by group ${group}`);
  const b = ctx.optional(2);
  if (b && (b.shape.length !== 1 || b.shape[0] !== w[1] * group)) ctx.fail(`bias must be [${w[1] * group}]`);
  const win = transposedWindow(ctx.attrs, x.slice(2), w.slice(2));
  return [{ dtype: dt, shape: [x[0], w[1] * group, ...win.out] }];
}, { lastChange: 11, arity: [2, 3], traits: ["epilogue-anchor"], anchor: { bias: 2, channelAxis: 1 },
  // W is [C, M/group, kh, kw]: output channels on axis 1 when there is one group
  weightsOutputAxis: (node) => (node.attrs.group?.type === "int" && node.attrs.group.value !== 1 ? undefined : 1),
  // each input element meets M/group x kernel weights: all of W divided by its C input channels
  flops: (_n, [x, w]) => (2 * count(x) * count(w)) / w[0] });

function poolShape(ctx: ShapeCtx, dtypes: DTypeName[]): number[] {
  ctx.expectDType(0, dtypes);
  const x = spatialInput(ctx);
  const kernel = ctx.attrs.ints("kernel_shape");
  const win = slidingWindow(ctx.attrs, x.slice(2), kernel, ctx.attrs.int("ceil_mode", 0) !== 0);
  return [x[0], x[1], ...win.out];
}

const averageShape: ShapeRule = (ctx) => [{ dtype: ctx.input(0).dtype, shape: poolShape(ctx, FLOATS) }];
ops.define("AveragePool", averageShape, { arity: [1, 1], lastChange: 13 });
ops.define("LpPool", averageShape, { arity: [1, 1], lastChange: 11 });

ops.define("MaxPool", (ctx) => {
  const shape = poolShape(ctx, [...FLOATS, "int8", "uint8"]);
  const outs = [{ dtype: ctx.input(0).dtype, shape }];
  if (ctx.node.outputs.length > 1 && ctx.node.outputs[1]) outs.push({ dtype: "int64", shape });
  return outs;
}, { arity: [1, 1], lastChange: 13, traits: ["monotone"] });

ops.define(["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"], (ctx) => {
  const dt = ctx.expectDType(0, FLOATS);
  const x = spatialInput(ctx);
  return [{ dtype: dt, shape: [x[0], x[1], ...x.slice(2).map(() => 1)] }];
}, { lastChange: 2, arity: [1, 1] });

export const CONV_OPS = ops.defs;
