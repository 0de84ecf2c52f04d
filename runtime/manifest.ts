// The manifest: everything the runtime needs to drive a compiled module. It travels inside the
// .wasm as the custom section "kiln.manifest" (UTF-8 JSON), followed by "kiln.manifest.checksum"
// (the kiln32 of those bytes, 8 hex digits). runtime/validate.ts checks both before anything runs.
import { checksum, hex } from "./checksum.js";
import type { DTypeName } from "./dtypes.js";
import type { DimExpr, SymbolInfo } from "./dims.js";

export const MANIFEST_SECTION = "kiln.manifest";
export const MANIFEST_CHECKSUM_SECTION = "kiln.manifest.checksum";
/**
 * 2: weights may live outside the data segments (memory.weights).
 * 3: every weights piece carries its checksum (WeightSpan), the manifest its own; layers[].weights
 *    and memory.unclaimed are always present.
 * 4: layers are not exported one by one: RUN_LAYERS runs a range of them (layers[].fn is gone)
 * 5: compact artifacts: layers[].derived, pieces the module computes (DERIVE) from placed weights;
 *    weights in a sidecar file (memory.sidecar) or streamed under a memory budget (memory.stream,
 *    spans [slot, bytes, checksum, position]; such artifacts carry no derived pieces); this runtime
 *    still reads format 4
 * 6: a one-thread module imports its memory (MEMORY_IMPORT) as a threaded one does, not shared:
 *    the runtime makes it, and touches its pages while the engine compiles the code; this runtime
 *    still reads formats 4 and 5 (modules that define their memory)
 */
export const FORMAT_VERSION = 6;
/**
 * The export that computes derived piece k (a compact artifact's kernel constant, from weights
 * already placed): derive(k); it returns how many there are (derive(-1) runs nothing).
 */
export const DERIVE = "derive";
/**
 * The export that runs layers [from, to) of manifest.layers in order: run_layers(from, to). The
 * module also exports `run` (every layer) and `memory`.
 */
export const RUN_LAYERS = "run_layers";
export const WEIGHTS_SECTION = "kiln.weights";
/**
 * A threaded module (manifest.threads, docs/THREADS.md) imports its memory, shared, as
 * THREADS_IMPORT and exports THREADS_EXPORT(tid, count, canWait), which sets the instance's thread
 * id and count and whether it may block in a wait (not on a browser's main thread).
 */
export const THREADS_EXPORT = "kiln_set_thread";
export const THREADS_IMPORT = { module: "env", name: "memory" } as const;
/** Where a one-thread module (format 6) imports its memory: the same name, not shared. */
export const MEMORY_IMPORT = THREADS_IMPORT;
/**
 * Control words of a threaded module, in the reserved bytes at the start of memory (no tensor lives
 * there): the barrier's arrivals and generation (the module's), then the runtime's command to the
 * workers (a sequence number they wait on, the layer range, and a stop flag), and a failed flag: a
 * thread that trapped sets it, and every thread waiting in a barrier then traps too, so no thread
 * waits forever for one that will not come.
 */
export const THREAD_CONTROL = { arrived: 16, generation: 20, seq: 24, from: 28, to: 32, stop: 36, failed: 40 } as const;
/**
 * Where a kernel reports an index out of range (Gather, GatherElements, GatherND, ScatterND,
 * ScatterElements: ONNX makes it an error), in the reserved bytes before the thread control words:
 * the layer's place in manifest.layers plus 1, the index (saturated to i32) and the axis's length,
 * as i32s; the first bad index of a run is kept. The runtime reads them after a run and throws
 * BAD_INPUT (0: none). The kernel reads zeros or skips the update meanwhile, inside the tensors.
 */
export const INDEX_ERROR = 4;
/** a whole second module, the relaxed-SIMD build of the same model (same memory layout, no weights) */
export const RELAXED_CODE_SECTION = "kiln.code.relaxed";

/**
 * "data": an active data segment; "section": the custom section kiln.weights, the module's last
 * section, copied to weightsOffset by the runtime; "external": handed to createSession beside the module.
 */
export type WeightsPlacement = "data" | "section" | "external";

export interface TensorSlot {
  name: string;
  dtype: DTypeName;
  dims: number[];
  /** byte offset in linear memory */
  offset: number;
  /** with manifest.symbols: each dim's expression (runtime/dims.ts); `dims` are the upper bounds' */
  expr?: DimExpr[];
}

/**
 * A graph input or output of sequence or optional type. kiln resolves sequences at compile time,
 * so the module has tensor slots for the elements: `items` names them in order (a sequence), or
 * is null (an optional that holds nothing, which the module neither takes nor gives). An optional
 * that holds a tensor is that tensor's slot, under the optional's name, and is not listed here.
 */
export interface ContainerSlot {
  name: string;
  items: string[] | null;
}

