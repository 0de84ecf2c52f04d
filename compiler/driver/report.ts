// The compile report (`kiln compile --report R.json`): what each pass did and what the result costs.
import type { Manifest } from "../../runtime/manifest.js";
import type { PassStat } from "../../passes/index.js";
import type { Graph } from "../ir/graph.js";

export interface CompileReport {
  passes: { name: string; ms: number; nodesBefore: number; nodesAfter: number }[];
  nodes: { before: number; after: number };
  /** compute kernels the runtime executes */
  layers: number;
  memory: { arenaBytes: number; naiveBytes: number; lowerBoundBytes: number; weightBytes: number };
  code: { wasmBytes: number };
}

export function makeReport(nodesBefore: number, graph: Graph, passes: PassStat[], manifest: Manifest, wasm: Uint8Array): CompileReport {
  const plan = graph.memoryPlan;
  return {
    passes: passes.map((p) => ({ ...p, ms: Number(p.ms.toFixed(3)) })),
    nodes: { before: nodesBefore, after: graph.g.order },
    layers: manifest.layers.length,
    memory: {
      arenaBytes: plan?.arenaBytes ?? 0,
      naiveBytes: plan?.naiveBytes ?? 0,
      lowerBoundBytes: plan?.lowerBoundBytes ?? 0,
      weightBytes: manifest.memory.weightsBytes,
    },
    code: { wasmBytes: wasm.length },
  };
}

export function formatPassTable(passes: PassStat[]): string {
  const rows = passes.map((p) => [p.name, p.ms.toFixed(2), String(p.nodesBefore), String(p.nodesAfter)]);
  const head = ["pass", "ms", "nodes before", "nodes after"];
  const w = head.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k].length)));
  const fmt = (r: string[]) => r.map((c, k) => (k === 0 ? c.padEnd(w[k]) : c.padStart(w[k]))).join("  ");
  const total = passes.reduce((a, p) => a + p.ms, 0);
  return [fmt(head), ...rows.map(fmt), `total ${total.toFixed(2)} ms`].join("\n");
}
