// Shape rules for data-movement and shape operators.
import { dtype, dtypeFromOnnx, onnxTypeName } from "../../runtime/dtypes.js";
import type { Tensor } from "../ir/graph.js";
import { broadcastShapes, normAxis, OpTable, passOn, type OutputInfo, type ShapeCtx, type ShapeRule } from "./registry.js";
import { padAmounts, rawSliceAxes, sliceParams, type ParamSource } from "./movement-params.js";

const ops = new OpTable();

const i64 = (xs: number[]): Tensor => ({ dtype: "int64", dims: [xs.length], data: BigInt64Array.from(xs.map(BigInt)) });

ops.define("Constant", (ctx) => {
  const a = ctx.attrs;
  let t: Tensor | undefined;
  if (a.has("value")) t = a.tensor("value");
  else if (a.has("value_float")) t = { dtype: "float32", dims: [], data: Float32Array.of(a.float("value_float")) };
  else if (a.has("value_floats")) { const v = a.floats("value_floats"); t = { dtype: "float32", dims: [v.length], data: Float32Array.from(v) }; }
  else if (a.has("value_int")) t = { dtype: "int64", dims: [], data: BigInt64Array.of(BigInt(a.int("value_int"))) };
  else if (a.has("value_ints")) t = i64(a.ints("value_ints"));
  else if (a.has("sparse_value") || a.has("value_string") || a.has("value_strings")) ctx.unsupported("sparse and string constants are not supported");
  else ctx.invalid("Constant has no value attribute");
  return [{ dtype: t!.dtype, shape: [...t!.dims], value: t }];
}, { arity: [0, 0], lastChange: 13, traits: ["compile-time-only", "low-bit"] });

ops.define("Shape", (ctx) => {
  const x = ctx.input(0);
  const r = x.shape.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const start = clamp(ctx.attrs.int("start", 0));
  const end = clamp(ctx.attrs.int("end", r));
  const dims = x.shape.slice(start, Math.max(start, end));
  return [{ dtype: "int64", shape: [dims.length], value: i64(dims) }];
}, { arity: [1, 1], lastChange: 13, traits: ["dims-only", "low-bit"] });

ops.define("Size", (ctx) => {
  const n = ctx.input(0).shape.reduce((a, b) => a * b, 1);
  return [{ dtype: "int64", shape: [], value: { dtype: "int64", dims: [], data: BigInt64Array.of(BigInt(n)) } }];
}, { lastChange: 13, arity: [1, 1], traits: ["dims-only", "low-bit"] });

ops.define("Identity", (ctx) => {
  const x = ctx.input(0);
  return [{ dtype: x.dtype, shape: [...x.shape] }];
}, { arity: [1, 1], traits: ["reshape", "alias", "moves"], lastChange: 13, compound: (s) => [passOn(s.operands[0]!)] });

// BitCast: the input's bytes read as another type of the same width (little endian, as kiln's
// memory is): an alias, so usually no code at all. A bool made from other bytes could hold values
// other than 0 and 1, which kiln's bool kernels do not take (nor does onnxruntime run it): refused.
ops.define("BitCast", (ctx) => {
  const x = ctx.input(0);
  const code = ctx.attrs.int("to");
  const to = dtypeFromOnnx(code) ?? ctx.unsupported(`BitCast to ${onnxTypeName(code)} is not supported; kiln has no ${onnxTypeName(code)} tensors`);
  const from = dtype(x.dtype);
  if (from.bits !== to.bits) ctx.invalid(`BitCast from ${x.dtype} (${from.bits} bits) to ${to.name} (${to.bits} bits): the widths must be equal`);
  if (to.name === "bool" && x.dtype !== "bool") ctx.unsupported(`BitCast from ${x.dtype} to bool: its bytes may be other than 0 and 1, which are not bools kiln computes with (Cast to bool tests for nonzero)`);
  return [{ dtype: to.name, shape: [...x.shape] }];
}, { arity: [1, 1], traits: ["alias", "bits", "low-bit"], lastChange: 26 });


