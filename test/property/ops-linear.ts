// Einsum (products, transposes, traces and sums written as equations) and the linear
// quantization pair: QuantizeLinear to int8/uint8 (per tensor or per axis), DequantizeLinear.
import type { Attr } from "../../compiler/ir/graph.js";
import { size, type Builder, type Val } from "./graph.js";
import type { Picker } from "./picker.js";
import { INT, MAX_ELEMENTS, accumulable, axis, dim, floats, fresh, nonEmpty, operand } from "./operands.js";
import type { Step } from "./steps.js";

/** Equations over the first operand's labels (its rank: the first term's length; "..." takes any). */
const EQUATIONS = [
  "ij,jk->ik", "ij,jk", "bij,bjk->bik", "ij->ji", "ij->", "ij->j", "i,i->", "i,j->ij", "ijk->kji",
  "bhqd,bhkd->bhqk", "ij,kj->ik", "...ij,...jk->...ik", "...i->...", "ii->i", "ii",
];

/** The shape of a term given sizes per label; "..." stands for `ellipsis`. */
function termShape(term: string, sizes: Map<string, number>, ellipsis: number[]): number[] {
  const out: number[] = [];
  for (const t of term.replace("...", ".")) out.push(...(t === "." ? ellipsis : [sizes.get(t)!]));
  return out;
}

const einsumStep: Step = {
  op: "Einsum", nodes: 1,
  build(b, p) {
    const eq = p.pick(EQUATIONS);
    const terms = eq.split("->")[0].split(",");
    const labels = [...new Set(eq.replace(/[^a-z]/g, ""))];
    const sizes = new Map(labels.map((l) => [l, dim(p, 9)]));
    const ellipsis = eq.includes("...") ? [...Array(p.int(3))].map(() => dim(p, 4)) : [];
    // the first operand may be an earlier value, its dims naming the labels
    const first = termShape(terms[0], sizes, ellipsis);
    const earlier = b.candidates((v) => accumulable(v) && v.shape.length === first.length);
    const x0 = earlier.length && !terms[0].includes("...") && p.chance(0.6) ? earlier[0] : undefined;
    if (x0) {
      const seen = new Map<string, number>();
      for (const [k, l] of [...terms[0]].entries()) {
        if (seen.has(l) && seen.get(l) !== x0.shape[k]) return false; // a repeated label needs equal dims
        seen.set(l, x0.shape[k]);
      }
      for (const [l, d] of seen) sizes.set(l, d);
    }
    const shapes = terms.map((t) => termShape(t, sizes, ellipsis));
    if (shapes.some((s) => size(s) > MAX_ELEMENTS) || size([...sizes.values(), ...ellipsis]) > MAX_ELEMENTS * 4) return false;
    const ops = shapes.map((s, k) => (k === 0 && x0 ? x0 : p.chance(0.5) ? b.constant("float32", s, undefined, [-1, 1]) : fresh(b, p, "float32", s)));
    if (!ops.every(accumulable)) return false;
    b.node("Einsum", ops, { equation: { type: "string", value: eq } }, { inputUlps: 2 });
    return true;
  },
};

/** A per-tensor scale (a scalar) or one per element of an axis (a 1-D tensor), positive. */
function scaleOf(b: Builder, p: Picker, x: Val): { scale: Val; attrs: Record<string, Attr>; axisSize: number[] } {
  if (x.shape.length === 0 || p.chance(0.5)) return { scale: b.constant("float32", [], () => p.pick([0.5, 0.1, 0.03125, 2, 0.0078125])), attrs: {}, axisSize: [] };
  const a = axis(p, x.shape.length);
  const n = x.shape[a.axis];
  return { scale: b.constant("float32", [n], undefined, [0.01, 0.5]), attrs: a.written !== 1 || p.chance(0.3) ? { axis: INT(a.written) } : {}, axisSize: [n] };
}

/**
 * QuantizeLinear: x / scale rounded half to even, plus the zero point, saturated. Its inputs are
 * perturbed by an ulp so an element at a rounding boundary, where x / scale and x * (1 / scale)
 * part ways, counts as unstable. No NaN (the spec gives it no integer).
 */
const quantizeStep: Step = {
  op: "QuantizeLinear", nodes: 1,
  build(b, p) {
    const ok = (v: Val) => floats(v) && !v.nan && nonEmpty(v);
    const x = operand(b, p, ok, "float32", 0, 4);
    if (!ok(x)) return false;
    const { scale, attrs, axisSize } = scaleOf(b, p, x);
    const dt = p.pick(["uint8", "int8"] as const);
    const zp = p.chance(0.7) ? b.constant(dt, axisSize, undefined, dt === "uint8" ? [0, 255] : [-128, 127]) : null;
    b.node("QuantizeLinear", zp ? [x, scale, zp] : [x, scale], attrs, { inputUlps: 1 });
    return true;
  },
};

const dequantizeStep: Step = {
  op: "DequantizeLinear", nodes: 1,
  build(b, p) {
    const q = (v: Val) => (v.dtype === "uint8" || v.dtype === "int8") && nonEmpty(v);
    const have = b.candidates(q);
    const x = have.length && p.chance(0.7) ? have[0] : b.constant(p.pick(["uint8", "int8"] as const), [dim(p), dim(p)], undefined, [-128, 255]);
    if (!q(x)) return false;
    const { scale, attrs, axisSize } = scaleOf(b, p, x);
    const zp = p.chance(0.6) ? b.constant(x.dtype, axisSize, undefined, x.dtype === "uint8" ? [0, 255] : [-128, 127]) : null;
    b.node("DequantizeLinear", zp ? [x, scale, zp] : [x, scale], attrs, {});
    return true;
  },
};

export function linearSteps(): Step[] {
  return [einsumStep, quantizeStep, dequantizeStep];
}
