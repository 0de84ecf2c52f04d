// The artifact of one graph for a SIMD choice. "baseline" and "relaxed" are one module each;
// "auto" is the baseline module (runs on every SIMD engine) carrying the relaxed build's code as
// the custom section kiln.code.relaxed, before the one weights section both builds share: the
// runtime compiles the relaxed code where the engine validates it. The code is small beside the
// weights (~0.1 MB per model), so carrying it costs little; weights are never duplicated. A model
// whose kernels emit the same code for both builds (no multiply-add loops) carries one build.
import { generate, type GeneratedModule } from "../../codegen/module.js";
import type { KernelPrep, KernelSelection } from "../../codegen/kernels/kernel.js";
import { KilnError } from "../../runtime/errors.js";
import { RELAXED_CODE_SECTION, WEIGHTS_SECTION, type Manifest } from "../../runtime/manifest.js";
import { appendCustomSection } from "../../runtime/sections.js";
import type { SimdChoice } from "../../runtime/simd.js";
import { splitWeights } from "../../runtime/weights.js";
import type { Graph } from "../ir/graph.js";
import type { StreamSink } from "../../codegen/stream.js";
import type { CompileProgress } from "./progress.js";

export interface ArtifactOptions {
  optimize?: boolean;
  /** weights streamed through a ring of slots this size (codegen/stream.ts): one SIMD build ("auto" is baseline) */
  memoryBudget?: number;
  /** under memoryBudget: each piece of the weights file as it is written (codegen/stream.ts StreamSink) */
  streamSink?: StreamSink;
  simd?: SimdChoice;
  kernels?: KernelSelection;
  /** ship the kernels' derived weight forms ready (CompileOptions.prepack); default: a compact artifact (codegen/derive.ts) */
  prepack?: boolean;
  /** GenerateOptions.threads: both builds threaded alike */
  threads?: number;
  onProgress?: (progress: CompileProgress) => void;
}

export function generateArtifact(graph: Graph, options: ArtifactOptions = {}): GeneratedModule {
  const simd = options.simd ?? "baseline";
  const { optimize, kernels, onProgress, threads } = options;
  const compact = !options.prepack;
  // layers of each build, for progress: prepare runs once (its results are shared), emit per build
  const onLayer = (build: string) => onProgress && ((phase: "prepare" | "emit", done: number, total: number) =>
    onProgress({ stage: phase === "prepare" ? "prepare" : "codegen", detail: build, done, total }));
  if (options.memoryBudget !== undefined) {
    // the slots' checksums are per piece, not per address (slots are shared): one build only
    const one = simd === "relaxed" ? "relaxed" : "baseline";
    return generate(graph, { optimize, simd: one, kernels, threads, onLayer: onLayer(one), memoryBudget: options.memoryBudget, streamSink: options.streamSink });
  }
  if (simd !== "auto") return generate(graph, { optimize, simd, kernels, compact, threads, onLayer: onLayer(simd) });
  // one prepare per layer for both builds: the weights are packed and transformed once; the
  // relaxed build runs over the base build's image, so its manifest carries the same checksums
  const preps = new Map<string, KernelPrep>();
  const checksums = new Map<number, number>();
  // the relaxed build derives exactly the constants the base build derives
  const derived = new Map<number, number | undefined>();
  const base = generate(graph, { optimize, preps, kernels, checksums, compact, derived, threads, onLayer: onLayer("baseline") });
  if (!base.relaxedDiffers) return base; // no kernel's code depends on the build: one build serves both
  const relaxed = generate(graph, { optimize, simd: "relaxed", weights: "external", preps, kernels, checksums, compact, derived, threads, onLayer: onLayer("relaxed") });
  assertSameLayout(base.manifest, relaxed.manifest);
  const { code, weights } = splitWeights(base.wasm);
  const both = appendCustomSection(code, RELAXED_CODE_SECTION, relaxed.wasm);
  return { wasm: weights ? appendCustomSection(both, WEIGHTS_SECTION, weights) : both, manifest: base.manifest, relaxedDiffers: true };
}

/** The two builds must agree on every address (the runtime runs either over the same weights image). */
function assertSameLayout(a: Manifest, b: Manifest): void {
  const layout = (m: Manifest) => JSON.stringify([m.inputs, m.outputs, m.frozen, m.layers, { ...m.memory, weights: undefined }]);
  if (layout(a) !== layout(b)) throw new KilnError("INTERNAL", "the relaxed-SIMD build of the model has another memory layout than the baseline build");
}
