// quantize-weights: kiln's weight-only quantization (`kiln compile --quantize int8|int4`). A
// MatMul or Gemm with constant float weights becomes com.microsoft MatMulNBits, the form kiln
// runs with its weights packed in 4 or 8 bits (codegen/kernels/quant/nbits.ts): the artifact
// stores them so, about 3.9x (8 bits) or 6.3x (4 bits) smaller than float32. Activations stay float.
//   8 bits: symmetric, blocks of 128 along K (1.03 bytes a weight)
//   4 bits: asymmetric with a zero point per block of 32 (0.64 bytes a weight), each block's range
//           clipped where that lowers its squared error (quantize-math.ts bestRange4)
// A layer whose quantized output is further than `threshold` (relative L2) from its float output
// on the calibration inputs (without calibration: its weights from the float weights) stays
// float; every layer's decision is recorded (quantize-common.ts).
import type { Graph, Node, Tensor } from "../compiler/ir/graph.js";
import { KilnError } from "../runtime/errors.js";
import { addConstant } from "./rewrite.js";
import { calibrationOf, f32, inBatches, isQuantTarget, layerError, recordDecision } from "./quantize-common.js";
import { ErrorSum, quantizeNBits, type NBitsWeights } from "./quantize-math.js";
import type { Pass, PassContext } from "./pass.js";

const intAttr = (n: Node, k: string, d: number) => (n.attrs[k]?.type === "int" ? (n.attrs[k].value as number) : d);
const floatAttr = (n: Node, k: string, d: number) => (n.attrs[k]?.type === "float" ? (n.attrs[k].value as number) : d);

/** The block size for `bits` and K: 32 (4 bits) or 128 (8 bits), smaller for a small K, a power of 2 of at least 16. */
export function blockFor(bits: 4 | 8, K: number): number {
  let b = 16;
  while (b < Math.min(bits === 4 ? 32 : 128, K)) b *= 2;
  return b;
}

interface Plan {
  K: number;
  N: number;
  /** the weights as [N][K] rows, alpha applied */
  rows: Float32Array;
  /** the bias as [N] (Gemm's beta * C), if any */
  bias?: Float32Array;
  /** the weights in their own layout from [N][K] rows (for the float node's error run) */
  layout(rows: Float32Array): Float32Array;
}

/** How a MatMul [.., K] x [K, N] or a Gemm (no transA; C per column or one value) reads as Y = A B^T + bias. */
function planOf(g: Graph, n: Node): Plan | undefined {
  const w = g.values.get(n.inputs[1])!.const!;
  if (w.dims.length !== 2 || (g.values.get(n.inputs[0])!.shape?.length ?? 0) < 1) return undefined;
  let transB = false, alpha = 1, bias: Float32Array | undefined;
  if (n.op === "Gemm") {
    if (intAttr(n, "transA", 0)) return undefined;
    transB = intAttr(n, "transB", 0) !== 0;
    alpha = floatAttr(n, "alpha", 1);
    const c = n.inputs[2] ? g.values.get(n.inputs[2])?.const : undefined;
    if (n.inputs[2] && (!c || c.dtype !== "float32")) return undefined;
    if (c) {
      const N = transB ? w.dims[0] : w.dims[1], beta = floatAttr(n, "beta", 1), cv = f32(c), size = cv.length;
      // one value per column, or one for all; a C that differs by row is not a bias
      if (size !== 1 && (size !== N || (c.dims.length === 2 && c.dims[0] !== 1))) return undefined;
      bias = Float32Array.from({ length: N }, (_, j) => Math.fround(beta * cv[size === 1 ? 0 : j]));
    }
  } else if (n.op !== "MatMul") return undefined;
  const [K, N] = transB ? [w.dims[1], w.dims[0]] : w.dims;
  const wv = f32(w), rows = new Float32Array(N * K);
  for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) rows[j * K + k] = Math.fround(alpha * wv[transB ? j * K + k : k * N + j]);
  const layout = (r: Float32Array) => {
    const out = new Float32Array(K * N);
    for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) out[transB ? j * K + k : k * N + j] = r[j * K + k] / alpha;
    return out;
  };
  return { K, N, rows, bias, layout };
}

const bytesOf = (q: NBitsWeights) => q.B.length + q.scales.byteLength + (q.zeros?.length ?? 0);

