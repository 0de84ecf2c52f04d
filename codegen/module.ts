// Graph (typed, static shapes) -> one wasm module: each layer's kernel variant chosen and
// prepared, tensors placed in one linear memory (placement.ts), the weights image (weights-image.ts),
// a function per layer (called through a table, see addLayerRunners), and the manifest in a custom section.
import binaryen from "binaryen";
import { KilnError } from "../runtime/errors.js";
import { FORMAT_VERSION, MEMORY_IMPORT, RUN_LAYERS, THREADS_IMPORT, WEIGHTS_SECTION, type LayerInfo, type Manifest, type TensorSlot, type WeightSpan, type WeightsPlacement } from "../runtime/manifest.js";
import { RELAXED_FEATURE, type SimdLevel } from "../runtime/simd.js";
import type { WeightsWriter } from "../runtime/weights.js";
import { appendCustomSection } from "../runtime/sections.js";
import type { Graph, Node, Tensor } from "../compiler/ir/graph.js";
import { Fn } from "./fn.js";
import { guardOf } from "../compiler/ir/subgraph.js";
import { MathLib } from "./math.js";
import { addHalfHelpers } from "./math/half.js";
import { KernelCtx, type KernelPrep, type KernelSelection } from "./kernels/kernel.js";
import { kernelFamily } from "./kernels/index.js";
import { relaxedSensitive } from "./kernels/matmul/gemm-tile.js";
import { selectVariant, type KernelChoice } from "./kernels/select.js";
import { ALIGN, align, inPlaceOutputs, MemoryLayout, PAGE } from "./placement.js";
import { appendManifest } from "./artifact.js";
import { nodeFlops } from "../compiler/ops/cost.js";
import { hasTrait } from "../compiler/ops/index.js";
import { constantPiece, sealImage, tensorPiece, WeightsImage, type Piece } from "./weights-image.js";
import { planLayerSlots, ringBytes, ringRegion, sealStream, type StreamImage, type StreamSink } from "./stream.js";
import { V8_LIMITS, wasmShape } from "./wasm-limits.js";
import { mergeSimilarFunctions } from "./merge-functions.js";
import { stageRawSources } from "./raw-staging.js";
import { addDeriveExport, DeriveTable } from "./derive.js";
import { addThreadRuntime, barrierCall, splitLayers, THREAD_FEATURES, threadCtx, threadedLayer } from "./threads.js";
import { checkEmitted, checkSymbolicSlots, layerSymbolic, layerSymbolValues } from "./symbolic.js";
import "./math/index.js";

export const KILN_VERSION = "0.1.0";

