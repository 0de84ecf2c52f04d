// Symbolic dims (compiler/driver/symbolic.ts): the lower bounds. Every probe of a build for bounds
// lies near the upper bound (passes' size thresholds then decide as at the graph compiled), so a
// value computed from the dims that is the same at all of them may still differ lower down: a clamp
// (`Min(seq, 5)` with seq in 2..30, every probe over 5), a dim of `min(seq, window)`. One module
// taking it as a constant, or its dims as the probes' polynomial, would give a wrong answer below
// the clamp. Where the model reads its inputs' dims as values (Shape, Size), each symbol is prepared
// once more at its lower bound (inference and folding only), and what it shows is compared with a
// probe near the bounds prepared the same way: a constant a layer reads that differs there is one
// to compute at run time (symbolic-unfold.ts); a dim the fitted polynomial misses is refused.
// A clamp is monotone: the same value at the lower and upper bound is the same value throughout.
import { evalDim, type DimExpr, type SymbolInfo } from "../../runtime/dims.js";
import { capturesOf, subgraphsOf, type Graph } from "../ir/graph.js";
import { hasTrait } from "../ops/index.js";
import { differs, type Snapshot } from "./symbolic-snapshot.js";

/**
 * The values the graph (or a subgraph of it) computes from its values' dims (Shape's and Size's,
 * trait `dims-only`, and every value computed from theirs), by name: empty when it reads no dims as values.
 */
export function dimsDerived(graph: Graph): Set<string> {
  const derived = new Set<string>();
  const visit = (g: Graph) => {
    for (const n of g.topoOrder()) {
      subgraphsOf(n).forEach(visit);
      const from = hasTrait(n, "dims-only") || [...n.inputs, ...capturesOf(n)].some((i) => derived.has(i));
      if (from) for (const o of n.outputs) if (o) derived.add(o);
    }
  };
  visit(graph);
  return derived;
}

/**
 * The points to prepare at the lower bounds: `near` (a probe near the upper bounds) with one
 * symbol at its lower bound (at least 1: a dim of 0 leaves the layers nothing to show), for each
 * symbol, a data-dependent dim (a count a node writes) too: `Min(count, 100)`, a detector's top
 * 100 of what it kept, is 100 at every probe near its bound.
 */
export function lowPoints(symbols: readonly SymbolInfo[], near: readonly number[]): { at: number[]; symbol: number }[] {
  const points: { at: number[]; symbol: number }[] = [];
  symbols.forEach((s, i) => {
    const low = Math.max(s.min, 1);
    if (low >= near[i]) return;
    points.push({ at: near.map((v, k) => (k === i ? low : v)), symbol: i });
  });
  return points;
}

/**
 * The constants computed from the dims (`derived`) that a layer reads, by name, that the lower
 * bound's preparation (`low`) computed to another value than a probe near the bounds (`near`): a
 * growing constant whose first elements agree is the same (symbolic-snapshot.ts differs).
 */
export function hiddenConstants(derived: ReadonlySet<string>, near: Snapshot, low: Snapshot): string[] {
  return [...near.consts].filter(([name, c]) => {
    const l = low.consts.get(name);
    return derived.has(name) && l !== undefined && differs(c, l);
  }).map(([name]) => name);
}

/** Whether a second probe near the bounds (`also`) saw the constant `name` as `near` did: one that differs there already is the probes' to find. */
export function sameNear(name: string, near: Snapshot, also: Snapshot): boolean {
  const a = also.consts.get(name);
  return a !== undefined && !differs(near.consts.get(name)!, a);
}

/**
 * The first dim the fitted expressions (`exprs`, else the compiled graph's static dims in
 * `compiled`) miss at the lower bound, where the value is the same one near the bounds (its dims
 * there are the expressions' at `nearAt`: a pass may have given a name to another value).
 */
export function missedDim(exprs: ReadonlyMap<string, DimExpr[]>, compiled: Snapshot, near: Snapshot, nearAt: readonly number[],
  low: Snapshot, lowAt: readonly number[]): { name: string; dim: number; low: number[]; fitted: number[] } | undefined {
  for (const [name, lowDims] of low.shapes) {
    const e: DimExpr[] | undefined = exprs.get(name) ?? compiled.shapes.get(name);
    const n = near.shapes.get(name);
    if (!e || !n || n.length !== e.length || n.some((d, j) => d !== evalDim(e[j], nearAt))) continue;
    const fitted = e.map((x) => evalDim(x, lowAt));
    const dim = lowDims.length !== fitted.length ? -1 : fitted.findIndex((d, j) => d !== lowDims[j]);
    if (lowDims.length !== fitted.length || dim >= 0) return { name, dim, low: lowDims, fitted };
  }
  return undefined;
}
