// Threads (docs/THREADS.md): at 2 threads every bench and light model gives the same bytes as at 1
// thread (each output element computed by one thread, in the same order), the big layers of every
// kernel family that splits are split, and sessions started and terminated leave no worker behind.
import * as fs from "node:fs";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import * as path from "node:path";
import type * as Api from "../compiler/driver/api.js";
import type * as Leak from "../bench/threads-leak.js";
import type { createSession as CreateSession, Tensor } from "../runtime/session.js";
import { LIGHT_MODELS } from "../models/light.js";
import { calibrateLogits, seedLightModel } from "../models/light-seed.js";
import { arange, graphInputs } from "../models/testdata.js";
import { OCR_MODELS, ocrModelBytes } from "../models/ocr.js";
import { lightModel, randomFeeds } from "./util/models.js";
import { makeInput } from "../compiler/driver/cli/inputs.js";
import { sileroVad16k, VAD_SHAPES } from "../models/vad.js";
import { QUANT_SOURCES, quantInput } from "../models/quantize/sources.js";
import { quantizedModel } from "../models/quantize/refill.js";
import { buildZooModel, symbolicSeqModel } from "../models/zoo.js";
import { bertFeeds, generateGreedy, gpt2Reference, GPT2_SHAPES, transformerBytes, type DecoderStep } from "../models/transformers.js";

// from dist/ (npm test builds it first): the workers run runtime/thread-worker.js, which exists only there
const root = path.resolve(import.meta.dirname, "..");
const { load, compile } = (await import(path.join(root, "dist/compiler/driver/api.js"))) as typeof Api;
const { createSession } = (await import(path.join(root, "dist/runtime/index.js"))) as { createSession: typeof CreateSession };

const TIMEOUT = 600_000;
const splitKernels = new Set<string>();

const bytesOf = (t: Tensor) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** Runs the model at 1 and 2 threads (twice each: the first run places the weights) and expects the same bytes. */
/** splits: whether layers must split (true), must not (false: a small model), or may (null) */
async function expectSameAtTwoThreads(model: Uint8Array, feeds: Record<string, Tensor>, shapes?: Record<string, number[]>, splits: boolean | null = true): Promise<void> {
  const one = await load(model, { cache: false, simd: "baseline", shapes });
  const two = await load(model, { cache: false, simd: "baseline", shapes, threads: 2 });
  try {
    const session = two.session!;
    expect(session.threads).toBe(2);
    expect(session.manifest.threads).toEqual({ max: 2 });
    const split = session.manifest.layers.filter((l) => l.split);
    // a small model (the MLP: 0.2 MFLOP) keeps every layer on thread 0
    if (splits) expect(split.length, "layers split").toBeGreaterThan(0);
    else if (splits === false) expect(split, "no layer is worth splitting").toEqual([]);
    for (const l of split) splitKernels.add(l.kernel ?? "default");
    const plain = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }]));
    const want = await one.run(plain);
    for (let run = 0; run < 2; run++) {
      const got = await two.run(plain);
      for (const [name, w] of Object.entries(want)) {
        expect(Buffer.compare(bytesOf(got[name]), bytesOf(w)), `output ${name}, run ${run}: the same bytes at 2 threads`).toBe(0);
      }
    }
  } finally {
    two.session?.terminate?.();
  }
}

async function seededLight(name: string): Promise<Uint8Array> {
  const seeded = seedLightModel(new Uint8Array(fs.readFileSync(lightModel(name))), 1);
  return calibrateLogits(seeded, Object.fromEntries(graphInputs(seeded).map((i) => [i.name, arange(i.name, i.dims)])));
}

