// The compile report (`kiln compile --report R.json`): what each pass did, which kernel variant
// runs each layer, and what the result costs.
import type { Manifest } from "../../runtime/manifest.js";
import type { PassStat, PassStats } from "../../passes/index.js";
import type { Graph } from "../ir/graph.js";
import type { QuantizationReport } from "./quantize.js";

export interface LayerReport {
  name: string;
  op: string;
  /** the kernel variant (codegen/kernels/): winograd-f4x4, im2col-gemm, packed, default ... */
  kernel: string;
  /** bytes of the weights image the layer reads */
  weightBytes: number;
}

export interface CompileReport {
  passes: { name: string; ms: number; nodesBefore: number; nodesAfter: number; stats: PassStats }[];
  nodes: { before: number; after: number };
  /** the layers the runtime executes, in order */
  layers: LayerReport[];
  /** how many layers each kernel variant runs */
  kernels: Record<string, number>;
  memory: { arenaBytes: number; naiveBytes: number; lowerBoundBytes: number; weightBytes: number };
  code: { wasmBytes: number };
  /** with --quantize: layers quantized and kept float (why), weight bytes, accuracy against the float model */
  quantization?: QuantizationReport;
}

export function makeReport(nodesBefore: number, graph: Graph, passes: PassStat[], manifest: Manifest, wasm: Uint8Array, quantization?: QuantizationReport): CompileReport {
  const plan = graph.memoryPlan;
  const layers = manifest.layers.map((l) => ({
    name: l.name, op: l.op, kernel: l.kernel ?? "default", weightBytes: (l.weights ?? []).reduce((a, [, b]) => a + b, 0),
  }));
  const kernels: Record<string, number> = {};
  for (const l of layers) kernels[l.kernel] = (kernels[l.kernel] ?? 0) + 1;
  return {
    passes: passes.map((p) => ({ ...p, ms: Number(p.ms.toFixed(3)) })),
    nodes: { before: nodesBefore, after: graph.g.order },
    layers,
    kernels,
    memory: {
      arenaBytes: plan?.arenaBytes ?? 0,
      naiveBytes: plan?.naiveBytes ?? 0,
      lowerBoundBytes: plan?.lowerBoundBytes ?? 0,
      weightBytes: manifest.memory.weightsBytes,
    },
    code: { wasmBytes: wasm.length },
    ...quantization ? { quantization } : {},
  };
}

/** The --time-passes table: one row per pass run, with what it reported. */
export function formatPassTable(passes: PassStat[]): string {
  const statsText = (s: PassStats) => Object.entries(s).map(([k, v]) => `${k}=${v}`).join(" ");
  const rows = passes.map((p) => [p.name, p.ms.toFixed(2), String(p.nodesBefore), String(p.nodesAfter), statsText(p.stats)]);
  const head = ["pass", "ms", "nodes before", "nodes after", "stats"];
  const w = head.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k].length)));
  const fmt = (r: string[]) => r.map((c, k) => (k === 0 || k === 4 ? c.padEnd(w[k]) : c.padStart(w[k]))).join("  ").trimEnd();
  const total = passes.reduce((a, p) => a + p.ms, 0);
  return [fmt(head), ...rows.map(fmt), `total ${total.toFixed(2)} ms`].join("\n");
}