export interface GenerateOptions {
  /** run Binaryen's optimizer over the module (slower to compile, rarely faster to run: V8 optimizes too) */
  optimize?: boolean;
  /**
   * Where the weights go (see runtime/weights.ts): "section" (default) a trailing custom section
   * the runtime copies into memory with one set, so WebAssembly.compile only sees code;
   * "external" returned beside the module (the caller passes them to createSession);
   * "data" a classic active data segment.
   */
  weights?: WeightsPlacement;
  /**
   * run Binaryen's validator (default true). A caller that compiles the module at once may skip
   * it (tens of ms on big models): the engine validates anyway, see compileGenerated.
   */
  validate?: boolean;
  /**
   * "baseline" (default): SIMD128 only, runs on every wasm SIMD engine. "relaxed": the module also
   * has the RelaxedSIMD feature, and kernels read it from the module (matmul/gemm-tile.ts relaxedTarget)
   * to use f32x4.relaxed_madd in their multiply-add loops; only engines with relaxed SIMD run it.
   */
  simd?: SimdLevel;
  /**
   * kernels' prepare results by node name, filled by the first build of a graph and reused by the
   * next (the relaxed build of an AOT artifact: same graph, same addresses, and prepare does not
   * depend on the SIMD level), so weights are packed and transformed once
   */
  preps?: Map<string, KernelPrep>;
  /**
   * for a module run once (compile-time evaluation, compiler/driver/evaluate.ts): elementwise arithmetic
   * writes its output over a constant operand of the output's shape that nothing else reads, so the
   * memory holds that tensor once (folding BatchNormalization into ResNet-50's weights: 100 MB
   * less memory touched at JIT load). The constants are gone after the run.
   */
  inPlaceConstants?: boolean;
  /** variants forced or forbidden (kernels/kernel.ts KernelSelection); a node's recorded kernel (meta.kernel) wins */
  kernels?: KernelSelection;
  /**
   * the weights pieces' checksums by address, filled by a build that writes the image out
   * (weights "section" or "data") and given to a later "external" build of the same graph (the
   * relaxed build of an AOT artifact, which runs over the first build's image), whose manifest
   * then carries them too
   */
  checksums?: Map<number, number>;
  /**
   * a compact artifact (codegen/derive.ts): kernels' derived constants whose recipe has a wasm form
   * are not in the weights image; the image holds their source tensors as the model gives them,
   * and the module computes the derived forms as the runtime places each layer's weights. Off:
   * the image carries every derived form ready (kiln compile --prepack, the JIT).
   */
  compact?: boolean;
  /**
   * the compact build's decisions by constant address, filled by the first build of a graph and
   * read by the next (the relaxed build must derive exactly what the baseline build derives)
   */
  derived?: Map<number, number | undefined>;
  /**
   * the most threads the module runs on (docs/THREADS.md): 2 or more makes a threaded module (a
   * shared memory imported, per-thread scratch, big layers split among the threads, barriers);
   * 1 (default) today's single-thread module, without shared memory or atomics
   */
  threads?: number;
  /** called as each layer is prepared and emitted (compile progress on a terminal) */
  onLayer?: (phase: "prepare" | "emit", done: number, total: number) => void;
  /**
   * Bytes of linear memory the weights may take (codegen/stream.ts): each layer's pieces go in a
   * ring of slots that size, read from the stream image (GeneratedModule.stream) before the layer
   * runs on every run. The manifest says weights "external" and memory.stream.
   */
  memoryBudget?: number;
  /** under memoryBudget: told each piece of the stream image with its position as it is written for its checksum */
  streamSink?: StreamSink;
  /**
   * one function per distinct body (default true, codegen/merge-functions.ts): layers of the same
   * shape share their code, their addresses passed in, so the engine compiles less; false keeps
   * a function per layer as emitted (the tests compare the two). The JIT path (load(), constant
   * evaluation) passes false: the merge reads the binary in JavaScript (~100 ms on SqueezeNet in
   * a fresh process), more than the engine's compile it saves there; an artifact pays it once
   */
  mergeFunctions?: boolean;
  /**
   * a compact artifact's raw weights that only a derive reads staged in a later layer's derived
   * region (default true, codegen/raw-staging.ts), their own slots left untouched; false keeps
   * them in their slots (the tests compare the two)
   */
  stageRaw?: boolean;
}

export interface GeneratedModule {
  wasm: Uint8Array;
  manifest: Manifest;
  /** false when no kernel emitted code that depends on the SIMD build: the relaxed build would be the same code */
  relaxedDiffers: boolean;
  /** with options.memoryBudget: the stream image (every piece once, at its position), which the runtime reads the pieces from */
  stream?: StreamImage;
  /** writes the weights image (manifest.memory.weightsBytes) at `at`, when options.weights is "external" */
  weights?: WeightsWriter;
}

/**
 * Compile a module generate() made without validation: the engine's complaint is a kiln bug, typed
 * INTERNAL. Synchronously where the engine allows it: the async compile hands the work to V8's
 * background threads, which at JIT load are busy tiering up binaryen.js's own wasm, and the answer
 * comes late (light ResNet-50: ~40 ms idle waiting for its 0.3 MB module; a 20 KB folding module
 * 80-260 ms on a busy machine). A browser's main thread refuses big synchronous compiles: async then.
 */
export async function compileGenerated(wasm: Uint8Array): Promise<WebAssembly.Module> {
  const failed = (e: unknown) => new KilnError("INTERNAL", `generated wasm module failed validation: ${(e as Error).message}`);
  try {
    return new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>);
  } catch (e) {
    if (e instanceof WebAssembly.CompileError) throw failed(e);
  }
  try {
    return await WebAssembly.compile(wasm as Uint8Array<ArrayBuffer>);
  } catch (e) {
    throw failed(e);
  }
}