describe("2 threads give the bytes 1 thread gives", () => {
  for (const name of LIGHT_MODELS) {
    it(`light ${name} (seeded weights)`, async () => {
      const model = await seededLight(name);
      await expectSameAtTwoThreads(model, randomFeeds(model));
    }, TIMEOUT);
  }
  for (const name of ["mobilenetv2", "minilm", "cnn", "mlp"]) {
    it(`zoo ${name}`, async () => {
      const model = buildZooModel(name);
      await expectSameAtTwoThreads(model, randomFeeds(model), undefined, name !== "mlp");
    }, TIMEOUT);
  }
  for (const m of OCR_MODELS) {
    it(`ocr ${m.name}`, async () => {
      const model = await ocrModelBytes(m);
      const feeds = { x: { dtype: "float32", ...makeInput("random", "float32", m.shape, 7) } as Tensor };
      await expectSameAtTwoThreads(model, feeds, { x: m.shape });
    }, TIMEOUT);
  }
  it("vad silero_v5 (state in and out, If and LSTM)", async () => {
    const model = await sileroVad16k();
    const feeds: Record<string, Tensor> = {
      input: { dtype: "float32", ...makeInput("random", "float32", VAD_SHAPES.input, 5) } as Tensor,
      state: { dtype: "float32", ...makeInput("random", "float32", VAD_SHAPES.state, 6) } as Tensor,
    };
    await expectSameAtTwoThreads(model, feeds, VAD_SHAPES, null);
  }, TIMEOUT);
  for (const s of QUANT_SOURCES) {
    for (const form of s.forms) {
      it(`quantized ${s.name}.${form}`, async () => {
        const model = await quantizedModel(s.name, form);
        const feeds = { [s.input]: { dtype: "float32", dims: s.shape, data: quantInput(s.shape, 101) } as Tensor };
        // the int8 GEMMs, depthwise and sums and MatMulNBits split; int8 im2col and Winograd stay on thread 0
        await expectSameAtTwoThreads(model, feeds, { [s.input]: s.shape });
      }, TIMEOUT);
    }
  }
  it("splits the layers of every GEMM-based, Winograd and channels-last depthwise kernel variant", () => {
    // attention's products run as Einsum "packed" (passes/fuse-transposed-matmul.ts): no bench model
    // has a packed-runtime MatMul left; test/threads-kernels.test.ts splits one
    for (const k of ["packed", "pointwise-gemm", "pointwise-positions", "im2col-gemm", "im2col-positions", "winograd-f4x4", "winograd-f2x2", "nhwc-lanes", "qgemm", "qgemm-pointwise", "qdepthwise", "qadd", "panels-nbits"]) {
      expect([...splitKernels], k).toContain(k);
    }
  });
});

