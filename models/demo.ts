// `npm run demo`: build the zoo CNN in memory, compile it with kiln, run it on a deterministic
// input and report size, compile time, the top-5 classes and the median run time. Needs nothing
// beyond the package's own dependencies (no test data, no onnxruntime).
import { compile } from "../compiler/driver/api.js";
import { makeInput } from "../compiler/driver/cli/inputs.js";
import { createSession } from "../runtime/session.js";
import { buildZooGraph, buildZooModel, ZOO } from "./zoo.js";

const MODEL = "cnn";
const WARMUP = 3;
const RUNS = 20;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function topK(probs: ArrayLike<number>, k: number): { index: number; p: number }[] {
  return Array.from(probs, (p, index) => ({ index, p })).sort((a, b) => b.p - a.p).slice(0, k);
}

async function main(): Promise<void> {
  const graph = buildZooGraph(MODEL);
  const onnxBytes = buildZooModel(MODEL);
  const t0 = performance.now();
  const { wasm, manifest } = await compile(onnxBytes);
  const compileMs = performance.now() - t0;
  const session = await createSession(wasm);

  const [input] = manifest.inputs;
  const feeds = { [input.name]: makeInput("random", input.dtype, input.dims, 7) };
  const times: number[] = [];
  let outputs = await session.run(feeds);
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const t = performance.now();
    outputs = await session.run(feeds);
    if (i >= WARMUP) times.push(performance.now() - t);
  }

  console.log(`model        ${MODEL}: ${ZOO[MODEL].description}`);
  const nodes = graph.topoOrder().map((n) => n.op);
  console.log(`layers       ${manifest.layers.length} compiled layers from ${nodes.length} ONNX nodes (${nodes.join(", ")})`);
  console.log(`input        ${input.name} [${input.dims.join("x")}] ${input.dtype}, seeded random`);
  console.log(`wasm size    ${(wasm.length / 1024).toFixed(1)} KiB (onnx ${(onnxBytes.length / 1024).toFixed(1)} KiB)`);
  console.log(`compile time ${compileMs.toFixed(0)} ms`);
  for (const out of manifest.outputs) {
    console.log(`output       ${out.name} [${out.dims.join("x")}], top-5:`);
    for (const { index, p } of topK(outputs[out.name].data as Float32Array, 5)) console.log(`  class ${String(index).padStart(3)}  p = ${p.toFixed(4)}`);
  }
  console.log(`run time     median ${median(times).toFixed(3)} ms over ${RUNS} runs (after ${WARMUP} warm-up runs)`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
