// Transformer models exported the way users export theirs (models/transformers/export.py:
// transformers 5 + torch.onnx, seeded random weights, dynamic axes), run by kiln against
// onnxruntime-node (rtol 1e-3, atol 1e-5): a BERT encoder at five sequence lengths through one
// load(), a GPT-2-style decoder generating 32 tokens greedily with its past fed back, and a
// Whisper-style audio encoder over 30 s of features (1,500 positions).
//
// Modules: load() compiles one module per distinct set of fed shapes unless `shapes` gives a dim
// bounds (symbolic dims compiled once, issue 15): BERT with seq bounds 1..512 runs its five lengths
// on one module; the decoder with GPT2_SHAPES (seq 1..16, past 0..240, total = past + seq) runs
// every step of the generation on one module, and without bounds compiles one per step (its past
// grows by one each token). The tests count them (distinct sessions behind model.session, and
// modulesCompiled).
import * as fs from "node:fs";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { compile, load, type Model } from "../compiler/driver/api.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { createSession } from "../runtime/index.js";
import {
  bertFeeds, decoderShape, generateGreedy, gpt2Reference, GPT2_SHAPES, mergedDecoder, transformerPath, whisperFeatures, WHISPER, WHISPER_SHAPES,
  type DecoderShape, type DecoderStep,
} from "../models/transformers.js";
import { benchGenerate, ortStep } from "../bench/generate.js";
import { poisoner } from "./util/poison.js";

const TOLERANCE = { rtol: 1e-3, atol: 1e-5 };
const expected = gpt2Reference();
const TIMEOUT = 240_000;

/** onnxruntime-node's session on the fixture, as a step function */
const ortSession = async (file: string): Promise<DecoderStep> => ortStep(ort, new Uint8Array(fs.readFileSync(file)), {});

/** runs `model` and counts the distinct compiled sessions (modules) it has run on */
function counted(model: Model): { step: DecoderStep; modules: () => number } {
  const seen = new Set<object>();
  return {
    step: async (feeds) => {
      const out = await model.run(feeds);
      seen.add(model.session!);
      return out;
    },
    modules: () => seen.size,
  };
}

function expectClose(got: Record<string, Tensor>, want: Record<string, Tensor>, names: string[], what: string): void {
  for (const n of names) {
    expect(got[n]?.dims, `${what} ${n} dims`).toEqual(want[n].dims);
    expect(compareTensors(got[n], want[n], TOLERANCE).message ?? "ok", `${what} ${n}`).toBe("ok");
  }
}

describe("BERT (symbolic batch and sequence)", () => {
  const file = transformerPath("bert");
  const outputs = ["last_hidden_state", "pooler_output"];
  let reference: DecoderStep;
  beforeAll(async () => {
    reference = await ortSession(file);
  });

  it("runs sequence lengths 1, 7, 32, 128 and 300 on one module (seq bounds 1..512), each output as onnxruntime-node's", async () => {
    const loaded = await load(file, { shapes: { batch: 1, seq: [1, 512] } });
    const model = counted(loaded);
    for (const seq of [1, 7, 32, 128, 300]) {
      const feeds = bertFeeds(seq, seq);
      expectClose(await model.step(feeds), await reference(feeds), outputs, `seq ${seq}`);
    }
    console.log(`BERT: 5 sequence lengths, modulesCompiled ${loaded.modulesCompiled}`);
    expect(loaded.modulesCompiled).toBe(1);
    expect(model.modules()).toBe(1);
  }, TIMEOUT);

  it("at -O0 too (the head Transposes and MatMuls unfused): lengths 1, 37 and the bound 512 on one module", async () => {
    const loaded = await load(file, { shapes: { batch: 1, seq: [1, 512] }, level: 0 });
    for (const seq of [1, 37, 512]) {
      const feeds = bertFeeds(seq, seq);
      expectClose(await loaded.run(feeds), await reference(feeds), outputs, `-O0 seq ${seq}`);
    }
    expect(loaded.modulesCompiled).toBe(1);
  }, TIMEOUT);

  it("without bounds, load() compiles a module per length (the pinned path)", async () => {
    const model = counted(await load(file));
    for (const seq of [7, 32]) {
      const feeds = bertFeeds(seq, seq);
      expectClose(await model.step(feeds), await reference(feeds), outputs, `pinned seq ${seq}`);
    }
    expect(model.modules()).toBe(2);
  }, TIMEOUT);

  it("a padded batch (rows masked at different lengths) and the same at -O0", async () => {
    const feeds = bertFeeds(13, 3, 3, true);
    const want = await reference(feeds);
    expectClose(await (await load(file)).run(feeds), want, outputs, "batch 3, seq 13");
    expectClose(await (await load(file, { level: 0 })).run(feeds), want, outputs, "-O0 batch 3, seq 13");
  }, TIMEOUT);
});