describe("symbolic dims (bounds) at 2 threads: one module, every run the bytes 1 thread gives (and under a memory budget)", () => {
  /**
   * One bounded module loaded at 1 and 2 threads; `step` runs both on each feed and expects the same
   * bytes. Its split layers must include `layers` (op/kernel): the kernels with run-time extents
   * that split.
   */
  async function twins(model: Uint8Array, shapes: Record<string, unknown>, layers: string[]): Promise<{ step: DecoderStep; done: () => void }> {
    const one = await load(model, { cache: false, simd: "baseline", shapes: shapes as never });
    const two = await load(model, { cache: false, simd: "baseline", shapes: shapes as never, threads: 2 });
    expect(two.session!.threads).toBe(2);
    expect(two.session!.manifest.symbols?.length, "a bounded module").toBeGreaterThan(0);
    const split = new Set(two.session!.manifest.layers.filter((l) => l.split).map((l) => `${l.op}/${l.kernel ?? "default"}`));
    for (const k of layers) expect([...split], "split layers of a bounded module").toContain(k);
    let runs = 0;
    const step: DecoderStep = async (feeds) => {
      const want = await one.run(feeds), got = await two.run(feeds);
      for (const [name, w] of Object.entries(want)) {
        expect(got[name].dims, `output ${name} dims`).toEqual(w.dims);
        expect(Buffer.compare(bytesOf(got[name]), bytesOf(w)), `run ${runs}, output ${name}: the same bytes at 2 threads`).toBe(0);
      }
      runs++;
      return got;
    };
    return { step, done: () => { two.session?.terminate?.(); expect(two.modulesCompiled).toBe(1); } };
  }

  it("the zoo MiniLM, seq 1..512, run at 1, 7, 128, 301 and 512", async () => {
    const t = await twins(symbolicSeqModel("minilm"), { seq: [1, 512] }, ["MatMul_Add/packed", "Attention/blocked", "LayerNormalization/default"]);
    try {
      for (const seq of [1, 7, 128, 301, 512]) {
        await t.step({ hidden_states: { dtype: "float32", ...makeInput("random", "float32", [1, seq, 384], seq) } as Tensor });
      }
    } finally {
      t.done();
    }
  }, TIMEOUT);
  it("transformers' BERT (symbolic batch and sequence), seq 1..512, run at 1, 9 and 300", async () => {
    const t = await twins(transformerBytes("bert"), { batch: 1, seq: [1, 512] }, ["MatMul_Add_Gelu/packed", "Attention/blocked", "LayerNormalization/default"]);
    try {
      for (const seq of [1, 9, 300]) await t.step(bertFeeds(seq, seq));
    } finally {
      t.done();
    }
  }, TIMEOUT);
  it("transformers' BERT over a batch of sequences (batch 1..4, seq 1..256), run at 4 x 256, 3 x 17, 1 x 1 and 2 x 100, rows masked", async () => {
    const t = await twins(transformerBytes("bert"), { batch: [1, 4], seq: [1, 256] }, ["MatMul_Add_Gelu/packed", "Attention/blocked", "LayerNormalization/default"]);
    try {
      for (const [batch, seq] of [[4, 256], [3, 17], [1, 1], [2, 100]]) await t.step(bertFeeds(seq, seq + batch, batch, true));
    } finally {
      t.done();
    }
  }, TIMEOUT);
  it("with a memory budget too (the zoo MiniLM, seq 1..512, an 8 MB ring): at 1 and 2 threads the resident bounded build's bytes at 1, 77 and 300", async () => {
    const model = symbolicSeqModel("minilm");
    const resident = await load(model, { cache: false, simd: "baseline", shapes: { seq: [1, 512] } });
    for (const threads of [1, 2]) {
      const m = await load(model, { cache: false, simd: "baseline", shapes: { seq: [1, 512] }, memoryBudget: 8 << 20, threads });
      try {
        expect(m.session!.manifest.memory.stream?.budget).toBe(8 << 20);
        for (const seq of [1, 77, 300]) {
          const feeds = { hidden_states: { dtype: "float32", ...makeInput("random", "float32", [1, seq, 384], seq) } as Tensor };
          const [want, got] = [await resident.run(feeds), await m.run(feeds)];
          for (const [name, w] of Object.entries(want)) {
            expect(got[name].dims).toEqual(w.dims);
            expect(Buffer.compare(bytesOf(got[name]), bytesOf(w)), `${threads} threads, seq ${seq}, ${name}`).toBe(0);
          }
        }
        expect(m.modulesCompiled).toBe(1);
      } finally {
        m.session?.terminate?.();
      }
    }
  }, TIMEOUT);
  it("kiln bench --generate --threads 2: the decoding loop on one module at 2 threads beside onnxruntime-node at 2, the tokens transformers gave", () => {
    const ref = gpt2Reference();
    const r = spawnSync(process.execPath, [path.join(root, "bin/kiln.js"), "bench", path.join(root, "models/transformers/fixtures/gpt2.onnx"), "--generate", "6", "--threads", "2",
      "--vs", "ort-node", "--runs", "1", "--json", "--prompt", ref.prompt.join(","), "--shape", "batch=1", "--shape", "seq=1..16", "--shape", "past=0..240", "--shape", "total=past+seq"], { encoding: "utf8", timeout: TIMEOUT });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as { threads: number; agree: boolean; rows: { engine: string; tokens: number[]; modules?: number }[] };
    expect(out.threads).toBe(2);
    expect(out.agree).toBe(true);
    expect(out.rows.map((x) => x.engine)).toEqual(["kiln", "ort-node"]);
    expect(out.rows[0].modules).toBe(1);
    for (const row of out.rows) expect(row.tokens).toEqual(ref.tokens.slice(0, 6));
  }, TIMEOUT);
  it("the GPT-2-style decoder (seq 1..16, past 0..240) generates transformers' 16 tokens, every step the bytes of 1 thread", async () => {
    const t = await twins(transformerBytes("gpt2"), GPT2_SHAPES, ["Gemm/packed", "MatMul/packed"]);
    try {
      const expected = gpt2Reference();
      expect((await generateGreedy(t.step, expected.prompt, 16)).tokens).toEqual(expected.tokens.slice(0, 16));
    } finally {
      t.done();
    }
  }, TIMEOUT);
});

