// The pipeline: ONNX bytes -> IR -> bound shapes and folded constants -> wasm + manifest.
import { KilnError, listed } from "../../runtime/errors.js";
import { dtype, sizeOf } from "../../runtime/dtypes.js";
import { checkMemory, LIMIT_RULES, type Limits } from "../../runtime/limits.js";
import { checkOptions, rules, type OptionRules } from "../../runtime/options.js";
import type { Manifest } from "../../runtime/manifest.js";
import type { SimdChoice } from "../../runtime/simd.js";
import { generateArtifact } from "./variants.js";
import type { CompileProgress } from "./progress.js";
export type { CompileProgress } from "./progress.js";
import { evaluateNode } from "./evaluate.js";
import { checkQuantizeOptions, QUANTIZE_OPTION_RULES, quantizePlan, type QuantizationReport, type QuantizeOptions, type QuantizePlan } from "./quantize.js";
export type { QuantizationReport, QuantizeMode, InputSource } from "./quantize.js";
import type { Graph, Tensor } from "../ir/graph.js";
import { verifyGraph } from "../ir/verify.js";
import { importModel } from "../onnx/import.js";
import type { ExternalDataReader } from "../onnx/tensor.js";
import { inferShapes } from "../ops/infer.js";
import { lowerControlFlow, parseKernelSelection, pipelineFor, runPasses, type DumpHook, type OptLevel, type PassStat } from "../../passes/index.js";

/**
 * Shape inference evaluates constant nodes up to this many output elements, so shape
 * subgraphs resolve at every optimization level; larger constant work is fold-constants' job.
 */
export const SHAPE_FOLD_LIMIT = 4096;

export interface CompileOptions extends QuantizeOptions {
  /** input shapes binding dynamic dims, by input name */
  shapes?: Record<string, readonly number[]>;
  /** reads external tensor data relative to the model (set automatically for file paths in Node) */
  readExternal?: ExternalDataReader;
  /** run Binaryen's optimizer on the generated module */
  optimize?: boolean;
  /** optimization level: 0 runs no passes, 2 (default) runs them all */
  level?: OptLevel;
  /** IR dumps before/after passes */
  dump?: DumpHook;
  /**
   * Graph inputs compiled in as constants (e.g. axes or shape inputs that decide output shapes).
   * The module then only accepts those values for them.
   */
  freeze?: Record<string, Tensor>;
  /**
   * The SIMD build: "baseline" (SIMD128, the default here), "relaxed" (f32x4.relaxed_madd, only
   * engines with relaxed SIMD run it) or "auto" (the baseline module carrying the relaxed code,
   * see variants.ts; the default of compile() and `kiln compile`). load() resolves "auto" to one
   * build for the engine it runs on.
   */
  simd?: SimdChoice;
  /**
   * Kernel variants to force or forbid, e.g. "-winograd" or "+im2col-gemm,-depthwise-lanes"
   * (codegen/kernels/kernel.ts KernelSelection); default: the environment's KILN_KERNELS (Node).
   */
  kernels?: string;
  /** run the IR verifier after every pass (default: the environment's KILN_VERIFY_EACH=1, in Node) */
  verifyEach?: boolean;
  /** refuse, with a typed error before the long work, a model planning more linear memory than limits.maxMemoryBytes */
  limits?: Limits;
  /** told what the compile is doing as it goes: stages, passes, layers (kiln compile draws it on a terminal) */
  onProgress?: (progress: CompileProgress) => void;
}


/** What compile() accepts; load() adds its own (api.ts). Checked before any work (runtime/options.ts). */
export const COMPILE_OPTION_RULES: OptionRules = {
  shapes: rules.record(rules.dims),
  readExternal: rules.function,
  optimize: rules.boolean,
  level: rules.oneOf(0, 1, 2),
  dump: rules.object,
  freeze: rules.record(rules.tensor),
  simd: rules.oneOf("auto", "baseline", "relaxed"),
  kernels: rules.string,
  verifyEach: rules.boolean,
  limits: rules.shape(LIMIT_RULES),
  onProgress: rules.function,
  ...QUANTIZE_OPTION_RULES,
};

/** An environment variable, where there is an environment (Node; not a browser). */
const env = (name: string): string | undefined => (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];

/** The kernel selection of a compile: the option, else KILN_KERNELS. */
export function kernelSelectionOf(options: CompileOptions): string {
  return options.kernels ?? env("KILN_KERNELS") ?? "";
}

export interface CompiledModel {
  wasm: Uint8Array;
  manifest: Manifest;
  graph: Graph;
  passes: PassStat[];
  /** what options.quantize did: layers, weight bytes, accuracy against the float model */
  quantization?: QuantizationReport;
}

export function importOnnx(bytes: Uint8Array, options: CompileOptions = {}): Graph {
  const graph = importModel(bytes, { readExternal: options.readExternal });
  verifyGraph(graph);
  return graph;
}

export function freezeInputs(graph: Graph, freeze: Record<string, Tensor>): void {
  for (const [name, t] of Object.entries(freeze)) {
    if (!graph.inputs.includes(name)) {
      throw new KilnError("BAD_INPUT", `cannot freeze ${JSON.stringify(name)}: it is not a graph input (inputs: ${listed(graph.inputs)})`);
    }
    const v = graph.values.get(name)!;
    if (v.dtype && v.dtype !== t.dtype) throw new KilnError("BAD_INPUT", `cannot freeze ${JSON.stringify(name)} (${v.dtype}) to a ${t.dtype} tensor`);
    v.const = t;
    v.dtype = t.dtype;
    v.shape = [...t.dims];
    graph.inputs = graph.inputs.filter((i) => i !== name);
    graph.frozenInputs.push({ name, value: t });
  }
}

