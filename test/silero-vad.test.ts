// Silero VAD v5 (npm @ricky0123/vad-web): a 10-second 16 kHz stream in 512-sample chunks, the
// recurrent state fed back, each chunk's probability and state against onnxruntime-node (each
// runtime fed its own state, as an app would) through load() and through an AOT artifact run by
// the runtime alone. The model nests If 25 deep in places: the shape tests fold at compile time,
// the sample rate is frozen to 16000 (models/vad.ts says why).
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { compile, load } from "../compiler/driver/api.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { createSession } from "../runtime/index.js";
import { sileroVadPath, syntheticSpeech, VAD_CHUNK, VAD_SHAPES, VAD_STATE_DIMS } from "../models/vad.js";

const TOLERANCE = { rtol: 1e-3, atol: 1e-5 };
const TIMEOUT = 240_000;
const SR = new BigInt64Array([16000n]);

type Step = (input: Float32Array, state: Float32Array) => Promise<{ output: Tensor; stateN: Tensor }>;

interface Chunk { input: Float32Array; output: Tensor; stateN: Tensor }

/** onnxruntime-node's probability and state for every chunk of the stream, its own state fed back. */
async function reference(audio: Float32Array): Promise<Chunk[]> {
  const session = await ort.InferenceSession.create(sileroVadPath());
  const chunks: Chunk[] = [];
  let state = new Float32Array(256);
  for (let c = 0; (c + 1) * VAD_CHUNK <= audio.length; c++) {
    const input = audio.slice(c * VAD_CHUNK, (c + 1) * VAD_CHUNK);
    const r = await session.run({ input: new ort.Tensor("float32", input, [1, VAD_CHUNK]), state: new ort.Tensor("float32", state, VAD_STATE_DIMS), sr: new ort.Tensor("int64", SR, []) });
    const t = (x: ort.Tensor): Tensor => ({ dtype: "float32", dims: [...x.dims], data: Float32Array.from(x.data as Float32Array) });
    chunks.push({ input, output: t(r.output), stateN: t(r.stateN) });
    state = Float32Array.from(r.stateN.data as Float32Array);
  }
  return chunks;
}

async function expectStreamMatches(step: Step, want: Chunk[]): Promise<void> {
  let state = new Float32Array(256);
  for (const [c, w] of want.entries()) {
    const got = await step(w.input, state);
    expect(compareTensors(got.output, w.output, TOLERANCE).message ?? "ok", `chunk ${c} probability`).toBe("ok");
    expect(compareTensors(got.stateN, w.stateN, TOLERANCE).message ?? "ok", `chunk ${c} state`).toBe("ok");
    state = Float32Array.from(got.stateN.data as Float32Array);
  }
}

const feeds = (input: Float32Array, state: Float32Array) => ({
  input: { data: input, dims: [1, VAD_CHUNK] }, state: { data: state, dims: VAD_STATE_DIMS }, sr: { data: SR, dims: [] },
});

describe("Silero VAD v5 on a 10 s stream", () => {
  let want: Chunk[];
  beforeAll(async () => {
    want = await reference(syntheticSpeech(10, 1));
  }, TIMEOUT);

  it("the stream is worth comparing: 312 chunks, speech and silence", () => {
    const probs = want.map((w) => (w.output.data as Float32Array)[0]);
    expect(probs.length).toBe(312);
    expect(probs.filter((p) => p > 0.5).length).toBeGreaterThan(50);
    expect(probs.filter((p) => p < 0.1).length).toBeGreaterThan(50);
  });

  it("load() (JIT) matches onnxruntime-node chunk by chunk", async () => {
    const model = await load(sileroVadPath(), { shapes: VAD_SHAPES });
    await expectStreamMatches((input, state) => model.run(feeds(input, state)) as ReturnType<Step>, want);
  }, TIMEOUT);

  it("an AOT artifact (sr frozen to 16000) matches onnxruntime-node chunk by chunk in the runtime alone", async () => {
    const { wasm } = await compile(sileroVadPath(), { shapes: VAD_SHAPES, freeze: { sr: { dtype: "int64", dims: [], data: SR } } });
    const session = await createSession(wasm);
    await expectStreamMatches((input, state) => session.run(feeds(input, state)) as ReturnType<Step>, want);
    // another sample rate is a typed refusal, not the other branch run on the wrong chunk size
    await expect(session.run({ ...feeds(want[0].input, new Float32Array(256)), sr: { data: new BigInt64Array([8000n]), dims: [] } })).rejects.toThrow(/BAD_INPUT.*sr/);
  }, TIMEOUT);
});
