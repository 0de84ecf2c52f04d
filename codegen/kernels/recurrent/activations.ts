// The activation functions of RNN, GRU and LSTM as expressions, in one precision (f32, f64) or on
// f32x4 lanes. Those that are ONNX operators too (Sigmoid, Tanh, Relu, LeakyRelu, HardSigmoid,
// Elu, Softsign, Softplus, ThresholdedRelu) run the unary kernels' formulas (unary/ops.ts), with the
// activation's alpha and beta standing in for the node's attributes; Affine and ScaledTanh, which
// are not, are written here. clip, when the node has it, bounds each activation's input.
import binaryen from "binaryen";
import type { Activation } from "../../../compiler/ops/recurrent.js";
import type { Expr } from "../../fn.js";
import type { KernelCtx } from "../kernel.js";
import { floatOps, vecOps, type FloatOps, type VecOps } from "../unary/formula.js";
import { UNARY_FORMULAS } from "../unary/ops.js";
import type { Precision } from "../../math.js";

/** what both vocabularies offer, which the formulas below are written in */
type Ops = Pick<FloatOps, "c" | "add" | "mul" | "maxBound" | "minBound" | "math">;

/** The unary formula of the operator an activation is named after (case-insensitively), if there is one. */
function unaryFormula(name: string) {
  const op = Object.keys(UNARY_FORMULAS).find((k) => k.toLowerCase() === name);
  return op ? UNARY_FORMULAS[op] : undefined;
}

/** ctx with its attributes replaced by the activation's alpha and beta (what the unary formulas read). */
function withParams(ctx: KernelCtx, a: Activation): KernelCtx {
  const attrs = { float: (name: string, def?: number) => (name === "alpha" ? a.alpha : name === "beta" ? a.beta : def) };
  return Object.create(ctx, { attrs: { value: attrs } }) as KernelCtx;
}

/** formulas of the activations that are not ONNX operators of their own */
function own(O: Ops, a: Activation, x: () => Expr): Expr | undefined {
  if (a.name === "affine") return O.add(O.mul(O.c(a.alpha), x()), O.c(a.beta));
  if (a.name === "scaledtanh") return O.mul(O.c(a.alpha), O.math("tanh", O.mul(O.c(a.beta), x())));
  return undefined;
}

/** An activation on values of one precision, or on f32x4 lanes. x is read more than once: a local's get. */
export class Activations {
  readonly F: FloatOps;
  readonly V: VecOps;
  constructor(private readonly ctx: KernelCtx, p: Precision, private readonly clip?: number) {
    this.F = floatOps(ctx.m, p, ctx);
    this.V = vecOps(ctx.m, ctx);
  }

  /** clip(x), or x when the node has no clip */
  clipped(O: Ops, x: Expr): Expr {
    return this.clip === undefined ? x : O.maxBound(O.minBound(x, O.c(this.clip)), O.c(-this.clip));
  }

  /** a(clip(x)) in the precision p (a(x) with clip false) */
  scalar(a: Activation, x: Expr, clip = true): Expr {
    const { m, fn } = this.ctx;
    const type = this.F.p === "f32" ? binaryen.f32 : binaryen.f64;
    const l = fn.local(type);
    const f = unaryFormula(a.name)?.float;
    return m.block(null, [l.set(clip ? this.clipped(this.F, x) : x), own(this.F, a, l.get) ?? f!(this.F, l.get, withParams(this.ctx, a))], type);
  }

  /** a(clip(x)) on f32x4 lanes (a(x) with clip false) */
  vector(a: Activation, x: Expr, clip = true): Expr {
    const { m, fn } = this.ctx;
    const l = fn.local(binaryen.v128);
    const f = unaryFormula(a.name)?.simd;
    return m.block(null, [l.set(clip ? this.clipped(this.V, x) : x), own(this.V, a, l.get) ?? f!(this.V, l.get, withParams(this.ctx, a))], binaryen.v128);
  }
}

/** Whether every activation has an f32x4 form (the fused cell needs them). */
export function hasVectorForms(acts: Activation[][]): boolean {
  return acts.flat().every((a) => a.name === "affine" || a.name === "scaledtanh" || unaryFormula(a.name)?.simd !== undefined);
}