describe("BERT over a batch of sequences (symbolic dims past the leading one)", () => {
  const file = transformerPath("bert");
  const outputs = ["last_hidden_state", "pooler_output"];
  let reference: DecoderStep;
  beforeAll(async () => {
    reference = await ortSession(file);
  });
  for (const [what, shapes, runs] of [
    ["batch and seq both bounded (1..4, 1..128)", { batch: [1, 4], seq: [1, 128] }, [[4, 128], [1, 1], [3, 7], [2, 64], [4, 33]]],
    ["batch pinned at 3, seq bounded (1..128)", { batch: 3, seq: [1, 128] }, [[3, 1], [3, 128], [3, 45]]],
  ] as [string, Record<string, number | [number, number]>, [number, number][]][]) {
    it(`${what}: one module, rows masked at different lengths, each run as onnxruntime-node's, the arena poisoned with NaN`, async () => {
      const loaded = await load(file, { shapes });
      const poison = poisoner(loaded);
      for (const [batch, seq] of runs) {
        poison();
        const feeds = bertFeeds(seq, seq + batch, batch, true);
        expectClose(await loaded.run(feeds), await reference(feeds), outputs, `batch ${batch} seq ${seq}`);
      }
      expect(loaded.modulesCompiled).toBe(1);
    }, TIMEOUT);
  }
});

describe("more architectures over a batch of sequences, one module each (export.py: RoBERTa, T5's encoder, DeBERTa-v3's attention, a Llama-style decoder, GPT-Neo)", () => {
  for (const name of ["roberta", "t5_encoder", "deberta_v2"] as const) {
    it(`${name}: batch 1..4 and seq 1..128, rows masked at different lengths, each run as onnxruntime-node's, the arena poisoned with NaN`, async () => {
      const reference = await ortSession(transformerPath(name));
      const loaded = await load(transformerPath(name), { shapes: { batch: [1, 4], seq: [1, 128] } });
      const poison = poisoner(loaded);
      for (const [batch, seq] of [[4, 128], [1, 1], [3, 7], [2, 64]]) {
        const { input_ids, attention_mask } = bertFeeds(seq, seq + batch, batch, true);
        const feeds = { input_ids, attention_mask };
        poison();
        expectClose(await loaded.run(feeds), await reference(feeds), ["last_hidden_state"], `${name} batch ${batch} seq ${seq}`);
      }
      expect(loaded.modulesCompiled).toBe(1);
    }, TIMEOUT);
  }

  const decoders = [
    ["llama", "grouped-query attention and rotary positions with past key/values", [[1, 5, 0], [4, 1, 17], [2, 16, 48], [3, 3, 64]]],
    ["gpt_neo", "the causal mask cut from a constant buffer (bias[:, :, total - seq : total, :total], as GPT-2 exports before transformers 4.36), global and local attention",
      [[1, 5, 0], [4, 1, 17], [2, 16, 64], [3, 3, 9], [1, 1, 0]]],
  ] as const;
  for (const [name, what, cases] of decoders) {
    it(`${name}: ${what}, batch 1..4, seq 1..16, past 0..64 on one module, each step as onnxruntime-node's`, async () => {
      const reference = await ortSession(transformerPath(name));
      const loaded = await load(transformerPath(name), { shapes: { batch: [1, 4], seq: [1, 16], past: [0, 64], total: "past+seq" } });
      const poison = poisoner(loaded);
      for (const [batch, seq, past] of cases) {
        const feeds = decoderFeeds(loaded, batch, seq, past);
        poison();
        const want = await reference(feeds);
        expectClose(await loaded.run(feeds), want, Object.keys(want), `${name} batch ${batch} seq ${seq} past ${past}`);
      }
      expect(loaded.modulesCompiled).toBe(1);
    }, TIMEOUT);
  }
});

