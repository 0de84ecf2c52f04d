// `kiln bench model.onnx --vs ort-web[,ort-node] --threads N [--shape ...] [--runs R] [--warmup W]
//  [--input random|arange | --input name=random|arange|ones|zeros|file.pb ...] [--data DIR]
//  [--int-range [name=]LO..HI ...] [--seed S] [--simd baseline|relaxed|auto] [--load-runs N] [--atol A] [--rtol R] [--json]`:
// (and `kiln bench decoder.onnx --generate N [--prompt ids] [--shape ...]`: the greedy loop, per token)
// kiln against onnxruntime on the same inputs, in one process; each engine's load is the median
// of N fresh processes (default 3; 0 = one load in this process, bench/loads.ts). Exits 1 when
// kiln's outputs disagree with the rival's (a fast wrong answer is no win). --simd relaxed (or
// auto, where the engine runs it) adds kiln's relaxed-SIMD build as a row of its own; Node 20's
// V8 flag for it is set at run time.
import * as path from "node:path";
import { readModelFile } from "../compiler/driver/files.js";
import { one, all, isBoundsSpec, parseShapeOption, parseShapes, parseSimd, parseTolerance, UsageError, type Args, type CommandSpec } from "../compiler/driver/cli/args.js";
import { runCommand } from "../compiler/driver/cli/main.js";
import { KilnError } from "../runtime/errors.js";
import { isWasmBytes } from "../compiler/driver/cli/wasm-file.js";
import type { BenchResult } from "./harness.js";
import { RIVALS, type RivalName } from "./engines.js";
import { DEFAULT_LOAD_RUNS } from "./loads.js";
import type { FeedChoices } from "./measure.js";
import type { DTypeName } from "../runtime/dtypes.js";

/** 15 timed runs give a stable median; at least three warm-up rounds (and a second: harness.ts alternate) let V8 tier the wasm up. */
export const DEFAULT_RUNS = 15;
export const MIN_WARMUP = 3;

