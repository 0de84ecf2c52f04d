// lower-control-flow: an If whose condition is known only at run time becomes its two branches,
// inlined and guarded (each node runs only when the condition says its branch is taken: code
// generation wraps its call in the test), and a Where per output that takes the taken branch's
// value. Ifs with a compile-time condition were replaced by their branch during inference. It runs
// as graph preparation ends (compiler/driver/compile.ts), before every level's passes, so they
// (folding, fusion, kernels, memory) see the branches' nodes as any others; see
// compiler/ir/subgraph.ts for why a guard a pass drops stays correct. `kiln opt` runs it by name.
import { type Graph, type Node } from "../compiler/ir/graph.js";
import { guardOf, inlineSubgraph, setGuard } from "../compiler/ir/subgraph.js";
import { hasTrait } from "../compiler/ops/index.js";
import type { Pass } from "./pass.js";

export function lowerControlFlow(graph: Graph): number {
  let lowered = 0;
  for (;;) {
    const n = graph.topoOrder().find((x) => hasTrait(x, "subgraphs"));
    if (!n) break;
    lowerIf(graph, n);
    lowered++;
  }
  graph.pruneValues();
  return lowered;
}

function lowerIf(graph: Graph, n: Node): void {
  const guard = guardOf(n);
  const cond = n.inputs[0];
  const branch = (name: string) => {
    const a = n.attrs[name];
    return a.type === "graph" ? a.value : undefined;
  };
  graph.removeNode(n.name);
  const thenOuts = inlineSubgraph(graph, branch("then_branch")!, `${n.name}/then/`, [...guard, [cond, true]]);
  const elseOuts = inlineSubgraph(graph, branch("else_branch")!, `${n.name}/else/`, [...guard, [cond, false]]);
  // Where broadcasts its condition: a [1] condition over a scalar output would give [1]
  let select = cond;
  const condValue = graph.values.get(cond)!;
  if ((condValue.shape ?? []).length) {
    select = graph.uniqueValueName(`${cond}/scalar`);
    const shape = graph.uniqueValueName(`${cond}/scalar_shape`);
    Object.assign(graph.value(shape), { dtype: "int64", shape: [0], const: { dtype: "int64", dims: [0], data: new BigInt64Array(0) } });
    Object.assign(graph.value(select), { dtype: "bool", shape: [] });
    add(graph, { name: `${n.name}/cond`, op: "Reshape", domain: "", inputs: [cond, shape], outputs: [select], attrs: {} }, guard);
  }
  n.outputs.forEach((out, k) => {
    if (!out) return;
    add(graph, { name: `${n.name}/select_${k}`, op: "Where", domain: "", inputs: [select, thenOuts[k], elseOuts[k]], outputs: [out], attrs: {} }, guard);
  });
}

function add(graph: Graph, node: Node, guard: ReturnType<typeof guardOf>): void {
  setGuard(node, guard);
  graph.addNode(node);
}


export const lowerControlFlowPass: Pass = {
  name: "lower-control-flow",
  description: "inlines both branches of each If whose condition is known only at run time, each node guarded by the condition, and selects the taken branch's outputs",
  run: (graph) => ({ lowered: lowerControlFlow(graph) }),
};