export interface LayerInfo {
  /** node name */
  name: string;
  op: string;
  /** the kernel variant that runs it (codegen/kernels/: "winograd-f4x4", "im2col-gemm", "default" ...) */
  kernel?: string;
  /**
   * the pieces of the weights image this layer reads: the layer scheduler (runtime/schedule.ts)
   * places them just before the layer first runs, and checks each one's checksum
   */
  weights: WeightSpan[];
  /**
   * kernels' constants this layer reads that the artifact does not store (a compact artifact,
   * codegen/derive.ts): the scheduler runs DERIVE(fn) once this layer's weights are placed, then
   * checks the checksum of what it wrote
   */
  derived?: DerivedSpan[];
  /**
   * arithmetic of one run of the layer (a multiply-add counts 2), where kiln counts it:
   * contractions (Conv, ConvTranspose, Gemm, MatMul) and elementwise ops; absent for data movement
   */
  flops?: number;
  /** in a threaded module: the layer's work is split among the threads (else thread 0 runs it alone) */
  split?: boolean;
}

/**
 * One piece of the weights image (a tensor or a kernel's packed constant): its memory offset, its
 * size, and the kiln32 (runtime/checksum.ts) of its bytes. The checksum is there whenever the
 * image left the compiler's hands (memory.weights "section" or "data", and an "external" image cut
 * from an artifact); a module whose weights the compiler writes straight from its tensors in the
 * same process (load()'s JIT) has none.
 */
export type WeightSpan = [offset: number, bytes: number, checksum?: number | null, position?: number];

/** A piece the module derives: its memory offset, size, the kiln32 of its bytes, and its DERIVE index. */
export type DerivedSpan = [offset: number, bytes: number, checksum: number, fn: number];

/** A graph input compiled in as a constant: feeding it is optional, feeding another value is an error. */
export interface FrozenInput {
  name: string;
  dtype: DTypeName;
  dims: number[];
  /** the values (64-bit integers as decimal strings) */
  values: (number | string)[];
}

/**
 * What the ONNX model says about itself, carried so that tools (typed bindings, kiln inspect) can
 * show it: all optional, all text.
 */
export interface ModelInfo {
  /** the model's doc_string (else its graph's) */
  doc?: string;
  /** the graph's name */
  name?: string;
  /** producer_name and producer_version, e.g. "pytorch 2.3" */
  producer?: string;
  domain?: string;
  version?: number;
  /** metadata_props */
  metadata?: Record<string, string>;
  /** each graph input's dims as the ONNX model declares them: a string names a symbolic dim, bound at compile time */
  declared?: Record<string, (number | string)[]>;
  /** the doc_string of each graph input and output that has one */
  docs?: Record<string, string>;
}

export interface WeightRegion {
  offset: number;
  bytes: number;
}

export interface Manifest {
  format: number;
  kiln: string;
  inputs: TensorSlot[];
  outputs: TensorSlot[];
  frozen: FrozenInput[];
  /** inputs and outputs of sequence or optional type (absent: none) */
  containers?: { inputs: ContainerSlot[]; outputs: ContainerSlot[] };
  layers: LayerInfo[];
  memory: {
    bytes: number;
    weightsOffset: number;
    /** the model's own constants, at weightsOffset */
    weightsBytes: number;
    weights: WeightsPlacement;
    /** what the weights image fills: model weights, then kernels' packed constants; the image is these concatenated */
    regions: WeightRegion[];
    /** the pieces no layer reads (constant graph outputs), placed after the first run's layers */
    unclaimed: WeightSpan[];
    /**
     * weights "external" in a file beside the .wasm (kiln compile --weights m.bin): its name (a
     * file name, no folder: kiln run looks beside the .wasm) and size, the image's; its pieces'
     * checksums are in layers[].weights
     */
    sidecar?: { name: string; bytes: number };
    /**
     * weights streamed under a memory budget (compile --memory-budget, codegen/stream.ts): each
     * layer's weights spans are the pieces it is the first to read, at their slots in the ring
     * (regions[0]) with their positions in the stream image ([slot, bytes, checksum, position]),
     * read before the layer on every run; the next reading layer's are read while one runs, except
     * for the layers listed in `wait` (read after the layers before them ran). `bytes`: the stream
     * image's size; `budget`: the budget compiled for.
     */
    stream?: { budget: number; bytes: number; wait: number[] };
  };
  /** what the ONNX model says about itself (doc_string, metadata, declared input dims); absent for graphs not read from ONNX */
  model?: ModelInfo;
  /** wasm features beyond the MVP the module needs: "simd128", plus "relaxed_simd" (runtime/simd.ts) for a relaxed build */
  features: string[];
  /** a threaded module (docs/THREADS.md): it runs on up to `max` threads over one shared memory */
  threads?: { max: number };
  /** symbolic dims compiled once (runtime/dims.ts): their bounds, in the order slots' expressions name them */
  symbols?: SymbolInfo[];
}

/** The payloads of the sections kiln.manifest and kiln.manifest.checksum for a manifest. */
export function manifestSections(manifest: Manifest): { manifest: Uint8Array; checksum: Uint8Array } {
  const bytes = new TextEncoder().encode(JSON.stringify(manifest));
  return { manifest: bytes, checksum: new TextEncoder().encode(hex(checksum(bytes))) };
}
