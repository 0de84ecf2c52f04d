// The thin runtime: instantiate a compiled kiln module, write inputs at their fixed offsets,
// run the layers, read outputs. Imports nothing from the compiler and never binaryen.
import { dtype, sizeOf, storageLength, type DTypeName, type TypedArray } from "./dtypes.js";
import { KilnError, listed } from "./errors.js";
import { checkFeeds, readFeed, type Feeds, type TensorInput } from "./feeds.js";
import { evalDim, formatDim, padBlocks, symbolRange, SYMBOLS_ADDR } from "./dims.js";
import { feedFlattener, groupOutputs, type RunValue } from "./containers.js";
import { DERIVE, INDEX_ERROR, MANIFEST_CHECKSUM_SECTION, MANIFEST_SECTION, MEMORY_IMPORT, RUN_LAYERS, type FrozenInput, type Manifest, type TensorSlot } from "./manifest.js";
import { RELAXED_FEATURE, relaxedSimdSupported, resolveSimd, type SimdChoice } from "./simd.js";
import { sections } from "./sections.js";
import { WeightScheduler, type StreamedWeights, type WeightPlacement } from "./schedule.js";
import { checkModule, parseManifest } from "./validate.js";
import { splitWeights, weightsOf, type WeightsWriter } from "./weights.js";
import { readResponse, type ResponseLike } from "./source.js";
import { checkOptions, rules, type OptionRules } from "./options.js";
import { checkMemory, LIMIT_RULES, type Limits } from "./limits.js";
import type { ThreadPool } from "./threads.js";
import { earlyMemory, memoryOf, touchedRanges, touchWhile, type Early } from "./early-memory.js";

export type { Feeds, TensorInput } from "./feeds.js";
export type { FeedValue, RunValue, SequenceInput } from "./containers.js";
export { touchedRanges } from "./early-memory.js";

/** An output; `data` as in TensorInput. */
export interface Tensor {
  dtype: DTypeName;
  dims: number[];
  data: TypedArray;
}

export interface Session {
  readonly manifest: Manifest;
  readonly inputs: readonly TensorSlot[];
  readonly outputs: readonly TensorSlot[];
  /** the outputs by tensor slot: a sequence output's elements are the slots its manifest.containers entry names (`y[0]`, ...) */
  run(feeds: Feeds): Promise<Record<string, Tensor>>;
  /** the outputs by the model's names: a sequence as an array of tensors, an optional holding nothing as null */
  runValues(feeds: Feeds): Promise<Record<string, RunValue<Tensor>>>;
  /**
   * Run, and return the outputs as views into the module's memory instead of copies: valid until
   * the next run (compile-time evaluation reads big folded weights this way, without a copy).
   */
  runInPlace(feeds: Feeds): Record<string, Tensor>;
  /**
   * One run, each layer called from JS and timed on its own (a little slower than run): its name,
   * ops, kernel variant and milliseconds; the weights placed for it in this run (the first places
   * each layer's pieces just before it: placedBytes, placeMs) and its flops where the manifest has them.
   */
  profile(feeds: Feeds): Promise<LayerTiming[]>;
  /** a session made with proxy: true or running on threads: stop its workers (runs after this fail) */
  terminate?(): void;
  /** the threads the session runs on (1 unless a threaded module runs with options.threads) */
  readonly threads?: number;
}

/** One layer's share of a profiled run (Session.profile). */
export interface LayerTiming {
  layer: string;
  op: string;
  kernel: string;
  ms: number;
  /** weights bytes written into memory for this layer in this run (the first run places them) */
  placedBytes: number;
  /** the time that placing took (checksums included), not part of ms */
  placeMs: number;
  /** the layer's arithmetic (manifest layers[].flops), when kiln counts it */
  flops?: number;
}

/** The manifest of a kiln module, its checksum, format, keys and types checked (runtime/validate.ts). */
export function readManifest(mod: WebAssembly.Module): Manifest {
  return parseManifest(WebAssembly.Module.customSections(mod, MANIFEST_SECTION), WebAssembly.Module.customSections(mod, MANIFEST_CHECKSUM_SECTION));
}

