// Symbolic dims (docs/ARCHITECTURE.md "Symbolic dims"): values computed from the dims alone that a
// runtime layer reads. A causal mask ([1, 1, seq, past+seq]: position i sees keys j <= past + i),
// built as Shape -> Gather -> Range -> Unsqueeze -> LessOrEqual from the inputs' dims, folds to a
// constant at any one set of shapes, and that constant differs from one probe to the next, so one
// module could not serve the bounds. Here the nodes that compute such a value from the dims are
// copied and the copies kept for run time (Graph.runtimeNodes): inference still knows their
// values at each probe (Value.known, for the shape rules after them: Range's length), but they
// run in the module, reading this run's dims (the Shape kernel). The originals stay, folded as
// before, for their other readers (a reshape's target shape must stay a constant).
import { capturesOf, freeNames, subgraphsOf, type Graph, type Node } from "../ir/graph.js";
import { cloneAttrs } from "../ir/graph.js";
import { hasTrait } from "../ops/index.js";

/** the suffix of the copies' node and value names */
const RUNTIME = "/runtime";

/**
 * Copy the nodes computing each of `values` from the graph inputs' dims (up to and including the
 * Shape nodes that read those dims) as nodes kept for run time, and point every reader of the
 * values at the copies. False when there is nothing to copy (a value that is an initializer, or
 * not computed from the inputs).
 */
export function unfoldDimValues(graph: Graph, values: readonly string[]): boolean {
  // every node, of the graph and of its subgraphs (an If's branches: optimum's merged decoder
  // computes its causal mask inside them), with the graph it is in
  const scopeOf = new Map<Node, Graph>();
  const producer = new Map<string, Node>();
  const visit = (g: Graph) => {
    for (const n of g.topoOrder()) {
      scopeOf.set(n, g);
      n.outputs.forEach((o) => o && producer.set(o, n));
      subgraphsOf(n).forEach(visit);
    }
  };
  visit(graph);
  const scopes = [...new Set(scopeOf.values())];
  // values that depend on a graph input (through its data or its dims), to a fixed point: an If's
  // branches read values of enclosing scopes (DeBERTa's relative positions), and its outputs are theirs
  const reads = (n: Node) => [...n.inputs, ...capturesOf(n)];
  const fromInputs = new Set<string>(graph.inputs);
  for (let grew = true; grew;) {
    grew = false;
    for (const n of scopeOf.keys()) {
      if (n.outputs.every((o) => !o || fromInputs.has(o)) || !reads(n).some((i) => fromInputs.has(i))) continue;
      n.outputs.forEach((o) => o && fromInputs.add(o));
      grew = true;
    }
  }
  // values that hold a graph input's data (not its dims alone: a Shape's output does not)
  const fromData = new Set<string>(graph.inputs);
  for (let grew = true; grew;) {
    grew = false;
    for (const n of scopeOf.keys()) {
      if (hasTrait(n, "dims-only") || n.outputs.every((o) => !o || fromData.has(o)) || !reads(n).some((i) => fromData.has(i))) continue;
      n.outputs.forEach((o) => o && fromData.add(o));
      grew = true;
    }
  }
  const cone = new Set<Node>();
  const walk = (value: string) => {
    const p = producer.get(value);
    if (!p || cone.has(p) || !fromInputs.has(value)) return;
    cone.add(p);
    // a Shape reads its input's dims only: the walk stops there (the input is computed as before),
    // unless that input holds no graph input's data: then it is computed from the dims alone
    // (Shape(ConstantOfShape(...))), and it runs in the module too
    if (hasTrait(p, "dims-only") && (!p.inputs[0] || fromData.has(p.inputs[0]))) return;
    reads(p).forEach((i) => i && walk(i));
  };
  const roots = values.filter((v) => producer.has(v) && fromInputs.has(v));
  roots.forEach(walk);
  if (cone.size === 0) return false;
  const rename = (v: string) => (v && cone.has(producer.get(v)!) ? v + RUNTIME : v);
  const copies = new Set<Node>();
  // the copies, each in its original's graph, in topological order (each reads copies made before it)
  for (const scope of scopes) {
    scope.runtimeNodes ??= new Set();
    for (const n of scope.topoOrder().filter((x) => cone.has(x))) {
      const copy = scope.addNode({ ...n, name: n.name + RUNTIME, inputs: n.inputs.map(rename), outputs: n.outputs.map(rename), attrs: cloneAttrs(n.attrs, scope) });
      // its subgraphs read the copies of what they capture (else, folded at each probe, a constant)
      for (const sub of subgraphsOf(copy)) for (const f of freeNames(sub)) if (rename(f) !== f) sub.replaceAllUses(f, rename(f));
      scope.runtimeNodes.add(copy.name);
      copies.add(copy);
    }
  }
  for (const v of roots) {
    for (const scope of scopes) {
      for (const reader of scope.consumers(v)) {
        if (copies.has(reader)) continue;
        reader.inputs.forEach((i, k) => i === v && scope.setInput(reader, k, v + RUNTIME));
      }
    }
  }
  // a graph output computed from the dims alone: its copy computes it in the module, under its
  // name (the original's output renamed, read by no one, goes below)
  for (const v of roots.filter((r) => graph.outputs.includes(r) && graph.producer(r))) {
    const p = graph.producer(v)!;
    graph.removeNode(p.name);
    const moved = graph.addNode({ ...p, outputs: p.outputs.map((o) => (o === v ? `${v}/folded` : o)) });
    if (cone.delete(p)) cone.add(moved);
    const id = graph.addNode({ name: graph.uniqueNodeName(`${v}/output`), op: "Identity", domain: "", inputs: [v + RUNTIME], outputs: [v], attrs: {} });
    graph.runtimeNodes!.add(id.name);
  }
  // the originals no one reads any more (the copies took their readers) go, from the mask upward:
  // left in, -O0 (no dead-code pass) would fold them at small probes and not at the bounds
  const unread = (o: string) => !o || (scopes.every((g) => g.consumerCount(o) === 0) && !graph.outputs.includes(o));
  for (const scope of scopes) {
    for (const n of scope.topoOrder().filter((x) => cone.has(x)).reverse()) if (n.outputs.every(unread)) scope.removeNode(n.name);
  }
  return true;
}
