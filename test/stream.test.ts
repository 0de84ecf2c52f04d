// Weights under a memory budget (codegen/stream.ts, runtime/sources.ts): each layer's pieces get
// slots in a ring of at most the budget's bytes, read from the weights file before the layer runs
// on every run (the next layer's while one computes, where the pair fits). The answers are the
// resident artifact's, run after run; the module's memory holds the ring, not the weights; a layer
// bigger than the budget, or a session asking for a budget the artifact was not compiled for, is
// BAD_OPTION; a damaged piece is INVALID_ARTIFACT naming its layer on whichever run reads it.
import { describe, expect, it } from "vitest";
import { compile, load } from "../compiler/driver/api.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { planStream, type StreamLayer } from "../codegen/stream.js";
import { createSession } from "../runtime/session.js";
import { bytesSource, streamed } from "../runtime/sources.js";
import { imageBytes } from "../runtime/weights.js";
import { tensor } from "./util/ort.js";
import { values } from "./util/values.js";

const dense = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (Math.sin(i * 0.37 + seed) * 0.5).toFixed(5)).join(", ");

// a chain of Gemm-like layers, each with its own 16x16 weights (1 KiB), one weight read twice
// (tied: "g1" and "g4"), a constant output, and a Conv whose kernel packs its filter
const model = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[1,16]
const %w1 : float32[16,16] = dense<[${dense(256, 1)}]>
const %w2 : float32[16,16] = dense<[${dense(256, 2)}]>
const %w3 : float32[16,16] = dense<[${dense(256, 3)}]>
const %b : float32[16] = dense<[${dense(16, 4)}]>
const %k : float32[3] = dense<[0.5, -1.5, 2.25]>
const %f : float32[4,1,3,3] = dense<[${dense(36, 5)}]>
const %s : int64[4] = dense<[1, 1, 4, 4]>
%h1 : float32[1,16] = MatMul(%x, %w1) {name="g1"}
%a1 : float32[1,16] = Tanh(%h1) {name="t1"}
%h2 : float32[1,16] = Gemm(%a1, %w2, %b) {name="g2"}
%a2 : float32[1,16] = Tanh(%h2) {name="t2"}
%h3 : float32[1,16] = MatMul(%a2, %w3) {name="g3"}
%a3 : float32[1,16] = Tanh(%h3) {name="t3"}
%h4 : float32[1,16] = MatMul(%a3, %w1) {name="g4"}
%i : float32[1,1,4,4] = Reshape(%h4, %s) {name="img"}
%y : float32[1,4,2,2] = Conv(%i, %f) {name="conv"}
output %y
output %k`));
const x = tensor({ dims: [1, 16] }, 3).data;

const whole = compile(model, { simd: "baseline" });
const want = whole.then(async (c) => (await createSession(c.wasm)).run({ x }));

async function errorOf(p: Promise<unknown>): Promise<{ code: string; message: string; context: Record<string, unknown> }> {
  const e = await p.then(() => undefined, (err) => err);
  expect(e, "expected a KilnError").toBeDefined();
  expect(e.name).toBe("KilnError");
  return e;
}

describe("weights under a memory budget", () => {
  for (const budget of [1 << 20, 4096, 2560]) {
    it(`budget ${budget}: the resident artifact's answers, run after run; memory holds the ring, not the weights`, async () => {
      const c = await compile(model, { simd: "baseline", memoryBudget: budget });
      const m = c.manifest.memory;
      expect(m.weights).toBe("external");
      expect(m.stream).toMatchObject({ budget, bytes: c.weights!.length });
      expect(m.sidecar).toEqual({ name: "weights.bin", bytes: c.weights!.length });
      expect(m.regions[0].bytes).toBeLessThanOrEqual(budget);
      // every layer's pieces lie in the ring
      for (const l of c.manifest.layers) for (const [addr, size, sum, pos] of l.weights) {
        expect(addr >= m.regions[0].offset && addr + size <= m.regions[0].offset + m.regions[0].bytes).toBe(true);
        expect(typeof sum).toBe("number");
        expect(pos! + size).toBeLessThanOrEqual(m.stream!.bytes);
      }
      const reads: number[] = [];
      const counting = streamed({ size: c.weights!.length, read: async (at, into) => (reads.push(at), into.set(c.weights!.subarray(at, at + into.length)), into.length) });
      const s = await createSession(c.wasm, { weights: counting, memoryBudget: budget });
      const pieces = c.manifest.layers.reduce((a, l) => a + l.weights.length, 0);
      for (let run = 1; run <= 3; run++) {
        const got = await s.run({ x });
        expect(values(got.y.data)).toEqual(values((await want).y.data));
        expect(values(got.k.data)).toEqual([0.5, -1.5, 2.25]);
        // each run reads every layer's pieces again; the constant output once
        expect(reads.length).toBe(run * pieces + m.unclaimed.length);
      }
      if (budget < 4096) {
        // w1 (tied: g1 and g4) keeps its slot throughout; w2 and w3 take turns beside it
        // the budget is smaller than all the weights: slots are shared
        const slots = c.manifest.layers.flatMap((l) => l.weights.map((w) => w[0]));
        expect(new Set(slots).size).toBeLessThan(slots.length);
        expect(m.stream!.wait.length).toBeGreaterThan(0); // w3 waits for g2 to finish with its slot
        // the weights memory holds (the ring and the resident constants) is less than all of them
        expect(imageBytes(m.regions)).toBeLessThan(imageBytes((await whole).manifest.memory.regions));
      }
      // profile reads layer by layer too, and answers the same after
      expect((await s.profile({ x })).filter((l) => l.placedBytes > 0).length).toBe(c.manifest.layers.filter((l) => l.weights.length).length);
      expect(values((await s.run({ x })).y.data)).toEqual(values((await want).y.data));
    });
  }

  it("onLayers: a run that reads weights reports each range of layers once its weights are in, covering every layer; a resident session's later runs report nothing", async () => {
    const c = await compile(model, { simd: "baseline", memoryBudget: 2560 });
    const events: string[] = [];
    const reading = new Set(c.manifest.layers.flatMap((l, k) => (l.weights.length ? [k] : [])));
    const tracked = streamed({ size: c.weights!.length, read: async (at, into) => (events.push(`read ${at}`), into.set(c.weights!.subarray(at, at + into.length)), into.length) });
    const steps: [number, number][] = [];
    const s = await createSession(c.wasm, { weights: tracked, memoryBudget: 2560, onLayers: (from, to) => { steps.push([from, to]); events.push(`run ${from}`); } });
    for (let run = 1; run <= 2; run++) {
      steps.length = 0;
      expect(values((await s.run({ x })).y.data)).toEqual(values((await want).y.data));
      // contiguous, non-empty, from layer 0 to the last, each starting at a layer that reads weights (or 0)
      expect(steps[0][0]).toBe(0);
      expect(steps[steps.length - 1][1]).toBe(c.manifest.layers.length);
      steps.forEach(([from, to], k) => {
        expect(to).toBeGreaterThan(from);
        if (k) expect(steps[k - 1][1]).toBe(from);
        if (k) expect(reading.has(from)).toBe(true);
      });
    }
    // the first layer ran before the last piece was read (each layer waits only for its own)
    const lastRead = events.map((e, k) => (e.startsWith("read") ? k : -1)).reduce((a, b) => Math.max(a, b));
    expect(events.indexOf("run 0")).toBeLessThan(lastRead);
    // resident: the first run places weights layer by layer (reported), later ones run straight through
    const r = await compile(model, { simd: "baseline" });
    const seen: number[] = [];
    const resident = await createSession(r.wasm, { onLayers: (from) => seen.push(from) });
    await resident.run({ x });
    expect(seen[0]).toBe(0);
    const first = seen.length;
    await resident.run({ x });
    expect(seen.length).toBe(first);
    expect((await errorOf(createSession(r.wasm, { onLayers: 3 as never }))).code).toBe("BAD_OPTION");
  });

  it("the JIT streams too: load(model, { memoryBudget })", async () => {
    const m = await load(model, { memoryBudget: 2560, cache: false });
    for (let run = 0; run < 2; run++) expect(values((await m.run({ x })).y.data)).toEqual(values((await want).y.data));
    expect(m.session!.manifest.memory.stream?.budget).toBe(2560);
  });

  it("a layer bigger than the budget is BAD_OPTION naming it and both sizes", async () => {
    const e = await errorOf(compile(model, { memoryBudget: 512 }));
    expect(e.code).toBe("BAD_OPTION");
    expect(e.message).toMatch(/layer "g1" \(\w+\) reads \d+ bytes of weights, more than the memory budget of 512 bytes: raise it to at least \d+ bytes/);
    expect(e.context.node).toBe("g1");
  });

  it("a session's memoryBudget needs an artifact compiled for it (or less)", async () => {
    const e = await errorOf(createSession((await whole).wasm, { memoryBudget: 1 << 20 }));
    expect(e.code).toBe("BAD_OPTION");
    expect(e.message).toMatch(/memoryBudget 1048576: compile the model with --memory-budget 1048576/);
    const c = await compile(model, { simd: "baseline", memoryBudget: 4096 });
    expect((await errorOf(createSession(c.wasm, { weights: bytesSource(c.weights!), memoryBudget: 3072 }))).code).toBe("BAD_OPTION");
    expect(await createSession(c.wasm, { weights: bytesSource(c.weights!), memoryBudget: 8192 })).toBeDefined();
  });

  it("an altered piece is INVALID_ARTIFACT naming its layer, on the run that reads it", async () => {
    const c = await compile(model, { simd: "baseline", memoryBudget: 3072 });
    const g3 = c.manifest.layers.find((l) => l.name === "g3")!;
    const [, size, , pos] = g3.weights[0];
    const altered = Uint8Array.from(c.weights!);
    altered[pos! + size - 1] ^= 1;
    const e = await errorOf((await createSession(c.wasm, { weights: bytesSource(altered) })).run({ x }));
    expect(e.code).toBe("INVALID_ARTIFACT");
    expect(e.message).toMatch(/the weights of layer "g3" are damaged: the piece at image position \d+ \(\d+ bytes\) has checksum/);
  });
});

