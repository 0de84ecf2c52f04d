// Compiled modules cached per process, by (model hash, shapes, frozen values, compile options,
// kiln version): loading the same model again skips the compiler and WebAssembly.compile, and
// each load still gets its own instance (own memory). A few entries at most, least recently used
// dropped first: a module pins its weights image (setModuleCacheLimit changes how many).
import { splitWeights, type WeightsWriter } from "../../runtime/weights.js";
import type { StreamedWeights } from "../../runtime/schedule.js";
import { compileArtifact } from "../../runtime/session.js";
import { KILN_VERSION } from "../../codegen/module.js";
import { KilnError } from "../../runtime/errors.js";
import { hashBytes } from "../ir/hash.js";

export interface CachedModule {
  module: WebAssembly.Module;
  /** the weights to place at instantiation (the kiln.weights section's image, or a writer), if any; or a source to stream them from (a memory budget) */
  weights?: Uint8Array | WeightsWriter | StreamedWeights;
}

export const DEFAULT_CACHE_ENTRIES = 4;
let maxEntries = DEFAULT_CACHE_ENTRIES;

/** How many compiled modules the process keeps (default 4; 0 keeps none). Extra entries go now, oldest first. */
export function setModuleCacheLimit(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new KilnError("BAD_OPTION", `the module cache limit takes an integer >= 0, got ${String(n)}`);
  maxEntries = n;
  trim();
}

function trim(): void {
  while (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
}
const entries = new Map<string, Promise<CachedModule>>();
/** sketch keys of the models cached (or being stored), each settling once its full key is in `entries` */
const sketches = new Map<string, Promise<unknown>>();

/**
 * What identifies a compiled module. A full SHA-256 of 100 MB costs 60-400 ms, too much to pay
 * on every first load; so a cheap sketch (length and sampled bytes) says whether the cache could
 * hold the model at all, and only then is the full hash computed and compared.
 */
export interface CacheKey {
  sketch: string;
  full(): Promise<string>;
}

const SAMPLES = 4096;
function sketchOf(bytes: Uint8Array): string {
  return `${bytes.length}:${hashBytes(bytes, 0, SAMPLES).toString(16)}`;
}

/** A content hash of the model bytes (SHA-256, hex): node:crypto in Node (fast), WebCrypto elsewhere. */
export async function modelHash(bytes: Uint8Array): Promise<string> {
  if (typeof process !== "undefined" && process.versions?.node) {
    const { createHash } = await import("node:crypto");
    return createHash("sha256").update(bytes).digest("hex");
  }
  const digest = await globalThis.crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The key of a model compiled with the given shapes, frozen input values and options. */
export function cacheKey(model: Uint8Array, parts: { shapes?: unknown; frozen?: unknown; options?: unknown }): CacheKey {
  const rest = JSON.stringify([KILN_VERSION, parts.shapes ?? {}, parts.frozen ?? [], parts.options ?? {}]);
  let hash: Promise<string> | undefined;
  return { sketch: `${sketchOf(model)} ${rest}`, full: () => (hash ??= modelHash(model).then((h) => `${h} ${rest}`)) };
}

/** Compile a kiln .wasm to a module once; a trailing weights section is kept apart (compile sees only code). */
export async function compileModule(wasm: Uint8Array): Promise<CachedModule> {
  const { code, weights } = splitWeights(wasm);
  return { module: await compileArtifact(code), weights };
}

/** The cached module for key, built (and cached) on a miss; a failed build is not cached. */
export async function cachedModule(key: CacheKey | undefined, build: () => Promise<CachedModule>): Promise<CachedModule> {
  if (key === undefined) return build();
  const seen = sketches.get(key.sketch);
  if (seen) {
    await seen.catch(() => undefined);
    const full = await key.full();
    const hit = entries.get(full);
    if (hit) {
      entries.delete(full);
      entries.set(full, hit); // most recently used last
      return hit;
    }
  }
  const made = build();
  // stored under the full hash once the module exists, after this first load has returned
  const stored: Promise<void> = made.then(async () => {
    await new Promise((resolve) => setTimeout(resolve, 0));
    const full = await key.full();
    if (sketches.get(key.sketch) !== stored) return; // cleared meanwhile
    entries.set(full, made);
    trim();
  });
  sketches.set(key.sketch, stored);
  stored.catch(() => sketches.delete(key.sketch));
  return made;
}

/** Forget every cached module (tests; or to release their memory). */
export function clearModuleCache(): void {
  entries.clear();
  sketches.clear();
}

/** Settles once every module built so far is stored under its full key. */
export async function cacheStored(): Promise<void> {
  await Promise.allSettled(sketches.values());
}

export function moduleCacheSize(): number {
  return entries.size;
}
