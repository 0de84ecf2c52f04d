// quantize-static: kiln's static w8a8 quantization (`kiln compile --quantize w8a8 --calibrate ...`).
// Writes the QDQ graph onnxruntime's quantize_static would (QuantFormat.QDQ): int8 weights per
// output channel (symmetric, DequantizeLinear with an axis; at opsets 10-12, which have no axis,
// per tensor unless a layer loses too much that way), int8 activations (asymmetric, over the
// calibration inputs' ranges widened by the most one of them went past the rest: `reach`,
// quantize-math.ts) quantized and dequantized where they enter each Conv/MatMul/Gemm. A layer's result is quantized only where an
// int8 layer reads it (as that layer's input); else no QuantizeLinear follows the layer and
// fuse-qdq runs it on the int8 kernels with a float store, so that a float island after it (a
// learned scale, HardSwish) or the graph's output reads it unrounded. fuse-qdq then runs each
// group on the int8 kernels; fold-constants never sees float weights for them, so the artifact
// stores the int8 codes.
// A layer whose output, computed from quantized input and weights, is further than `threshold`
// (relative L2) from its float output on the calibration inputs stays float.
// Below opset 13 a per-channel DequantizeLinear (and below 10 any QuantizeLinear) is ahead of the
// graph's declared opset: kiln runs the nodes the same at every opset, and an ONNX dump writes
// those as onnxruntime's com.microsoft ops (compiler/onnx/export.ts), which it runs at any opset
// (PaddleOCR's recognizer and classifier are opset 9).
import type { Graph, Node, Tensor } from "../compiler/ir/graph.js";
import { KilnError } from "../runtime/errors.js";
import { addConstant } from "./rewrite.js";
import { addValue, calibrationOf, f32, inBatches, isQuantTarget, layerError, recordDecision, weightsAxis, type Calibration } from "./quantize-common.js";
import { activationParams, fakeQuant, quantizePerChannel, reach } from "./quantize-math.js";
import { chooseFloatLayers, switchedGraph, type SwitchedLayer } from "./quantize-sensitivity.js";
import type { Pass, PassContext } from "./pass.js";

interface Params { scale: number; zero: number }

/** The value a layer's result is stored as: after a Relu or a constant-bound Clip that alone reads it (what fuse-qdq fuses). */
export function storedValue(g: Graph, n: Node): string {
  const o = n.outputs[0];
  const readers = g.consumers(o);
  if (g.outputs.includes(o) || readers.length !== 1) return o;
  const r = readers[0];
  const constBounds = r.inputs.slice(1).every((b) => !b || g.values.get(b)?.const?.data.length === 1);
  return r.domain === "" && ((r.op === "Relu" && r.inputs.length === 1) || (r.op === "Clip" && constBounds)) ? r.outputs[0] : o;
}

/** The values whose ranges w8a8 needs: what enters each candidate layer and what it stores. */
export function observedValues(g: Graph): string[] {
  const out = new Set<string>();
  for (const n of g.topoOrder()) {
    if (!isQuantTarget(g, n)) continue;
    out.add(n.inputs[0]);
    out.add(storedValue(g, n));
  }
  return [...out];
}

const scalar = (dtype: "float32" | "int8", v: number): Tensor => ({ dtype, dims: [], data: dtype === "int8" ? Int8Array.of(v) : Float32Array.of(v) });

/**
 * t -> QuantizeLinear -> DequantizeLinear, read by the quantized layers `readers` (at input 0);
 * t's other readers (float nodes, a graph output) keep reading t unrounded.
 */
function insertQdq(g: Graph, t: string, p: Params, readers: readonly Node[]): void {
  const shape = [...(g.values.get(t)!.shape ?? [])];
  const s = addConstant(g, `${t}.qscale`, scalar("float32", p.scale)), z = addConstant(g, `${t}.qzero`, scalar("int8", p.zero));
  const q = addValue(g, `${t}.q`, "int8", shape);
  const dq = addValue(g, `${t}.dq`, "float32", shape);
  for (const r of readers) g.setInput(r, 0, dq);
  g.addNode({ name: g.uniqueNodeName(`${t}_QuantizeLinear`), op: "QuantizeLinear", domain: "", inputs: [t, s, z], outputs: [q], attrs: {} });
  g.addNode({ name: g.uniqueNodeName(`${t}_DequantizeLinear`), op: "DequantizeLinear", domain: "", inputs: [q, s, z], outputs: [dq], attrs: {} });
}

interface Chosen { node: Node; q: Int8Array; scales: Float32Array; axis?: number }
/** a layer's int8 weights: per output channel along `axis`, or per tensor (no axis) */
interface WeightForm { q: Int8Array; scales: Float32Array; deq: Float32Array; axis?: number }

