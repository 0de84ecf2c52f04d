// The layer-wise weight scheduler (runtime/schedule.ts): a lazy session's memory holds no weights
// until the first run, each layer's pieces go in just before it runs (a layer run before its
// weights would read zeros and answer wrong), shared pieces are written once, constant graph
// outputs are placed too, and lazy and eager sessions agree run after run.
import { describe, expect, it } from "vitest";
import { compile } from "../compiler/driver/api.js";
import { importOnnx, optimizeGraph, prepareGraph } from "../compiler/driver/compile.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { generate } from "../codegen/module.js";
import { FORMAT_VERSION, type Manifest } from "../runtime/manifest.js";
import { WeightScheduler } from "../runtime/schedule.js";
import { createSession, type Session } from "../runtime/session.js";
import { imageBytes, type WeightsWriter } from "../runtime/weights.js";
import { tensor } from "./util/ort.js";
import { values } from "./util/values.js";

const dense = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (Math.sin(i * 0.7 + seed) * 0.3).toFixed(5)).join(", ");

// %w read by two Winograd layers (one shared U) and a strided one; %k a constant graph output
const model = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[1,8,10,10]
const %w : float32[8,8,3,3] = dense<[${dense(576, 1)}]>
const %bias : float32[8] = dense<[${dense(8, 2)}]>
const %p : float32[16,8,1,1] = dense<[${dense(128, 3)}]>
const %k : float32[3] = dense<[0.5, -1.5, 2.25]>
%a : float32[1,8,10,10] = Conv[pads=[1,1,1,1]](%x, %w, %bias) {name="a"}
%ar : float32[1,8,10,10] = Relu(%a) {name="ar"}
%b : float32[1,8,10,10] = Conv[pads=[1,1,1,1]](%ar, %w) {name="b"}
%c : float32[1,8,5,5] = Conv[pads=[1,1,1,1], strides=[2,2]](%b, %w) {name="c"}
%d : float32[1,16,5,5] = Conv(%c, %p) {name="d"}
output %d
output %k`));

const x = tensor({ dims: [1, 8, 10, 10] }, 7);
const memoryOf = (s: Session) => s.runInPlace({ x }).d.data.buffer as ArrayBuffer;

/** the weights image as it sits in memory, region by region */
function weightsIn(buffer: ArrayBuffer, m: Manifest): Uint8Array {
  const out = new Uint8Array(imageBytes(m.memory.regions));
  let pos = 0;
  for (const r of m.memory.regions) {
    out.set(new Uint8Array(buffer, r.offset, r.bytes), pos);
    pos += r.bytes;
  }
  return out;
}

describe("layer-wise weight scheduler", () => {
  it("a lazy session writes no weights at load and each piece once in the first run", async () => {
    const g = importOnnx(model);
    await prepareGraph(g);
    await optimizeGraph(g);
    const gen = generate(g, { weights: "external" });
    const pieces = new Set([...gen.manifest.layers.flatMap((l) => l.weights!), ...gen.manifest.memory.unclaimed!].map(([a]) => a));
    expect(gen.manifest.memory.unclaimed!.length).toBeGreaterThan(0); // %k
    const written: number[] = [];
    const counting: WeightsWriter = (into, at, only) => {
      written.push(only!.offset);
      gen.weights!(into, at, only);
    };
    const session = await createSession(gen.wasm, { weights: counting });
    expect(written).toEqual([]);
    const first = await session.run({ x });
    expect(written.length).toBe(pieces.size);
    expect(new Set(written)).toEqual(pieces);
    const again = await session.run({ x });
    expect(written.length).toBe(pieces.size);
    expect(values(again.d.data)).toEqual(values(first.d.data));
    expect(values(first.k.data)).toEqual([0.5, -1.5, 2.25]);
  });

  it("lazy and eager sessions of an artifact hold the same weights and answers, run after run", async () => {
    const { wasm, manifest } = await compile(model, { simd: "baseline" });
    expect(manifest.layers.every((l) => Array.isArray(l.weights))).toBe(true);
    const lazy = await createSession(wasm);
    const eager = await createSession(wasm, { placement: "eager" });
    for (let run = 0; run < 3; run++) {
      const [got, want] = [await lazy.run({ x }), await eager.run({ x })];
      expect(values(got.d.data)).toEqual(values(want.d.data));
      expect(values(got.k.data)).toEqual([0.5, -1.5, 2.25]);
    }
    expect(weightsIn(memoryOf(lazy), manifest)).toEqual(weightsIn(memoryOf(eager), manifest));
  });

  it("the first run's answer needs each layer's weights in place before that layer", async () => {
    const { wasm } = await compile(model, { simd: "baseline" });
    const eager = await (await createSession(wasm, { placement: "eager" })).run({ x });
    const lazy = await (await createSession(wasm)).run({ x });
    expect(values(lazy.d.data)).toEqual(values(eager.d.data));
    // and weights matter here: the same module with its image zeroed answers differently
    const zeroed = await createSession(wasm, { placement: "eager" });
    const m = zeroed.manifest;
    const buffer = memoryOf(zeroed);
    for (const r of m.memory.regions) new Uint8Array(buffer, r.offset, r.bytes).fill(0);
    expect(values((await zeroed.run({ x })).d.data)).not.toEqual(values(eager.d.data));
  });

  it("profile places every piece as it goes, and the session runs right after", async () => {
    const { wasm } = await compile(model, { simd: "baseline" });
    const want = await (await createSession(wasm, { placement: "eager" })).run({ x });
    const session = await createSession(wasm);
    const layers = await session.profile({ x });
    expect(layers.map((l) => l.layer)).toEqual(session.manifest.layers.map((l) => l.name));
    expect(values(session.runInPlace({ x }).d.data)).toEqual(values(want.d.data));
  });
});

describe("WeightScheduler", () => {
  // two layers share piece 64 (16 bytes); piece 96 is nobody's (a constant output); no checksums
  // (weights written by the compiler in this process): test/integrity.test.ts checks those
  const manifest = (): Manifest => ({
    format: FORMAT_VERSION, kiln: "test", inputs: [], outputs: [], frozen: [], features: [],
    layers: [
      { name: "l0", op: "X", fn: "layer_0", weights: [[64, 16], [80, 16]] },
      { name: "l1", op: "X", fn: "layer_1", weights: [[64, 16]] },
    ],
    memory: { bytes: 65536, weightsOffset: 64, weightsBytes: 48, weights: "external", regions: [{ offset: 64, bytes: 48 }], unclaimed: [[96, 16]] },
  });
  const image = Uint8Array.from({ length: 48 }, (_, i) => i + 1);
  const writer = (calls: number[]): WeightsWriter => (into, at, only) => {
    for (const addr of [64, 80, 96]) {
      if (only && (addr < only.offset || addr >= only.offset + only.bytes)) continue;
      calls.push(addr);
      into.set(image.subarray(addr - 64, addr - 48), at(addr));
    }
  };

  it("writes each piece once, in layer order, then what no layer reads", () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const calls: number[] = [];
    const s = new WeightScheduler(memory, manifest(), writer(calls));
    expect(calls).toEqual([]);
    s.placeLayer(1);
    expect(calls).toEqual([64]);
    s.placeLayer(0);
    expect(calls).toEqual([64, 80]);
    expect(s.pending).toBe(true);
    s.finish();
    expect(calls).toEqual([64, 80, 96]);
    expect(s.pending).toBe(false);
    s.placeLayer(0);
    expect(calls).toEqual([64, 80, 96]);
    expect(new Uint8Array(memory.buffer, 64, 48)).toEqual(image);
  });

  it("copies from an image by memory offset", () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const s = new WeightScheduler(memory, manifest(), image);
    s.placeLayer(0);
    expect(new Uint8Array(memory.buffer, 64, 48)).toEqual(Uint8Array.from([...image.subarray(0, 32), ...new Uint8Array(16)]));
    s.finish();
    expect(new Uint8Array(memory.buffer, 64, 48)).toEqual(image);
  });

  it("eager placement writes everything at once", () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const s = new WeightScheduler(memory, manifest(), image, "eager");
    expect(s.pending).toBe(false);
    expect(new Uint8Array(memory.buffer, 64, 48)).toEqual(image);
  });

  it("refuses a missing or wrong-sized image at load, lazy or not", () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    expect(() => new WeightScheduler(memory, manifest(), undefined)).toThrow(/48 bytes of weights/);
    expect(() => new WeightScheduler(memory, manifest(), new Uint8Array(47))).toThrow(/got 47 bytes/);
  });
});