export async function compileArtifact(bytes: Uint8Array): Promise<WebAssembly.Module> {
  const notWasm = notWasmReason(bytes);
  if (notWasm) throw new KilnError("INVALID_ARTIFACT", `not a WebAssembly module: ${notWasm}; pass a .wasm written by kiln compile`);
  try {
    return await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (e) {
    if (needsRelaxed(bytes) && !relaxedSimdSupported()) {
      throw new KilnError("UNSUPPORTED_OP", "this artifact was compiled for relaxed SIMD only (kiln compile --simd relaxed), which this engine does not run; compile it with --simd auto or baseline (Node 20 runs it under --experimental-wasm-relaxed-simd)");
    }
    throw new KilnError("INVALID_ARTIFACT", `not a valid WebAssembly module: ${(e as Error).message}`);
  }
}

/** Why the bytes are not a WebAssembly module ("it is text", "its 12 bytes do not start with ..."), or undefined when they start as one. */
export function notWasmReason(bytes: Uint8Array): string | undefined {
  if (hasWasmMagic(bytes)) return undefined;
  return looksLikeText(bytes) ? "it is text" : `its ${bytes.length} bytes do not start with the wasm header (\\0asm, version 1)`;
}

/** Whether the bytes' manifest (read without compiling) says the module needs relaxed SIMD. */
function needsRelaxed(bytes: Uint8Array): boolean {
  try {
    const s = sections(bytes).find((x) => x.name === MANIFEST_SECTION);
    return !!s && (JSON.parse(new TextDecoder().decode(bytes.subarray(s.payload, s.end))) as Manifest).features.includes(RELAXED_FEATURE);
  } catch {
    return false;
  }
}

export interface SessionOptions {
  /**
   * the weights image of a module compiled with weights "external" (see GenerateOptions, and kiln
   * compile --weights m.bin): its bytes, its writer, or a source read asynchronously as the first
   * run reaches each layer (runtime/sources.ts: fileSource, blobSource, urlSource)
   */
  weights?: Uint8Array | WeightsWriter | StreamedWeights;
  /**
   * Which build of an artifact that carries a relaxed-SIMD variant (kiln compile --simd auto) to
   * run: "auto" (default) the relaxed one when the engine validates it, "baseline", or "relaxed"
   * (a typed error where the engine lacks it). Artifacts with one build run that build.
   */
  simd?: SimdChoice;
  /** whether the engine runs relaxed SIMD (default: runtime/simd.ts relaxedSimdSupported; tests inject it) */
  relaxedSupported?: () => boolean;
  /**
   * When the weights go into memory (runtime/schedule.ts): "lazy" (default) each layer's just
   * before it first runs, so the session is ready after compile + instantiate and the first run
   * pays for the weights; "eager" all of them now, so the first run is as fast as the rest.
   */
  placement?: WeightPlacement;
  /** refuse a module whose linear memory exceeds limits.maxMemoryBytes, before instantiating it */
  limits?: Limits;
  /**
   * Bytes of linear memory the weights may take: the artifact must have been compiled for this
   * budget or a smaller one (kiln compile --memory-budget), its weights streamed from `weights`.
   */
  memoryBudget?: number;
  /**
   * Run the session in a worker (a Web Worker in a page, a worker thread in Node; runtime/proxy.ts):
   * run() is then a message, and the calling thread stays free while the model runs.
   */
  proxy?: boolean;
  /**
   * Threads to run on (docs/THREADS.md): a number, or "auto" (the cores this machine reports, at
   * most the module's maximum). Only a module compiled with threads (kiln compile --threads N,
   * load(model, { threads })) runs on several; another runs on one and warns. Default 1.
   */
  threads?: number | "auto";
  /** where warnings go (a threads request that runs on one thread): default console.warn; a no-op silences them */
  warn?: (message: string) => void;
  /**
   * Progress of a run that places or reads weights (the first run; every run under a memory
   * budget): called just before layers [from, to) of manifest.layers run, each range once its
   * weights are in memory. With weights from a URL, layer 0 starts while later layers' weights are
   * still arriving (docs/MEMORY.md, progressive start). Later runs go straight through, uncalled.
   */
  onLayers?: (from: number, to: number) => void;
}

export const SESSION_OPTION_RULES: OptionRules = {
  weights: rules.any,
  simd: rules.oneOf("auto", "baseline", "relaxed"),
  relaxedSupported: rules.function,
  placement: rules.oneOf("lazy", "eager"),
  limits: rules.shape(LIMIT_RULES),
  proxy: rules.boolean,
  memoryBudget: rules.int(1),
  threads: rules.threads,
  warn: rules.function,
  onLayers: rules.function,
};

const hasWasmMagic = (b: Uint8Array) => b.length >= 8 && b[0] === 0 && b[1] === 0x61 && b[2] === 0x73 && b[3] === 0x6d && b[4] === 1 && b[5] === 0 && b[6] === 0 && b[7] === 0;
const looksLikeText = (b: Uint8Array) => b.length > 0 && b.subarray(0, 256).every((c) => c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127) || c >= 128);

