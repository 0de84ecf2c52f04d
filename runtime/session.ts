// The thin runtime: instantiate a compiled kiln module, write inputs at their fixed offsets,
// run the layers, read outputs. Imports nothing from the compiler and never binaryen.
import { dtype, sizeOf, type DTypeName, type TypedArray } from "./dtypes.js";
import { KilnError, listed } from "./errors.js";
import { FORMAT_VERSION, MANIFEST_SECTION, RUN_LAYERS, type FrozenInput, type Manifest, type TensorSlot } from "./manifest.js";
import { RELAXED_FEATURE, relaxedSimdSupported, resolveSimd, type SimdChoice } from "./simd.js";
import { sections } from "./sections.js";
import { WeightScheduler, type WeightPlacement } from "./schedule.js";
import { splitWeights, weightsOf, type WeightsWriter } from "./weights.js";

export interface TensorInput {
  data: TypedArray | number[];
  dims?: readonly number[];
}

export interface Tensor {
  dtype: DTypeName;
  dims: number[];
  data: TypedArray;
}

export type Feeds = Record<string, TensorInput | TypedArray>;

export interface Session {
  readonly manifest: Manifest;
  readonly inputs: readonly TensorSlot[];
  readonly outputs: readonly TensorSlot[];
  run(feeds: Feeds): Promise<Record<string, Tensor>>;
  /**
   * Run, and return the outputs as views into the module's memory instead of copies: valid until
   * the next run (compile-time evaluation reads big folded weights this way, without a copy).
   */
  runInPlace(feeds: Feeds): Record<string, Tensor>;
  /** per-layer wall time of one run, in ms (slower than run: it calls each layer from JS) */
  /** one run, each layer timed on its own: its name, op, kernel variant and milliseconds */
  profile(feeds: Feeds): Promise<{ layer: string; op: string; kernel: string; ms: number }[]>;
}

export function readManifest(mod: WebAssembly.Module): Manifest {
  const sections = WebAssembly.Module.customSections(mod, MANIFEST_SECTION);
  if (sections.length !== 1) {
    throw new KilnError("INVALID_ARTIFACT", `this wasm module has no ${MANIFEST_SECTION} section; it was not produced by kiln compile`);
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(new TextDecoder().decode(sections[0]));
  } catch (e) {
    throw new KilnError("INVALID_ARTIFACT", `the ${MANIFEST_SECTION} section is not valid JSON: ${(e as Error).message}`);
  }
  if (manifest.format !== FORMAT_VERSION) {
    throw new KilnError("INVALID_ARTIFACT", `artifact format ${manifest.format} is not the format ${FORMAT_VERSION} this runtime reads; recompile the model with this kiln version`);
  }
  return manifest;
}

export async function compileArtifact(bytes: Uint8Array): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (e) {
    if (needsRelaxed(bytes) && !relaxedSimdSupported()) {
      throw new KilnError("UNSUPPORTED_OP", "this artifact was compiled for relaxed SIMD only (kiln compile --simd relaxed), which this engine does not run; compile it with --simd auto or baseline (Node 20 runs it under --experimental-wasm-relaxed-simd)");
    }
    throw new KilnError("INVALID_ARTIFACT", `not a valid WebAssembly module: ${(e as Error).message}`);
  }
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
  /** the weights image of a module compiled with weights "external" (see GenerateOptions), or its writer */
  weights?: Uint8Array | WeightsWriter;
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
}

