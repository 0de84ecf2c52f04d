// Sidecar weights (kiln compile m.onnx -o m.wasm --weights m.bin): the artifact's code and
// manifest in the .wasm, its weights image in a file beside it. The .wasm is then small (code
// alone: it downloads and compiles at once) and the weights are read as the first run reaches
// each layer (runtime/sources.ts). The image is the kiln.weights payload as it was, byte for byte,
// so each piece keeps its checksum; the manifest says "external" and names the file and its size.
import { KilnError } from "../../runtime/errors.js";
import { MANIFEST_CHECKSUM_SECTION, MANIFEST_SECTION, RELAXED_CODE_SECTION, type Manifest } from "../../runtime/manifest.js";
import { appendCustomSection, sections, withoutSections } from "../../runtime/sections.js";
import { splitWeights } from "../../runtime/weights.js";
import { appendManifest } from "../../codegen/artifact.js";
import type { StreamImage } from "../../codegen/stream.js";
import { streamed, type WeightsSource } from "../../runtime/sources.js";

/** A sealed artifact (weights in its kiln.weights section) as code + manifest, and the image for the file `name`. */
export function splitSidecar(wasm: Uint8Array, manifest: Manifest, name: string): { wasm: Uint8Array; manifest: Manifest; weights: Uint8Array } {
  checkName(name);
  const split = splitWeights(wasm);
  const weights = split.weights ?? new Uint8Array(0);
  const sidecar = { name, bytes: weights.length };
  // both builds carry the same memory layout; each module's own manifest is rewritten
  const rewrite = (code: Uint8Array, m: Manifest) => appendManifest(withoutSections(code, [MANIFEST_SECTION, MANIFEST_CHECKSUM_SECTION]), { ...m, memory: { ...m.memory, weights: "external", sidecar } });
  const moved: Manifest = { ...manifest, memory: { ...manifest.memory, weights: "external", sidecar } };
  let out = rewrite(split.code, manifest);
  if (split.relaxed) out = appendCustomSection(out, RELAXED_CODE_SECTION, rewrite(split.relaxed, relaxedManifest(split.relaxed)));
  return { wasm: out, manifest: moved, weights };
}

/**
 * A module generated under a memory budget (weights "external", memory.stream) and its stream
 * image as a sidecar file `name`: the manifest names it; the image is written out here, piece by piece.
 */
export function streamSidecar(wasm: Uint8Array, manifest: Manifest, stream: StreamImage, name: string): { wasm: Uint8Array; manifest: Manifest; stream: StreamImage } {
  checkName(name);
  const moved: Manifest = { ...manifest, memory: { ...manifest.memory, sidecar: { name, bytes: stream.bytes } } };
  return { wasm: appendManifest(withoutSections(wasm, [MANIFEST_SECTION, MANIFEST_CHECKSUM_SECTION]), moved), manifest: moved, stream };
}

/** The stream image in one array (for callers that want bytes; a file is written piece by piece: writeStreamFile). */
export function streamBytes(stream: StreamImage): Uint8Array {
  const weights = new Uint8Array(stream.bytes);
  for (const p of stream.pieces) p.write(weights.subarray(p.position, p.position + p.size));
  return weights;
}

/** Node: the stream image written to `file` piece by piece, never whole in memory (weights past 4 GiB). */
export async function writeStreamFile(file: string, stream: StreamImage): Promise<void> {
  const fs = await import("node:fs");
  const fd = fs.openSync(file, "w");
  try {
    for (const p of [...stream.pieces].sort((a, b) => a.position - b.position)) {
      const bytes = new Uint8Array(p.size);
      p.write(bytes);
      for (let done = 0; done < p.size;) done += fs.writeSync(fd, bytes, done, p.size - done, p.position + done);
    }
  } finally {
    fs.closeSync(fd);
  }
}

function checkName(name: string): void {
  if (!/^[^/\\]+$/.test(name) || name === "." || name === "..") {
    throw new KilnError("BAD_OPTION", `option weightsFile takes a file name (no folder: the runtime looks beside the .wasm), got ${JSON.stringify(name)}`);
  }
}

/**
 * The stream image of a module generated in this process, as a source: each piece written from
 * the tensors when the runtime reads it (at its position), never the whole image at once.
 */
export function streamSource(stream: StreamImage): WeightsSource {
  const byPosition = [...stream.pieces].sort((a, b) => a.position - b.position);
  return streamed({
    size: stream.bytes,
    async read(position, into) {
      let lo = 0, hi = byPosition.length; // the first piece ending after position
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (byPosition[mid].position + byPosition[mid].size <= position) lo = mid + 1;
        else hi = mid;
      }
      let done = 0;
      for (let k = lo; k < byPosition.length && done < into.length; k++) {
        const p = byPosition[k];
        const skip = position + done - p.position, n = Math.min(p.size - skip, into.length - done);
        if (skip === 0 && n === p.size) p.write(into.subarray(done, done + n)); // the loader reads whole pieces
        else {
          const whole = new Uint8Array(p.size);
          p.write(whole);
          into.set(whole.subarray(skip, skip + n), done);
        }
        done += n;
      }
      return done;
    },
  });
}

/** The manifest a module carries, read from its sections without compiling it. */
function relaxedManifest(code: Uint8Array): Manifest {
  const s = sections(code).find((x) => x.name === MANIFEST_SECTION);
  if (!s) throw new KilnError("INTERNAL", "the relaxed-SIMD build carries no manifest");
  return JSON.parse(new TextDecoder().decode(code.subarray(s.payload, s.end))) as Manifest;
}
