// Input tensors for `kiln run`: arange, seeded random, or a TensorProto file.
import { dtype, sizeOf, type DTypeName, type TypedArray } from "../../../runtime/dtypes.js";
import { KilnError } from "../../../runtime/errors.js";
import { encodeElements, isCoded } from "../../../runtime/lowbit.js";

/** mulberry32: a small, seeded PRNG so `random` inputs repeat across runs. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The inputs kiln run and kiln bench make by name; anything else there is a tensor file. */
export const GENERATED_INPUTS = ["arange", "random", "ones", "zeros"] as const;

export interface InputOptions {
  /** random integers: [lo, hi] inclusive (default [0, 9], clipped to the dtype) */
  intRange?: readonly [number, number];
}

/**
 * arange: element i = i / n for floats (the ONNX runner's convention for the light models), i for
 * integers, i % 2 for bool. random: uniform in [-1, 1) for floats, [0, 10) for integers (or
 * options.intRange), seeded. Tensor files are read by the caller (testdata.ts readTensorFile).
 */
export function makeInput(kind: string, dt: DTypeName, dims: number[], seed = 0, options: InputOptions = {}): { data: TypedArray; dims: number[] } {
  const n = sizeOf(dims);
  const info = dtype(dt);
  if (!(GENERATED_INPUTS as readonly string[]).includes(kind)) {
    throw new KilnError("BAD_INPUT", `${JSON.stringify(kind)} is not an input kiln makes (${GENERATED_INPUTS.join(", ")}); read a tensor file with readTensorFile`);
  }
  // the coded types (float16, bfloat16, float8, 4- and 2-bit) are made as numbers, then encoded;
  // int64 and uint64 as numbers, then converted
  const coded = isCoded(dt);
  const values = coded || info.big ? new Float64Array(n) : (new info.array(n) as Exclude<TypedArray, BigInt64Array | BigUint64Array>);
  fill(values, kind, dt, seed, intBounds(dt, options.intRange));
  if (coded) return { data: encodeElements(dt, Array.from(values)), dims };
  if (info.big) return { data: (info.array as BigInt64ArrayConstructor).from(values, (v) => BigInt(v)), dims };
  return { data: values as TypedArray, dims };
}

/**
 * The values of makeInput, one plain loop per kind: kiln run makes its input once, in a cold
 * process, where V8 interprets this loop (a switch in the loop made SqueezeNet's 150,528 values
 * take 7-10 ms of kiln run's start).
 */
function fill(data: Exclude<TypedArray, BigInt64Array | BigUint64Array>, kind: string, dt: DTypeName, seed: number, [lo, hi]: [number, number]): void {
  const info = dtype(dt), n = data.length;
  if (kind === "arange") {
    if (info.float) for (let i = 0; i < n; i++) data[i] = i / n;
    else if (dt === "bool") for (let i = 0; i < n; i++) data[i] = i % 2;
    else for (let i = 0; i < n; i++) data[i] = i;
  } else if (kind === "random") {
    const r = rng(seed);
    if (info.float) for (let i = 0; i < n; i++) data[i] = r() * 2 - 1;
    else if (dt === "bool") for (let i = 0; i < n; i++) data[i] = r() < 0.5 ? 0 : 1;
    else for (let i = 0; i < n; i++) data[i] = lo + Math.floor(r() * (hi - lo + 1));
  } else if (kind === "ones") data.fill(1);
  // zeros: as made
}

/** Random integers' inclusive bounds: the range asked for (or [0, 9]) within what the dtype holds. */
function intBounds(dt: DTypeName, range: readonly [number, number] | undefined): [number, number] {
  const info = dtype(dt);
  const min = info.signed ? -(2 ** (info.bits - 1)) : 0;
  const max = 2 ** (info.bits - (info.signed ? 1 : 0)) - 1;
  const [lo, hi] = range ?? [0, 9];
  if (range && (lo < min || hi > max || lo > hi)) throw new KilnError("BAD_OPTION", `integer range ${lo}..${hi} does not fit ${dt} (${min}..${max})`);
  return [Math.max(lo, min), Math.min(hi, max)];
}
