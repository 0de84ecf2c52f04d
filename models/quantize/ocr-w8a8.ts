// kiln's w8a8 pass on PaddleOCR's three models with their real weights (issue 14 criterion 4):
// 8 calibration inputs, then the quantized artifact against the float build on held-out inputs
// (never calibrated on), all text-like (models/ocr-inputs.ts). Figures: relative L2 error of each
// output against float (det: the probability map; rec: the per-step character probabilities;
// cls: the two class probabilities), the classifier's decision and the recognizer's per-step
// argmax agreement (also over the steps where float reads a character, not the blank), layers
// quantized, weight bytes. test/models-quantize-pass.test.ts asserts them; this prints them:
//
//   node dist/models/quantize/ocr-w8a8.js [ppocr_det ppocr_rec ppocr_cls] [--holdout 32] [--threshold T] [--target T] [--layers]
import { compile } from "../../compiler/driver/api.js";
import type { CompileOptions } from "../../compiler/driver/compile.js";
import type { QuantizationReport } from "../../compiler/driver/quantize.js";
import { createSession } from "../../runtime/index.js";
import { ErrorSum } from "../../passes/quantize-math.js";
import { runIfMain } from "../cli.js";
import { OCR_MODELS, ocrModelBytes } from "../ocr.js";
import { ocrInput } from "../ocr-inputs.js";

/** calibration seeds, and the first held-out seed (held-out seeds count up from it) */
export const OCR_CALIBRATION_SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];
export const OCR_HOLDOUT_FROM = 101;

export interface OcrW8a8Figures {
  model: string;
  layers: { quantized: number; total: number };
  weightBytes: QuantizationReport["weightBytes"];
  wasmBytes: { float: number; quantized: number };
  holdout: number;
  /** relative L2 error against float over all held-out inputs, by output */
  relL2: Record<string, number>;
  /** the largest of one input's relative L2 errors (first output) */
  worstInputRelL2: number;
  /** each held-out input's relative L2 error (first output), in seed order */
  perInputRelL2: number[];
  /**
   * cls: share of inputs whose decision (argmax) is float's; rec: share of steps (every input's)
   * whose argmax is float's; det: share of pixels on the same side of PaddleOCR's 0.3 text threshold
   */
  agreement: number;
  /** rec: the same over the steps where float's argmax is a character (not the blank, 0) */
  agreementNonBlank?: number;
  /** rec: share of inputs whose whole decoded step sequence equals float's */
  sequencesEqual?: number;
  /** det: intersection over union of the text pixels (over 0.3), quantized against float, over all inputs */
  textIoU?: number;
  report: QuantizationReport;
}

/** PaddleOCR's DB post-processing: a pixel is text where its probability is over 0.3 */
const DET_THRESHOLD = 0.3;

const argmax = (a: Float32Array, at: number, n: number): number => {
  let best = at;
  for (let i = at + 1; i < at + n; i++) if (a[i] > a[best]) best = i;
  return best - at;
};

