// The public API: compile (AOT) and load (JIT, or AOT artifacts).
import { createSession, type Feeds, type RunValue, type Session, type Tensor, type TensorInput } from "../../runtime/session.js";
import { availableCores, threadsUnavailable } from "../../runtime/threads.js";
import type { WeightPlacement } from "../../runtime/schedule.js";
import { KilnError, listed } from "../../runtime/errors.js";
import { checkFeeds } from "../../runtime/feeds.js";
import { nullFeed } from "../../runtime/containers.js";
import { checkMemory, LIMIT_RULES, type Limits } from "../../runtime/limits.js";
import { checkOptions, rules, type OptionRules } from "../../runtime/options.js";
import { resolveSimd } from "../../runtime/simd.js";
import { readResponse, type ResponseLike } from "../../runtime/source.js";
import type { Manifest, TensorSlot } from "../../runtime/manifest.js";
import { formatDim, type SymbolInfo } from "../../runtime/dims.js";
import type { DTypeName, TypedArray } from "../../runtime/dtypes.js";
import type { Graph } from "../ir/graph.js";
import { COMPILE_OPTION_RULES, compileGraph, compileSpecialized, importOnnx, kernelSelectionOf, prepareAndOptimize, type CompileOptions, type QuantizationReport } from "./compile.js";
import { parseKernelSelection } from "../../passes/index.js";
import { compileGenerated, generate } from "../../codegen/module.js";
import { unboundInputs } from "../ops/infer.js";
import type { InputLayout } from "../ops/infer-sequence.js";
import { resolveDimOptions, type ShapesOption } from "./symbolic.js";
import { cachedModule, cacheKey, type CachedModule } from "./cache.js";
import { checkQuantizeOptions } from "./quantize.js";
import { readDiskCache, writeDiskCache } from "./disk-cache.js";
import { streamBytes, streamSource } from "./sidecar.js";
import type { StreamImage } from "../../codegen/stream.js";

export interface CompileResult {
  wasm: Uint8Array;
  manifest: Manifest;
  /** the weights image for the sidecar file, with options.weightsFile (or memoryBudget, up to 2 GiB: past that, `stream`) */
  weights?: Uint8Array;
  /** with memoryBudget: the weights file's image as pieces at their positions, to write one by one */
  stream?: StreamImage;
  /** with options.quantize: the layers quantized, weight bytes, accuracy against the float model */
  quantization?: QuantizationReport;
}

/** What compile and load take: ONNX (or, for load, kiln .wasm) bytes, a fetch() Response or its promise, or a path in Node. */
export type ModelSource = Uint8Array | ArrayBuffer | string | Response | ResponseLike | PromiseLike<Response | ResponseLike>;

/**
 * Whether a path names a regular file that starts as a wasm module (Node; false for anything else,
 * whose reader says why). node:fs is imported here, when called, never at the top of a module this
 * one imports: a browser bundle of the API would fetch node:fs at load and fail.
 */
