// Which SIMD level the engine runs. kiln modules always need SIMD128; the relaxed variant adds
// f32x4.relaxed_madd (a fused multiply-add where the CPU has one), which engines gate: Node 20
// validates it only under --experimental-wasm-relaxed-simd, Chrome 114+ and Firefox 120+ do.
import { KilnError } from "./errors.js";

/** The codegen target of a module: SIMD128 only, or SIMD128 plus relaxed SIMD. */
export type SimdLevel = "baseline" | "relaxed";
/** What a caller asks for: a level, or "auto" = relaxed when the engine validates it. */
export type SimdChoice = SimdLevel | "auto";

/** The manifest's features entry of a relaxed module (manifest.features). */
export const RELAXED_FEATURE = "relaxed_simd";

/** (func (param v128) (result v128) local.get 0 local.get 0 local.get 0 f32x4.relaxed_madd) */
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x06, 0x01, 0x60, 0x01, 0x7b, 0x01, 0x7b, // type section: (v128) -> v128
  0x03, 0x02, 0x01, 0x00, // function section
  0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x00, 0x20, 0x00, 0xfd, 0x85, 0x02, 0x0b, // code
]);

let cached: boolean | undefined;

/**
 * Whether this engine validates f32x4.relaxed_madd (cached: an engine's features do not change
 * within a process, except when a V8 flag is set at run time, which `refresh` is for).
 */
export function relaxedSimdSupported(refresh = false): boolean {
  if (cached === undefined || refresh) cached = WebAssembly.validate(RELAXED_PROBE);
  return cached;
}

/** The level a choice means on this engine; asking for relaxed where the engine lacks it is a typed error. */
export function resolveSimd(choice: SimdChoice = "auto", supported: () => boolean = relaxedSimdSupported): SimdLevel {
  if (choice === "baseline") return "baseline";
  if (choice === "auto") return supported() ? "relaxed" : "baseline";
  if (choice !== "relaxed") throw new KilnError("BAD_OPTION", `simd must be "auto", "baseline" or "relaxed", got ${JSON.stringify(choice)}`);
  if (!supported()) {
    throw new KilnError("UNSUPPORTED_OP", `this engine does not run relaxed SIMD (f32x4.relaxed_madd); Node 20 needs --experimental-wasm-relaxed-simd. Use simd "auto" or "baseline"`);
  }
  return "relaxed";
}