describe("GPT-2-style decoder with past key/values", () => {
  const file = transformerPath("gpt2");

  it("the loop is transformers' greedy generate: onnxruntime-node gives its 32 tokens", async () => {
    const got = await generateGreedy(await ortSession(file), expected.prompt, 32);
    expect(got.tokens).toEqual(expected.tokens);
    // a loop that repeats one token would show nothing
    expect(new Set(got.tokens).size).toBeGreaterThan(8);
  }, TIMEOUT);

  it("kiln generates the same 32 tokens, each step's logits and present as onnxruntime-node's", async () => {
    const reference = await ortSession(file);
    const model = counted(await load(file));
    // each step compared on the same feeds (kiln's own past fed back, as an app would)
    const step: DecoderStep = async (feeds) => {
      const got = await model.step(feeds);
      expectClose(got, await reference(feeds), Object.keys(got), `step with past ${feeds["past_key_values.0.key"].dims[2]}`);
      return got;
    };
    const got = await generateGreedy(step, expected.prompt, 32);
    expect(got.tokens).toEqual(expected.tokens);
    // without bounds the prompt's step and every token's step are new shapes, a module each
    console.log(`GPT-2: 32 tokens, modulesCompiled ${model.modules()}`);
    expect(model.modules()).toBe(32);
  }, TIMEOUT);

  for (const level of [2, 0] as const) {
    it(`one module (seq 1..16, past 0..240, total = past + seq) generates the 32 tokens at -O${level}${level === 2 ? " (and 200 more from a 16-token prompt)" : ""}, each step as onnxruntime-node's, the arena poisoned with NaN between steps`, async () => {
      const reference = await ortSession(file);
      const loaded = await load(file, { shapes: GPT2_SHAPES, level });
      const poison = poisoner(loaded);
      const step: DecoderStep = async (feeds) => {
        poison();
        const got = await loaded.run(feeds);
        expectClose(got, await reference(feeds), Object.keys(got), `-O${level} step with past ${feeds["past_key_values.0.key"].dims[2]}`);
        return got;
      };
      const got = await generateGreedy(step, expected.prompt, 32);
      expect(got.tokens).toEqual(expected.tokens);
      if (level === 2) {
        // a prompt of the most tokens a step takes, then a long generation: past up to 215
        const prompt = Array.from({ length: GPT2_SHAPES.seq[1] }, (_, i) => (i * 37 + 5) % 1000);
        const long = await generateGreedy(step, prompt, 200);
        expect(long.tokens).toEqual((await generateGreedy(reference, prompt, 200)).tokens);
      }
      expect(loaded.modulesCompiled).toBe(1);
    }, TIMEOUT);
  }

  it("optimum's merged form (an If on use_cache_branch, false at the prompt): one module under bounds runs both branches' steps and generates the 32 tokens, each step as onnxruntime-node's", async () => {
    const merged = mergedDecoder(fs.readFileSync(file));
    const reference = await ortStep(ort, merged, {});
    const loaded = await load(merged, { shapes: GPT2_SHAPES });
    const shape = decoderShape(loaded.inputs!);
    expect(typeof shape === "object" && shape.cacheBranch).toBe(true);
    const poison = poisoner(loaded);
    const step: DecoderStep = async (feeds) => {
      poison();
      const got = await loaded.run(feeds);
      expectClose(got, await reference(feeds), Object.keys(got), `merged step with past ${feeds["past_key_values.0.key"].dims[2]}, use_cache_branch ${feeds.use_cache_branch.data[0]}`);
      return got;
    };
    const got = await generateGreedy(step, expected.prompt, 32, shape as DecoderShape);
    expect(got.tokens).toEqual(expected.tokens);
    expect(loaded.modulesCompiled).toBe(1);
  }, TIMEOUT);

  it("with the batch bounded too (1..4): batches of 1 to 4 prompts at several lengths and pasts on one module, each step as onnxruntime-node's, the arena poisoned with NaN", async () => {
    const reference = await ortSession(file);
    const loaded = await load(file, { shapes: { ...GPT2_SHAPES, batch: [1, 4] } });
    const poison = poisoner(loaded);
    for (const [batch, seq, past] of [[2, 5, 0], [4, 1, 17], [1, 16, 100], [3, 3, 240]]) {
      const feeds = decoderFeeds(loaded, batch, seq, past);
      poison();
      const want = await reference(feeds);
      expectClose(await loaded.run(feeds), want, Object.keys(want), `batch ${batch} seq ${seq} past ${past}`);
    }
    expect(loaded.modulesCompiled).toBe(1);
  }, TIMEOUT);

  it("a decode-only module (seq pinned at 1, past 0..240) takes the prompt a token a step, then generates the 32 tokens, each step as onnxruntime-node's", async () => {
    // the generic MatMul has no symbolic form: the products over the past (a row or a column of 1
    // at seq 1) take the packed kernels whatever their size (kernels/select.ts)
    const reference = await ortSession(file);
    const loaded = await load(file, { shapes: { ...GPT2_SHAPES, seq: 1 } });
    const step: DecoderStep = async (feeds) => {
      const got = await loaded.run(feeds);
      expectClose(got, await reference(feeds), Object.keys(got), `seq 1 step with past ${feeds["past_key_values.0.key"].dims[2]}`);
      return got;
    };
    const got = await generateGreedy(step, expected.prompt, 32, undefined, { promptStep: 1 });
    expect(got.tokens).toEqual(expected.tokens);
    expect(got.stepMs.length).toBe(expected.prompt.length + 31);
    expect(loaded.modulesCompiled).toBe(1);
  }, TIMEOUT);

  it("the one-module AOT artifact run by the runtime alone generates the 32 tokens; a mask not past + seq long, or a past over its bound, is BAD_INPUT", async () => {
    const { wasm } = await compile(file, { shapes: GPT2_SHAPES });
    const session = await createSession(wasm);
    const plain = (feeds: Record<string, Tensor>) => Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }]));
    const seen: Record<string, Tensor>[] = [];
    const got = await generateGreedy(async (feeds) => (seen.push(feeds), session.run(plain(feeds))), expected.prompt, 32);
    expect(got.tokens).toEqual(expected.tokens);
    const last = seen[seen.length - 1];
    const short = { ...last, attention_mask: { dtype: "int64" as const, dims: [1, 3], data: new BigInt64Array(3).fill(1n) } };
    await expect(session.run(plain(short))).rejects.toThrow(/BAD_INPUT: input "attention_mask" has dims \[1,3\] but the model takes int64\[1,seq\+past\] \(seq 1\.\.16, past 0\.\.240\): here seq 1, past 35, so int64\[1,36\] /);
    const long = Object.fromEntries(Object.entries(last).map(([k, t]) => [k, k.startsWith("past_") ? { ...t, dims: [1, 2, 241, 64], data: new Float32Array(2 * 241 * 64) } : t]));
    await expect(session.run(plain(long))).rejects.toThrow(/BAD_INPUT: input "past_key_values.0.key" has dims \[1,2,241,64\] but the model takes float32\[1,2,past,64\] \(seq 1\.\.16, past 0\.\.240\)/);
  }, TIMEOUT);
});

