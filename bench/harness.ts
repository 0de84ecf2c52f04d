// One model, kiln against its rivals in one process: same inputs, warm-up first, then timed runs
// alternating between engines (so machine noise hits every engine alike), medians and minima,
// and the outputs compared against the reference rival's (a fast wrong answer is reported wrong).
import { compareTensors, type Tolerance } from "../compiler/driver/testdata.js";
import { importOnnx } from "../compiler/driver/compile.js";
import { kilnAot, kilnJit, warmUp, rivalEngine, type Bounds, type Engine, type Outputs, type RivalName, type Runner } from "./engines.js";
import { median, round } from "./stats.js";
import { peakRunner } from "./peak.js";
import { feedSpecs, feedsOf, settleHeap, shapesOf, timed, type FeedChoices, type Input } from "./measure.js";
import { DEFAULT_LOAD_RUNS, loadSamples, measureLoads, type LoadSamples } from "./loads.js";
import type { LoadEngine } from "./load-probe.js";

/** the fewest timed rounds a time budget may cut a benchmark to */
export const MIN_RUNS = 5;

export const BENCH_TOLERANCE: Tolerance = { rtol: 1e-3, atol: 1e-4 };

export interface BenchOptions {
  vs: RivalName[];
  threads: number;
  runs: number;
  warmup: number;
  /** input shapes for dims the model leaves open */
  shapes?: Record<string, number[]>;
  /** "random" (seeded, default) or "arange" */
  inputs?: string;
  /** per input: a kind or a tensor file, integer ranges (kiln bench --input name=..., --data, --int-range) */
  choices?: FeedChoices;
  seed?: number;
  /** when set, fewer timed rounds (not below MIN_RUNS) if a warm round is slow, to fit this time */
  budgetMs?: number;
  /** compare kiln's outputs with these instead of the first rival's (tests) */
  reference?: Outputs;
  /**
   * also time kiln's relaxed-SIMD build (JIT, simd "relaxed") in the same alternation; the engine
   * must validate relaxed SIMD (bench/peak.ts relaxedSimdAvailable sets Node 20's V8 flag)
   */
  relaxed?: boolean;
  /**
   * fresh processes per engine whose median load is its loadMs (bench/loads.ts; default
   * DEFAULT_LOAD_RUNS); 0 times one load per engine in this process instead
   */
  loadRuns?: number;
  /**
   * also time the f32x4 peak loop (bench/peak.ts, 2x16 tile, about 1 ms a call) once per round in
   * the same rotation: what the core gave this row (default true)
   */
  probe?: boolean;
  /** how kiln's outputs are checked against the reference's (default BENCH_TOLERANCE) */
  tolerance?: Tolerance;
  /**
   * a float32 model of which `bytes` is a quantized form: kiln's baseline build of it is timed in
   * the same alternation (result "kiln-float"), what quantization buys kiln
   */
  floatModel?: Uint8Array;
  /**
   * dims given bounds (`{ seq: [1, 512] }`): kiln's builds (JIT, relaxed, AOT) are compiled once for
   * them and run the feeds' shapes within them; kiln's build pinned at the feeds' shapes is timed
   * in the same alternation and loaded in the same fresh-process rotation (result "kiln-pinned"):
   * what symbolic dims cost. At threads > 1, kiln's 1-thread build (the scaling) is bounded too.
   */
  bounds?: Bounds;
}

export interface Timing {
  loadMs: number;
  medianMs: number;
  minMs: number;
  /** the first run after a fresh-process load (median over those processes; absent with loadRuns 0) */
  firstRunMs?: number;
}

export interface Check {
  ok: boolean;
  /** largest |kiln - reference| over all outputs */
  maxAbsErr: number;
  against: string;
  message?: string;
}