describe("planStream", () => {
  const piece = (n: number) => new Uint8Array(n);
  const layer = (name: string, ...sizes: number[]): StreamLayer => ({ name, op: "X", tensors: [], constants: sizes.map(piece) });

  it("prefetch where the pair fits, a wait where it does not, slots reused once free", () => {
    // budget 256: a (96) + b (96) fit together; c (160) does not fit beside b (96): c waits
    const plan = planStream([layer("a", 96), layer("none"), layer("b", 96), layer("c", 160), layer("d", 64)], 1000, 256);
    expect([...plan.wait]).toEqual([3]);
    const addr = (k: number) => plan.constantAddrs[k][0];
    expect(addr(0)).not.toBe(addr(2)); // b is read while a computes
    expect(addr(3)).toBe(1000); // c after b ran: the ring's start again
    expect(addr(4) >= addr(3) + 160 || addr(4) + 64 <= addr(3)).toBe(true); // d read while c computes
    expect(plan.firstAt.map((f) => f.length)).toEqual([1, 0, 1, 1, 1]);
    expect(plan.bytes).toBe(96 + 96 + 160 + 64);
  });

  it("a piece read by two layers keeps its slot between them", () => {
    // a kernel constant derived from one tensor by one recipe is one piece, however many layers read it
    const shared = { byteLength: 64, write: () => {}, source: { tensor: { dtype: "float32", dims: [16], data: new Float32Array(16) }, recipe: "r" } } as never;
    const plan = planStream([
      { name: "a", op: "X", tensors: [], constants: [shared] },
      layer("b", 128),
      { name: "c", op: "X", tensors: [], constants: [shared, piece(32)] },
    ], 0, 256);
    expect(plan.constantAddrs[2][0]).toBe(plan.constantAddrs[0][0]);
    const live = [plan.constantAddrs[0][0], plan.constantAddrs[1][0], plan.constantAddrs[2][1]];
    const sizes = [64, 128, 32];
    for (let i = 0; i < 3; i++) for (let j = i + 1; j < 3; j++) expect(live[i] + sizes[i] <= live[j] || live[j] + sizes[j] <= live[i]).toBe(true);
    expect(plan.pieces.length).toBe(3);
  });

  it("a piece read again after a gap gives its slot up in between and is read again before its next reader, at the same address", () => {
    // the shared piece (64) is read by a and e; c (208) needs the ring but for 48 bytes: it takes the shared slot's bytes between
    const shared = { byteLength: 64, write: () => {}, source: { tensor: { dtype: "float32", dims: [16], data: new Float32Array(16) }, recipe: "r" } } as never;
    const plan = planStream([
      { name: "a", op: "X", tensors: [], constants: [shared] },
      layer("b", 128),
      layer("c", 208),
      layer("d", 16),
      { name: "e", op: "X", tensors: [], constants: [shared] },
    ], 0, 256);
    const at = (k: number) => plan.constantAddrs[k][0];
    expect(at(4)).toBe(at(0));
    expect(at(2) < at(0) + 64 && at(0) < at(2) + 208).toBe(true); // c uses the shared piece's bytes between its reads
    // stored once, read before a and again before e
    expect(plan.pieces.length).toBe(4);
    expect(plan.firstAt[4].map((p) => p.position)).toEqual(plan.firstAt[0].map((p) => p.position));
  });
});