/** True when a node still has work to do at run time (some output is not a compile-time constant). */
export function isRuntimeNode(graph: Graph, n: Node): boolean {
  return n.outputs.some((o) => o && !graph.values.get(o)?.const);
}

export function generate(graph: Graph, options: GenerateOptions = {}): GeneratedModule {
  const m = new binaryen.Module();
  try {
    return build(m, graph, options);
  } finally {
    m.dispose();
  }
}

interface Job {
  node: Node;
  fn: Fn;
  ctx: KernelCtx;
  choice: KernelChoice;
}

function build(m: binaryen.Module, graph: Graph, options: GenerateOptions): GeneratedModule {
  m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.BulkMemory | binaryen.Features.BulkMemoryOpt |
    binaryen.Features.NontrappingFPToInt | binaryen.Features.SignExt | binaryen.Features.MutableGlobals |
    (options.simd === "relaxed" ? binaryen.Features.RelaxedSIMD : 0) | (threaded(options) ? THREAD_FEATURES : 0));
  const order = graph.topoOrder().filter((n) => isRuntimeNode(graph, n));
  const symbols = graph.symbolic && checkSymbolicSlots(graph);
  const layout = new MemoryLayout(graph);
  const budget = options.memoryBudget;
  const weights = layout.placeWeights(order, budget === undefined ? undefined : ringBytes(budget));
  if (options.inPlaceConstants) for (const [out, over] of inPlaceOutputs(graph, order)) layout.alias(out, over);
  layout.placeActivations(order);

  // each layer's kernel variant, and its prepare step now that tensor addresses are known
  const math = new MathLib(m);
  const jobs = order.map((n, k) => {
    const job = prepareLayer(m, graph, n, k, layout, math, options);
    options.onLayer?.("prepare", k + 1, order.length);
    return job;
  });

  // the weights image: model weights some layer reads at run time, then kernels' packed constants
  const image = new WeightsImage(ALIGN);
  const read = new Set(graph.outputs.filter((o) => weights.names.has(o)));
  for (const { node, ctx } of jobs) node.inputs.forEach((i, k) => {
    if (weights.names.has(i) && !ctx.prep.unread?.includes(k)) read.add(i);
  });
  const stream = budget === undefined ? undefined : planLayerSlots(graph, layout, jobs, weights, budget);
  const placement = stream ? "external" : options.weights ?? "section";
  const runtimeRead = new Set(read);
  // the derived forms (by recipe) of each weight: one that is its weight's only use may ship ready
  const forms = new Map<Tensor, Set<string>>();
  for (const { ctx } of jobs) for (const c of ctx.prep.constants ?? []) {
    if (!(c instanceof Uint8Array) && c.derive && c.source) forms.set(c.source.tensor, (forms.get(c.source.tensor) ?? new Set()).add(c.source.recipe));
  }
  const keepsSource = (name: string) => runtimeRead.has(name) || (forms.get(graph.values.get(name)!.const!)?.size ?? 0) > 1;
  // compact: kernel constants derived as the weights are placed; a budget's slots hold them ready
  const derives = new DeriveTable(m, graph, weights.names, layout, !!options.compact && placement !== "data" && !stream, options.derived, keepsSource);
  let scratchBytes = 0;
  const sources = new Map<string, number[]>();
  for (const [k, { ctx }] of jobs.entries()) {
    if (!stream) for (const c of ctx.prep.constants ?? []) {
      const { addr, fresh } = layout.placeConstant(c);
      ctx.constantAddrs.push(addr);
      const source = fresh ? derives.add(c, addr, ctx.inputs) : undefined;
      if (source) {
        read.add(source);
        sources.set(source, [...(sources.get(source) ?? []), k]);
      } else if (fresh) for (const p of derives.readyHalf(c, addr) ?? [constantPiece(addr, c)]) image.add(p);
    }
    scratchBytes = Math.max(scratchBytes, align(ctx.prep.scratchBytes ?? 0));
  }
  // raw weights only a derive reads: staged in a later layer's derived region (codegen/raw-staging.ts)
  if (sources.size && options.stageRaw !== false) stageRawSources({ graph, layout, runtimeRead, sources, derived: jobs.map(({ ctx }) => derives.spansOf(ctx.constantAddrs)) });
  for (const c of read) {
    if (weights.streamed.has(c)) continue;
    const addr = layout.slots.get(c)!.addr, t = graph.values.get(c)!.const!;
    // a weight widened from float16 is stored as its codes unless it is a graph output (placed by no layer)
    for (const p of (!graph.outputs.includes(c) && derives.widen(t, addr)) || [tensorPiece(addr, t)]) image.add(p);
  }
  if (threaded(options) && placement === "data") {
    // an active data segment is written again by every instance: each worker would rewrite the weights
    throw new KilnError("BAD_OPTION", "a threaded module (threads > 1) keeps its weights out of data segments: use weights \"section\" or \"external\"");
  }
  const regions = image.regions();
  // the JIT ("external": this process writes each piece as its layer runs) checks no checksums
  const sealedStream = stream && sealStream(stream, image, regions, ringRegion(weights.offset, budget!), options.weights !== "external", options.streamSink);
  // an image written out gets a checksum per piece, which the runtime checks as it places the piece;
  // "external" weights are written from the tensors by this process, unless a sealed build gave its checksums
  const sealed = placement === "external" || stream ? undefined : sealImage(regions, image.write, image.pieces);
  if (sealed) for (const [addr, sum] of sealed.checksums) options.checksums?.set(addr, sum);
  const checksums = sealed?.checksums ?? options.checksums;
  const span = (p: Piece): WeightSpan => (checksums ? [p.addr, p.size, checksums.get(p.addr)!] : [p.addr, p.size]);
  let at = 0;
  const segments: binaryen.MemorySegment[] = placement !== "data" ? [] : regions.map((r) => ({ offset: m.i32.const(r.offset), data: sealed!.image.subarray(at, (at += r.bytes)), passive: false }));
  // each thread its own scratch: thread t's at scratchAddr + t * scratchBytes
  const maxThreads = threaded(options) ? options.threads! : 1;
  const scratchAddr = layout.reserveScratch(scratchBytes * maxThreads);
  for (const { ctx } of jobs) if (ctx.prep.scratchBytes) ctx.scratchAddr = scratchAddr;
  const pages = layout.pages();
  if (maxThreads > 1) {
    m.setMemory(pages, pages, "memory", segments, true);
    m.addMemoryImport("0", THREADS_IMPORT.module, THREADS_IMPORT.name, true);
    addThreadRuntime(m);
    const threads = threadCtx(m, maxThreads, scratchBytes);
    const dims = staticDimsOf(graph);
    const split = splitLayers(jobs.map(({ node, ctx }) => ({
      flops: nodeFlops(node, dims),
      outputs: ctx.outputs.reduce((a, t) => a + (t?.size ?? 0), 0),
      reads: ctx.inputs.reduce((a, t) => a + (t && !t.value ? t.size : 0), 0),
      // a reshape-like layer planned onto its input's memory emits nothing (an in-place elementwise one does)
      alias: hasTrait(node, "alias") && ctx.outputs.every((o) => !o || o.size === 0 || o.addr === ctx.inputs[0]?.addr),
    })));
    jobs.forEach(({ ctx }, k) => split[k] && (ctx.threads = threads));
  } else {
    // imported too (format 6), so the runtime makes the memory and touches its pages while the
    // engine compiles the code (runtime/session.ts), instead of after
    m.setMemory(pages, pages, "memory", segments);
    m.addMemoryImport("0", MEMORY_IMPORT.module, MEMORY_IMPORT.name, false);
  }

  addHalfHelpers(m);
  const layers: LayerInfo[] = [];
  const staticDims = staticDimsOf(graph);
  const layerFns: string[] = [];
  const waits: number[] = [];
  for (const [k, { node, fn, ctx, choice }] of jobs.entries()) {
    // its place in the table if it emits code (a layer that runs none has none): what it reports names it
    ctx.layer = layers.length;
    try {
      choice.variant.emit(ctx, choice.plan);
    } catch (e) {
      wrapFailure(ctx, "emitter", e);
    }
    if (ctx.symbolic) checkEmitted(graph, ctx, choice.name, fn.empty);
    options.onLayer?.("emit", k + 1, jobs.length);
    if (fn.empty) {
      if (stream?.firstAt[k].length) throw new KilnError("INTERNAL", "a layer that runs no code reads streamed weights", ctx.context());
      continue; // nothing to run: an alias of its input
    }
    fn.finish();
    const own = guarded(m, fn.name, guardTest(m, graph, layout, node));
    const split = maxThreads > 1 && ctx.split;
    layerFns.push(maxThreads > 1 ? threadedLayer(m, own, split, layers.length > 0 && !layers[layers.length - 1].split) : own);
    const flops = nodeFlops(node, staticDims);
    if (stream?.wait.has(k)) waits.push(layers.length);
    const pieces = sealedStream ? [] : image.readBy(ctx.inputs, derives.storedAt(ctx.constantAddrs));
    // float16 weights widened in their slots first: the layer's other derived pieces may read them
    const widens = derives.widensOf(pieces);
    const spans = sealedStream ? sealedStream.layer(k) : [...pieces, ...widens.factors].map(span);
    const derived = [...widens.spans, ...derives.spansOf(ctx.constantAddrs)];
    layers.push({ name: node.name, op: node.op, kernel: choice.name, weights: spans, ...(derived.length ? { derived } : {}), ...(flops ? { flops } : {}), ...(maxThreads > 1 ? { split } : {}) });
  }
  const claimed = new Set(layers.flatMap((l) => l.weights!.map(([addr]) => addr)));
  const unclaimed: WeightSpan[] = sealedStream ? sealedStream.resident : image.pieces.filter((p) => p.size && !claimed.has(p.addr)).map(span);
  addLayerRunners(m, layerFns, derives.emit(), maxThreads > 1);

  const slot = (name: string): TensorSlot => {
    const s = layout.slots.get(name)!;
    const expr = graph.symbolic?.dims.get(name);
    return { name, dtype: s.dtype, dims: s.dims, offset: s.addr, ...(expr ? { expr: [...expr] } : {}) };
  };
  const manifest: Manifest = {
    format: FORMAT_VERSION,
    kiln: KILN_VERSION,
    inputs: graph.inputs.map(slot),
    outputs: graph.outputs.map(slot),
    frozen: graph.frozenInputs.map(({ name, value: t }) =>
      ({ name, dtype: t.dtype, dims: [...t.dims], values: Array.from(t.data as ArrayLike<number | bigint>, (x) => (typeof x === "bigint" ? x.toString() : x)) })),
    layers,
    memory: { bytes: pages * PAGE, weightsOffset: weights.offset, weightsBytes: weights.bytes, weights: placement, regions: sealedStream?.regions ?? regions, unclaimed,
      ...(sealedStream ? { stream: { budget: budget!, bytes: sealedStream.image.bytes, wait: waits } } : {}) },
    features: options.simd === "relaxed" ? ["simd128", RELAXED_FEATURE] : ["simd128"],
    ...(maxThreads > 1 ? { threads: { max: maxThreads } } : {}),
    ...(graph.info ? { model: graph.info } : {}),
    ...(graph.containers.inputs.length || graph.containers.outputs.length ? { containers: graph.containers } : {}),
    ...(symbols ? { symbols: symbols.map(({ node, ...s }) => (node === undefined ? s : { ...s, layer: ownerLayer(layers, node) })) } : {}),
  };

  if (options.validate !== false && !m.validate()) throw new KilnError("INTERNAL", "generated wasm module failed validation");
  if (options.optimize) {
    binaryen.setOptimizeLevel(2);
    m.optimize();
  }
  const emitted = m.emitBinary();
  refuseOverLimits(m, emitted, jobs);
  const code = options.mergeFunctions === false ? emitted : mergeSimilarFunctions(emitted);
  // the manifest is appended to the binary, not handed to binaryen: it copies a section through
  // its stack, which a 200,000-layer manifest (megabytes) overflowed
  const wasm = appendManifest(code, manifest);
  const relaxedDiffers = relaxedSensitive(m);
  if (sealedStream) return { wasm, manifest, stream: sealedStream.image, relaxedDiffers };
  if (placement === "external") return { wasm, manifest, weights: image.write, relaxedDiffers };
  if (placement === "section") return { wasm: appendCustomSection(wasm, WEIGHTS_SECTION, sealed!.image), manifest, relaxedDiffers };
  return { wasm, manifest, relaxedDiffers };
}

