// Progressive start in a real browser (Chromium; issue 16, criterion 4): the page compiles the
// code-only .wasm while it downloads (WebAssembly.compileStreaming) and reads the sidecar weights
// by URL with Range requests (urlSource) from a server that holds each weights response back. The
// first run starts layer 0 (the session's onLayers) before the server has sent the weights file's
// last byte: each layer waits only for its own pieces. The output is the one a session with all
// the weights in memory gives.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Browser } from "playwright-core";
import { compile } from "../compiler/driver/api.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { createSession } from "../runtime/session.js";
import { bytesSource } from "../runtime/sources.js";
import { browserSuite, bundleRuntime, CHROMIUM, launchChromium, serveRanges } from "./util/chromium.js";

const out = path.resolve(import.meta.dirname, "../.build/browser-progressive");
/** how long the server holds back each weights response */
const THROTTLE_MS = 150;
const LAYERS = 6, D = 16;
const dense = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (Math.sin(i * 0.37 + seed) * 0.3).toFixed(5)).join(", ");
// a chain of MatMuls, each with weights of its own: one Range request (or more) per layer
const model = exportModel(parseGraph([
  `kiln.graph opsets("" = 13)`,
  `input %x : float32[1,${D}]`,
  ...Array.from({ length: LAYERS }, (_, k) => `const %w${k} : float32[${D},${D}] = dense<[${dense(D * D, k)}]>`),
  ...Array.from({ length: LAYERS }, (_, k) => `%h${k + 1} : float32[1,${D}] = MatMul(%h${k}, %w${k}) {name="layer${k}"}`),
  `output %h${LAYERS}`,
].join("\n").replace("%h0", "%x")));
const x = Float32Array.from({ length: D }, (_, i) => i / 8 - 1);

let server: { base: string; close: () => void };
let browser: Browser;
let base: string;
/** Date.now() when the server finished sending the weights file's last byte */
let lastByteAt: number | undefined;
const weightRequests: string[] = [];

beforeAll(async () => {
  if (!CHROMIUM) return;
  await bundleRuntime(out, "kiln progressive start");
  const size = () => fs.statSync(path.join(out, "m.bin")).size;
  // the weights: a slow link, each range held back before it is sent
  server = await serveRanges(out, (file, header, send) => {
    weightRequests.push(header);
    setTimeout(() => {
      send();
      // the response is handed to the socket: the byte it ends with has left the server
      if (file === "m.bin" && Number(/-(\d+)$/.exec(header)![1]) >= size() - 1) lastByteAt = Date.now();
    }, THROTTLE_MS);
  });
  base = server.base;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  server?.close();
});

describe.skipIf(!CHROMIUM)(browserSuite("progressive start in Chromium"), () => {
  it("compiles the .wasm while it downloads, and runs layer 0 before the last weight byte has arrived; the output is right", async () => {
    const c = await compile(model, { simd: "baseline", weightsFile: "m.bin" });
    const reading = c.manifest.layers.filter((l) => l.weights.length).length;
    expect(reading).toBe(LAYERS);
    const want = Array.from((await (await createSession(c.wasm, { weights: bytesSource(c.weights!) })).run({ x: { data: x, dims: [1, D] } }))[`h${LAYERS}`].data as Float32Array);
    fs.writeFileSync(path.join(out, "m.wasm"), c.wasm);
    fs.writeFileSync(path.join(out, "m.bin"), c.weights!);

    const p = await browser.newPage();
    const errors: string[] = [];
    p.on("pageerror", (e) => errors.push(e.message));
    await p.goto(`${base}/index.html`);
    // a script string: vitest rewrites import() in functions it compiles, which the page cannot run
    const got = (await p.evaluate(`(async () => {
      const rt = await import(location.origin + "/runtime.js");
      const src = await import(location.origin + "/sources.js");
      const mod = await WebAssembly.compileStreaming(fetch("m.wasm"));
      const steps = [];
      const s = await rt.createSession(mod, { weights: src.urlSource(location.origin + "/m.bin"), onLayers: (from, to) => steps.push({ from, to, at: Date.now() }) });
      const y = await s.run({ x: { data: Float32Array.from(${JSON.stringify(Array.from(x))}), dims: [1, ${D}] } });
      return { y: Array.from(y["h${LAYERS}"].data), steps };
    })()`)) as { y: number[]; steps: { from: number; to: number; at: number }[] };
    await p.close();
    expect(errors).toEqual([]);
    expect(got.y).toEqual(want);
    // every layer ran, in order, each range once its weights were in
    expect(got.steps[0].from).toBe(0);
    expect(got.steps[got.steps.length - 1].to).toBe(c.manifest.layers.length);
    for (let k = 1; k < got.steps.length; k++) expect(got.steps[k].from).toBe(got.steps[k - 1].to);
    // the weights came in ranges, one layer's at a time, and the file's last byte left the server after layer 0 started
    expect(weightRequests.length).toBeGreaterThanOrEqual(LAYERS);
    expect(lastByteAt).toBeDefined();
    expect(got.steps[0].at).toBeLessThan(lastByteAt!);
  }, 60_000);
});
