// The pipeline: ONNX bytes -> IR -> bound shapes and folded constants -> wasm + manifest.
import { KilnError, listed } from "../../runtime/errors.js";
import { dtype, sizeOf } from "../../runtime/dtypes.js";
import { checkMemory, LIMIT_RULES, type Limits } from "../../runtime/limits.js";
import { checkOptions, rules, type OptionRule, type OptionRules } from "../../runtime/options.js";
import type { Manifest } from "../../runtime/manifest.js";
import type { SimdChoice } from "../../runtime/simd.js";
import { generateArtifact } from "./variants.js";
import { splitSidecar, streamSidecar } from "./sidecar.js";
import type { StreamImage } from "../../codegen/stream.js";
import type { CompileProgress } from "./progress.js";
export type { CompileProgress } from "./progress.js";
import { evaluateNode } from "./evaluate.js";
import { checkQuantizeOptions, QUANTIZE_OPTION_RULES, quantizePlan, type QuantizationReport, type QuantizeOptions, type QuantizePlan } from "./quantize.js";
export type { QuantizationReport, QuantizeMode, InputSource } from "./quantize.js";
import type { Graph, Tensor } from "../ir/graph.js";
import { verifyGraph } from "../ir/verify.js";
import { importModel, reimport } from "../onnx/import.js";
import { parseDimSum, prepareSymbolic, resolveDimOptions, withDataDims, type ProbeStep, type ShapesOption } from "./symbolic.js";
import type { DataDims } from "../ops/registry.js";
import { countCuts, mayCutCounts, slicesAfter } from "./count-cuts.js";
import type { ExternalDataReader } from "../onnx/tensor.js";
import { inferShapes } from "../ops/infer.js";
import { hasTrait } from "../ops/index.js";
import type { InputLayout } from "../ops/infer-sequence.js";
import { lowerControlFlow, widenFloat16, parseKernelSelection, pipelineFor, runPasses, type DumpHook, type OptLevel, type PassStat } from "../../passes/index.js";

/**
 * Shape inference evaluates constant nodes up to this many output elements, so shape
 * subgraphs resolve at every optimization level; larger constant work is fold-constants' job.
 */
export const SHAPE_FOLD_LIMIT = 4096;

export interface CompileOptions extends QuantizeOptions {
  /**
   * input shapes binding dynamic dims, by input name; or a dim the model names (a dim_param such
   * as "seq") pinned to a number, or given bounds [min, max] ([min, max, step]: multiples of step only): one module then runs every value
   * within them (symbolic.ts, docs/ARCHITECTURE.md "Symbolic dims")
   */
  shapes?: ShapesOption;
  /**
   * What the inputs of sequence or optional type hold, by input name: a sequence's elements' dims
   * ([[2, 3], [2, 3]]: two elements), or null for an optional holding nothing. The module is
   * compiled for that layout (an optional tensor that holds one needs none: it is a plain input).
   */
  layouts?: Record<string, InputLayout>;
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
  /**
   * the artifact's weights image carries the kernels' packed and transformed forms ready (today's
   * form: the fastest load, up to 4x a 3x3 filter bank larger) instead of each weight once, as the
   * model gives it, with the forms derived by the module as its weights are placed (the default)
   */
  prepack?: boolean;
  /**
   * the most threads the module runs on (docs/THREADS.md): 2 or more compiles a threaded module
   * (shared memory, big layers split among the threads), which createSession runs with
   * { threads: N }; 1 (default) the one-thread module
   */
  threads?: number;
  /** run the IR verifier after every pass (default: the environment's KILN_VERIFY_EACH=1, in Node) */
  verifyEach?: boolean;
  /** refuse, with a typed error before the long work, a model planning more linear memory than limits.maxMemoryBytes */
  limits?: Limits;
  /** told what the compile is doing as it goes: stages, passes, layers (kiln compile draws it on a terminal) */
  onProgress?: (progress: CompileProgress) => void;
  /**
   * Sidecar weights: the weights image goes to a file of this name beside the .wasm (the result's
   * `weights`, which the caller writes; kiln compile --weights m.bin), the .wasm keeps code and
   * manifest. createSession(wasm, { weights: await fileSource("m.bin") }) runs it (runtime/sources.ts).
   */
  weightsFile?: string;
  /**
   * Bytes of linear memory the weights may take (codegen/stream.ts): each layer's weights are
   * read into a ring of slots that size before the layer runs, on every run. The weights then go
   * to a sidecar file (weightsFile, default "weights.bin"): the stream image, in order of use.
   */
  memoryBudget?: number;
  /**
   * under memoryBudget: told each piece of the weights file (position, bytes) as the compile writes
   * it for its checksum, so a caller writes the file in that one pass (kiln compile does)
   */
  onWeights?: (position: number, bytes: Uint8Array) => void;
}


