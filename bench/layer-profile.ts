// Where kiln's run time goes, layer by layer, for one model (median of several profiled runs):
//   node dist/bench/layer-profile.js model.onnx|zoo:NAME [--top N] [--simd baseline|relaxed]
// Each layer is called from JS and timed on its own, so the total is a little above a run's.
import { readFileSync } from "node:fs";
import { parseShapes } from "../compiler/driver/cli/args.js";
import { load } from "../compiler/driver/api.js";
import { importOnnx, optimizeGraph, prepareGraph } from "../compiler/driver/compile.js";
import type { Graph } from "../compiler/ir/graph.js";
import { makeInput } from "../compiler/driver/cli/inputs.js";
import { buildZooModel } from "../models/zoo.js";
import type { Tensor } from "../runtime/session.js";
import { median } from "./stats.js";
import { measurePeak, peakRunner, relaxedSimdAvailable, type Tile } from "./peak.js";
import { sizeOf } from "../runtime/dtypes.js";

/** FLOPs of a layer whose anchor is a Conv (2 * outputs * window) or a GEMM/MatMul (2 * outputs * K); 0 otherwise */
function layerFlops(graph: Graph, name: string): number {
  if (!graph.g.hasNode(name)) return 0;
  const node = graph.node(name);
  const anchor = node.op.split("_")[0];
  const dims = (v: string | undefined) => (v ? graph.values.get(v)?.shape ?? [] : []) as number[];
  const out = sizeOf(dims(node.outputs[0]));
  // the layout pass's depthwise Conv (channels last): weights [C, 1, kh, kw] as Conv's
  if (anchor === "Conv" || anchor === "DepthwiseConvNhwc") {
    const w = dims(node.inputs[1]);
    return w.length ? (2 * out * sizeOf(w)) / w[0] : 0;
  }
  if (anchor === "Gemm" || anchor === "MatMul") {
    const a = dims(node.inputs[0]);
    const transA = anchor === "Gemm" && node.attrs?.transA?.value === 1;
    return a.length ? 2 * out * (transA ? a[a.length - 2] : a[a.length - 1]) : 0;
  }
  if (node.meta?.kind === "qlinear" || node.meta?.kind === "qdynamic") return quantFlops(graph, node.inputs, out);
  return 0;
}

/**
 * A fused int8 layer (fuse-qdq's qlinear, fuse-dynamic-quant's qdynamic): its inputs start with the
 * activation and carry the weights as the first constant of rank 2 or more after it; 4-D weights
 * are a convolution's (window = size / output channels), 2-D ones a MatMul's (K = the activation's
 * last dim). Multiply-adds count 2 as in the float layers.
 */
function quantFlops(graph: Graph, inputs: string[], out: number): number {
  const w = inputs.slice(1).map((v) => graph.values.get(v)).find((v) => v?.const && (v.shape?.length ?? 0) >= 2);
  const wd = (w?.shape ?? []) as number[];
  if (wd.length === 4) return (2 * out * sizeOf(wd)) / wd[0];
  const x = (graph.values.get(inputs[0])?.shape ?? []) as number[];
  return wd.length === 2 && x.length ? 2 * out * x[x.length - 1] : 0;
}