const sizeOfShape = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const same = (ctx: ShapeCtx): OutputInfo[] => [{ dtype: ctx.input(0).dtype, shape: [...ctx.input(0).shape] }];

/** Axes from the attribute (older opsets) or from input i (newer opsets). */
export function axesOf(ctx: ShapeCtx, i: number): number[] | undefined {
  if (ctx.attrs.has("axes")) return ctx.attrs.ints("axes");
  return ctx.optional(i) ? ctx.ints(i) : undefined;
}

ops.define("Reshape", (ctx) => {
  const x = ctx.input(0);
  const want = ctx.attrs.has("shape") ? ctx.attrs.ints("shape") : ctx.requireInts(1);
  const allowZero = ctx.attrs.int("allowzero", 0) === 1;
  const shape = want.map((d, k) => (d === 0 && !allowZero ? x.shape[k] ?? ctx.invalid(`dim ${k} is 0 (copy) but the input has rank ${x.shape.length}`) : d));
  const free = shape.filter((d) => d === -1).length;
  if (free > 1 || shape.some((d) => d < -1)) ctx.invalid(`bad target shape [${want.join(",")}]`);
  const n = sizeOfShape(x.shape);
  if (free) {
    const known = sizeOfShape(shape.filter((d) => d !== -1));
    if (known === 0 || n % known !== 0) ctx.fail(`cannot reshape ${n} elements to [${want.join(",")}]`);
    shape[shape.indexOf(-1)] = n / known;
  }
  if (sizeOfShape(shape) !== n) ctx.fail(`cannot reshape [${x.shape.join(",")}] to [${shape.join(",")}]`);
  return [{ dtype: x.dtype, shape }];
}, { arity: [1, 2], traits: ["reshape", "alias", "moves"], lastChange: 13 });

ops.define("Flatten", (ctx) => {
  const x = ctx.input(0);
  const r = x.shape.length;
  let axis = ctx.attrs.int("axis", 1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r) ctx.invalid(`axis out of range for rank ${r}`);
  return [{ dtype: x.dtype, shape: [sizeOfShape(x.shape.slice(0, axis)), sizeOfShape(x.shape.slice(axis))] }];
}, { arity: [1, 1], traits: ["reshape", "alias", "moves"], lastChange: 13 });

ops.define("Squeeze", (ctx) => {
  const x = ctx.input(0);
  const r = x.shape.length;
  const axes = axesOf(ctx, 1)?.map((a) => normAxis(ctx, a, r)) ?? x.shape.flatMap((d, k) => (d === 1 ? [k] : []));
  for (const a of axes) if (x.shape[a] !== 1) ctx.fail(`cannot squeeze axis ${a} of size ${x.shape[a]}`);
  return [{ dtype: x.dtype, shape: x.shape.filter((_, k) => !axes.includes(k)) }];
}, { arity: [1, 2], traits: ["reshape", "alias", "moves"], lastChange: 13 });

ops.define("Unsqueeze", (ctx) => {
  const x = ctx.input(0);
  const axes = axesOf(ctx, 1) ?? ctx.invalid("Unsqueeze needs axes");
  const r = x.shape.length + axes.length;
  const norm = axes.map((a) => normAxis(ctx, a, r));
  if (new Set(norm).size !== norm.length) ctx.invalid("repeated axes");
  const rest = [...x.shape];
  return [{ dtype: x.dtype, shape: Array.from({ length: r }, (_, k) => (norm.includes(k) ? 1 : rest.shift()!)) }];
}, { arity: [1, 2], traits: ["reshape", "alias", "moves"], lastChange: 13 });

ops.define("Dropout", (ctx) => {
  const x = ctx.input(0);
  const training = ctx.optional(2);
  if (training && (!training.value || Number(training.value.data[0]) !== 0)) {
    ctx.unsupported("Dropout in training mode (training_mode must be a constant false); kiln compiles inference only");
  }
  if (ctx.attrs.has("is_test") && ctx.attrs.int("is_test") === 0) ctx.unsupported("Dropout with is_test=0 (training) is not supported");
  // the mask is bool from opset 10; before, it has the input's type (T in Dropout-7)
  return [{ dtype: x.dtype, shape: [...x.shape] }, { dtype: ctx.opset >= 10 ? "bool" : x.dtype, shape: [...x.shape] }];
}, { arity: [1, 3], traits: ["alias"], lastChange: 13 });

