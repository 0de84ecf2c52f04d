// kiln's own quantization, as the driver runs it (`kiln compile --quantize int8|int4|w8a8`, the
// `quantize` compile option): the graph is simplified and folded (BatchNormalization into its
// Conv), the float model is compiled with the values the passes need observed as extra outputs
// and run on the calibration inputs (ranges, and a few samples for per-layer errors), the quantize
// pass rewrites the graph, and after code generation the quantized artifact is run against the
// float one on the calibration inputs and on inputs not used for calibration: the report's
// `quantization` block.
import { createSession, type Session } from "../../runtime/session.js";
import { KilnError } from "../../runtime/errors.js";
import { rules, type OptionRule, type OptionRules } from "../../runtime/options.js";
import type { Feeds } from "../../runtime/feeds.js";
import type { Manifest } from "../../runtime/manifest.js";
import { compileGenerated, generate } from "../../codegen/module.js";
import type { Graph, Tensor } from "../ir/graph.js";
import { exportModel } from "../onnx/export.js";
import { importModel } from "../onnx/import.js";
import { inferShapes } from "../ops/infer.js";
import { dce } from "../../passes/dce.js";
import { foldConstantsPass } from "../../passes/fold-constants.js";
import { simplify } from "../../passes/simplify.js";
import { pipelineFor, runPasses, type OptionValue, type Pass } from "../../passes/index.js";
import { attachCalibration, calibrationOf, decisionsOf, ERROR_SAMPLES, type Calibration, type LayerDecision } from "../../passes/quantize-common.js";
import { ErrorSum } from "../../passes/quantize-math.js";
import { DEFAULT_W8A8_TARGET, observedValues, quantizeStaticPass } from "../../passes/quantize-static.js";
import { quantizeWeightsPass } from "../../passes/quantize-weights.js";
import { evaluateNode } from "./evaluate.js";

export type QuantizeMode = "int8" | "int4" | "w8a8";

/** Calibration (or evaluation) inputs: feeds by input name, or in Node a test_data_set folder, a folder of them, or a .pb file. */
export type InputSource = string | Record<string, { data: ArrayLike<number> | ArrayBufferView; dims?: readonly number[] }>;

export interface QuantizeOptions {
  /** quantize the float model: weight-only int8 / int4 (MatMul, Gemm) or static w8a8 (Conv, MatMul, Gemm; needs calibrate) */
  quantize?: QuantizeMode;
  /** inputs the float model is run on for activation ranges and per-layer errors */
  calibrate?: InputSource[];
  /** inputs not used for calibration, for the report's accuracy (default: 2 seeded random inputs) */
  quantizeEvaluate?: InputSource[];
  /** largest relative L2 error of a layer's output for it to be quantized; over it the layer stays float */
  quantizeThreshold?: number;
  /**
   * w8a8: largest relative L2 error of the model's outputs on the calibration inputs, built as the
   * artifact is (int8 kernels): the layers that cost the outputs most stay float until it holds.
   * Default DEFAULT_W8A8_TARGET; 0: each layer's own error alone decides.
   */
  quantizeTarget?: number;
}

/** The default thresholds: a layer error 4-bit weights rarely reach, and 8-bit ones never. */
export const DEFAULT_THRESHOLD: Record<QuantizeMode, number> = { int8: 0.02, int4: 0.12, w8a8: 0.05 };

const sources: OptionRule = {
  takes: "an array of folders, .pb files or feeds objects",
  ok: (v) => Array.isArray(v) && v.length > 0 && v.every((x) => (typeof x === "string" && x.length > 0) || (typeof x === "object" && x !== null && !Array.isArray(x))),
};

export const QUANTIZE_OPTION_RULES: OptionRules = {
  quantize: rules.oneOf("int8", "int4", "w8a8"),
  calibrate: sources,
  quantizeEvaluate: sources,
  quantizeThreshold: { takes: "a number above 0", ok: (v) => typeof v === "number" && Number.isFinite(v) && v > 0 },
  quantizeTarget: { takes: "a number, 0 or above", ok: (v) => typeof v === "number" && Number.isFinite(v) && v >= 0 },
};

