// Indexed reads and writes: GatherND, ScatterElements, ScatterND, OneHot, TopK, ReverseSequence.
// Indices are initializers drawn valid by the spec (negative ones count from the end), and a
// scatter writes each element once: the spec leaves the result of duplicate indices without a
// reduction undefined (and with one, the order of a float reduction).
import type { DTypeName } from "../../runtime/dtypes.js";
import type { Attr } from "../../compiler/ir/graph.js";
import { size, type Builder, type Facts, type Val } from "./graph.js";
import type { Picker } from "./picker.js";
import { INT, MAX_ELEMENTS, axis, dim, floats, fresh, nonEmpty, operand } from "./operands.js";
import type { Step } from "./steps.js";

const movable = (v: Val) => (v.dtype === "float32" || v.dtype === "int64") && nonEmpty(v) && v.shape.every((d) => d > 0);
const same = (x: Val): Facts => ({ lo: x.lo, hi: x.hi, nan: x.nan, inf: x.inf });

function take(b: Builder, p: Picker, minRank: number, maxRank: number): Val | undefined {
  const dt: DTypeName = p.chance(0.85) ? "float32" : "int64";
  const x = operand(b, p, movable, dt, minRank, maxRank);
  return movable(x) && x.shape.length >= minRank && x.shape.length <= maxRank ? x : undefined;
}

/** an index into an axis of size d, negative (from the end) some of the time */
const signed = (b: Builder, i: number, d: number) => (b.random() < 0.3 ? i - d : i);

/** `n` distinct integers of [0, d) in random order */
function distinct(b: Builder, n: number, d: number): number[] {
  const all = [...Array(d).keys()];
  for (let k = d - 1; k > 0; k--) {
    const j = Math.floor(b.random() * (k + 1));
    [all[k], all[j]] = [all[j], all[k]];
  }
  return all.slice(0, n);
}

/** Updates for a scatter into x: an earlier value of the shape (half the time), else a new one. */
function updatesOf(b: Builder, p: Picker, x: Val, s: readonly number[]): Val {
  const have = b.candidates((v) => v.dtype === x.dtype && v.shape.join() === s.join());
  return have.length && p.chance(0.5) ? have[0] : fresh(b, p, x.dtype, [...s]);
}

/**
 * A scatter's reduction; max and min only without NaN (the spec does not say which of NaN and a
 * number is the larger).
 */
function reductionOf(p: Picker, x: Val, u: Val): string {
  return p.pick(["none", "add", "mul", ...(x.nan || u.nan ? [] : ["max", "min"])]);
}

/** The row-major strides of a shape. */
const stridesOf = (s: readonly number[]) => s.map((_, k) => size(s.slice(k + 1)));

const gatherNDStep: Step = {
  op: "GatherND", nodes: 1,
  build(b, p) {
    const x = take(b, p, 1, 4);
    if (!x) return false;
    const r = x.shape.length;
    const batchDims = r >= 2 && p.chance(0.3) ? 1 : 0;
    const k = p.range(1, r - batchDims);
    const lead = batchDims ? [x.shape[0]] : [];
    const idxShape = [...lead, ...(p.chance(0.5) ? [dim(p, 5)] : []), k];
    const out = [...idxShape.slice(0, -1), ...x.shape.slice(batchDims + k)];
    if (size(out) > MAX_ELEMENTS) return false;
    const dims = x.shape.slice(batchDims, batchDims + k);
    const idx = b.constant("int64", idxShape, (i) => {
      const d = dims[i % k];
      return signed(b, Math.floor(b.random() * d), d);
    });
    b.node("GatherND", [x, idx], batchDims ? { batch_dims: INT(batchDims) } : {}, same(x));
    return true;
  },
};

const scatterElementsStep: Step = {
  op: "ScatterElements", nodes: 1,
  build(b, p) {
    const x = take(b, p, 1, 4);
    if (!x) return false;
    const a = axis(p, x.shape.length);
    const d = x.shape[a.axis];
    // indices no larger than the data along every axis; along `axis`, m distinct ones per line
    const s = x.shape.map((n, k) => (k === a.axis ? p.range(1, n) : p.chance(0.3) ? Math.max(1, n - 1) : n));
    const st = stridesOf(s);
    const lines = new Map<number, number[]>();
    const idx = b.constant("int64", s, (i) => {
      const at = Math.floor(i / st[a.axis]) % s[a.axis];
      const line = i - at * st[a.axis];
      if (!lines.has(line)) lines.set(line, distinct(b, s[a.axis], d));
      return signed(b, lines.get(line)![at], d);
    });
    const updates = updatesOf(b, p, x, s);
    const attrs: Record<string, Attr> = { axis: INT(a.written) };
    const reduction = reductionOf(p, x, updates);
    if (reduction !== "none" || p.chance(0.3)) attrs.reduction = { type: "string", value: reduction };
    const exact = reduction === "none" || reduction === "max" || reduction === "min";
    b.node("ScatterElements", [x, idx, updates], attrs, exact ? {} : { ulps: 1 });
    return true;
  },
};

