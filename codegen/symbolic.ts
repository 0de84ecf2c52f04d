// Symbolic dims in code generation (docs/ARCHITECTURE.md "Symbolic dims"). Every tensor is placed
// at the upper bounds with the strides of that layout (the padded layout), so addresses stay
// compile-time constants and only loop extents vary. A tensor whose one varying dim is its leading
// non-1 dim (the "prefix form": [1, seq, hidden], [seq, hidden]) holds a run's values as the first
// elements of its slot, exactly as a compact tensor would: that is what graph inputs and outputs
// (the runtime reads and writes them compact) and the row-polymorphic kernels take. A layer with a
// symbolic tensor runs only on a kernel that asks for its run-time extent (KernelCtx.runtimeExtent).
import { KilnError } from "../runtime/errors.js";
import { dtype } from "../runtime/dtypes.js";
import { formatDim, type DimExpr, type SymbolInfo } from "../runtime/dims.js";

/** symbols kiln takes at once: their values fill the reserved bytes from SYMBOLS_ADDR */
const MAX_SYMBOLS = 4;
import type { Graph } from "../compiler/ir/graph.js";
import { keepsPaddedLayout, prefixDim } from "../compiler/ir/padded.js";

export { prefixDim };
import type { KernelCtx } from "./kernels/kernel.js";
import { pinHint as symbolsHint } from "./pin-hint.js";

const pinHint = (graph: Graph, e: readonly DimExpr[]) => symbolsHint(graph.symbolic!.symbols, e);

const describe = (graph: Graph, dims: readonly number[], e: readonly DimExpr[]) => `[${e.map((d) => formatDim(d, graph.symbolic!.symbols)).join(",")}] (at most [${dims.join(",")}])`;

/**
 * Graph inputs and outputs of whole bytes per element where a dim after the leading ones varies
 * (the runtime copies them block by block at the padded strides), and each symbol found alone in
 * some input dim, where a run reads its value: the manifest's symbols.
 */
export function checkSymbolicSlots(graph: Graph): SymbolInfo[] {
  const sym = graph.symbolic!;
  if (sym.symbols.length > MAX_SYMBOLS) {
    const owned = sym.symbols.filter((s) => s.node !== undefined);
    const which = owned.length ? ` (${owned.length} of them the counts nodes ${owned.map((s) => JSON.stringify(s.node)).join(", ")} give at run time)` : "";
    throw new KilnError(owned.length ? "UNSUPPORTED_OP" : "BAD_OPTION", `at most ${MAX_SYMBOLS} symbolic dims, got ${sym.symbols.length}${which}: ${owned.length < sym.symbols.length ? "pin some" : "kiln takes no more data-dependent dims in one model so far"}`);
  }
  for (const name of [...graph.inputs, ...graph.outputs]) {
    const e = sym.dims.get(name);
    const dims = graph.values.get(name)!.shape as number[];
    if (e && prefixDim(dims, e) === undefined && dtype(graph.values.get(name)!.dtype ?? "float32").bits < 8) {
      const what = graph.inputs.includes(name) ? "input" : "output";
      throw new KilnError("UNSUPPORTED_OP", `${what} ${JSON.stringify(name)} is ${describe(graph, dims, e)}: kiln takes a symbolic dim of a graph input or output packing several elements to a byte only as its leading dim (after dims of 1) so far; ${pinHint(graph, e)}`);
    }
  }
  return sym.symbols.map((s, i) => {
    // a data-dependent dim: its node's kernel writes it (module.ts names the layer)
    if (s.node !== undefined) return { ...s };
    for (const [j, n] of graph.inputs.entries()) {
      const k = sym.dims.get(n)?.findIndex((d) => typeof d !== "number" && d.length === 1 && d[0].length === 2 && d[0][0] === (s.step ?? 1) && d[0][1] === i) ?? -1;
      if (k >= 0) return { ...s, at: [j, k] };
    }
    throw new KilnError("UNSUPPORTED_OP", `no input has ${s.name} as a dim of its own, so a run cannot tell its value from the feeds; pin it with --shape ${s.name}=N`);
  });
}

/**
 * The layer's symbolic tensors (by name), or undefined when all are static. A tensor not in the
 * prefix form needs a kernel that reads the padded layout (KernelCtx.runtimeDim): checked after
 * emission (checkEmitted).
 */
export function layerSymbolic(graph: Graph, ctx: KernelCtx): KernelCtx["symbolic"] {
  const dims = new Map<string, readonly DimExpr[]>();
  for (const t of [...ctx.inputs, ...ctx.outputs]) {
    const e = t && graph.symbolic!.dims.get(t.name);
    if (t && e) dims.set(t.name, e);
  }
  return dims.size ? { dims, symbols: graph.symbolic!.symbols, used: false } : undefined;
}

/** The layer's inputs computed from the dims whose elements are polynomials of the symbols (Graph.symbolic.values), or undefined. */
export function layerSymbolValues(graph: Graph, ctx: KernelCtx): KernelCtx["symbolValues"] {
  const values = new Map<string, readonly DimExpr[]>();
  for (const t of ctx.inputs) {
    const v = t && graph.symbolic!.values?.get(t.name);
    if (t && v) values.set(t.name, v);
  }
  return values.size ? { values, symbols: graph.symbolic!.symbols } : undefined;
}

/**
 * After emission: the kernel asked for this run's extents, and read the padded layout where a
 * tensor is not in the prefix form (a layer that emits nothing: every tensor in the prefix form).
 */
export function checkEmitted(graph: Graph, ctx: KernelCtx, variant: string, empty: boolean): void {
  const sym = ctx.symbolic!;
  const tensors = [...ctx.inputs, ...ctx.outputs].filter((t) => t && sym.dims.has(t.name));
  // a layer that emits nothing (a reshape aliased onto its input) keeps the elements where they
  // are: the same in the padded layout only between prefix forms
  // (or where the padded layouts agree: compiler/ir/padded.ts)
  if (empty) {
    const [x] = ctx.inputs;
    sym.padded = !!x && tensors.every((t) => keepsPaddedLayout(x.dims, sym.dims.get(x.name), t!.dims, sym.dims.get(t!.name)));
  }
  else if (!sym.used) {
    const t = tensors[0]!, e = sym.dims.get(t.name)!;
    const k = e.findIndex((d) => typeof d !== "number");
    throw new KilnError("UNSUPPORTED_OP", `${ctx.node.op} (kernel ${variant}) has no symbolic form yet: ${JSON.stringify(t.name)} is ${describe(graph, t.dims, e)}, dim ${k} varying; ${pinHint(graph, e)}`, ctx.context());
  }
  const off = tensors.find((t) => prefixDim(t!.dims, sym.dims.get(t!.name)!) === undefined);
  if (off && !sym.padded) {
    const e = sym.dims.get(off.name)!;
    throw new KilnError("UNSUPPORTED_OP", `tensor ${JSON.stringify(off.name)} of this ${ctx.node.op} is ${describe(graph, off.dims, e)}: its kernel (${variant}) takes a symbolic dim only as a tensor's leading dim (after dims of 1) so far; ${pinHint(graph, e)}`, ctx.context());
  }
}
