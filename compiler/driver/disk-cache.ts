// Opt-in on-disk cache of compiled models (Node only): load(model, { cacheDir }) keeps each
// compiled module as a kiln .wasm (weights in its kiln.weights section) named by the full key,
// so a later process loads it through the runtime alone, as an AOT artifact.
import { appendWeightsSection, type WeightsWriter } from "../../runtime/weights.js";
import type { Manifest } from "../../runtime/manifest.js";
import { compileModule, modelHash, type CacheKey, type CachedModule } from "./cache.js";

async function fileFor(dir: string, key: CacheKey): Promise<string> {
  const path = await import("node:path");
  const name = await modelHash(new TextEncoder().encode(await key.full()));
  return path.join(dir, `${name}.wasm`);
}

/** The module stored for key in dir, or undefined (a missing or unreadable file is a miss). */
export async function readDiskCache(dir: string, key: CacheKey): Promise<CachedModule | undefined> {
  const fs = await import("node:fs/promises");
  try {
    return await compileModule(new Uint8Array(await fs.readFile(await fileFor(dir, key))));
  } catch {
    return undefined;
  }
}

/** Store a generated module (weights "external") as an artifact; written aside, then renamed, so readers never see half a file. */
export async function writeDiskCache(dir: string, key: CacheKey, gen: { wasm: Uint8Array; manifest: Manifest; weights?: WeightsWriter }): Promise<void> {
  const fs = await import("node:fs/promises");
  const file = await fileFor(dir, key);
  const bytes = gen.weights ? appendWeightsSection(gen.wasm, gen.manifest.memory.regions, gen.weights) : gen.wasm;
  await fs.mkdir(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, bytes);
  await fs.rename(tmp, file);
}