export async function createSession(artifact: Uint8Array | WebAssembly.Module, options: SessionOptions = {}): Promise<Session> {
  let mod: WebAssembly.Module;
  let weights = options.weights;
  if (artifact instanceof WebAssembly.Module) {
    mod = artifact;
  } else {
    const split = splitWeights(artifact);
    const relaxed = split.relaxed && resolveSimd(options.simd, options.relaxedSupported) === "relaxed";
    // the relaxed build shares the artifact's weights image: same layout, only the code differs
    mod = await compileArtifact(relaxed ? split.relaxed! : split.code);
    weights ??= split.weights;
  }
  const manifest = readManifest(mod);
  if (manifest.memory.weights === "section") weights ??= weightsOf(mod);
  const instance = await instantiate(mod);
  const exports = instance.exports as Record<string, unknown>;
  const memory = exports.memory as WebAssembly.Memory;
  const scheduler = new WeightScheduler(memory, manifest, weights, options.placement);
  const runAll = exports.run as () => void;
  const runLayers = exports[RUN_LAYERS] as (from: number, to: number) => void;
  if (typeof runAll !== "function" || typeof runLayers !== "function") {
    throw new KilnError("INVALID_ARTIFACT", `this module does not export the functions run and ${RUN_LAYERS}; it was not produced by kiln compile, or is damaged`);
  }
  // the first run goes layer by layer, each layer's weights placed just before it: the layers
  // between two that read weights run in one call
  const runPlacing = () => {
    let from = 0;
    manifest.layers.forEach((l, k) => {
      if (!l.weights?.length) return;
      if (from < k) runLayers(from, k);
      scheduler.placeLayer(k);
      from = k;
    });
    runLayers(from, manifest.layers.length);
    scheduler.finish();
  };

  const write = (feeds: Feeds) => {
    const names = new Set(Object.keys(feeds));
    for (const slot of manifest.inputs) {
      const feed = feeds[slot.name];
      if (feed === undefined) {
        throw new KilnError("BAD_INPUT", `missing input ${JSON.stringify(slot.name)} (${slot.dtype}[${slot.dims.join(",")}]); the model takes ${listed(manifest.inputs.map((i) => JSON.stringify(i.name)))}`);
      }
      names.delete(slot.name);
      writeInput(memory, slot, feed);
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
    for (const slot of manifest.outputs) {
      const info = dtype(slot.dtype);
      const n = sizeOf(slot.dims);
      const view = new info.array(memory.buffer, slot.offset, n);
      out[slot.name] = { dtype: slot.dtype, dims: [...slot.dims], data: copy ? view.slice() : view };
    }
    return out;
  };
  const execute = (feeds: Feeds) => {
    write(feeds);
    try {
      if (scheduler.pending) runPlacing();
      else runAll();
    } catch (e) {
      // a trap is a kiln bug (kernels never index outside their tensors): say so, typed
      throw new KilnError("INTERNAL", `the compiled model trapped: ${(e as Error).message}`);
    }
  };

  return {
    manifest,
    inputs: manifest.inputs,
    outputs: manifest.outputs,
    async run(feeds) {
      execute(feeds);
      return read(true);
    },
    runInPlace(feeds) {
      execute(feeds);
      return read(false);
    },
    async profile(feeds) {
      write(feeds);
      const times = manifest.layers.map((l, k) => {
        scheduler.placeLayer(k); // not timed: the layer's own run is
        const t0 = performance.now();
        runLayers(k, k + 1);
        return { layer: l.name, op: l.op, kernel: l.kernel ?? "default", ms: performance.now() - t0 };
      });
      scheduler.finish();
      return times;
    },
  };
}

/**
 * Synchronous instantiation where the platform allows it: the async form waits for a task on a
 * busy platform (measured 100-400 ms idle on a loaded 2-core machine for a module that
 * instantiates in under 1 ms). A browser's main thread refuses it for big modules: then async.
 */
async function instantiate(mod: WebAssembly.Module): Promise<WebAssembly.Instance> {
  try {
    return new WebAssembly.Instance(mod, {});
  } catch {
    return WebAssembly.instantiate(mod, {});
  }
}

function checkFrozen(f: FrozenInput, feed: TensorInput | TypedArray): void {
  const data = ArrayBuffer.isView(feed) ? feed : feed.data;
  const got = Array.from(data as ArrayLike<number | bigint>, (x) => (typeof x === "bigint" ? x.toString() : x));
  const same = got.length === f.values.length && got.every((x, i) => String(x) === String(f.values[i]));
  if (!same) {
    throw new KilnError("BAD_INPUT", `input ${JSON.stringify(f.name)} was compiled in as [${f.values.join(",")}]; this module cannot run with [${got.slice(0, 16).join(",")}] (recompile, or use kiln.load, which recompiles per value)`);
  }
}

function writeInput(memory: WebAssembly.Memory, slot: TensorSlot, feed: TensorInput | TypedArray): void {
  const info = dtype(slot.dtype);
  const isView = ArrayBuffer.isView(feed);
  const data = isView ? (feed as TypedArray) : (feed as TensorInput).data;
  const dims = isView ? slot.dims : (feed as TensorInput).dims ?? slot.dims;
  const want = `${slot.dtype}[${slot.dims.join(",")}]`;
  if (dims.length !== slot.dims.length || dims.some((d, k) => d !== slot.dims[k])) {
    throw new KilnError("BAD_INPUT", `input ${JSON.stringify(slot.name)} has dims [${dims.join(",")}] but the model was compiled for ${want}`, { shapes: `got [${dims.join(",")}], want ${want}` });
  }
  const n = sizeOf(slot.dims);
  if (data.length !== n) {
    throw new KilnError("BAD_INPUT", `input ${JSON.stringify(slot.name)} has ${data.length} elements but ${want} needs ${n}`);
  }
  const view = new info.array(memory.buffer, slot.offset, n);
  if (Array.isArray(data)) {
    if (info.big) view.set(data.map((x) => BigInt(x)) as never);
    else view.set(data as never);
    return;
  }
  if (!(data instanceof info.array)) {
    throw new KilnError("BAD_INPUT", `input ${JSON.stringify(slot.name)} must be ${slot.dtype} (a ${info.array.name}), got a ${(data as TypedArray).constructor.name}`);
  }
  view.set(data as never);
}
