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

/** A sealed artifact (weights in its kiln.weights section) as code + manifest, and the image for the file `name`. */
export function splitSidecar(wasm: Uint8Array, manifest: Manifest, name: string): { wasm: Uint8Array; manifest: Manifest; weights: Uint8Array } {
  if (!/^[^/\\]+$/.test(name) || name === "." || name === "..") {
    throw new KilnError("BAD_OPTION", `option weightsFile takes a file name (no folder: the runtime looks beside the .wasm), got ${JSON.stringify(name)}`);
  }
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

/** The manifest a module carries, read from its sections without compiling it. */
function relaxedManifest(code: Uint8Array): Manifest {
  const s = sections(code).find((x) => x.name === MANIFEST_SECTION);
  if (!s) throw new KilnError("INTERNAL", "the relaxed-SIMD build carries no manifest");
  return JSON.parse(new TextDecoder().decode(code.subarray(s.payload, s.end))) as Manifest;
}