describe("weights left in external data files (a model past 4 GiB)", () => {
  it("big external tensors stay references: read when their layer's slot is written, never kept; cse hashes the reference", async () => {
    const fs = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const { writeBigMlp } = await import("../models/big-mlp.js");
    const { setLazyExternalBytes } = await import("../compiler/onnx/tensor.js");
    const { readModelFile } = await import("../compiler/driver/files.js");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-lazy-"));
    try {
      const big = writeBigMlp(dir, { layers: 3, dim: 64 });
      const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
      const want = await (await load(big.model, { cache: false })).run({ x });
      setLazyExternalBytes(1024);
      const { readExternal } = await readModelFile(big.model);
      let reads = 0;
      const counting: typeof readExternal = (...args) => ((args[2] ?? 0) > 1 && reads++, readExternal(...args));
      const bytes = fs.readFileSync(big.model);
      // compile: each 16 KiB weight read twice, to seal its piece (a checksum) and for the result's
      // weights bytes (kiln compile writes the file in the first pass: bench/big-model.ts)
      const c = await compile(bytes, { simd: "baseline", memoryBudget: 3 * 16384, readExternal: counting });
      expect(reads).toBe(6);
      // batch 1 against a weight in its file: the GEMM reads it in place, unpacked (the piece is the weight itself)
      expect(c.manifest.layers.map((l) => [l.kernel, l.weights.map((w) => w[1])])).toEqual([["packed", [16384]], ["packed", [16384]], ["packed", [16384]]]);
      const s = await createSession(c.wasm, { weights: bytesSource(c.weights!) });
      expect(values((await s.run({ x })).y.data)).toEqual(values(want.y.data));
      // the JIT reads each weight when its layer's slot is written, on every run
      reads = 0;
      const jit = await load(bytes, { memoryBudget: 2 * 16384, readExternal: counting, cache: false });
      expect(reads).toBe(0);
      for (let run = 1; run <= 2; run++) {
        expect(values((await jit.run({ x })).y.data)).toEqual(values(want.y.data));
        expect(reads).toBe(3 * run);
      }
    } finally {
      setLazyExternalBytes(64 * 2 ** 20);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