ops.define("Transpose", (ctx) => {
  const x = ctx.input(0);
  const r = x.shape.length;
  const perm = ctx.attrs.ints("perm", [...Array(r).keys()].reverse());
  if (perm.length !== r || [...perm].sort((a, b) => a - b).some((p, k) => p !== k)) ctx.invalid(`perm [${perm.join(",")}] is not a permutation of rank ${r}`);
  return [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]) }];
}, { arity: [1, 1], traits: ["moves"], lastChange: 13 });

ops.define("Concat", (ctx) => {
  const xs = ctx.inputs.map((_, i) => ctx.input(i));
  const r = xs[0].shape.length;
  const axis = normAxis(ctx, ctx.attrs.int("axis"), r);
  const shape = [...xs[0].shape];
  shape[axis] = 0;
  for (const x of xs) {
    if (x.dtype !== xs[0].dtype) ctx.invalid("Concat inputs differ in type");
    if (x.shape.length !== r || x.shape.some((d, k) => k !== axis && d !== xs[0].shape[k])) ctx.fail("Concat inputs differ in shape off the axis");
    shape[axis] += x.shape[axis];
  }
  return [{ dtype: xs[0].dtype, shape }];
}, { arity: [1, Infinity], lastChange: 13 });

/** Chunk sizes of Split along its axis. */
export function splitSizes(attrs: ShapeCtx["attrs"], dim: number, outputs: number, given: number[] | undefined): number[] | string {
  const split = given ?? (attrs.has("split") ? attrs.ints("split") : undefined);
  if (split) return split.reduce((a, b) => a + b, 0) === dim && split.length === outputs ? split : `split [${split.join(",")}] does not cover ${dim} in ${outputs} outputs`;
  const n = attrs.int("num_outputs", outputs);
  const chunk = attrs.has("num_outputs") ? Math.ceil(dim / n) : dim / n;
  if (!Number.isInteger(chunk)) return `${dim} does not split evenly into ${n}`;
  return Array.from({ length: n }, (_, k) => Math.max(0, Math.min(chunk, dim - k * chunk)));
}

ops.define("Split", (ctx) => {
  const x = ctx.input(0);
  const axis = normAxis(ctx, ctx.attrs.int("axis", 0), x.shape.length);
  const sizes = splitSizes(ctx.attrs, x.shape[axis], ctx.node.outputs.length, ctx.optional(1) ? ctx.ints(1) : undefined);
  const ok = typeof sizes === "string" ? ctx.fail(sizes) : sizes;
  return ok.map((s) => ({ dtype: x.dtype, shape: x.shape.map((d, k) => (k === axis ? s : d)) }));
}, { arity: [1, 2], lastChange: 13 });

ops.define("Slice", (ctx) => {
  const x = ctx.input(0);
  const shape = sliceParams(ctx, x.shape).map((a) => a.count);
  // a slice that cuts a data-dependent dim (`keep[:100]`: min(count, 100) is no polynomial of the
  // count): its length is a data-dependent dim of its own, which its kernel writes (slice-count)
  const cut = ctx.dataDims?.cuts?.has(ctx.node.name) || ctx.dataDims?.values?.has(ctx.node.name) ? countCutAxis(ctx, x.shape.length) : undefined;
  if (cut !== undefined) {
    shape[cut] = ctx.dataDim(shape[cut]);
    ctx.node.meta = { ...ctx.node.meta, cutsCount: String(cut) };
  }
  return [{ dtype: x.dtype, shape }];
}, { arity: [1, 5], traits: ["moves"], lastChange: 13 });

