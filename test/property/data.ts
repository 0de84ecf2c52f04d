// The data a random graph runs on: each graph input holds values of its kind (graph.ts
// DataKind), drawn from the batch's seed; "edges" sprinkles the values where implementations
// part ways (signed zeros, infinities, NaN, the largest and tiniest floats, subnormals).
import { dtype as dtypeInfo, type TypedArray } from "../../runtime/dtypes.js";
import type { Tensor } from "../../compiler/ir/graph.js";
import { rng } from "../../compiler/driver/cli/inputs.js";
import { KIND_RANGE, size, type InputRec, type Perturbation } from "./graph.js";

export const EDGES = [0, -0, Infinity, -Infinity, NaN, 3.4028234663852886e38, -3.4028234663852886e38, 1e30, -1e30,
  1e-30, -1e-30, 1e-40, -1e-40, 1, -1, 0.5, -0.5, 65504, 2, -2];
/** the edges a sum may take in any order: no finite value large enough to overflow one */
export const SPECIALS = [0, -0, Infinity, -Infinity, NaN, 1e-30, -1e-30, 1e-40, -1e-40, 1, -1, 0.5, -0.5, 2, -2];

export function inputData(input: InputRec, seed: number): Tensor {
  const r = rng(seed);
  const info = dtypeInfo(input.dtype);
  const n = size(input.shape);
  const data = new info.array(n) as TypedArray;
  const edges = input.kind === "edges" ? EDGES : input.kind === "specials" ? SPECIALS : undefined;
  const [lo, hi] = edges ? KIND_RANGE.unit : KIND_RANGE[input.kind];
  for (let i = 0; i < n; i++) {
    let x = lo + r() * (hi - lo);
    if (edges && r() < 0.3) x = edges[Math.floor(r() * edges.length)];
    if (input.kind === "bools") x = r() < 0.5 ? 0 : 1;
    else if (!info.float) x = Math.round(x);
    (data as unknown as (number | bigint)[])[i] = info.big ? BigInt(x) : x;
  }
  return { dtype: input.dtype, dims: [...input.shape], data };
}

/**
 * The modes of the tolerance runs for `count` perturbed elements (of all perturbation inputs):
 * 1 to 4, then two per bit of an element's index among them (see perturbationData).
 */
export function perturbedModes(count: number): number[] {
  const bits = Math.max(1, Math.ceil(Math.log2(Math.max(count, 2))));
  return [1, 2, 3, 4, ...Array.from({ length: 2 * bits }, (_, k) => 5 + k)];
}

/**
 * The perturbation inputs of one tolerance run (mode 0: the reference, factors 1 and terms 0).
 * Each element moves by u ulps: of itself (a factor 1 + u * 2^-23) or of 1 (a term u * 2^-24),
 * where u is +ulps (mode 1), -ulps (mode 2: these two find the thresholds a monotone error
 * crosses), +-ulps at random (mode 3) or uniform in [-ulps, ulps] (mode 4). From mode 5 on, the
 * sign follows bit (mode - 5) >> 1 of the element's index among all perturbed elements (`first`:
 * this input's first), flipped in every other mode: any two perturbed values move apart in some
 * run, so a comparison of two nearly equal inexact values (Greater(Y_c, Y_h) of a saturated LSTM,
 * TopK of two sigmoids that round to 1 or just below) is found unstable, not left to luck.
 */
export function perturbationData(p: Perturbation, mode: number, seed: number, first = 0): Tensor {
  const r = rng(seed);
  const n = size(p.shape);
  const data = new Float32Array(n);
  const bit = (mode - 5) >> 1;
  const bitSign = (i: number) => ((Math.floor((first + i) / 2 ** bit) & 1) ^ (mode & 1) ? 1 : -1);
  for (let i = 0; i < n; i++) {
    const u = mode === 0 ? 0 : mode === 1 ? p.ulps : mode === 2 ? -p.ulps : mode === 3 ? (r() < 0.5 ? -p.ulps : p.ulps) : mode === 4 ? Math.round((2 * r() - 1) * p.ulps) : bitSign(i) * p.ulps;
    data[i] = p.additive ? u * (p.tiny ? 2 ** -149 : 2 ** -24) : 1 + u * 2 ** -23;
  }
  return { dtype: "float32", dims: [...p.shape], data };
}