/** The layer that writes a data-dependent dim: its owning node's (a symbol whose node no layer runs is an internal error). */
function ownerLayer(layers: readonly LayerInfo[], node: string): number {
  const k = layers.findIndex((l) => l.name === node);
  if (k < 0) throw new KilnError("INTERNAL", `no layer writes the data-dependent dim of node ${JSON.stringify(node)}`);
  return k;
}

/**
 * How layers are called: through a function table, layer k (manifest.layers[k]) at index k, by the
 * export RUN_LAYERS(from, to), which runs layers [from, to) in order and returns how many layers
 * the module has (the runtime checks that against the manifest: run_layers(0, 0) runs nothing);
 * `run` runs them all. Nothing else is exported but, in a compact artifact, DERIVE(k)
 * (codegen/derive.ts: its functions follow the layers' in the same table), so the exports stay
 * three or four however many layers there are (V8 takes 100,000), and `run` stays one small loop
 * (calling 200,000 layers one by one made a body V8 refuses). The runtime calls RUN_LAYERS for a
 * layer at a time where it needs to (weights placed before the layer, profiles).
 */
function addLayerRunners(m: binaryen.Module, fns: readonly string[], deriveFns: readonly string[], threaded: boolean): void {
  const size = fns.length + deriveFns.length;
  m.addTable(LAYER_TABLE, size, size);
  m.addActiveElementSegment(LAYER_TABLE, "layer_elements", [...fns, ...deriveFns], m.i32.const(0));
  if (deriveFns.length) addDeriveExport(m, LAYER_TABLE, fns.length, deriveFns.length);
  const [from, to, i] = [0, 1, 2];
  const get = (k: number) => m.local.get(k, binaryen.i32);
  m.addFunction(RUN_LAYERS, binaryen.createType([binaryen.i32, binaryen.i32]), binaryen.i32, [binaryen.i32], m.block(null, [
    m.local.set(i, get(from)),
    m.block("done", [
      m.loop("next", m.block(null, [
        m.br("done", m.i32.ge_u(get(i), get(to))),
        m.call_indirect(LAYER_TABLE, get(i), [], binaryen.none, binaryen.none),
        m.local.set(i, m.i32.add(get(i), m.i32.const(1))),
        m.br("next"),
      ])),
    ]),
    // threads: every thread is done before the caller reads outputs or places the next weights
    ...(threaded ? [barrierCall(m)] : []),
    m.i32.const(fns.length),
  ], binaryen.i32));
  m.addFunctionExport(RUN_LAYERS, RUN_LAYERS);
  m.addFunction("run", binaryen.none, binaryen.none, [], m.drop(m.call(RUN_LAYERS, [m.i32.const(0), m.i32.const(fns.length)], binaryen.i32)));
  m.addFunctionExport("run", "run");
}

