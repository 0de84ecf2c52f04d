// dce: remove nodes none of whose outputs reach a graph output, and values nothing refers to
// (a node owning a data-dependent dim stays: its kernel gives that dim's value).
import { capturesOf, type Graph } from "../compiler/ir/graph.js";
import type { Pass } from "./pass.js";

export function eliminateDeadCode(graph: Graph): number {
  const live = new Set(graph.outputs);
  let removed = 0;
  for (const n of graph.topoOrder().reverse()) {
    // a node that owns a data-dependent dim stays: a layer may read its count alone (Range up to it)
    if (n.outputs.some((o) => o && live.has(o)) || graph.dataDims?.has(n.name)) {
      for (const i of n.inputs) if (i) live.add(i);
      // what its subgraphs (If's branches) read from this scope is live too
      for (const c of capturesOf(n)) live.add(c);
    } else {
      graph.removeNode(n.name);
      removed++;
    }
  }
  graph.pruneValues();
  return removed;
}

export const dce: Pass = {
  name: "dce",
  description: "removes nodes whose results no graph output needs",
  run: (graph) => ({ removed: eliminateDeadCode(graph) }),
};