/** The combinations the rules cannot see: calibration without quantization, w8a8 without calibration. */
export function checkQuantizeOptions(o: QuantizeOptions): void {
  if (!o.quantize) {
    const stray = (["calibrate", "quantizeEvaluate", "quantizeThreshold", "quantizeTarget"] as const).filter((k) => o[k] !== undefined);
    if (stray.length) throw new KilnError("BAD_OPTION", `option ${stray[0]} is for quantization: give quantize ("int8", "int4" or "w8a8") too`);
    return;
  }
  if (o.quantize === "w8a8" && !o.calibrate?.length) {
    throw new KilnError("BAD_OPTION", "quantize \"w8a8\" needs calibration inputs (--calibrate DIR, or the calibrate option): the activation ranges come from running the float model on them");
  }
}

/** Feeds from the sources, bound to the graph's inputs in order where a source has no names (test_data_set's input_K.pb). */
async function readSources(list: InputSource[], inputs: readonly string[]): Promise<Feeds[]> {
  const out: Feeds[] = [];
  for (const src of list) {
    if (typeof src !== "string") { out.push(src as Feeds); continue; }
    const { readInputSets } = await import("./calibration-files.js");
    out.push(...await readInputSets(src, inputs));
  }
  return out;
}

/** Seeded inputs uniform in [-1, 1) for each float input (zeros for others): evaluation when none are given. */
function randomFeeds(session: Session, count: number): Feeds[] {
  let s = 12345;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  return Array.from({ length: count }, () => Object.fromEntries(session.inputs.map((i) => {
    const n = i.dims.reduce((a, d) => a * d, 1);
    const data = i.dtype === "float32" ? Float32Array.from({ length: n }, next) : i.dtype === "int64" ? new BigInt64Array(n) : new Int32Array(n);
    return [i.name, { dims: i.dims, data }];
  })));
}

export interface AccuracyFigures {
  inputs: number;
  /** where they came from: "calibration", "given" (quantizeEvaluate) or "random" (seeded) */
  source: string;
  maxAbsError: number;
  relativeL2Error: number;
  /** fraction of rows whose argmax agrees, for outputs that read as classes: [N, C], or [1, C, 1, 1] */
  top1Agreement?: number;
}

export interface QuantizationReport {
  mode: QuantizeMode;
  threshold: number;
  /** w8a8: the output error on the calibration inputs the layers kept float bring the model within (0: none) */
  target?: number;
  calibrationInputs: number;
  layers: LayerDecision[];
  quantized: number;
  float: number;
  /**
   * the quantized layers' weights, float and quantized; the model's weights in the float and the
   * quantized artifact; and the quantized artifact's whole weights image (model weights and the
   * kernels' packed forms: the int8 convolution and GEMM kernels keep theirs as i16, two bytes a weight)
   */
  weightBytes: { layersBefore: number; layersAfter: number; artifactFloat: number; artifactQuantized: number; imageQuantized: number };
  accuracy: { calibration?: AccuracyFigures; holdout?: AccuracyFigures };
}

const PRE_PASSES: Pass[] = [simplify, foldConstantsPass, dce];

export interface QuantizePlan {
  /** the passes to run before the level's pipeline: simplify, fold-constants, dce, calibrate, quantize-* */
  passes: Pass[];
  /** their options, by pass name */
  options: Record<string, Record<string, OptionValue>>;
  /** the figures once the quantized artifact exists */
  report(wasm: Uint8Array, manifest: Manifest): Promise<QuantizationReport>;
}

/** What calibration leaves for the report: the float model's session, its outputs on the calibration inputs. */
interface FloatReference {
  session: Session;
  manifest: Manifest;
  inputs: string[];
  outputs: string[];
  calibration: Feeds[];
  calibrationOutputs: Record<string, Tensor>[];
}

/**
 * The float model on the calibration inputs: the graph as the pass will see it (simplified,
 * BatchNormalization folded) exported, compiled apart with the values the quantize pass needs
 * as extra outputs, and run; the ranges and samples are attached to the graph (quantize-common.ts).
 */
