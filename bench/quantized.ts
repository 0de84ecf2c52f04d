// `node dist/bench/quantized.js [mobilenetv2.qdq,minilm.dynamic,...] [--reps 2] [--runs 21]`: the
// quantized rows of `npm run bench` alone, repeated, for their ratios and spread on a shared
// machine. Each repetition times, in one alternation in this process, kiln's baseline and relaxed
// builds of the quantized file, onnxruntime-web (single thread) on the same file, and kiln's float32
// build of the model it was made from; loads are timed in process (no fresh-process probes), so a
// repetition takes seconds, not minutes. Prints one JSON line per repetition.
import { benchModel } from "./harness.js";
import { relaxedSimdAvailable } from "./peak.js";
import { runIfMain } from "../models/cli.js";
import { QUANT_SOURCES, type QuantForm } from "../models/quantize/sources.js";
import { quantizedModel } from "../models/quantize/refill.js";

const flag = (argv: string[], name: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : undefined; };

async function main(argv: string[]): Promise<number> {
  const all = QUANT_SOURCES.flatMap((s) => s.forms.map((f) => `${s.name}.${f}`));
  const ids = argv[0] && !argv[0].startsWith("--") ? argv[0].split(",") : all;
  const reps = Number(flag(argv, "reps") ?? 2), runs = Number(flag(argv, "runs") ?? 21);
  const relaxed = relaxedSimdAvailable();
  let ok = true;
  for (const id of ids) {
    const [name, form] = id.split(".");
    const s = QUANT_SOURCES.find((x) => x.name === name && x.forms.includes(form as QuantForm));
    if (!s) { console.error(`no quantized model ${id}; there are ${all.join(", ")}`); return 2; }
    const bytes = await quantizedModel(name, form as QuantForm), float = await s.float();
    for (let r = 0; r < reps; r++) ok = (await quantizedRow(id, bytes, float, { [s.input]: s.shape }, runs, relaxed)) && ok;
  }
  return ok ? 0 : 1;
}

/**
 * One repetition of a quantized row: `bytes` by kiln (baseline and relaxed), by onnxruntime-web,
 * and `float` by kiln, in one alternation; prints its JSON line, returns whether kiln's outputs were right.
 */
export async function quantizedRow(id: string, bytes: Uint8Array, float: Uint8Array, shapes: Record<string, number[]>, runs: number, relaxed: boolean): Promise<boolean> {
  const res = await benchModel(id, bytes, {
    vs: ["ort-web"], threads: 1, runs, warmup: 3, budgetMs: 60_000, relaxed, shapes, loadRuns: 0,
    tolerance: { rtol: 0, atol: 0.25 }, floatModel: float,
  });
  console.log(JSON.stringify({
    model: id, kilnMs: res.kiln.medianMs, ortWebMs: res["ort-web"]?.medianMs, vsOrtWeb: res.speedup, relaxedVsOrtWeb: res["kiln-relaxed"]?.speedup,
    kilnFloatMs: res["kiln-float"]?.medianMs, vsKilnFloat: res["kiln-float"]?.speedup, outputs: res.kiln.ok ? "ok" : "WRONG", peakLoopGflops: res.peakLoopGflops,
  }));
  return res.kiln.ok && res["kiln-relaxed"]?.ok !== false;
}

runIfMain(import.meta.url, main);