/** a sequence input's elements' dims, or null: an optional input holding nothing (not in runtime/options.ts: the runtime bundle never checks it) */
const LAYOUT_RULE: OptionRule = {
  takes: "an array of dims (one per sequence element) or null (an absent optional)",
  ok: (v: unknown) => v === null || (Array.isArray(v) && v.every((e) => Array.isArray(e) && e.every((d) => Number.isSafeInteger(d) && d >= 0))),
};

/** What compile() accepts; load() adds its own (api.ts). Checked before any work (runtime/options.ts). */
export const COMPILE_OPTION_RULES: OptionRules = {
  shapes: rules.record({ takes: "an array of non-negative integers (an input's dims, or a dim's bounds [min, max] or [min, max, step]), a non-negative integer (a dim pinned) or a sum of dims (\"past+seq\")", ok: (v, path) => rules.dims.ok(v, path) || (Number.isSafeInteger(v) && (v as number) >= 0) || (typeof v === "string" && parseDimSum(v) !== undefined) }),
  layouts: rules.record(LAYOUT_RULE),
  readExternal: rules.function,
  optimize: rules.boolean,
  level: rules.oneOf(0, 1, 2),
  dump: rules.object,
  freeze: rules.record(rules.tensor),
  simd: rules.oneOf("auto", "baseline", "relaxed"),
  kernels: rules.string,
  prepack: rules.boolean,
  verifyEach: rules.boolean,
  threads: rules.int(1, 256),
  limits: rules.shape(LIMIT_RULES),
  onProgress: rules.function,
  weightsFile: rules.nonEmptyString,
  memoryBudget: rules.int(1),
  onWeights: rules.function,
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
  /** the weights image, when options.weightsFile moved it out of the .wasm */
  weights?: Uint8Array;
  /** under options.memoryBudget: the weights file's image, piece by piece (sidecar.ts streamBytes, writeStreamFile) */
  stream?: StreamImage;
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
export async function prepareGraph(graph: Graph, options: CompileOptions = {}, dataDims?: DataDims): Promise<Graph> {
  const shapes = resolveDimOptions(graph, options.shapes);
  if (shapes.symbols.length) throw new KilnError("BAD_OPTION", `shapes gives bounds for ${listed(shapes.symbols.map((s) => s.name))}: compile, load or prepareAndOptimize take bounds, prepareGraph alone does not`);
  if (options.freeze) freezeInputs(graph, options.freeze);
  if (dataDims?.values?.size) graph.dataDims = dataDims.values;
  options.onProgress?.({ stage: "shapes" });
  await inferShapes(graph, { shapes: shapes.shapes, layouts: options.layouts, evaluate: evaluateNode, foldLimit: SHAPE_FOLD_LIMIT, dataDims });
  verifyGraph(graph, { typed: true });
  // Ifs left (their conditions known only at run time) become guarded branches: every level's
  // passes, and code generation, see only plain nodes
  lowerControlFlow(graph);
  // float16 graphs compute in float32 (wasm has no half arithmetic): float16 stays at the edges
  widenFloat16(graph);
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

/**
 * Run the optimization pipeline of options.level over a prepared graph (mutates it), after
 * `quantize`'s passes when given. `rewritesOnly` leaves out the passes that only record decisions
 * for code generation (Pass.recordsOnly): a symbolic build's probes, which are never generated.
 * `symbolic`: dims have bounds (attention keeps its three layers).
 */
export async function optimizeGraph(graph: Graph, options: CompileOptions = {}, quantize?: QuantizePlan, rewritesOnly = false, symbolic: boolean | "spatial" = false): Promise<PassStat[]> {
  const pipeline = [...quantize?.passes ?? [], ...pipelineFor(options.level ?? 2)].filter((p) => !rewritesOnly || !p.recordsOnly);
  const stats = await runPasses(graph, pipeline, { evaluate: evaluateNode }, {
    dump: options.dump,
    verifyEach: options.verifyEach ?? env("KILN_VERIFY_EACH") === "1",
    // with bounds, attention keeps its layers: the fused kernel has no run-time extents yet
    options: { ...quantize?.options, "select-kernels": { kernels: kernelSelectionOf(options) }, "fuse-attention": { kernels: kernelSelectionOf(options), ...(symbolic ? { symbolic: true } : {}) }, ...(symbolic === "spatial" ? { "layout-nhwc": { spatial: false } } : {}) },
    onPass: options.onProgress && ((name, done, total) => options.onProgress!({ stage: "passes", detail: name, done, total })),
  });
  verifyGraph(graph, { typed: true });
  return stats;
}

export async function compileGraph(graph: Graph, options: CompileOptions = {}): Promise<CompiledModel> {
  checkQuantizeOptions(options);
  const quantize = options.quantize ? quantizePlan({ ...options, shapes: resolveDimOptions(graph, options.shapes).shapes }) : undefined;
  const passes = await prepareOptimized(graph, options, quantize);
  // a sidecar file or a memory budget takes the weights ready-packed: the weights sources' loader
  // places stored pieces only (runtime/sources.ts), and a budget's slots have no room to derive
  const prepack = options.prepack || options.weightsFile !== undefined || options.memoryBudget !== undefined;
  const gen = generateArtifact(graph, { optimize: options.optimize, simd: options.simd, prepack, threads: options.threads, kernels: parseKernelSelection(kernelSelectionOf(options)), onProgress: options.onProgress, memoryBudget: options.memoryBudget, streamSink: options.onWeights });
  const { wasm, manifest } = gen;
  checkMemory(manifest.memory.bytes, options.limits);
  const quantization = await quantize?.report(wasm, manifest);
  options.onProgress?.({ stage: "done" });
  const q = quantization ? { quantization } : {};
  if (gen.stream) return { ...streamSidecar(wasm, manifest, gen.stream, options.weightsFile ?? "weights.bin"), graph, passes, ...q };
  if (options.weightsFile !== undefined) return { ...splitSidecar(wasm, manifest, options.weightsFile), graph, passes, ...q };
  return { wasm, manifest, graph, passes, ...q };
}

/** Prepare, quantize when asked, and optimize a graph: what load() compiles in process. */
export async function prepareAndOptimize(graph: Graph, options: CompileOptions): Promise<PassStat[]> {
  return prepareOptimized(graph, options, options.quantize ? quantizePlan({ ...options, shapes: resolveDimOptions(graph, options.shapes).shapes }) : undefined);
}

/**
 * prepareGraph then optimizeGraph; with dims given bounds in options.shapes, at probe values of
 * them on copies of the graph as imported and at their upper bounds (symbolic.ts prepareSymbolic)
 */
async function prepareOptimized(graph: Graph, options: CompileOptions, quantize: QuantizePlan | undefined): Promise<PassStat[]> {
  const given = resolveDimOptions(graph, options.shapes);
  // a node whose output's length its input values decide (NonMaxSuppression): a symbol of its own
  const dims = withDataDims(given, await findDataDims(graph, given.shapes, options));
  // bounds on an image's height or width (a bounded dim past an input's first two): the layout
  // passes whose kernels take a varying batch only stand aside
  const bounded = new Set(dims.symbols.map((s) => s.name));
  const spatial = graph.inputs.some((i) => (graph.values.get(i)?.shape ?? []).some((d, k) => k >= 2 && typeof d === "string" && bounded.has(d)));
  const symbolic = spatial ? "spatial" as const : dims.symbols.length > 0;
  const once = async (g: Graph, shapes: Record<string, number[]> | undefined, opts: CompileOptions = options, step: ProbeStep = "bounds", data?: DataDims) => {
    await prepareGraph(g, { ...opts, shapes }, data);
    return step === "shapes" ? [] : optimizeGraph(g, { ...opts, shapes }, quantize, step === "probe", symbolic);
  };
  if (!dims.symbols.length) return once(graph, dims.shapes);
  const bounds = listed(dims.symbols.map((s) => s.name));
  if (quantize) {
    const owned = dims.symbols.filter((s) => s.node !== undefined);
    if (owned.length) throw new KilnError("UNSUPPORTED_OP", `quantize takes no model whose outputs' lengths its values decide so far (${listed(owned.map((s) => `node ${JSON.stringify(s.node)}`))})`);
    throw new KilnError("BAD_OPTION", `shapes gives bounds for ${bounds}: quantize takes pinned dims only so far`);
  }
  // a probe's graph: a copy of the graph as imported, its subgraphs cloned (its weights shared,
  // nothing decoded again: a fresh import of DeBERTa's bytes took 20 ms a probe), else (a graph
  // made otherwise, fused already) a fresh import of its bytes
  // (copies of a copy kept as imported: `graph` itself is prepared at the bounds meanwhile, and at
  // -O0, which plans no memory, it would still copy)
  const pristine = graph.copy(false, true);
  const remake = () => pristine?.copy(false, true) ?? reimport(graph);
  const first = remake();
  if (!first) throw new KilnError("BAD_OPTION", `shapes gives bounds for ${bounds}, which need a model read from ONNX bytes (its probes are fresh imports)`);
  const probes = [first];
  const quiet = { ...options, dump: undefined, onProgress: undefined };
  return prepareSymbolic(graph, () => probes.pop() ?? remake()!, dims, (g, shapes, step, data) => once(g, shapes, step === "bounds" ? options : quiet, step, data));
}

/**
 * Whether preparing `graph` may meet a data-dependent dim: an op that may have one, or a Loop with
 * scan outputs (under a run-time condition they are cut to the iterations that ran), here or in a
 * subgraph.
 */
function mayOwnDataDims(graph: Graph): boolean {
  return graph.nodeList().some((n) => hasTrait(n, "data-dependent") || (n.op === "Loop" && !n.domain && n.outputs.length > n.inputs.length - 2) ||
    Object.values(n.attrs).some((a) => a.type === "graph" && mayOwnDataDims(a.value)));
}

/** rounds of looking for Slices that cut a count (findDataDims): a cut of a cut takes a second */
const MAX_CUT_ROUNDS = 3;

/**
 * The data-dependent dims of `graph` (registry.ts ShapeCtx.dataDim) at the given input shapes (the
 * bounds): each owning node's upper bound, found by preparing a copy of the graph, with the Slices
 * that cut one among them (count-cuts.ts). None (and no copy) for a graph without an operator
 * that may have one.
 */
async function findDataDims(graph: Graph, shapes: Record<string, number[]> | undefined, options: CompileOptions): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  if (!mayOwnDataDims(graph)) return found;
  const prepared = async (data: DataDims) => {
    const copy = graph.copy(false, true) ?? reimport(graph);
    if (copy) await prepareGraph(copy, { ...options, shapes, dump: undefined, onProgress: undefined }, data);
    return copy;
  };
  let at = await prepared({ found });
  // Slices that cut such a dim (`keep[:100]`): the lengths seen with each count one less show them;
  // a round more for a Slice that cuts what another cut (its count is one only once that one is)
  const cuts = new Set<string>();
  for (let round = 0; round < MAX_CUT_ROUNDS && at && found.size && mayCutCounts(at, found); round++) {
    // (a model that cannot take those lengths keeps the dims found: its probes will say why)
    const less = await prepared({ values: new Map([...found].map(([n, max]) => [n, Math.max(max - 1, 0)])) }).catch((e: unknown) => {
      if (e instanceof KilnError) return undefined;
      throw e;
    });
    const more = less ? [...countCuts(at, less)].filter((c) => !cuts.has(c)) : [];
    if (!more.length) break;
    more.forEach((c) => cuts.add(c));
    found.clear();
    at = await prepared({ found, cuts });
    if (at && !slicesAfter(at, more)) break;
  }
  return found;
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
 * `compile` is the step on a fresh import of the bytes: compileGraph (an artifact), or the JIT's
 * in-process build (load() in api.ts).
 */
export async function compileSpecialized<T = CompiledModel>(bytes: Uint8Array, options: CompileOptions, feeds: Record<string, FeedLike>,
  frozen: Set<string> = new Set(), compile: (graph: Graph, options: CompileOptions) => Promise<T> = compileGraph as never): Promise<T> {
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
      return await compile(importOnnx(bytes, options), { ...options, freeze });
    } catch (e) {
      const wanted = e instanceof KilnError ? (e.context.needsValue ?? []).filter((n) => feeds[n] && !frozen.has(n)) : [];
      if (wanted.length === 0) throw e;
      for (const n of wanted) frozen.add(n);
    }
  }
}