/**
 * The axis a Slice cuts where it may cut a data-dependent dim as it runs (slice-count): its one
 * sliced axis, from a fixed start (0 or more) to a fixed end, step 1; undefined for any other slice.
 */
export function countCutAxis(src: ParamSource, rank: number): number | undefined {
  const raw = rawSliceAxes(src, rank);
  const sliced = raw.flatMap((r, k) => (r ? [k] : []));
  if (sliced.length !== 1) return undefined;
  const r = raw[sliced[0]]!;
  return r.start >= 0 && r.end >= 0 && r.step === 1 ? sliced[0] : undefined;
}

ops.define("Expand", (ctx) => {
  const x = ctx.input(0);
  const shape = broadcastShapes(x.shape, ctx.requireInts(1)) ?? ctx.fail(`cannot expand [${x.shape.join(",")}] to [${ctx.requireInts(1).join(",")}]`);
  return [{ dtype: x.dtype, shape }];
}, { arity: [2, 2], traits: ["moves"], lastChange: 13, shapeInputs: [1] });

ops.define("Tile", (ctx) => {
  const x = ctx.input(0);
  const reps = ctx.requireInts(1);
  if (reps.length !== x.shape.length || reps.some((r) => r < 0)) ctx.invalid(`repeats [${reps.join(",")}] do not fit rank ${x.shape.length}`);
  return [{ dtype: x.dtype, shape: x.shape.map((d, k) => d * reps[k]) }];
}, { arity: [2, 2], traits: ["moves"], lastChange: 13 });

ops.define("Pad", (ctx) => {
  const x = ctx.input(0);
  const { begin, end } = padAmounts(ctx, x.shape.length);
  const mode = ctx.attrs.string("mode", "constant");
  if (!["constant", "reflect", "edge", "wrap"].includes(mode)) ctx.unsupported(`Pad mode ${mode}`);
  const shape = x.shape.map((d, k) => d + begin[k] + end[k]);
  if (shape.some((d) => d < 0)) ctx.fail("negative pads remove more than the whole axis");
  if (mode !== "constant" && x.shape.some((d, k) => d === 0 && shape[k] > 0)) ctx.fail(`Pad mode ${mode} needs a non-empty input`);
  if (mode === "reflect" && x.shape.some((d, k) => (begin[k] >= d || end[k] >= d) && d > 1)) ctx.fail("reflect pads must be smaller than the axis");
  return [{ dtype: x.dtype, shape }];
}, { arity: [1, 4], lastChange: 13 });

ops.define("ConstantOfShape", (ctx) => {
  const shape = ctx.requireInts(0);
  const v = ctx.attrs.tensor("value");
  return [{ dtype: v?.dtype ?? "float32", shape }];
}, { arity: [1, 1], lastChange: 13 });

ops.define("EyeLike", (ctx) => {
  const x = ctx.input(0);
  if (x.shape.length !== 2) ctx.invalid("EyeLike needs a 2-D input");
  const dt = ctx.attrs.has("dtype") ? dtypeFromOnnx(ctx.attrs.int("dtype"))?.name ?? ctx.unsupported(`EyeLike dtype ${ctx.attrs.int("dtype")}`) : x.dtype;
  return [{ dtype: dt, shape: [...x.shape] }];
}, { lastChange: 9, arity: [1, 1] });

ops.define("Trilu", same, { lastChange: 14, arity: [1, 2] });
// CumSum 14 and GatherElements 13 only added types
ops.define("CumSum", same, { arity: [2, 2], lastChange: 11 });
ops.define("ReverseSequence", same, { lastChange: 10, arity: [2, 2] });

const scatterShape: ShapeRule = (ctx) => {
  ctx.expectDType(1, ["int32", "int64"]);
  if (ctx.input(2).dtype !== ctx.input(0).dtype) ctx.invalid("updates and data differ in type");
  return same(ctx);
};
ops.define(["ScatterND", "ScatterElements"], scatterShape, { arity: [3, 3], lastChange: 13 });
ops.define("Scatter", scatterShape, { arity: [3, 3] });

export const MOVEMENT_OPS = ops.defs;
