// The runtime and the JIT compiler in a real browser (Debian's Chromium via playwright-core):
// an AOT .wasm runs with the runtime bundle alone, and the full compiler bundle compiles and
// runs the ONNX model in the page. Both must match Node's outputs.
//
// Without a Chromium (a fresh machine) the tests are skipped, visibly: the describe's title says
// so and how to enable them, and a line is printed. `npm run test:browser` runs them alone and
// fails when no Chromium is found (there, a skip would hide that nothing ran).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as esbuild from "esbuild";
import zlib from "node:zlib";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import type { AddressInfo } from "node:net";
import { chromium, type Browser } from "playwright-core";
import { compile, load } from "../compiler/driver/api.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";

/** Where to look: KILN_CHROMIUM, else Debian's and Ubuntu's paths (CI installs Debian's chromium). */
const CANDIDATES = process.env.KILN_CHROMIUM ? [process.env.KILN_CHROMIUM] : ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const CHROMIUM = CANDIDATES.find((f) => fs.existsSync(f));
/** run through `npm run test:browser` (or KILN_BROWSER=1): the browser tests must run */
const REQUIRED = process.env.npm_lifecycle_event === "test:browser" || process.env.KILN_BROWSER === "1";
const ENABLE = "apt-get install chromium (or set KILN_CHROMIUM to a Chromium binary), then npm run test:browser";
if (!CHROMIUM) {
  const line = `browser tests ${REQUIRED ? "cannot run" : "SKIPPED"}: no Chromium at ${CANDIDATES.join(" or ")}; to run them: ${ENABLE}`;
  if (REQUIRED) throw new Error(line);
  console.warn(`kiln: ${line}`);
}
const out = path.resolve(import.meta.dirname, "../.build/browser");
const root = path.resolve(import.meta.dirname, "..");

const model = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[2,5]
const %w : float32[5] = dense<[1, -2, 3, -4, 5]>
const %b : float32[1] = dense<[0.5]>
%m : float32[2,5] = Mul(%x, %w) {name="mul"}
%a : float32[2,5] = Add(%m, %b) {name="add"}
%y : float32[2,5] = Relu(%a) {name="relu"}
output %y`));
const input = Float32Array.from({ length: 10 }, (_, i) => (i - 4) / 3);

const page = `<!doctype html><meta charset="utf-8"><script type="module">
const input = Float32Array.from({ length: 10 }, (_, i) => (i - 4) / 3);
const rt = await import("./runtime.js");
const session = await rt.createSession(new Uint8Array(await (await fetch("model.wasm")).arrayBuffer()));
const aot = await session.run({ x: input });
const kiln = await import("./kiln.js");
const jitModel = await kiln.load(new Uint8Array(await (await fetch("model.onnx")).arrayBuffer()));
const jit = await jitModel.run({ x: input });
window.__result = { aot: Array.from(aot.y.data), jit: Array.from(jit.y.data), relaxed: rt.relaxedSimdSupported(),
  features: { aot: session.manifest.features, jit: jitModel.session.manifest.features } };
