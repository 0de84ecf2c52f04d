// kiln32, the checksum an artifact carries for each piece of its weights image and for its
// manifest: the runtime checks each piece in memory just after copying it there, so a damaged
// artifact (flipped bytes on disk, a truncated download) fails with INVALID_ARTIFACT instead of
// answering wrong. The threat is corruption, not a forger (an artifact is code and can do anything).
// The hash runs in wasm SIMD (runtime/checksum.wat, 16 lanes of xxHash32's round): 76 MB (light
// ResNet-50's image) hash in 4-8 ms, where the same function as a JavaScript loop takes 32-50 ms.

/** runtime/checksum.wat assembled (binaryen's wasm-as); test/integrity.test.ts checks they agree. */
const HASH_WASM = "AGFzbQEAAAABCAFgA39/fwF/Ag8BA2VudgZtZW1vcnkCAAADAgEABwgBBGhhc2gAAAroBwHlBwICfwh7/QyxeTeesXk3nrF5N56xeTeeIQr9DHfK64V3yuuFd8rrhXfK64UhCyAC/REhDCAM/QyxeTeeYvNuPBNtptrE5t14/a4BIQUgDP0MdWAVFybaTLXXU4RTiM278f2uASEGIAz9DDlH84/qwCoumzpizEy0mWr9rgEhByAM/Qz9LdEIrqcIp18hQEUQm3fj/a4BIQggACABaiEDAkADQCADIABrQcAASQ0BIAUgAP0AAAAgC/21Af2uASEJIAlBDf2rASAJQRP9rQH9UCAK/bUBIQUgBiAA/QAAECAL/bUB/a4BIQkgCUEN/asBIAlBE/2tAf1QIAr9tQEhBiAHIAD9AAAgIAv9tQH9rgEhCSAJQQ39qwEgCUET/a0B/VAgCv21ASEHIAggAP0AADAgC/21Af2uASEJIAlBDf2rASAJQRP9rQH9UCAK/bUBIQggAEHAAGohAAwACwALAkADQCADIABrQRBJDQEgBSAA/QAAACAL/bUB/a4BIQkgCUEN/asBIAlBE/2tAf1QIAr9tQEhBSAAQRBqIQAMAAsACyACIAFqQbHP2bIBaiEEIAX9DD2ussI9rrLCPa6ywj2ussL9tQEhCSAEIAn9GwBqQRF3Qa/W074CbCEEIAQgCf0bAWpBEXdBr9bTvgJsIQQgBCAJ/RsCakERd0Gv1tO+AmwhBCAEIAn9GwNqQRF3Qa/W074CbCEEIAb9DD2ussI9rrLCPa6ywj2ussL9tQEhCSAEIAn9GwBqQRF3Qa/W074CbCEEIAQgCf0bAWpBEXdBr9bTvgJsIQQgBCAJ/RsCakERd0Gv1tO+AmwhBCAEIAn9GwNqQRF3Qa/W074CbCEEIAf9DD2ussI9rrLCPa6ywj2ussL9tQEhCSAEIAn9GwBqQRF3Qa/W074CbCEEIAQgCf0bAWpBEXdBr9bTvgJsIQQgBCAJ/RsCakERd0Gv1tO+AmwhBCAEIAn9GwNqQRF3Qa/W074CbCEEIAj9DD2ussI9rrLCPa6ywj2ussL9tQEhCSAEIAn9GwBqQRF3Qa/W074CbCEEIAQgCf0bAWpBEXdBr9bTvgJsIQQgBCAJ/RsCakERd0Gv1tO+AmwhBCAEIAn9GwNqQRF3Qa/W074CbCEEAkADQCADIABrQQRJDQEgBCAAKAAAQb3cypV8bGpBEXdBr9bTvgJsIQQgAEEEaiEADAALAAsCQANAIAAgA0YNASAEIAAtAABBsc/ZsgFsakELd0Gx893xeWwhBCAAQQFqIQAMAAsACyAEIARBD3ZzQfeUr694bCEEIAQgBEENdnNBvdzKlXxsIQQgBCAEQRB2cws=";

export const HASH_WASM_BYTES = (): Uint8Array => Uint8Array.from(atob(HASH_WASM), (c) => c.charCodeAt(0));

let compiled: WebAssembly.Module | undefined;

/**
 * The hash module compiled ahead, for hosts that refuse to compile wasm from bytes at run time
 * (Cloudflare Workers take wasm only as uploaded modules: kiln pack --target worker ships
 * checksum.wasm, HASH_WASM_BYTES as a file, and hands it here before the first session).
 */
export function provideHashModule(mod: WebAssembly.Module): void {
  compiled = mod;
}

/** kiln32 of memory[offset, offset + bytes), computed in place (the hash module imports the memory; it never writes). */
export type MemoryHash = (offset: number, bytes: number) => number;

let compiledShared: WebAssembly.Module | undefined;

/**
 * The hash module for shared memories (threaded sessions, docs/THREADS.md), which runtime/threads.ts
 * makes and hands here when it loads: the runtime's bundle stays without it.
 */
export function provideSharedHashModule(mod: WebAssembly.Module): void {
  compiledShared ??= mod;
}

// by its tag: a page without cross-origin isolation hides the SharedArrayBuffer global, yet a
// shared WebAssembly.Memory (a threaded module on one thread there) still has one
const isShared = (memory: WebAssembly.Memory) => Object.prototype.toString.call(memory.buffer) === "[object SharedArrayBuffer]";

export function memoryHash(memory: WebAssembly.Memory): MemoryHash {
  const mod = isShared(memory) ? compiledShared! : (compiled ??= new WebAssembly.Module(HASH_WASM_BYTES() as Uint8Array<ArrayBuffer>));
  const hash = new WebAssembly.Instance(mod, { env: { memory } }).exports.hash as (p: number, n: number, seed: number) => number;
  return (offset, bytes) => hash(offset, bytes, 0) >>> 0;
}

/** kiln32 of each array (copied, one after the other, into a scratch memory the size of the largest). */
export function checksums(parts: readonly Uint8Array[]): number[] {
  const largest = parts.reduce((a, p) => Math.max(a, p.length), 0);
  const memory = new WebAssembly.Memory({ initial: Math.ceil(largest / 65536) });
  const hash = memoryHash(memory);
  const into = new Uint8Array(memory.buffer);
  return parts.map((p) => {
    into.set(p);
    return hash(0, p.length);
  });
}

export const checksum = (bytes: Uint8Array): number => checksums([bytes])[0];

/** A checksum as the manifest and messages show it: 8 hex digits. */
export const hex = (sum: number): string => sum.toString(16).padStart(8, "0");