async function isWasmFile(file: string): Promise<boolean> {
  const fs = await import("node:fs");
  let fd: number | undefined;
  try {
    if (!fs.statSync(file, { throwIfNoEntry: false })?.isFile()) return false;
    fd = fs.openSync(file, "r");
    const head = new Uint8Array(8);
    return isWasm(head.subarray(0, fs.readSync(fd, head, 0, 8, 0)));
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

async function resolveSource(source: ModelSource, options: CompileOptions): Promise<{ bytes: Uint8Array; options: CompileOptions }> {
  const model = await readResponse(source, "INVALID_MODEL", "the model");
  if (model instanceof ArrayBuffer) return { bytes: new Uint8Array(model), options };
  if (model instanceof Uint8Array) return { bytes: model, options };
  if (typeof model !== "string") {
    const got = model === null ? "null" : typeof model === "object" ? `a ${(model as object).constructor?.name ?? "object"}` : typeof model;
    throw new KilnError("INVALID_MODEL", `the model must be a Uint8Array, an ArrayBuffer, a fetch() Response or (in Node) a file path, got ${got}`);
  }
  const { readModelFile } = await import("./files.js");
  const { bytes, readExternal } = await readModelFile(model);
  return { bytes, options: { readExternal, ...options } };
}

/**
 * Compile an ONNX model (bytes, or a path in Node) to a self-contained wasm module; by default
 * (simd "auto") it runs everywhere and carries a relaxed-SIMD build the runtime prefers where it can.
 */
export async function compile(model: ModelSource, options: CompileOptions = {}): Promise<CompileResult> {
  checkOptions("compile() options", options, COMPILE_OPTION_RULES);
  const src = await resolveSource(model, { simd: "auto", ...options });
  const { wasm, manifest, weights, stream, quantization } = await compileGraph(importOnnx(src.bytes, src.options), src.options);
  const q = quantization ? { quantization } : {};
  if (stream) return { wasm, manifest, stream, ...(stream.bytes < 2 ** 31 ? { weights: streamBytes(stream) } : {}), ...q };
  return { wasm, manifest, ...(weights ? { weights } : {}), ...q };
}

export interface InputInfo {
  name: string;
  dtype: DTypeName | undefined;
  /** numbers, or dim names still to be bound */
  dims: (number | string)[];
}

export interface Model {
  readonly inputs: InputInfo[];
  readonly outputs: { name: string; dtype: DTypeName | undefined; dims: (number | string)[] }[];
  run(feeds: Feeds): Promise<Record<string, Tensor>>;
  /** the outputs by the model's names: a sequence as an array of tensors, an optional holding nothing as null (Session.runValues) */
  runValues(feeds: Feeds): Promise<Record<string, RunValue<Tensor>>>;
  /** the compiled session for the last shapes run (undefined before the first run of a dynamic model) */
  readonly session: Session | undefined;
  /**
   * how many modules this model has compiled (or taken from the process cache): one per distinct
   * set of input shapes, or one for dims given bounds (`shapes: { seq: [1, 512] }`); 0 for an artifact
   */
  readonly modulesCompiled: number;
}

const isWasm = (b: Uint8Array) => b.length >= 4 && b[0] === 0 && b[1] === 0x61 && b[2] === 0x73 && b[3] === 0x6d;

/** An artifact's inputs or outputs as Model describes them: a symbolic dim by its expression ("seq", "past+seq"), not its bound */
function fromSlots(slots: readonly TensorSlot[], symbols: readonly SymbolInfo[] = []) {
  return slots.map((s) => ({ name: s.name, dtype: s.dtype, dims: s.dims.map((d, k) => (typeof s.expr?.[k] === "object" ? formatDim(s.expr[k], symbols) : d)) as (number | string)[] }));
}

const isSequenceFeed = (f: Feeds[string]): f is readonly (TensorInput | TypedArray)[] => Array.isArray(f);

/**
 * What the fed sequences and optionals hold (CompileOptions.layouts): a sequence's elements' dims,
 * null for an optional fed nothing; an optional fed a tensor is a plain input (feedDims).
 */
function feedLayouts(containers: readonly string[], feeds: Feeds): Record<string, InputLayout> {
  const layouts: Record<string, InputLayout> = {};
  for (const name of containers) {
    const f = feeds[name];
    if (f === undefined || f === null) layouts[name] = null;
    else if (isSequenceFeed(f)) layouts[name] = f.map((e) => (ArrayBuffer.isView(e) ? [e.length] : [...(e.dims ?? [e.data.length])]));
  }
  return layouts;
}

function feedDims(inputNames: readonly string[], feeds: Feeds, containers: readonly string[]): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  for (const name of inputNames) {
    const f = feeds[name];
    if (containers.includes(name) && (f === undefined || f === null || isSequenceFeed(f))) continue;
    if (f === undefined) throw new KilnError("BAD_INPUT", `missing input ${JSON.stringify(name)}`);
    if (f === null) throw nullFeed(name);
    if (isSequenceFeed(f)) throw new KilnError("BAD_INPUT", `input ${JSON.stringify(name)} is fed an array of tensors (a sequence), but the model takes one tensor there`);
    if (ArrayBuffer.isView(f)) {
      throw new KilnError("BAD_INPUT", `input ${JSON.stringify(name)} has dynamic dims; pass { data, dims } so kiln knows its shape`);
    }
    shapes[name] = [...(f.dims ?? [f.data.length])];
  }
  return shapes;
}

export interface LoadOptions extends Omit<CompileOptions, "threads"> {
  /**
   * Threads to run on (docs/THREADS.md): a number or "auto" (the cores the machine reports). Above 1
   * the model compiles to a threaded module; where threads cannot run (a page without cross-origin
   * isolation) it runs on one thread and warns once. Default 1.
   */
  threads?: number | "auto";
  /** where warnings go (threads asked for where they cannot run): default console.warn */
  warn?: (message: string) => void;
  /**
   * Reuse compiled modules within this process, keyed by (model hash, shapes, frozen values,
   * level, optimize, SIMD build); default true. IR dumps (options.dump) always compile afresh.
   */
  cache?: boolean;
  /**
   * Node only, opt-in: also keep compiled modules as .wasm files in this folder, under the same
   * key, so later processes skip the compiler (the file loads as an AOT artifact).
   */
  cacheDir?: string;
  /** whether the engine runs relaxed SIMD, for simd "auto" (default runtime/simd.ts relaxedSimdSupported; tests inject it) */
  relaxedSupported?: () => boolean;
  /** when the weights go into memory: "lazy" (default) layer by layer in the first run, or "eager" at load (runtime/schedule.ts) */
  placement?: WeightPlacement;
  limits?: LoadLimits;
}

export interface LoadLimits extends Limits {
  /**
   * How many compiled modules (one per distinct set of input shapes, each with its own instance
   * and memory) this model keeps; running a further shape drops the least recently used one,
   * which is compiled again (or taken from the process cache) if it comes back. Default 8.
   */
  maxModules?: number;
}

export const DEFAULT_MAX_MODULES = 8;

// load() runs what it compiles: a sidecar file (weightsFile, onWeights) is compile()'s
const { weightsFile: _sidecar, onWeights: _write, ...COMPILE_RULES_FOR_LOAD } = COMPILE_OPTION_RULES;

const LOAD_OPTION_RULES: OptionRules = {
  ...COMPILE_RULES_FOR_LOAD,
  cache: rules.boolean,
  cacheDir: rules.nonEmptyString,
  relaxedSupported: rules.function,
  placement: rules.oneOf("lazy", "eager"),
  threads: rules.threads,
  warn: rules.function,
  limits: rules.shape({ ...LIMIT_RULES, maxModules: rules.int(1) }),
};

/**
 * Load a model for running: an ONNX model is compiled now when its input shapes are known
 * (declared or given in options.shapes), otherwise at the first run for the fed shapes, with
 * one compiled module cached per distinct set of shapes. A kiln .wasm artifact loads directly.
 */
export async function load(model: ModelSource, options: LoadOptions = {}): Promise<Model> {
  checkOptions("load() options", options, LOAD_OPTION_RULES);
  checkQuantizeOptions(options);
  if (options.cacheDir) await checkCacheDir(options.cacheDir);
  const { threads: askedThreads, warn, ...compileOptions } = options;
  const memoryLimit: Limits = { maxMemoryBytes: options.limits?.maxMemoryBytes };
  // in Node, a .wasm named by its path is opened, not read whole: its weights image goes from the
  // file into memory as it is placed (runtime/file-artifact.ts), so the process holds it once
  const artifact = typeof model === "string" && (await isWasmFile(model)) ? await (await import("../../runtime/file-artifact.js")).openArtifactFile(model) : undefined;
  const src = artifact ? { bytes: artifact.bytes, options: compileOptions } : await resolveSource(model, compileOptions);
  // a file named .wasm goes to the runtime even when it is not wasm: it says what the file is instead of an ONNX decoding error
  if (isWasm(src.bytes) || (typeof model === "string" && /\.wasm$/i.test(model))) {
    // in Node, a .wasm named by its path finds its weights file beside it (kiln compile --weights)
    const weights = typeof model === "string" ? await (await import("./sidecar-file.js")).sidecarOf(model, src.bytes, undefined).catch((e) => { artifact?.close(); throw e; }) : undefined;
    const sessionOptions = { simd: options.simd, relaxedSupported: options.relaxedSupported, placement: options.placement, limits: memoryLimit, memoryBudget: options.memoryBudget, weights, threads: askedThreads, warn };
    const session = artifact ? await (await import("../../runtime/file-artifact.js")).sessionOf(artifact, sessionOptions) : await createSession(src.bytes, sessionOptions);
    return {
      inputs: fromSlots(session.inputs, session.manifest.symbols),
      outputs: fromSlots(session.outputs, session.manifest.symbols),
      runValues: (f) => session.runValues(f),
      run: async (f) => {
        checkFeeds(f);
        return session.run(f);
      },
      session,
      modulesCompiled: 0,
    };
  }
  // the model's bytes, kept while another shape may compile: a model compiled once for the shapes
  // given lets them go once its session is made (its weights are then in the session's memory
  // from its first run on; held here they were the model's size again for the model's lifetime)
  let pristine: Uint8Array | undefined = src.bytes;
  // the closures below name the model by its path only (the caller's bytes are `pristine`)
  const modelPath = typeof model === "string" ? model : "";
  // one build for this engine: relaxed SIMD where it validates (unless options say otherwise)
  const simd = resolveSimd(options.simd, options.relaxedSupported);
  const threads = await threadCountFor(askedThreads, warn);
  const compileOpts: CompileOptions = { ...src.options, simd, threads };
  // external data a caller reads for model bytes is not part of the bytes' hash: no cache then
  // nor are calibration inputs: a quantized model compiles afresh
  const useCache = options.cache !== false && !options.dump && !options.quantize && !(options.readExternal && typeof model !== "string");
  const frozenByOption = Object.entries(options.freeze ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([n, t]) => [n, t.dtype, t.dims, Array.from(t.data as ArrayLike<number | bigint>, String)]);
  let probe: Graph | undefined = importOnnx(pristine, compileOpts);
  const describe = (graph: Graph, names: string[]) => names.map((n) => {
    const v = graph.values.get(n)!;
    return { name: n, dtype: v.dtype, dims: [...(v.shape ?? [])] };
  });
  const inputs = describe(probe, probe.inputs);
  const outputs = describe(probe, probe.outputs);
  const inputNames = [...probe.inputs];
  // dims given bounds compile once, now: their module runs every value within them (symbolic.ts)
  const dimOptions = resolveDimOptions(probe, compileOpts.shapes);
  const unbound = unboundInputs(probe, dimOptions.shapes);
  // (bounds with another dim still free: resolveDimOptions refused them)
  const dynamic = unbound.length > 0;
  // Compiled sessions per distinct input shapes (and values of frozen inputs), least recently
  // used first and at most maxModules of them, and the inputs found to decide shapes by their
  // values (axes, shape, pads ...), which are frozen per run.
  const cache = new Map<string, Promise<Session>>();
  const maxModules = options.limits?.maxModules ?? DEFAULT_MAX_MODULES;
  const frozen = new Set<string>();
  const containers = probe.inputs.filter((n) => probe!.values.get(n)?.container);
  let compiled = 0;
  const sessionFor = (shapes: ShapesOption | undefined, feeds: Feeds = {}, layouts = compileOpts.layouts) => {
    const values = [...frozen].sort().map((n) => {
      const f = feeds[n];
      const data = f === undefined || f === null || isSequenceFeed(f) ? [] : ArrayBuffer.isView(f) ? f : f.data;
      return [n, Array.from(data as ArrayLike<number | bigint>, String)];
    });
    const key = JSON.stringify([shapes ?? {}, values, layouts ?? {}]);
    let s = cache.get(key);
    if (s) {
      cache.delete(key);
      cache.set(key, s); // most recently used last
    } else {
      const feedLike = Object.fromEntries(Object.entries(feeds).flatMap(([k, f]) => (f === null || isSequenceFeed(f) ? [] : [[k, ArrayBuffer.isView(f) ? { data: f } : f]])));
      // the graph decoded for the probe is compiled as is the first time (decoding is not free)
      const graph = probe && frozen.size === 0 ? probe : undefined;
      probe = undefined;
      const bytes = pristine!;
      const processKey = useCache ? cacheKey(bytes, {
        shapes: layouts ? [shapes, layouts] : shapes, frozen: [values, modelPath],
        options: { level: compileOpts.level, optimize: compileOpts.optimize, freeze: frozenByOption, simd, kernels: kernelSelectionOf(compileOpts), memoryBudget: options.memoryBudget, ...(threads > 1 ? { threads } : {}) },
      }) : undefined;
      compiled++;
      // in process, the weights never pass through a module: written into memory from the tensors
      // (an artifact's path, compileGraph, packed them into a section, merged similar functions,
      // and the runtime copied them out again: PaddleOCR's recognizer took 1.5x as long a new width)
      const inProcess = async (graph: Graph, opts: CompileOptions): Promise<CachedModule> => {
        await prepareAndOptimize(graph, opts);
        const gen = generate(graph, { optimize: opts.optimize, weights: "external", validate: false, mergeFunctions: false, simd, threads, kernels: parseKernelSelection(kernelSelectionOf(opts)), memoryBudget: options.memoryBudget });
        checkMemory(gen.manifest.memory.bytes, memoryLimit);
        // a streamed module's weights are read from the tensors as layers run: no artifact to keep on disk
        if (options.cacheDir && processKey && !gen.stream) await writeDiskCache(options.cacheDir, processKey, gen);
        return { module: await compileGenerated(gen.wasm), weights: gen.stream ? streamSource(gen.stream) : gen.weights };
      };
      // the graph decoded for the probe is built as is; another shape (or frozen values) from the bytes
      const build = (): Promise<CachedModule> => graph ? inProcess(graph, { ...compileOpts, shapes, layouts })
        : compileSpecialized(bytes, { ...compileOpts, shapes, layouts }, feedLike, frozen, inProcess);
      const fromDisk = async () => (options.cacheDir && processKey && await readDiskCache(options.cacheDir, processKey)) || build();
      s = (async () => {
        const c = await cachedModule(processKey, fromDisk);
        // "auto" stays "auto" for the session: a small model runs on one thread (runtime/threads.ts AUTO_MIN_FLOPS)
        return createSession(c.module, { weights: c.weights, placement: options.placement, limits: memoryLimit, memoryBudget: options.memoryBudget, threads: askedThreads === "auto" && threads > 1 ? "auto" : threads });
      })();
      cache.set(key, s);
      s.catch(() => cache.delete(key));
      // the oldest sessions go (their instances and memories with them once no run holds them; a
      // threaded one's workers stopped: runs are synchronous, so none is inside one now)
      while (cache.size > maxModules) {
        const oldest = cache.keys().next().value!;
        void cache.get(oldest)!.then((old) => old.terminate?.(), () => {});
        cache.delete(oldest);
      }
    }
    return s;
  };
  let current: Session | undefined;
  let deferred = dynamic;
  if (!deferred) {
    try {
      current = await sessionFor(compileOpts.shapes);
      pristine = undefined; // no other shape compiles: runs take `current`
    } catch (e) {
      // some input's value decides shapes: compile at the first run, for the fed values
      if (!(e instanceof KilnError) || !e.context.needsValue?.length) throw e;
      e.context.needsValue.forEach((n) => frozen.add(n));
      deferred = true;
    }
  }
  const sessionOf = async (feeds: Feeds): Promise<Session> => {
    checkFeeds(feeds);
    if (deferred) {
      const fed = dynamic ? feedDims(inputNames, feeds, containers) : {};
      const layouts = containers.length ? { ...compileOpts.layouts, ...feedLayouts(containers, feeds) } : compileOpts.layouts;
      const shapes = { ...compileOpts.shapes, ...fed };
      try {
        current = await sessionFor(shapes, feeds, layouts);
      } catch (e) {
        // an input's value decides shapes (a sequence position, an axes input): freeze it to the fed value
        const wanted = e instanceof KilnError ? (e.context.needsValue ?? []).filter((n) => feeds[n] && !frozen.has(n)) : [];
        if (wanted.length === 0) throw e;
        wanted.forEach((n) => frozen.add(n));
        current = await sessionFor(shapes, feeds, layouts);
      }
    }
    return current!;
  };
  return {
    inputs,
    outputs,
    get session() {
      return current;
    },
    get modulesCompiled() {
      return compiled;
    },
    async run(feeds) {
      return (await sessionOf(feeds)).run(feeds);
    },
    async runValues(feeds) {
      return (await sessionOf(feeds)).runValues(feeds);
    },
  };
}

/**
 * The threads a load compiles for: "auto" the machine's cores; where threads cannot run (no
 * SharedArrayBuffer: a page without cross-origin isolation) one, said once through warn.
 */
async function threadCountFor(asked: number | "auto" | undefined, warn = console.warn): Promise<number> {
  const n = asked === "auto" ? await availableCores() : asked ?? 1;
  if (n <= 1) return 1;
  const why = threadsUnavailable();
  if (why) {
    warn(`kiln: threads: ${asked} asked for, but ${why}; running on one thread`);
    return 1;
  }
  return n;
}

/** cacheDir, when it exists, must be a folder kiln can write (it is created on the first store). */
async function checkCacheDir(dir: string): Promise<void> {
  const fs = await import("node:fs");
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (st && !st.isDirectory()) throw new KilnError("BAD_OPTION", `option cacheDir: ${JSON.stringify(dir)} is not a folder`);
}
