// Choosing what a step reads: an existing value (the newest first, so graphs grow as chains and
// small DAGs), a new graph input or a new initializer, of shapes that fit the op.
import type { DTypeName } from "../../runtime/dtypes.js";
import type { Attr } from "../../compiler/ir/graph.js";
import { isFloat, size, type Builder, type DataKind, type Val } from "./graph.js";
import type { Picker } from "./picker.js";

/** The most elements a value may have: small graphs stay fast to compile and to run. */
export const MAX_ELEMENTS = 2048;

/** Odd sizes come first: a shrunk dimension is 1, then 3, 5, 7 (SIMD tails); larger ones are rarer. */
const SMALL = [1, 3, 5, 7, 2, 4, 6];
const LARGE = [8, 9, 11, 13, 16, 17];

export function dim(p: Picker, max = 17): number {
  const fit = (p.chance(0.2) ? LARGE : SMALL).filter((d) => d <= max);
  return fit.length ? p.pick(fit) : 1;
}

/** A shape of rank in [minRank, maxRank] and at most MAX_ELEMENTS elements. */
export function shape(p: Picker, minRank = 0, maxRank = 4, maxDim = 17): number[] {
  const r = p.range(minRank, maxRank);
  const s: number[] = [];
  for (let k = 0; k < r; k++) s.push(dim(p, Math.max(1, Math.min(maxDim, Math.floor(MAX_ELEMENTS / size(s))))));
  return s;
}

export const INT = (value: number): Attr => ({ type: "int", value });
export const FLOAT = (value: number): Attr => ({ type: "float", value });
export const INTS = (value: number[]): Attr => ({ type: "ints", value });
export const STRING = (value: string): Attr => ({ type: "string", value });

const FLOAT_KINDS: DataKind[] = ["unit", "edges", "specials", "positive", "wide"];

/** A new graph input (or, when the graph has four, a new initializer) of the dtype and shape. */
export function fresh(b: Builder, p: Picker, dt: DTypeName, s: number[]): Val {
  const kind: DataKind = dt === "bool" ? "bools" : isFloat({ dtype: dt }) ? p.pick(FLOAT_KINDS) : "ints";
  // the first operand of a graph is an input: a graph of constants alone folds away entirely
  return (p.chance(0.3) && b.hasInput ? undefined : b.input(dt, s, kind)) ?? b.constant(dt, s, undefined, dt === "bool" ? [0, 1] : isFloat({ dtype: dt }) ? [-2, 2] : [-6, 6]);
}

/**
 * A value to read: an existing one that passes `ok` (usually), else a new input or initializer
 * of the dtype with a random shape of rank in [minRank, maxRank].
 */
export function operand(b: Builder, p: Picker, ok: (v: Val) => boolean, dt: DTypeName = "float32", minRank = 0, maxRank = 4): Val {
  const have = b.candidates((v) => ok(v) && v.shape.length >= minRank && v.shape.length <= maxRank && size(v.shape) <= MAX_ELEMENTS);
  // mostly the newest value (chains), sometimes an older one (DAGs), rarely a new input
  if (have.length && !p.chance(0.1)) return p.chance(0.6) ? have[0] : have[p.int(Math.min(have.length, 5))];
  return fresh(b, p, dt, shape(p, minRank, maxRank));
}

export const floats = (v: Val) => v.dtype === "float32";

/**
 * What a sum may read (a dot product, a convolution, a reduction, a norm): float32 without finite
 * values so large that two of them overflow (infinities and NaN are fine: inf + x, inf - inf
 * and NaN + x do not depend on the order of the additions; 3e38 + 3e38 - 3e38 does).
 */
export const accumulable = (v: Val) => floats(v) && v.lo > -1e18 && v.hi < 1e18 && nonEmpty(v);

/**
 * Whether a Conv window may run on kiln's Winograd variants (3x3, stride 1, dilation 1, 2-D: kiln
 * picks them from 8 channels on, and the test forces them in some batches). Their input transform
 * subtracts neighbouring inputs, so an infinite input gives NaN (inf - inf) where the direct sum
 * gives +-inf: a property of the algorithm, which kiln has chosen. Such a Conv reads no
 * infinities here (NaN gives NaN either way).
 */
export const winogradWindow = (kernel: readonly number[], strides: readonly number[] = [], dilations: readonly number[] = []) =>
  kernel.length === 2 && kernel.every((k) => k === 3) && strides.every((s) => s === 1) && dilations.every((d) => d === 1);

