// Opt-in on-disk cache of compiled models (Node only): load(model, { cacheDir }) keeps each
// compiled module as a kiln .wasm (weights in its kiln.weights section) named by the full key,
// so a later process loads it through the runtime alone, as an AOT artifact. Entries stay inside
// the folder: one that is a link leading out of it is refused, and writes never follow a link.
import { appendWeightsSection, type WeightsWriter } from "../../runtime/weights.js";
import type { Manifest } from "../../runtime/manifest.js";
import { KilnError } from "../../runtime/errors.js";
import { compileModule, modelHash, type CacheKey, type CachedModule } from "./cache.js";
import { isInside } from "./files.js";

async function fileFor(dir: string, key: CacheKey): Promise<string> {
  const path = await import("node:path");
  const name = await modelHash(new TextEncoder().encode(await key.full()));
  return path.join(dir, `${name}.wasm`);
}

/** The module stored for key in dir, or undefined (a missing or unreadable file is a miss). */
export async function readDiskCache(dir: string, key: CacheKey): Promise<CachedModule | undefined> {
  const fs = await import("node:fs/promises");
  const file = await confinedEntry(dir, await fileFor(dir, key));
  if (!file) return undefined;
  try {
    return await compileModule(new Uint8Array(await fs.readFile(file)));
  } catch {
    return undefined;
  }
}

/** Store a generated module (weights "external") as an artifact; written aside, then renamed, so readers never see half a file. */
export async function writeDiskCache(dir: string, key: CacheKey, gen: { wasm: Uint8Array; manifest: Manifest; weights?: WeightsWriter }): Promise<void> {
  const fs = await import("node:fs/promises");
  const file = await fileFor(dir, key);
  const bytes = gen.weights ? appendWeightsSection(gen.wasm, gen.manifest.memory.regions, gen.weights) : gen.wasm;
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