describe("threads under a memory budget: the weights read beside the compute threads", () => {
  it("ResNet-50 (seeded) streamed through a 24 MB ring at 2 threads: the resident build's bytes run after run; layers run while later pieces are still being read", async () => {
    const model = await seededLight("resnet50");
    const feeds = randomFeeds(model);
    const plain = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }]));
    const resident = await load(model, { cache: false, simd: "baseline" });
    const want = await resident.run(plain);
    const budget = 24 << 20;
    const c = await compile(model, { simd: "baseline", threads: 2, memoryBudget: budget });
    expect(c.manifest.memory.stream?.budget).toBe(budget);
    expect(c.manifest.threads).toEqual({ max: 2 });
    const { streamed } = (await import(path.join(root, "dist/runtime/sources.js"))) as typeof import("../runtime/sources.js");
    const events: string[] = [];
    const source = streamed({ size: c.weights!.length, read: async (at, into) => { events.push("read"); await new Promise((r) => setImmediate(r)); into.set(c.weights!.subarray(at, at + into.length)); return into.length; } });
    const s = await createSession(c.wasm, { weights: source, memoryBudget: budget, threads: 2, onLayers: () => events.push("run") });
    try {
      expect(s.threads).toBe(2);
      expect(s.manifest.layers.some((l) => l.split)).toBe(true);
      for (let run = 0; run < 2; run++) {
        events.length = 0;
        const got = await s.run(plain);
        for (const [name, w] of Object.entries(want)) expect(Buffer.compare(bytesOf(got[name]), bytesOf(w)), `run ${run}, ${name}: the resident build's bytes`).toBe(0);
        // every run reads the pieces again, and the first layers run before the last piece is read
        expect(events.filter((e) => e === "read").length).toBeGreaterThan(s.manifest.layers.length / 2);
        expect(events.indexOf("run")).toBeLessThan(events.lastIndexOf("read"));
      }
    } finally {
      s.terminate?.();
    }
  }, TIMEOUT);
  it("the JIT too: load(model, { threads: 2, memoryBudget })", async () => {
    const model = buildZooModel("minilm");
    const feeds = Object.fromEntries(Object.entries(randomFeeds(model)).map(([k, t]) => [k, { data: t.data, dims: t.dims }]));
    const want = await (await load(model, { cache: false, simd: "baseline" })).run(feeds);
    const m = await load(model, { cache: false, simd: "baseline", threads: 2, memoryBudget: 8 << 20 });
    try {
      expect(m.session!.threads).toBe(2);
      expect(m.session!.manifest.memory.stream?.budget).toBe(8 << 20);
      for (let run = 0; run < 2; run++) {
        const got = await m.run(feeds);
        for (const [name, w] of Object.entries(want)) expect(Buffer.compare(bytesOf(got[name]), bytesOf(w)), `run ${run}, ${name}`).toBe(0);
      }
    } finally {
      m.session?.terminate?.();
    }
  }, TIMEOUT);
});

