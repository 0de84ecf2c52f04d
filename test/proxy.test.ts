// createSession(..., { proxy: true }): the session runs in a worker (a worker thread in Node, a
// Web Worker in Chromium) with the same outputs as in the caller's thread, and the caller's thread
// is free while it runs: a callback queued after run() is called fires before run's promise
// settles (with a session in the caller's thread it cannot: the run blocks it).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { compile } from "../compiler/driver/api.js";
import { buildZooModel } from "../models/zoo.js";
import type { createSession as CreateSession } from "../runtime/session.js";
import { browserSuite, CHROMIUM, pageResult } from "./util/chromium.js";

const root = path.resolve(import.meta.dirname, "..");
// the built runtime, as users have it: the proxy starts its worker from proxy-worker.js beside it
const { createSession } = (await import(path.join(root, "dist/runtime/index.js"))) as { createSession: typeof CreateSession };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-proxy-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const n = 3 * 64 * 64;
const x = Float32Array.from({ length: n }, (_, i) => i / n);
let wasm: Uint8Array;
let want: number[];

beforeAll(async () => {
  wasm = (await compile(buildZooModel("mobilenet"), { simd: "baseline" })).wasm;
  const direct = await createSession(wasm);
  want = Array.from((await direct.run({ input: x }))[direct.outputs[0].name].data as Float32Array);
}, 120_000);

/** run `f`, and say whether a setImmediate queued just after calling it ran before it settled */
async function freeDuring<T>(f: () => Promise<T>): Promise<{ value: T; free: boolean }> {
  let free = false;
  const p = f();
  setImmediate(() => (free = true));
  const value = await p;
  return { value, free };
}

describe("createSession({ proxy: true }) in Node", () => {
  it("runs in a worker thread with the caller's outputs, the caller's thread free meanwhile", async () => {
    const s = await createSession(wasm, { proxy: true });
    try {
      expect(s.inputs.map((i) => i.name)).toEqual(["input"]);
      // Twenty runs queued at once: the worker computes them one after another, and the caller's
      // callback must fire before the last settles. (With one run, a caller's thread descheduled on a
      // busy host could find the worker's answer already waiting, ahead of its callback.)
      const runs = (t: typeof s) => Promise.all(Array.from({ length: 20 }, () => t.run({ input: x })));
      const proxied = await freeDuring(() => runs(s));
      for (const out of proxied.value) expect(Array.from(out[s.outputs[0].name].data as Float32Array)).toEqual(want);
      expect(proxied.free).toBe(true);
      const direct = await createSession(wasm);
      expect((await freeDuring(() => runs(direct))).free).toBe(false);
      // the profile comes from the worker too
      expect((await s.profile({ input: x })).length).toBe(s.manifest.layers.length);
    } finally {
      s.terminate!();
    }
  });

  it("errors come back typed; what cannot cross to a worker is refused", async () => {
    const s = await createSession(new Response(wasm as Uint8Array<ArrayBuffer>), { proxy: true });
    try {
      const e = await s.run({ inptu: x }).catch((err) => err);
      expect(e.name).toBe("KilnError");
      expect(e.code).toBe("BAD_INPUT");
      expect(e.message).toMatch(/^BAD_INPUT: missing input "input"/);
      expect(() => s.runInPlace({ input: x })).toThrow(/runInPlace returns views into the module's memory/);
    } finally {
      s.terminate!();
    }
    await expect(createSession(wasm, { proxy: true, relaxedSupported: () => true })).rejects.toThrow(/BAD_OPTION: createSession\(\) options relaxedSupported: a function cannot go to the proxy's worker/);
    const bad = await createSession(new TextEncoder().encode("not wasm"), { proxy: true }).catch((err) => err);
    expect(bad.code).toBe("INVALID_ARTIFACT");
  });
});

describe.skipIf(!CHROMIUM)(browserSuite("createSession({ proxy: true }) in Chromium"), () => {
  it("runs in a Web Worker with the same outputs, the page's thread free meanwhile", async () => {
    const site = path.join(tmp, "site");
    fs.cpSync(path.join(root, "dist/runtime"), path.join(site, "runtime"), { recursive: true, filter: (f) => !f.endsWith(".map") });
    fs.writeFileSync(path.join(site, "model.wasm"), wasm);
    fs.writeFileSync(path.join(site, "index.html"), `<!doctype html><meta charset="utf-8"><script type="module">
import { createSession } from "./runtime/index.js";
const n = ${n};
const x = Float32Array.from({ length: n }, (_, i) => i / n);
try {
  const s = await createSession(fetch("model.wasm"), { proxy: true });
  let free = false;
  const p = Promise.all(Array.from({ length: 20 }, () => s.run({ input: x })));
  setTimeout(() => (free = true), 0);
  const outs = await p;
  window.__result = { free, data: outs.map((out) => Array.from(out[s.outputs[0].name].data)) };
} catch (e) {
  window.__result = { error: String(e.message ?? e) };
}
</script>`);
    const { result: got, errors } = await pageResult<{ free: boolean; data: number[][]; error?: string }>(site);
    expect(errors).toEqual([]);
    expect(got?.error).toBeUndefined();
    expect(got?.data).toEqual(Array.from({ length: 20 }, () => want));
    expect(got?.free).toBe(true);
  }, 120_000);
});
