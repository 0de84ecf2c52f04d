// The unary operator table: one row per ONNX operator. Float formulas follow the ONNX reference
// definitions, rewritten where that avoids cancellation or overflow (expm1 in Elu/Selu/Celu,
// max(x,0) + log1p(exp(-|x|)) in Softplus).
import type { Expr } from "../../fn.js";
import type { KernelCtx } from "../kernel.js";
import type { FloatOps, UnaryOp } from "./formula.js";

const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** ops both the scalar and the f32x4 forms have (comparisons give i32 or lane masks; select takes either) */
type Common = Pick<FloatOps, "c" | "add" | "sub" | "mul" | "div" | "min" | "max" | "maxBound" | "minBound" | "lt" | "gt" | "abs" | "neg" | "sqrt" |
  "floor" | "ceil" | "nearest" | "select" | "math">;
type Formula = (O: Common, x: () => Expr, ctx: KernelCtx) => Expr;

/** an op whose float formula reads the same for scalars and f32x4 lanes */
const both = (formula: Formula): UnaryOp => ({ float: formula, simd: formula });

/** softplus(x) = max(x, 0) + log1p(exp(-|x|)): no overflow, no cancellation */
const softplus = (O: Common, x: () => Expr) => O.add(O.max(x(), O.c(0)), O.math("log1p", O.math("exp", O.neg(O.abs(x())))));

/** a float op that is just a math-library call, with its f32x4 form when the library has one */
const libCall = (name: string, vector = false): UnaryOp => {
  const op = both((O, x) => O.math(name, x()));
  return vector ? op : { float: op.float };
};

