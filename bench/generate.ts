// Greedy generation with the GPT-2-style decoder (models/transformers.ts, issue 15): the same
// 32-token loop, past key/values fed back, on kiln and onnxruntime-web (and onnxruntime-node for
// reference), single thread, per-token latency. The tokens must agree across engines (exit 1 if not).
//
// Without bounds kiln compiles one module per distinct set of input shapes, and a decoder's past
// grows by one every token: each step is a new shape, so the first loop compiles a module per token
// ("kiln cold"). "kiln compiled" runs the same loop again on the same model with every step's
// module already compiled and kept (limits.maxModules above the step count). "kiln one module"
// loads the decoder with symbolic dims (GPT2_SHAPES: seq 1..16, past 0..240, total = past + seq):
// one compile, every step on it. It and onnxruntime's loops are timed after one warm-up loop each,
// their rounds interleaved.
//
//   node dist/bench/generate.js [--tokens 32] [--rounds 3] [--json]
import * as os from "node:os";
import { load } from "../compiler/driver/api.js";
import type { Tensor } from "../compiler/ir/graph.js";
import type { TypedArray } from "../runtime/dtypes.js";
import { runIfMain } from "../models/cli.js";
import { generateGreedy, gpt2Reference, GPT2, GPT2_SHAPES, transformerBytes, type DecoderShape, type DecoderStep, type Generation } from "../models/transformers.js";
import { median } from "./stats.js";

/** the prompt transformers' generate() was given (models/transformers/fixtures/gpt2.generate.json) */
const PROMPT = gpt2Reference().prompt;

type Ort = typeof import("onnxruntime-node");

/** an onnxruntime session (node or web: the same API) as a decoder step */
export async function ortStep(ort: Ort, bytes: Uint8Array, options: object): Promise<DecoderStep> {
  const session = await ort.InferenceSession.create(bytes, options);
  return async (feeds) => {
    const got = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor(t.dtype as "float32", t.data as Float32Array, t.dims)])));
    return Object.fromEntries(Object.entries(got).map(([k, t]) => [k, { dtype: t.type === "int64" ? "int64" : "float32", dims: [...t.dims], data: t.data as TypedArray } as Tensor]));
  };
}

export interface GenerateRow {
  engine: string;
  /** the prompt's step (5 tokens, empty past), ms */
  promptMs: number;
  /** per generated token after the first, median and mean over the rounds' steps, ms */
  tokenMedianMs: number;
  tokenMeanMs: number;
  /** the whole loop, ms (median over rounds) */
  loopMs: number;
  tokens: number[];
  /** the one-module row: load() (the compile), ms, and the modules it compiled over the loops */
  loadMs?: number;
  modules?: number;
}

function row(engine: string, runs: Generation[]): GenerateRow {
  const steps = runs.flatMap((g) => g.stepMs.slice(1));
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    engine, promptMs: r2(median(runs.map((g) => g.stepMs[0]))), tokenMedianMs: r2(median(steps)),
    tokenMeanMs: r2(steps.reduce((a, b) => a + b, 0) / steps.length), loopMs: r2(median(runs.map((g) => g.stepMs.reduce((a, b) => a + b, 0)))),
    tokens: runs[0].tokens,
  };
}

export async function benchGenerate(tokens = 32, rounds = 3): Promise<GenerateRow[]> {
  const bytes = transformerBytes("gpt2");
  const rows: GenerateRow[] = [];
  // kiln cold: a fresh model, no process cache, a compile per step
  const cold = await load(bytes, { cache: false, simd: "baseline" });
  rows.push(row("kiln cold (compiles per step)", [await generateGreedy((f) => cold.run(f), PROMPT, tokens)]));
  const warm = await load(bytes, { simd: "baseline", limits: { maxModules: tokens + 1 } });
  await generateGreedy((f) => warm.run(f), PROMPT, tokens);
  const warmRuns: Generation[] = [];
  for (let r = 0; r < rounds; r++) warmRuns.push(await generateGreedy((f) => warm.run(f), PROMPT, tokens));
  rows.push(row("kiln compiled (modules kept)", warmRuns));
  // one module for every step (symbolic dims: seq 1..16, past 0..240, total = past + seq), its
  // loops interleaved with onnxruntime's
  const interleaved = await benchGenerateModel(bytes, GPT2, { tokens, rounds, prompt: PROMPT, shapes: GPT2_SHAPES, vs: ["ort-web", "ort-node"] });
  rows.push(...interleaved.map((r) => (r.engine === "kiln" ? { ...r, engine: ONE_MODULE } : r)));
  return rows;
}

