// Threads in Chromium (docs/THREADS.md): a page served with COOP/COEP (cross-origin isolated) runs
// an artifact compiled with --threads 2 on 2 threads (Web Workers over a shared memory) with the
// same outputs as one thread; the same page without the headers has no SharedArrayBuffer for
// workers, so the threaded artifact runs on one thread (its shared memory the page's alone) and
// warns once, naming the headers, with the same outputs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type * as Api from "../compiler/driver/api.js";
import { buildZooModel } from "../models/zoo.js";
import type { createSession as CreateSession } from "../runtime/session.js";
import { browserSuite, CHROMIUM, pageResult } from "./util/chromium.js";

const root = path.resolve(import.meta.dirname, "..");
// the built runtime and compiler: the workers start from runtime/thread-worker.js beside the runtime
const { compile } = (await import(path.join(root, "dist/compiler/driver/api.js"))) as typeof Api;
const { createSession } = (await import(path.join(root, "dist/runtime/index.js"))) as { createSession: typeof CreateSession };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-threads-browser-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const n = 3 * 64 * 64;
const site = path.join(tmp, "site");
let want: number[];

const ISOLATED = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" };

interface PageResult {
  isolated: boolean;
  threads?: number;
  out?: number[];
  warnings?: string[];
  error?: string;
}

beforeAll(async () => {
  const model = buildZooModel("mobilenet");
  const one = (await compile(model, { simd: "baseline" })).wasm;
  const two = (await compile(model, { simd: "baseline", threads: 2 })).wasm;
  const x = Float32Array.from({ length: n }, (_, i) => i / n);
  const direct = await createSession(one);
  want = Array.from((await direct.run({ input: x }))[direct.outputs[0].name].data as Float32Array);
  fs.cpSync(path.join(root, "dist/runtime"), path.join(site, "runtime"), { recursive: true, filter: (f) => !f.endsWith(".map") });
  fs.writeFileSync(path.join(site, "two.wasm"), two);
  fs.writeFileSync(path.join(site, "index.html"), `<!doctype html><meta charset="utf-8"><script type="module">
import { createSession } from "./runtime/index.js";
const n = ${n};
const x = Float32Array.from({ length: n }, (_, i) => i / n);
const bytes = async (f) => new Uint8Array(await (await fetch(f)).arrayBuffer());
const result = { isolated: globalThis.crossOriginIsolated === true, warnings: [] };
try {
  const s = await createSession(await bytes("two.wasm"), { threads: 2, warn: (w) => result.warnings.push(w) });
  result.threads = s.threads;
  result.out = Array.from((await s.run({ input: x }))[s.outputs[0].name].data);
  s.terminate?.();
} catch (e) {
  result.error = e.message;
}
window.__result = result;
</script>`);
}, 120_000);

describe.skipIf(!CHROMIUM)(browserSuite("threads in Chromium"), () => {
  it("with COOP/COEP: 2 threads in Web Workers, the outputs of one thread", async () => {
    const { result, errors } = await pageResult<PageResult>(site, ISOLATED);
    expect(errors).toEqual([]);
    expect(result?.error).toBeUndefined();
    expect(result?.isolated).toBe(true);
    expect(result?.warnings).toEqual([]);
    expect(result?.threads).toBe(2);
    expect(result?.out).toEqual(want);
  }, 120_000);

  it("without the headers: one thread, one warning naming the headers, the same outputs", async () => {
    const { result, errors } = await pageResult<PageResult>(site);
    expect(errors).toEqual([]);
    expect(result?.error).toBeUndefined();
    expect(result?.isolated).toBe(false);
    expect(result?.threads).toBe(1);
    expect(result?.warnings).toEqual([expect.stringMatching(/Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp.*running on one thread/)]);
    expect(result?.out).toEqual(want);
  }, 120_000);
});
