// Input tensors for `kiln run`: arange, seeded random, or a TensorProto file.
import { dtype, sizeOf, type DTypeName, type TypedArray } from "../../../runtime/dtypes.js";
import { KilnError } from "../../../runtime/errors.js";
import { encodeElements, isCoded } from "../../../runtime/lowbit.js";
import { readTensorFile } from "../testdata.js";

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

/**
 * arange: element i = i / n for floats (the ONNX runner's convention for the light models), i for
 * integers, i % 2 for bool. random: uniform in [-1, 1) for floats, [0, 10) for integers, seeded.
 */
export function makeInput(kind: string, dt: DTypeName, dims: number[], seed = 0): { data: TypedArray; dims: number[] } {
  const n = sizeOf(dims);
  const info = dtype(dt);
  if (kind !== "arange" && kind !== "random" && kind !== "zeros" && kind !== "ones") {
    const t = readTensorFile(kind);
    if (t.dtype !== dt) throw new KilnError("BAD_INPUT", `${kind} holds ${t.dtype}, the input needs ${dt}`);
    return { data: t.data, dims: t.dims };
  }
  // the low-bit types (bfloat16, float8, 4- and 2-bit) are made as numbers, then encoded
  const coded = isCoded(dt) && dt !== "float16";
  const data = (coded ? new Array<number>(n) : new info.array(n)) as unknown as (number | bigint)[];
  const r = rng(seed);
  const intSpan = Math.min(10, 2 ** (info.bits - (info.signed ? 1 : 0)));
  for (let i = 0; i < n; i++) {
    let v: number;
    switch (kind) {
      case "arange": v = info.float ? i / n : dt === "bool" ? i % 2 : i; break;
      case "random": v = info.float ? r() * 2 - 1 : dt === "bool" ? (r() < 0.5 ? 0 : 1) : Math.floor(r() * intSpan); break;
      case "ones": v = 1; break;
      default: v = 0;
    }
    data[i] = info.big ? BigInt(v) : v;
  }
  if (coded) return { data: encodeElements(dt, data as number[]), dims };
  if (dt === "float16") throw new KilnError("BAD_INPUT", "generated float16 inputs are not supported; pass a .pb file");
  return { data: data as unknown as TypedArray, dims };
}
