// Folding a large float32 constant times a vector along one of its axes into a scaled constant
// (compiler/ir/scaled.ts) instead of computing it now: inference BatchNormalization folded into a
// Conv or Gemm is Mul(W, s) with s one factor per output channel, over every weight of the model.
// The factors themselves (s = scale / sqrt(var + eps), reshaped) are still computed by the
// model's own kernels, in the module the rest of the batch compiles to; only the final product is
// deferred, and Math.fround(w * s) is bit for bit the Mul kernel's f32.mul.
import type { Tensor } from "../ir/graph.js";
import { scaledTensor } from "../ir/scaled.js";
import { halfSourceOf } from "../ir/values.js";
import type { EvalRequest, EvaluateMany } from "./evaluate-splat.js";
import { sizeOf } from "../../runtime/dtypes.js";
import { KilnError } from "../../runtime/errors.js";

/** Below this many elements a product is computed with the rest of the batch (it costs nothing there). */
export const MIN_SCALED_ELEMENTS = 4096;

/** The one axis of `big` along which `dims` (broadcast against it, numpy style) varies; -1: every axis size 1; undefined: no such axis. */
function scaleAxis(dims: readonly number[], big: readonly number[]): number | undefined {
  if (dims.length > big.length) return undefined;
  const offset = big.length - dims.length;
  let axis = -1;
  for (let k = 0; k < dims.length; k++) {
    if (dims[k] === 1) continue;
    if (dims[k] !== big[k + offset] || axis >= 0) return undefined;
    axis = k + offset;
  }
  return axis;
}

interface Deferred {
  index: number;
  base: Tensor;
  /** the factor input: a constant now, or the output of another request in the batch */
  factor: { tensor?: Tensor; name: string };
  axis: number;
}

/** The deferred product a request is, or undefined when it is evaluated as usual. */
function deferrable(r: EvalRequest, index: number, shapeOf: (name: string) => readonly number[] | undefined, readInBatch: Set<string>): Deferred | undefined {
  const { node } = r;
  if (node.op !== "Mul" || (node.domain !== "" && node.domain !== "ai.onnx") || node.outputs.length !== 1 || !node.outputs[0]) return undefined;
  if (r.outputs[0].dtype !== "float32" || readInBatch.has(node.outputs[0]) || node.inputs.length !== 2) return undefined;
  const out = r.outputs[0].shape;
  for (const k of [0, 1]) {
    const base = r.inputs[k], other = 1 - k;
    // a weight widened from float16 is always deferred: its product is then derived from the codes (compiler/ir/values.ts halfScaled)
    if (!base || base.dtype !== "float32" || base.dims.join() !== out.join() || (sizeOf(out) < MIN_SCALED_ELEMENTS && !halfSourceOf(base))) continue;
    const t = r.inputs[other];
    if (t && t.dtype !== "float32") return undefined;
    const dims = t ? t.dims : shapeOf(node.inputs[other]);
    if (!dims) return undefined;
    const axis = scaleAxis(dims, out);
    if (axis === undefined) return undefined;
    return { index, base, factor: { tensor: t, name: node.inputs[other] }, axis };
  }
  return undefined;
}

/** Evaluates requests as `evaluate` does, with the large products by per-axis factors deferred. */
export async function evaluateWithScaling(requests: EvalRequest[], evaluate: EvaluateMany): Promise<Tensor[][]> {
  // the outputs requests read from one another in this batch (given as undefined inputs)
  const readInBatch = new Set(requests.flatMap((r) => r.node.inputs.filter((name, k) => name && !r.inputs[k])));
  const shapes = new Map<string, readonly number[]>();
  for (const r of requests) r.node.outputs.forEach((o, k) => o && shapes.set(o, r.outputs[k].shape));
  const deferred = requests.map((r, k) => deferrable(r, k, (n) => shapes.get(n), readInBatch)).filter((d): d is Deferred => !!d);
  if (!deferred.length) return evaluate(requests);
  const skip = new Set(deferred.map((d) => d.index));
  const rest = requests.filter((_, k) => !skip.has(k));
  const restResults = rest.length ? await evaluate(rest) : [];
  const values = new Map<string, Tensor>();
  rest.forEach((r, k) => r.node.outputs.forEach((o, j) => o && restResults[k][j] && values.set(o, restResults[k][j])));
  const results = new Map<number, Tensor[]>();
  for (const d of deferred) {
    const factor = d.factor.tensor ?? values.get(d.factor.name);
    if (!factor) throw new KilnError("INTERNAL", `evaluate: no value for ${d.factor.name}, the factor of ${requests[d.index].node.name}`);
    results.set(d.index, [scaledTensor(d.base, factor.data as Float32Array, d.axis < 0 ? 0 : d.axis)]);
  }
  let next = 0;
  return requests.map((_, k) => results.get(k) ?? restResults[next++]);
}
