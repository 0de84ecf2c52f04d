// Gated activations over two same-shaped tensors: SwiGLU (opset 28), Y = Swish_alpha(A) * B with
// Swish_alpha(a) = a * sigmoid(alpha * a), in the reference's order ((a * s) * b). float16 and
// bfloat16 compute in float32 (widen-float16; bfloat16 rounded once on store); float32 runs four
// lanes at a time with the vector sigmoid. The formula also serves fused elementwise loops.
import binaryen from "binaryen";
import type { Expr } from "../../fn.js";
import { wasmType } from "../../memory.js";
import { floatOps, vecOps } from "../unary/formula.js";
import { bind, BroadcastTable } from "./ops.js";

const gated = new BroadcastTable();

gated.define("SwiGLU", {
  scalar: (m, dt, [a0, b], ctx) => {
    const t = wasmType(dt);
    const F = floatOps(m, t === binaryen.f64 ? "f64" : "f32", ctx);
    const alpha = ctx.attrs.float("alpha", 1);
    return bind(ctx, [a0], [t], ([a]) => F.mul(F.mul(a(), F.math("sigmoid", alpha === 1 ? a() : F.mul(F.c(alpha), a()))), b));
  },
  simd: (m, _kind, [a0, b], ctx) => {
    const V = vecOps(m, ctx);
    const alpha = ctx.attrs.float("alpha", 1);
    return bind(ctx, [a0], [binaryen.v128], ([a]) => V.mul(V.mul(a(), V.math("sigmoid", alpha === 1 ? a() : V.mul(V.c(alpha), a()))), b) as Expr);
  },
});

export const GATED_FORMULAS = gated.formulas;
export const KERNELS = gated.kernels();
