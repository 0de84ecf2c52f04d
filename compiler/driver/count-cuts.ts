// Data-dependent dims (docs/ARCHITECTURE.md "Data-dependent dims"): the Slices that cut one.
// `keep[:100]` over the boxes a NonMaxSuppression kept takes min(count, 100) rows, no polynomial
// of the count; such a Slice's length is a data-dependent dim of its own, which its kernel writes
// (codegen/kernels/movement/slice-count.ts). compile.ts findDataDims finds them by preparing the
// graph twice, its counts at their bounds and one less.
import type { Graph, Node } from "../ir/graph.js";
import { Attrs } from "../ir/attrs.js";
import { toNumbers } from "../ir/values.js";
import { countCutAxis } from "../ops/movement.js";

/** The axis a prepared graph's Slice node cuts where it may cut a count (movement.ts countCutAxis), read from its constant inputs. */
function countCutAxisOf(g: Graph, n: Node, rank: number): number | undefined {
  const ints = (i: number) => {
    const c = n.inputs[i] ? g.values.get(n.inputs[i])?.const : undefined;
    return c ? toNumbers(c) : undefined;
  };
  try {
    return countCutAxis({ attrs: new Attrs(n), opset: g.opset(""), ints, invalid: (message: string) => { throw new Error(message); } }, rank);
  } catch {
    return undefined; // starts or ends computed at run time: not a cut of a count
  }
}

/**
 * The Slices of `at`, a graph prepared with its data-dependent dims at their bounds, whose sliced
 * axis is shorter in `less` (those dims one less): each cuts a count (registry.ts DataDims.cuts),
 * unless it takes the whole axis at the bounds.
 */
export function countCuts(at: Graph, less: Graph): Set<string> {
  const cuts = new Set<string>();
  const dimsOf = (g: Graph, v: string | undefined) => (v ? g.values.get(v)?.shape : undefined);
  const inLess = new Map(less.nodeList().map((n) => [n.name, n]));
  for (const n of at.nodeList()) {
    const m = inLess.get(n.name);
    const x = dimsOf(at, n.inputs[0]), y = dimsOf(at, n.outputs[0]), xl = m && dimsOf(less, m.inputs[0]);
    if (n.op !== "Slice" || n.domain || !x || !y || !xl) continue;
    const k = x.findIndex((d, j) => d !== xl[j]);
    if (k >= 0 && x[k] !== y[k] && countCutAxisOf(at, n, x.length) === k) cuts.add(n.name);
  }
  return cuts;
}

/** Whether a Slice reads (through any layers) what one of the `cuts` gives: a cut of a cut, which another round may find. */
export function slicesAfter(g: Graph, cuts: readonly string[]): boolean {
  const from = new Set<string>();
  for (const n of g.topoOrder()) {
    const reads = n.inputs.some((i) => from.has(i));
    if (reads && n.op === "Slice" && !n.domain) return true;
    if (reads || cuts.includes(n.name)) n.outputs.forEach((o) => o && from.add(o));
  }
  return false;
}

/**
 * Whether `at` (prepared with its data-dependent dims at their bounds, `found`) has a Slice that may
 * cut one: its one sliced axis as long as some count's bound. Only then is the graph prepared with
 * the counts one less (countCuts), a preparation a detector's load pays otherwise for its Slices of
 * columns.
 */
export function mayCutCounts(at: Graph, found: ReadonlyMap<string, number>): boolean {
  const bounds = new Set(found.values());
  return at.nodeList().some((n) => {
    const x = n.op === "Slice" && !n.domain && n.inputs[0] ? at.values.get(n.inputs[0])?.shape : undefined;
    const k = x && countCutAxisOf(at, n, x.length);
    return k !== undefined && typeof x![k] === "number" && bounds.has(x![k] as number);
  });
}