/** The artifact as bytes (an ArrayBuffer, as fetch().arrayBuffer() gives, or any byte view; a Response is read before), or the compiled module. */
function artifactOf(artifact: unknown): Uint8Array | WebAssembly.Module {
  if (artifact instanceof WebAssembly.Module || artifact instanceof Uint8Array) return artifact;
  if (artifact instanceof ArrayBuffer) return new Uint8Array(artifact);
  if (ArrayBuffer.isView(artifact)) return new Uint8Array(artifact.buffer, artifact.byteOffset, artifact.byteLength);
  const got = typeof artifact === "string" ? "a string (a path? read the file first, or use kiln's load(path))" : artifact === null ? "null" : `a ${typeof artifact === "object" ? artifact.constructor?.name ?? "object" : typeof artifact}`;
  throw new KilnError("INVALID_ARTIFACT", `createSession takes a kiln .wasm as bytes (Uint8Array, ArrayBuffer), a fetch() Response or a WebAssembly.Module, got ${got}`);
}

/** What createSession takes: the artifact's bytes, a fetch() Response or its promise, or a compiled module. */
export type ArtifactInput = Uint8Array | ArrayBuffer | ArrayBufferView | WebAssembly.Module | Response | ResponseLike | PromiseLike<Response | ResponseLike>;

/** A session whose module runs in a worker (runtime/proxy.ts): bytes or a compiled module go there; a Response was read here. */
async function proxied(artifact: Uint8Array | WebAssembly.Module, options: SessionOptions): Promise<Session> {
  const { openProxy } = await import("./proxy.js");
  const { proxy: _, ...rest } = options;
  const p = await openProxy(artifact, rest as Record<string, unknown>);
  return {
    manifest: p.manifest,
    inputs: p.manifest.inputs,
    outputs: p.manifest.outputs,
    run: (feeds) => p.call("run", feeds) as Promise<Record<string, Tensor>>,
    runValues: async (feeds) => groupOutputs(p.manifest, await (p.call("run", feeds) as Promise<Record<string, Tensor>>)),
    runInPlace() {
      throw new KilnError("BAD_OPTION", "runInPlace returns views into the module's memory, which is in the proxy's worker; use run() with proxy: true");
    },
    profile: (feeds) => p.call("profile", feeds) as Promise<LayerTiming[]>,
    terminate: p.terminate,
  };
}

