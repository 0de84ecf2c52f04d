// A build compiled once for images of varying size against builds pinned at each size (issue 15:
// symbolic dims compiled once stay fast): PaddleOCR's detector bounded at 64..640 on both sides in
// steps of 32 and its recognizer at widths 32..640 in steps of 8, each run at several sizes beside
// the build pinned there, in one process, the two alternating run by run after warm-up; medians,
// and whether the outputs agree bit for bit (they may not where the pinned build picks another
// kernel variant for its smaller size).
//   node dist/bench/bounded-sizes.js [--runs N] [--only det|rec]
import * as os from "node:os";
import { load } from "../compiler/driver/api.js";
import { OCR_MODELS, ocrModelBytes } from "../models/ocr.js";
import { ocrInput } from "../models/ocr-inputs.js";
import { median } from "./stats.js";

const args = process.argv.slice(2);
const opt = (name: string) => { const k = args.indexOf(name); return k >= 0 ? args[k + 1] : undefined; };
const runs = Number(opt("--runs") ?? 15);
const only = opt("--only");

// the models' own dim names (p2o: Paddle2ONNX's export): batch, then height and width
const [N, H, W] = ["p2o.DynamicDimension.0", "p2o.DynamicDimension.1", "p2o.DynamicDimension.2"];
const CASES = [
  { key: "det", model: "ppocr_det", bounds: { [N]: 1, [H]: [64, 640, 32], [W]: [64, 640, 32] }, pin: (h: number, w: number) => ({ [N]: 1, [H]: h, [W]: w }), sizes: [[160, 160], [320, 320], [640, 640]] },
  // the recognizer's height is static (48): its width is its second named dim
  { key: "rec", model: "ppocr_rec", bounds: { [N]: 1, [H]: [32, 640, 8] }, pin: (_h: number, w: number) => ({ [N]: 1, [H]: w }), sizes: [[48, 80], [48, 160], [48, 320], [48, 640]] },
];

const bits = (t: { data: ArrayBufferView }) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

console.log(`kiln: a build bounded for images of varying size against builds pinned at each size; ${runs} runs each, alternating; ${os.cpus()[0]?.model ?? "cpu"}, load average ${os.loadavg()[0].toFixed(2)}`);
console.log("| model | bounds | size | bounded median ms | pinned median ms | bounded / pinned | same bits |");
console.log("|---|---|---|---:|---:|---:|---|");
for (const c of CASES.filter((x) => !only || x.key === only)) {
  const m = OCR_MODELS.find((o) => o.name === c.model)!;
  const bytes = await ocrModelBytes(m);
  const bounded = await load(bytes, { shapes: c.bounds, cache: false });
  for (const [h, w] of c.sizes) {
    const pinned = await load(bytes, { shapes: c.pin(h, w), cache: false });
    const x = { data: ocrInput(m.name, [1, 3, h, w], h + w), dims: [1, 3, h, w] };
    const timed = async (model: typeof bounded) => { const t = performance.now(); await model.run({ x }); return performance.now() - t; };
    for (let i = 0; i < 3; i++) { await timed(bounded); await timed(pinned); }
    const tb: number[] = [], tp: number[] = [];
    for (let i = 0; i < runs; i++) {
      if (i % 2) { tp.push(await timed(pinned)); tb.push(await timed(bounded)); } else { tb.push(await timed(bounded)); tp.push(await timed(pinned)); }
    }
    const [a, b] = [Object.values(await bounded.run({ x }))[0], Object.values(await pinned.run({ x }))[0]];
    const bound = Object.entries(c.bounds).filter(([, v]) => Array.isArray(v)).map(([, v]) => (v as number[]).slice(0, 2).join("..") + `:${(v as number[])[2]}`).join(" x ");
    console.log(`| ${m.name} | ${bound} | ${h}x${w} | ${median(tb).toFixed(1)} | ${median(tp).toFixed(1)} | ${(median(tb) / median(tp)).toFixed(2)}x | ${bits(a).equals(bits(b)) ? "yes" : "no"} |`);
  }
}
process.exit(0);
