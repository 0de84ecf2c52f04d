// The IR as Graphviz DOT: one box per node labelled with its op, output shapes and, for fused
// nodes, the ops fused into it; ellipses for graph inputs and outputs; constants are left out
// (they are listed in the node label's input count) to keep pictures readable.
import { capturesOf, type Graph } from "./graph.js";
import { printType } from "./print.js";

const esc = (s: string) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"');

export function printDot(graph: Graph, title = "kiln"): string {
  const lines = [
    `digraph "${esc(title)}" {`,
    "  rankdir=TB;",
    '  node [shape=box, style="rounded,filled", fillcolor="#f4f1ea", fontname="Helvetica", fontsize=10];',
    '  edge [fontname="Helvetica", fontsize=8, color="#666666"];',
  ];
  const id = new Map<string, string>();
  graph.inputs.forEach((i, k) => {
    id.set(i, `in${k}`);
    lines.push(`  in${k} [shape=ellipse, fillcolor="#dbe8f4", label="${esc(i)}\\n${esc(printType(graph.values.get(i)))}"];`);
  });
  const order = graph.topoOrder();
  order.forEach((n, k) => {
    const outs = n.outputs.filter((o) => o).map((o) => printType(graph.values.get(o)));
    const consts = n.inputs.filter((i) => i && graph.values.get(i)?.const && !graph.producer(i)).length;
    const fused = n.meta?.fused ? `\\n[${esc(n.meta.fused)}]` : "";
    const kernel = n.meta?.kernel ? `\\n<${esc(n.meta.kernel)}>` : "";
    // a subgraph shows as its size here; `kiln opt --print` has its nodes
    const bodies = Object.keys(n.attrs).sort().filter((a) => n.attrs[a].type === "graph")
      .map((a) => `\\n${esc(a)}: ${(n.attrs[a].value as Graph).g.order} nodes`).join("");
    const label = `${esc(n.domain ? `${n.domain}.${n.op}` : n.op)}${fused}${kernel}${bodies}\\n${esc(outs.join(", "))}${consts ? `\\n+${consts} const` : ""}`;
    const color = n.meta?.fused ? ', fillcolor="#f6d8b8"' : "";
    lines.push(`  n${k} [label="${label}", tooltip="${esc(n.name)}"${color}];`);
    n.outputs.forEach((o) => o && id.set(o, `n${k}`));
  });
  order.forEach((n, k) => {
    const seen = new Set<string>();
    for (const i of n.inputs) {
      const from = i ? id.get(i) : undefined;
      if (!from || seen.has(i)) continue;
      seen.add(i);
      lines.push(`  ${from} -> n${k};`);
    }
    // values a subgraph reads from this scope: dashed
    for (const c of capturesOf(n)) {
      const from = id.get(c);
      if (from && !seen.has(c)) lines.push(`  ${from} -> n${k} [style=dashed];`);
    }
  });
  graph.outputs.forEach((o, k) => {
    lines.push(`  out${k} [shape=ellipse, fillcolor="#dbf4e0", label="${esc(o)}\\n${esc(printType(graph.values.get(o)))}"];`);
    const from = id.get(o);
    if (from) lines.push(`  ${from} -> out${k};`);
  });
  lines.push("}");
  return lines.join("\n") + "\n";
}
