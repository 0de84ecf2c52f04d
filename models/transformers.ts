// Small transformer models exported by Hugging Face transformers + torch.onnx the way users export
// theirs (models/transformers/export.py, committed under models/transformers/fixtures/), their
// feeds, and greedy generation with a GPT-2-style decoder that feeds its past key/values back, as
// transformers.js does. The loop runs on any engine given as one step function (kiln's load(),
// onnxruntime-node or -web): the tests and the bench run the same loop on each.
import * as fs from "node:fs";
import * as path from "node:path";
import type { Tensor } from "../compiler/ir/graph.js";
import { repoRoot } from "./quantize/sources.js";
import { onnx } from "../compiler/onnx/proto.js";

export type TransformerFixture = "bert" | "gpt2" | "whisper_encoder" | "roberta" | "t5_encoder" | "llama" | "gpt_neo" | "deberta_v2" | "roberta_q8" | "gpt2_q8" | "llama_q4"
  | "clip_text" | "speecht5_encoder" | "segformer" | "mobilenet_v2" | "efficientnet" | "mobilenet_v2_hw" | "efficientnet_hw" | "sam_points" | "sam_two_way";

export function transformerPath(name: TransformerFixture): string {
  return path.join(repoRoot(), "models/transformers/fixtures", `${name}.onnx`);
}

export function transformerBytes(name: TransformerFixture): Uint8Array {
  return new Uint8Array(fs.readFileSync(transformerPath(name)));
}

/** transformers' own greedy generate() on the decoder (export.py): its prompt and the tokens it gave */
export function gpt2Reference(): { prompt: number[]; tokens: number[] } {
  return JSON.parse(fs.readFileSync(path.join(repoRoot(), "models/transformers/fixtures/gpt2.generate.json"), "utf8")) as { prompt: number[]; tokens: number[] };
}

/** the configs export.py uses */
export const BERT = { vocab: 1000, hidden: 128 };
export const GPT2 = { vocab: 1000, layers: 2, heads: 2, headDim: 64, positions: 256 };
/**
 * The decoder's dims for one module serving a whole generation (symbolic dims): up to 16 new
 * tokens a step, a past of 0 (the prompt's step) to 240, and the mask's and present's length their
 * sum, at most the model's 256 positions
 */
export const GPT2_SHAPES = { batch: 1, seq: [1, 16], past: [0, GPT2.positions - 16], total: "past+seq" };
export const WHISPER = { mels: 80, frames: 3000, positions: 1500, hidden: 128 };
export const WHISPER_SHAPES = { input_features: [1, WHISPER.mels, WHISPER.frames] };

/** a seeded token stream (an LCG), values in [0, vocab) */
export function seededTokens(n: number, seed: number, vocab = BERT.vocab): BigInt64Array {
  let s = seed >>> 0 || 1;
  return BigInt64Array.from({ length: n }, () => BigInt(((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 8) % vocab));
}

/**
 * BERT's feeds for `batch` rows of `seq` tokens: seeded ids, token types 0 then 1 from the middle,
 * and an attention mask that, with `padded`, masks the tail of the rows after the first (as a batch
 * of unequal sentences padded to one length).
 */
export function bertFeeds(seq: number, seed: number, batch = 1, padded = false): Record<string, Tensor> {
  const n = batch * seq;
  const mask = new BigInt64Array(n).fill(1n);
  const types = new BigInt64Array(n);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < seq; i++) {
      if (padded && b > 0 && i >= Math.max(1, seq - 3 * b)) mask[b * seq + i] = 0n;
      if (i >= seq / 2) types[b * seq + i] = 1n;
    }
  }
  const t = (data: BigInt64Array): Tensor => ({ dtype: "int64", dims: [batch, seq], data });
  return { input_ids: t(seededTokens(n, seed)), attention_mask: t(mask), token_type_ids: t(types) };
}

