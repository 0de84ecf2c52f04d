// Node: the weights file of an artifact compiled with kiln compile --weights (or --memory-budget),
// found beside the .wasm by the name its manifest records (only its base name: never a folder).
// node:fs and node:path are imported when called: a browser bundle of the API (which reaches this
// by a dynamic import esbuild inlines) must not import them at its top
import { KilnError } from "../../runtime/errors.js";
import { MANIFEST_SECTION, type Manifest } from "../../runtime/manifest.js";
import { sections } from "../../runtime/sections.js";

/**
 * The weights file of an artifact compiled with --weights: `given` (--weights PATH), else the
 * file its manifest names, beside the .wasm; undefined for an artifact that carries its weights.
 */
export async function sidecarOf(model: string, bytes: Uint8Array, given: string | undefined) {
  const [fs, path] = await Promise.all([import("node:fs"), import("node:path")]);
  let sidecar: Manifest["memory"]["sidecar"];
  /** the manifest was read, and names no weights file: the module carries its weights */
  let carries = false;
  try {
    const s = sections(bytes).find((x) => x.name === MANIFEST_SECTION);
    const memory = s && (JSON.parse(new TextDecoder().decode(bytes.subarray(s.payload, s.end))) as Manifest).memory;
    sidecar = memory?.sidecar;
    carries = memory !== undefined && sidecar === undefined;
  } catch {
    sidecar = undefined; // createSession says what is wrong with the module or its manifest
  }
  if (given === undefined && sidecar === undefined) return undefined;
  // a module that carries its weights reads no file: --weights would be ignored, or taken as damage
  if (given !== undefined && carries) {
    throw new KilnError("BAD_OPTION", `--weights applies to a module compiled with kiln compile --weights or --memory-budget; ${model} carries its weights itself`);
  }
  // the runtime leaves memory.sidecar to its readers (runtime/validate.ts): checked here
  if (sidecar !== undefined && (typeof sidecar?.name !== "string" || !/^[^/\\]+$/.test(sidecar.name) || sidecar.name === ".." || !Number.isSafeInteger(sidecar.bytes))) {
    throw new KilnError("INVALID_ARTIFACT", `the manifest's memory.sidecar ${JSON.stringify(sidecar)?.slice(0, 80)} is not { name: a file name, bytes }; the artifact is damaged or was not written by kiln compile: recompile the model`);
  }
  const file = given ?? path.join(path.dirname(model), path.basename(sidecar!.name));
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st?.isFile()) {
    throw new KilnError("INVALID_ARTIFACT", `${model} keeps its weights in a file${sidecar ? ` (${JSON.stringify(sidecar.name)}, ${sidecar.bytes} bytes)` : ""}; ${file} is ${st ? "a folder, not a file" : "not there"}: copy it beside the .wasm or pass --weights PATH`);
  }
  const { fileSource } = await import("../../runtime/sources.js");
  return fileSource(file);
}

