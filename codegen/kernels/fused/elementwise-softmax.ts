// Fused kind "scaled-softmax": Softmax(Mul(x, c)) or Softmax(Div(x, c)) with a constant scalar c
// (attention scores). The scale is applied as each element is read, in the max pass and in the
// exp pass, so the scaled tensor is never written. Same row machinery and the same three phases as
// the Softmax kernel (codegen/kernels/reduce/index.ts): max, exp(x - max) stored and summed, times 1/sum.
import { KernelCtx } from "../kernel.js";
import { softmaxViewOf } from "../reduce/arg.js";
import { dense, emitRows, type Getter, type Kit, type Operand } from "../reduce/rows.js";
import type { Ops } from "../reduce/ops.js";
import type { Expr } from "../../fn.js";

/** The opset the Softmax in the body follows: fuse-patterns only fires for opset >= 13 (one axis). */
const SOFTMAX_OPSET = 13;

export function emitScaledSoftmax(ctx: KernelCtx): void {
  const [scale, softmax] = ctx.node.body ?? [];
  if (!scale || softmax?.op !== "Softmax" || !["Mul", "Div"].includes(scale.op)) ctx.unsupported(`scaled-softmax body must be Mul or Div then Softmax`);
  // fuse-patterns orders the inputs [x, c]; Mul may read them either way round (it commutes)
  const xRef = ctx.input(0);
  const cRef = ctx.input(1);
  if (!cRef.value || cRef.size !== 1) ctx.unsupported(`scaled-softmax needs a constant scalar scale`);
  const c = Number(cRef.value.data[0]);
  const dt = xRef.dtype;
  if (dt !== "float32" && dt !== "float64" && dt !== "float16") ctx.unsupported(`Softmax on ${dt} is not supported`);

  const sctx = new KernelCtx(ctx.m, ctx.fn, softmax, SOFTMAX_OPSET, [xRef], [ctx.output(0)], ctx.math);
  sctx.symbolic = ctx.symbolic;
  const view = softmaxViewOf(sctx);
  const x = dense(xRef, view);
  const y = dense(ctx.output(0), view);
  const scaled = (E: Ops, get: Getter): Expr => (scale.op === "Mul" ? E.mul(get(x), E.c(c)) : E.div(get(x), E.c(c)));
  emitRows(ctx, dt, view, [x, y], (k: Kit) => {
    const mx = k.reduce("max", -Infinity, scaled);
    const shifted = (E: Ops, get: Getter, stat: (l: typeof mx) => Expr) => E.exp(E.sub(scaled(E, get), stat(mx)));
    if (dt !== "float16") {
      const s = k.reduce("add", 0, shifted, y as Operand);
      const inv = k.S.local();
      k.emit(inv.set(k.S.div(k.S.c(1), s.get())));
      k.write(y, (E, get, stat) => E.mul(get(y), stat(inv)));
      return;
    }
    const s = k.reduce("add", 0, shifted);
    k.write(y, (E, get, stat) => E.div(shifted(E, get, stat), stat(s)));
  });
}
