// Epilogue fusion: a Conv/ConvTranspose/Gemm/MatMul followed by a chain of bias adds, activations
// and residual adds becomes one fused node (kind "epilogue") whose kernel applies the chain to each
// value before storing it, so the intermediates are never written. The rules of what may join are
// shared with the kernel (codegen/kernels/fused/epilogue-rules.ts). A chain only grows through
// values read by exactly the next node and that are not graph outputs, so nothing outside the
// group ever needs an intermediate.
import type { Graph, Node } from "../compiler/ir/graph.js";
import type { Pass } from "./pass.js";
import { fuseNodes } from "./rewrite.js";
import { anchorFits, biasFoldable, channelAxis, classifyStep, worthFusing, type Lookup } from "../codegen/capabilities.js";

function lookup(graph: Graph): Lookup {
  return (name) => {
    const v = graph.values.get(name);
    return v?.dtype && v.shape ? { dims: v.shape as number[], dtype: v.dtype, isConst: !!v.const } : undefined;
  };
}

interface Group {
  nodes: Node[];
  /** operands the chain reads besides the anchor's inputs, in order */
  extras: string[];
}

/** The longest chain of epilogue steps after `anchor`, or undefined when none joins. */
function chainFrom(graph: Graph, anchor: Node): Group | undefined {
  const look = lookup(graph);
  if (anchor.outputs.length !== 1 || !anchorFits(anchor.op, anchor.domain, anchor.inputs, look)) return undefined;
  const first = look(anchor.outputs[0]);
  if (!first || first.dtype !== "float32" || first.isConst) return undefined;
  const out = first.dims;
  const axis = channelAxis(anchor, out.length);
  let biasOpen = biasFoldable(anchor, look);
  let cur = anchor.outputs[0];
  const nodes = [anchor], extras: string[] = [];
  for (;;) {
    if (graph.outputs.includes(cur)) break;
    const users = graph.consumers(cur);
    if (users.length !== 1 || users[0].outputs.length !== 1) break;
    const next = users[0];
    const res = look(next.outputs[0]);
    if (!res || res.dtype !== "float32" || res.dims.join() !== out.join()) break;
    const step = classifyStep(next, cur, look, out, axis, biasOpen);
    if (!step || (step.kind === "activation" && !worthFusing(anchor, next.op))) break;
    if (step.kind === "activation") extras.push(...next.inputs.slice(1).filter((i) => i));
    else extras.push(step.operand);
    if (step.kind !== "bias") biasOpen = false;
    nodes.push(next);
    cur = next.outputs[0];
  }
  return nodes.length > 1 ? { nodes, extras } : undefined;
}

function replaceWithFused(graph: Graph, { nodes, extras }: Group): void {
  const [anchor] = nodes;
  const inputs = [...new Set([...anchor.inputs, ...extras].filter((i) => i))];
  fuseNodes(graph, nodes, "epilogue", { inputs, name: anchor.name });
}

/** Fuses every epilogue chain; returns how many fused nodes it made, and of how many nodes. */
export function fuseEpilogues(graph: Graph): { groups: number; nodes: number } {
  let made = 0, nodes = 0;
  for (const anchor of graph.topoOrder()) {
    if (!graph.g.hasNode(anchor.name) || graph.node(anchor.name) !== anchor) continue;
    const group = chainFrom(graph, anchor);
    if (!group) continue;
    replaceWithFused(graph, group);
    made++;
    nodes += group.nodes.length;
  }
  graph.pruneValues();
  return { groups: made, nodes };
}

export const fuseEpiloguePass: Pass = {
  name: "fuse-epilogue",
  description: "folds bias, activation and residual Add/Sum into the epilogue of Conv/ConvTranspose/Gemm/MatMul (what the anchors' kernels apply as they store)",
  run: (graph) => fuseEpilogues(graph),
};
