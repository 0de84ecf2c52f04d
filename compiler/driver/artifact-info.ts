// What a kiln artifact holds, read from its bytes without compiling or running it: the manifest
// (checked as the runtime checks it) and the size of each part. kiln inspect model.wasm shows it;
// typed bindings and packages are generated from it.
import { KilnError } from "../../runtime/errors.js";
import { formatDim, symbolRange } from "../../runtime/dims.js";
import { MANIFEST_CHECKSUM_SECTION, MANIFEST_SECTION, RELAXED_CODE_SECTION, WEIGHTS_SECTION, type Manifest } from "../../runtime/manifest.js";
import { sections } from "../../runtime/sections.js";
import { notWasmReason } from "../../runtime/session.js";
import { parseManifest } from "../../runtime/validate.js";

export interface ArtifactSizes {
  /** the whole file */
  total: number;
  /** the baseline build's code (everything but the kiln sections) */
  code: number;
  /** the relaxed-SIMD build's code (kiln.code.relaxed), when the artifact carries one */
  relaxedCode?: number;
  /** the weights image (kiln.weights) */
  weights: number;
  /** the manifest's JSON */
  manifest: number;
}

export interface ArtifactInfo {
  manifest: Manifest;
  sizes: ArtifactSizes;
}

const KILN_SECTIONS = [MANIFEST_SECTION, MANIFEST_CHECKSUM_SECTION, RELAXED_CODE_SECTION, WEIGHTS_SECTION];

export function readArtifact(bytes: Uint8Array): ArtifactInfo {
  const notWasm = notWasmReason(bytes);
  if (notWasm) throw new KilnError("INVALID_ARTIFACT", `not a WebAssembly module: ${notWasm}; pass a .wasm written by kiln compile`);
  const all = sections(bytes);
  const payloads = (name: string) => all.filter((s) => s.name === name).map((s) => bytes.slice(s.payload, s.end).buffer);
  const manifest = parseManifest(payloads(MANIFEST_SECTION), payloads(MANIFEST_CHECKSUM_SECTION));
  const size = (name: string) => all.filter((s) => s.name === name).reduce((a, s) => a + s.end - s.start, 0);
  const relaxed = all.find((s) => s.name === RELAXED_CODE_SECTION);
  const kilnBytes = KILN_SECTIONS.reduce((a, n) => a + size(n), 0);
  return {
    manifest,
    sizes: {
      total: bytes.length,
      code: bytes.length - kilnBytes,
      ...(relaxed ? { relaxedCode: relaxed.end - relaxed.payload } : {}),
      weights: all.filter((s) => s.name === WEIGHTS_SECTION).reduce((a, s) => a + s.end - s.payload, 0),
      manifest: all.filter((s) => s.name === MANIFEST_SECTION).reduce((a, s) => a + s.end - s.payload, 0),
    },
  };
}

/** The manifest of an artifact's bytes (async: the same signature as a reader that compiles). */
export async function readArtifactManifest(bytes: Uint8Array): Promise<Manifest> {
  return readArtifact(bytes).manifest;
}

const kb = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} KB` : `${n} B`);
const dims = (d: readonly number[]) => `[${d.join(",")}]`;

/** kiln inspect model.wasm, as text: inputs, outputs, sizes, features, then one line per layer. */
export function formatArtifact(info: ArtifactInfo, file: string): string {
  const { manifest: m, sizes } = info;
  const lines: string[] = [];
  const model = m.model;
  lines.push(`${file}: kiln artifact (format ${m.format}, kiln ${m.kiln})${model?.name ? `, model ${JSON.stringify(model.name)}` : ""}${model?.producer ? ` from ${model.producer}` : ""}`);
  if (model?.doc) lines.push(`  ${model.doc.split("\n")[0].slice(0, 200)}`);
  for (const [k, v] of Object.entries(model?.metadata ?? {})) lines.push(`  metadata ${k}: ${v.slice(0, 120)}`);
  const declared = (name: string) => {
    const d = model?.declared?.[name];
    return d?.some((x) => typeof x === "string") ? `  (declared [${d.join(",")}])` : "";
  };
  // a bounded module: its dims' bounds, and each slot's dims as expressions of them
  const symbols = m.symbols ?? [];
  const given = symbols.filter((s) => s.layer === undefined), written = symbols.filter((s) => s.layer !== undefined);
  if (given.length) lines.push(`symbolic dims (one module for every value in the bounds): ${given.map(symbolRange).join(", ")}`);
  if (written.length) lines.push(`data-dependent dims (counts layers give as the model runs): ${written.map((s) => `${symbolRange(s)} from layer ${s.layer} (${m.layers[s.layer!]?.op})`).join(", ")}`);
  const slotDims = (s: Manifest["inputs"][number]) => (s.expr?.some((e) => typeof e !== "number")
    ? `[${s.expr.map((e) => formatDim(e, symbols)).join(",")}] (at most ${dims(s.dims)})`
    : dims(s.dims));
  lines.push("inputs:");
  for (const s of m.inputs) lines.push(`  ${s.name}: ${s.dtype}${slotDims(s)}${declared(s.name)}`);
  for (const f of m.frozen) lines.push(`  ${f.name}: ${f.dtype}${dims(f.dims)} compiled in as [${f.values.slice(0, 8).join(",")}${f.values.length > 8 ? ",..." : ""}]`);
  lines.push("outputs:");
  for (const s of m.outputs) lines.push(`  ${s.name}: ${s.dtype}${slotDims(s)}`);
  lines.push(`sizes: ${kb(sizes.total)} in all: code ${kb(sizes.code)}${sizes.relaxedCode !== undefined ? `, relaxed-SIMD code ${kb(sizes.relaxedCode)}` : ""}, weights ${kb(sizes.weights)}, manifest ${kb(sizes.manifest)}`);
  const derived = new Map(m.layers.flatMap((l) => (l.derived ?? []).map(([at, n]) => [at, n] as const)));
  const derivedBytes = [...derived.values()].reduce((a, n) => a + n, 0);
  const derivedNote = derivedBytes ? `; ${kb(derivedBytes)} of kernel forms derived as they are placed` : "";
  lines.push(`memory: ${kb(m.memory.bytes)} (weights ${m.memory.weights}, ${kb(m.memory.weightsBytes)} of model weights${derivedNote})`);
  lines.push(`features: ${m.features.join(", ")}${sizes.relaxedCode !== undefined ? " (+ relaxed_simd build)" : ""}`);
  const flops = m.layers.reduce((a, l) => a + (l.flops ?? 0), 0);
  lines.push(`layers: ${m.layers.length}${flops ? `, ${(flops / 1e9).toFixed(3)} GFLOP per run` : ""}`);
  const width = Math.min(40, Math.max(...m.layers.map((l) => l.name.length), 4));
  const opWidth = Math.min(32, Math.max(...m.layers.map((l) => l.op.length), 2));
  m.layers.forEach((l, k) => {
    const w = l.weights.reduce((a, s) => a + s[1], 0) + (l.derived ?? []).reduce((a, s) => a + s[1], 0);
    lines.push(`  ${String(k).padStart(3)} ${l.name.slice(0, width).padEnd(width)} ${l.op.slice(0, opWidth).padEnd(opWidth)} ${(l.kernel ?? "default").padEnd(20)} ${w ? kb(w).padStart(9) : "".padStart(9)}${l.flops ? `  ${(l.flops / 1e6).toFixed(1)} MFLOP` : ""}`);
  });
  return lines.join("\n");
}
