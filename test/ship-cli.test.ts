// The CLI's shipping side: commands that only read or run an artifact load no compiler (checked by
// the modules Node resolves, not by timing), kiln inspect of an artifact, kiln run --profile's
// Chrome trace, and the compile progress line.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildZooModel } from "../models/zoo.js";
import { kiln } from "./util/cli.js";
import { describeProgress, progressLine } from "../compiler/driver/cli/progress-line.js";
import type { Manifest } from "../runtime/manifest.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-ship-cli-"));
const onnx = path.join(tmp, "mobilenet.onnx");
const wasm = path.join(tmp, "mobilenet.wasm");
const bin = path.resolve(import.meta.dirname, "../bin/kiln.js");

// a loader hook that prints every module Node resolves (kiln's own and packages')
const hook = path.join(tmp, "log-modules.mjs");
fs.writeFileSync(hook, `import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent(\`export async function resolve(s, c, next) {
  const r = await next(s, c);
  process.stderr.write("MODULE " + r.url + "\\\\n");
  return r;
}\`));
`);

/** kiln with the hook: its exit code and the modules it loaded */
function modulesLoadedBy(args: string[]): { code: number; modules: string[]; stdout: string } {
  const r = spawnSync(process.execPath, ["--import", hook, bin, ...args], { encoding: "utf8", maxBuffer: 1 << 26 });
  const modules = r.stderr.split("\n").filter((l) => l.startsWith("MODULE ")).map((l) => l.slice(7));
  return { code: r.status ?? -1, modules, stdout: r.stdout };
}