export async function createSession(artifact: ArtifactInput, options: SessionOptions = {}): Promise<Session> {
  checkOptions("createSession() options", options, SESSION_OPTION_RULES);
  if (options.proxy) return proxied(artifactOf(await readResponse(artifact, "INVALID_ARTIFACT", "the artifact")), options);
  let mod: WebAssembly.Module;
  let weights = options.weights;
  let early: Early | undefined;
  let noRelaxed = false; // relaxed asked of bytes with no relaxed build

  const given = artifactOf(await readResponse(artifact, "INVALID_ARTIFACT", "the artifact"));
  if (given instanceof WebAssembly.Module) {
    mod = given;
  } else {
    const split = splitWeights(given);
    const relaxed = split.relaxed && resolveSimd(options.simd, options.relaxedSupported) === "relaxed";
    noRelaxed = options.simd === "relaxed" && !split.relaxed;
    // the relaxed build shares the artifact's weights image: same layout, only the code differs
    const code = relaxed ? split.relaxed! : split.code;
    const compiling = compileArtifact(code);
    early = earlyMemory(code, options.limits);
    if (early) await touchWhile(early.memory, compiling, touchedRanges(early.manifest));
    mod = await compiling;
    weights ??= split.weights;
  }
  // the manifest read from the bytes the module was compiled from is the module's
  const manifest = early?.manifest ?? readManifest(mod);
  if (manifest.memory.weights === "section") weights ??= weightsOf(mod);
  checkMemory(manifest.memory.bytes, options.limits);
  const budget = options.memoryBudget, stream = manifest.memory.stream;
  if (budget && !(stream!?.budget <= budget)) {
    throw new KilnError("BAD_OPTION", `memoryBudget ${budget}: compile the model with --memory-budget ${budget}`);
  }
  const warn = options.warn ?? console.warn;
  if ((options.threads ?? 1) !== 1 && !manifest.threads) warn("kiln: this module was compiled for one thread (kiln compile --threads N): running on one thread");
  if (noRelaxed && !manifest.features?.includes(RELAXED_FEATURE)) warn("kiln: this artifact has no relaxed-SIMD build: running SIMD128");
  const th = manifest.threads ? await threadsModule() : undefined;
  const flops = manifest.layers.reduce((a, l) => a + (Number.isFinite(l.flops) ? l.flops! : 0), 0);
  const threadCount = th ? await th.threadCount((manifest.threads as { max?: unknown }).max, options.threads ?? 1, warn, flops) : 1;
  const shared = th?.sharedMemoryFor(manifest.memory.bytes);
  // format 6: a one-thread module imports its memory too (made during compile above, or now)
  const imported = shared ?? (WebAssembly.Module.imports(mod).some((i) => i.kind === "memory") ? early?.memory ?? memoryOf(manifest.memory.bytes) : undefined);
  const instance = await instantiate(mod, imported ? { [MEMORY_IMPORT.module]: { [MEMORY_IMPORT.name]: imported } } : {}, imported && manifest.memory.bytes);
  checkModule(manifest, mod, instance);
  const exports = instance.exports as Record<string, unknown>;
  const memory = exports.memory as WebAssembly.Memory;
  // the module's own memory, in case the manifest understates it: refused before anything is written
  if (memory instanceof WebAssembly.Memory) checkMemory(memory.buffer.byteLength, options.limits);
  const scheduler = new WeightScheduler(memory, manifest, weights, options.placement, exports[DERIVE] as ((k: number) => unknown) | undefined);
  let runAll = exports.run as () => void;
  let runLayers = exports[RUN_LAYERS] as (from: number, to: number) => void;
  if (typeof runAll !== "function" || typeof runLayers !== "function") {
    throw new KilnError("INVALID_ARTIFACT", `this module does not export the functions run and ${RUN_LAYERS}; it was not produced by kiln compile, or is damaged`);
  }
  let pool: ThreadPool | undefined;
  if (shared) {
    pool = await th!.startThreads(mod, shared, instance, threadCount, manifest.layers.map((l) => l.split === true));
    const run = pool.run;
    runLayers = run;
    runAll = () => run(0, manifest.layers.length);
  }
  const reached = options.onLayers;
  // an empty range (the loader's step before a layer that reads weights) reports nothing
  const stepLayers = reached ? (from: number, to: number) => { if (from < to) reached(from, to); runLayers(from, to); } : runLayers;
  // the first run goes layer by layer, each layer's weights placed just before it: the layers
  // between two that read weights run in one call
  const runPlacing = () => {
    let from = 0;
    manifest.layers.forEach((l, k) => {
      if (!l.weights?.length && !l.derived) return;
      if (from < k) stepLayers(from, k);
      scheduler.placeLayer(k);
      from = k;
    });
    stepLayers(from, manifest.layers.length);
    scheduler.finish();
  };

  const flatten = feedFlattener(manifest);
  // symbolic dims (runtime/dims.ts): this run's values, solved from the feeds' dims
  const syms = manifest.symbols;
  let symValues: number[] = [];
  const dimsOf = (slot: TensorSlot): TensorSlot => (slot.expr ? { ...slot, dims: slot.expr.map((e) => evalDim(e, symValues)) } : slot);
  /** an input as the model takes it: float32[1,seq,4] (seq 1..512) */
  const takes = (slot: TensorSlot) => `${slot.dtype}[${(slot.expr ?? slot.dims).map((e) => formatDim(e, syms!)).join(",")}]${slot.expr ? ` (${syms!.filter((s) => s.at).map(symbolRange).join(", ")})` : ""}`;
  const write = (given: Feeds) => {
    checkFeeds(given);
    const feeds = flatten(given);
    if (syms) {
      // each symbol's value from the input dim that is the symbol alone (manifest.symbols[].at),
      // within its bounds; every input's dims are checked against their expressions as it is written
      // (a symbol with a step is the dim / step: W 32..640 in steps of 8 is 4..80)
      symValues = syms.map(({ min, max, at, step = 1 }) => {
        // a data-dependent dim: its layer writes it as the run goes (finishRun reads it back)
        if (!at) return 0;
        const [i, k] = at, slot = manifest.inputs[i], dims = (feeds[slot.name] as TensorInput | undefined)?.dims, d = dims?.[k] ?? max * step;
        if (d < min * step || d > max * step || d % step !== 0 || (dims && dims.length !== slot.dims.length)) throw new KilnError("BAD_INPUT", `input ${JSON.stringify(slot.name)} has dims [${dims!.join(",")}] but the model takes ${takes(slot)}`);
        return d / step;
      });
      new Int32Array(memory.buffer, SYMBOLS_ADDR, syms.length).set(symValues);
    }
    const names = new Set(Object.keys(feeds));
    for (const slot of manifest.inputs) {
      const feed = feeds[slot.name];
      if (feed === undefined) {
        throw new KilnError("BAD_INPUT", `missing input ${JSON.stringify(slot.name)} (${takes(slot)}); the model takes ${listed(manifest.inputs.map((i) => JSON.stringify(i.name)))}`);
      }
      names.delete(slot.name);
      writeInput(memory, dimsOf(slot), feed, slot.dims, slot.expr && `${takes(slot)}: here ${syms!.map((x, k) => `${x.name} ${symValues[k] * (x.step ?? 1)}`).join(", ")}`);
    }
    for (const f of manifest.frozen ?? []) {
      const feed = feeds[f.name];
      if (feed === undefined) continue;
      names.delete(f.name);
      checkFrozen(f, feed);
    }
    if (names.size) {
      throw new KilnError("BAD_INPUT", `unknown input ${listed([...names].map((n) => JSON.stringify(n)))}; the model takes ${listed(manifest.inputs.map((i) => JSON.stringify(i.name)))}`);
    }
  };
  const read = (copy: boolean) => {
    const out: Record<string, Tensor> = {};
    for (const s of manifest.outputs) {
      const slot = dimsOf(s);
      const info = dtype(slot.dtype);
      const n = storageLength(slot.dtype, sizeOf(slot.dims));
      let data = new info.array(memory.buffer, slot.offset, n);
      // a run's values spread over a padded slot ([1, 2, past, 64]) are gathered into a compact copy
      if (slot.expr && sizeOf(s.dims) !== n && !prefix(slot.dims, s.dims)) {
        const all = new info.array(memory.buffer, slot.offset, sizeOf(s.dims));
        data = new info.array(n);
        padBlocks(slot.dims, s.dims, (from, to, k) => data.set(all.subarray(to, to + k) as never, from));
      } else if (copy) data = data.slice();
      out[slot.name] = { dtype: slot.dtype, dims: [...slot.dims], data };
    }
    return out;
  };
  // after a run: the data-dependent dims its layers wrote (runtime/dims.ts SymbolInfo.layer), each
  // within its bounds (else the outputs' dims would reach past their slots), then the indices
  const finishRun = () => {
    syms?.forEach((s, k) => {
      if (s.at) return;
      const v = new Int32Array(memory.buffer, SYMBOLS_ADDR, 4)[k];
      if (v < s.min || v > s.max) throw new KilnError("INTERNAL", `layer ${s.layer} gave ${s.name} ${v}, outside its bounds`);
      symValues[k] = v;
    });
    checkIndices();
  };
  // an index out of range that a kernel met in this run (manifest.ts INDEX_ERROR): the run's outputs are not given
  const checkIndices = () => {
    const w = new Int32Array(memory.buffer, INDEX_ERROR, 3), l = manifest.layers[w[0] - 1], [, i, d] = w;
    if (!w[0]) return;
    w.fill(0);
    throw new KilnError("BAD_INPUT", `${l?.op === "TopK" ? `k=${i} is past` : `index ${i} is out of range for`} an axis of length ${d}`, { node: l?.name, op: l?.op });
  };
  const execute = (feeds: Feeds) => {
    write(feeds);
    try {
      if (scheduler.pending) runPlacing();
      else runAll();
    } catch (e) {
      if (e instanceof KilnError) throw e; // a damaged weights piece (runtime/schedule.ts)
      // a trap is a kiln bug (kernels never index outside their tensors): say so, typed
      throw new KilnError("INTERNAL", `the compiled model trapped: ${(e as Error).message}`);
    }
    finishRun();
  };
  // the loader says when every piece is in memory for good: the session then runs straight through
  const loaded = (all: boolean) => all && (scheduler.stream = undefined, scheduler.pending = false);
  // weights from an async source: the loader (runtime/sources.ts) runs the layers, each once its
  // pieces are in; runs queue behind one another (until every piece is in memory: then `run`)
  let queue: Promise<unknown> = Promise.resolve();
  const runLoading = async (feeds: Feeds) => {
    write(feeds);
    loaded(await scheduler.stream!.run(stepLayers)); // its errors are typed (a trap: INTERNAL)
    finishRun();
  };

  const session: Session = {
    manifest,
    inputs: manifest.inputs,
    outputs: manifest.outputs,
    async run(feeds) {
      if (scheduler.stream) {
        const p = queue.then(() => (scheduler.stream ? runLoading(feeds) : execute(feeds)));
        queue = p.catch(() => {});
        await p;
      } else execute(feeds);
      return read(true);
    },
    async runValues(feeds) {
      return groupOutputs(manifest, await session.run(feeds));
    },
    runInPlace(feeds) {
      execute(feeds);
      return read(false);
    },
    async profile(feeds) {
      write(feeds);
      const times: LayerTiming[] = [];
      for (const [k, l] of manifest.layers.entries()) {
        const p0 = performance.now();
        const placedBytes = scheduler.stream ? await scheduler.stream.load(k) : scheduler.placeLayer(k); // timed apart: ms is the layer's own run
        const t0 = performance.now();
        runLayers(k, k + 1);
        const ms = performance.now() - t0;
        times.push({ layer: l.name, op: l.op, kernel: l.kernel ?? "default", ms, placedBytes, placeMs: t0 - p0, ...(l.flops ? { flops: l.flops } : {}) });
      }
      if (scheduler.stream) loaded(await scheduler.stream.end());
      else scheduler.finish();
      finishRun();
      return times;
    },
    threads: threadCount,
    ...(pool ? { terminate: pool.close } : {}),
  };
  if (pool) th!.closeWhenCollected(session, pool);
  return session;
}

