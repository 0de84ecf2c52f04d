// Slice whose starts or ends are computed in the module from the dims (symbolic dims, docs/
// ARCHITECTURE.md): older GPT-2 exports, GPT-Neo, GPT-J and CodeGen cut their causal mask out of a
// constant [1, 1, P, P] buffer as `bias[:, :, total - seq : total, :total]`, with `total - seq` and
// `total` read from the inputs' dims. At any one set of dims they fold; over bounds they run in the
// module (compiler/driver/symbolic-unfold.ts), and the probes found each element a polynomial of
// the symbols (Graph.symbolic.values: `past`, `past+seq`). This kernel takes those polynomials.
import { clampSlice } from "../../../compiler/ops/movement-params.js";
import { evalDim, formatDim, symbolAt, type DimExpr } from "../../../runtime/dims.js";
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
 * constants; along an axis with a polynomial, step 1 (x's dim there static or varying: DeBERTa's
 * `rel_pos[:seq]`). Taken only where no value within the bounds is clamped (0 <= start <= end <=
 * dim; a constant along a static dim is clamped as always) and the slice's length is the
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
    const s = starts[j], d = x.dims[k];
    // x's length along the axis: static, or (symbolic) its expression at each corner
    const xk = xe?.[k] ?? d;
    // an end past every length there (INT64_MAX: `x[past:]`) is x's end
    const e = typeof ends[j] === "number" && typeof xk !== "number" && corners.every((c) => (ends[j] as number) >= evalDim(xk, c)) ? xk : ends[j];
    const refuse = (why: string): never => ctx.unsupported(`Slice of ${JSON.stringify(x.name)} along axis ${k} (length ${show(xk)}) from ${show(s)} to ${show(e)}, computed from the dims: ${why}; pin the dims (--shape NAME=N) or narrow their bounds`);
    if (typeof s === "number" && typeof e === "number") {
      if (typeof xk !== "number") refuse("kiln takes a fixed start and end along a varying dim with the Slice kernel of constant starts only");
      const c = clampSlice({ start: s, end: e, step }, d);
      base += c.start * st[k];
      srcStrides[k] = step * st[k];
      return;
    }
    if (step !== 1) refuse("kiln takes step 1 there so far");
    // a constant is clamped as always (along a static dim), a polynomial must need no clamping anywhere in the bounds
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
    for (const c of corners) {
      const at = sym.symbols.map((q, i) => symbolAt(q, c[i])).join(", ");
      const len = evalDim(xk, c);
      const take = (v: DimExpr, what: string) => {
        const raw = evalDim(v, c);
        if (typeof v === "number" && typeof xk === "number") return clamp(raw);
        if (raw < 0 || raw > len) refuse(`the ${what} is ${raw} at ${at}, outside 0..${len}`);
        return raw;
      };
      const count = Math.max(0, take(e, "end") - take(s, "start"));
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
