// The padded layout of a tensor with symbolic dims (docs/ARCHITECTURE.md "Symbolic dims"): placed
// at the upper bounds with the strides of that layout, so a run's elements sit where they would at
// the bounds. Which tensors hold a run's values as their first elements (the prefix form), and
// which reshapes keep every element where it is (so the output may share the input's bytes).
import type { DimExpr } from "../../runtime/dims.js";

/** The index of the varying dim when the tensor has the prefix form, else undefined. */
export function prefixDim(dims: readonly number[], expr: readonly DimExpr[]): number | undefined {
  const varying = expr.flatMap((e, k) => (typeof e === "number" ? [] : [k]));
  if (varying.length !== 1) return undefined;
  return dims.slice(0, varying[0]).every((d) => d === 1) ? varying[0] : undefined;
}

const sameExpr = (a: DimExpr, b: DimExpr) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Whether two shapes of the same elements (a reshape's input and output, at the bounds `dims`,
 * `expr` undefined where all dims are static) place every element of a run at the same byte: both
 * static; both in the prefix form (the run's elements first, in order); or the same varying dims,
 * each with the same static elements before it at the bounds (the static dims between them only
 * regrouped: [2, seq, 128] and [2, seq, 2, 64]).
 */
export function keepsPaddedLayout(aDims: readonly number[], aExpr: readonly DimExpr[] | undefined, bDims: readonly number[], bExpr: readonly DimExpr[] | undefined): boolean {
  if (!aExpr && !bExpr) return true;
  if (!aExpr || !bExpr) return false;
  if (prefixDim(aDims, aExpr) !== undefined && prefixDim(bDims, bExpr) !== undefined) return true;
  const varying = (dims: readonly number[], expr: readonly DimExpr[]) => {
    const out: { e: DimExpr; before: number }[] = [];
    let before = 1;
    dims.forEach((d, k) => {
      if (typeof expr[k] !== "number") out.push({ e: expr[k], before });
      before *= d;
    });
    return out;
  };
  const [va, vb] = [varying(aDims, aExpr), varying(bDims, bExpr)];
  return va.length === vb.length && va.every((v, i) => v.before === vb[i].before && sameExpr(v.e, vb[i].e));
}
