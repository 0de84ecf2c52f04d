// Format 6: a one-thread module imports its memory (as a threaded one does, not shared), so the
// runtime makes it and touches its pages while the engine compiles the code (runtime/session.ts).
// Artifacts of format 5, whose module defines its own memory, still run.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { compile } from "../compiler/driver/api.js";
import { MEMORY_IMPORT } from "../runtime/manifest.js";
import { sections } from "../runtime/sections.js";
import { createSession, readManifest } from "../runtime/session.js";
import { touchedRanges } from "../runtime/session.js";
import { seedLightModel } from "../models/light-seed.js";
import { lightModel } from "./util/models.js";
import { splitWeights } from "../runtime/weights.js";
import { kiln } from "./util/cli.js";

// written by kiln compile at 46d3c61 (format 5) from model.onnx: a 3x3 conv (Winograd, a derived
// piece), a Relu and a 1x1 conv, weights in the kiln.weights section; see fixtures/format5/README.md
const FIXTURES = path.resolve(import.meta.dirname, "fixtures/format5");
const model = new Uint8Array(fs.readFileSync(path.join(FIXTURES, "model.onnx")));
const format5 = new Uint8Array(fs.readFileSync(path.join(FIXTURES, "model.wasm")));
const x = Float32Array.from({ length: 8 * 12 * 12 }, (_, i) => ((i * 37) % 23) / 11 - 1);
const feeds = { x: { data: x, dims: [1, 8, 12, 12] } };

async function outputOf(artifact: Uint8Array | WebAssembly.Module): Promise<Float32Array> {
  const s = await createSession(artifact);
  return (await s.run(feeds)).y.data as Float32Array;
}

describe("a one-thread module imports its memory (format 6)", () => {
  it("imports env.memory, not shared, exports it, and runs as the format 5 artifact of the same model did", async () => {
    const { wasm, manifest } = await compile(model, { simd: "baseline" });
    expect(manifest.format).toBe(6);
    const mod = new WebAssembly.Module(splitWeights(wasm).code as Uint8Array<ArrayBuffer>);
    expect(WebAssembly.Module.imports(mod)).toEqual([{ module: MEMORY_IMPORT.module, name: MEMORY_IMPORT.name, kind: "memory" }]);
    expect(WebAssembly.Module.exports(mod).find((e) => e.name === "memory")?.kind).toBe("memory");
    const want = await outputOf(format5);
    expect(want.some((v) => v !== 0)).toBe(true);
    // the same kernels over the same weights: the same bits
    expect(Array.from(await outputOf(wasm))).toEqual(Array.from(want));
    // a compiled module given (no bytes to read the manifest from before compile): its memory is made at instantiation
    const s = await createSession(mod, { weights: splitWeights(wasm).weights });
    expect(Array.from((await s.run(feeds)).y.data as Float32Array)).toEqual(Array.from(want));
  });

  it("the format 5 fixture defines its memory, and kiln run runs it", () => {
    const mod = new WebAssembly.Module(splitWeights(format5).code as Uint8Array<ArrayBuffer>);
    expect(readManifest(mod).format).toBe(5);
    expect(WebAssembly.Module.imports(mod)).toEqual([]);
    const r = kiln(["run", path.join(FIXTURES, "model.wasm"), "--json"]);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout).outputs).toEqual([{ name: "y", dims: [1, 5, 12, 12] }]);
  });

  it("code that fails to compile while the memory is being touched is INVALID_ARTIFACT, its manifest intact", async () => {
    const { wasm } = await compile(model, { simd: "baseline" });
    const bad = wasm.slice();
    const code = sections(bad).find((s) => s.id === 10)!;
    // an opcode no engine has, in the middle of the code section
    bad.fill(0xff, code.payload + 40, code.payload + 48);
    const e = await createSession(bad).then(() => undefined, (err) => err);
    expect(e?.code).toBe("INVALID_ARTIFACT");
    expect(e.message).toMatch(/not a valid WebAssembly module/);
  });
});

describe("the pages touched while the engine compiles (touchedRanges)", () => {
  const inside = (ranges: [number, number][], at: number, size: number) => ranges.some(([from, to]) => from <= at && at + size <= to);

  it("cover every piece placed or derived and all memory past the weights, and leave out the slots of weights no layer reads (SqueezeNet's 1x1 convolutions read packed forms)", async () => {
    const onnx = seedLightModel(new Uint8Array(fs.readFileSync(lightModel("squeezenet"))), 1);
    const { manifest } = await compile(onnx, { simd: "baseline" });
    const ranges = touchedRanges(manifest);
    const { bytes, weightsOffset, weightsBytes, regions } = manifest.memory;
    for (const r of regions) expect(inside(ranges, r.offset, r.bytes), `region at ${r.offset}`).toBe(true);
    for (const l of manifest.layers) for (const [at, size] of l.derived ?? []) expect(inside(ranges, at, size), `derived at ${at}`).toBe(true);
    expect(inside(ranges, 0, weightsOffset)).toBe(true);
    expect(inside(ranges, weightsOffset + weightsBytes, bytes - weightsOffset - weightsBytes)).toBe(true);
    const touched = ranges.reduce((a, [from, to]) => a + to - from, 0);
    // measured: 20.3 of 22.8 MB (conv10's 2 MB of raw weights among what is left)
    expect(bytes - touched).toBeGreaterThan(2_000_000);
    // in order, apart
    ranges.forEach(([from, to], k) => {
      expect(from).toBeLessThan(to);
      if (k) expect(from).toBeGreaterThan(ranges[k - 1][1]);
    });
  }, 120_000);

  it("are all the memory under a memory budget (the ring of weight slots is written on every run)", async () => {
    const { manifest } = await compile(model, { simd: "baseline", memoryBudget: 4096 });
    expect(manifest.memory.stream).toBeDefined();
    expect(touchedRanges(manifest)).toEqual([[0, manifest.memory.bytes]]);
  });
});
