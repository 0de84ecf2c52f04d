// Matrix products, convolutions and pooling: shapes and attributes drawn so the node is valid by
// the ONNX spec (kernel no larger than the padded input, groups that divide the channels,
// output padding below the stride...), weights usually initializers (as in real models, and
// what the kernels pre-pack), sometimes graph inputs.
import type { Attr } from "../../compiler/ir/graph.js";
import { size, type Builder, type Val } from "./graph.js";
import type { Picker } from "./picker.js";
import { FLOAT, INT, INTS, STRING, MAX_ELEMENTS, accumulable, broadcastOf, broadcasts, dim, floats, fresh, nonEmpty, operand, winogradWindow } from "./operands.js";
import type { Step } from "./steps.js";

/** the order of a dot product's sum is free (and fused multiply-adds round once): ulps per input element */
const SUM_ULPS = 2;

/** A weight-like operand: an initializer usually, sometimes a graph input (of any data when `finite` is false). */
function weights(b: Builder, p: Picker, s: number[], finite = false): Val {
  if (p.chance(0.8)) return b.constant("float32", s, undefined, [-1, 1]);
  return (finite ? b.input("float32", s, "unit") : undefined) ?? fresh(b, p, "float32", s);
}

const matmulStep: Step = {
  op: "MatMul", nodes: 1,
  build(b, p) {
    // onnxruntime's MatMul refuses some empty operands ("cannot broadcast"): none here
    const ok = (v: Val) => accumulable(v) && size(v.shape) > 0;
    const a = operand(b, p, ok, "float32", 1, 4);
    if (!ok(a) || a.shape.length === 0) return false;
    const K = a.shape[a.shape.length - 1];
    const N = dim(p, 24);
    const batch = a.shape.slice(0, -2);
    // B: [K, N], [K] (a vector), with A's batch dims (some 1), or with one batch dim of its own
    const kind = p.int(4);
    const bs = kind === 1 ? [K] : kind === 2 ? [...batch.map((d) => (p.chance(0.5) ? 1 : d)), K, N]
      : kind === 3 ? [batch.length ? batch[batch.length - 1] : dim(p, 3), K, N] : [K, N];
    const outBatch = broadcastOf(batch, bs.slice(0, -2));
    const out = size(outBatch) * (a.shape.length > 1 ? a.shape[a.shape.length - 2] : 1) * (bs.length > 1 ? N : 1);
    if (!broadcasts(batch, bs.slice(0, -2)) || out > MAX_ELEMENTS || size(bs) > MAX_ELEMENTS) return false;
    // an earlier value of B's shape sometimes (two activations multiplied, as attention does)
    const other = b.candidates((v) => accumulable(v) && v !== a && v.shape.length === bs.length && v.shape.every((d, k) => d === bs[k]));
    const w = other.length && p.chance(0.3) ? other[0] : weights(b, p, bs);
    b.node("MatMul", [a, w], {}, { inputUlps: SUM_ULPS });
    return true;
  },
};

const gemmStep: Step = {
  op: "Gemm", nodes: 1,
  build(b, p) {
    const a = operand(b, p, accumulable, "float32", 2, 2);
    if (!accumulable(a) || a.shape.length !== 2) return false;
    const transA = p.chance(0.3) ? 1 : 0;
    const transB = p.chance(0.4) ? 1 : 0;
    const [M, K] = transA ? [a.shape[1], a.shape[0]] : a.shape;
    const N = dim(p, 24);
    if (M * N > MAX_ELEMENTS) return false;
    const w = weights(b, p, transB ? [N, K] : [K, N]);
    const cShape = p.pick([null, [N], [1, N], [M, 1], [M, N], [], [1]]);
    const c = cShape ? weights(b, p, cShape) : null;
    const attrs: Record<string, Attr> = { };
    if (transA) attrs.transA = INT(1);
    if (transB) attrs.transB = INT(1);
    if (p.chance(0.3)) attrs.alpha = FLOAT(p.pick([0.5, 2, -1, 0.25]));
    if (c && p.chance(0.3)) attrs.beta = FLOAT(p.pick([0.5, 2, 0, -1]));
    b.node("Gemm", c ? [a, w, c] : [a, w], attrs, { inputUlps: SUM_ULPS, ulps: 1 });
    return true;
  },
};

const divisors = (n: number) => [...Array(n).keys()].map((k) => k + 1).filter((d) => n % d === 0);