beforeAll(() => {
  fs.writeFileSync(onnx, buildZooModel("mobilenet"));
  const r = kiln(["compile", onnx, "-o", wasm, "--quiet"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
}, 120_000);

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("commands that do not compile load no compiler", () => {
  const compilerModules = (mods: string[]) => mods.filter((m) => /binaryen|\/compiler\/driver\/compile\.js|\/codegen\/|\/passes\/|protobufjs|onnx-proto/.test(m));

  it.each([
    ["kiln --help", ["--help"]],
    ["kiln run model.wasm --json", ["run", "<wasm>", "--json"]],
    ["kiln inspect model.wasm", ["inspect", "<wasm>"]],
    ["kiln run model.wasm --profile trace.json", ["run", "<wasm>", "--json", "--profile", "<trace>"]],
  ])("%s", (_, args) => {
    const r = modulesLoadedBy(args.map((a) => (a === "<wasm>" ? wasm : a === "<trace>" ? path.join(tmp, "t.json") : a)));
    expect(r.code).toBe(0);
    // the hook works: it saw the CLI's own entry module, the bundle (whose contents hold no compiler
    // module: test/cli-bundle.test.ts) or dist/'s main.js when the bundle is stale or missing
    expect(r.modules.some((m) => m.endsWith("/compiler/driver/cli/main.js") || m.endsWith("/dist/cli/kiln.js"))).toBe(true);
    expect(compilerModules(r.modules)).toEqual([]);
  });

  it("kiln compile does load it (the check above can see it)", () => {
    const r = modulesLoadedBy(["compile", onnx, "-o", path.join(tmp, "again.wasm"), "--quiet"]);
    expect(r.code).toBe(0);
    expect(compilerModules(r.modules).some((m) => m.includes("binaryen"))).toBe(true);
  }, 120_000);
});

describe("kiln inspect model.wasm", () => {
  it("prints inputs, outputs, sizes, features and each layer with its kernel variant", () => {
    const r = kiln(["inspect", wasm]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const j = kiln(["inspect", wasm, "--json"]);
    const info = JSON.parse(j.stdout) as { manifest: Manifest; sizes: { total: number; code: number; weights: number; manifest: number } };
    expect(info.sizes.total).toBe(fs.statSync(wasm).size);
    expect(info.sizes.code + info.sizes.weights + info.sizes.manifest).toBeLessThanOrEqual(info.sizes.total);
    expect(info.sizes.weights).toBeGreaterThan(0);
    const m = info.manifest;
    expect(m.inputs.map((s) => [s.name, s.dtype, s.dims])).toEqual([["input", "float32", [1, 3, 64, 64]]]);
    expect(r.stdout).toContain("input: float32[1,3,64,64]");
    expect(r.stdout).toMatch(new RegExp(`layers: ${m.layers.length}, [0-9.]+ GFLOP per run`));
    expect(r.stdout).toContain(`features: ${m.features.join(", ")}`);
    for (const l of m.layers) expect(r.stdout).toMatch(new RegExp(`\\s${l.name}\\s+${l.op}\\s+${l.kernel ?? "default"}\\b`));
    // the convolutions were given a named variant, and the text shows it
    expect(m.layers.some((l) => l.op.startsWith("Conv") && l.kernel && l.kernel !== "default")).toBe(true);
  });

  it("names a .wasm that is not one, and refuses compile flags with a compiled artifact", () => {
    const text = path.join(tmp, "text.wasm");
    fs.writeFileSync(text, "not a module");
    const r = kiln(["inspect", text]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/INVALID_ARTIFACT: not a WebAssembly module: it is text/);
    const o = kiln(["inspect", wasm, "-O1"]);
    expect(o.code).toBe(2);
    expect(o.stderr).toMatch(/-O apply to kiln inspect of an ONNX model/);
  });
});

describe("kiln run --profile", () => {
  it("writes a Chrome trace with one slice per layer per run: name, ops, kernel, ms, GFLOPS, weight bytes", () => {
    const trace = path.join(tmp, "trace.json");
    const r = kiln(["run", wasm, "--profile", trace]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const manifest = (JSON.parse(kiln(["inspect", wasm, "--json"]).stdout) as { manifest: Manifest }).manifest;
    const t = JSON.parse(fs.readFileSync(trace, "utf8")) as { traceEvents: { name: string; ph: string; tid: number; ts?: number; dur?: number; cat?: string; args?: Record<string, unknown> }[] };
    expect(Array.isArray(t.traceEvents)).toBe(true);
    const slices = t.traceEvents.filter((e) => e.ph === "X" && e.cat === "layer");
    const tracks = [...new Set(slices.map((e) => e.tid))];
    expect(tracks.length).toBe(2); // a first run (weights placed) and a warm one
    for (const tid of tracks) {
      const run = slices.filter((e) => e.tid === tid);
      expect(run.map((e) => e.name)).toEqual(manifest.layers.map((l) => l.name));
      run.forEach((e, k) => {
        const l = manifest.layers[k];
        expect(e.args!.kernel).toBe(l.kernel ?? "default");
        expect(e.args!.ops).toEqual(l.op.split("_"));
        expect(e.args!.weightBytes).toBe([...l.weights, ...(l.derived ?? [])].reduce((a, w) => a + w[1], 0));
        expect(typeof e.dur).toBe("number");
        expect(e.args!.ms).toBeGreaterThanOrEqual(0);
        // GFLOPS from the layer's flops and time (args.ms is rounded to 0.1 us: compared where that is under 1%)
        const ms = e.args!.ms as number;
        if (l.flops && ms >= 0.01) expect(Math.abs((e.args!.gflops as number) - l.flops / (ms * 1e6))).toBeLessThan(0.01 * (e.args!.gflops as number) + 1e-3);
      });
      // slices on a track do not overlap: each starts where the one before it (or its weights) ended
      // (ts and dur are each rounded to 0.001 us)
      for (let k = 1; k < run.length; k++) expect(run[k].ts!).toBeGreaterThanOrEqual(run[k - 1].ts! + run[k - 1].dur! - 0.01);
    }
    // the first run placed every weight byte, the second none
    const placed = (tid: number) => slices.filter((e) => e.tid === tid).reduce((a, e) => a + (e.args!.weightBytesPlaced as number), 0);
    // stored pieces and derived ones (a compact artifact's), each placed once
    const perLayer = manifest.layers.reduce((a, l) => a + [...l.weights, ...(l.derived ?? [])].reduce((b, w) => b + w[1], 0), 0);
    expect(placed(tracks[0])).toBeGreaterThan(0);
    expect(placed(tracks[0])).toBeLessThanOrEqual(perLayer);
    expect(placed(tracks[1])).toBe(0);
    // a layer with flops reports GFLOPS
    expect(slices.some((e) => typeof e.args!.gflops === "number" && (e.args!.gflops as number) > 0)).toBe(true);
  });

  it("checks where the trace goes before running", () => {
    const r = kiln(["run", wasm, "--profile", path.join(tmp, "no-such-dir", "t.json")]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--profile/);
  });
});

describe("compile progress", () => {
  const fake = (isTTY: boolean) => {
    const writes: string[] = [];
    return { stream: { isTTY, columns: 60, write: (s: string) => writes.push(s) }, writes };
  };

  it("stays silent when standard error is not a terminal", () => {
    expect(progressLine(fake(false).stream)).toBeUndefined();
  });

  it("draws nothing in the first second, then stages and layers, and erases itself", () => {
    let now = 0;
    const { stream, writes } = fake(true);
    const line = progressLine(stream, { now: () => now })!;
    line.update({ stage: "shapes" });
    expect(writes).toEqual([]);
    now = 1200;
    line.update({ stage: "codegen", detail: "relaxed", done: 12, total: 39 });
    expect(writes.at(-1)).toMatch(/^\r\x1b\[Kkiln: code generation \(relaxed build\): layer 12\/39 {2}1\.2 s$/);
    now = 1250; // within the redraw interval: not drawn again
    line.update({ stage: "codegen", done: 13, total: 39 });
    expect(writes.length).toBe(1);
    line.end();
    expect(writes.at(-1)).toBe("\r\x1b[K");
  });

  it("fits the terminal's width, 80 columns when it does not say", () => {
    let now = 2000;
    const writes: string[] = [];
    const line = progressLine({ isTTY: true, columns: 0, write: (t: string) => writes.push(t) }, { now: () => now, delayMs: 0 })!;
    now = 3000;
    line.update({ stage: "passes", detail: "fuse-elementwise-and-then-some-more-words", done: 1, total: 12 });
    expect(writes[0]).toBe("\r\x1b[Kkiln: passes: fuse-elementwise-and-then-some-more-words (2/12)  1.0 s");
  });

  it("describes each stage", () => {
    expect(describeProgress({ stage: "passes", detail: "fuse-epilogue", done: 6, total: 10 })).toBe("passes: fuse-epilogue (7/10)");
    expect(describeProgress({ stage: "prepare", done: 3, total: 9 })).toBe("preparing weights: layer 3/9");
  });

  it("kiln compile prints no progress when standard error is a pipe", () => {
    const r = kiln(["compile", onnx, "-o", path.join(tmp, "piped.wasm")]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^kiln: .*mobilenet\.onnx -> .*piped\.wasm \(\d+ bytes, \d+ layers, \d+ ms\)\n$/);
  }, 120_000);
});
