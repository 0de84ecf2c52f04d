// The compile report (`kiln compile --report R.json`): what each pass did, which kernel variant
// runs each layer, and what the result costs.
import type { Manifest } from "../../runtime/manifest.js";
import { readArtifact } from "./artifact-info.js";
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
  /** a threaded module (--threads N): whether the layer's work is split among the threads, or runs on thread 0 (docs/THREADS.md) */
  split?: boolean;
}

export interface CompileReport {
  passes: { name: string; ms: number; nodesBefore: number; nodesAfter: number; stats: PassStats }[];
  nodes: { before: number; after: number };
  /** the layers the runtime executes, in order */
  layers: LayerReport[];
  /** how many layers each kernel variant runs */
  kernels: Record<string, number>;
  /**
   * linearBytes: the module's linear memory (its peak: memory is fixed at instantiation), which
   * under a memory budget is arena + inputs/outputs + the budget's weight slots (+ kernels'
   * scratch); budgetBytes and streamBytes (the weights file) then say so
   */
  memory: { arenaBytes: number; naiveBytes: number; lowerBoundBytes: number; weightBytes: number; linearBytes: number; budgetBytes?: number; streamBytes?: number };
  /**
   * wasmBytes: the code alone (the baseline build, without the kiln sections); relaxedBytes: the
   * relaxed-SIMD build's code the artifact carries too; artifactBytes: the whole .wasm
   */
  code: { wasmBytes: number; relaxedBytes?: number; artifactBytes: number };
  /**
   * the weights: modelBytes the model's own constants; storedBytes what the artifact carries (its
   * kiln.weights image); placedBytes what the runtime writes into memory (stored, plus derivedBytes
   * the module computes from them in a compact artifact, codegen/derive.ts)
   */
  weights: { modelBytes: number; storedBytes: number; derivedBytes: number; placedBytes: number };
  /** with --quantize: layers quantized and kept float (why), weight bytes, accuracy against the float model */
  quantization?: QuantizationReport;
}

export function makeReport(nodesBefore: number, graph: Graph, passes: PassStat[], manifest: Manifest, wasm: Uint8Array, quantization?: QuantizationReport): CompileReport {
  const plan = graph.memoryPlan;
  const layers = manifest.layers.map((l) => ({
    name: l.name, op: l.op, kernel: l.kernel ?? "default", weightBytes: (l.weights ?? []).reduce((a, [, b]) => a + b, 0),
    ...(l.split !== undefined ? { split: l.split } : {}),
  }));
  const { sizes } = readArtifact(wasm);
  const stored = manifest.memory.regions.reduce((a, r) => a + r.bytes, 0);
  const derived = new Map(manifest.layers.flatMap((l) => (l.derived ?? []).map(([at, n]) => [at, n] as const)));
  const derivedBytes = [...derived.values()].reduce((a, n) => a + n, 0);
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
      linearBytes: manifest.memory.bytes,
      ...(manifest.memory.stream ? { budgetBytes: manifest.memory.stream.budget, streamBytes: manifest.memory.stream.bytes } : {}),
    },
    code: { wasmBytes: sizes.code, ...(sizes.relaxedCode ? { relaxedBytes: sizes.relaxedCode } : {}), artifactBytes: wasm.length },
    weights: { modelBytes: manifest.memory.weightsBytes, storedBytes: stored, derivedBytes, placedBytes: stored + derivedBytes },
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