const LAYER_TABLE = "layers";

const threaded = (options: GenerateOptions) => (options.threads ?? 1) > 1;

const staticDimsOf = (graph: Graph) => (v: string) => {
  const shape = graph.values.get(v)?.shape;
  return shape?.every((d) => typeof d === "number") ? (shape as number[]) : undefined;
};

/**
 * A module the engine would refuse (a function over V8's locals or body size, too many functions)
 * is a typed error naming the layer, not a compile error at load. Kernels keep within the limits
 * for any shape kiln takes (fused groups are capped, wide ops keep no local per operand), so this
 * is the net under them.
 */
function refuseOverLimits(m: binaryen.Module, code: Uint8Array, jobs: readonly Job[]): void {
  const shape = wasmShape(code);
  const limits = `V8 takes at most ${V8_LIMITS.locals} locals and ${V8_LIMITS.bodyBytes} bytes per function and ${V8_LIMITS.functions} functions`;
  if (shape.functions > V8_LIMITS.functions) {
    throw new KilnError("UNSUPPORTED_OP", `the model compiles to ${shape.functions} wasm functions (one or more per layer); ${limits}: compile at -O2, which fuses layers`);
  }
  const [first] = shape.over;
  if (!first) return;
  const name = binaryen.getFunctionInfo(m.getFunctionByIndex(first.index)).name;
  const layer = /^layer_(\d+)/.exec(name);
  const job = layer ? jobs[Number(layer[1])] : undefined;
  throw new KilnError("UNSUPPORTED_OP", `${job ? "this layer" : `function ${name}`} compiles to a wasm function of ${first.locals} locals and ${first.bytes} bytes; ${limits}`, job?.ctx.context());
}

