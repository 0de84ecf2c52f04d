// kiln: the compiler API. The runtime alone is in kiln/runtime.
export { compile, load, type CompileResult, type LoadOptions, type LoadLimits, type Model } from "./driver/api.js";
export { setModuleCacheLimit } from "./driver/cache.js";
export type { Limits } from "../runtime/limits.js";
export { compileOnnx, compileGraph, importOnnx, prepareGraph, type CompileOptions, type CompiledModel } from "./driver/compile.js";
export { KilnError, isKilnError, type KilnErrorCode } from "../runtime/errors.js";
export { createSession, type Session, type Tensor, type Feeds } from "../runtime/session.js";
export type { Manifest } from "../runtime/manifest.js";
export { Graph } from "./ir/graph.js";
export { printGraph } from "./ir/print.js";
export { parseGraph } from "./ir/parse.js";
export { verifyGraph } from "./ir/verify.js";
