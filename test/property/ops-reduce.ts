// Reductions (axes, keepdims, noop_with_empty_axes), arg-reductions, the softmax family and the
// normalizations.
import { allOps } from "../../compiler/ops/index.js";
import type { Attr } from "../../compiler/ir/graph.js";
import { size, type Builder, type Facts, type Val } from "./graph.js";
import type { Picker } from "./picker.js";
import { FLOAT, INT, INTS, accumulable, axesOf, axis, floats, nonEmpty, operand } from "./operands.js";
import type { Step } from "./steps.js";

/** ulps per input element for a sum taken in any order */
const SUM_ULPS = 2;

/** The reductions whose result is one of the inputs (no rounding): Max and Min. */
const selects = (op: string) => op === "ReduceMax" || op === "ReduceMin";

/** Reductions of a log or an exp, and the L2 norm's square root, round again. */
const RESULT_ULPS: Record<string, number> = { ReduceLogSum: 8, ReduceLogSumExp: 8, ReduceL2: 2, ReduceMean: 1 };

/** The axes: an int64 input from opset 18 (the attribute before); absent, empty or a subset. */
function reduceAxes(b: Builder, p: Picker, x: Val): { inputs: (Val | null)[]; attrs: Record<string, Attr> } {
  const attrs: Record<string, Attr> = {};
  if (p.chance(0.5)) attrs.keepdims = INT(0);
  const form = p.int(6);
  if (form === 4) return { inputs: [x], attrs }; // absent: all axes
  if (form === 5) {
    // empty: all axes, or none with noop_with_empty_axes
    if (p.chance(0.5)) attrs.noop_with_empty_axes = INT(1);
    return { inputs: [x, b.ints([])], attrs };
  }
  return { inputs: [x, b.ints(axesOf(p, x.shape.length).written)], attrs };
}

function reduceStep(op: string): Step {
  return {
    op, nodes: 1,
    build(b, p) {
      const ints = (op === "ReduceSum" || selects(op)) && p.chance(0.15);
      // onnxruntime's ReduceMax/Min skip NaN where the spec's reference (numpy) propagates it, as
      // kiln does (test/kernels/reduce.test.ts): inputs that may hold NaN are left out
      // ReduceLogSumExp: onnxruntime subtracts the largest element first, where NaN next to +inf
      // gives inf (the max skips NaN, exp(NaN - inf) is dropped); the reference gives NaN, as kiln
      const noNaN = selects(op) || op === "ReduceLogSumExp";
      // ReduceProd: a product's underflows and overflows depend on its order (1e-30 * 1e-30 * inf
      // is NaN one way, inf another): small factors, no infinities
      const prod = (v: Val) => floats(v) && !v.inf && v.lo >= -4 && v.hi <= 4;
      const ok = ints ? (v: Val) => v.dtype === "int64" && v.hi - v.lo < 64 : selects(op) ? (v: Val) => floats(v) && !v.nan
        : op === "ReduceProd" ? prod : noNaN ? (v: Val) => accumulable(v) && !v.nan : accumulable;
      // onnxruntime's reductions of an empty input get their shapes wrong ([0,1,3] over axes 0
      // and 2 gives [1,1,3]; with keepdims=0, [0,1,1] gives [1,1]) and ReduceMean gives 0 for
      // the spec's undefined (kiln: NaN): no empty inputs (test/kernels/reduce.test.ts has them)
      const x = operand(b, p, (v) => ok(v) && size(v.shape) > 0, ints ? "int64" : "float32", 1, 4);
      if (!ok(x) || x.shape.length === 0 || size(x.shape) === 0) return false;
      const { inputs, attrs } = reduceAxes(b, p, x);
      const facts: Facts = selects(op) ? { lo: x.lo, hi: x.hi, nan: false, inf: x.inf } : { inputUlps: SUM_ULPS, ulps: RESULT_ULPS[op] ?? 0 };
      b.node(op, inputs, attrs, ints ? { ...facts, nan: false, inf: false, inputUlps: 0, lo: -(2 ** 40), hi: 2 ** 40 } : facts);
      return true;
    },
  };
}

function argStep(op: string): Step {
  return {
    op, nodes: 1,
    build(b, p) {
      // numpy's argmax (the reference) picks the first NaN; onnxruntime skips NaN: no NaN here
      const x = operand(b, p, (v) => floats(v) && !v.nan && nonEmpty(v), "float32", 1, 4);
      if (!floats(x) || x.nan || x.shape.length === 0 || !nonEmpty(x)) return false;
      const a = axis(p, x.shape.length);
      if (x.shape[a.axis] === 0) return false; // no largest element of none
      const attrs: Record<string, Attr> = { axis: INT(a.written) };
      if (p.chance(0.4)) attrs.keepdims = INT(0);
      if (p.chance(0.3)) attrs.select_last_index = INT(1);
      b.node(op, [x], attrs, { lo: 0, hi: 17, nan: false, inf: false });
      return true;
    },
  };
}