/** Kernel, strides, dilations and pads for a window over `spatial`, valid by construction. */
function window(p: Picker, spatial: number[], opts: { dilations: boolean; maxKernel?: number; padBelowKernel?: boolean }) {
  const kernel: number[] = [], strides: number[] = [], dilations: number[] = [], begin: number[] = [], end: number[] = [];
  for (const d of spatial) {
    const dil = opts.dilations && p.chance(0.25) ? 2 : 1;
    let k = p.range(1, Math.min(opts.maxKernel ?? 5, 5));
    const pb = p.chance(0.5) ? p.int(3) : 0;
    const pe = p.chance(0.5) ? p.int(3) : 0;
    while (k > 1 && (k - 1) * dil + 1 > d + pb + pe) k--;
    kernel.push(k);
    dilations.push((k - 1) * dil + 1 <= d + pb + pe ? dil : 1);
    strides.push(p.chance(0.4) ? p.range(2, 3) : 1);
    // the pools want pads below the kernel (onnxruntime checks it), and no pads with dilations:
    // a dilated window could then hold padding only, whose max onnxruntime takes as the lowest
    // float and kiln as -inf (the spec does not say)
    const poolPad = (v: number) => (dilations[dilations.length - 1] > 1 ? 0 : Math.min(v, k - 1));
    begin.push(opts.padBelowKernel ? poolPad(pb) : pb);
    end.push(opts.padBelowKernel ? poolPad(pe) : pe);
  }
  const attrs: Record<string, Attr> = { kernel_shape: INTS(kernel) };
  // onnxruntime refuses SAME_UPPER/SAME_LOWER with dilations, and where the stride skips past
  // the input's end (it computes a negative pad there; the spec's is 0)
  const sameFits = spatial.every((d, a) => (Math.ceil(d / strides[a]) - 1) * strides[a] + kernel[a] >= d);
  const auto = dilations.some((x) => x > 1) || !sameFits ? p.pick([0, 0, 3]) : p.int(8);
  if (auto === 1) attrs.auto_pad = STRING("SAME_UPPER");
  else if (auto === 2) attrs.auto_pad = STRING("SAME_LOWER");
  else if (auto === 3) attrs.auto_pad = STRING("VALID");
  else if (begin.some((x) => x) || end.some((x) => x)) attrs.pads = INTS([...begin, ...end]);
  if (strides.some((s) => s > 1)) attrs.strides = INTS(strides);
  if (dilations.some((x) => x > 1)) attrs.dilations = INTS(dilations);
  // the window must fit the input with the pads the attributes give (VALID has none)
  const padded = spatial.map((d, k) => d + (auto === 3 || auto === 1 || auto === 2 ? 0 : begin[k] + end[k]));
  const fits = kernel.every((k, a) => (k - 1) * dilations[a] + 1 <= (auto === 1 || auto === 2 ? Infinity : padded[a]));
  // ceil_mode adds a last window where the stride leaves a partial one; the spec drops it when it
  // would start in the end padding, onnxruntime's kernel does not (its shape and kernel disagree)
  const ceilFits = spatial.every((d, a) => {
    const span = padded[a] - ((kernel[a] - 1) * dilations[a] + 1);
    return Math.ceil(span / strides[a]) * strides[a] < d + (auto === 0 || auto > 3 ? begin[a] : 0);
  });
  return { attrs, kernel, fits, ceilFits };
}

/**
 * An [N, C, spatial...] float input of rank 3 to 5 (1-D, 2-D, 3-D windows) that a sum may read;
 * for the max pools any but NaN: onnxruntime's skip NaN, kiln's propagate it (the reference's loop
 * keeps a NaN that comes first in a window and skips a later one, so neither is "the" answer).
 */
function spatialOperand(b: Builder, p: Picker, max = false): Val | undefined {
  const ok = (v: Val) => (max ? floats(v) && !v.nan && nonEmpty(v) : accumulable(v));
  const x = operand(b, p, ok, "float32", 3, p.chance(0.15) ? 5 : 4);
  return ok(x) && x.shape.length >= 3 && x.shape.length <= 5 ? x : undefined;
}

const convStep: Step = {
  op: "Conv", nodes: 1,
  build(b, p) {
    const x = spatialOperand(b, p);
    if (!x) return false;
    const C = x.shape[1];
    const group = p.chance(0.35) ? p.pick(divisors(C)) : 1;
    const M = group * (p.chance(0.3) && group === C ? 1 : p.range(1, 4));
    const w = window(p, x.shape.slice(2), { dilations: true });
    if (!w.fits) return false;
    const ints = (a: Attr | undefined) => (a?.type === "ints" ? a.value : []);
    if (x.inf && winogradWindow(w.kernel, ints(w.attrs.strides), ints(w.attrs.dilations))) return false;
    // finite weights: kiln's kernels skip the taps over padding, where the reference (and
    // onnxruntime's im2col) multiply a zero by the weight, which is NaN for an infinite or NaN
    // weight; kiln leaves that out on purpose (a deviation for non-finite weights only)
    const W = weights(b, p, [M, C / group, ...w.kernel], true);
    const bias = p.chance(0.5) ? b.constant("float32", [M], undefined, [-1, 1]) : null;
    if (group > 1) w.attrs.group = INT(group);
    if (p.chance(0.3)) delete w.attrs.kernel_shape; // inferred from the weights
    b.node("Conv", bias ? [x, W, bias] : [x, W], w.attrs, { inputUlps: SUM_ULPS });
    return true;
  },
};

