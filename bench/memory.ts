// Issue 16, done-criterion 2, as rows of `npm run bench` (with light_resnet50; alone:
// node dist/bench/run.js --only light_resnet50 --threads 1):
// - budget: a model under memoryBudget = weight bytes / 4, its weights read from a sidecar file
//   (fileSource, so after the first run from the page cache) on every run, timed interleaved with
//   the resident AOT session of the same model; outputs compared bit for bit.
// - peak RSS: fresh child processes, one per engine (bench/load-probe.ts: the engine's library
//   warmed up on a tiny model, then this model loaded and run once), VmHWM from /proc/self/status;
//   kiln's AOT session with its weights in the .wasm, opened by its path as a Node user opens it
//   (openSession, kiln/runtime/file: the weights read from the file into memory as placed) and, for
//   comparison, from the whole file's bytes (createSession(readFileSync(path))); a --prepack .wasm by
//   its path; with a sidecar weights file; beside onnxruntime-web's session on the ONNX file.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { compile } from "../compiler/driver/api.js";
import { createSession, type Session } from "../runtime/session.js";
import { fileSource } from "../runtime/sources.js";
import { feedSpecs, feedsOf, settleHeap } from "./measure.js";
import { probeOnce, probeScript, writeInputs } from "./loads.js";
import { graphInputs } from "./harness.js";
import type { LoadEngine } from "./load-probe.js";
import { onnxWeightBytes } from "./onnx-weights.js";
import { median, round } from "./stats.js";

export interface BudgetRow {
  model: string;
  fraction: number;
  weightBytes: number;
  budgetBytes: number;
  /** bytes read from the weights file on every run */
  streamBytes: number;
  residentMs: number;
  budgetMs: number;
  /** budgetMs / residentMs (medians of the interleaved runs) */
  ratio: number;
  /** the same ratio of process CPU time (the reads in Node's thread pool included): steadier than wall time on a loaded host */
  cpuRatio: number;
  runs: number;
  /** every run's outputs equal the resident session's, bit for bit */
  identical: boolean;
}

const bitsOf = (outs: Record<string, { data: ArrayBufferView }>) =>
  Object.values(outs).map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
const sameBits = (a: Buffer[], b: Buffer[]) => a.length === b.length && a.every((x, k) => x.equals(b[k]));

