// One engine's load, timed in a fresh process (bench/loads.ts spawns it):
//   node dist/bench/load-probe.js '{"engine","threads","model","tiny","feeds"}'
// model and tiny are files: the ONNX model, or for kiln-aot its compiled .wasm, and the tiny model
// (or its .wasm) the engine warms up on. kiln-aot-path opens both .wasm by their paths
// (openSession); every other engine gets the file's bytes. Prints {"engine","loadMs","firstRunMs"}: the load, then
// the first run after it (kiln places weights layer by layer in its first run, runtime/schedule.ts,
// so the two together are what a user waits for), and the process's peak RSS after them (VmHWM);
// a failure exits 1, the message on stderr.
// Why a fresh process: V8's background compile and tier-up jobs left by one engine (binaryen's
// own wasm, another engine's load) ran inside the next engine's timed load on a 2-core machine,
// and an AOT artifact is deployed without binaryen at all. So the kiln-aot child never imports
// the compiler: the parent compiles the artifacts and describes the feeds.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { kilnAot, kilnAotFile, kilnAotPath, kilnJit, rivalEngine, warmUp, type Bounds, type Engine, type RivalName } from "./engines.js";
import { feedsOf, settleHeap, shapesOf, timed, type FeedSpec } from "./measure.js";

export const LOAD_ENGINES = ["kiln", "kiln-pinned", "kiln-aot", "kiln-aot-path", "kiln-aot-file", "ort-web", "ort-node"] as const;
export type LoadEngine = (typeof LOAD_ENGINES)[number];

export interface ProbeArgs {
  engine: LoadEngine;
  /** the rivals' thread count */
  threads: number;
  model: string;
  tiny: string;
  feeds: FeedSpec[];
  /** kiln-aot-file: the weights file of `model` (a .wasm compiled with --weights) */
  weights?: string;
  /** kiln (JIT): dims given bounds, compiled once for them (bench/engines.ts kilnJit) */
  bounds?: Bounds;
}

export interface ProbeResult {
  engine: LoadEngine;
  loadMs: number;
  /** the first run after the load */
  firstRunMs: number;
  /** the process's peak resident memory after the load and the first run (VmHWM, KiB; Linux only) */
  peakRssKB?: number;
}

/** VmHWM from /proc/self/status: the peak resident set of this process so far, KiB (undefined off Linux). */
export function peakRssKB(): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+)\s*kB/.exec(readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function engineNamed(name: LoadEngine, threads: number, weights?: string, bounds?: Bounds): Promise<Engine> {
  if (name === "kiln") return kilnJit("baseline", threads, "kiln", bounds);
  // a bounded row's pinned build (bench/harness.ts BenchOptions.bounds): the feeds' shapes
  if (name === "kiln-pinned") return kilnJit("baseline", threads, "kiln-pinned");
  if (name === "kiln-aot") return kilnAot(threads);
  if (name === "kiln-aot-path") return kilnAotPath(threads);
  if (name === "kiln-aot-file") {
    if (!weights) throw new Error("load-probe: kiln-aot-file needs its weights file");
    return kilnAotFile(weights, threads);
  }
  return rivalEngine[name as RivalName](threads);
}

export async function probe(a: ProbeArgs): Promise<ProbeResult> {
  if (!(LOAD_ENGINES as readonly string[]).includes(a.engine)) throw new Error(`load-probe: unknown engine ${a.engine}`);
  const engine = await engineNamed(a.engine, a.threads, a.weights, a.bounds);
  // kiln-aot-file warms up on the tiny .wasm through the embedded path: the runtime is the same
  // kiln-aot-path warms up by opening the tiny .wasm's file, as it opens the model's
  // a kiln build for bounds warms up on a tiny model with bounds of its own (kilnJit)
  if (engine.warmUp) await engine.warmUp();
  else await warmUp(a.engine === "kiln-aot-file" ? kilnAot(a.threads) : engine, new Uint8Array(readFileSync(a.tiny)), a.tiny);
  // an engine that opens the file itself gets its path: the model's bytes are never read here
  const bytes = engine.open ? undefined : new Uint8Array(readFileSync(a.model));
  const feeds = await feedsOf(a.feeds);
  settleHeap();
  const [runner, loadMs] = await timed(() => (engine.open ? engine.open(a.model, feeds, shapesOf(a.feeds)) : engine.load(bytes!, feeds, shapesOf(a.feeds))));
  // a load that cannot run is a failure, not a fast load
  const [outputs, firstRunMs] = await timed(() => runner.run());
  if (Object.keys(outputs).length === 0) throw new Error(`${a.engine}: the loaded model returned no outputs`);
  const peak = peakRssKB();
  await runner.release();
  return { engine: a.engine, loadMs, firstRunMs, ...(peak !== undefined ? { peakRssKB: peak } : {}) };
}

/** Exits explicitly: onnxruntime-web's worker threads (threads > 1) would keep the process alive. */
async function main(): Promise<void> {
  try {
    const r = await probe(JSON.parse(process.argv[2] ?? "") as ProbeArgs);
    process.stdout.write(JSON.stringify(r) + "\n", () => process.exit(0));
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`, () => process.exit(1));
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