const convTransposeStep: Step = {
  op: "ConvTranspose", nodes: 1,
  build(b, p) {
    const x = spatialOperand(b, p);
    if (!x || x.shape.length > 4) return false;
    const C = x.shape[1];
    const group = p.chance(0.25) ? p.pick(divisors(C)) : 1;
    const m = p.range(1, 3);
    const spatial = x.shape.slice(2);
    const kernel = spatial.map(() => p.range(1, 4));
    const strides = spatial.map(() => (p.chance(0.5) ? p.range(2, 3) : 1));
    const dilations = spatial.map(() => (p.chance(0.2) ? 2 : 1));
    const attrs: Record<string, Attr> = { kernel_shape: INTS(kernel) };
    if (strides.some((s) => s > 1)) attrs.strides = INTS(strides);
    if (dilations.some((d) => d > 1)) attrs.dilations = INTS(dilations);
    // below the stride (the spec also allows below the dilation; onnxruntime refuses that)
    const outPad = spatial.map((_, a) => (p.chance(0.3) ? p.int(strides[a]) : 0));
    if (outPad.some((v) => v)) attrs.output_padding = INTS(outPad);
    const pads = [...spatial, ...spatial].map((_, k) => (p.chance(0.3) ? Math.min(p.int(3), kernel[k % spatial.length] - 1) : 0));
    const full = spatial.map((d, a) => strides[a] * (d - 1) + outPad[a] + (kernel[a] - 1) * dilations[a] + 1);
    if (pads.some((v) => v)) attrs.pads = INTS(pads);
    const out = full.map((f, a) => f - pads[a] - pads[a + spatial.length]);
    if (out.some((o) => o <= 0) || x.shape[0] * m * group * size(out) > MAX_ELEMENTS) return false;
    if (group > 1) attrs.group = INT(group);
    const W = weights(b, p, [C, m, ...kernel]);
    const bias = p.chance(0.4) ? b.constant("float32", [m * group], undefined, [-1, 1]) : null;
    b.node("ConvTranspose", bias ? [x, W, bias] : [x, W], attrs, { inputUlps: SUM_ULPS });
    return true;
  },
};

/** MaxPool, AveragePool, LpPool with kernels, strides, pads, dilations and ceil_mode. */
function poolStep(op: "MaxPool" | "AveragePool" | "LpPool"): Step {
  return {
    op, nodes: 1,
    build(b, p) {
      if (lpPoolMissing(op, b)) return false;
      const x = spatialOperand(b, p, op === "MaxPool");
      if (!x) return false;
      const w = window(p, x.shape.slice(2), { dilations: op !== "LpPool" && b.opset >= 19, padBelowKernel: true });
      if (!w.fits) return false;
      if (op !== "LpPool" && w.ceilFits && p.chance(0.3)) w.attrs.ceil_mode = INT(1);
      if (op === "AveragePool" && p.chance(0.5)) w.attrs.count_include_pad = INT(1);
      if (op === "LpPool" && p.chance(0.7)) w.attrs.p = INT(p.pick([1, 3, 2]));
      // MaxPool takes the largest exactly; the averages sum (and LpPool powers and roots)
      b.node(op, [x], w.attrs, op === "MaxPool" ? { lo: x.lo, hi: x.hi, nan: x.nan, inf: x.inf } : { inputUlps: SUM_ULPS, ulps: op === "LpPool" ? 8 : 1 });
      return true;
    },
  };
}

/** onnxruntime has no LpPool or GlobalLpPool kernel for opset 22 and later */
const lpPoolMissing = (op: string, b: Builder) => op.includes("LpPool") && b.opset >= 22;

function globalPoolStep(op: string): Step {
  return {
    op, nodes: 1,
    build(b, p) {
      if (lpPoolMissing(op, b)) return false;
      const x = spatialOperand(b, p, op === "GlobalMaxPool");
      if (!x) return false;
      b.node(op, [x], {}, op === "GlobalMaxPool" ? { lo: x.lo, hi: x.hi, nan: x.nan, inf: x.inf } : { inputUlps: SUM_ULPS, ulps: op === "GlobalLpPool" ? 8 : 1 });
      return true;
    },
  };
}

export function nnSteps(): Step[] {
  return [
    matmulStep, gemmStep, convStep, convTransposeStep, poolStep("MaxPool"), poolStep("AveragePool"), poolStep("LpPool"),
    globalPoolStep("GlobalAveragePool"), globalPoolStep("GlobalMaxPool"), globalPoolStep("GlobalLpPool"),
  ];
}
