// kiln/runtime: everything needed to run a compiled .wasm, and nothing of the compiler.
export { createSession, readManifest, type Session, type SessionOptions, type Tensor, type TensorInput, type Feeds } from "./session.js";
export type { WeightPlacement } from "./schedule.js";
export { relaxedSimdSupported, type SimdChoice, type SimdLevel } from "./simd.js";
export { KilnError, isKilnError, type KilnErrorCode } from "./errors.js";
export type { Limits } from "./limits.js";
export type { Manifest, TensorSlot, LayerInfo } from "./manifest.js";
export { dtype, sizeOf, storageLength, type DTypeName, type TypedArray } from "./dtypes.js";
export { decodeElements, encodeElements, type EncodeOptions } from "./lowbit.js";