async function calibrate(graph: Graph, options: QuantizeOptions & { shapes?: Record<string, readonly number[]> }): Promise<FloatReference> {
  const ref = importModel(exportModel(graph));
  await inferShapes(ref, { shapes: options.shapes, evaluate: evaluateNode, foldLimit: 4096 });
  const observed = options.calibrate ? observedValues(graph).filter((v) => ref.values.has(v) && !ref.values.get(v)!.const) : [];
  const outputs = [...ref.outputs];
  ref.outputs = [...ref.outputs, ...observed.filter((v) => !outputs.includes(v))];
  const { wasm, weights, manifest } = generate(ref, { weights: "external", validate: false, simd: "baseline", mergeFunctions: false });
  const session = await createSession(await compileGenerated(wasm), { weights });
  const calibration = options.calibrate ? await readSources(options.calibrate, ref.inputs) : [];
  const calibrationOutputs: Record<string, Tensor>[] = [];
  const cal: Calibration = { ranges: new Map(), inputRanges: new Map(), samples: new Map(), inputs: calibration.length };
  for (const [k, feeds] of calibration.entries()) {
    const got = await session.run(feeds).catch((e) => {
      if (!(e instanceof KilnError)) throw e;
      throw new KilnError(e.code, `calibration input ${k + 1} of ${calibration.length}: ${e.message.replace(/^[A-Z_]+: /, "")}`);
    });
    calibrationOutputs.push(Object.fromEntries(outputs.map((o) => [o, got[o]])));
    for (const v of observed) {
      const t = got[v], data = t.data as Float32Array;
      let lo = Infinity, hi = -Infinity;
      for (let i = 0; i < data.length; i++) { const x = data[i]; if (x < lo) lo = x; if (x > hi) hi = x; }
      const [a, b] = cal.ranges.get(v) ?? [Infinity, -Infinity];
      cal.ranges.set(v, [Math.min(a, lo), Math.max(b, hi)]);
      cal.inputRanges!.set(v, [...(cal.inputRanges!.get(v) ?? []), [lo, hi]]);
      if (k < ERROR_SAMPLES) cal.samples.set(v, [...(cal.samples.get(v) ?? []), t]);
    }
  }
  if (calibration.length) {
    attachCalibration(graph, {
      ...cal,
      // the switched model: calibration input k with the switches beside it
      probe: async (g) => {
        const session = await variantSession(g, options.shapes, outputs, false);
        return (feeds, inputs) => calibrationError(session, inputs, (k) => ({ ...calibration[k], ...feeds(k) }), calibrationOutputs, outputs);
      },
      // a quantized copy built as the artifact is, on every calibration input
      verify: async (g) => calibrationError(await variantSession(g, options.shapes, outputs, true), calibration.keys(), (k) => calibration[k], calibrationOutputs, outputs),
    });
  }
  return { session, manifest, inputs: [...ref.inputs], outputs, calibration, calibrationOutputs };
}

/**
 * A variant of the float model (the graph with switch inputs, quantize-sensitivity.ts; or the
 * quantize pass's graph, quantized) compiled on its own, with the float model's outputs, as
 * calibration compiles the float model; `optimized` through the level-2 pipeline, as the artifact
 * is (QDQ groups on the int8 kernels).
 */
async function variantSession(g: Graph, shapes: Record<string, readonly number[]> | undefined, outputs: string[], optimized: boolean): Promise<Session> {
  const variant = importModel(exportModel(g));
  variant.outputs = [...outputs];
  await inferShapes(variant, { shapes, evaluate: evaluateNode, foldLimit: 4096 });
  if (optimized) await runPasses(variant, pipelineFor(2), { evaluate: evaluateNode });
  const { wasm, weights } = generate(variant, { weights: "external", validate: false, simd: "baseline", mergeFunctions: false });
  return createSession(await compileGenerated(wasm), { weights });
}

/** A variant's float outputs on calibration inputs `inputs` (input k fed as feeds(k)) against the float model's: their relative L2 error. */
async function calibrationError(session: Session, inputs: Iterable<number>, feeds: (k: number) => Feeds, want: Record<string, Tensor>[], outputs: string[]): Promise<number> {
  const err = new ErrorSum();
  for (const k of inputs) {
    const got = await session.run(feeds(k));
    for (const o of outputs) if (want[k][o].dtype === "float32") err.add(got[o].data as Float32Array, want[k][o].data as Float32Array);
  }
  return err.relL2;
}

/**
 * The passes that quantize a prepared graph as options.quantize says, to run ahead of the level's
 * pipeline (compile.ts optimizeGraph): simplify, fold-constants and dce (BatchNormalization must
 * be in its Conv's weights before they are quantized), `calibrate` (this file: the float model
 * run on the calibration inputs), then quantize-weights or quantize-static.
 */
