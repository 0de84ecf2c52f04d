// Load times (bytes -> ready) measured in fresh processes: for each engine `runs` load-probe
// children (bench/load-probe.ts), each with only that engine's library imported and warmed up on
// a tiny model, the benchmarked model unseen. Children run one at a time (two would share the
// 2 cores the measurement is about) and the engine order rotates each round, as in alternate().
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { tinyModel, type Bounds } from "./engines.js";
import { settleHeap, type FeedSpec } from "./measure.js";
import type { LoadEngine, ProbeArgs, ProbeResult } from "./load-probe.js";
import { median, round } from "./stats.js";

/** fresh-process loads per engine: one sample is noise, three give a median */
export const DEFAULT_LOAD_RUNS = 3;

export interface LoadProbes {
  model: Uint8Array;
  /** the model's AOT .wasm: compile() with the benchmark's shapes, baseline SIMD build */
  aot: Uint8Array;
  feeds: FeedSpec[];
  engines: LoadEngine[];
  /** the rivals' thread count */
  threads: number;
  runs: number;
  /** kiln's JIT compiles for these bounds (a bounded row; `aot` is compiled for them too) */
  bounds?: Bounds;
}

export interface MeasuredLoad {
  /** median of the samples */
  loadMs: number;
  samples: number[];
  /** median of the first runs after those loads */
  firstRunMs: number;
  firstRunSamples: number[];
  /** the children's peak RSS after load + first run (VmHWM, KiB), where the OS reports it */
  peakRssKB?: number[];
}

/**
 * every sample behind the medians, for the JSON report: {"runs", "kiln": [...], "kiln-aot": [...],
 * ..., "firstRun": {"kiln": [...], ...}}
 */
export type LoadSamples = { runs: number; firstRun?: Partial<Record<LoadEngine, number[]>> } & Partial<Record<LoadEngine, number[]>>;

export const loadSamples = (m: Partial<Record<LoadEngine, MeasuredLoad>>, runs: number): LoadSamples => ({
  runs,
  ...Object.fromEntries(Object.entries(m).map(([e, l]) => [e, l.samples])),
  firstRun: Object.fromEntries(Object.entries(m).map(([e, l]) => [e, l.firstRunSamples])),
});

const execFileAsync = promisify(execFile);

/**
 * The built load-probe.js: beside this file when it runs from dist/; from the TypeScript sources
 * (vitest) the one in dist/ or KILN_DIST, as test/util/cli.ts runs the built CLI.
 */
export function probeScript(): string {
  const here = fileURLToPath(import.meta.url);
  const dist = process.env.KILN_DIST ? path.resolve(process.env.KILN_DIST) : path.resolve(path.dirname(here), "../dist");
  const file = here.endsWith(".js") ? path.join(path.dirname(here), "load-probe.js") : path.join(dist, "bench/load-probe.js");
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: build first (npx tsc -p .)`);
  return file;
}

/** The files the children read: the model, its artifact, and the tiny warm-up model with its artifact (compiled here, so no child needs the compiler). */
export async function writeInputs(dir: string, p: LoadProbes): Promise<Record<"model" | "aot" | "tiny" | "tinyAot", string>> {
  const { compile } = await import("../compiler/driver/api.js");
  const tiny = await tinyModel();
  const tinyAot = (await compile(tiny, { simd: "baseline" })).wasm;
  const write = (name: string, bytes: Uint8Array) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    return file;
  };
  return { model: write("model.onnx", p.model), aot: write("model.wasm", p.aot), tiny: write("tiny.onnx", tiny), tinyAot: write("tiny.wasm", tinyAot) };
}

export async function probeOnce(script: string, args: ProbeArgs): Promise<ProbeResult> {
  try {
    const { stdout } = await execFileAsync(process.execPath, [script, JSON.stringify(args)], { maxBuffer: 1 << 24 });
    return JSON.parse(stdout.trim().split("\n").pop()!) as ProbeResult;
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`load probe ${args.engine} failed: ${(err.stderr || err.message).trim()}`);
  }
}

export async function measureLoads(p: LoadProbes): Promise<Partial<Record<LoadEngine, MeasuredLoad>>> {
  const script = probeScript();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-loads-"));
  try {
    const files = await writeInputs(dir, p);
    // the garbage of the AOT compile collected now, not by this process beside the first child
    settleHeap();
    const argsOf = (engine: LoadEngine): ProbeArgs => {
      const aot = engine === "kiln-aot";
      return { engine, threads: p.threads, model: aot ? files.aot : files.model, tiny: aot ? files.tinyAot : files.tiny, feeds: p.feeds, ...(p.bounds ? { bounds: p.bounds } : {}) };
    };
    // one untimed probe per engine first: in npm run bench the first fresh kiln process of a model
    // read 1.1-1.8 s where the later ones read 0.72-0.98 s (seeded ResNet-50, four runs; not after
    // a cooldown of 5 s, not with the files flushed; gone with one process run before)
    for (const engine of p.engines) await probeOnce(script, argsOf(engine));
    const samples = p.engines.map(() => [] as number[]);
    const firsts = p.engines.map(() => [] as number[]);
    const peaks = p.engines.map(() => [] as number[]);
    for (let i = 0; i < p.runs; i++) {
      for (let j = 0; j < p.engines.length; j++) {
        const k = (i + j) % p.engines.length;
        const r = await probeOnce(script, argsOf(p.engines[k]));
        samples[k].push(round(r.loadMs));
        firsts[k].push(round(r.firstRunMs));
        if (r.peakRssKB !== undefined) peaks[k].push(r.peakRssKB);
      }
    }
    return Object.fromEntries(p.engines.map((e, k) => [e, {
      loadMs: round(median(samples[k])), samples: samples[k], firstRunMs: round(median(firsts[k])), firstRunSamples: firsts[k],
      ...(peaks[k].length ? { peakRssKB: peaks[k] } : {}),
    }]));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