/**
 * When a layer runs (an inlined If branch's node: compiler/ir/subgraph.ts): undefined for always,
 * false for never (a condition that became a constant), else an i32 test of the condition bytes.
 * A condition no longer in the graph (a pass dropped it) leaves the layer running always, which
 * is correct: a guard only saves work.
 */
function guardTest(m: binaryen.Module, graph: Graph, layout: MemoryLayout, node: Node): binaryen.ExpressionRef | undefined | false {
  let test: binaryen.ExpressionRef | undefined;
  for (const [cond, polarity] of guardOf(node)) {
    const v = graph.values.get(cond);
    if (v?.const) {
      if (Boolean(v.const.data[0]) !== polarity) return false;
      continue;
    }
    const slot = layout.slots.get(cond);
    if (!slot) continue;
    const byte = m.i32.load8_u(0, 1, m.i32.const(slot.addr));
    const holds = polarity ? byte : m.i32.eqz(byte);
    test = test === undefined ? holds : m.i32.and(test, holds);
  }
  return test;
}

/**
 * The function the layer table calls for a layer: the layer's own, or for a guarded layer (an
 * inlined If branch) a wrapper that tests the guard first, so `run`, a range of `run_layers` and a
 * profile one layer at a time all skip a branch not taken. A layer that never runs keeps its place
 * in the table (manifest.layers[k] is table entry k) as an empty function.
 */