export interface BenchResult {
  model: string;
  /** kiln and the rivals ran on this many threads */
  threads: number;
  /**
   * threads > 1: kiln at 1 thread, timed in the same alternation, and scaling = its median over
   * kiln's at `threads` (docs/THREADS.md)
   */
  "kiln-1t"?: Timing;
  scaling?: number;
  /** npm run bench: the same row at 2 threads (kiln bench --threads 2 --vs ort-web in a child process) */
  twoThreads?: BenchResult;
  kiln: Timing & Check;
  "kiln-aot": { loadMs: number; firstRunMs?: number };
  "ort-web"?: Timing;
  "ort-node"?: Timing;
  /** ort-web medianMs / kiln medianMs (the first rival's when ort-web is not measured) */
  speedup: number;
  /** kiln's relaxed-SIMD build, when options.relaxed; speedup against the same rival as `speedup` */
  "kiln-relaxed"?: Timing & Check & { speedup: number };
  /** kiln's baseline build of options.floatModel; speedup = its median / kiln's (the quantized model's) */
  "kiln-float"?: Timing & { speedup: number };
  /**
   * with options.bounds: kiln's build pinned at the feeds' shapes; ratio = kiln's median (the
   * bounded build's) / its median, loadRatio the same of the JIT loads, identical whether the two
   * builds' outputs agree bit for bit, maxAbsDiff between them (the pinned build fuses attention,
   * a bounded one keeps its three layers: the last bits may differ)
   */
  "kiln-pinned"?: Timing & { ratio: number; loadRatio: number; identical: boolean; maxAbsDiff: number };
  /** the fresh-process load samples behind each loadMs (absent with loadRuns 0) */
  loads?: LoadSamples;
  /** engines whose timed runs were unsteady (see unsteadyNotes): their medians are not to be taken alone */
  notes?: string[];
  /**
   * GFLOPS of the f32x4 peak loop timed once per round in the same rotation (options.probe): kiln's
   * kernels run at that loop's limit, so a low value means the host took the core's floating-point
   * pipes from this row (a neighbour), which slows kiln more than a rival further from the limit
   */
  peakLoopGflops?: number;
}

/**
 * A row whose peak loop read below this share of the run's best ran while the host was contended
 * (on this VM: phases of seconds to minutes in which kiln's MiniLM ran 85-93 ms instead of 59-64).
 */
export const CONTENDED_SHARE = 0.85;

/** Notes for the rows of one run whose in-rotation peak loop read under CONTENDED_SHARE of the run's best. */
export function contendedNotes(results: BenchResult[]): string[] {
  const best = Math.max(0, ...results.map((r) => r.peakLoopGflops ?? 0));
  return results.filter((r) => r.peakLoopGflops !== undefined && r.peakLoopGflops < CONTENDED_SHARE * best).map((r) =>
    `${r.model}: the peak loop timed in this row's rotation read ${r.peakLoopGflops!.toFixed(1)} GFLOPS, ${Math.round((100 * r.peakLoopGflops!) / best)}% of the run's best ${best.toFixed(1)}: the host was contended while it ran`);
}

/**
 * An engine whose median sits this far above its minimum ran unsteadily: noise from elsewhere, or
 * a change of speed inside the engine (onnxruntime-web was seen to turn 2.3x slower mid-process,
 * about once in a dozen processes, on ResNet-50, its runs steady before and after), which a
 * median-based speedup would credit to kiln. Steady runs here sit within 3-10% of the minimum.
 */
export const UNSTEADY_SPREAD = 1.25;

