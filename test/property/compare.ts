// Compare kiln's output with onnxruntime's, element by element, with a tolerance of
//   atol + rtol * |reference| + SPREAD * (how far onnxruntime's answer moved when the graph's
//   inexact places were perturbed by their ulps, graph.ts Facts)
// NaN equals NaN and -0 equals 0. An element whose perturbed answers differ in kind (NaN in one,
// a number in another; a different boolean, integer or infinity) sits on a discontinuity the
// legitimate rounding differences can cross; one whose perturbed answers move by more than 1% is
// ill-conditioned (a few ulps upstream decide it: sin of a huge argument, a difference of nearly
// equal values). Both are counted as unstable and not compared.
import type { Tensor } from "../../compiler/ir/graph.js";
import { halfToNumber } from "../../compiler/ir/values.js";

export interface Tolerance {
  rtol: number;
  atol: number;
}

export const BASE_TOLERANCE: Tolerance = { rtol: 1e-4, atol: 1e-5 };
/** how many times the perturbation spread an element may differ by */
export const SPREAD = 2;
/** a relative spread beyond which an element is ill-conditioned (not compared) */
export const ILL_CONDITIONED = 0.01;

export interface Comparison {
  compared: number;
  unstable: number;
  /** the first element out of tolerance, described */
  message?: string;
}

function numbers(t: Tensor): number[] {
  const a = Array.from(t.data as ArrayLike<number | bigint>, Number);
  return t.dtype === "float16" ? a.map(halfToNumber) : a;
}

const kind = (x: number) => (Number.isNaN(x) ? "nan" : x === Infinity ? "+inf" : x === -Infinity ? "-inf" : "num");

export function compareOutput(got: Tensor, ref: Tensor, perturbed: readonly Tensor[], tol: Tolerance = BASE_TOLERANCE): Comparison {
  const dims = (t: Tensor) => `[${t.dims.join(",")}]`;
  if (dims(got) !== dims(ref)) return { compared: 0, unstable: 0, message: `dims ${dims(got)}, expected ${dims(ref)}` };
  if (got.dtype !== ref.dtype) return { compared: 0, unstable: 0, message: `dtype ${got.dtype}, expected ${ref.dtype}` };
  const g = numbers(got), w = numbers(ref), ps = perturbed.map(numbers);
  const float = ref.dtype === "float32" || ref.dtype === "float64" || ref.dtype === "float16";
  let compared = 0, unstable = 0;
  for (let i = 0; i < w.length; i++) {
    const stable = ps.every((p) => (float ? kind(p[i]) === kind(w[i]) : p[i] === w[i]));
    if (!stable) {
      unstable++;
      continue;
    }
    compared++;
    if (!float) {
      if (g[i] !== w[i]) return { compared, unstable, message: `element ${i}: got ${g[i]}, expected ${w[i]}` };
      continue;
    }
    const spread = kind(w[i]) === "num" ? Math.max(0, ...ps.map((p) => Math.abs(p[i] - w[i]))) : 0;
    if (spread > ILL_CONDITIONED * Math.abs(w[i]) && spread > tol.atol) {
      compared--;
      unstable++;
      continue;
    }
    if (kind(g[i]) !== kind(w[i])) return { compared, unstable, message: `element ${i}: got ${g[i]}, expected ${w[i]}` };
    if (kind(w[i]) !== "num") continue;
    const err = Math.abs(g[i] - w[i]);
    const allowed = tol.atol + tol.rtol * Math.abs(w[i]) + SPREAD * spread;
    if (!(err <= allowed)) {
      return { compared, unstable, message: `element ${i}: got ${g[i]}, expected ${w[i]} (error ${err.toPrecision(3)}, allowed ${allowed.toPrecision(3)}, perturbation spread ${spread.toPrecision(3)})` };
    }
  }
  return { compared, unstable };
}
