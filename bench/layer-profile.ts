// Where kiln's run time goes, layer by layer, for one model (median of several profiled runs):
//   node dist/bench/layer-profile.js model.onnx|zoo:NAME [--top N]
// Each layer is called from JS and timed on its own, so the total is a little above a run's.
import { readFileSync } from "node:fs";
import { load } from "../compiler/api.js";
import { makeInput } from "../compiler/cli/inputs.js";
import { buildZooModel } from "../models/zoo.js";
import type { Tensor } from "../runtime/session.js";
import { median } from "./stats.js";

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--"));
if (!file) {
  console.error("usage: layer-profile model.onnx|zoo:NAME [--top N]");
  process.exit(2);
}
const topAt = args.indexOf("--top");
const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
const bytes = file.startsWith("zoo:") ? buildZooModel(file.slice(4)) : readFileSync(file);
const model = await load(bytes, { cache: false });
const session = model.session!;
const feeds: Record<string, Tensor> = {};
session.inputs.forEach((s, k) => {
  feeds[s.name] = { dtype: s.dtype, ...makeInput("random", s.dtype, [...s.dims], 42 + k) } as Tensor;
});
for (let i = 0; i < 3; i++) await session.profile(feeds);
const runs: { layer: string; op: string; ms: number }[][] = [];
for (let i = 0; i < 7; i++) runs.push(await session.profile(feeds));
const layers = runs[0].map((l, k) => ({ ...l, ms: median(runs.map((r) => r[k].ms)) }));
const total = layers.reduce((a, l) => a + l.ms, 0);
const byOp = new Map<string, number>();
for (const l of layers) byOp.set(l.op, (byOp.get(l.op) ?? 0) + l.ms);
console.log(`${file}: ${layers.length} layers, ${total.toFixed(1)} ms`);
console.log("by op:");
for (const [op, ms] of [...byOp].sort((a, b) => b[1] - a[1])) console.log(`  ${op.padEnd(40)} ${ms.toFixed(2).padStart(8)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}%`);
console.log(`top ${top} layers:`);
for (const l of [...layers].sort((a, b) => b.ms - a.ms).slice(0, top)) {
  console.log(`  ${l.layer.slice(0, 50).padEnd(50)} ${l.op.slice(0, 30).padEnd(30)} ${l.ms.toFixed(2).padStart(8)} ms`);
}
