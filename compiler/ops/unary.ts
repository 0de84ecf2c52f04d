// Shape rules for unary elementwise operators (math functions, activations): the output has the
// input's shape, and its dtype except for the predicates, which give bool.
import { unaryRule } from "./elementwise.js";
import { registerShape, type ShapeCtx } from "./registry.js";

registerShape([
  "Abs", "Neg", "Sign", "Relu", "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round",
  "Sigmoid", "Tanh", "Erf", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
  "LeakyRelu", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu", "Gelu", "Softplus", "Softsign",
  "ThresholdedRelu", "Shrink", "Mish", "Swish", "Not", "BitwiseNot",
], unaryRule);

registerShape(["IsNaN", "IsInf"], (ctx: ShapeCtx) => [{ dtype: "bool", shape: [...ctx.input(0).shape] }]);

// Clip's optional min/max inputs (opset >= 11) are scalars of the input's type.
registerShape("Clip", (ctx: ShapeCtx) => {
  const x = ctx.input(0);
  for (const i of [1, 2]) {
    const b = ctx.optional(i);
    if (!b) continue;
    if (b.shape.reduce((a, d) => a * d, 1) !== 1) ctx.invalid(`Clip bound ${i} must be a scalar, has shape [${b.shape.join(",")}]`);
    if (b.dtype !== x.dtype) ctx.invalid(`Clip bound ${i} has type ${b.dtype}, input has ${x.dtype}`);
  }
  return unaryRule(ctx);
});