/** Replace `n` by MatMulNBits over the quantized weights `q`. */
function rewrite(g: Graph, n: Node, p: Plan, q: NBitsWeights): void {
  const base = n.inputs[1];
  const blob = (q.block * q.bits) / 8;
  const inputs = [n.inputs[0],
    addConstant(g, `${base}.q${q.bits}`, { dtype: "uint8", dims: [p.N, q.blocks, blob], data: q.B }),
    addConstant(g, `${base}.q${q.bits}_scales`, { dtype: "float32", dims: [p.N * q.blocks], data: q.scales }),
    q.zeros ? addConstant(g, `${base}.q${q.bits}_zero_points`, { dtype: "uint8", dims: [q.zeros.length], data: q.zeros }) : ""];
  if (p.bias) inputs.push("", addConstant(g, `${base}.q_bias`, { dtype: "float32", dims: [p.N], data: p.bias }));
  while (inputs[inputs.length - 1] === "") inputs.pop();
  g.removeNode(n.name);
  g.opsets.set("com.microsoft", Math.max(1, g.opsets.get("com.microsoft") ?? 1));
  g.addNode({ name: n.name, op: "MatMulNBits", domain: "com.microsoft", inputs, outputs: [...n.outputs], meta: { quantized: `int${q.bits}` },
    attrs: { K: { type: "int", value: p.K }, N: { type: "int", value: p.N }, bits: { type: "int", value: q.bits }, block_size: { type: "int", value: q.block } } });
}

/** The layer's error: its output on calibration samples when there are some, else its weights'. */
async function errorOf(g: Graph, n: Node, p: Plan, q: NBitsWeights, ctx: PassContext): Promise<{ error: number; errorOf: "calibration" | "weights" }> {
  const samples = calibrationOf(g)?.samples.get(n.inputs[0]);
  if (samples?.length) {
    const w = g.values.get(n.inputs[1])!.const!;
    const deq: Tensor = { dtype: "float32", dims: [...w.dims], data: p.layout(q.deq) };
    const e = await layerError(g, n, ctx.evaluate, samples, (ins) => ins.map((t, k) => (k === 1 ? deq : t)));
    return { error: e.relL2, errorOf: "calibration" };
  }
  const e = new ErrorSum();
  e.add(q.deq, p.rows);
  return { error: e.relL2, errorOf: "weights" };
}

export async function quantizeWeights(g: Graph, ctx: PassContext, bits: 4 | 8, threshold: number): Promise<{ quantized: number; float: number }> {
  const counts = { quantized: 0, float: 0 };
  // decisions are recorded in graph order: a layer's error is measured in batches first
  const layers = g.topoOrder().filter((x) => isQuantTarget(g, x)).map((n) => {
    const p = planOf(g, n);
    return { n, p, q: p && quantizeNBits(p.rows, p.N, p.K, bits, blockFor(bits, p.K)) };
  });
  const planned = layers.filter((l) => l.p);
  const errors = new Map(await inBatches(planned, 8, async (l) => [l.n, await errorOf(g, l.n, l.p!, l.q!, ctx)] as const));
  for (const { n, p, q } of layers) {
    const before = f32(g.values.get(n.inputs[1])!.const!).byteLength;
    const e = errors.get(n);
    if (!p || !q || !e || !(e.error <= threshold)) {
      const reason = e ? `error ${e.error.toPrecision(3)} over the threshold ${threshold}`
        : n.op === "MatMul" || n.op === "Gemm" ? "its operands have no MatMulNBits form (transposed A, N-D weights or a C per row)"
        : "weight-only quantization covers MatMul and Gemm (use w8a8 for convolutions)";
      recordDecision(g, { layer: n.name, op: n.op, form: "float", ...e, reason, weightBytes: { before, after: before } });
      counts.float++;
      continue;
    }
    rewrite(g, n, p, q);
    recordDecision(g, { layer: n.name, op: n.op, form: bits === 4 ? "int4" : "int8", ...e, weightBytes: { before, after: bytesOf(q) } });
    counts.quantized++;
  }
  g.pruneValues();
  return counts;
}

export const quantizeWeightsPass: Pass = {
  name: "quantize-weights",
  description: "weight-only quantization: MatMul/Gemm with constant weights become MatMulNBits (8 bits symmetric in blocks of 128, or 4 bits with zero points in blocks of 32); layers over the error threshold stay float",
  options: {
    bits: { default: 8, description: "4 or 8" },
    threshold: { default: 0.05, description: "largest relative L2 error of a layer's output (or, without calibration, its weights) for it to be quantized" },
  },
  async run(g, ctx) {
    const bits = ctx.options!.bits, threshold = ctx.options!.threshold as number;
    if (bits !== 4 && bits !== 8) throw new KilnError("BAD_OPTION", `pass quantize-weights option bits takes 4 or 8, got ${bits}`);
    return quantizeWeights(g, ctx, bits, threshold);
  },
};
