// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss over scores [N, C, D] (D = the product of
// the trailing dims). One pass per (n, d) position: the softmax statistics are computed in
// place, so neither op needs scratch memory.
import binaryen from "binaryen";
import type { Expr, Local } from "../../fn.js";
import { scalarOps } from "../../math/ops.js";
import { constant, convert, load, store } from "../../memory.js";
import { KernelTable, type KernelCtx, type TensorRef } from "../kernel.js";
import { dtype } from "../../../runtime/dtypes.js";

const table = new KernelTable();

/** the largest finite value of each precision */
const FINITE = { f32: 3.4e38, f64: 1.7e308 };

const bytes = (t: TensorRef) => dtype(t.dtype).bytes;

/** Byte address of element `index` (an i32 element index) of t, relative to t.addr. */
const at = (ctx: KernelCtx, t: TensorRef, index: Expr) => ctx.m.i32.mul(index, ctx.m.i32.const(bytes(t)));

interface Target {
  /** the class index, clamped to 0 when it is not a valid class (so reads stay inside) */
  cls: Local;
  /** the per-position weight: 0 when ignored, NaN when out of range */
  w: Local;
}

/**
 * Reads the target at position `pos` and decides its class and weight. A target equal to
 * ignore_index weighs 0; any other target outside [0, C) gives NaN rather than reading
 * outside the scores.
 */
function readTarget(ctx: KernelCtx, pos: Expr, C: number, S: ReturnType<typeof scalarOps>): { stmts: Expr[]; t: Target } {
  const { m, fn } = ctx;
  const target = ctx.input(1);
  const weight = ctx.inputs[2];
  const raw = fn.local(binaryen.i64);
  const cls = fn.local(binaryen.i32);
  const w = fn.local(S.p === "f64" ? binaryen.f64 : binaryen.f32);
  const inRange = m.i64.lt_u(raw.get(), constant(m, "int64", C));
  const stmts = [
    raw.set(convert(m, target.dtype, "int64", load(m, target.dtype, at(ctx, target, pos), target.addr))),
    cls.set(m.select(inRange, m.i32.wrap(raw.get()), m.i32.const(0))),
    w.set(m.select(inRange, weight ? load(m, weight.dtype, at(ctx, weight, cls.get()), weight.addr) : S.c(1), S.c(NaN))),
  ];
  if (ctx.attrs.has("ignore_index")) {
    const ii = ctx.attrs.int("ignore_index");
    stmts.push(w.set(m.select(m.i64.eq(raw.get(), constant(m, "int64", ii)), S.c(0), w.get())));
  }
  return { stmts, t: { cls, w } };
}

/**
 * The shared frame: for each position, `perPosition` gives statements and the (unweighted)
 * negative log-likelihood of the target class; the frame weighs it, stores it or reduces it.
 */
function emitLoss(ctx: KernelCtx, perPosition: (n: Local, d: Local, t: Target) => { stmts: Expr[]; nll: Expr }): void {
  const { m, fn } = ctx;
  const x = ctx.input(0);
  const out = ctx.output(0);
  const [N, C] = x.dims;
  const D = x.dims.slice(2).reduce((a, b) => a * b, 1);
  const p = x.dtype === "float64" ? "f64" : "f32";
  const S = scalarOps(m, p);
  const T = p === "f64" ? binaryen.f64 : binaryen.f32;
  const reduction = ctx.attrs.string("reduction", "mean");
  const sum = fn.local(T);
  const wsum = fn.local(T);
  fn.emit(sum.set(S.c(0)), wsum.set(S.c(0)));
  fn.emit(fn.nest([N, D], ([n, d]) => {
    const pos = m.i32.add(m.i32.mul(n.get(), m.i32.const(D)), d.get());
    const target = readTarget(ctx, pos, C, S);
    const body = perPosition(n, d, target.t);
    const w = target.t.w;
    // an ignored position contributes exactly 0 even when its scores are inf or NaN
    const loss = m.select(S.eq(w.get(), S.c(0)), S.c(0), S.mul(body.nll, w.get()));
    const finish = reduction === "none"
      ? [store(m, out.dtype, at(ctx, out, m.i32.add(m.i32.mul(n.get(), m.i32.const(D)), d.get())), loss, out.addr)]
      : [sum.set(S.add(sum.get(), loss)), wsum.set(S.add(wsum.get(), w.get()))];
    return [...target.stmts, ...body.stmts, ...finish];
  }));
  if (reduction === "sum") fn.emit(store(m, out.dtype, m.i32.const(0), sum.get(), out.addr));
  if (reduction === "mean") fn.emit(store(m, out.dtype, m.i32.const(0), S.div(sum.get(), wsum.get()), out.addr));
}

/** Element (n, c, d) of the scores, c an i32 expression. */
function scoreAt(ctx: KernelCtx, n: Local, c: Expr, d: Local): Expr {
  const m = ctx.m;
  const x = ctx.input(0);
  const [, C] = x.dims;
  const D = x.dims.slice(2).reduce((a, b) => a * b, 1);
  const idx = m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(n.get(), m.i32.const(C)), c), m.i32.const(D)), d.get());
  return load(m, x.dtype, at(ctx, x, idx), x.addr);
}

table.add("NegativeLogLikelihoodLoss", (ctx) => {
  const S = scalarOps(ctx.m, ctx.input(0).dtype === "float64" ? "f64" : "f32");
  emitLoss(ctx, (n, d, t) => ({ stmts: [], nll: S.neg(scoreAt(ctx, n, t.cls.get(), d)) }));
});

// log_softmax over C at each position: max, then log(sum(exp(x - max))), so large scores never
// overflow; the optional log_prob output is written in a third pass.
table.add("SoftmaxCrossEntropyLoss", (ctx) => {
  const { m, fn } = ctx;
  const x = ctx.input(0);
  const C = x.dims[1];
  const D = x.dims.slice(2).reduce((a, b) => a * b, 1);
  const p = x.dtype === "float64" ? "f64" : "f32";
  const S = scalarOps(m, p);
  const T = p === "f64" ? binaryen.f64 : binaryen.f32;
  const logProb = ctx.outputs[1];
  const mx = fn.local(T);
  const lse = fn.local(T);
  emitLoss(ctx, (n, d, t) => {
    const stmts = [
      mx.set(S.c(-Infinity)),
      fn.loop(C, (c) => [mx.set(S.max(mx.get(), scoreAt(ctx, n, c.get(), d)))]),
      // an all -inf row would compute -inf - -inf; shift by a finite value instead
      mx.set(S.min(S.max(mx.get(), S.c(-FINITE[p])), S.c(FINITE[p]))),
      lse.set(S.c(0)),
      fn.loop(C, (c) => [lse.set(S.add(lse.get(), ctx.math.call("exp", p, S.sub(scoreAt(ctx, n, c.get(), d), mx.get()))))]),
      lse.set(S.add(ctx.math.call("log", p, lse.get()), mx.get())),
    ];
    if (logProb) {
      stmts.push(fn.loop(C, (c) => {
        const idx = m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(n.get(), m.i32.const(C)), c.get()), m.i32.const(D)), d.get());
        return [store(m, logProb.dtype, at(ctx, logProb, idx), S.sub(scoreAt(ctx, n, c.get(), d), lse.get()), logProb.addr)];
      }));
    }
    return { stmts, nll: S.sub(lse.get(), scoreAt(ctx, n, t.cls.get(), d)) };
  });
});

export const KERNELS = table.families;