/**
 * runtime/threads.js, loaded only for a threaded module, through its URL: a bundle of the runtime
 * (a page's) does not carry it, and threads need the runtime's folder served anyway (the workers
 * start from thread-worker.js beside it, which imports it).
 */
const threadsModule = (): Promise<typeof import("./threads.js")> => import(/* @vite-ignore */ new URL("./threads.js", import.meta.url).href);

/**
 * Synchronous instantiation where the platform allows it: the async form waits for a task on a
 * busy platform (measured 100-400 ms idle on a loaded 2-core machine for a module that
 * instantiates in under 1 ms). A browser's main thread refuses it for big modules: then async.
 */
async function instantiate(mod: WebAssembly.Module, imports: WebAssembly.Imports, memoryBytes?: number): Promise<WebAssembly.Instance> {
  try {
    return new WebAssembly.Instance(mod, imports);
  } catch (e) {
    if (!(e instanceof WebAssembly.LinkError)) return WebAssembly.instantiate(mod, imports);
    // the memory made from the manifest's size is not the one the module declares, or it imports more
    throw new KilnError("INVALID_ARTIFACT", `the manifest's memory (${memoryBytes} bytes) does not link: ${e.message}`);
  }
}

function checkFrozen(f: FrozenInput, feed: TensorInput | TypedArray): void {
  const { data } = readFeed(f.name, feed);
  const got = Array.from(data as ArrayLike<number | bigint>, (x) => (typeof x === "bigint" ? x.toString() : x));
  const same = got.length === f.values.length && got.every((x, i) => String(x) === String(f.values[i]));
  if (!same) {
    throw new KilnError("BAD_INPUT", `input ${JSON.stringify(f.name)} was compiled in as [${f.values.join(",")}]; this module cannot run with [${got.slice(0, 16).join(",")}] (recompile, or use kiln.load, which recompiles per value)`);
  }
}

