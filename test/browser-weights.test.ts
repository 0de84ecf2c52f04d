// Sidecar weights in a real browser (Chromium): a .wasm whose weights are a file beside it runs
// with the runtime and kiln/runtime/sources bundles, reading the file with HTTP Range requests
// (urlSource) or from a Blob; a truncated or altered file is INVALID_ARTIFACT naming the first
// layer whose pieces are bad (issue 16, criterion 5 in the browser).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Browser } from "playwright-core";
import { compile } from "../compiler/driver/api.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { imagePosition } from "../runtime/weights.js";
import { createSession } from "../runtime/session.js";
import { bytesSource } from "../runtime/sources.js";
import { browserSuite, bundleRuntime, CHROMIUM, launchChromium, serveRanges } from "./util/chromium.js";

const out = path.resolve(import.meta.dirname, "../.build/browser-weights");
const dense = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (Math.sin(i * 0.37 + seed) * 0.5).toFixed(5)).join(", ");
// two layers with weights of their own: "first" then "second"
const model = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[1,8]
const %w : float32[8,8] = dense<[${dense(64, 1)}]>
const %v : float32[8,8] = dense<[${dense(64, 2)}]>
%h : float32[1,8] = MatMul(%x, %w) {name="first"}
%y : float32[1,8] = MatMul(%h, %v) {name="second"}
output %y`));
const x = Float32Array.from({ length: 8 }, (_, i) => i / 4 - 1);

let server: { base: string; close: () => void };
let browser: Browser;
let base: string;
const ranges: string[] = [];
type Outcome = { y?: number[]; code?: string; message?: string; node?: string };

beforeAll(async () => {
  if (!CHROMIUM) return;
  await bundleRuntime(out, "kiln weights");
  server = await serveRanges(out, (file, header, send) => {
    ranges.push(`${file} ${header}`);
    send();
  });
  base = server.base;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  server?.close();
});

describe.skipIf(!CHROMIUM)(browserSuite("sidecar weights in Chromium"), () => {
  it("runs from a URL (Range requests) and a Blob; a truncated or altered file names the first bad layer", async () => {
    const c = await compile(model, { simd: "baseline", weightsFile: "m.bin" });
    const weights = c.weights!;
    const want = Array.from((await (await createSession(c.wasm, { weights: bytesSource(weights) })).run({ x: { data: x, dims: [1, 8] } })).y.data as Float32Array);
    // the second layer's first piece: cut inside it, and flip its last byte
    const at = imagePosition(c.manifest.memory.regions, 0);
    const [offset, size] = c.manifest.layers.find((l) => l.name === "second")!.weights[0];
    const altered = Uint8Array.from(weights);
    altered[at(offset) + size - 1] ^= 0x40;
    fs.writeFileSync(path.join(out, "m.wasm"), c.wasm);
    fs.writeFileSync(path.join(out, "m.bin"), weights);
    fs.writeFileSync(path.join(out, "cut.bin"), weights.subarray(0, at(offset) + 4));
    fs.writeFileSync(path.join(out, "bad.bin"), altered);

    const p = await browser.newPage();
    const errors: string[] = [];
    p.on("pageerror", (e) => errors.push(e.message));
    await p.goto(`${base}/index.html`);
    // a script string: vitest rewrites import() in functions it compiles, which the page cannot run
    const got = (await p.evaluate(`(async () => {
      const input = ${JSON.stringify(Array.from(x))};
      const rt = await import(location.origin + "/runtime.js");
      const src = await import(location.origin + "/sources.js");
      const wasm = new Uint8Array(await (await fetch("m.wasm")).arrayBuffer());
      const run = async (weights) => {
        try {
          const s = await rt.createSession(wasm, { weights });
          return { y: Array.from((await s.run({ x: { data: Float32Array.from(input), dims: [1, 8] } })).y.data) };
        } catch (e) {
          return { code: e.code, message: e.message, node: e.context && e.context.node };
        }
      };
      const blob = async (name) => src.blobSource(await (await fetch(name)).blob());
      return {
        url: await run(src.urlSource(location.origin + "/m.bin")),
        blob: await run(await blob("m.bin")),
        cutUrl: await run(src.urlSource(location.origin + "/cut.bin")),
        cutBlob: await run(await blob("cut.bin")),
        bad: await run(src.urlSource(location.origin + "/bad.bin")),
      };
    })()`)) as Record<"url" | "blob" | "cutUrl" | "cutBlob" | "bad", Outcome>;
    await p.close();
    expect(errors).toEqual([]);
    expect(got.url.y).toEqual(want);
    expect(got.blob.y).toEqual(want);
    expect(ranges.some((r) => r.startsWith("m.bin bytes="))).toBe(true);
    // a URL of unknown size: the short read, when the run reaches the layer; a Blob: its size, at once
    expect(got.cutUrl).toMatchObject({ code: "INVALID_ARTIFACT", node: "second" });
    expect(got.cutUrl.message).toMatch(/the weights of layer "second" are damaged: the weights source ends at byte \d+/);
    expect(got.cutBlob).toMatchObject({ code: "INVALID_ARTIFACT", node: "second" });
    expect(got.cutBlob.message).toMatch(/it is truncated/);
    expect(got.bad).toMatchObject({ code: "INVALID_ARTIFACT", node: "second" });
    expect(got.bad.message).toMatch(/has checksum [0-9a-f]{8} where the manifest says [0-9a-f]{8}/);
  });
});
