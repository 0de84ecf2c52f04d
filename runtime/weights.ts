// Weights outside the code: a kiln module may carry its weights image in a custom section,
// kiln.weights, placed last. The runtime compiles only the bytes before it (WebAssembly.compile
// never scans megabytes of data it would only copy) and writes the image into memory with one
// set after instantiation. The file stays one valid wasm module: engines ignore custom sections.
// An artifact may also carry a relaxed-SIMD build of its code (kiln.code.relaxed) just before the
// weights: both builds share the one weights image (see compiler/driver/variants.ts).
import { RELAXED_CODE_SECTION, WEIGHTS_SECTION, type WeightRegion } from "./manifest.js";
import { customSectionHead, sections, type SectionSpan } from "./sections.js";

/**
 * Writes the weights straight from the tensors (no staging copy) into `into`, each piece at
 * at(its memory address): the identity to write into memory, or a position in an image. With
 * `only`, just the pieces that start inside that memory range (the layer scheduler's unit).
 */
export type WeightsWriter = (into: Uint8Array, at: (addr: number) => number, only?: WeightRegion) => void;

/** Map memory addresses inside the regions to positions in their concatenated image, from `base`. */
export function imagePosition(regions: readonly WeightRegion[], base: number): (addr: number) => number {
  const starts: number[] = [];
  regions.reduce((pos, r) => (starts.push(pos), pos + r.bytes), base);
  return (addr) => {
    const k = regions.findIndex((r) => addr >= r.offset && addr < r.offset + r.bytes);
    return starts[k] + addr - regions[k].offset;
  };
}

export const imageBytes = (regions: readonly WeightRegion[]) => regions.reduce((a, r) => a + r.bytes, 0);

/** Copy an image (regions concatenated) into memory. */
export function placeImage(memory: Uint8Array, regions: readonly WeightRegion[], image: Uint8Array): void {
  let pos = 0;
  for (const r of regions) {
    memory.set(image.subarray(pos, pos + r.bytes), r.offset);
    pos += r.bytes;
  }
}

/** wasm followed by the custom section kiln.weights holding the regions' image, filled by write. */
export function appendWeightsSection(wasm: Uint8Array, regions: readonly WeightRegion[], write: WeightsWriter): Uint8Array {
  const size = imageBytes(regions);
  const head = customSectionHead(WEIGHTS_SECTION, size);
  const out = new Uint8Array(wasm.length + head.length + size);
  out.set(wasm);
  out.set(head, wasm.length);
  write(out, imagePosition(regions, wasm.length + head.length));
  return out;
}

export interface SplitArtifact {
  /** the module to compile: everything before the trailing kiln sections */
  code: Uint8Array;
  /** the payload of a trailing kiln.weights section */
  weights?: Uint8Array;
  /** the payload of kiln.code.relaxed (last, or just before kiln.weights): the same model's code built for relaxed SIMD */
  relaxed?: Uint8Array;
}

/**
 * Split an artifact into its code and the trailing sections the runtime uses apart: the weights
 * image (always last) and the relaxed variant's code (before it). Only trailing ones count, so
 * the code to compile is one prefix of the bytes, never a copy.
 */
export function splitWeights(bytes: Uint8Array): SplitArtifact {
  let all: SectionSpan[];
  try {
    all = sections(bytes);
  } catch {
    return { code: bytes }; // not a well-formed module: WebAssembly.compile says what is wrong
  }
  // the payload of the last section when it is called name, which is then cut off
  const peel = (name: string) => {
    const s = all[all.length - 1];
    if (s?.name !== name) return undefined;
    all.pop();
    return bytes.subarray(s.payload, s.end);
  };
  const weights = peel(WEIGHTS_SECTION);
  const relaxed = peel(RELAXED_CODE_SECTION);
  return { code: bytes.subarray(0, all[all.length - 1]?.end ?? 8), weights, relaxed };
}

/** The weights image of an already compiled module (a copy, from its custom section). */
export function weightsOf(mod: WebAssembly.Module): Uint8Array | undefined {
  const s = WebAssembly.Module.customSections(mod, WEIGHTS_SECTION);
  return s.length ? new Uint8Array(s[0]) : undefined;
}