const args = process.argv.slice(2);
const file = args.find((a, k) => !a.startsWith("--") && !["--top", "--simd", "--shape"].includes(args[k - 1]));
if (!file) {
  console.error("usage: layer-profile model.onnx|zoo:NAME [--top N] [--simd baseline|relaxed] [--shape name=AxB ...]");
  process.exit(2);
}
const topAt = args.indexOf("--top");
const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
const simdAt = args.indexOf("--simd");
const simd = simdAt >= 0 ? args[simdAt + 1] : "baseline";
if (simd !== "baseline" && simd !== "relaxed") {
  console.error("--simd takes baseline or relaxed");
  process.exit(2);
}
// Node 20 validates relaxed SIMD only under this V8 flag, which may be set at run time
if (simd === "relaxed" && !relaxedSimdAvailable()) {
  console.error("this engine does not run relaxed SIMD");
  process.exit(2);
}
// input shapes for dims the model leaves open, as kiln compile takes them
const shapes = parseShapes(args.filter((a, k) => args[k - 1] === "--shape"));
const bytes = file.startsWith("zoo:") ? buildZooModel(file.slice(4)) : readFileSync(file);
const model = await load(bytes, { cache: false, simd, shapes });
const graph = importOnnx(bytes);
await prepareGraph(graph, { shapes });
await optimizeGraph(graph, { shapes });
const session = model.session!;
const feeds: Record<string, Tensor> = {};
session.inputs.forEach((s, k) => {
  feeds[s.name] = { dtype: s.dtype, ...makeInput("random", s.dtype, [...s.dims], 42 + k) } as Tensor;
});
for (let i = 0; i < 3; i++) await session.profile(feeds);
const runs: { layer: string; op: string; kernel: string; ms: number }[][] = [];
for (let i = 0; i < 7; i++) runs.push(await session.profile(feeds));
const layers = runs[0].map((l, k) => ({ ...l, ms: median(runs.map((r) => r[k].ms)) }));
const total = layers.reduce((a, l) => a + l.ms, 0);
const byOp = new Map<string, number>();
for (const l of layers) byOp.set(l.op, (byOp.get(l.op) ?? 0) + l.ms);
const byKernel = new Map<string, number>();
for (const l of layers) byKernel.set(l.kernel, (byKernel.get(l.kernel) ?? 0) + l.ms);
const flops = layers.reduce((a, l) => a + layerFlops(graph, l.layer), 0);
console.log(`${file}: ${layers.length} layers, ${total.toFixed(1)} ms, ${(flops / 1e9).toFixed(2)} GFLOP in Conv/Gemm/MatMul (${(flops / (total * 1e6)).toFixed(1)} GFLOPS overall)`);
// whole runs against the peak loop (bench/peak.ts), interleaved so a burst of load from elsewhere
// lowers both: how near the model as a whole is to what an f32x4 loop does on this core right now
const best = (await measurePeak(undefined, simd === "relaxed")).tiles.reduce((a, b) => (b.gflops > a.gflops ? b : a));
const peak = await peakRunner(best.tile.split("x").map(Number) as Tile, simd === "relaxed");
const wholeMs: number[] = [];
const peakMs: number[] = [];
for (let i = 0; i < 9; i++) {
  let t = performance.now();
  await session.run(feeds);
  wholeMs.push(performance.now() - t);
  t = performance.now();
  for (let p = 0; p < 10; p++) peak.run();
  peakMs.push((performance.now() - t) / 10);
}
const peakGflops = peak.flops / (median(peakMs) * 1e6);
const wholeGflops = flops / (median(wholeMs) * 1e6);
console.log(`whole run ${median(wholeMs).toFixed(1)} ms (median of 9): ${wholeGflops.toFixed(1)} GFLOPS, ${((100 * wholeGflops) / peakGflops).toFixed(0)}% of the ${best.tile} f32x4 peak loop timed alongside (${peakGflops.toFixed(1)} GFLOPS)`);
console.log("by op:");
for (const [op, ms] of [...byOp].sort((a, b) => b[1] - a[1])) console.log(`  ${op.padEnd(40)} ${ms.toFixed(2).padStart(8)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}%`);
console.log("by kernel variant:");
for (const [k, ms] of [...byKernel].sort((a, b) => b[1] - a[1])) console.log(`  ${k.padEnd(40)} ${ms.toFixed(2).padStart(8)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}%`);
console.log(`top ${top} layers:`);
for (const l of [...layers].sort((a, b) => b.ms - a.ms).slice(0, top)) {
  const gf = layerFlops(graph, l.layer) / (l.ms * 1e6);
  const shape = graph.g.hasNode(l.layer) ? `${JSON.stringify(graph.values.get(graph.node(l.layer).inputs[0])?.shape)}->${JSON.stringify(graph.values.get(graph.node(l.layer).outputs[0])?.shape)}` : "";
  console.log(`  ${l.layer.slice(0, 30).padEnd(30)} ${l.op.slice(0, 22).padEnd(22)} ${l.kernel.slice(0, 20).padEnd(20)} ${l.ms.toFixed(2).padStart(7)} ms ${gf ? `${gf.toFixed(1).padStart(5)} GFLOPS` : "            "} ${shape}`);
}