function softmaxStep(op: string): Step {
  return {
    op, nodes: 1,
    build(b, p) {
      // Hardmax is numpy's argmax (the reference), which picks the first NaN; onnxruntime skips
      // NaN: Hardmax reads no NaN
      const ok = op === "Hardmax" ? (v: Val) => floats(v) && !v.nan && nonEmpty(v) : (v: Val) => floats(v) && nonEmpty(v);
      const x = operand(b, p, ok, "float32", 1, 4);
      if (!ok(x) || x.shape.length === 0) return false;
      const attrs = p.chance(0.6) ? { axis: INT(axis(p, x.shape.length).written) } : {};
      const facts: Facts = op === "Hardmax" ? { lo: 0, hi: 1, inf: false, nan: false }
        : op === "Softmax" ? { lo: 0, hi: 1, inf: false, inputUlps: 2, ulps: 8 } : { inputUlps: 2, ulps: 8 };
      b.node(op, [x], attrs, facts);
      return true;
    },
  };
}

/** Norms sum squares: no finite value whose square overflows (or two that overflow a sum). */
const squareFits = (v: Val) => accumulable(v) && Math.max(Math.abs(v.lo), Math.abs(v.hi)) < 1e18;

/** ulps of the normalizations: a mean, a variance, a square root and a division */
const NORM: Facts = { inputUlps: 4, ulps: 8 };

const channels = (b: Builder, p: Picker, x: Val, lo = -1, hi = 1) => b.constant("float32", [x.shape[1]], undefined, [lo, hi]);

const batchNormStep: Step = {
  op: "BatchNormalization", nodes: 1,
  build(b, p) {
    const x = operand(b, p, (v) => floats(v) && nonEmpty(v), "float32", 2, 4);
    if (!floats(x) || x.shape.length < 2 || !nonEmpty(x)) return false;
    const attrs = p.chance(0.4) ? { epsilon: FLOAT(p.pick([1e-3, 0.1, 1e-6])) } : {};
    b.node("BatchNormalization", [x, channels(b, p, x), channels(b, p, x), channels(b, p, x), channels(b, p, x, 0.25, 2)], attrs, NORM);
    return true;
  },
};

/**
 * onnxruntime takes InstanceNormalization's variance as E[x^2] - E[x]^2, where x^2 overflows to
 * inf for |x| > 1.8e19 (inf - inf: NaN); the reference (numpy's var, mean((x - mean)^2)) and kiln
 * do not overflow. So its input holds no such values (finite ones in a known range).
 */

/**
 * That variance also cancels where a mean is large against the spread: a group of 2.036 and 2.008
 * came out of GroupNormalization 0.4% off after its scale and bias (kiln's matches float64 to the
 * last digits). So InstanceNormalization and GroupNormalization read a graph input of centered
 * random data ("unit", in [-1, 1]) and normalize over 8 or more elements.
 */
const centered = (b: Builder) => (v: Val) => squareFits(v) && b.inputs.some((i) => i.name === v.name && i.kind === "unit");
const MIN_GROUP = 8;

const instanceNormStep: Step = {
  op: "InstanceNormalization", nodes: 1,
  build(b, p) {
    const ok = centered(b);
    const x = operand(b, p, ok, "float32", 3, 4);
    if (!ok(x) || x.shape.length < 3 || size(x.shape.slice(2)) < MIN_GROUP) return false;
    b.node("InstanceNormalization", [x, channels(b, p, x), channels(b, p, x)], p.chance(0.4) ? { epsilon: FLOAT(0.01) } : {}, NORM);
    return true;
  },
};

const layerNormStep: Step = {
  op: "LayerNormalization", nodes: 3,
  build(b, p) {
    const x = operand(b, p, squareFits, "float32", 1, 4);
    if (!squareFits(x) || x.shape.length === 0) return false;
    const a = axis(p, x.shape.length);
    const normed = x.shape.slice(a.axis);
    const attrs: Record<string, Attr> = {};
    if (a.written !== -1 || p.chance(0.3)) attrs.axis = INT(a.written);
    if (p.chance(0.3)) attrs.epsilon = FLOAT(p.pick([1e-3, 0.1]));
    const scale = b.constant("float32", p.chance(0.2) ? normed.map(() => 1).slice(-1) : normed, undefined, [-2, 2]);
    const bias = p.chance(0.6) ? b.constant("float32", normed, undefined, [-1, 1]) : null;
    // the mean and inverse standard deviation outputs too, sometimes; not of infinities:
    // onnxruntime's Mean is NaN for some rows holding -inf and -inf for others (numpy's: -inf)
    const outputs = !x.inf && p.chance(0.15) ? 3 : 1;
    b.node("LayerNormalization", bias ? [x, scale, bias] : [x, scale], attrs, NORM, outputs);
    return true;
  },
};

