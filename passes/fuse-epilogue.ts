// Epilogue fusion: a Conv/ConvTranspose/Gemm/MatMul followed by a chain of bias adds, activations
// and residual adds becomes one fused node (kind "epilogue") whose kernel applies the chain to each
// value before storing it, so the intermediates are never written. The rules of what may join are
// shared with the kernel (codegen/kernels/fused/epilogue-rules.ts). A chain only grows through
// values read by exactly the next node and that are not graph outputs, so nothing outside the
// group ever needs an intermediate.
import { FUSED_DOMAIN, type Graph, type Node } from "../compiler/ir/graph.js";
import { anchorFits, biasFoldable, channelAxis, classifyStep, worthFusing, type Lookup } from "../codegen/kernels/fused/epilogue-rules.js";

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
  const axis = channelAxis(anchor.op, out.length);
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
    if (!step || (step.kind === "activation" && !worthFusing(anchor.op, next.op))) break;
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
  const last = nodes[nodes.length - 1];
  const inputs = [...new Set([...anchor.inputs, ...extras].filter((i) => i))];
  for (const n of nodes) graph.removeNode(n.name);
  graph.addNode({
    name: anchor.name,
    op: nodes.map((n) => n.op).join("_"),
    domain: FUSED_DOMAIN,
    inputs,
    outputs: [last.outputs[0]],
    attrs: {},
    meta: { kind: "epilogue", fused: nodes.map((n) => n.op).join("+") },
    body: nodes,
  });
  graph.opsets.set(FUSED_DOMAIN, 1);
}

/** Fuses every epilogue chain; returns how many fused nodes it made. */
export function fuseEpilogues(graph: Graph): number {
  let made = 0;
  for (const anchor of graph.topoOrder()) {
    if (!graph.g.hasNode(anchor.name) || graph.node(anchor.name) !== anchor) continue;
    const group = chainFrom(graph, anchor);
    if (!group) continue;
    replaceWithFused(graph, group);
    made++;
  }
  return made;
}
