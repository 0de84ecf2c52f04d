// Limits an embedder sets on what a model may take (load, compile and createSession take
// `limits`). A model over a limit is refused with a typed error before the memory is allocated:
// a 105-byte model can ask for a 3 GB tensor, and a service loading users' models must be able
// to say no before its process grows by that much.
import { KilnError } from "./errors.js";
import { rules, type OptionRules } from "./options.js";

export interface Limits {
  /**
   * The most linear memory, in bytes, a model may plan (its weights, activations, inputs and
   * outputs, kernels' constants and scratch). Default: wasm32's 4 GiB.
   */
  maxMemoryBytes?: number;
}

export const LIMIT_RULES: OptionRules = { maxMemoryBytes: rules.int(1) };

const mb = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${n} bytes`);

/**
 * Refuses `bytes` of planned memory over limits.maxMemoryBytes. `detail` says where the number
 * comes from ("value \"big\" alone needs ..."). UNSUPPORTED_OP, like the 4 GiB wasm32 ceiling: the
 * model is valid, this configuration does not run it.
 */
export function checkMemory(bytes: number, limits: Limits | undefined, detail = ""): void {
  const max = limits?.maxMemoryBytes;
  if (max === undefined || bytes <= max) return;
  throw new KilnError("UNSUPPORTED_OP", `the model needs ${mb(bytes)} of linear memory${detail ? ` (${detail})` : ""}, more than limits.maxMemoryBytes = ${mb(max)}; raise the limit or give smaller input shapes`);
}