/** One decoder step's feeds for a module with past key/values (its inputs' bounds give the head dims), a token sequence per row. */
function decoderFeeds(model: Model, batch: number, seq: number, past: number): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const s of model.session!.inputs) {
    const dims = s.name === "attention_mask" ? [batch, past + seq] : s.dims.length === 2 ? [batch, seq] : [batch, s.dims[1], past, s.dims[3]];
    const n = dims.reduce((a, b) => a * b, 1);
    const int = (f: (i: number) => number) => BigInt64Array.from({ length: n }, (_, i) => BigInt(f(i)));
    feeds[s.name] = s.name === "attention_mask" ? { dtype: "int64", dims, data: int(() => 1) }
      : s.name === "position_ids" ? { dtype: "int64", dims, data: int((i) => past + (i % seq)) }
      : s.name === "input_ids" ? { dtype: "int64", dims, data: int((i) => (i * 13 + batch) % 100) }
      : { dtype: "float32", dims, data: Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + batch)) };
  }
  return feeds;
}

describe("the q8 and q4 forms (onnxruntime's quantize_dynamic and MatMulNBitsQuantizer, transformers.js's) under bounds", () => {
  /** the outputs' bytes */
  const bytesOf = (out: Record<string, Tensor>) => Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString("base64")]));

  for (const [what, shapes, cases] of [
    ["seq 1..128 (the prefix form)", { batch: 1, seq: [1, 128] }, [[1, 1], [1, 7], [1, 64], [1, 128]]],
    ["batch 1..4 x seq 1..64 (the padded layout), rows masked", { batch: [1, 4], seq: [1, 64] }, [[4, 64], [1, 1], [3, 7], [2, 33]]],
  ] as const) {
    it(`RoBERTa q8, ${what}: one module within 1e-3 of onnxruntime-node; without fused attention, each shape the bytes of kiln's build pinned at it`, async () => {
      const file = transformerPath("roberta_q8");
      const reference = await ortSession(file);
      const loaded = await load(file, { shapes });
      // under bounds, attention is the fused blocked kernel at every length, where a build pinned at
      // a short length takes three layers (its size heuristics), and the two sum a softmax row in
      // another order: the int8 path's bytes are compared with attention unfused in both builds
      const unfused = await load(file, { shapes, kernels: "-blocked" });
      const poison = poisoner(loaded);
      const poisonUnfused = poisoner(unfused);
      for (const [batch, seq] of cases) {
        const { input_ids, attention_mask } = bertFeeds(seq, seq + 3, batch, batch > 1);
        const feeds = { input_ids, attention_mask };
        poison();
        poisonUnfused();
        const got = await loaded.run(feeds);
        const want = await reference(feeds);
        expect(compareTensors(got.last_hidden_state, want.last_hidden_state, { rtol: 1e-3, atol: 1e-3 }).message ?? "ok", `batch ${batch} seq ${seq}`).toBe("ok");
        const pinned = await (await load(file, { shapes: { batch, seq }, kernels: "-blocked" })).run(feeds);
        expect(bytesOf(await unfused.run(feeds)), `batch ${batch} seq ${seq}`).toEqual(bytesOf(pinned));
      }
      expect(loaded.modulesCompiled).toBe(1);
      expect(unfused.modulesCompiled).toBe(1);
      expect(loaded.session!.manifest.layers.filter((l) => l.op === "Attention").length, "attention fused under bounds").toBe(2);
    }, TIMEOUT);
  }

  it("the GPT-2 step q8: one module (seq 1..16, past 0..240) generates onnxruntime-node's 32 greedy tokens, every step the bytes of kiln's build pinned at its shape", async () => {
    const file = transformerPath("gpt2_q8");
    const loaded = await load(file, { shapes: GPT2_SHAPES });
    const poison = poisoner(loaded);
    const step: DecoderStep = async (feeds) => {
      poison();
      const got = await loaded.run(feeds);
      const [seq, past] = [feeds.input_ids.dims[1], feeds["past_key_values.0.key"].dims[2]];
      const pinned = await (await load(file, { shapes: { batch: 1, seq, past, total: seq + past } })).run(feeds);
      expect(bytesOf(got), `seq ${seq} past ${past}`).toEqual(bytesOf(pinned));
      return got;
    };
    const want = await generateGreedy(await ortSession(file), expected.prompt, 32);
    expect((await generateGreedy(step, expected.prompt, 32)).tokens).toEqual(want.tokens);
    expect(loaded.modulesCompiled).toBe(1);
  }, TIMEOUT);

  it("the Llama-style step q4 (MatMulNBits): one module (batch 1..3, seq 1..16, past 0..64), each step as onnxruntime-node's (its 4-bit layers on the panel kernel, whose one- and two-row runs take the GEMV's code: test/symbolic-quant.test.ts)", async () => {
    const file = transformerPath("llama_q4");
    const reference = await ortSession(file);
    const loaded = await load(file, { shapes: { batch: [1, 3], seq: [1, 16], past: [0, 64], total: "past+seq" } });
    const poison = poisoner(loaded);
    for (const [batch, seq, past] of [[1, 5, 0], [3, 1, 17], [2, 16, 48], [1, 2, 64], [2, 1, 0]]) {
      const feeds = decoderFeeds(loaded, batch, seq, past);
      poison();
      const want = await reference(feeds);
      expectClose(await loaded.run(feeds), want, Object.keys(want), `llama q4 batch ${batch} seq ${seq} past ${past}`);
    }
    expect(loaded.modulesCompiled).toBe(1);
    const nbits = loaded.session!.manifest.layers.filter((l) => l.op.includes("MatMulNBits"));
    expect(nbits.length).toBeGreaterThan(0);
    expect(nbits.every((l) => l.kernel === "panels-nbits")).toBe(true);
  }, TIMEOUT);
});