/** seeded log-mel-like features for the Whisper-style encoder (values in about [-1, 1]) */
export function whisperFeatures(seed = 1): Tensor {
  let s = seed >>> 0 || 1;
  const n = WHISPER.mels * WHISPER.frames;
  const data = Float32Array.from({ length: n }, (_, i) => 0.6 * Math.sin(i * 0.013 + seed) + 0.4 * (((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1));
  return { dtype: "float32", dims: [...WHISPER_SHAPES.input_features], data };
}

/** one decoder step: the feeds by input name in, the outputs by name out */
export type DecoderStep = (feeds: Record<string, Tensor>) => Promise<Record<string, Tensor>>;

export interface Generation {
  /** the generated tokens (not the prompt) */
  tokens: number[];
  /** each step's wall time in ms, the prompt's step (or steps: promptStep) first */
  stepMs: number[];
}

const pastName = (layer: number, kv: "key" | "value") => `past_key_values.${layer}.${kv}`;
const presentName = (layer: number, kv: "key" | "value") => `present.${layer}.${kv}`;

/** the index of the largest of `n` values from `at` (the first of equals, as numpy's argmax) */
function argmax(data: ArrayLike<number>, at: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (data[at + i] > data[at + best]) best = i;
  return best;
}

/** What the greedy loop needs to know of a decoder: its layers and the past's heads and head size. */
export interface DecoderShape {
  layers: number;
  heads: number;
  headDim: number;
  /** optimum's merged form: a bool input `use_cache_branch`, true once there is a past */
  cacheBranch?: boolean;
}

/**
 * A decoder exported as transformers.js / optimum export it (inputs input_ids, attention_mask,
 * position_ids, past_key_values.N.key/value [batch, heads, past, head size]; outputs logits,
 * present.N.key/value), read from its inputs' declared shapes; undefined (with the reason) otherwise.
 */
export function decoderShape(inputs: readonly { name: string; dims: readonly (number | string)[] }[]): DecoderShape | string {
  const names = new Set(inputs.map((i) => i.name));
  const missing = ["input_ids", "attention_mask", "position_ids", pastName(0, "key")].filter((n) => !names.has(n));
  if (missing.length) return `no input ${missing.join(", ")} (a decoder with past key/values takes input_ids, attention_mask, position_ids and past_key_values.N.key/value)`;
  let layers = 0;
  while (names.has(pastName(layers, "key")) && names.has(pastName(layers, "value"))) layers++;
  const dims = inputs.find((i) => i.name === pastName(0, "key"))!.dims;
  const [heads, headDim] = [dims[1], dims[3]];
  if (dims.length !== 4 || typeof heads !== "number" || typeof headDim !== "number") return `${pastName(0, "key")} is [${dims.join(", ")}], not [batch, heads, past, head size] with heads and head size fixed`;
  return { layers, heads, headDim, ...(names.has("use_cache_branch") ? { cacheBranch: true } : {}) };
}

/**
 * A decoder step in optimum's merged form (decoder_model_merged.onnx, transformers.js's decoders):
 * an If on a bool input `use_cache_branch` choosing between two copies of the step's graph (optimum's
 * takes the step with past key/values and the one without; here both are the same step, which takes
 * a past of length 0), the weights shared in the enclosing graph.
 */
export function mergedDecoder(bytes: Uint8Array): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  const g = m.graph!;
  const outer = new Set([...g.input!.map((i) => i.name!), ...g.initializer!.map((t) => t.name!)]);
  const branch = (tag: string) => onnx.GraphProto.create({
    name: `${tag}_branch`,
    node: g.node!.map((n) => onnx.NodeProto.create({
      name: `${tag}/${n.name}`, opType: n.opType, domain: n.domain, attribute: n.attribute,
      input: n.input!.map((v) => (v === "" || outer.has(v) ? v : `${tag}/${v}`)), output: n.output!.map((v) => `${tag}/${v}`),
    })),
    output: g.output!.map((o) => onnx.ValueInfoProto.create({ name: `${tag}/${o.name}`, type: o.type })),
  });
  const T = onnx.AttributeProto.AttributeType;
  const cond = onnx.ValueInfoProto.create({ name: "use_cache_branch", type: { tensorType: { elemType: onnx.TensorProto.DataType.BOOL, shape: { dim: [{ dimValue: 1 }] } } } });
  const node = onnx.NodeProto.create({
    name: "optimum::if", opType: "If", input: ["use_cache_branch"], output: g.output!.map((o) => o.name!),
    attribute: [{ name: "else_branch", type: T.GRAPH, g: branch("no_past") }, { name: "then_branch", type: T.GRAPH, g: branch("with_past") }],
  });
  const merged = onnx.GraphProto.create({ name: "merged", node: [node], input: [...g.input!, cond], output: g.output, initializer: g.initializer });
  return onnx.ModelProto.encode(onnx.ModelProto.create({ ...m, graph: merged })).finish();
}

/**
 * Greedy decoding: the prompt in one step with an empty past (length 0), then one token per step,
 * each step fed the previous step's present key/values as its past, the attention mask over past and
 * new tokens, and the new tokens' positions; the next token is the argmax of the last position's
 * logits. `promptStep`: the prompt in steps of at most that many tokens (1: a decode-only module,
 * compiled with seq pinned at 1), the first token from the last one's logits.
 */
export async function generateGreedy(step: DecoderStep, prompt: readonly number[], count: number, decoder: DecoderShape = GPT2,
  { promptStep }: { promptStep?: number } = {}): Promise<Generation> {
  const { layers, heads, headDim } = decoder;
  let past: Record<string, Tensor> = {};
  for (let l = 0; l < layers; l++) {
    for (const kv of ["key", "value"] as const) past[pastName(l, kv)] = { dtype: "float32", dims: [1, heads, 0, headDim], data: new Float32Array(0) };
  }
  let pastLen = 0;
  let pending = [...prompt];
  const tokens: number[] = [];
  const stepMs: number[] = [];
  while (tokens.length < count) {
    const fed = pending.splice(0, promptStep ?? pending.length);
    if (!fed.length) throw new Error(`decoder step: no tokens to feed (prompt ${prompt.length} tokens, promptStep ${promptStep})`);
    const seq = fed.length;
    const total = pastLen + seq;
    const feeds: Record<string, Tensor> = {
      input_ids: { dtype: "int64", dims: [1, seq], data: BigInt64Array.from(fed, BigInt) },
      attention_mask: { dtype: "int64", dims: [1, total], data: new BigInt64Array(total).fill(1n) },
      position_ids: { dtype: "int64", dims: [1, seq], data: BigInt64Array.from({ length: seq }, (_, i) => BigInt(pastLen + i)) },
      ...past,
      ...(decoder.cacheBranch ? { use_cache_branch: { dtype: "bool", dims: [1], data: Uint8Array.of(pastLen > 0 ? 1 : 0) } } : {}),
    };
    const t0 = performance.now();
    const out = await step(feeds);
    stepMs.push(performance.now() - t0);
    const logits = out.logits;
    const vocab = logits?.dims[2] ?? 0;
    if (!logits || logits.dims.length !== 3 || logits.dims[0] !== 1 || logits.dims[1] !== seq || !vocab) throw new Error(`decoder step: logits ${logits ? `[${logits.dims}]` : "missing"}, expected [1,${seq},vocab]`);
    past = {};
    for (let l = 0; l < layers; l++) {
      for (const kv of ["key", "value"] as const) past[pastName(l, kv)] = out[presentName(l, kv)];
    }
    pastLen = total;
    if (pending.length) continue; // more of the prompt to feed
    const next = argmax(logits.data as Float32Array, (seq - 1) * vocab, vocab);
    tokens.push(next);
    pending = [next];
  }
  return { tokens, stepMs };
}