/** Quantizes OCR model `name` with w8a8 and measures it on `holdout` text-like inputs not used for calibration. */
export async function ocrW8a8(name: string, holdout = 32, options: Pick<CompileOptions, "quantizeThreshold" | "quantizeTarget"> = {}): Promise<OcrW8a8Figures> {
  const m = OCR_MODELS.find((x) => x.name === name);
  if (!m) throw new Error(`no OCR model ${name}`);
  const bytes = await ocrModelBytes(m);
  const feeds = (seed: number) => ({ x: { dtype: "float32" as const, dims: m.shape, data: ocrInput(name, m.shape, seed) } });
  const held = Array.from({ length: holdout }, (_, i) => feeds(OCR_HOLDOUT_FROM + i));
  const base: CompileOptions = { shapes: { x: m.shape }, simd: "baseline" };
  const float = await compile(bytes, base);
  // the report's own held-out figures on two inputs: the full comparison is below
  const q = await compile(bytes, { ...base, ...options, quantize: "w8a8", calibrate: OCR_CALIBRATION_SEEDS.map(feeds), quantizeEvaluate: held.slice(0, 2) });
  const [fs, qs] = [await createSession(float.wasm), await createSession(q.wasm)];
  const errs = new Map<string, ErrorSum>();
  const perInput: number[] = [];
  let worst = 0, agree = 0, count = 0, agreeNb = 0, countNb = 0, seqEqual = 0, both = 0, either = 0;
  for (const f of held) {
    const want = await fs.run(f), got = await qs.run(f);
    const names = Object.keys(want);
    names.forEach((o, k) => {
      const a = got[o].data as Float32Array, b = want[o].data as Float32Array;
      if (!errs.has(o)) errs.set(o, new ErrorSum());
      errs.get(o)!.add(a, b);
      if (k === 0) { const one = new ErrorSum(); one.add(a, b); worst = Math.max(worst, one.relL2); perInput.push(one.relL2); }
    });
    const out = want[names[0]], a = got[names[0]].data as Float32Array, b = out.data as Float32Array;
    if (name === "ppocr_cls") { count++; if (argmax(a, 0, 2) === argmax(b, 0, 2)) agree++; }
    if (name === "ppocr_det") {
      for (let i = 0; i < b.length; i++) {
        const [x, y] = [a[i] > DET_THRESHOLD, b[i] > DET_THRESHOLD];
        count++; if (x === y) agree++;
        if (x && y) both++;
        if (x || y) either++;
      }
    }
    if (name === "ppocr_rec") {
      const [, T, C] = out.dims;
      let same = true;
      for (let t = 0; t < T; t++) {
        const [x, y] = [argmax(a, t * C, C), argmax(b, t * C, C)];
        count++; if (x === y) agree++; else same = false;
        if (y !== 0) { countNb++; if (x === y) agreeNb++; }
      }
      if (same) seqEqual++;
    }
  }
  const r = q.quantization!;
  return {
    model: name, layers: { quantized: r.quantized, total: r.layers.length }, weightBytes: r.weightBytes,
    wasmBytes: { float: float.wasm.length, quantized: q.wasm.length }, holdout,
    relL2: Object.fromEntries([...errs].map(([o, e]) => [o, e.relL2])), worstInputRelL2: worst, perInputRelL2: perInput,
    agreement: count ? agree / count : NaN,
    ...(name === "ppocr_rec" ? { agreementNonBlank: agreeNb / Math.max(countNb, 1), sequencesEqual: seqEqual / holdout } : {}),
    ...(name === "ppocr_det" ? { textIoU: both / Math.max(either, 1) } : {}),
    report: r,
  };
}

async function main(argv: string[]): Promise<number> {
  const at = argv.indexOf("--holdout");
  const holdout = at >= 0 ? Number(argv[at + 1]) : 32;
  const th = argv.indexOf("--threshold");
  const tg = argv.indexOf("--target");
  const options = { ...th >= 0 ? { quantizeThreshold: Number(argv[th + 1]) } : {}, ...tg >= 0 ? { quantizeTarget: Number(argv[tg + 1]) } : {} };
  const layers = argv.includes("--layers");
  const names = argv.filter((a, i) => !a.startsWith("--") && !["--holdout", "--threshold", "--target"].includes(argv[i - 1]));
  for (const name of names.length ? names : OCR_MODELS.map((x) => x.name)) {
    const t0 = Date.now();
    const f = await ocrW8a8(name, holdout, options);
    const { report, ...figures } = f;
    console.log(JSON.stringify({ ...figures, calibrationRelL2: report.accuracy.calibration?.relativeL2Error, seconds: (Date.now() - t0) / 1000 }));
    if (layers) for (const l of report.layers) console.log(`  ${l.layer} ${l.op} ${l.form} ${l.error?.toPrecision(3) ?? ""} ${l.outputCost === undefined ? "" : `output ${l.outputCost.toPrecision(3)}`} ${l.reason ?? ""}`);
  }
  return 0;
}

runIfMain(import.meta.url, main);
