// Where kiln's load time goes, stage by stage, for one model:
//   node dist/bench/load-profile.js model.onnx [--shape name=AxB]
// JIT: decode, shapes + shape folding, each pass (fold-constants evaluates constant waves through
// the kernels), codegen, WebAssembly.compile, instantiate + weights; AOT: the .wasm from compile()
// through the runtime (split off the weights section, compile, instantiate, copy the weights), and
// the floor under it: copying the weights image into fresh wasm memory.
// A tiny model is loaded first, as the bench does, so library start-up is not counted.
import { readFileSync } from "node:fs";
import { load } from "../compiler/driver/api.js";
import { importOnnx, optimizeGraph, prepareGraph } from "../compiler/driver/compile.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { compileGenerated, generate } from "../codegen/module.js";
import { createSession } from "../runtime/session.js";
import { splitWeights } from "../runtime/weights.js";

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--"));
if (!file) {
  console.error("usage: load-profile model.onnx [--shape name=AxB]");
  process.exit(2);
}
const shapes: Record<string, number[]> = {};
args.forEach((a, k) => {
  if (a !== "--shape") return;
  const [name, dims] = args[k + 1].split("=");
  shapes[name] = dims.split("x").map(Number);
});

const rows: [string, number][] = [];
async function stage<T>(name: string, f: () => T | Promise<T>): Promise<T> {
  const t0 = performance.now();
  const out = await f();
  rows.push([name, performance.now() - t0]);
  return out;
}

const tiny = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[1,4]
%y : float32[1,4] = Relu(%x) {name="r"}
output %y`));
await load(tiny, { cache: false });

const bytes = readFileSync(file);
const graph = await stage("jit: decode", () => importOnnx(bytes));
await stage("jit: shapes + shape folding", () => prepareGraph(graph, { shapes }));
const passes = await stage("jit: passes", () => optimizeGraph(graph, { shapes }));
for (const p of passes) rows.push([`  ${p.name}`, p.ms]);
const gen = await stage("jit: codegen", () => generate(graph, { weights: "external", validate: false }));
const mod = await stage("jit: WebAssembly.compile", () => compileGenerated(gen.wasm));
await stage("jit: instantiate + weights", () => createSession(mod, { weights: gen.weights }));
rows.push(["jit: total (sum of stages)", rows.filter(([n]) => n.startsWith("jit:")).reduce((a, [, ms]) => a + ms, 0)]);

const wasm = (await import("../compiler/driver/api.js").then((api) => api.compile(bytes, { shapes }))).wasm;
const split = await stage("aot: split weights section", () => splitWeights(wasm));
await stage("aot: WebAssembly.compile (code only)", () => WebAssembly.compile(split.code as Uint8Array<ArrayBuffer>));
await stage("aot: createSession (bytes -> ready)", () => createSession(wasm));
// the floor any runtime pays: the weights written once into fresh wasm memory (page faults + copy)
await stage("floor: weights into a fresh WebAssembly.Memory", () => {
  const w = split.weights ?? new Uint8Array(0);
  const memory = new WebAssembly.Memory({ initial: Math.ceil((w.length + 1) / 65536) });
  new Uint8Array(memory.buffer).set(w);
});

const mb = (n: number) => (n / 1e6).toFixed(1);
console.log(`${file}: wasm code ${mb(split.code.length)} MB, weights image ${mb(split.weights?.length ?? 0)} MB`);
for (const [name, ms] of rows) console.log(`${name.padEnd(40)} ${ms.toFixed(1).padStart(9)} ms`);