const groupNormStep: Step = {
  op: "GroupNormalization", nodes: 1,
  build(b, p) {
    const ok = centered(b);
    const x = operand(b, p, ok, "float32", 3, 4);
    if (!ok(x) || x.shape.length < 3 || b.opset < 21) return false;
    const C = x.shape[1];
    const fit = [...Array(C).keys()].map((k) => k + 1).filter((g) => C % g === 0 && (C / g) * size(x.shape.slice(2)) >= MIN_GROUP);
    if (fit.length === 0) return false;
    const groups = p.pick(fit);
    b.node("GroupNormalization", [x, channels(b, p, x), channels(b, p, x)], { num_groups: INT(groups) }, NORM);
    return true;
  },
};

const lpNormStep: Step = {
  op: "LpNormalization", nodes: 1,
  build(b, p) {
    const x = operand(b, p, squareFits, "float32", 1, 4);
    if (!squareFits(x) || x.shape.length === 0) return false;
    const attrs: Record<string, Attr> = { axis: INT(axis(p, x.shape.length).written) };
    if (p.chance(0.4)) attrs.p = INT(1);
    b.node("LpNormalization", [x], attrs, NORM);
    return true;
  },
};

/**
 * LRN: onnxruntime sums the squares over the channel window as a running sum (adding the square
 * entering the window, subtracting the one leaving), so a NaN or an infinity in one channel
 * spreads NaN to every later channel; the spec sums each window afresh, as kiln does. Its input
 * holds neither.
 */
const finite = (v: Val) => floats(v) && !v.nan && !v.inf && squareFits(v);

const lrnStep: Step = {
  op: "LRN", nodes: 1,
  build(b, p) {
    const x = operand(b, p, finite, "float32", 4, 4);
    if (!finite(x) || x.shape.length !== 4) return false;
    // the spec allows an even size (the window then leans one way); onnxruntime refuses it
    const attrs: Record<string, Attr> = { size: INT(p.pick([1, 3, 5])) };
    if (p.chance(0.5)) Object.assign(attrs, { alpha: FLOAT(p.pick([1e-4, 0.01, 0.5])), beta: FLOAT(p.pick([0.75, 0.5, 1])), bias: FLOAT(p.pick([1, 2, 0.5])) });
    b.node("LRN", [x], attrs, NORM);
    return true;
  },
};

/**
 * MeanVarianceNormalization: the spec (its function body) divides by sqrt(variance) + 1e-9, as
 * kiln does; onnxruntime divides by sqrt(variance) alone, which is 0/0 = NaN where the
 * normalized values are all equal (or their variance underflows). So it reads a graph input of
 * random, ordinary data (not a computed value, which may be constant along the axes; no tiny
 * values) and normalizes over two or more elements.
 */
const mvnStep: Step = {
  op: "MeanVarianceNormalization", nodes: 1,
  build(b, p) {
    const random = (v: Val) => floats(v) && b.inputs.some((i) => i.name === v.name && (i.kind === "unit" || i.kind === "positive" || i.kind === "wide"));
    const x = operand(b, p, random, "float32", 1, 4);
    if (!random(x) || x.shape.length === 0) return false;
    const axes = x.shape.length === 4 && p.chance(0.5) ? [0, 2, 3] : axesOf(p, x.shape.length).axes;
    if (axes.reduce((n, a) => n * x.shape[a], 1) < 2) return false;
    b.node("MeanVarianceNormalization", [x], axes.join() === "0,2,3" ? {} : { axes: INTS(axes) }, NORM);
    return true;
  },
};

const rmsNormStep: Step = {
  op: "RMSNormalization", nodes: 1,
  build(b, p) {
    const x = operand(b, p, squareFits, "float32", 1, 4);
    if (!squareFits(x) || x.shape.length === 0 || b.opset < 23) return false;
    const a = axis(p, x.shape.length);
    const attrs: Record<string, Attr> = { axis: INT(a.written) };
    if (p.chance(0.3)) attrs.epsilon = FLOAT(0.01);
    b.node("RMSNormalization", [x, b.constant("float32", x.shape.slice(a.axis), undefined, [-2, 2])], attrs, NORM);
    return true;
  },
};

export function reduceSteps(): Step[] {
  const reductions = allOps().filter((d) => d.domain === "" && d.name.startsWith("Reduce")).map((d) => reduceStep(d.name));
  return [
    ...reductions, argStep("ArgMax"), argStep("ArgMin"), softmaxStep("Softmax"), softmaxStep("LogSoftmax"), softmaxStep("Hardmax"),
    batchNormStep, instanceNormStep, layerNormStep, groupNormStep, lpNormStep, lrnStep, mvnStep, rmsNormStep,
  ];
}
