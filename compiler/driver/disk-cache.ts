// Opt-in on-disk cache of compiled models (Node only): load(model, { cacheDir }) keeps each
// compiled module as a kiln .wasm (weights in its kiln.weights section, each piece with its
// checksum) named by the full key and the artifact format, so a later process loads it through
// the runtime alone, as an AOT artifact. An entry is checked whole when read: a damaged one is
// INVALID_ARTIFACT naming the file, never run and never silently replaced. Entries stay inside
// the folder: one that is a link leading out of it is refused, and writes never follow a link.
import { KilnError } from "../../runtime/errors.js";
import { FORMAT_VERSION, type Manifest } from "../../runtime/manifest.js";
import { createSession } from "../../runtime/session.js";
import type { WeightsWriter } from "../../runtime/weights.js";
import { sealArtifact } from "../../codegen/artifact.js";
import { compileModule, modelHash, type CacheKey, type CachedModule } from "./cache.js";
import { isInside } from "./files.js";

async function fileFor(dir: string, key: CacheKey): Promise<string> {
  const path = await import("node:path");
  const name = await modelHash(new TextEncoder().encode(`format ${FORMAT_VERSION} ${await key.full()}`));
  return path.join(dir, `${name}.wasm`);
}

/** The module stored for key in dir, or undefined (a missing or unreadable file is a miss). */
export async function readDiskCache(dir: string, key: CacheKey): Promise<CachedModule | undefined> {
  const fs = await import("node:fs/promises");
  const file = await confinedEntry(dir, await fileFor(dir, key));
  if (!file) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await fs.readFile(file));
  } catch {
    return undefined;
  }
  try {
    const cached = await compileModule(bytes);
    // the runtime's own checks, all of them now: the manifest against the module, every weights piece placed and its checksum compared
    await createSession(cached.module, { weights: cached.weights, placement: "eager" });
    return cached;
  } catch (e) {
    if (!(e instanceof KilnError) || e.code !== "INVALID_ARTIFACT") throw e;
    // the runtime's message without its code and node suffix, which the new error adds again
    const suffix = new KilnError(e.code, "", e.context).message.length;
    const why = e.message.slice(`${e.code}: `.length, e.message.length - suffix + `${e.code}: `.length);
    throw new KilnError("INVALID_ARTIFACT", `the cached module ${file} is damaged; delete it (the next load compiles the model again and stores it anew): ${why}`, e.context);
  }
}

/** Store a generated module as a sealed artifact; written aside, then renamed, so readers never see half a file. */
export async function writeDiskCache(dir: string, key: CacheKey, gen: { wasm: Uint8Array; manifest: Manifest; weights?: WeightsWriter }): Promise<void> {
  const fs = await import("node:fs/promises");
  const file = await fileFor(dir, key);
  const bytes = sealArtifact(gen);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await fs.mkdir(dir, { recursive: true });
    await fs.rm(tmp, { force: true }); // a leftover, or a link someone planted: removed, never followed
    await fs.writeFile(tmp, bytes, { flag: "wx" });
    await fs.rename(tmp, file);
  } catch (e) {
    throw new KilnError("BAD_OPTION", `option cacheDir: cannot store a compiled module in ${JSON.stringify(dir)}: ${(e as Error).message}`);
  }
}

/**
 * The real path of an entry, or undefined when there is none; an entry whose real path leaves
 * the cache folder's (a link to /etc/passwd, say) or that is not a regular file is INVALID_ARTIFACT.
 */
async function confinedEntry(dir: string, file: string): Promise<string | undefined> {
  const fs = await import("node:fs/promises");
  const path = await import("node:path");
  let real: string;
  try {
    real = await fs.realpath(file);
  } catch {
    return undefined; // no entry (or a dangling link): a miss, and the store replaces it
  }
  const folder = await fs.realpath(dir);
  if (!isInside(path, folder, real) || real === folder) {
    throw new KilnError("INVALID_ARTIFACT", `disk cache entry ${file} leads to ${real}, outside the cache folder ${folder}; remove the entry`);
  }
  if (!(await fs.stat(real)).isFile()) throw new KilnError("INVALID_ARTIFACT", `disk cache entry ${file} is not a regular file; remove it`);
  return real;
}
