// Unary elementwise kernels over the shared loop. Each operator is a row in a table (see
// unary/ops.ts): a float formula written once for f32 and f64 (float16 computes in f32), an
// optional f32x4 form for the SIMD inner loop, and an integer formula where the op defines one.
import binaryen from "binaryen";
import { dtype, type DTypeName } from "../../../runtime/dtypes.js";
import type { Expr } from "../../fn.js";
import type { Precision } from "../../math.js";
import { i64 } from "../../math/lib.js";
import { scalarOps, vectorOps } from "../../math/ops.js";
import { inlineVector } from "../../math/vector.js";
import { convert, isFloat, wasmType } from "../../memory.js";
import { emitElementwise } from "../loops.js";
import { KernelTable, type KernelCtx } from "../kernel.js";
import { UNARY_FORMULAS } from "./ops.js";
import { floatOps, intOps, vecOps, type UnaryOp } from "./formula.js";

const table = new KernelTable();

/** x is a getter: the loaded value sits in a local, so a formula may read it more than once. */
type Get = () => Expr;

/** Run `body` on x held in a local of type t (loads may be calls, e.g. float16). */
function withLocal(ctx: KernelCtx, t: binaryen.Type, x: Expr, body: (get: Get) => Expr, result: binaryen.Type): Expr {
  const l = ctx.fn.local(t);
  return ctx.m.block(null, [l.set(x), body(l.get)], result);
}

/** The scalar formula of `op` for dtype dt, or undefined when the op does not take dt. */
function scalarFor(op: UnaryOp, ctx: KernelCtx, dt: DTypeName): ((x: Get) => Expr) | undefined {
  const m = ctx.m;
  if (isFloat(dt) && op.float) {
    const F = floatOps(m, dt === "float64" ? "f64" : "f32", ctx);
    return (x) => op.float!(F, x, ctx);
  }
  if (dt === "bool") return op.bool && ((x) => op.bool!(m, x));
  if (isFloat(dt)) return undefined;
  if (op.int) {
    if (op.signedOnly && !dtype(dt).signed) return undefined;
    const I = intOps(m, dt);
    return (x) => op.int!(I, x, ctx);
  }
  if (op.intViaF64 && op.float) {
    const F = floatOps(m, "f64", ctx);
    return (x) => convert(m, "float64", dt, op.float!(F, () => convert(m, dt, "float64", x()), ctx));
  }
  return undefined;
}

function registerUnary(name: string, op: UnaryOp): void {
  table.add(name, (ctx) => {
    const m = ctx.m;
    const input = ctx.input(0);
    const out = ctx.output(0);
    const scalar = scalarFor(op, ctx, input.dtype) ?? ctx.unsupported(`${name} does not take ${input.dtype} inputs in kiln`);
    const inT = wasmType(input.dtype);
    const V = vecOps(m, ctx);
    emitElementwise(ctx, {
      inputs: [input],
      output: out,
      scalar: ([x]) => withLocal(ctx, inT, x, scalar, wasmType(out.dtype)),
      simd: op.simd && (([x]) => withLocal(ctx, binaryen.v128, x, (get) => op.simd!(V, get, ctx), binaryen.v128)),
    });
  }, { domain: op.domain });
}

for (const [name, op] of Object.entries(UNARY_FORMULAS)) registerUnary(name, op);

export const KERNELS = table.families;