/** Bind shapes, infer types and fold what is known at compile time (mutates graph). */
export async function prepareGraph(graph: Graph, options: CompileOptions = {}): Promise<Graph> {
  if (options.freeze) freezeInputs(graph, options.freeze);
  options.onProgress?.({ stage: "shapes" });
  await inferShapes(graph, { shapes: options.shapes, evaluate: evaluateNode, foldLimit: SHAPE_FOLD_LIMIT });
  verifyGraph(graph, { typed: true });
  // Ifs left (their conditions known only at run time) become guarded branches: every level's
  // passes, and code generation, see only plain nodes
  lowerControlFlow(graph);
  checkLargestTensor(graph, options.limits);
  return graph;
}

/**
 * Planned memory holds at least the largest tensor a node reads or the graph returns: when that
 * alone is over limits.maxMemoryBytes, refuse now, before passes fold (allocate) anything.
 */
function checkLargestTensor(graph: Graph, limits: Limits | undefined): void {
  if (limits?.maxMemoryBytes === undefined) return;
  const used = new Set<string>([...graph.inputs, ...graph.outputs]);
  for (const n of graph.nodeList()) for (const i of n.inputs) if (i) used.add(i);
  let worst = 0, at = "";
  for (const name of used) {
    const v = graph.values.get(name);
    if (!v?.dtype || !v.shape?.every((d) => typeof d === "number")) continue;
    const bytes = sizeOf(v.shape as number[]) * dtype(v.dtype).bytes;
    if (bytes > worst) [worst, at] = [bytes, `at least: value ${JSON.stringify(name)}, ${v.dtype}[${v.shape.join(",")}]`];
  }
  checkMemory(worst, limits, at);
}

/** Run the optimization pipeline of options.level over a prepared graph (mutates it), after `quantize`'s passes when given. */
export async function optimizeGraph(graph: Graph, options: CompileOptions = {}, quantize?: QuantizePlan): Promise<PassStat[]> {
  const stats = await runPasses(graph, [...quantize?.passes ?? [], ...pipelineFor(options.level ?? 2)], { evaluate: evaluateNode }, {
    dump: options.dump,
    verifyEach: options.verifyEach ?? env("KILN_VERIFY_EACH") === "1",
    options: { ...quantize?.options, "select-kernels": { kernels: kernelSelectionOf(options) } },
    onPass: options.onProgress && ((name, done, total) => options.onProgress!({ stage: "passes", detail: name, done, total })),
  });
  verifyGraph(graph, { typed: true });
  return stats;
}

export async function compileGraph(graph: Graph, options: CompileOptions = {}): Promise<CompiledModel> {
  checkQuantizeOptions(options);
  const quantize = options.quantize ? quantizePlan(options) : undefined;
  await prepareGraph(graph, options);
  const passes = await optimizeGraph(graph, options, quantize);
  const { wasm, manifest } = generateArtifact(graph, { optimize: options.optimize, simd: options.simd, kernels: parseKernelSelection(kernelSelectionOf(options)), onProgress: options.onProgress });
  checkMemory(manifest.memory.bytes, options.limits);
  const quantization = await quantize?.report(wasm, manifest);
  options.onProgress?.({ stage: "done" });
  return { wasm, manifest, graph, passes, ...quantization ? { quantization } : {} };
}

/** Prepare, quantize when asked, and optimize a graph: what load() compiles in process. */
export async function prepareAndOptimize(graph: Graph, options: CompileOptions): Promise<PassStat[]> {
  const quantize = options.quantize ? quantizePlan(options) : undefined;
  await prepareGraph(graph, options);
  return optimizeGraph(graph, options, quantize);
}

export async function compileOnnx(bytes: Uint8Array, options: CompileOptions = {}): Promise<CompiledModel> {
  if (!(bytes instanceof Uint8Array)) throw new KilnError("INVALID_MODEL", "compile() takes the model as a Uint8Array (or a file path in Node)");
  checkOptions("compileOnnx() options", options, COMPILE_OPTION_RULES);
  return compileGraph(importOnnx(bytes, options), options);
}

export interface FeedLike {
  data: unknown;
  dims?: readonly number[];
}

/**
 * Compile for known feeds: when a node needs the value of a run-time graph input to know its
 * shapes (an axes, shape or pads input ...), freeze that input to its fed value and compile
 * again. `frozen` carries the names found so far between calls (the JIT keeps it per model).
 */
export async function compileSpecialized(bytes: Uint8Array, options: CompileOptions, feeds: Record<string, FeedLike>,
  frozen: Set<string> = new Set()): Promise<CompiledModel> {
  const probe = importOnnx(bytes, options);
  for (;;) {
    const freeze: Record<string, Tensor> = {};
    for (const n of frozen) {
      const f = feeds[n];
      const v = probe.values.get(n);
      if (!f || !v?.dtype) continue;
      const data = f.data as Tensor["data"];
      freeze[n] = { dtype: v.dtype, dims: [...(f.dims ?? [data.length])], data };
    }
    try {
      return await compileGraph(importOnnx(bytes, options), { ...options, freeze });
    } catch (e) {
      const wanted = e instanceof KilnError ? (e.context.needsValue ?? []).filter((n) => feeds[n] && !frozen.has(n)) : [];
      if (wanted.length === 0) throw e;
      for (const n of wanted) frozen.add(n);
    }
  }
}