export const UNARY_FORMULAS: Record<string, UnaryOp> = {
  Abs: {
    ...both((O, x) => O.abs(x())),
    int: (I, x) => (I.signed ? I.select(I.lt(x(), I.c(0)), I.sub(I.c(0), x()), x()) : x()),
  },
  Neg: {
    ...both((O, x) => O.neg(x())),
    int: (I, x) => I.sub(I.c(0), x()),
    signedOnly: true,
  },
  Sign: {
    // NaN stays NaN, +-0 stays as it is
    float: (F, x) => F.select(F.gt(x(), F.c(0)), F.c(1), F.select(F.lt(x(), F.c(0)), F.c(-1), x())),
    int: (I, x) => I.signed ? I.sub(I.fromBool(I.gt(x(), I.c(0))), I.fromBool(I.lt(x(), I.c(0)))) : I.fromBool(I.ne(x(), I.c(0))),
  },
  Relu: {
    ...both((O, x) => O.maxBound(x(), O.c(0))),
    int: (I, x) => (I.signed ? I.select(I.gt(x(), I.c(0)), x(), I.c(0)) : x()),
  },
  Exp: libCall("exp", true),
  Log: libCall("log", true),
  Sqrt: both((O, x) => O.sqrt(x())),
  Reciprocal: both((O, x) => O.div(O.c(1), x())),
  Floor: both((O, x) => O.floor(x())),
  Ceil: both((O, x) => O.ceil(x())),
  // wasm nearest rounds half to even, as ONNX Round does
  Round: both((O, x) => O.nearest(x())),
  Sigmoid: libCall("sigmoid", true),
  Tanh: libCall("tanh", true),
  Erf: libCall("erf", true),
  Sin: libCall("sin", true),
  Cos: libCall("cos", true),
  Tan: libCall("tan", true),
  Asin: libCall("asin"),
  Acos: libCall("acos"),
  Atan: libCall("atan"),
  Sinh: libCall("sinh"),
  Cosh: libCall("cosh"),
  Asinh: libCall("asinh"),
  Acosh: libCall("acosh"),
  Atanh: libCall("atanh"),
  LeakyRelu: both((O, x, ctx) => O.select(O.lt(x(), O.c(0)), O.mul(O.c(ctx.attrs.float("alpha", 0.01)), x()), x())),
  HardSigmoid: both((O, x, ctx) =>
    O.maxBound(O.minBound(O.add(O.mul(O.c(ctx.attrs.float("alpha", 0.2)), x()), O.c(ctx.attrs.float("beta", 0.5))), O.c(1)), O.c(0))),
  HardSwish: both((O, x) => O.mul(x(), O.maxBound(O.minBound(O.add(O.div(x(), O.c(6)), O.c(0.5)), O.c(1)), O.c(0)))),
  Elu: both((O, x, ctx) => O.select(O.lt(x(), O.c(0)), O.mul(O.c(ctx.attrs.float("alpha", 1)), O.math("expm1", x())), x())),
  Selu: both((O, x, ctx) => {
    const alpha = ctx.attrs.float("alpha", 1.67326319217681884765625);
    const gamma = ctx.attrs.float("gamma", 1.05070102214813232421875);
    return O.mul(O.c(gamma), O.select(O.gt(x(), O.c(0)), x(), O.mul(O.c(alpha), O.math("expm1", x()))));
  }),
  Celu: both((O, x, ctx) => {
    const alpha = ctx.attrs.float("alpha", 1);
    return O.add(O.max(O.c(0), x()), O.min(O.c(0), O.mul(O.c(alpha), O.math("expm1", O.div(x(), O.c(alpha))))));
  }),
  Gelu: both((O, x, ctx) => O.mul(O.mul(O.c(0.5), x()), O.add(O.c(1), ctx.attrs.string("approximate", "none") === "tanh"
    ? O.math("tanh", O.mul(O.c(SQRT_2_OVER_PI), O.add(x(), O.mul(O.c(0.044715), O.mul(x(), O.mul(x(), x()))))))
    : O.math("erf", O.mul(x(), O.c(SQRT1_2)))))),
  Softplus: both((O, x) => softplus(O, x)),
  Softsign: both((O, x) => O.div(x(), O.add(O.c(1), O.abs(x())))),
  ThresholdedRelu: both((O, x, ctx) => O.select(O.gt(x(), O.c(ctx.attrs.float("alpha", 1))), x(), O.c(0))),
  Shrink: {
    float: (F, x, ctx) => {
      const lambd = ctx.attrs.float("lambd", 0.5);
      const bias = ctx.attrs.float("bias", 0);
      return F.select(F.lt(x(), F.c(-lambd)), F.add(x(), F.c(bias)),
        F.select(F.gt(x(), F.c(lambd)), F.sub(x(), F.c(bias)), F.c(0)));
    },
    intViaF64: true,
  },
  Mish: both((O, x) => O.mul(x(), O.math("tanh", softplus(O, x)))),
  Swish: both((O, x, ctx) => O.mul(x(), O.math("sigmoid", O.mul(O.c(ctx.attrs.float("alpha", 1)), x())))),
  // IsNaN and IsInf give bool (an i32 0/1 from the comparison); compiler/ops/unary.ts types them
  IsNaN: { float: (F, x) => F.ne(x(), x()) },
  IsInf: {
    float: (F, x, ctx) => {
      const pos = ctx.attrs.int("detect_positive", 1) !== 0;
      const neg = ctx.attrs.int("detect_negative", 1) !== 0;
      if (pos && neg) return F.eq(F.abs(x()), F.c(Infinity));
      if (pos) return F.eq(x(), F.c(Infinity));
      if (neg) return F.eq(x(), F.c(-Infinity));
      return F.ne(F.c(0), F.c(0));
    },
  },
  Not: { bool: (m, x) => m.i32.eqz(x()) },
  Binarizer: { domain: "ai.onnx.ml", ...both((O, x, ctx) => O.select(O.gt(x(), O.c(ctx.attrs.float("threshold", 0))), O.c(1), O.c(0))) },
  BitwiseNot: { int: (I, x) => I.xor(x(), I.c(-1)) },
};
