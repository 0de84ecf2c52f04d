// The sections that make a wasm module a kiln artifact: the manifest with its checksum section
// after the code (runtime/manifest.ts), and a weights image sealed with a checksum per piece.
import { MANIFEST_CHECKSUM_SECTION, MANIFEST_SECTION, WEIGHTS_SECTION, manifestSections, type Manifest, type WeightSpan } from "../runtime/manifest.js";
import { appendCustomSection, withoutSections } from "../runtime/sections.js";
import type { WeightsWriter } from "../runtime/weights.js";
import { sealImage } from "./weights-image.js";

/** code followed by the sections kiln.manifest and kiln.manifest.checksum. */
export function appendManifest(code: Uint8Array, manifest: Manifest): Uint8Array {
  const s = manifestSections(manifest);
  return appendCustomSection(appendCustomSection(code, MANIFEST_SECTION, s.manifest), MANIFEST_CHECKSUM_SECTION, s.checksum);
}

/**
 * A module generated with weights "external" (the JIT's, whose weights the compiler writes from
 * its tensors) as a self-contained artifact: the image written into a kiln.weights section, and
 * the manifest rewritten to say so and to carry each piece's checksum. The on-disk cache stores this.
 */
export function sealArtifact(gen: { wasm: Uint8Array; manifest: Manifest; weights?: WeightsWriter }): Uint8Array {
  if (!gen.weights) return gen.wasm; // "section" or "data": sealed when generated
  const { memory, layers } = gen.manifest;
  const spans = [...layers.flatMap((l) => l.weights), ...memory.unclaimed];
  const { image, checksums } = sealImage(memory.regions, gen.weights, spans.map(([addr, size]) => ({ addr, size })));
  const seal = (w: WeightSpan): WeightSpan => [w[0], w[1], checksums.get(w[0])!];
  const manifest: Manifest = {
    ...gen.manifest,
    layers: layers.map((l) => ({ ...l, weights: l.weights.map(seal) })),
    memory: { ...memory, weights: "section", unclaimed: memory.unclaimed.map(seal) },
  };
  const code = appendManifest(withoutSections(gen.wasm, [MANIFEST_SECTION, MANIFEST_CHECKSUM_SECTION]), manifest);
  return appendCustomSection(code, WEIGHTS_SECTION, image);
}