describe("bench/generate.ts (per-token latency, kiln against onnxruntime-web)", () => {
  it("runs the loop on every engine, which agree on the tokens", async () => {
    const rows = await benchGenerate(3, 1);
    expect(rows.map((r) => r.engine)).toEqual(["kiln cold (compiles per step)", "kiln compiled (modules kept)", "kiln one module (symbolic)", "ort-web", "ort-node"]);
    expect(rows[2].modules).toBe(1);
    for (const r of rows) {
      expect(r.tokens, r.engine).toEqual(expected.tokens.slice(0, 3));
      expect(r.tokenMedianMs, r.engine).toBeGreaterThan(0);
    }
  }, TIMEOUT);
});

describe("Whisper-style audio encoder (30 s: 3,000 frames, 1,500 positions)", () => {
  const file = transformerPath("whisper_encoder");
  const feeds = { input_features: whisperFeatures(1) };
  let want: Record<string, Tensor>;
  beforeAll(async () => {
    want = await (await ortSession(file))(feeds);
    expect(want.last_hidden_state.dims).toEqual([1, WHISPER.positions, WHISPER.hidden]);
  });

  it("load() matches onnxruntime-node", async () => {
    expectClose(await (await load(file)).run(feeds), want, ["last_hidden_state"], "encoder");
  }, TIMEOUT);

  it("with attention fused (1,500 keys, blocks of 32 query rows), and as three layers (-blocked)", async () => {
    const model = await load(file);
    expect(model.session!.manifest.layers.filter((l) => l.op === "Attention" && l.kernel === "blocked")).toHaveLength(2);
    const unfused = await load(file, { kernels: "-blocked" });
    expect(unfused.session!.manifest.layers.filter((l) => l.op === "Attention")).toHaveLength(0);
    expectClose(await unfused.run(feeds), want, ["last_hidden_state"], "encoder, attention unfused");
  }, TIMEOUT);

  it("the AOT artifact run by the runtime alone matches onnxruntime-node", async () => {
    const { wasm } = await compile(file, { shapes: WHISPER_SHAPES });
    const session = await createSession(wasm);
    expectClose(await session.run({ input_features: feeds.input_features.data }), want, ["last_hidden_state"], "AOT encoder");
  }, TIMEOUT);
});
