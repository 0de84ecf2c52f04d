// A detector that ships its post-processing: the YOLO-style end-to-end fixture exported by torch
// (test/fixtures/detector/make_end2end.py: NonMaxSuppression in the graph, its detections a
// data-dependent count), kiln's one module for images 64..320 in steps of 32 and its build pinned at
// each size against onnxruntime-web (wasm SIMD, one thread), in one process, the engines alternating
// run by run in a rotating order after two seconds of warm-up (harness.ts alternate); medians. The
// boxes and scores NonMaxSuppression chose from are checked against onnxruntime-web's (rtol 1e-3, atol 1e-4); the detections' count beside them (the seeded
// weights give scores a last bit apart, which two engines may order either way).
//   node dist/bench/detection.js [--runs N]
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { load } from "../compiler/driver/api.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { rng } from "../compiler/driver/cli/inputs.js";
import { ortWeb, warmUp } from "./engines.js";
import { alternate } from "./harness.js";
import { median } from "./stats.js";
import { repoRoot } from "../models/quantize/sources.js";

const args = process.argv.slice(2);
const opt = (name: string) => { const k = args.indexOf(name); return k >= 0 ? args[k + 1] : undefined; };
const runs = Number(opt("--runs") ?? 15);
const SIZES = [[160, 224], [320, 320], [96, 288]];
/** warm-up time per size, every engine in turn */
const WARM_MS = 2000;

const bytes = new Uint8Array(fs.readFileSync(path.join(repoRoot(), "test/fixtures/detector/detector-end2end.onnx")));
const image = (h: number, w: number, seed: number): Record<string, Tensor> => {
  const next = rng(seed);
  return { images: { dtype: "float32", dims: [1, 3, h, w], data: Float32Array.from({ length: 3 * h * w }, () => next()) } };
};

const web = await ortWeb(1);
await warmUp(web);
const bounded = await load(bytes, { shapes: { height: [64, 320, 32], width: [64, 320, 32] }, simd: "baseline", cache: false });
console.log(`kiln: the end-to-end detector (NonMaxSuppression in the graph) against onnxruntime-web, one thread each; ${runs} runs each, alternating; ${os.cpus()[0]?.model ?? "cpu"}, load average ${os.loadavg()[0].toFixed(2)}`);
console.log("| size | kiln bounded 64..320:32 median ms | kiln pinned median ms | ort-web median ms | ort-web / kiln bounded | boxes, scores | detections kiln / ort-web |");
console.log("|---|---:|---:|---:|---:|---|---|");
for (const [h, w] of SIZES) {
  const feeds = image(h, w, h * 7 + w);
  const pinned = await load(bytes, { shapes: { height: h, width: w }, simd: "baseline", cache: false });
  const rival = await web.load(bytes, feeds, { images: [1, 3, h, w] });
  const runner = (run: () => Promise<Record<string, Tensor>>) => ({ run, release: async () => {} });
  const times = await alternate([runner(() => bounded.run(feeds)), runner(() => pinned.run(feeds)), rival], runs, 3, Infinity, false, WARM_MS);
  const [got, want] = [await bounded.run(feeds), await rival.run()];
  const agree = ["boxes", "scores"].every((o) => compareTensors(got[o], want[o], { rtol: 1e-3, atol: 1e-4 }).message === undefined);
  const [tb, tp, tw] = times.map(median);
  console.log(`| ${h}x${w} | ${tb.toFixed(2)} | ${tp.toFixed(2)} | ${tw.toFixed(2)} | ${(tw / tb).toFixed(2)}x | ${agree ? "agree" : "DIFFER"} | ${got.detections.dims[0]} / ${want.detections.dims[0]} |`);
  await rival.release();
}
process.exit(0);