export function quantizePlan(options: QuantizeOptions & { shapes?: Record<string, readonly number[]> }): QuantizePlan {
  checkQuantizeOptions(options);
  const mode = options.quantize!;
  const threshold = options.quantizeThreshold ?? DEFAULT_THRESHOLD[mode];
  let float: FloatReference | undefined;
  let layers: LayerDecision[] = [];
  const calibratePass: Pass = {
    name: "calibrate",
    description: "runs the float model on the calibration inputs and records the ranges (and a few samples) of the values entering and leaving each layer the quantize pass may rewrite",
    run: async (g) => {
      float = await calibrate(g, options);
      return { inputs: float.calibration.length, observed: calibrationOf(g)?.ranges.size ?? 0 };
    },
  };
  const pass = mode === "w8a8" ? quantizeStaticPass : quantizeWeightsPass;
  const collect: Pass = { ...pass, run: async (g, c) => { const r = await pass.run(g, c); layers = decisionsOf(g); return r; } };
  return {
    passes: [...PRE_PASSES, calibratePass, collect],
    options: { [pass.name]: mode === "w8a8" ? { threshold, target: options.quantizeTarget ?? DEFAULT_W8A8_TARGET } : { threshold, bits: mode === "int4" ? 4 : 8 } },
    async report(wasm, manifest) {
      const ref = float!;
      const quantized = await createSession(wasm, {});
      const compare = async (feeds: Feeds[], source: string, want?: Record<string, Tensor>[]): Promise<AccuracyFigures | undefined> => {
        if (!feeds.length) return undefined;
        const err = new ErrorSum();
        let rows = 0, agree = 0;
        for (const [k, f] of feeds.entries()) {
          const expected = want?.[k] ?? await ref.session.run(f);
          const got = await quantized.run(f);
          // float outputs: an integer output (a class index, a count) is no error to measure
          for (const o of ref.outputs.filter((v) => expected[v].dtype === "float32" || expected[v].dtype === "float64")) {
            const a = got[o].data as Float32Array, b = expected[o].data as Float32Array;
            err.add(a, b);
            const cls = classesOf(expected[o].dims);
            if (cls) for (let r = 0; r < cls.rows; r++, rows++) if (argmax(a, r * cls.classes, cls.classes) === argmax(b, r * cls.classes, cls.classes)) agree++;
          }
        }
        return { inputs: feeds.length, source, maxAbsError: err.maxAbs, relativeL2Error: err.relL2, ...(rows ? { top1Agreement: agree / rows } : {}) };
      };
      const holdout = options.quantizeEvaluate ? await readSources(options.quantizeEvaluate, ref.inputs) : randomFeeds(ref.session, 2);
      const sum = (k: "before" | "after") => layers.reduce((a, l) => a + l.weightBytes[k], 0);
      return {
        mode, threshold, ...(mode === "w8a8" ? { target: options.quantizeTarget ?? DEFAULT_W8A8_TARGET } : {}), calibrationInputs: ref.calibration.length, layers,
        quantized: layers.filter((l) => l.form !== "float").length, float: layers.filter((l) => l.form === "float").length,
        weightBytes: { layersBefore: sum("before"), layersAfter: sum("after"), artifactFloat: ref.manifest.memory.weightsBytes, artifactQuantized: manifest.memory.weightsBytes,
          imageQuantized: manifest.memory.regions.reduce((a, r) => a + r.bytes, 0) },
        accuracy: {
          calibration: await compare(ref.calibration, "calibration", ref.calibrationOutputs),
          holdout: await compare(holdout, options.quantizeEvaluate ? "given" : "random"),
        },
      };
    },
  };
}

/** An output that reads as class scores: [N, C], or one axis of C with every other 1 ([1, 1000, 1, 1]). */
function classesOf(dims: readonly number[]): { rows: number; classes: number } | undefined {
  if (dims.length === 2 && dims[1] >= 2) return { rows: dims[0], classes: dims[1] };
  const big = dims.filter((d) => d > 1);
  return big.length === 1 ? { rows: 1, classes: big[0] } : undefined;
}

function argmax(a: Float32Array, at: number, n: number): number {
  let best = at;
  for (let i = at + 1; i < at + n; i++) if (a[i] > a[best]) best = i;
  return best - at;
}
