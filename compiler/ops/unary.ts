// Unary elementwise operators (math functions, activations): the output has the input's shape,
// and its dtype except for the predicates, which give bool. One row per operator: its traits
// say where passes may take it; its formulas are the row of the same name in
// codegen/kernels/unary/ops.ts.
import { unaryRule } from "./elementwise.js";
import { OpTable, type ShapeCtx, type Trait } from "./registry.js";

const ops = new OpTable();

/** every unary op runs the shared elementwise loop, element i read before element i is written */
const UNARY: Trait[] = ["elementwise", "unary", "in-place", "layout-agnostic"];
/** a float formula: it may join a fused elementwise loop */
const FLOAT: Trait[] = [...UNARY, "fusible"];
/** and an f32x4 form: it may run in a Conv/Gemm/MatMul epilogue */
const SIMD: Trait[] = [...FLOAT, "epilogue"];
/** a math-library formula (exp, log, tanh...): long, so kept out of convolution epilogues */
const COSTLY: Trait[] = [...SIMD, "costly"];

/** [name, traits, exact float32 formula, the opset where its meaning last changed (when known)] */
const ROWS: [name: string, traits: Trait[], exact?: (x: number) => number, lastChange?: number][] = [
  ["Abs", [...SIMD, "uniform"], Math.abs, 13],
  ["Neg", [...SIMD, "uniform"], (x) => -x, 13],
  ["Sign", FLOAT],
  ["Relu", SIMD, undefined, 13],
  ["Exp", COSTLY, undefined, 13],
  ["Log", COSTLY, undefined, 13],
  ["Sqrt", [...SIMD, "uniform"], (x) => Math.fround(Math.sqrt(x)), 13],
  ["Reciprocal", [...SIMD, "uniform"], undefined, 13],
  ["Floor", [...SIMD, "uniform"], undefined, 13],
  ["Ceil", [...SIMD, "uniform"], undefined, 13],
  ["Round", [...SIMD, "uniform"]],
  ["Sigmoid", COSTLY, undefined, 13],
  ["Tanh", COSTLY, undefined, 13],
  ["Erf", COSTLY, undefined, 13],
  ["Sin", COSTLY, undefined, 13],
  ["Cos", COSTLY, undefined, 13],
  ["Tan", COSTLY],
  ["Asin", FLOAT],
  ["Acos", FLOAT],
  ["Atan", FLOAT],
  ["Sinh", FLOAT],
  ["Cosh", FLOAT],
  ["Asinh", FLOAT],
  ["Acosh", FLOAT],
  ["Atanh", FLOAT],
  ["LeakyRelu", SIMD, undefined, 13],
  ["HardSigmoid", SIMD],
  ["HardSwish", SIMD],
  ["Elu", COSTLY],
  ["Selu", COSTLY],
  ["Celu", COSTLY],
  ["Gelu", COSTLY, undefined, 13],
  ["Softplus", COSTLY],
  ["Softsign", SIMD],
  ["ThresholdedRelu", SIMD],
  ["Shrink", FLOAT],
  ["Mish", COSTLY],
  ["Swish", COSTLY],
  ["Not", UNARY, undefined, 13],
  ["BitwiseNot", UNARY],
];

for (const [name, traits, exact, lastChange] of ROWS) ops.define(name, unaryRule, { arity: [1, 1], traits, exact, lastChange });

ops.define(["IsNaN", "IsInf"], (ctx: ShapeCtx) => [{ dtype: "bool", shape: [...ctx.input(0).shape] }], { arity: [1, 1], traits: UNARY });

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