function guarded(m: binaryen.Module, fn: string, test: binaryen.ExpressionRef | undefined | false): string {
  if (test === undefined) return fn;
  const name = `${fn}_guarded`;
  m.addFunction(name, binaryen.none, binaryen.none, [], test === false ? m.nop() : m.if(test, m.call(fn, [], binaryen.none)));
  return name;
}

const wrapFailure = (ctx: KernelCtx, what: string, e: unknown): never => {
  if (e instanceof KilnError) throw e;
  throw new KilnError("INTERNAL", `kernel ${what} failed: ${(e as Error).message}`, ctx.context());
};

/** A layer's kernel variant (chosen once, here), its context, and what its prepare step asks for. */
function prepareLayer(m: binaryen.Module, graph: Graph, n: Node, k: number, layout: MemoryLayout, math: MathLib, options: GenerateOptions): Job {
  const opset = graph.opset(n.domain);
  const family = kernelFamily(n);
  if (!family) {
    throw new KilnError("UNSUPPORTED_OP", `no kernel for ${n.domain ? n.domain + "." : ""}${n.op}`, { node: n.name, op: n.op, domain: n.domain, opset: graph.modelOpset(n.domain) });
  }
  const fn = new Fn(m, `layer_${k}`);
  const ctx = new KernelCtx(m, fn, n, opset,
    n.inputs.map((i) => (i ? layout.place(i) : undefined)),
    n.outputs.map((o) => (o ? layout.place(o) : undefined)), math, options.kernels);
  ctx.shownOpset = graph.modelOpset(n.domain);
  if (graph.symbolic) ctx.symbolic = layerSymbolic(graph, ctx);
  if (graph.symbolic) ctx.symbolValues = layerSymbolValues(graph, ctx);
  ctx.varying = ctx.symbolic !== undefined;
  ctx.varyingDims = ctx.symbolic?.dims;
  let choice: KernelChoice;
  try {
    choice = selectVariant(family, ctx);
  } catch (e) {
    return wrapFailure(ctx, "selection", e);
  }
  const shared = options.preps?.get(n.name);
  if (shared) ctx.prep = shared;
  else if (choice.variant.prepare) {
    try {
      ctx.prep = choice.variant.prepare(ctx, choice.plan);
    } catch (e) {
      wrapFailure(ctx, "prepare", e);
    }
    options.preps?.set(n.name, ctx.prep);
  }
  return { node: n, fn, ctx, choice };
}
