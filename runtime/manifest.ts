// The manifest: everything the runtime needs to drive a compiled module. It travels inside the
// .wasm as the custom section "kiln.manifest" (UTF-8 JSON).
import type { DTypeName } from "./dtypes.js";

export const MANIFEST_SECTION = "kiln.manifest";
/**
 * 2: weights may live outside the data segments (memory.weights)
 * 3: layers are not exported one by one: RUN_LAYERS runs a range of them
 */
export const FORMAT_VERSION = 3;
/**
 * The export that runs layers [from, to) of manifest.layers in order: run_layers(from, to). The
 * module also exports `run` (every layer) and `memory`.
 */
export const RUN_LAYERS = "run_layers";
export const WEIGHTS_SECTION = "kiln.weights";
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
}

export interface LayerInfo {
  /** node name */
  name: string;
  op: string;
  /** the kernel variant that runs it (codegen/kernels/: "winograd-f4x4", "im2col-gemm", "default" ...) */
  kernel?: string;
  /**
   * the pieces of the weights image this layer reads, each [memory offset, bytes]: the layer
   * scheduler (runtime/schedule.ts) places them just before the layer first runs
   */
  weights?: WeightSpan[];
}

/** [memory offset, bytes] of one piece of the weights image (a tensor or a kernel's packed constant) */
export type WeightSpan = [number, number];

/** A graph input compiled in as a constant: feeding it is optional, feeding another value is an error. */
export interface FrozenInput {
  name: string;
  dtype: DTypeName;
  dims: number[];
  /** the values (64-bit integers as decimal strings) */
  values: (number | string)[];
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
  layers: LayerInfo[];
  memory: {
    bytes: number;
    weightsOffset: number;
    /** the model's own constants, at weightsOffset */
    weightsBytes: number;
    weights: WeightsPlacement;
    /** what the weights image fills: model weights, then kernels' packed constants; the image is these concatenated */
    regions: WeightRegion[];
    /**
     * the pieces no layer reads (constant graph outputs), placed after the first run's layers;
     * present when every layer lists its weights, which is what lets the scheduler place them lazily
     */
    unclaimed?: WeightSpan[];
  };
  /** wasm features beyond the MVP the module needs: "simd128", plus "relaxed_simd" (runtime/simd.ts) for a relaxed build */
  features: string[];
}