describe("threads option", () => {
  it("a one-thread module asked for 2 threads runs on one and warns once", async () => {
    const { wasm } = await compile(buildZooModel("mlp"), { simd: "baseline" });
    const warnings: string[] = [];
    const s = await createSession(wasm, { threads: 2, warn: (w) => warnings.push(w) });
    expect(s.threads).toBe(1);
    expect(warnings).toEqual([expect.stringMatching(/compiled for one thread/)]);
  });
  it("more threads than the module was compiled for is BAD_OPTION", async () => {
    const { wasm } = await compile(buildZooModel("mlp"), { simd: "baseline", threads: 2 });
    await expect(createSession(wasm, { threads: 3 })).rejects.toMatchObject({ code: "BAD_OPTION", message: expect.stringMatching(/at most 2 threads/) });
  });
  it("an AOT threaded artifact runs at 2 threads, and \"auto\" takes at most the module's maximum", async () => {
    const model = buildZooModel("minilm");
    const { wasm } = await compile(model, { simd: "baseline", threads: 2 });
    const one = await createSession((await compile(model, { simd: "baseline" })).wasm);
    const two = await createSession(wasm, { threads: "auto" });
    try {
      expect(two.threads).toBeGreaterThanOrEqual(1);
      expect(two.threads).toBeLessThanOrEqual(2);
      const feeds = Object.fromEntries(Object.entries(randomFeeds(model)).map(([k, t]) => [k, t.data]));
      const [a, b] = [await one.run(feeds), await two.run(feeds)];
      for (const name of Object.keys(a)) expect(Buffer.compare(bytesOf(a[name]), bytesOf(b[name]))).toBe(0);
    } finally {
      two.terminate?.();
    }
  }, TIMEOUT);
  it("\"auto\" runs a model under 0.3 GFLOP a run on one thread (2 threads measured slower there), a number as asked", async () => {
    const { availableCores, AUTO_MIN_FLOPS } = (await import(path.join(root, "dist/runtime/threads.js"))) as typeof import("../runtime/threads.js");
    const small = buildZooModel("mlp");
    const { wasm } = await compile(small, { simd: "baseline", threads: 2 });
    const sessions = [await createSession(wasm, { threads: "auto" }), await createSession(wasm, { threads: 2 })];
    const loaded = await load(small, { cache: false, threads: "auto" });
    try {
      const flops = sessions[0].manifest.layers.reduce((a, l) => a + (l.flops ?? 0), 0);
      expect(flops).toBeGreaterThan(0);
      expect(flops).toBeLessThan(AUTO_MIN_FLOPS);
      expect(sessions.map((x) => x.threads)).toEqual([1, 2]);
      const feeds = Object.fromEntries(Object.entries(randomFeeds(small)).map(([k, t]) => [k, { data: t.data, dims: t.dims }]));
      await loaded.run(feeds);
      expect(loaded.session!.threads).toBe(1);
      // MiniLM (2.9 GFLOP) takes the cores, at most the module's 2
      const big = await createSession((await compile(buildZooModel("minilm"), { simd: "baseline", threads: 2 })).wasm, { threads: "auto" });
      expect(big.threads).toBe(Math.min(2, await availableCores()));
      big.terminate?.();
    } finally {
      for (const x of sessions) x.terminate?.();
      loaded.session?.terminate?.();
    }
  }, TIMEOUT);
  it("refuses a bad thread count", async () => {
    await expect(load(buildZooModel("mlp"), { threads: 0 })).rejects.toMatchObject({ code: "BAD_OPTION" });
    await expect(createSession(new Uint8Array(8), { threads: "many" as never })).rejects.toMatchObject({ code: "BAD_OPTION" });
  });
  it("a terminated session's run fails with a typed error", async () => {
    const model = buildZooModel("cnn");
    const m = await load(model, { cache: false, threads: 2 });
    m.session!.terminate!();
    await expect(m.run(Object.fromEntries(Object.entries(randomFeeds(model)).map(([k, t]) => [k, { data: t.data, dims: t.dims }])))).rejects.toMatchObject({ code: "BAD_OPTION" });
  });
});

describe("no worker left behind", () => {
  // the full 1,000 rounds of 50: node --expose-gc dist/bench/threads-leak.js (the same code). It runs
  // in a process of its own, with a collection before each reading: RSS read inside this test file's
  // process moves with everything the file's other tests allocated and V8 has not collected yet
  it("5 rounds of 10 sessions open at once at 2 threads, each run and terminated: threads and memory back, outputs of 1 thread", () => {
    const script = path.join(root, "dist/bench/threads-leak.js");
    const child = spawnSync(process.execPath, ["--expose-gc", script, "--rounds", "5", "--sessions", "10", "--json"], { encoding: "utf8", timeout: TIMEOUT });
    expect(child.error, child.stderr).toBeUndefined();
    const r = JSON.parse(child.stdout.trim().split("\n").pop()!) as Leak.LeakRun & { gc: boolean };
    expect(r.gc, "the child collected before each reading").toBe(true);
    expect(r.mismatches, "runs whose output differs from one thread's").toBe(0);
    // V8 and libuv start and stop helper threads of their own: at most as many as before
    if (r.before.threads >= 0) expect(r.after.threads).toBeLessThanOrEqual(r.before.threads);
    expect(r.after.external - r.before.external, "external memory (the shared memories) back").toBeLessThan(32 << 20);
    expect(r.after.rss - r.before.rss, "resident memory back").toBeLessThan(32 << 20);
    expect(r.ok).toBe(true);
    expect(child.status).toBe(0);
  }, TIMEOUT);
});
