// Clip: y = min(max(x, lo), hi), so lo > hi gives hi (as onnxruntime and the reference do).
// Opset < 11 takes float attributes; opset >= 11 takes optional scalar inputs, which may be run-time
// values: they join the elementwise loop as broadcast operands (splatted in the SIMD loop).
import { Attrs } from "../../../compiler/ir/attrs.js";
import type { Node } from "../../../compiler/ir/graph.js";
import { isFloat, wasmType } from "../../memory.js";
import type { Expr } from "../../fn.js";
import { emitElementwise } from "../loops.js";
import { KernelTable, type KernelCtx, type TensorRef } from "../kernel.js";
import { floatOps, intOps, vecOps } from "./formula.js";

const table = new KernelTable();

type Bound = { kind: "input"; index: number } | { kind: "const"; value: number };

/**
 * The constant bounds of a Clip inside a fused kernel (elementwise loop, epilogue): its attributes
 * before opset 11, its scalar inputs (valueOf: their constant value) after. Told apart by the node's
 * form, not by ctx.opset, which in a fused kernel is the fused domain's, not ai.onnx's.
 */
export function constantClipBounds(node: Node, valueOf: (name: string) => number): { lo?: number; hi?: number } {
  if (node.inputs.length === 1) {
    const attrs = new Attrs(node);
    return { lo: attrs.has("min") ? attrs.float("min") : undefined, hi: attrs.has("max") ? attrs.float("max") : undefined };
  }
  const input = (i: number) => (node.inputs[i] ? valueOf(node.inputs[i]) : undefined);
  return { lo: input(1), hi: input(2) };
}

interface ClampOps {
  max(a: Expr, b: Expr): Expr;
  min(a: Expr, b: Expr): Expr;
  maxBound(a: Expr, b: Expr): Expr;
  minBound(a: Expr, b: Expr): Expr;
  c(v: number): Expr;
}

/**
 * x clamped to constant bounds (scalar floatOps or f32x4 vecOps): maxBound/minBound, one instruction
 * each with NaN in x kept; a NaN bound makes every output NaN, which max/min propagate and the bound
 * forms would drop.
 */
export function clampToConstants(O: ClampOps, x: Expr, { lo, hi }: { lo?: number; hi?: number }): Expr {
  let v = x;
  if (lo !== undefined) v = Number.isNaN(lo) ? O.max(v, O.c(lo)) : O.maxBound(v, O.c(lo));
  if (hi !== undefined) v = Number.isNaN(hi) ? O.min(v, O.c(hi)) : O.minBound(v, O.c(hi));
  return v;
}

function bounds(ctx: KernelCtx): { lo?: Bound; hi?: Bound; operands: TensorRef[] } {
  const x = ctx.input(0);
  if (ctx.opset < 11) {
    const lo = ctx.attrs.has("min") ? ctx.attrs.float("min") : undefined;
    const hi = ctx.attrs.has("max") ? ctx.attrs.float("max") : undefined;
    return {
      lo: lo === undefined ? undefined : { kind: "const", value: lo },
      hi: hi === undefined ? undefined : { kind: "const", value: hi },
      operands: [x],
    };
  }
  const operands = [x];
  const bound = (i: number): Bound | undefined => {
    const t = ctx.inputs[i];
    if (!t) return undefined;
    if (t.dtype !== x.dtype) ctx.unsupported(`Clip bound ${i} has type ${t.dtype}, input has ${x.dtype}`);
    if (t.size !== 1) ctx.unsupported(`Clip bound ${i} must be a scalar, has shape [${t.dims.join(",")}]`);
    operands.push({ ...t, dims: [] });
    return { kind: "input", index: operands.length - 1 };
  };
  const lo = bound(1);
  const hi = bound(2);
  return { lo, hi, operands };
}

table.add("Clip", (ctx) => {
  const m = ctx.m;
  const x = ctx.input(0);
  const dt = x.dtype;
  if (dt === "bool" || (ctx.opset < 11 && !isFloat(dt))) ctx.unsupported(`Clip does not take ${dt} inputs`);
  const { lo, hi, operands } = bounds(ctx);
  const t = wasmType(dt);
  const pick = (b: Bound, vals: Expr[], c: (v: number) => Expr) => (b.kind === "input" ? vals[b.index] : c(b.value));

  let scalar: (vals: Expr[]) => Expr;
  if (isFloat(dt)) {
    const F = floatOps(m, dt === "float64" ? "f64" : "f32", ctx);
    scalar = (vals) => {
      let y = vals[0];
      if (lo) y = F.max(y, pick(lo, vals, F.c));
      if (hi) y = F.min(y, pick(hi, vals, F.c));
      return y;
    };
  } else {
    const I = intOps(m, dt);
    // select reads its operands twice, so they go through locals
    scalar = (vals) => {
      const y = ctx.fn.local(t);
      const stmts: Expr[] = [y.set(vals[0])];
      const clamp = (b: Bound, below: boolean) => {
        const l = ctx.fn.local(t);
        stmts.push(l.set(pick(b, vals, I.c)));
        const outside = below ? I.lt(y.get(), l.get()) : I.gt(y.get(), l.get());
        stmts.push(y.set(I.select(outside, l.get(), y.get())));
      };
      if (lo) clamp(lo, true);
      if (hi) clamp(hi, false);
      return m.block(null, [...stmts, y.get()], t);
    };
  }
  const V = vecOps(m, ctx);
  emitElementwise(ctx, {
    inputs: operands,
    output: ctx.output(0),
    scalar,
    simd: (vals) => {
      let y = vals[0];
      // constant bounds (not NaN) take maxBound/minBound: one instruction each, NaN in x kept
      const constBound = (b: Bound) => b.kind === "const" && !Number.isNaN(b.value);
      if (lo) y = constBound(lo) ? V.maxBound(y, pick(lo, vals, V.c)) : V.max(y, pick(lo, vals, V.c));
      if (hi) y = constBound(hi) ? V.minBound(y, pick(hi, vals, V.c)) : V.min(y, pick(hi, vals, V.c));
      return y;
    },
  });
});

export const KERNELS = table.families;
