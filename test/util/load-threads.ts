// load() for a test that runs at 1 and at N threads: at 1 the source's own (vitest's), at more the
// built one in dist/ (npm test builds it first), since the workers run runtime/thread-worker.js,
// which exists only there.
import * as path from "node:path";
import { load } from "../../compiler/driver/api.js";

export async function loadAt(threads: number): Promise<typeof load> {
  if (threads === 1) return load;
  return ((await import(path.join(path.resolve(import.meta.dirname, "../../dist"), "compiler/driver/api.js"))) as { load: typeof load }).load;
}