function count(args: Args, key: string, fallback: number, min: number): number {
  const v = one(args, key);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${key} takes an integer >= ${min}, got ${v}`);
  return n;
}

function parseRivals(v: string | undefined): RivalName[] {
  const names = (v ?? "ort-web").split(",").map((s) => s.trim()).filter((s) => s);
  for (const n of names) if (!(RIVALS as readonly string[]).includes(n)) throw new UsageError(`--vs takes ${RIVALS.join(",")}, got ${n}`);
  return [...new Set(names)] as RivalName[];
}

const ms = (x: number) => `${x.toFixed(2)} ms`;

const loadsNote = (runs: number) =>
  runs === 0 ? "one per engine, in this process" : runs === 1 ? "one fresh process per engine" : `median of ${runs} fresh processes per engine`;

export function formatBench(r: BenchResult): string {
  const lines = [`${r.model} (kiln and rivals ${r.threads} thread${r.threads > 1 ? "s" : ""})`];
  const row = (name: string, t: { loadMs: number; medianMs?: number; minMs?: number } | undefined) => {
    if (!t) return;
    const run = t.medianMs === undefined ? "" : `  median ${ms(t.medianMs)}  min ${ms(t.minMs!)}`;
    lines.push(`  ${name.padEnd(9)} load ${ms(t.loadMs)}${run}`);
  };
  row("kiln", r.kiln);
  row("kiln-aot", r["kiln-aot"]);
  const rx = r["kiln-relaxed"];
  row("kiln-rlx", rx);
  for (const n of RIVALS) row(n, r[n]);
  row("kiln-1t", r["kiln-1t"]);
  lines.push(`  loads     ${loadsNote(r.loads?.runs ?? 0)}`);
  lines.push(`  speedup   ${r.speedup}x${rx ? `  (relaxed SIMD ${rx.speedup}x)` : ""}`);
  if (r.scaling !== undefined) lines.push(`  scaling   ${r.scaling}x kiln at ${r.threads} threads over kiln at 1 (same alternation)`);
  // kiln's kernels run at this loop's limit: a low reading means a neighbour took the core's FP pipes
  if (r.peakLoopGflops !== undefined) lines.push(`  machine   f32x4 peak loop ${r.peakLoopGflops} GFLOPS, timed in the same rotation`);
  for (const n of r.notes ?? []) lines.push(`  note      ${n}`);
  if (rx && !rx.ok) lines.push(`  outputs   relaxed build WRONG vs ${rx.against}: ${rx.message}`);
  lines.push(r.kiln.ok ? `  outputs   match ${r.kiln.against} (max abs err ${r.kiln.maxAbsErr.toExponential(2)})` : `  outputs   WRONG vs ${r.kiln.against}: ${r.kiln.message}`);
  return lines.join("\n");
}

export async function cmdBench(args: Args): Promise<number> {
  const file = args.positionals[0];
  if (!file) throw new UsageError("kiln bench needs a model file");
  const vs = parseRivals(one(args, "vs"));
  const threads = count(args, "threads", 1, 1);
  const runs = count(args, "runs", DEFAULT_RUNS, 1);
  const warmup = count(args, "warmup", MIN_WARMUP, MIN_WARMUP);
  const { kind: inputs, byName } = parseInputChoices(all(args, "input"));
  const intRanges = parseIntRanges(all(args, "int-range"));
  const seed = count(args, "seed", 1, 0);
  const loadRuns = count(args, "load-runs", DEFAULT_LOAD_RUNS, 0);
  const relaxed = await wantRelaxed(parseSimd(args, "baseline"));
  const { bytes } = await readModelFile(file);
  if (one(args, "generate") !== undefined) return benchGeneration(args, file, bytes, vs, runs, threads);
  // a compiled module has no graph for onnxruntime to run: say so, not "not a valid ONNX model"
  if (isWasmBytes(bytes)) {
    throw new KilnError("BAD_INPUT", `${file} is a compiled kiln module; kiln bench times kiln against onnxruntime on the ONNX model: give it the .onnx (its kiln-aot row runs the compiled .wasm through the runtime alone); run a .wasm with kiln run ${file} --profile`);
  }
  const { benchModel, graphInputs, BENCH_TOLERANCE } = await import("./harness.js");
  // how close kiln's outputs must be to the rival's (a quantized model's rounding steps: --atol)
  const tolerance = parseTolerance(args, BENCH_TOLERANCE);
  const names = graphInputs(bytes).map((i) => i.name);
  for (const n of [...byName.keys(), ...intRanges.keys()]) {
    if (n !== "*" && !names.includes(n)) throw new UsageError(`the model has no input ${JSON.stringify(n)} (inputs: ${names.join(", ")})`);
  }
  const files = await readChosenFiles(byName, one(args, "data"), names);
  const choices = { byName: files, intRanges };
  // --shape seq=1..512 gives a dim bounds: kiln compiles once for them and runs the fed shapes
  // (--shape x=1x128x384) within them, its build pinned there timed beside it (harness.ts bounds)
  const specs = all(args, "shape"), bounded = specs.filter(isBoundsSpec);
  const shapes = parseShapes(specs.filter((s) => !bounded.includes(s)));
  // the bounded build takes the dims pinned beside the bounds too (--shape batch=1 --shape seq=1..512)
  const pins = Object.fromEntries(Object.entries(shapes).filter(([k, v]) => !names.includes(k) && v.length === 1));
  const bounds = bounded.length ? ({ ...pins, ...parseShapes(bounded) } as Record<string, number[]>) : undefined;
  const result = await benchModel(path.basename(file, ".onnx"), bytes, { vs, threads, runs, warmup, shapes, bounds, inputs, seed, relaxed, loadRuns, choices, tolerance })
    .catch((e) => {
      // an engine that refuses the made-up inputs (a BERT's token_type_ids take 0..1, random integers are 0..9) is told how to give real ones
      const made = graphInputs(bytes).filter((i) => i.dtype && /int/.test(i.dtype) && !files.has(i.name) && !intRanges.has(i.name) && !intRanges.has("*"));
      if (e instanceof KilnError || !made.length) throw e;
      throw new KilnError("BAD_INPUT", `${(e as Error).message.split("\n")[0]}; kiln bench made the integer input${made.length > 1 ? "s" : ""} ${made.map((i) => i.name).join(", ")} at random in 0..9: give the range each takes (--int-range ${made[0].name}=0..1) or real inputs (--input ${made[0].name}=file.pb, --data DIR)`);
    });
  console.log(args.flags.has("json") ? JSON.stringify(result) : formatBench(result));
  return result.kiln.ok && result["kiln-relaxed"]?.ok !== false ? 0 : 1;
}

/**
 * --generate N: the greedy generation loop on a decoder with past key/values (bench/generate.ts),
 * per-token latency against the rivals doing the same loop; --prompt the token ids (default 5 of
 * them), --runs the rounds, --threads each engine's threads. Exits 1 when the engines' tokens differ.
 */
async function benchGeneration(args: Args, file: string, bytes: Uint8Array, vs: RivalName[], runs: number, threads: number): Promise<number> {
  const tokens = count(args, "generate", 32, 1);
  const promptArg = one(args, "prompt") ?? "5,17,300,42,7";
  if (!/^\d+(,\d+)*$/.test(promptArg)) throw new UsageError(`--prompt takes token ids separated by commas, got ${JSON.stringify(promptArg)}`);
  const prompt = promptArg.split(",").map(Number);
  const { graphInputs } = await import("./harness.js");
  const { decoderShape } = await import("../models/transformers.js");
  const decoder = decoderShape(graphInputs(bytes).map((i) => ({ name: i.name, dims: i.dims as (number | string)[] })));
  if (typeof decoder === "string") throw new KilnError("BAD_INPUT", `--generate: ${file}: ${decoder}`);
  // a token id past the vocabulary (the logits' last dim) is the user's, named before any engine runs
  const vocab = graphInputs(bytes, "outputs").find((o) => o.name === "logits")?.dims.at(-1);
  const past = typeof vocab === "number" ? prompt.find((id) => id >= vocab) : undefined;
  if (past !== undefined) throw new UsageError(`--prompt: token id ${past} is past the vocabulary (the logits have ${vocab} entries: ids 0..${(vocab as number) - 1})`);
  const { benchGenerateModel, formatGenerate } = await import("./generate.js");
  const shapes = parseShapeOption(all(args, "shape"));
  const rows = await benchGenerateModel(bytes, decoder, { tokens, rounds: Math.max(1, Math.min(runs, 50)), prompt, shapes, vs, threads });
  const agree = rows.every((r) => r.tokens.join() === rows[0].tokens.join());
  const title = `${path.basename(file)}: ${tokens} tokens greedy from a ${prompt.length}-token prompt, ${threads} thread${threads > 1 ? "s" : ""} each, ${decoder.layers} layers`;
  console.log(args.flags.has("json") ? JSON.stringify({ model: path.basename(file), tokens, prompt, threads, agree, rows }) : formatGenerate(title, rows));
  return agree ? 0 : 1;
}

const KINDS = ["random", "arange", "ones", "zeros"];

/** --input random|arange (every input), or --input name=random|arange|ones|zeros|file.pb (repeatable) */
export function parseInputChoices(values: readonly string[]): { kind: string; byName: Map<string, string> } {
  let kind = "random";
  const byName = new Map<string, string>();
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq < 0) {
      if (v !== "random" && v !== "arange") throw new UsageError(`--input takes random or arange (every input), or name=${KINDS.join("|")}|file.pb, got ${v}`);
      kind = v;
    } else if (eq === 0 || eq === v.length - 1) throw new UsageError(`--input takes name=${KINDS.join("|")}|file.pb, got ${JSON.stringify(v)}`);
    else byName.set(v.slice(0, eq), v.slice(eq + 1));
  }
  return { kind, byName };
}

/** --int-range LO..HI (every integer input) or name=LO..HI: random integers in [LO, HI] */
export function parseIntRanges(values: readonly string[]): Map<string, [number, number]> {
  const ranges = new Map<string, [number, number]>();
  for (const v of values) {
    const m = /^(?:(.+)=)?(-?\d+)\.\.(-?\d+)$/.exec(v);
    if (!m || Number(m[2]) > Number(m[3])) throw new UsageError(`--int-range takes LO..HI or name=LO..HI with LO <= HI (integers), got ${JSON.stringify(v)}`);
    ranges.set(m[1] ?? "*", [Number(m[2]), Number(m[3])]);
  }
  return ranges;
}

/** The tensor files chosen: --input name=file.pb, and --data DIR's input_K.pb for input K (--input wins). */
async function readChosenFiles(byName: Map<string, string>, dataDir: string | undefined, names: string[]): Promise<NonNullable<FeedChoices["byName"]>> {
  const chosen = new Map<string, { kind: string; file?: string; dtype?: DTypeName; dims?: number[] }>();
  const { listDataSet, readTensorFile } = await import("../compiler/driver/testdata.js");
  const fromFile = (name: string, file: string) => {
    const t = readTensorFile(file); // read now: a wrong path or a broken file is reported before any work
    chosen.set(name, { kind: "file", file, dtype: t.dtype, dims: t.dims });
  };
  if (dataDir) {
    const set = listDataSet(dataDir);
    if (!set.inputs.length) throw new KilnError("BAD_INPUT", `--data ${dataDir} holds no input_K.pb files`);
    set.inputs.forEach((f, k) => names[k] !== undefined && fromFile(names[k], f));
  }
  for (const [name, spec] of byName) {
    if (KINDS.includes(spec)) chosen.set(name, { kind: spec });
    else fromFile(name, spec);
  }
  return chosen;
}

/** Whether to time the relaxed build too: "relaxed" insists (a typed error where the engine lacks it), "auto" where available. */
async function wantRelaxed(simd: "auto" | "baseline" | "relaxed"): Promise<boolean> {
  if (simd === "baseline") return false;
  const { relaxedSimdAvailable } = await import("./peak.js");
  const available = relaxedSimdAvailable();
  if (simd === "relaxed" && !available) throw new KilnError("UNSUPPORTED_OP", "this engine does not run relaxed SIMD (f32x4.relaxed_madd) even with --experimental-wasm-relaxed-simd");
  return available;
}

/** The flags of `kiln bench`; any other is a usage error naming these. */
export const BENCH_FLAGS: CommandSpec = {
  values: ["vs", "threads", "runs", "warmup", "input", "seed", "simd", "load-runs", "shape", "data", "int-range", "generate", "prompt", "atol", "rtol"],
  booleans: ["json"],
  positionals: [1, 1],
};

/** `kiln bench ...` (bin/kiln.js loads this module only for that command) */
export function main(argv: string[]): Promise<number> {
  return runCommand(argv, cmdBench, BENCH_FLAGS, "bench");
}
