// Where a JIT load of the zoo MiniLM goes, stage by stage, pinned at 128 or with seq=1..512 (issue
// 15, criterion 5): one staged load in this (fresh) process, warmed up as the bench's load probes
// are (bench/engines.ts kilnJit), printed as one JSON line of milliseconds by stage.
//   node dist/bench/symbolic-stages.js pinned|bounded
// bench/symbolic-load.ts --stages runs it in fresh processes, interleaved, and prints the medians.
// The stages are load()'s (compiler/driver/api.ts), called one by one as compile.ts
// prepareOptimized calls them: decode; with bounds, each probe's prepare (shapes, folding) and
// passes (rewrites only: compile.ts optimizeGraph rewritesOnly) and the copies they run on, then the
// bounds' prepare and passes and the probes' bookkeeping (snapshots, fits, checks: symbolic.ts; a
// probe only prepared, symbolic.ts ProbeStep "shapes", has no passes);
// pinned, one prepare and its passes; then codegen, WebAssembly.compile and createSession.
import { pathToFileURL } from "node:url";
import { importOnnx, optimizeGraph, prepareGraph } from "../compiler/driver/compile.js";
import { prepareSymbolic, resolveDimOptions, type ProbeStep } from "../compiler/driver/symbolic.js";
import { reimport } from "../compiler/onnx/import.js";
import { compileGenerated, generate } from "../codegen/module.js";
import { createSession } from "../runtime/session.js";
import { symbolicSeqModel } from "../models/zoo.js";
import { kilnJit, tinyModel, warmUp } from "./engines.js";
import { settleHeap } from "./measure.js";

export const SYMBOLIC_BOUNDS = { seq: [1, 512] as [number, number] };
export const PINNED_SEQ = 128;

export type Stages = Record<string, number>;

/** One staged load of `bytes`, pinned (seq given) or bounded; the passes of each run under `<run>.<pass>`. */
export async function stagedLoad(bytes: Uint8Array, bounded: boolean): Promise<Stages> {
  const out: Stages = {};
  const add = (name: string, ms: number) => (out[name] = (out[name] ?? 0) + ms);
  const timed = async <T>(name: string, f: () => T | Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    add(name, performance.now() - t0);
    return r;
  };
  const t0 = performance.now();
  const graph = await timed("decode", () => importOnnx(bytes));
  const shapes = bounded ? SYMBOLIC_BOUNDS : { seq: PINNED_SEQ };
  const dims = resolveDimOptions(graph, shapes);
  let runs = 0;
  const once = async (g: typeof graph, at: Record<string, number[]> | undefined, step: ProbeStep) => {
    const run = !bounded ? "pinned" : step === "bounds" ? "bounds" : `probe${++runs}`;
    await timed(`${run}: prepare`, () => prepareGraph(g, { shapes: at }));
    if (step === "shapes") return;
    const passes = await timed(`${run}: passes`, () => optimizeGraph(g, { shapes: at }, undefined, step === "probe", bounded));
    for (const p of passes) add(`${run}.${p.name}`, p.ms);
  };
  if (!bounded) await once(graph, dims.shapes, "bounds");
  else {
    const before = performance.now();
    await prepareSymbolic(graph, () => { const c0 = performance.now(); const g = graph.copy() ?? reimport(graph)!; add("probe copies", performance.now() - c0); return g; }, dims, once);
    const inRuns = Object.entries(out).filter(([k]) => /^(probe\d+|bounds): |^probe copies$/.test(k)).reduce((a, [, ms]) => a + ms, 0);
    add("probe bookkeeping", performance.now() - before - inRuns);
  }
  const gen = await timed("codegen", () => generate(graph, { weights: "external", validate: false, mergeFunctions: false, simd: "baseline" }));
  const mod = await timed("WebAssembly.compile", () => compileGenerated(gen.wasm));
  await timed("createSession", () => createSession(mod, { weights: gen.weights }));
  out.total = performance.now() - t0;
  out["wasm KB"] = gen.wasm.length / 1024;
  out["arena MB"] = gen.manifest.memory.bytes / 2 ** 20;
  return out;
}

async function main(): Promise<void> {
  const which = process.argv[2];
  if (which !== "pinned" && which !== "bounded") throw new Error("usage: symbolic-stages pinned|bounded");
  const bounded = which === "bounded";
  // the bench's warm-up (load-probe.ts): a bounded build warms up on a tiny model with bounds
  const engine = kilnJit("baseline", 1, "kiln", bounded ? { rows: [1, 8] } : undefined);
  if (engine.warmUp) await engine.warmUp();
  else await warmUp(engine, await tinyModel());
  const bytes = symbolicSeqModel("minilm");
  settleHeap();
  console.log(JSON.stringify(await stagedLoad(bytes, bounded)));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