/** Layer n's weights as DequantizeLinear(int8 codes, scales, zero points). */
function dequantizedWeights(g: Graph, c: Chosen): void {
  const w = c.node.inputs[1], dims = [...g.values.get(w)!.const!.dims];
  const C = c.scales.length;
  const codes = addConstant(g, `${w}.w8`, { dtype: "int8", dims, data: c.q });
  const s = addConstant(g, `${w}.w8_scales`, C === 1 ? scalar("float32", c.scales[0]) : { dtype: "float32", dims: [C], data: c.scales });
  const z = addConstant(g, `${w}.w8_zeros`, C === 1 ? scalar("int8", 0) : { dtype: "int8", dims: [C], data: new Int8Array(C) });
  const out = addValue(g, `${w}.w8_dq`, "float32", dims);
  g.addNode({ name: g.uniqueNodeName(`${c.node.name}_weights_DequantizeLinear`), op: "DequantizeLinear", domain: "", inputs: [codes, s, z], outputs: [out],
    attrs: c.axis === undefined ? {} : { axis: { type: "int", value: c.axis } } });
  g.setInput(c.node, 1, out);
}

/** How many calibration inputs each layer's cost to the output is measured on (each costs a run of the model). */
const COST_SAMPLES = 2;

/**
 * The layers (of those within the threshold on their own) to keep float for the model's output to
 * be within `target` on the calibration inputs (quantize-sensitivity.ts), with each one's cost;
 * undefined where the driver gave no way to run the model (then each layer's own error decides).
 * `build(float)`: g's copy quantized with those layers float, for the driver's int8 build.
 */
async function chooseByOutput(g: Graph, cal: Calibration, layers: SwitchedLayer[], target: number, inputs: number, build: (float: ReadonlySet<Node>) => Graph | undefined) {
  if (!cal.probe || !layers.length || !(target > 0)) return undefined;
  const switched = switchedGraph(g, layers);
  const run = switched && await cal.probe(switched);
  if (!run) return undefined;
  // (a graph that cannot be copied was not switched either: build does not fail here)
  const verify = cal.verify && (async (float: Set<number>) => {
    const q = build(new Set([...float].map((k) => layers[k].node)));
    return q ? cal.verify!(q) : Infinity;
  });
  const s = await chooseFloatLayers(run, layers, inputs, COST_SAMPLES, target, verify);
  return { cost: new Map(s.cost.map((c, k) => [layers[k].node, c])), float: new Set([...s.float].map((k) => layers[k].node)), error: s.error, verified: s.verified };
}

/**
 * v's activation parameters with calibration input i left out (-1: none): the reach (quantize-math.ts)
 * of the other inputs' ranges, the union widened by the most one input went past the rest.
 */
function leftOut(cal: Calibration, v: string): (i: number) => Params {
  const each = cal.inputRanges?.get(v);
  return (i) => activationParams(...(each?.length ? reach(each, i) : cal.ranges.get(v)!));
}

