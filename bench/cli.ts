// `kiln bench model.onnx --vs ort-web[,ort-node] --threads N [--shape ...] [--runs R] [--warmup W]
//  [--input random|arange] [--seed S] [--simd baseline|relaxed|auto] [--load-runs N] [--json]`:
// kiln against onnxruntime on the same inputs, in one process; each engine's load is the median
// of N fresh processes (default 3; 0 = one load in this process, bench/loads.ts). Exits 1 when
// kiln's outputs disagree with the rival's (a fast wrong answer is no win). --simd relaxed (or
// auto, where the engine runs it) adds kiln's relaxed-SIMD build as a row of its own; Node 20's
// V8 flag for it is set at run time.
import * as path from "node:path";
import { readModelFile } from "../compiler/driver/files.js";
import { one, all, parseShapes, parseSimd, UsageError, type Args, type CommandSpec } from "../compiler/driver/cli/args.js";
import { runCommand } from "../compiler/driver/cli/main.js";
import { KilnError } from "../runtime/errors.js";
import type { BenchResult } from "./harness.js";
import { RIVALS, type RivalName } from "./engines.js";
import { DEFAULT_LOAD_RUNS } from "./loads.js";

/** 15 timed runs give a stable median; three warm-up runs let V8 tier the wasm up. */
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
  const lines = [`${r.model} (kiln 1 thread, rivals ${r.threads})`];
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
  lines.push(`  loads     ${loadsNote(r.loads?.runs ?? 0)}`);
  lines.push(`  speedup   ${r.speedup}x${rx ? `  (relaxed SIMD ${rx.speedup}x)` : ""}`);
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
  const inputs = one(args, "input") ?? "random";
  if (inputs !== "random" && inputs !== "arange") throw new UsageError(`--input takes random or arange, got ${inputs}`);
  const seed = count(args, "seed", 1, 0);
  const loadRuns = count(args, "load-runs", DEFAULT_LOAD_RUNS, 0);
  const relaxed = await wantRelaxed(parseSimd(args, "baseline"));
  const { bytes } = await readModelFile(file);
  const { benchModel } = await import("./harness.js");
  const result = await benchModel(path.basename(file, ".onnx"), bytes, { vs, threads, runs, warmup, shapes: parseShapes(all(args, "shape")), inputs, seed, relaxed, loadRuns });
  console.log(args.flags.has("json") ? JSON.stringify(result) : formatBench(result));
  return result.kiln.ok && result["kiln-relaxed"]?.ok !== false ? 0 : 1;
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
  values: ["vs", "threads", "runs", "warmup", "input", "seed", "simd", "load-runs", "shape"],
  booleans: ["json"],
  positionals: [1, 1],
};

/** `kiln bench ...` (bin/kiln.js loads this module only for that command) */
export function main(argv: string[]): Promise<number> {
  return runCommand(argv, cmdBench, BENCH_FLAGS, "bench");
}