export const ONE_MODULE = "kiln one module (symbolic)";

export interface GenerateOptions {
  tokens: number;
  rounds: number;
  prompt: readonly number[];
  /** load()'s shapes: bounds (and sums) make one module for every step */
  shapes: Record<string, readonly number[] | number | string>;
  vs: readonly ("ort-web" | "ort-node")[];
  /** each engine's threads (default 1): kiln's module compiled for them, onnxruntime's pools sized to them */
  threads?: number;
}

/**
 * `kiln bench decoder.onnx --generate N`: the greedy loop (generateGreedy: prompt, then a token per
 * step, the present fed back as the past) on any decoder exported the transformers.js / optimum way,
 * kiln (one load(); with bounds for its dims, one module) against onnxruntime, one thread each
 * (or o.threads), a warm-up loop each, then the rounds interleaved.
 */
export async function benchGenerateModel(bytes: Uint8Array, decoder: DecoderShape, o: GenerateOptions): Promise<GenerateRow[]> {
  const t0 = performance.now();
  const threads = o.threads ?? 1;
  const kiln = await load(bytes, { cache: false, simd: "baseline", shapes: o.shapes, limits: { maxModules: o.tokens + 1 }, ...(threads > 1 ? { threads } : {}) });
  const loadMs = performance.now() - t0;
  const engines: [string, DecoderStep][] = [["kiln", (f) => kiln.run(f)]];
  if (o.vs.includes("ort-web")) {
    const web = (await import("onnxruntime-web")) as unknown as Ort & { env: { wasm: { numThreads: number; simd: boolean } } };
    web.env.wasm.numThreads = threads;
    web.env.wasm.simd = true;
    engines.push(["ort-web", await ortStep(web, bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" })]);
  }
  if (o.vs.includes("ort-node")) {
    const node = await import("onnxruntime-node");
    engines.push(["ort-node", await ortStep(node, bytes, { executionProviders: ["cpu"], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: "all" })]);
  }
  for (const [, step] of engines) await generateGreedy(step, o.prompt, o.tokens, decoder);
  const runs = engines.map((): Generation[] => []);
  for (let r = 0; r < o.rounds; r++) for (const [k, [, step]] of engines.entries()) runs[k].push(await generateGreedy(step, o.prompt, o.tokens, decoder));
  kiln.session?.terminate?.();
  return engines.map(([name], k) => ({ ...row(name, runs[k]), ...(name === "kiln" ? { loadMs: Math.round(loadMs), modules: kiln.modulesCompiled } : {}) }));
}

/** the rows as a table, per token against the first rival's */
export function formatGenerate(title: string, rows: GenerateRow[]): string {
  const rival = rows.find((r) => r.engine === "ort-web") ?? rows[1];
  const lines = [title, "engine                          prompt ms   per token ms (median / mean)   loop ms" + (rival ? `   vs ${rival.engine} per token` : "")];
  for (const r of rows) {
    lines.push(`${r.engine.padEnd(32)}${String(r.promptMs).padStart(9)}   ${String(r.tokenMedianMs).padStart(12)} / ${String(r.tokenMeanMs).padEnd(14)}${String(r.loopMs).padStart(9)}${rival ? `   ${(rival.tokenMedianMs / r.tokenMedianMs).toFixed(2)}x` : ""}`);
  }
  for (const r of rows) if (r.modules !== undefined) lines.push(`${r.engine}: load ${r.loadMs} ms, ${r.modules} module(s) compiled over every loop`);
  const agree = rows.every((r) => r.tokens.join() === rows[0].tokens.join());
  lines.push(agree ? `tokens agree: ${rows[0].tokens.join(" ")}` : `TOKENS DIFFER: ${rows.map((r) => `${r.engine}: ${r.tokens.join(" ")}`).join("; ")}`);
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  const flag = (k: string) => (argv.includes(`--${k}`) ? argv[argv.indexOf(`--${k}`) + 1] : undefined);
  const tokens = Number(flag("tokens") ?? 32), rounds = Number(flag("rounds") ?? 3);
  const rows = await benchGenerate(tokens, rounds);
  const agree = rows.every((r) => r.tokens.join() === rows[0].tokens.join());
  if (argv.includes("--json")) console.log(JSON.stringify({ tokens, rounds, loadavg: os.loadavg(), agree, rows }));
  else console.log(formatGenerate(`GPT-2-style decoder (2 layers, hidden 128), ${tokens} tokens greedy from a ${PROMPT.length}-token prompt, 1 thread; load average ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`, rows));
  return agree ? 0 : 1;
}

runIfMain(import.meta.url, main);
