// `node dist/bench/attention.js [--len 1500] [--heads 2] [--dim 64] [--kernels +blocked,+rows] [--simd relaxed] [--samples 21] [--base DIR]`:
// one Attention node (opset 23, 3-D packed heads as the fused Whisper encoder has it: [1, len,
// heads * dim] for Q, K and V) compiled once per kernel selection given (and, with --base, once
// more per selection by the kiln build in DIR, e.g. a copy of an older dist/: an A/B of two
// builds in one process), each checked against onnxruntime-node, then timed through the module's
// run export with all builds' samples interleaved beside the peak loop (bench/peak.ts). GFLOPS
// count the two products only (4 * heads * len^2 * dim): what the softmax, packing and the rest
// cost shows as the distance to the peak. Medians, and the best sample (on a loaded host).
import path from "node:path";
import { Graph, type Attr } from "../compiler/ir/graph.js";
import { exportModel } from "../compiler/onnx/export.js";
import { compile } from "../compiler/driver/api.js";
import { readManifest } from "../runtime/session.js";
import { MEMORY_IMPORT } from "../runtime/manifest.js";
import { createSession } from "../runtime/session.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import { runReference } from "../models/reference.js";
import { runIfMain } from "../models/cli.js";
import { rng } from "../compiler/driver/cli/inputs.js";
import { peakRunner, relaxedSimdAvailable } from "./peak.js";
import { BENCH_TOLERANCE } from "./harness.js";
import { median, round } from "./stats.js";

const int = (value: number): Attr => ({ type: "int", value });

/** Y = Attention(Q, K, V), 3-D with `heads` heads of `dim` */
export function attentionModel(len: number, heads: number, dim: number): Uint8Array {
  const g = new Graph();
  g.opsets.set("", 23);
  for (const n of ["Q", "K", "V", "Y"]) Object.assign(g.value(n), { dtype: "float32", shape: [1, len, heads * dim] });
  g.inputs = ["Q", "K", "V"];
  g.addNode({ name: "attention", op: "Attention", domain: "", inputs: ["Q", "K", "V"], outputs: ["Y"], attrs: { q_num_heads: int(heads), kv_num_heads: int(heads) } });
  g.outputs = ["Y"];
  return exportModel(g, { valueInfo: false, producer: "kiln-bench" });
}

/** the module's run export with the feeds already in its memory */
async function runner(wasm: Uint8Array, feeds: Record<string, Float32Array>): Promise<() => void> {
  const mod = await WebAssembly.compile(wasm as Uint8Array<ArrayBuffer>);
  const manifest = readManifest(mod);
  const pages = manifest.memory.bytes / 65536;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const instance = await WebAssembly.instantiate(mod, { [MEMORY_IMPORT.module]: { [MEMORY_IMPORT.name]: memory } });
  for (const slot of manifest.inputs) {
    const x = feeds[slot.name];
    new Uint8Array(memory.buffer, slot.offset, x.byteLength).set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
  }
  return instance.exports.run as () => void;
}

function timeRuns(runs: (() => void)[], samples: number): { median: number; min: number }[] {
  const times = runs.map(() => [] as number[]);
  for (const run of runs) for (let w = 0; w < 3; w++) run();
  for (let s = 0; s < samples; s++) runs.forEach((run, k) => {
    const t = performance.now();
    run();
    times[k].push(performance.now() - t);
  });
  return times.map((t) => ({ median: median(t), min: Math.min(...t) }));
}

async function main(argv: string[]): Promise<number> {
  const opt = (name: string, dflt: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
  const len = Number(opt("--len", "1500")), heads = Number(opt("--heads", "2")), dim = Number(opt("--dim", "64"));
  const kernels = opt("--kernels", "+blocked").split(",");
  const base = argv.includes("--base") ? opt("--base", "") : undefined;
  const compilers: [string, typeof compile][] = [["", compile]];
  if (base) compilers.push([`${base}: `, ((await import(path.resolve(base, "compiler/driver/api.js"))) as { compile: typeof compile }).compile]);
  const selections = compilers.flatMap(([label, c]) => kernels.map((k) => ({ name: label + k, kernels: k, compile: c })));
  const simd = opt("--simd", "baseline") as "baseline" | "relaxed";
  if (simd === "relaxed" && !relaxedSimdAvailable()) throw new Error("this engine does not run relaxed SIMD");
  const samples = Number(opt("--samples", "21"));
  const bytes = attentionModel(len, heads, dim);
  const r = rng(5);
  const data = () => Float32Array.from({ length: len * heads * dim }, () => r() * 2 - 1);
  const feeds = { Q: data(), K: data(), V: data() };
  const dims = [1, len, heads * dim];
  const want = await runReference(bytes, Object.fromEntries(Object.entries(feeds).map(([n, d]) => [n, { dtype: "float32" as const, dims, data: d }])));
  const runs: (() => void)[] = [];
  let ok = true;
  for (const { name, kernels, compile } of selections) {
    const { wasm } = await compile(bytes, { simd, kernels });
    const session = await createSession(wasm);
    const kernel = session.manifest.layers.find((l) => l.name === "attention")?.kernel;
    const got = await session.run(Object.fromEntries(Object.entries(feeds).map(([n, d]) => [n, { data: d, dims }])));
    const cmp = compareTensors(got.Y, want.Y, BENCH_TOLERANCE);
    ok &&= cmp.ok;
    console.log(`${name}: kernel ${kernel}, ${cmp.ok ? "ok" : "WRONG"} (max abs err ${cmp.maxAbsErr})`);
    runs.push(await runner(wasm, feeds));
  }
  const peak = await peakRunner([4, 8], simd === "relaxed");
  const [peakMs, ...ms] = timeRuns([peak.run, ...runs], samples);
  const flops = 4 * heads * len * len * dim;
  console.log(`peak loop ${round(peak.flops / (peakMs.median * 1e6), 1)} GFLOPS (best sample ${round(peak.flops / (peakMs.min * 1e6), 1)}); ${samples} interleaved samples: median ms (min), GFLOPS of the median (of the min)`);
  const gf = (t: number) => (flops / (t * 1e6)).toFixed(1);
  selections.forEach((s, k) => console.log(`${s.name.padEnd(24)} ${ms[k].median.toFixed(2).padStart(8)} ms (${ms[k].min.toFixed(2)}) ${gf(ms[k].median).padStart(6)} GFLOPS (${gf(ms[k].min)})`));
  return ok ? 0 : 1;
}

runIfMain(import.meta.url, main);
