// kiln pack: the package installs into a fresh project (npm install ./pkg, copied as from a
// registry), imports and runs in Node with onnxruntime's output, and an esbuild browser bundle of
// it runs in Chromium with the same output. The runtime's share of that bundle is printed
// (minified and gzipped), not asserted beyond the budget the browser test keeps.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as esbuild from "esbuild";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import zlib from "node:zlib";
import { buildZooModel } from "../models/zoo.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import { runOrt } from "./util/ort.js";
import { kiln } from "./util/cli.js";
import { browserSuite, CHROMIUM, pageResult } from "./util/chromium.js";
import { packageName } from "../compiler/driver/pack.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-pack-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const onnx = path.join(tmp, "mobilenet.onnx");
const pkg = path.join(tmp, "pkg");
const app = path.join(tmp, "app");
const bytes = buildZooModel("mobilenet");
const n = 3 * 64 * 64;
const x = Float32Array.from({ length: n }, (_, i) => i / n);
let want: { dtype: string; dims: number[]; data: Float32Array };

/** the package's output for x, as the consumer prints it */
const consumer = `const model = await m.load();
const n = ${n};
const x = new Float32Array(n);
for (let i = 0; i < n; i++) x[i] = i / n;
const t0 = performance.now();
const out = await model.run({ input: x });
const y = out[m.outputs[0].name];
globalThis.__result = { dims: y.dims, data: Array.from(y.data), ms: performance.now() - t0 };`;

function expectWanted(got: { dims: number[]; data: number[] }) {
  expect(got.dims).toEqual(want.dims);
  const c = compareTensors({ dtype: "float32", dims: got.dims, data: Float32Array.from(got.data) }, want as never, { rtol: 1e-3, atol: 1e-5 });
  expect(c.message ?? "ok").toBe("ok");
}

beforeAll(async () => {
  fs.writeFileSync(onnx, bytes);
  const out = await runOrt(bytes, { input: { dtype: "float32", dims: [1, 3, 64, 64], data: x } });
  want = Object.values(out)[0] as never;
  const r = kiln(["pack", onnx, "-o", pkg, "--name", "Mobilenet Kiln"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/npm package mobilenet-kiln/);
  // a fresh project; --install-links copies the folder as a registry install would (only package.json's files)
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  const npm = spawnSync("npm", ["install", "--install-links", "--offline", "--no-audit", "--no-fund", pkg], { cwd: app, encoding: "utf8" });
  expect(npm.status, npm.stderr).toBe(0);
}, 300_000);

describe("kiln pack", () => {
  it("writes package.json with exports and types, the ESM entry and .d.ts, the .wasm and the runtime", () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(pkg, "package.json"), "utf8"));
    expect(manifest.name).toBe("mobilenet-kiln");
    expect(manifest.type).toBe("module");
    expect(manifest.exports["."]).toEqual({ types: "./index.d.ts", default: "./index.js" });
    for (const f of ["index.js", "index.d.ts", "model.wasm", "runtime/index.js", "runtime/session.js", "runtime/index.d.ts"]) {
      expect(fs.existsSync(path.join(app, "node_modules/mobilenet-kiln", f)), f).toBe(true);
    }
    const runtime = fs.readdirSync(path.join(pkg, "runtime")).map((f) => fs.readFileSync(path.join(pkg, "runtime", f), "utf8")).join("\n");
    expect(runtime).not.toMatch(/from "binaryen"|import\("binaryen"\)|sourceMappingURL/);
    expect(fs.readFileSync(path.join(pkg, "index.d.ts"), "utf8")).toMatch(/readonly input: Float32Array \|/);
  });

  it("imports and runs in Node from the installed package, with onnxruntime's output", () => {
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", `const m = await import("mobilenet-kiln");\n${consumer}\nconsole.log(JSON.stringify(globalThis.__result));`], { cwd: app, encoding: "utf8", maxBuffer: 1 << 26 });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expectWanted(JSON.parse(r.stdout));
  });

  it("refuses what it cannot pack, with the flag named", () => {
    expect(kiln(["pack", onnx]).stderr).toMatch(/pack needs -o DIR/);
    expect(kiln(["pack", onnx, "-o", path.join(tmp, "nowhere", "deeper")]).stderr).toMatch(/BAD_OPTION: -o .*does not exist/);
    expect(kiln(["pack", onnx, "-o", onnx]).stderr).toMatch(/is a file; kiln pack writes a folder/);
    expect(kiln(["pack", path.join(pkg, "model.wasm"), "-o", path.join(tmp, "p2"), "-O1"]).stderr).toMatch(/-O apply when kiln pack compiles an \.onnx model/);
    expect(packageName("My Model_v2")).toBe("my-model_v2");
    expect(() => packageName("***")).toThrow(/cannot make an npm package name/);
  });
});

describe.skipIf(!CHROMIUM)(browserSuite("kiln pack in Chromium"), () => {
  it("an esbuild bundle of the installed package runs in the page with the same output", async () => {
    const site = path.join(tmp, "site");
    fs.mkdirSync(site);
    fs.writeFileSync(path.join(app, "main.js"), `import * as m from "mobilenet-kiln";\n${consumer}`);
    const common = { bundle: true, format: "esm" as const, platform: "browser" as const, target: "es2022", logLevel: "error" as const, absWorkingDir: app };
    await esbuild.build({ ...common, entryPoints: [path.join(app, "main.js")], outfile: path.join(site, "main.js") });
    // the bindings find the artifact beside the module (new URL("./model.wasm", import.meta.url))
    fs.copyFileSync(path.join(app, "node_modules/mobilenet-kiln/model.wasm"), path.join(site, "model.wasm"));
    fs.writeFileSync(path.join(site, "index.html"), `<!doctype html><meta charset="utf-8"><script type="module" src="main.js"></script>`);
    const bundle = fs.readFileSync(path.join(site, "main.js"), "utf8");
    expect(bundle).not.toMatch(/binaryen/i);

    // the runtime's size as shipped in that bundle: the package's runtime entry, minified, gzipped
    const min = await esbuild.build({ ...common, entryPoints: [path.join(app, "node_modules/mobilenet-kiln/runtime/index.js")], write: false, minify: true });
    const all = await esbuild.build({ ...common, entryPoints: [path.join(app, "main.js")], write: false, minify: true });
    const size = (b: Uint8Array) => `${(b.length / 1024).toFixed(1)} KB minified, ${(zlib.gzipSync(b).length / 1024).toFixed(1)} KB gzip`;
    console.log(`kiln pack bundle: runtime ${size(min.outputFiles[0].contents)}; runtime + bindings + page ${size(all.outputFiles[0].contents)}`);
    expect(zlib.gzipSync(min.outputFiles[0].contents).length).toBeLessThan(15_450); // the browser test's budget (test/browser.test.ts says what it grew by)

    const { result, errors } = await pageResult<{ dims: number[]; data: number[] }>(site);
    expect(errors).toEqual([]);
    expectWanted(result!);
  }, 120_000);
});
