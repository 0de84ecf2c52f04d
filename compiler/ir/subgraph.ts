// Subgraphs brought into their enclosing graph: a branch of If inlined (its values renamed where
// the enclosing scope has the name already), and the guards that say when an inlined node runs.
import { capturesOf, freeNames, Graph, subgraphsOf, type Node } from "./graph.js";

/**
 * When a node runs: every [value, polarity] holds (the bool value, one element, equals polarity).
 * A node inlined from a branch of an If whose condition is known only at run time gets one; code
 * generation calls the node's function only when its guard holds.
 *
 * A guard only ever saves work: running a guarded node when its guard does not hold writes values
 * that no node of the other branch reads (branches define their own values, and the merge selects
 * the taken branch's), so a pass that drops a guard (a new fused node, a merged twin) stays
 * correct. A pass must never give a node a guard it did not have, nor a stronger one.
 */
export type Guard = [value: string, polarity: boolean][];

export function guardOf(n: Node): Guard {
  const text = n.meta?.guard;
  return text ? (JSON.parse(text) as Guard) : [];
}

export function setGuard(n: Node, guard: Guard): void {
  const meta = { ...(n.meta ?? {}) };
  if (guard.length) meta.guard = JSON.stringify(guard);
  else delete meta.guard;
  n.meta = Object.keys(meta).length ? meta : undefined;
  if (!n.meta) delete n.meta;
}

/** The guard several nodes may share when they become one: theirs if they all have the same, else none. */
export function commonGuard(nodes: readonly Node[]): Guard {
  const texts = new Set(nodes.map((n) => n.meta?.guard ?? ""));
  return texts.size === 1 ? guardOf(nodes[0]) : [];
}

/** True when `name` is defined in `g` or a scope enclosing it. */
function definedInScope(g: Graph | undefined, name: string): boolean {
  for (; g; g = g.outer) if (g.hasValue(name)) return true;
  return false;
}

/**
 * Move `body`'s nodes and constants into `parent` (whose node held it), each node given `guard`
 * on top of its own. Values the body defines keep their names unless `parent`'s scope has them
 * already (the other branch of the same If, another If's branch): those get `prefix` + name,
 * made unique. Returns the parent's names of the body's outputs. The body is consumed.
 */
export function inlineSubgraph(parent: Graph, body: Graph, prefix: string, guard: Guard = [], bind: ReadonlyMap<string, string> = new Map()): string[] {
  // `bind`: body inputs that stand for parent values (a loop body's carried state, its iteration number)
  const rename = new Map<string, string>(bind);
  const fresh = (name: string): string => {
    if (!definedInScope(parent, name) && !rename.has(name)) return name;
    let k = 0, out = `${prefix}${name}`;
    while (definedInScope(parent, out)) out = `${prefix}${name}_${++k}`;
    return out;
  };
  const nodes = body.topoOrder();
  const defined: string[] = [...body.inputs];
  for (const n of nodes) for (const o of n.outputs) if (o) defined.push(o);
  for (const v of body.values.values()) if (v.const && !body.producer(v.name)) defined.push(v.name);
  // sequences and empty optionals the body resolved (no node makes them)
  for (const v of body.values.values()) if ((v.items || v.none) && !body.producer(v.name) && !body.inputs.includes(v.name)) defined.push(v.name);
  for (const name of defined) {
    if (bind.has(name)) continue;
    const to = fresh(name);
    rename.set(name, to);
    const v = body.values.get(name)!;
    const pv = parent.value(to);
    pv.dtype = v.dtype;
    pv.shape = v.shape ? [...v.shape] : undefined;
    if (v.const) pv.const = v.const;
    if (v.known) pv.known = v.known;
    if (v.unsupportedType) pv.unsupportedType = v.unsupportedType;
  }
  const mapped = (x: string) => (x ? rename.get(x) ?? x : x);
  // a sequence's elements, renamed with the rest (infer-sequence.ts)
  for (const name of defined) {
    const v = body.values.get(name)!;
    if (bind.has(name) || !(v.items || v.none)) continue;
    const pv = parent.value(rename.get(name)!);
    if (v.items) pv.items = v.items.map(mapped);
    if (v.none) pv.none = true;
  }
  for (const n of nodes) {
    for (const sub of subgraphsOf(n)) {
      // nested subgraphs now capture from the parent, under the new names
      const free = freeNames(sub);
      for (const [from, to] of rename) if (from !== to && free.has(from)) sub.replaceAllUses(from, to);
      sub.outer = parent;
    }
    const copy: Node = { ...n, inputs: n.inputs.map(mapped), outputs: n.outputs.map(mapped) };
    setGuard(copy, [...guard, ...guardOf(n)]);
    const added = parent.addNode(copy);
    // a node kept for run time (symbolic dims: compiler/driver/symbolic-unfold.ts) stays one
    if (body.runtimeNodes?.has(n.name)) (parent.runtimeNodes ??= new Set()).add(added.name);
  }
  return body.outputs.map(mapped);
}

/** The outermost graph's run-time inputs a value is computed from (through enclosing scopes). */
export function inputsBehind(graph: Graph, value: string): string[] {
  const found = new Set<string>();
  const seen = new Set<string>();
  const visit = (g: Graph, name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    let scope: Graph | undefined = g;
    while (scope && !scope.producer(name) && !scope.inputs.includes(name)) scope = scope.outer;
    if (!scope) return;
    if (scope.inputs.includes(name)) {
      if (!scope.outer && !scope.values.get(name)?.const) found.add(name);
      return;
    }
    const p = scope.producer(name)!;
    for (const i of [...p.inputs, ...capturesOf(p)]) if (i) visit(scope, i);
  };
  visit(graph, value);
  return [...found];
}

