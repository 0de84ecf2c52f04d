// Einsum: the equation parsed once into a loop plan (labels, their sizes, each operand's strides
// per label) that both the shape rule and the kernel use. Ellipsis dims become labels of their own,
// aligned right across operands with numpy broadcasting; a label repeated within one operand reads
// its diagonal (the strides add up); labels absent from the output are summed over.
import type { DTypeName } from "../../runtime/dtypes.js";
import type { Node } from "../ir/graph.js";
import { OpTable } from "./registry.js";

const ops = new OpTable();

export interface EinsumPlan {
  /** size of every label: output labels first (in output order), then the summed ones */
  sizes: number[];
  /** how many leading labels index the output */
  outRank: number;
  /** element strides of each input per label (0 where the label is absent or broadcast) */
  inputStrides: number[][];
  /** the label of each dim of each input (an output dim's label is its place) */
  inputLabels: number[][];
  outShape: number[];
}

const ELLIPSIS = "...";

/** Split one operand's subscript into labels, the ellipsis written as the single token "...". */
function subscripts(term: string, bad: (m: string) => never): string[] {
  const out: string[] = [];
  for (let k = 0; k < term.length;) {
    if (term.startsWith(ELLIPSIS, k)) {
      if (out.includes(ELLIPSIS)) bad(`"${term}" has more than one ellipsis`);
      out.push(ELLIPSIS);
      k += 3;
    } else if (/[A-Za-z]/.test(term[k])) out.push(term[k++]);
    else bad(`unexpected character ${JSON.stringify(term[k])} in subscript "${term}"`);
  }
  return out;
}

export function planEinsum(equation: string, shapes: readonly (readonly number[])[], bad: (m: string) => never): EinsumPlan {
  const eq = equation.replace(/\s+/g, "");
  const [lhs, rhs, extra] = eq.split("->");
  if (extra !== undefined) bad(`equation "${equation}" has more than one "->"`);
  const terms = lhs.split(",").map((t) => subscripts(t, bad));
  if (terms.length !== shapes.length) bad(`equation "${equation}" names ${terms.length} operands, the node has ${shapes.length}`);

  // ellipsis dims: label "0" is the outermost of `ellipsisRank` broadcast dims
  const ellRank = (t: string[], shape: readonly number[]) => (t.includes(ELLIPSIS) ? shape.length - (t.length - 1) : 0);
  const ellipsisRank = Math.max(0, ...terms.map((t, i) => ellRank(t, shapes[i])));
  const ellLabels = Array.from({ length: ellipsisRank }, (_, k) => String(k));
  const expanded = terms.map((t, i) => {
    const n = ellRank(t, shapes[i]);
    if (n < 0 || (!t.includes(ELLIPSIS) && t.length !== shapes[i].length)) {
      bad(`operand ${i} has rank ${shapes[i].length}; subscript "${t.join("")}" does not fit it`);
    }
    return t.flatMap((l) => (l === ELLIPSIS ? ellLabels.slice(ellipsisRank - n) : [l]));
  });

  const size = new Map<string, number>();
  expanded.forEach((labels, i) => labels.forEach((l, k) => {
    const d = shapes[i][k], s = size.get(l);
    if (s === undefined || s === 1) size.set(l, d);
    else if (d !== s && d !== 1) bad(`label ${l} has size ${s} in one place and ${d} in operand ${i}`);
  }));

  const count = new Map<string, number>();
  for (const l of expanded.flat()) count.set(l, (count.get(l) ?? 0) + 1);
  let out: string[];
  if (rhs === undefined) {
    // implicit output: the ellipsis dims, then the labels used once, in alphabetical order
    const once = [...count].filter(([l, c]) => c === 1 && !ellLabels.includes(l)).map(([l]) => l).sort();
    out = [...(terms.some((t) => t.includes(ELLIPSIS)) ? ellLabels : []), ...once];
  } else {
    out = subscripts(rhs, bad).flatMap((l) => (l === ELLIPSIS ? ellLabels : [l]));
    for (const l of out) if (!size.has(l)) bad(`output label ${l} appears in no operand`);
    if (new Set(out).size !== out.length) bad(`output subscript "${rhs}" repeats a label`);
  }
  const labels = [...out, ...[...size.keys()].filter((l) => !out.includes(l))];
  const inputStrides = expanded.map((ls, i) => {
    const shape = shapes[i];
    const own: number[] = [];
    for (let k = shape.length - 1, acc = 1; k >= 0; acc *= shape[k], k--) own[k] = acc;
    return labels.map((l) => ls.reduce((sum, x, k) => sum + (x === l && shape[k] !== 1 ? own[k] : 0), 0));
  });
  const sizes = labels.map((l) => size.get(l)!);
  const inputLabels = expanded.map((ls) => ls.map((l) => labels.indexOf(l)));
  return { sizes, outRank: out.length, inputStrides, inputLabels, outShape: sizes.slice(0, out.length) };
}

export const EINSUM_TYPES: readonly DTypeName[] = ["float32", "float64", "float16", "int32", "int64", "uint32", "uint64"];

ops.define("Einsum", (ctx) => {
  const dt = ctx.expectDType(0, EINSUM_TYPES);
  for (let i = 1; i < ctx.count; i++) if (ctx.input(i).dtype !== dt) ctx.invalid(`all Einsum inputs must have one type (${dt})`);
  const plan = planEinsum(ctx.attrs.string("equation"), ctx.inputs.map((_, i) => ctx.input(i).shape), (msg) => ctx.invalid(msg));
  return [{ dtype: dt, shape: plan.outShape }];
}, { lastChange: 13, flops: einsumFlops });

/** A multiply and an add per term of the sum: 2 x every label's size (0 where the equation does not plan) */
function einsumFlops(node: Node, inputs: readonly (readonly number[])[]): number {
  const eq = node.attrs.equation;
  if (eq?.type !== "string" || typeof eq.value !== "string") return 0;
  try {
    return 2 * planEinsum(eq.value, inputs, (msg) => { throw new Error(msg); }).sizes.reduce((a, d) => a * d, 1);
  } catch {
    return 0;
  }
}

export const EINSUM_OPS = ops.defs;