</script>`;

let server: http.Server;
let browser: Browser;
let base: string;

beforeAll(async () => {
  if (!CHROMIUM) return;
  fs.mkdirSync(out, { recursive: true });
  const common = { bundle: true, format: "esm" as const, platform: "browser" as const, target: "es2022", external: ["node:*"], logLevel: "error" as const };
  await esbuild.build({ ...common, entryPoints: [path.join(root, "runtime/index.ts")], outfile: path.join(out, "runtime.js") });
  await esbuild.build({ ...common, entryPoints: [path.join(root, "compiler/index.ts")], outfile: path.join(out, "kiln.js") });
  fs.writeFileSync(path.join(out, "model.onnx"), model);
  fs.writeFileSync(path.join(out, "model.wasm"), (await compile(model)).wasm);
  fs.writeFileSync(path.join(out, "index.html"), page);
  const types: Record<string, string> = { ".js": "text/javascript", ".html": "text/html", ".wasm": "application/wasm" };
  server = http.createServer((req, res) => {
    const file = path.join(out, path.basename(new URL(req.url ?? "/", "http://x").pathname) || "index.html");
    if (!fs.existsSync(file)) { res.writeHead(404).end(); return; }
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" }).end(fs.readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM!,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

afterAll(async () => {
  await browser?.close();
  server?.close();
});

describe.skipIf(!CHROMIUM)(CHROMIUM ? "in Chromium" : `in Chromium: SKIPPED, no Chromium found (${ENABLE})`, () => {
  it("the runtime bundle stays small (no compiler, no binaryen)", async () => {
    // as shipped: minified and gzipped, about 12 KB with the artifact checks (validate.ts,
    // checksum.ts), the low-bit codecs, compact artifacts' derive step, the sidecar/stream manifest
    // checks and the threads hook; the compiler would add megabytes. The weights sources' loader
    // (kiln/runtime/sources) and the thread pool (runtime/threads.ts) are entries of their own,
    // loaded only when used.
    const min = await esbuild.build({ bundle: true, format: "esm", platform: "browser", target: "es2022", external: ["node:*"], logLevel: "error", entryPoints: [path.join(root, "runtime/index.ts")], write: false, minify: true });
    expect(zlib.gzipSync(min.outputFiles[0].contents).length).toBeLessThan(15_450); // 12.6 KB before sequence and optional feeds (runtime/containers.ts, ~0.5 KB); 13.2 before format 6's memory, made and touched during compile (~0.35 KB); 13.6 before symbolic dims (runtime/dims.ts, ~0.2 KB) and the ranges a run writes (touchedRanges, ~0.2 KB): 14.0; the symbolic manifest checks (validate.ts checkSymbols, ~0.35 KB): 14.4; graph inputs and outputs in the padded layout (dims.ts padBlocks, ~0.3 KB): 14.7; a manifest's memory size checked before the memory is made (~0.07 KB): 14.89; an index out of range reported after a run (session.ts checkIndices, ~0.12 KB): 15.01; a feed's dims refused against the dims as the model takes them, "float32[1,seq,4] (seq 1..16)" (dims.ts formatDim, ~0.1 KB): 15.12; symbolic dims with a step, "W 32..640 in steps of 8" (dims.ts symbolRange, the feeds' dims divided by it, ~0.16 KB): 15.27; data-dependent dims read back after a run and their manifest check (session.ts finishRun, validate.ts symbols[].layer, ~0.13 KB): 15.40
    expect(fs.readFileSync(path.join(out, "runtime.js"), "utf8")).not.toMatch(/binaryen/i);
  });

  it("runs an AOT .wasm with the runtime alone and JIT-compiles the ONNX model in the page", async () => {
    const want = Array.from((await (await load(model)).run({ x: input })).y.data as Float32Array);
    const p = await browser.newPage();
    const errors: string[] = [];
    p.on("pageerror", (e) => errors.push(e.message));
    await p.goto(`${base}/index.html`);
    await p.waitForFunction(() => (window as unknown as { __result?: unknown }).__result !== undefined || false, null, { timeout: 60_000 }).catch(() => undefined);
    expect(errors).toEqual([]);
    type Result = { aot: number[]; jit: number[]; relaxed: boolean; features: { aot: string[]; jit: string[] } };
    const got = await p.evaluate(() => (window as unknown as { __result: Result }).__result);
    expect(got.aot).toEqual(want);
    expect(got.jit).toEqual(want);
    // Chromium runs relaxed SIMD (since 114): the JIT builds for it; this model's kernels emit the same
    // code in both builds, so its artifact carries one (test/relaxed.test.ts: artifacts that carry both)
    expect(got.relaxed, "Chromium validates f32x4.relaxed_madd").toBe(true);
    expect(got.features.aot).toEqual(["simd128"]);
    expect(got.features.jit).toContain("relaxed_simd");
    await p.close();
  });
});
