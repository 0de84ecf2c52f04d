// Small graph-rewrite helpers shared by passes.
import { commonGuard, setGuard } from "../compiler/ir/subgraph.js";
import { externalRef, tensorBytes } from "../compiler/ir/raw.js";
import { equalBytes } from "../compiler/ir/hash.js";
import { FUSED_DOMAIN, type FusedKind, type Graph, type Node, type Tensor } from "../compiler/ir/graph.js";
import { isLazySplat, splatBytes, splatValue } from "../compiler/ir/splat.js";

/**
 * Make uses of `out` read `replacement` instead, then drop `node` if nothing else it produces
 * is used. Graph output names are part of the model's interface and never change: when `out` is
 * a graph output, the producer of `replacement` is renamed to produce `out` when that is safe;
 * otherwise nothing happens. Returns whether the rewrite was made.
 */
export function forward(graph: Graph, node: Node, out: string, replacement: string): boolean {
  if (out === replacement) return false;
  if (graph.outputs.includes(out)) {
    const p = graph.producer(replacement);
    if (!p || graph.outputs.includes(replacement) || graph.inputs.includes(replacement)) return false;
    // rename: the producer now writes `out`; every other reader of `replacement` reads `out`
    const v = graph.values.get(replacement)!;
    const target = graph.values.get(out)!;
    target.dtype = v.dtype;
    target.shape = v.shape;
    graph.removeNode(node.name);
    graph.replaceAllUses(replacement, out);
    const renamed = { ...p, outputs: p.outputs.map((o) => (o === replacement ? out : o)) };
    graph.removeNode(p.name);
    graph.addNode(renamed);
    graph.pruneValues();
    return true;
  }
  graph.replaceAllUses(out, replacement);
  if (node.outputs.every((o) => !o || graph.consumers(o).length === 0 && !graph.outputs.includes(o))) graph.removeNode(node.name);
  return true;
}

/** A new constant value with a fresh name. */
export function addConstant(graph: Graph, base: string, t: Tensor): string {
  let name = base;
  for (let i = 1; graph.hasValue(name); i++) name = `${base}_${i}`;
  const v = graph.value(name);
  v.const = t;
  v.dtype = t.dtype;
  v.shape = [...t.dims];
  return name;
}

export function int64Tensor(values: readonly number[]): Tensor {
  return { dtype: "int64", dims: [values.length], data: BigInt64Array.from(values.map(BigInt)) };
}

export function sameBytes(a: Tensor, b: Tensor): boolean {
  if (a.dtype !== b.dtype || a.dims.join() !== b.dims.join()) return false;
  // two splats: compare their one element (as bytes, like the full compare would)
  const sa = isLazySplat(a) || isLazySplat(b) ? splatValue(a) : undefined;
  const sb = sa && splatValue(b);
  if (sa && sb) return splatBytes(sa).every((x, k) => x === splatBytes(sb)[k]);
  // tensors left in external data files: the same place in the same file, or not compared (gigabytes)
  const ra = externalRef(a), rb = externalRef(b);
  if (ra !== undefined || rb !== undefined) return ra === rb;
  return equalBytes(tensorBytes(a), tensorBytes(b));
}

export function shapeOf(graph: Graph, value: string): number[] {
  return graph.values.get(value)!.shape as number[];
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, k) => d === b[k]);
}

/**
 * Replace `nodes` (in execution order, the last one producing the result) by one fused node of
 * `kind` that keeps them as its body. Its inputs are `inputs`, or every value the body reads and
 * does not make; its name is `name` (default: the last node's).
 */
export function fuseNodes(g: Graph, nodes: Node[], kind: FusedKind, opts: { inputs?: string[]; name?: string } = {}): Node {
  const last = nodes[nodes.length - 1];
  const produced = new Set(nodes.flatMap((n) => n.outputs));
  const inputs = opts.inputs ?? [...new Set(nodes.flatMap((n) => n.inputs).filter((i) => i && !produced.has(i)))];
  for (const n of nodes) g.removeNode(n.name);
  g.opsets.set(FUSED_DOMAIN, 1);
  // nodes of one If branch stay guarded together; a group that mixes branches runs always (still right)
  const guard = commonGuard(nodes);
  const fused: Node = {
    name: opts.name ?? last.name,
    op: nodes.map((n) => n.op).join("_"),
    domain: FUSED_DOMAIN,
    inputs,
    outputs: [...last.outputs],
    attrs: {},
    meta: { kind, fused: nodes.map((n) => n.op).join("+") },
    body: nodes,
  };
  setGuard(fused, guard);
  return g.addNode(fused);
}
