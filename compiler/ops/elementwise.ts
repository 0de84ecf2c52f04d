// Shape rules for elementwise operators: same-shape unary ops and numpy-broadcasting n-ary ops,
// with each op's allowed dtypes in one table (what the kernels handle; anything else is refused
// here with a clear reason rather than computed wrongly).
import { dtypeFromOnnx, onnxTypeName, type DTypeName } from "../../runtime/dtypes.js";
import { listed } from "../../runtime/errors.js";
import { broadcastAll, broadcastShapes, OpTable, type ShapeCtx, type OutputInfo, type ShapeRule, type Trait } from "./registry.js";

const ops = new OpTable();

export function unaryRule(ctx: ShapeCtx): OutputInfo[] {
  const x = ctx.input(0);
  return [{ dtype: x.dtype, shape: [...x.shape] }];
}

/** The numpy broadcast of the present inputs' shapes. */
function broadcastOf(ctx: ShapeCtx, indices?: number[]): number[] {
  const ins = (indices ?? ctx.inputs.map((_, i) => i)).map((i) => ctx.inputs[i]).filter((x) => x !== undefined);
  if (ins.length === 0) ctx.invalid("at least one input is required");
  const shape = broadcastAll(ins.map((x) => x!.shape));
  if (!shape) ctx.fail(`shapes ${listed(ins.map((x) => `[${x!.shape.join(",")}]`), 8, " and ")} do not broadcast`);
  return shape;
}

export function broadcastRule(ctx: ShapeCtx): OutputInfo[] {
  const shape = broadcastOf(ctx);
  const ins = ctx.inputs.filter((x) => x !== undefined);
  const dt = ins[0]!.dtype;
  for (const x of ins) if (x!.dtype !== dt) ctx.invalid(`input types differ: ${listed(ins.map((y) => y!.dtype))}`);
  return [{ dtype: dt, shape }];
}

const SIGNED: DTypeName[] = ["int8", "int16", "int32", "int64"];
const UNSIGNED: DTypeName[] = ["uint8", "uint16", "uint32", "uint64"];
const INTS = [...SIGNED, ...UNSIGNED];
const FLOATS: DTypeName[] = ["float32", "float64", "float16"];
const NUMERIC = [...FLOATS, ...INTS];
const BOOL: DTypeName[] = ["bool"];

/** Restrict every present input of a rule to the dtypes `allowed`. */
function typed(allowed: readonly DTypeName[], rule: ShapeRule, inputs?: number[]): ShapeRule {
  return (ctx) => {
    (inputs ?? ctx.inputs.map((_, i) => i)).forEach((i) => { if (ctx.inputs[i]) ctx.expectDType(i, allowed); });
    return rule(ctx);
  };
}

const compareRule: ShapeRule = (ctx) => [{ ...broadcastRule(ctx)[0], dtype: "bool" }];

function modRule(ctx: ShapeCtx): OutputInfo[] {
  const out = broadcastRule(ctx);
  if (FLOATS.includes(out[0].dtype) && ctx.attrs.int("fmod", 0) !== 1) ctx.invalid("Mod of floating-point inputs requires fmod=1");
  return out;
}

function powRule(ctx: ShapeCtx): OutputInfo[] {
  return [{ dtype: ctx.input(0).dtype, shape: broadcastOf(ctx, [0, 1]) }];
}

function whereRule(ctx: ShapeCtx): OutputInfo[] {
  ctx.expectDType(0, BOOL);
  const [x, y] = [ctx.input(1), ctx.input(2)];
  if (x.dtype !== y.dtype) ctx.invalid(`X and Y types differ: ${x.dtype}, ${y.dtype}`);
  return [{ dtype: x.dtype, shape: broadcastOf(ctx, [0, 1, 2]) }];
}

function preluRule(ctx: ShapeCtx): OutputInfo[] {
  const [x, slope] = [ctx.input(0), ctx.input(1)];
  if (x.dtype !== slope.dtype) ctx.invalid(`X and slope types differ: ${x.dtype}, ${slope.dtype}`);
  const b = broadcastShapes(x.shape, slope.shape);
  if (!b || b.length !== x.shape.length || b.some((d, k) => d !== x.shape[k])) {
    ctx.fail(`slope [${slope.shape.join(",")}] does not broadcast to X [${x.shape.join(",")}]`);
  }
  return [{ dtype: x.dtype, shape: [...x.shape] }];
}

/** Cast/CastLike target: a dtype kiln has, or a clear refusal naming the ONNX type. */
function castTarget(ctx: ShapeCtx, code: number): DTypeName {
  const dt = dtypeFromOnnx(code)?.name;
  if (!dt) ctx.unsupported(`Cast to ${onnxTypeName(code)} is not supported; kiln casts between its numeric types and bool (no strings)`);
  return dt;
}

/** Cast's rounding attributes (opset 19: saturate, 24: round_mode for float8e8m0). */
function checkCastAttrs(ctx: ShapeCtx): void {
  const mode = ctx.attrs.string("round_mode", "up");
  if (!["up", "down", "nearest"].includes(mode)) ctx.invalid(`round_mode must be up, down or nearest, got ${JSON.stringify(mode)}`);
}

const castRule: ShapeRule = (ctx) => {
  checkCastAttrs(ctx);
  return [{ dtype: castTarget(ctx, ctx.attrs.int("to")), shape: [...ctx.input(0).shape] }];
};
const castLikeRule: ShapeRule = (ctx) => {
  checkCastAttrs(ctx);
  return [{ dtype: ctx.input(1).dtype, shape: [...ctx.input(0).shape] }];
};