const scatterNDStep: Step = {
  op: "ScatterND", nodes: 1,
  build(b, p) {
    const x = take(b, p, 1, 4);
    if (!x) return false;
    const r = x.shape.length;
    const k = p.range(1, r);
    const cells = size(x.shape.slice(0, k));
    const n = p.range(1, Math.min(cells, 6));
    const rows = distinct(b, n, cells);
    const st = stridesOf(x.shape.slice(0, k));
    const idx = b.constant("int64", [n, k], (i) => {
      const j = i % k;
      const d = x.shape[j];
      return signed(b, Math.floor(rows[Math.floor(i / k)] / st[j]) % d, d);
    });
    const us = [n, ...x.shape.slice(k)];
    const updates = updatesOf(b, p, x, us);
    const reduction = reductionOf(p, x, updates);
    const attrs: Record<string, Attr> = reduction !== "none" || p.chance(0.3) ? { reduction: { type: "string", value: reduction } } : {};
    b.node("ScatterND", [x, idx, updates], attrs, reduction === "add" || reduction === "mul" ? { ulps: 1 } : {});
    return true;
  },
};

const oneHotStep: Step = {
  op: "OneHot", nodes: 1,
  build(b, p) {
    const s = [...Array(p.range(1, 3))].map(() => dim(p, 7)); // ONNX shape inference wants rank >= 1
    const depth = p.range(1, 9);
    if (size(s) * depth > MAX_ELEMENTS) return false;
    // indices in [-depth, depth), and a few out of range (a row of off values)
    const far = [depth, -depth - 1, 100];
    // the index and depth types of onnxruntime's OneHot kernels (it has no others)
    const dt = p.pick(["int64", "int32", "float32"] as const);
    const idx = b.constant(dt, s, () => (b.random() < 0.1 ? far[Math.floor(b.random() * far.length)] : signed(b, Math.floor(b.random() * depth), depth)));
    const off = p.pick([0, -1, 0.5]), on = p.pick([1, 3, -2]);
    const values = b.constant("float32", [2], (i) => (i === 0 ? off : on));
    const a = axis(p, s.length + 1);
    b.node("OneHot", [idx, b.constant(dt, [], () => depth), values], p.chance(0.6) ? { axis: INT(a.written) } : {}, {});
    return true;
  },
};

/**
 * TopK, sorted (the order of an unsorted result is free), of values without NaN (the spec does
 * not order NaN). Equal values, 0 and -0 among them, come in index order (the spec's tiebreak).
 */
const topKStep: Step = {
  op: "TopK", nodes: 1,
  build(b, p) {
    const ok = (v: Val) => floats(v) && !v.nan && movable(v);
    const x = operand(b, p, ok, "float32", 1, 4);
    if (!ok(x) || x.shape.length === 0) return false;
    const a = axis(p, x.shape.length);
    const d = x.shape[a.axis];
    const K = p.range(1, d);
    const attrs: Record<string, Attr> = a.written !== -1 || p.chance(0.3) ? { axis: INT(a.written) } : {};
    if (p.chance(0.4)) attrs.largest = INT(0);
    if (p.chance(0.2)) attrs.sorted = INT(1);
    b.node("TopK", [x, b.ints([K])], attrs, same(x), 2);
    return true;
  },
};

const reverseSequenceStep: Step = {
  op: "ReverseSequence", nodes: 1,
  build(b, p) {
    const x = take(b, p, 2, 4);
    if (!x) return false;
    const timeAxis = p.int(2);
    const batchAxis = 1 - timeAxis;
    const T = x.shape[timeAxis];
    const lens = b.constant("int64", [x.shape[batchAxis]], () => 1 + Math.floor(b.random() * T));
    const attrs: Record<string, Attr> = timeAxis === 1 ? { time_axis: INT(1), batch_axis: INT(0) } : p.chance(0.5) ? { time_axis: INT(0), batch_axis: INT(1) } : {};
    b.node("ReverseSequence", [x, lens], attrs, same(x));
    return true;
  },
};

export function indexSteps(): Step[] {
  return [gatherNDStep, scatterElementsStep, scatterNDStep, oneHotStep, topKStep, reverseSequenceStep];
}