/** A note per engine whose median is over UNSTEADY_SPREAD times its minimum (and 1 ms above it), with the speedup on minima beside. */
export function unsteadyNotes(r: BenchResult): string[] {
  const base = r["ort-web"] ?? r["ort-node"];
  const engines: [string, Timing | undefined][] = [["kiln", r.kiln], ["kiln-relaxed", r["kiln-relaxed"]], ["ort-web", r["ort-web"]], ["ort-node", r["ort-node"]]];
  const notes: string[] = [];
  for (const [name, t] of engines) {
    // sub-millisecond gaps are timer and scheduler jitter (a tiny model's runs take microseconds)
    if (!t || t.minMs <= 0 || t.medianMs / t.minMs <= UNSTEADY_SPREAD || t.medianMs - t.minMs < 1) continue;
    notes.push(`${name} unsteady: median ${t.medianMs.toFixed(1)} ms is ${(t.medianMs / t.minMs).toFixed(2)}x its minimum ${t.minMs.toFixed(1)} ms`);
  }
  if (notes.length && base) notes.push(`speedup on minima ${round(base.minMs / r.kiln.minMs, 2)}x (on medians ${r.speedup}x)`);
  return notes;
}

/** The graph's inputs (or outputs) as declared (without compiling it). */
export function graphInputs(bytes: Uint8Array, which: "inputs" | "outputs" = "inputs"): Input[] {
  const g = importOnnx(bytes);
  return g[which].map((name) => {
    const v = g.values.get(name)!;
    return { name, dtype: v.dtype, dims: [...(v.shape ?? [])] };
  });
}

export function compareOutputs(got: Outputs, want: Outputs, against: string, tol = BENCH_TOLERANCE): Check {
  let maxAbsErr = 0;
  for (const [name, w] of Object.entries(want)) {
    const g = got[name];
    if (!g) return { ok: false, maxAbsErr: Infinity, against, message: `kiln gave no output ${name}` };
    const c = compareTensors(g, w, tol);
    maxAbsErr = Math.max(maxAbsErr, c.maxAbsErr);
    if (!c.ok) return { ok: false, maxAbsErr, against, message: `output ${name}: ${c.message}` };
  }
  return { ok: true, maxAbsErr, against };
}

/** whether two runs' outputs are the same tensors bit for bit (a bounded build against the pinned one) */
export function sameBits(a: Outputs, b: Outputs): boolean {
  const bytes = (t: Outputs[string]) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, t]) => {
    const u = b[k];
    return u !== undefined && t.dims.join() === u.dims.join() && Buffer.compare(bytes(t), bytes(u)) === 0;
  });
}

/** warm-up time (ms) and the most warm-up rounds to take for it */
const WARM_MS = 1000, MAX_WARM_ROUNDS = 200;

/**
 * Warm-up runs for every engine (at least `warmup` rounds and a second), then `runs` rounds in which each engine runs once; the order
 * rotates every round so no engine always follows the same neighbour. With `settle` (threaded
 * rows), each timed run follows an untimed run of the same engine: a run right after another
 * engine's pays for what that engine leaves running (onnxruntime-web's thread pool spins on after
 * its run and holds a core the next engine's threads need: kiln's MiniLM at 2 threads read 51 ms
 * right after an onnxruntime-web run and 39 ms after a pause), which no user running one engine sees.
 */
export async function alternate(runners: Runner[], runs: number, warmup: number, budgetMs = Infinity, settle = false, warmMs = WARM_MS): Promise<number[][]> {
  let roundMs = 0;
  // at least `warmup` rounds and WARM_MS: a small model's first runs are V8's baseline code until its
  // optimizing tier has compiled the hot functions in the background (a 4 ms detector read 15 ms
  // after three rounds), and every kiln model is a module of its own, cold
  const start = performance.now();
  for (let w = 0; w < warmup || (performance.now() - start < warmMs && w < MAX_WARM_ROUNDS); w++) roundMs = (await timed(async () => { for (const r of runners) await r.run(); }))[1];
  runs = Math.min(runs, Math.max(MIN_RUNS, Math.floor(budgetMs / (roundMs * (settle ? 2 : 1)))));
  const times = runners.map(() => [] as number[]);
  for (let i = 0; i < runs; i++) {
    for (let j = 0; j < runners.length; j++) {
      const k = (i + j) % runners.length;
      if (settle) await runners[k].run();
      times[k].push((await timed(() => runners[k].run()))[1]);
    }
  }
  return times;
}

