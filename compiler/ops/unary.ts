// Unary elementwise operators (math functions, activations): the output has the input's shape,
// and its dtype except for the predicates, which give bool. One row per operator: its traits
// say where passes may take it; its formulas are the row of the same name in
// codegen/kernels/unary/ops.ts.
import { unaryRule } from "./elementwise.js";
import { OpTable, type ShapeCtx, type Trait } from "./registry.js";

const ops = new OpTable();

/** every unary op runs the shared elementwise loop, element i read before element i is written */
const UNARY: Trait[] = ["elementwise", "unary", "in-place", "layout-agnostic"];
/** a float formula: it may join a fused elementwise loop, and it takes bfloat16 (computed in f32) */
const FLOAT: Trait[] = [...UNARY, "fusible", "bfloat16"];
/** and an f32x4 form: it may run in a Conv/Gemm/MatMul epilogue */
const SIMD: Trait[] = [...FLOAT, "epilogue"];
/** a math-library formula (exp, log, tanh...): long, so kept out of convolution epilogues */
const COSTLY: Trait[] = [...SIMD, "costly"];

/**
 * One row per operator: its traits; `exact`, its float32 result in JavaScript when IEEE rounds it
 * exactly (constant folding uses it); `lastChange`, the opset where its meaning last changed (22
 * only added bfloat16 to many: no change of meaning); and `domain` when it is not ai.onnx.
 */
interface UnaryRow {
  name: string;
  traits: Trait[];
  exact?: (x: number) => number;
  /** a bool op's answer (OpDef.truth) */
  truth?: (x: number | bigint) => boolean;
  lastChange?: number;
  domain?: string;
}

const ROWS: UnaryRow[] = [
  { name: "Abs", traits: [...SIMD, "uniform"], exact: Math.abs, lastChange: 13 },
  { name: "Neg", traits: [...SIMD, "uniform"], exact: (x) => -x, lastChange: 13 },
  { name: "Sign", traits: FLOAT, lastChange: 13 },
  { name: "Relu", traits: SIMD, lastChange: 13 },
  { name: "Exp", traits: COSTLY, lastChange: 13 },
  { name: "Log", traits: COSTLY, lastChange: 13 },
  { name: "Sqrt", traits: [...SIMD, "uniform"], exact: (x) => Math.fround(Math.sqrt(x)), lastChange: 13 },
  { name: "Reciprocal", traits: [...SIMD, "uniform"], lastChange: 13 },
  { name: "Floor", traits: [...SIMD, "uniform"], exact: Math.floor, lastChange: 13 },
  { name: "Ceil", traits: [...SIMD, "uniform"], exact: Math.ceil, lastChange: 13 },
  { name: "Round", traits: [...SIMD, "uniform"], lastChange: 11 },
  { name: "Sigmoid", traits: COSTLY, lastChange: 13 },
  { name: "Tanh", traits: COSTLY, lastChange: 13 },
  { name: "Erf", traits: COSTLY, lastChange: 13 },
  { name: "Sin", traits: COSTLY, lastChange: 13 },
  { name: "Cos", traits: COSTLY, lastChange: 13 },
  { name: "Tan", traits: COSTLY, lastChange: 7 },
  { name: "Asin", traits: FLOAT, lastChange: 7 },
  { name: "Acos", traits: FLOAT, lastChange: 7 },
  { name: "Atan", traits: FLOAT, lastChange: 7 },
  { name: "Sinh", traits: FLOAT, lastChange: 9 },
  { name: "Cosh", traits: FLOAT, lastChange: 9 },
  { name: "Asinh", traits: FLOAT, lastChange: 9 },
  { name: "Acosh", traits: FLOAT, lastChange: 9 },
  { name: "Atanh", traits: FLOAT, lastChange: 9 },
  { name: "LeakyRelu", traits: SIMD, lastChange: 13 },
  { name: "HardSigmoid", traits: SIMD, lastChange: 6 },
  { name: "HardSwish", traits: SIMD, lastChange: 14 },
  { name: "Elu", traits: COSTLY, lastChange: 6 },
  { name: "Selu", traits: COSTLY, lastChange: 6 },
  { name: "Celu", traits: COSTLY, lastChange: 12 },
  { name: "Gelu", traits: COSTLY, lastChange: 13 },
  { name: "Softplus", traits: COSTLY, lastChange: 1 },
  { name: "Softsign", traits: SIMD, lastChange: 1 },
  { name: "ThresholdedRelu", traits: SIMD, lastChange: 10 },
  { name: "Shrink", traits: FLOAT, lastChange: 9 },
  { name: "Mish", traits: COSTLY, lastChange: 18 },
  { name: "Swish", traits: COSTLY, lastChange: 24 },
  { name: "Not", traits: UNARY, lastChange: 13, truth: (a) => !a },
  { name: "BitwiseNot", traits: UNARY, lastChange: 18 },
  { name: "Binarizer", traits: SIMD, domain: "ai.onnx.ml" },
];

for (const { name, traits, exact, truth, lastChange, domain } of ROWS) ops.define(name, unaryRule, { arity: [1, 1], traits, exact, truth, lastChange, domain });

ops.define(["IsNaN", "IsInf"], (ctx: ShapeCtx) => [{ dtype: "bool", shape: [...ctx.input(0).shape] }], { arity: [1, 1], traits: UNARY, lastChange: 13 }); // 20 added float8 inputs only

// Clip's optional min/max inputs (opset >= 11) are scalars of the input's type.
ops.define("Clip", (ctx: ShapeCtx) => {
  const x = ctx.input(0);
  for (const i of [1, 2]) {
    const b = ctx.optional(i);
    if (!b) continue;
    if (b.shape.reduce((a, d) => a * d, 1) !== 1) ctx.invalid(`Clip bound ${i} must be a scalar, has shape [${b.shape.join(",")}]`);
    if (b.dtype !== x.dtype) ctx.invalid(`Clip bound ${i} has type ${b.dtype}, input has ${x.dtype}`);
  }
  return unaryRule(ctx);
}, { arity: [1, 3], traits: SIMD, lastChange: 13 });

export const UNARY_OPS = ops.defs;
