// What kiln's quantize passes share (quantize-weights.ts, quantize-static.ts): which layers they
// may quantize, the calibration the driver observed for a graph, the per-layer decisions they
// record, and each layer's quantization error measured with the model's own kernels.
//
// Calibration and decisions travel beside the graph (keyed by it) rather than as pass options:
// they are tensors and records, not the scalars `kiln opt --passes p{k=v}` passes. The driver
// (compiler/driver/quantize.ts) attaches the calibration before the passes run and reads the
// decisions after.
import type { Graph, Node, Tensor } from "../compiler/ir/graph.js";
import { hasTrait, opDef } from "../compiler/ops/index.js";
import type { Evaluator } from "../compiler/ops/infer.js";
import { ErrorSum } from "./quantize-math.js";

/**
 * Runs the switched model on calibration inputs `inputs` (indices), input i with feeds(i) beside
 * it: the relative L2 error of its outputs against the float model's.
 */
export type SwitchedRun = (feeds: (i: number) => Record<string, Tensor>, inputs: readonly number[]) => Promise<number>;

/** What running the float model on calibration inputs observed, by value name. */
export interface Calibration {
  /** [min, max] of each observed value over every calibration input */
  ranges: Map<string, [number, number]>;
  /** [min, max] of each observed value on each calibration input, in order */
  inputRanges?: Map<string, [number, number][]>;
  /** the observed values themselves for the first few inputs (per-layer error) */
  samples: Map<string, Tensor[]>;
  /** how many calibration inputs the ranges cover */
  inputs: number;
  /**
   * compiles a variant of the float model (the pass's graph with switch inputs,
   * quantize-sensitivity.ts) to run on the calibration inputs against the float model's outputs;
   * undefined (or resolving to undefined) where the driver cannot
   */
  probe?: (g: Graph) => Promise<SwitchedRun | undefined>;
  /**
   * the relative L2 error of the model's outputs on every calibration input, against the float
   * model's, with `g` (a copy of the pass's graph, quantized) built as the artifact is (its QDQ
   * groups on the int8 kernels); undefined where the driver cannot
   */
  verify?: (g: Graph) => Promise<number>;
}

export type LayerForm = "int8" | "int4" | "w8a8" | "float";

/** One layer's decision, for the report's quantization block. */
export interface LayerDecision {
  layer: string;
  op: string;
  form: LayerForm;
  /** relative L2 error of the layer's output, quantized against float (or of its weights, see errorOf) */
  error?: number;
  /** what `error` measures: the layer's output on calibration inputs, or (no calibration) its weights */
  errorOf?: "calibration" | "weights";
  /** w8a8: how the weights are scaled (per tensor only at opsets 10-12, where that is within the threshold) */
  weights?: "per-channel" | "per-tensor";
  /** w8a8: the model's output error (relative L2, calibration inputs) with this layer alone quantized, where measured */
  outputCost?: number;
  /** why the layer stays float */
  reason?: string;
  /** bytes of the layer's weights, float and as stored quantized */
  weightBytes: { before: number; after: number };
}

const calibrations = new WeakMap<Graph, Calibration>();
const decisions = new WeakMap<Graph, LayerDecision[]>();

export function attachCalibration(graph: Graph, c: Calibration): void {
  calibrations.set(graph, c);
}

export function calibrationOf(graph: Graph): Calibration | undefined {
  return calibrations.get(graph);
}

export function recordDecision(graph: Graph, d: LayerDecision): void {
  decisions.set(graph, [...(decisions.get(graph) ?? []), d]);
}

export function decisionsOf(graph: Graph): LayerDecision[] {
  return decisions.get(graph) ?? [];
}

/** The axis of a layer's weights that holds output channels: the op's own rule, or a 2-D MatMul's columns. */
export function weightsAxis(node: Node, rank: number): number | undefined {
  const own = opDef(node.domain, node.op)?.weightsOutputAxis;
  if (own) return own(node, rank);
  return node.op === "MatMul" && rank === 2 ? 1 : undefined;
}

/**
 * A layer kiln's quantization may rewrite: an ai.onnx epilogue anchor (a Conv, Gemm, MatMul ...)
 * reading a float32 activation and constant float32 weights with an output-channel axis.
 */
export function isQuantTarget(graph: Graph, n: Node): boolean {
  if (n.domain !== "" || !hasTrait(n, "epilogue-anchor") || n.outputs.filter((o) => o).length !== 1) return false;
  const x = graph.values.get(n.inputs[0]), w = graph.values.get(n.inputs[1] ?? "");
  if (!x || x.const || x.dtype !== "float32" || !w?.const || w.dtype !== "float32") return false;
  return weightsAxis(n, w.const.dims.length) !== undefined;
}

export const f32 = (t: Tensor): Float32Array => t.data as Float32Array;

/** How many calibration samples a layer's error is measured on (each costs two kernel runs). */
export const ERROR_SAMPLES = 2;

/**
 * The relative L2 error of `node`'s output when its inputs are replaced as `quantized` says,
 * against its float output, over the calibration samples of its input 0 (sample s is calibration
 * input s: `quantized` is told which). Runs the node through
 * the model's own kernels (ctx.evaluate), each run under fresh names so that one batch holds many.
 */
export async function layerError(graph: Graph, node: Node, evaluate: Evaluator, samples: Tensor[],
  quantized: (inputs: (Tensor | undefined)[], sample: number) => (Tensor | undefined)[]): Promise<ErrorSum> {
  const out = graph.values.get(node.outputs[0])!;
  const info = [{ dtype: out.dtype!, shape: out.shape as number[] }];
  const runs = samples.slice(0, ERROR_SAMPLES).map((x, s) => {
    const inputs = node.inputs.map((v, k) => (k === 0 ? x : v ? graph.values.get(v)?.const : undefined));
    const run = (tag: string, ins: (Tensor | undefined)[]) => {
      const copy: Node = { ...node, name: `${node.name}#${tag}${s}`, inputs: node.inputs.map((v, k) => (v ? `${node.name}#${tag}${s}.in${k}` : "")), outputs: [`${node.name}#${tag}${s}.out`] };
      return evaluate(graph, copy, ins, info);
    };
    return Promise.all([run("f", inputs), run("q", quantized(inputs, s))]);
  });
  const sum = new ErrorSum();
  for (const [[want], [got]] of await Promise.all(runs)) sum.add(f32(got), f32(want));
  return sum;
}

/** A new computed (not constant) value with a fresh name. */
export function addValue(graph: Graph, base: string, dtype: "float32" | "int8", shape: readonly (number | string)[]): string {
  let name = base;
  for (let i = 1; graph.hasValue(name); i++) name = `${base}_${i}`;
  const v = graph.value(name);
  v.dtype = dtype;
  v.shape = [...shape];
  return name;
}

/**
 * f over items, `width` at a time: the evaluations a batch starts in one tick share one compiled
 * module (compiler/driver/evaluate.ts), and `width` bounds the tensors it holds at once.
 */
export async function inBatches<T, R>(items: readonly T[], width: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width) out.push(...await Promise.all(items.slice(i, i + width).map(f)));
  return out;
}