const timing = (loadMs: number, times: number[], firstRunMs?: number): Timing =>
  ({ loadMs: round(loadMs), medianMs: round(median(times)), minMs: round(Math.min(...times)), ...(firstRunMs !== undefined ? { firstRunMs } : {}) });

export async function benchModel(name: string, bytes: Uint8Array, o: BenchOptions): Promise<BenchResult> {
  const { compile } = await import("../compiler/driver/api.js");
  const specs = feedSpecs(graphInputs(bytes), o.shapes ?? {}, o.inputs ?? "random", o.seed ?? 1, o.choices);
  const feeds = await feedsOf(specs);
  const shapes = shapesOf(specs);
  // the AOT column is the baseline SIMD build, so its artifact carries no relaxed build
  const compileAot = async () => (await compile(bytes, { shapes: o.bounds ?? shapes, simd: "baseline", ...(o.threads > 1 ? { threads: o.threads } : {}) })).wasm;
  // loadMs: bytes -> ready with the engine's library already started (warmUp), this model unseen.
  // Measured first, in fresh processes (bench/loads.ts), while this one only waits; loadRuns 0
  // times the in-process loads below instead, one each.
  const loadRuns = o.loadRuns ?? DEFAULT_LOAD_RUNS;
  const fresh = loadRuns > 0
    ? await measureLoads({ model: bytes, aot: await compileAot(), feeds: specs, engines: ["kiln", ...(o.bounds ? ["kiln-pinned" as const] : []), "kiln-aot", ...o.vs], threads: o.threads, runs: loadRuns, bounds: o.bounds })
    : undefined;
  const jit = kilnJit("baseline", o.threads, "kiln", o.bounds);
  await warmUp(jit);
  // a bounded row's pinned build: the pinned path warmed up too
  const pinnedJit = o.bounds && kilnJit("baseline", o.threads, "kiln-pinned");
  if (pinnedJit) await warmUp(pinnedJit);
  const rivalEngines: Engine[] = [];
  for (const r of o.vs) {
    const e = await rivalEngine[r](o.threads);
    await warmUp(e);
    rivalEngines.push(e);
  }
  const inProcess = new Map<string, number>();
  const runners: Runner[] = [];
  const loadTimed = async (e: Engine, model = bytes, withFeeds = feeds) => {
    settleHeap();
    const [runner, ms] = await timed(() => e.load(model, withFeeds, shapes));
    runners.push(runner);
    inProcess.set(e.name, ms);
    return runner;
  };
  try {
    const kilns = [await loadTimed(jit)];
    // The AOT runner shares kiln's kernels: loaded for its loadMs only, so not at all when the
    // children measured it. Compiled after the timed JIT load, so no compile cache can serve that load.
    if (!fresh) await loadTimed(kilnAot(o.threads), await compileAot());
    if (o.relaxed) kilns.push(await loadTimed(kilnJit("relaxed", o.threads, "kiln-relaxed", o.bounds)));
    // at N threads, kiln's 1-thread build beside it in the same alternation: the scaling
    const single = o.threads > 1 ? [await loadTimed(kilnJit("baseline", 1, "kiln-1t", o.bounds))] : [];
    const rivals: Runner[] = [];
    for (const e of rivalEngines) rivals.push(await loadTimed(e));
    // a float16 model's float32 twin takes float32 feeds (the same seeded numbers, not rounded)
    const floatFeeds = async () => feedsOf(specs.map((s) => (s.dtype === "float16" ? { ...s, dtype: "float32" as const } : s)));
    const floats = o.floatModel ? [await loadTimed({ ...kilnJit(), name: "kiln-float" }, o.floatModel, await floatFeeds())] : [];
    const pinned = pinnedJit ? [await loadTimed(pinnedJit)] : [];
    const against = o.reference ? "reference" : o.vs[0];
    const want = o.reference ?? (rivals.length ? await rivals[0].run() : undefined);
    const check = async (r: Runner) => (want ? compareOutputs(await r.run(), want, against!, o.tolerance) : { ok: true, maxAbsErr: 0, against: "none" });
    const checks = [];
    for (const k of kilns) checks.push(await check(k));
    const probe = o.probe === false ? undefined : await peakRunner([2, 16]);
    const probeRunner: Runner[] = probe ? [{ run: async () => { probe.run(); return {}; }, release: async () => {} }] : [];
    const pinnedOut = pinned.length ? await pinned[0].run() : undefined;
    const identical = pinnedOut ? sameBits(await kilns[0].run(), pinnedOut) : false;
    const maxAbsDiff = pinnedOut ? compareOutputs(await kilns[0].run(), pinnedOut, "kiln-pinned").maxAbsErr : 0;
    const times = await alternate([...kilns, ...rivals, ...floats, ...pinned, ...single, ...probeRunner], o.runs, o.warmup, o.budgetMs, o.threads > 1);
    // kiln-relaxed has no fresh-process load (no column reports it): its in-process one stands
    const loadMs = (engine: string) => fresh?.[engine as LoadEngine]?.loadMs ?? inProcess.get(engine)!;
    const firstRunMs = (engine: string) => fresh?.[engine as LoadEngine]?.firstRunMs;
    const kiln = { ...timing(loadMs("kiln"), times[0], firstRunMs("kiln")), ...checks[0] };
    // rivals' times follow kiln's builds
    const rivalTimings = Object.fromEntries(o.vs.map((r, k) => [r, timing(loadMs(r), times[kilns.length + k], firstRunMs(r))])) as Partial<Record<RivalName, Timing>>;
    const base = rivalTimings["ort-web"] ?? (o.vs[0] ? rivalTimings[o.vs[0]] : undefined);
    const speedupOf = (t: Timing) => (base ? round(base.medianMs / t.medianMs, 2) : 0);
    const aotFirst = firstRunMs("kiln-aot");
    const result: BenchResult = {
      model: name, threads: o.threads, kiln, "kiln-aot": { loadMs: round(loadMs("kiln-aot")), ...(aotFirst !== undefined ? { firstRunMs: aotFirst } : {}) },
      ...rivalTimings, speedup: speedupOf(kiln),
    };
    if (o.relaxed) {
      const t = timing(loadMs("kiln-relaxed"), times[1]);
      result["kiln-relaxed"] = { ...t, ...checks[1], speedup: speedupOf(t) };
    }
    if (floats.length) {
      const t = timing(inProcess.get("kiln-float")!, times[kilns.length + rivals.length]);
      result["kiln-float"] = { ...t, speedup: round(t.medianMs / kiln.medianMs, 2) };
    }
    if (pinned.length) {
      const t = timing(loadMs("kiln-pinned"), times[kilns.length + rivals.length + floats.length], firstRunMs("kiln-pinned"));
      result["kiln-pinned"] = { ...t, ratio: round(kiln.medianMs / t.medianMs, 3), loadRatio: round(kiln.loadMs / t.loadMs, 2), identical, maxAbsDiff };
    }
    if (single.length) {
      const t = timing(inProcess.get("kiln-1t")!, times[kilns.length + rivals.length + floats.length + pinned.length]);
      result["kiln-1t"] = t;
      result.scaling = round(t.medianMs / kiln.medianMs, 2);
    }
    if (fresh) result.loads = loadSamples(fresh, loadRuns);
    if (probe) result.peakLoopGflops = round(probe.flops / (median(times[times.length - 1]) * 1e6), 1);
    const notes = unsteadyNotes(result);
    if (notes.length) result.notes = notes;
    return result;
  } finally {
    for (const r of runners) await r.release();
  }
}
