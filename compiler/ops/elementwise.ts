// Shape rules for elementwise operators: same-shape unary ops and numpy-broadcasting n-ary ops,
// with each op's allowed dtypes in one table (what the kernels handle; anything else is refused
// here with a clear reason rather than computed wrongly).
import { dtypeFromOnnx, onnxTypeName, type DTypeName } from "../../runtime/dtypes.js";
import { broadcastShapes, registerShape, type ShapeCtx, type OutputInfo, type ShapeRule } from "./registry.js";

export function unaryRule(ctx: ShapeCtx): OutputInfo[] {
  const x = ctx.input(0);
  return [{ dtype: x.dtype, shape: [...x.shape] }];
}

/** The numpy broadcast of the present inputs' shapes. */
function broadcastOf(ctx: ShapeCtx, indices?: number[]): number[] {
  const ins = (indices ?? ctx.inputs.map((_, i) => i)).map((i) => ctx.inputs[i]).filter((x) => x !== undefined);
  if (ins.length === 0) ctx.invalid("at least one input is required");
  const shape = broadcastShapes(...ins.map((x) => x!.shape));
  if (!shape) ctx.fail(`shapes ${ins.map((x) => `[${x!.shape.join(",")}]`).join(" and ")} do not broadcast`);
  return shape;
}

export function broadcastRule(ctx: ShapeCtx): OutputInfo[] {
  const shape = broadcastOf(ctx);
  const ins = ctx.inputs.filter((x) => x !== undefined);
  const dt = ins[0]!.dtype;
  for (const x of ins) if (x!.dtype !== dt) ctx.invalid(`input types differ: ${ins.map((y) => y!.dtype).join(", ")}`);
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
  if (!dt) ctx.unsupported(`Cast to ${onnxTypeName(code)} is not supported; kiln handles float32, float64, float16, bool and 8..64-bit ints`);
  return dt;
}

const castRule: ShapeRule = (ctx) => [{ dtype: castTarget(ctx, ctx.attrs.int("to")), shape: [...ctx.input(0).shape] }];
const castLikeRule: ShapeRule = (ctx) => [{ dtype: ctx.input(1).dtype, shape: [...ctx.input(0).shape] }];

registerShape(["Add", "Sub", "Mul", "Div"], typed(NUMERIC, broadcastRule));
registerShape("Mod", typed(NUMERIC, modRule));
registerShape("Pow", typed(NUMERIC, powRule));
registerShape(["Max", "Min"], typed(NUMERIC, broadcastRule));
registerShape(["Sum", "Mean"], typed(FLOATS, broadcastRule));
registerShape(["Less", "Greater", "LessOrEqual", "GreaterOrEqual"], typed(NUMERIC, compareRule));
registerShape("Equal", typed([...NUMERIC, ...BOOL], compareRule));
registerShape(["And", "Or", "Xor"], typed(BOOL, broadcastRule));
registerShape(["BitwiseAnd", "BitwiseOr", "BitwiseXor"], typed(INTS, broadcastRule));
registerShape("BitShift", typed(UNSIGNED, broadcastRule));
registerShape("Where", typed([...NUMERIC, ...BOOL], whereRule, [1, 2]));
registerShape("PRelu", typed(NUMERIC, preluRule));
registerShape("Cast", castRule);
registerShape("CastLike", castLikeRule);
