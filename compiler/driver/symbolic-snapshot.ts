// What a symbolic build's probes leave and how they are compared (symbolic.ts prepareSymbolic):
// a snapshot of each probed graph (its nodes, each value's dims, a fingerprint of each constant a
// runtime layer reads), and the fit of each dim as a polynomial of the symbols.
import { evalDim, type DimExpr } from "../../runtime/dims.js";
import { sizeOf, storageBytes } from "../../runtime/dtypes.js";
import type { FoldStep, Graph, Node, Tensor } from "../ir/graph.js";
import { isLazyTensor, tensorBytes } from "../ir/raw.js";
import { equalBytes, hashBytes } from "../ir/hash.js";
import { splatBytes, splatValue } from "../ir/splat.js";
import { hasTrait, opDef } from "../ops/index.js";
import { shapeInputsOf } from "../ops/registry.js";

/**
 * What a probe leaves: the node list, each value's dims, a fingerprint of each constant a runtime
 * layer reads, and of the constants each If folded at compile time decided on (Graph.foldedIfs).
 */
export interface Snapshot {
  nodes: { name: string; op: string; key: string }[];
  shapes: Map<string, number[]>;
  consts: Map<string, { dims: number[]; sum: number; t: Tensor }>;
  /** each folded If: its condition's constants (dims and fingerprints, in order), the branch it took, and the condition's cone (Graph.foldedIfs) */
  folds: Map<string, { cone: string; taken: string; cond: string; tree: Map<string, FoldStep> }>;
  /**
   * small integer values a runtime layer reads that run in the module but are known at this
   * probe (computed from the dims: GPT-Neo's `bias[:, :, total-seq:total]` starts), by name
   */
  known: Map<string, number[]>;
}

/** the most elements of a known integer value the snapshot records (a Slice's starts, a shape) */
const KNOWN_ELEMENTS = 16;

/** the fingerprint of a model's initializer that no step of the pipeline replaced */
export const UNTOUCHED = -1;

export function fingerprint(t: Tensor, elements = sizeOf(t.dims)): number {
  const all = tensorBytes(t);
  const bytes = all.subarray(0, Math.min(all.byteLength, storageBytes(t.dtype, elements)));
  return hashBytes(bytes);
}

/**
 * The constants a graph holds before it is prepared, and their arrays: a constant still holding
 * one after the pipeline is the model's own initializer, untouched, the same at every probe (its
 * content is not hashed: MiniLM's 90 MB of weights four times over took seconds). A tensor still
 * raw bytes (compiler/ir/raw.ts) is known by itself: reading its `data` would build its array.
 */
export function initializerData(graph: Graph): Set<unknown> {
  const data = new Set<unknown>();
  for (const v of graph.values.values()) {
    if (!v.const) continue;
    data.add(v.const);
    if (!isLazyTensor(v.const)) data.add(v.const.data);
  }
  return data;
}

const isUntouched = (t: Tensor, untouched: ReadonlySet<unknown>) => untouched.has(t) || (!isLazyTensor(t) && untouched.has(t.data));

export function snapshot(graph: Graph, untouched: ReadonlySet<unknown>): Snapshot {
  // a constant read at compile time only (a reshape's target shape) is known by its place, not its
  // name: CSE merges it with another equal constant at some values only (DeBERTa's [1, seq, 64]
  // attention shape with the hidden size 64, at seq = 64); its content is in the dims
  const compileTimeOnly = (n: Node, k: number) => k > 0 && (hasTrait(n, "reshape") || shapeInputsOf(opDef(n.domain, n.op), n).includes(k));
  const nodes = graph.topoOrder().map((n) => ({
    name: n.name, op: n.op,
    key: JSON.stringify([n.domain, n.op, n.inputs.map((i, k) => (i && compileTimeOnly(n, k) && graph.values.get(i)?.const ? "#shape" : i)), n.outputs]),
  }));
  const shapes = new Map<string, number[]>();
  const consts = new Map<string, { dims: number[]; sum: number; t: Tensor }>();
  const known = new Map<string, number[]>();
  const shapeOf = (v: string) => {
    const val = v ? graph.values.get(v) : undefined;
    if (val?.shape && val.shape.every((d) => typeof d === "number")) shapes.set(v, val.shape as number[]);
  };
  // the graph's inputs too: an input no node reads (a mask the model ignores) is still fed at this
  // run's dims; then each value in the order of the nodes (a dim found wrong is named where it is
  // made, not at the output it reaches), the outputs after them
  for (const v of graph.inputs) shapeOf(v);
  for (const n of graph.topoOrder()) {
    // not a constant read at compile time only: no layer reads it, and CSE merges it with an equal
    // one at some values only (SAM's decoder: its query and image tokens' head shapes, [b, npts + 6,
    // 2, 8] and [b, 16, 2, 8], one constant where npts is 10), so a probe may lack it
    for (const v of n.outputs) shapeOf(v);
    n.inputs.forEach((v, k) => { if (!(compileTimeOnly(n, k) && graph.values.get(v)?.const)) shapeOf(v); });
    // a reshape's target shape, Expand's shape, are read at compile time only (no layer reads them)
    n.inputs.forEach((i, k) => {
      const c = i ? graph.values.get(i)?.const : undefined;
      if (c && !compileTimeOnly(n, k)) consts.set(i, { dims: [...c.dims], sum: isUntouched(c, untouched) ? UNTOUCHED : fingerprint(c), t: c });
      const kv = i && !c ? graph.values.get(i)?.known : undefined;
      if (kv && !isLazyTensor(kv) && kv.dims.length <= 1 && sizeOf(kv.dims) <= KNOWN_ELEMENTS && /^u?int(8|16|32|64)$/.test(kv.dtype)) known.set(i, Array.from(kv.data as ArrayLike<number | bigint>, Number));
    });
  }
  for (const o of graph.outputs) {
    const val = graph.values.get(o);
    if (val?.shape) shapes.set(o, val.shape as number[]);
    // an output folded to a constant is what every run returns: it must not differ either
    const c = val?.const;
    if (c) consts.set(o, { dims: [...c.dims], sum: isUntouched(c, untouched) ? UNTOUCHED : fingerprint(c), t: c });
  }
  // each folded If: the dims and content of what its condition was computed from, in order
  const folds = new Map([...graph.foldedIfs ?? []].map(([name, { cone, taken, cond, tree }]) =>
    [name, { cone: cone.map((t) => `${t.dtype}[${t.dims.join(",")}]:${isUntouched(t, untouched) ? UNTOUCHED : fingerprint(t)}`).join(" "), taken, cond, tree }]));
  return { nodes, shapes, consts, folds, known };
}