/** whether a run of `run` dims fills the first elements of a slot of `max` dims (the prefix form) */
const prefix = (run: readonly number[], max: readonly number[]) => {
  let k = run.length - 1;
  while (k > 0 && run[k] === max[k]) k--;
  return run.slice(0, k).every((d) => d === 1);
};

/** write a feed of the slot's (run) dims into its slot, laid out at `max` dims (symbolic dims: the upper bounds') */
function writeInput(memory: WebAssembly.Memory, slot: TensorSlot, feed: TensorInput | TypedArray, max = slot.dims, takes?: string): void {
  const info = dtype(slot.dtype);
  const { data, dims = slot.dims } = readFeed(slot.name, feed);
  const want = `${slot.dtype}[${slot.dims.join(",")}]`;
  if (dims.length !== slot.dims.length || dims.some((d, k) => d !== slot.dims[k])) {
    // symbolic dims: the dims this run's symbols (read from the other inputs) give
    throw new KilnError("BAD_INPUT", `input ${JSON.stringify(slot.name)} has dims [${dims.join(",")}] but the model ${takes ? `takes ${takes}, so ${want}` : `was compiled for ${want}`}`, { shapes: `got [${dims.join(",")}], want ${want}` });
  }
  // packed 4- and 2-bit types come as their bytes (runtime/lowbit.ts encodeElements makes them)
  const n = storageLength(slot.dtype, sizeOf(slot.dims));
  if (data.length !== n) {
    const unit = info.bits < 8 ? ` (bytes, ${8 / info.bits} values each)` : "";
    throw new KilnError("BAD_INPUT", `input ${JSON.stringify(slot.name)} has ${data.length} elements but ${want} needs ${n}${unit}`);
  }
  const view = new info.array(memory.buffer, slot.offset, prefix(slot.dims, max) ? n : sizeOf(max));
  let values: TypedArray;
  if (Array.isArray(data)) {
    // a plain array: numbers, integers for an integer dtype (a typed array would truncate silently)
    const k = info.float ? -1 : data.findIndex((x) => typeof x === "number" && !Number.isInteger(x));
    if (k >= 0) throw new KilnError("BAD_INPUT", `input ${JSON.stringify(slot.name)} is ${slot.dtype}, but data[${k}] is ${data[k]}, not an integer`);
    values = new info.array(data.length);
    values.set((info.big ? data.map((x) => BigInt(x)) : data.map(Number)) as never);
  } else if (!(data instanceof info.array)) {
    throw new KilnError("BAD_INPUT", `input ${JSON.stringify(slot.name)} must be ${slot.dtype} (a ${info.array.name}), got a ${(data as TypedArray).constructor.name}`);
  } else values = data;
  // the padded layout: row blocks at the slot's strides (one block, at its start, in the prefix form)
  if (view.length === n) view.set(values as never);
  else padBlocks(slot.dims, max, (from, to, k) => view.set(values.subarray(from, from + k) as never, to));
}
