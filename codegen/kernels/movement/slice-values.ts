// Slice whose starts or ends are computed in the module from the dims (symbolic dims, docs/
// ARCHITECTURE.md): older GPT-2 exports, GPT-Neo, GPT-J and CodeGen cut their causal mask out of a
// constant [1, 1, P, P] buffer as `bias[:, :, total - seq : total, :total]`, with `total - seq` and
// `total` read from the inputs' dims. At any one set of dims they fold; over bounds they run in the
// module (compiler/driver/symbolic-unfold.ts), and the probes found each element a polynomial of
// the symbols (Graph.symbolic.values: `past`, `past+seq`). This kernel takes those polynomials.
import { clampSlice } from "../../../compiler/ops/movement-params.js";
import { evalDim, formatDim, type DimExpr } from "../../../runtime/dims.js";
import { stridesOf, type Expr } from "../../fn.js";
import type { KernelCtx } from "../kernel.js";
import { bytesOf, emitView, viewInto } from "./view.js";
import type { ParamSource } from "../../../compiler/ops/movement-params.js";

/** whether the Slice's starts or ends are values computed from the dims (this kernel's case) */
export function slicesByValues(ctx: KernelCtx): boolean {
  return ctx.opset >= 10 && [1, 2].some((i) => ctx.inputs[i] && !ctx.constValue(i) && ctx.symbolValues?.values.has(ctx.inputs[i]!.name));
}

/**
 * The Slice, its starts and ends each a constant or a polynomial of the symbols, its axes and steps
 * constants; along an axis with a polynomial, step 1 over a static dim of x. Taken only where no
 * value within the bounds is clamped (0 <= start <= end <= dim) and the slice's length is the
 * output's dim there: both checked at every corner of the bounds, which suffices, as the
 * polynomials are multilinear (each takes its least and greatest value at a corner, and two that
 * agree at every corner agree everywhere). This run's start is computed from its symbols.
 */
export function emitSliceByValues(ctx: KernelCtx, p: ParamSource): void {
  const x = ctx.input(0), out = ctx.output(0);
  const sym = ctx.symbolValues!;
  const exprs = (i: number): DimExpr[] => {
    const c = ctx.constValue(i);
    if (c) return Array.from(c.data as ArrayLike<number | bigint>, Number);
    return sym.values.get(ctx.inputs[i]!.name) as DimExpr[] ?? ctx.unsupported(`input ${i} must be a compile-time constant or a value computed from the dims alone`);
  };
  const starts = exprs(1), ends = exprs(2);
  const axes = p.ints(3) ?? starts.map((_, k) => k);
  const steps = p.ints(4) ?? [];
  if (starts.length !== ends.length || axes.length !== starts.length) p.invalid("starts, ends and axes differ in length");
  const rank = x.dims.length;
  const xe = ctx.symbolic?.dims.get(x.name), oe = ctx.symbolic?.dims.get(out.name);
  const corners = Array.from({ length: 2 ** sym.symbols.length }, (_, mask) => sym.symbols.map((s, i) => ((mask >> i) & 1 ? s.max : s.min)));
  const st = stridesOf(x.dims);
  const srcStrides = st.slice();
  const bytes = bytesOf(x.dtype);
  let base = 0;
  let shift: Expr | undefined;
  const show = (e: DimExpr) => formatDim(e, sym.symbols);
  axes.forEach((a0, j) => {
    const k = a0 < 0 ? a0 + rank : a0;
    if (k < 0 || k >= rank) p.invalid(`axis ${a0} out of range`);
    const step = steps[j] ?? 1;
    if (step === 0) p.invalid("slice step 0");
    const s = starts[j], e = ends[j], d = x.dims[k];
    const refuse = (why: string): never => ctx.unsupported(`Slice of ${JSON.stringify(x.name)} along axis ${k} (length ${typeof xe?.[k] === "object" ? show(xe[k]) : d}) from ${show(s)} to ${show(e)}, computed from the dims: ${why}; pin the dims (--shape NAME=N) or narrow their bounds`);
    if (typeof xe?.[k] === "object") refuse("kiln takes such a slice along a static dim only");
    if (typeof s === "number" && typeof e === "number") {
      const c = clampSlice({ start: s, end: e, step }, d);
      base += c.start * st[k];
      srcStrides[k] = step * st[k];
      return;
    }
    if (step !== 1) refuse("kiln takes step 1 there so far");
    // a constant is clamped as always; a polynomial must need no clamping anywhere in the bounds
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
    for (const c of corners) {
      const at = sym.symbols.map((q, i) => `${q.name}=${c[i]}`).join(", ");
      const sv = evalDim(s, c), ev = evalDim(e, c);
      if (typeof s !== "number" && (sv < 0 || sv > d)) refuse(`the start is ${sv} at ${at}, outside 0..${d}`);
      if (typeof e !== "number" && (ev < 0 || ev > d)) refuse(`the end is ${ev} at ${at}, outside 0..${d}`);
      const count = Math.max(0, (typeof e === "number" ? clamp(e) : ev) - (typeof s === "number" ? clamp(s) : sv));
      const want = oe ? evalDim(oe[k], c) : out.dims[k];
      if (count !== want) refuse(`it takes ${count} at ${at}, where the output's dim is ${want}`);
    }
    if (typeof s === "number") base += clamp(s) * st[k];
    else {
      const moved = ctx.m.i32.mul(ctx.symbolValue(s), ctx.m.i32.const(st[k] * bytes));
      shift = shift ? ctx.m.i32.add(shift, moved) : moved;
    }
  });
  // the output in the padded layout, each varying dim this run's extent
  const runtime = out.dims.map((_, k) => ctx.runtimeDim(out, k));
  ctx.readsPadded();
  emitView(ctx, viewInto(out, x.addr + base * bytes, srcStrides), false, runtime, shift === undefined ? undefined : { src: shift });
}