/** whether two probes' constants differ beyond a prefix that grows with the dims (the check below): the prefix form only */
export function differs(a: { dims: number[]; sum: number; t: Tensor }, b: { dims: number[]; sum: number; t: Tensor }): boolean {
  if (a.sum === UNTOUCHED && b.sum === UNTOUCHED) return false;
  // the snapshots' fingerprints where they have them (a model's weights repacked: megabytes)
  const sum = (q: { sum: number; t: Tensor }) => (q.sum === UNTOUCHED ? fingerprint(q.t) : q.sum);
  if (a.dims.join() === b.dims.join()) return sum(a) !== sum(b);
  // one value everywhere in both (an index of 0 expanded over [batch, 1, points, 1]): that value
  // wherever a run reads it, in any layout
  const ua = uniformElement(a.t), ub = ua && uniformElement(b.t);
  if (ua && ub && a.t.dtype === b.t.dtype) return !equalBytes(ua, ub);
  // only in the prefix form (one dim differs, dims of 1 before it) is a run's constant the first
  // elements of the compiled one's slot; [batch, seq] at the bounds' strides holds another layout
  const at = a.dims.findIndex((d, k) => d !== b.dims[k]);
  if (a.dims.length !== b.dims.length || a.dims.some((d, k) => k > at && d !== b.dims[k]) || a.dims.slice(0, at).some((d) => d !== 1)) return true;
  const [small, big] = sizeOf(a.dims) <= sizeOf(b.dims) ? [a, b] : [b, a];
  return sum(small) !== fingerprint(big.t, sizeOf(small.dims));
}

/** The bytes of the one element every element of t equals (a splat, or an array found so), else undefined. */
function uniformElement(t: Tensor): Uint8Array | undefined {
  const one = splatValue(t);
  if (one) return splatBytes(one);
  const n = sizeOf(t.dims), bytes = tensorBytes(t), b = bytes.length / Math.max(n, 1);
  if (n === 0 || !Number.isInteger(b)) return undefined;
  for (let i = b; i < bytes.length; i++) if (bytes[i] !== bytes[i - b]) return undefined;
  return bytes.subarray(0, b);
}

/**
 * The multilinear polynomial (integer coefficients) through values at a 2^k grid (point `mask`
 * takes probes[i][bit i of mask]), as a number or terms; undefined when a coefficient is not an integer.
 */
export function fit(values: readonly number[], probes: readonly number[][]): DimExpr | undefined {
  const c = [...values];
  probes.forEach(([a, b], i) => {
    const bit = 1 << i;
    for (let mask = 0; mask < c.length; mask++) {
      if (mask & bit) continue;
      const lo = c[mask], hi = c[mask | bit];
      const slope = (hi - lo) / (b - a);
      c[mask] = lo - slope * a;
      c[mask | bit] = slope;
    }
  });
  if (c.some((x) => Math.abs(x - Math.round(x)) > 1e-6)) return undefined;
  const terms = c.map((x, mask) => [Math.round(x), ...probes.flatMap((_, i) => ((mask >> i) & 1 ? [i] : []))]).filter(([x]) => x !== 0);
  if (terms.every((t) => t.length === 1)) return terms.reduce((a, t) => a + t[0], 0);
  return terms;
}

/**
 * Each element of a small integer value seen at the grid's probes and then at the check (`seen`,
 * in that order) as a polynomial of the symbols, or undefined when one has none (or the lengths differ).
 */
export function fitElements(seen: readonly (readonly number[] | undefined)[], probes: readonly number[][], check: readonly number[]): DimExpr[] | undefined {
  const grid = seen.length - 1;
  if (seen.some((v) => !v || v.length !== seen[0]!.length)) return undefined;
  const e = seen[0]!.map((_, j) => fit(seen.slice(0, grid).map((v) => v![j]), probes));
  return e.every((x, j) => x !== undefined && evalDim(x, check) === seen[grid]![j]) ? (e as DimExpr[]) : undefined;
}