/** every op here runs the shared elementwise loop, element i of each input read before element i is written */
const LOOP: Trait[] = ["elementwise", "in-place"];
const BROADCAST: Trait[] = [...LOOP, "broadcasting"];
/** float arithmetic a fused elementwise loop can take, and that computes the same on channels-last tensors */
const ARITH: Trait[] = [...BROADCAST, "fusible", "layout-agnostic"];
/** the same bits on a scalar as in every SIMD lane (Max and Min are not: their f32x4 forms may differ on -0) */
const UNIFORM: Trait[] = [...ARITH, "uniform"];

/** the four IEEE operations also take bfloat16 (computed in float32, rounded once to bfloat16) */
const ARITH_TYPES: DTypeName[] = [...NUMERIC, "bfloat16"];
const BF16: Trait[] = [...UNIFORM, "bfloat16"];
ops.define("Add", typed(ARITH_TYPES, broadcastRule), { arity: [2, 2], traits: BF16, exact: (a, b) => Math.fround(a + b), lastChange: 13 });
ops.define("Sub", typed(ARITH_TYPES, broadcastRule), { arity: [2, 2], traits: BF16, exact: (a, b) => Math.fround(a - b), lastChange: 13 });
ops.define("Mul", typed(ARITH_TYPES, broadcastRule), { arity: [2, 2], traits: BF16, exact: (a, b) => Math.fround(a * b), lastChange: 13 });
ops.define("Div", typed(ARITH_TYPES, broadcastRule), { arity: [2, 2], traits: BF16, exact: (a, b) => Math.fround(a / b), lastChange: 13 });
ops.define("Mod", typed(NUMERIC, modRule), { lastChange: 13, arity: [2, 2], traits: BROADCAST });
ops.define("Pow", typed(NUMERIC, powRule), { arity: [2, 2], traits: ARITH, lastChange: 13 });
ops.define(["Max", "Min"], typed(NUMERIC, broadcastRule), { arity: [1, Infinity], traits: ARITH, lastChange: 13 });
ops.define(["Sum", "Mean"], typed(FLOATS, broadcastRule), { arity: [1, Infinity], traits: UNIFORM, lastChange: 13 });
const COMPARE: Trait[] = [...BROADCAST, "comparison", "fusible"];
ops.define("Less", typed(NUMERIC, compareRule), { arity: [2, 2], traits: COMPARE, lastChange: 13, truth: (a, b) => a < b });
ops.define("Greater", typed(NUMERIC, compareRule), { arity: [2, 2], traits: COMPARE, lastChange: 13, truth: (a, b) => a > b });
ops.define("LessOrEqual", typed(NUMERIC, compareRule), { arity: [2, 2], traits: COMPARE, lastChange: 13, truth: (a, b) => a <= b });
ops.define("GreaterOrEqual", typed(NUMERIC, compareRule), { arity: [2, 2], traits: COMPARE, lastChange: 13, truth: (a, b) => a >= b });
ops.define("Equal", typed([...NUMERIC, ...BOOL], compareRule), { arity: [2, 2], traits: COMPARE, lastChange: 13, truth: (a, b) => a === b });
ops.define("And", typed(BOOL, broadcastRule), { arity: [2, 2], traits: BROADCAST, lastChange: 13, truth: (a, b) => !!a && !!b });
ops.define("Or", typed(BOOL, broadcastRule), { arity: [2, 2], traits: BROADCAST, lastChange: 13, truth: (a, b) => !!a || !!b });
ops.define("Xor", typed(BOOL, broadcastRule), { lastChange: 7, arity: [2, 2], traits: BROADCAST, truth: (a, b) => !!a !== !!b });
ops.define(["BitwiseAnd", "BitwiseOr", "BitwiseXor"], typed(INTS, broadcastRule), { lastChange: 18, arity: [2, 2], traits: BROADCAST });
ops.define("BitShift", typed(UNSIGNED, broadcastRule), { lastChange: 11, arity: [2, 2], traits: BROADCAST });
ops.define("Where", typed([...NUMERIC, ...BOOL], whereRule, [1, 2]), { arity: [3, 3], traits: [...BROADCAST, "fusible"], lastChange: 13 });
// PRelu's slope broadcasts (usually per channel): not layout-agnostic
ops.define("PRelu", typed(NUMERIC, preluRule), { arity: [2, 2], traits: [...BROADCAST, "fusible"], lastChange: 13 });
// SwiGLU: Swish_alpha(A) * B over two tensors of one shape (no broadcasting)
function swigluRule(ctx: ShapeCtx): OutputInfo[] {
  const [a, b] = [ctx.input(0), ctx.input(1)];
  if (a.dtype !== b.dtype) ctx.invalid(`A and B types differ: ${a.dtype}, ${b.dtype}`);
  if (a.shape.join(",") !== b.shape.join(",")) ctx.fail(`A [${a.shape.join(",")}] and B [${b.shape.join(",")}] must have the same shape (SwiGLU does not broadcast)`);
  return [{ dtype: a.dtype, shape: [...a.shape] }];
}
ops.define("SwiGLU", typed([...FLOATS, "bfloat16"], swigluRule), { arity: [2, 2], traits: [...LOOP, "fusible", "layout-agnostic", "bfloat16"], lastChange: 28 });
// every dtype kiln has, the low-bit ones included (codegen/kernels/elementwise/cast.ts)
ops.define("Cast", castRule, { arity: [1, 1], traits: [...LOOP, "unary", "fusible", "low-bit"], lastChange: 13 });
ops.define("CastLike", castLikeRule, { arity: [2, 2], traits: [...LOOP, "low-bit"], lastChange: 13 });

export const ELEMENTWISE_OPS = ops.defs;