/**
 * onnxruntime's kernels beyond the elementwise ones refuse or mis-shape many empty tensors (pools:
 * "only N can be zero"; reductions: wrong dims): the steps for them read non-empty values.
 */
export const nonEmpty = (v: Val) => size(v.shape) > 0;

/** A shape that broadcasts with `s`: `s` itself, a suffix, some dims set to 1, or one with extra leading dims. */
export function broadcastShape(p: Picker, s: readonly number[]): number[] {
  switch (p.int(5)) {
    case 0: return [...s];
    case 1: return s.slice(p.int(s.length + 1));
    case 2: return s.map((d) => (p.chance(0.5) ? 1 : d));
    case 3: {
      // a new leading dim, up to rank 5: a rank-5 shape keeps its own dims (prepending and cutting
      // to 5 shifted them, so the partner did not broadcast: seed 23's Where of [2,1,2,6,1] and [4,2,1,2,6])
      const lead = dim(p, 4);
      return (s.length < 5 ? [lead, ...s] : [...s]).map((d, k) => (k === 0 || !p.chance(0.3) ? d : 1));
    }
    default: return s.length ? s.map((d, k) => (k === s.length - 1 && p.chance(0.5) ? d : 1)) : [];
  }
}

/** Whether two shapes broadcast together (numpy rules). */
export function broadcasts(a: readonly number[], b: readonly number[]): boolean {
  for (let k = 1; k <= Math.min(a.length, b.length); k++) {
    const x = a[a.length - k], y = b[b.length - k];
    if (x !== y && x !== 1 && y !== 1) return false;
  }
  return true;
}

export function broadcastOf(...shapes: (readonly number[])[]): number[] {
  const r = Math.max(0, ...shapes.map((s) => s.length));
  return Array.from({ length: r }, (_, k) => Math.max(...shapes.map((s) => s[s.length - r + k] ?? 1)));
}

/**
 * A second operand for `a`: an existing value that broadcasts with it (so two branches of the
 * graph meet), or a new input or initializer of a shape that broadcasts.
 */
export function partner(b: Builder, p: Picker, a: Val, ok: (v: Val) => boolean): Val {
  const have = b.candidates((v) => v !== a && ok(v) && broadcasts(v.shape, a.shape) && size(broadcastOf(v.shape, a.shape)) <= MAX_ELEMENTS);
  const pick = p.int(8);
  if (pick === 7) return a; // the same value twice (x + x, x < x)
  if (have.length && pick < 3) return have[pick % have.length];
  const s = broadcastShape(p, a.shape);
  if (size(broadcastOf(s, a.shape)) > MAX_ELEMENTS) return fresh(b, p, a.dtype, [...a.shape]);
  if (pick === 6) return splat(b, p, a.dtype, s);
  return fresh(b, p, a.dtype, s);
}

/** A constant holding one value in every element (kiln keeps these as splats). */
export function splat(b: Builder, p: Picker, dt: DTypeName, s: number[]): Val {
  const x = isFloat({ dtype: dt }) ? p.pick([0.5, 2, -1, 0, 1, 3, -0.25, 1e-3]) : dt === "bool" ? p.int(2) : p.pick([1, 2, -1, 3, 0]);
  return b.constant(dt, s, () => x);
}

/** A normalized axis in [0, rank), written negative half the time. */
export function axis(p: Picker, rank: number): { axis: number; written: number } {
  const a = p.int(rank);
  return { axis: a, written: p.chance(0.5) ? a - rank : a };
}

/** Some axes of a rank (at least one when `nonEmpty`), written negative some of the time, in random order. */
export function axesOf(p: Picker, rank: number, nonEmpty = true): { axes: number[]; written: number[] } {
  let axes = [...Array(rank).keys()].filter(() => p.chance(0.5));
  if (nonEmpty && axes.length === 0 && rank > 0) axes = [p.int(rank)];
  const written = axes.map((a) => (p.chance(0.3) ? a - rank : a));
  if (p.chance(0.3)) written.reverse();
  return { axes, written };
}

/** Attributes given half the time (else the op's defaults). */
export function maybe(p: Picker, attrs: () => Record<string, Attr>): Record<string, Attr> {
  return p.chance(0.5) ? attrs() : {};
}