export async function quantizeStatic(g: Graph, ctx: PassContext, threshold: number, target = threshold): Promise<{ quantized: number; float: number; qdq: number }> {
  const cal = calibrationOf(g);
  if (!cal) throw new KilnError("BAD_OPTION", "w8a8 quantization needs calibration inputs (--calibrate DIR, or the calibrate option): its activation ranges come from running the float model on them");
  const opset = g.opset("");
  // decisions are recorded in graph order: the layers' errors are measured in batches first
  const layers = g.topoOrder().filter((x) => isQuantTarget(g, x)).map((n) => {
    const w = g.values.get(n.inputs[1])!.const!;
    const range = cal.ranges.get(n.inputs[0]);
    if (!range) return { n, reason: "no calibration range was observed for its input", forms: [] };
    const axis = weightsAxis(n, w.dims.length)!;
    const channel: WeightForm = { axis, ...quantizePerChannel(f32(w), w.dims, axis) };
    // per output channel needs DequantizeLinear's axis (opset 13): at opsets 10-12 per tensor
    // first, which keeps the graph valid ONNX of its opset, per channel where that loses too much
    const forms: WeightForm[] = opset >= 10 && opset < 13 ? [quantizePerChannel(f32(w), [1, w.data.length], 0), channel] : [channel];
    return { n, forms, xp: leftOut(cal, n.inputs[0])(-1) };
  });
  // each sample (calibration input s) quantized with the parameters made without it: on the
  // inputs the ranges were made for a layer loses less than on an input it will meet
  const measure = (todo: typeof layers, form: number) => inBatches(todo.filter((l) => l.forms[form]), 8, async ({ n, forms }) => {
    const deq: Tensor = { dtype: "float32", dims: [...g.values.get(n.inputs[1])!.const!.dims], data: forms[form].deq };
    const params = leftOut(cal, n.inputs[0]);
    const e = await layerError(g, n, ctx.evaluate, cal.samples.get(n.inputs[0]) ?? [], (ins, s) => ins.map((t, k) => {
      const xp = params(s);
      return k === 0 ? { ...t!, data: fakeQuant(f32(t!), xp.scale, xp.zero) } : k === 1 ? deq : t;
    }));
    return [n, { error: e.relL2, form: forms[form] }] as const;
  });
  const errors = new Map(await measure(layers, 0));
  const over = layers.filter((l) => l.forms.length > 1 && !(errors.get(l.n)!.error <= threshold));
  for (const [n, e] of await measure(over, 1)) if (e.error < errors.get(n)!.error) errors.set(n, e);
  const passing = layers.filter((l) => l.xp && errors.get(l.n)!.error <= threshold);
  // the activation parameters of each passing layer's input (every reader of a value has the same)
  const params = new Map<string, Params>(passing.map((l) => [l.n.inputs[0], l.xp!]));
  /** q (g or a copy of it) with the passing layers but `float` quantized: int8 weights, QDQ on their inputs */
  const quantizeIn = (q: Graph, float: ReadonlySet<Node>) => {
    const on = passing.filter((l) => !float.has(l.n));
    for (const { n } of on) {
      const wq = errors.get(n)!.form;
      dequantizedWeights(q, { node: q.node(n.name), q: wq.q, scales: wq.scales, axis: wq.axis });
    }
    for (const t of new Set(on.map((l) => l.n.inputs[0]))) {
      insertQdq(q, t, params.get(t)!, on.filter((l) => l.n.inputs[0] === t).map((l) => q.node(l.n.name)));
    }
    q.pruneValues();
  };
  const copyQuantized = (float: ReadonlySet<Node>) => {
    const q = g.copy();
    if (q) quantizeIn(q, float);
    return q;
  };
  const byOutput = await chooseByOutput(g, cal, passing.map((l) => ({ node: l.n, x: leftOut(cal, l.n.inputs[0]), deq: errors.get(l.n)!.form.deq })), target, cal.inputs, copyQuantized);
  const float = new Set<Node>();
  for (const { n, xp, reason } of layers) {
    const before = g.values.get(n.inputs[1])!.const!.data.byteLength;
    const measured = errors.get(n), error = measured?.error;
    const outputCost = byOutput?.cost.get(n);
    const cost = outputCost === undefined ? {} : { outputCost };
    if (!measured || !xp || !(measured.error <= threshold) || byOutput?.float.has(n)) {
      const why = reason ?? (measured!.error <= threshold
        ? `alone it moves the model's output by ${outputCost!.toPrecision(3)}: among the most costly layers kept float for the output to be within ${target} (${byOutput!.error.toPrecision(3)} on the calibration inputs${byOutput!.verified ? ", the int8 build's" : ""})`
        : `error ${error!.toPrecision(3)} over the threshold ${threshold}`);
      recordDecision(g, { layer: n.name, op: n.op, form: "float", reason: why, ...error === undefined ? {} : { error, errorOf: "calibration" as const }, ...cost, weightBytes: { before, after: before } });
      float.add(n);
      continue;
    }
    const wq = measured.form;
    recordDecision(g, { layer: n.name, op: n.op, form: "w8a8", error, errorOf: "calibration", ...cost, weights: wq.axis === undefined ? "per-tensor" : "per-channel",
      weightBytes: { before, after: wq.q.length + wq.scales.byteLength } });
  }
  quantizeIn(g, float);
  const quantized = passing.filter((l) => !float.has(l.n));
  return { quantized: quantized.length, float: float.size, qdq: new Set(quantized.map((l) => l.n.inputs[0])).size };
}

/**
 * The default output target on the calibration inputs: inputs never calibrated on lose more
 * (PaddleOCR's recognizer: 0.033 on its 8 calibration lines, 0.062 on 32 others), so the default
 * keeps a margin under 5% (at 0.03: det 0.021, rec 0.037, cls 0.036 on the 32 others)
 */
export const DEFAULT_W8A8_TARGET = 0.03;

export const quantizeStaticPass: Pass = {
  name: "quantize-static",
  description: "static w8a8 quantization: QDQ around Conv/MatMul/Gemm with int8 weights per output channel and activation ranges from calibration, for fuse-qdq to run on int8 kernels; layers over the error threshold stay float",
  options: {
    threshold: { default: 0.05, description: "largest relative L2 error of a layer's output on the calibration inputs for it to be quantized" },
    target: { default: DEFAULT_W8A8_TARGET, description: "largest relative L2 error of the model's outputs on the calibration inputs (the int8 build's, where the driver can build it): the layers that cost them most stay float until it holds (0: each layer's own error decides)" },
  },
  run: (g, ctx) => quantizeStatic(g, ctx, ctx.options!.threshold as number, ctx.options!.target as number),
};