/** The budget row: resident AOT session against the budgeted one (weights from a file), runs interleaved, order alternating. */
export async function benchBudget(model: string, bytes: Uint8Array, fraction = 4, runs = 10, shapes?: Record<string, number[]>): Promise<BudgetRow> {
  const weightBytes = onnxWeightBytes(bytes);
  const budgetBytes = Math.floor(weightBytes / fraction);
  const resident = await compile(bytes, { simd: "baseline", shapes });
  const budgeted = await compile(bytes, { simd: "baseline", shapes, memoryBudget: budgetBytes });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-budget-"));
  // under a budget the session reads the file on every run and never lets it go: closed here
  let source: Awaited<ReturnType<typeof fileSource>> | undefined;
  try {
    const file = path.join(dir, "weights.bin");
    fs.writeFileSync(file, budgeted.weights!);
    const a = await createSession(resident.wasm, { simd: "baseline" });
    source = await fileSource(file);
    const b = await createSession(budgeted.wasm, { simd: "baseline", weights: source, memoryBudget: budgetBytes });
    const feeds = await feedsOf(feedSpecs(graphInputs(bytes), shapes ?? {}, "random", 1));
    const data = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.data]));
    const want = bitsOf(await a.run(data));
    let identical = sameBits(want, bitsOf(await b.run(data)));
    for (let w = 0; w < 2; w++) { await a.run(data); await b.run(data); }
    settleHeap();
    const wall: [number[], number[]] = [[], []], cpu: [number[], number[]] = [[], []];
    const timeOne = async (s: Session, k: 0 | 1) => {
      const c0 = process.cpuUsage(), t0 = performance.now();
      const out = await s.run(data);
      wall[k].push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu[k].push((c.user + c.system) / 1000);
      if (k === 1 && !sameBits(want, bitsOf(out))) identical = false;
    };
    for (let i = 0; i < runs; i++) {
      if (i % 2) { await timeOne(a, 0); await timeOne(b, 1); } else { await timeOne(b, 1); await timeOne(a, 0); }
    }
    const [ra, rb] = wall.map(median), [ca, cb] = cpu.map(median);
    return {
      model, fraction, weightBytes, budgetBytes, streamBytes: budgeted.manifest.memory.stream?.bytes ?? 0,
      residentMs: round(ra), budgetMs: round(rb), ratio: round(rb / ra, 3), cpuRatio: round(cb / ca, 3), runs, identical,
    };
  } finally {
    await source?.close?.();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export interface RssRow {
  model: string;
  /** peak RSS after load + one run, MiB, median over the children */
  /** the .wasm opened by its path: openSession(path) */
  "kiln-aot-path": number;
  /** the .wasm read whole, then createSession(bytes) */
  "kiln-aot-bytes": number;
  /** a .wasm compiled with prepack (the kernels' forms stored ready, none derived) opened by its path */
  "kiln-aot-prepack": number;
  /** code-only .wasm and a sidecar weights file (fileSource) */
  "kiln-aot-file": number;
  "ort-web": number;
  runs: number;
}

/** Peak RSS of each engine in fresh children: the .wasm with its weights opened by path and read whole, a prepacked .wasm by path, the sidecar form, ort-web. */
export async function benchPeakRss(model: string, bytes: Uint8Array, runs = 1, shapes?: Record<string, number[]>): Promise<RssRow> {
  const script = probeScript();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-rss-"));
  try {
    const embedded = (await compile(bytes, { simd: "baseline", shapes })).wasm;
    const sidecar = await compile(bytes, { simd: "baseline", shapes, weightsFile: "model.bin" });
    const prepacked = path.join(dir, "model-prepack.wasm");
    fs.writeFileSync(prepacked, (await compile(bytes, { simd: "baseline", shapes, prepack: true })).wasm);
    const files = await writeInputs(dir, { model: bytes, aot: embedded, feeds: [], engines: [], threads: 1, runs });
    const codeOnly = path.join(dir, "model-code.wasm"), weights = path.join(dir, "model.bin");
    fs.writeFileSync(codeOnly, sidecar.wasm);
    fs.writeFileSync(weights, sidecar.weights!);
    const feeds = feedSpecs(graphInputs(bytes), shapes ?? {}, "random", 1);
    settleHeap();
    // each row: the probe's engine and the file it loads
    const rows: [LoadEngine, string][] = [["kiln-aot-path", files.aot], ["kiln-aot", files.aot], ["kiln-aot-path", prepacked], ["kiln-aot-file", codeOnly], ["ort-web", files.model]];
    const peaks = rows.map(() => [] as number[]);
    for (let i = 0; i < runs; i++) {
      for (const [k, [engine, model]] of rows.entries()) {
        const r = await probeOnce(script, { engine, threads: 1, model, tiny: engine === "ort-web" ? files.tiny : files.tinyAot, feeds, weights });
        if (r.peakRssKB === undefined) throw new Error("peak RSS: this OS has no /proc/self/status VmHWM");
        peaks[k].push(r.peakRssKB / 1024);
      }
    }
    const [byPath, bytesWhole, prepack, file, web] = peaks.map((p) => round(median(p), 1));
    return { model, "kiln-aot-path": byPath, "kiln-aot-bytes": bytesWhole, "kiln-aot-prepack": prepack, "kiln-aot-file": file, "ort-web": web, runs };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatMemory(budget: BudgetRow | undefined, rss: RssRow | undefined): string {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  // three digits: the criterion is a bound (0.5x), and two would round 0.498 up to it
  const ratio = (k: "kiln-aot-path" | "kiln-aot-bytes" | "kiln-aot-prepack" | "kiln-aot-file") => round(rss![k] / rss!["ort-web"], 3);
  return [
    ``,
    `## Memory (issue 16)`,
    ``,
    ...(budget ? [
      `Under a memory budget: the model compiled with memoryBudget = its ONNX weight bytes / ${budget.fraction}, its weights read from a`,
      `sidecar file on every run (from the page cache after the first), timed interleaved with the resident AOT session (baseline`,
      `build, ${budget.runs} runs each); "CPU ratio" is the same ratio of process CPU time, reads in Node's thread pool included.`,
      ``,
      `| row | weights MB | budget MB | read per run MB | resident median ms | budget median ms | budget / resident | CPU ratio | outputs |`,
      `|---|---:|---:|---:|---:|---:|---:|---:|---|`,
      `| budget:${budget.model.replace(/^light_/, "")} (1/${budget.fraction}) | ${mb(budget.weightBytes)} | ${mb(budget.budgetBytes)} | ${mb(budget.streamBytes)} | ${budget.residentMs} | ${budget.budgetMs} | ${budget.ratio}x | ${budget.cpuRatio}x | ${budget.identical ? "bit-identical" : "**DIFFERENT**"} |`,
      ``,
    ] : []),
    ...(rss ? [
      `Peak RSS (VmHWM) of a fresh Node process per engine after its library was warmed up on a tiny model, then this model`,
      `loaded and run once (bench/load-probe.ts), median of ${rss.runs}; kiln's AOT sessions have no budget. "by path" is`,
      `openSession(path) (kiln/runtime/file): the code before the weights section compiled, the weights read from the file into`,
      `memory as they are placed, never whole; "as bytes" reads the file whole first (createSession(readFileSync(path))); the`,
      `default .wasm stores each weight once and derives the kernels' packed forms in memory (both stay resident), a --prepack one`,
      `stores the packed forms; onnxruntime-web's session takes the ONNX file's bytes.`,
      ``,
      `| rss:${rss.model} | peak RSS MiB | / ort-web |`,
      `|---|---:|---:|`,
      `| kiln .wasm (default), by path | ${rss["kiln-aot-path"]} | ${ratio("kiln-aot-path")}x |`,
      `| kiln .wasm (default), as bytes | ${rss["kiln-aot-bytes"]} | ${ratio("kiln-aot-bytes")}x |`,
      `| kiln .wasm (--prepack), by path | ${rss["kiln-aot-prepack"]} | ${ratio("kiln-aot-prepack")}x |`,
      `| kiln code .wasm + sidecar weights file (fileSource) | ${rss["kiln-aot-file"]} | ${ratio("kiln-aot-file")}x |`,
      `| onnxruntime-web | ${rss["ort-web"]} | 1x |`,
      ``,
    ] : []),
  ].join("\n");
}
