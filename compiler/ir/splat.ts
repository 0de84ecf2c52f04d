// Splat constants: a tensor whose elements all hold one value, kept as that value and its dims
// until something reads `data`. ConstantOfShape makes them (the shared light models build every
// weight that way: ~100 MB for ResNet-50), and elementwise arithmetic over splats gives splats
// again, so folding, CSE and the weights image can work on one element instead of millions.
// Whoever reads `data` gets the full array, built once on first read: code that knows nothing
// of splats sees an ordinary tensor.
import { dtype as dtypeInfo, sizeOf, type DTypeName, type TypedArray } from "../../runtime/dtypes.js";
import { packCodes } from "../../runtime/lowbit.js";
import type { Tensor } from "./graph.js";

class SplatTensor implements Tensor {
  private full?: TypedArray;
  constructor(readonly dtype: DTypeName, readonly dims: number[], readonly one: TypedArray) {}

  get data(): TypedArray {
    if (!this.full) {
      const n = sizeOf(this.dims);
      const a = new (dtypeInfo(this.dtype).array)(n);
      if (n) (a as { fill(v: number | bigint): unknown }).fill(this.one[0]);
      this.full = a;
    }
    return this.full;
  }
}

/** A tensor of `dims` whose every element is `value[0]` (a one-element array of the dtype's kind). */
export function splatTensor(dtype: DTypeName, dims: readonly number[], value: TypedArray): Tensor {
  // packed 4- and 2-bit elements share bytes: no one-element unit to repeat, so the full tensor
  if (dtypeInfo(dtype).bits < 8) return { dtype, dims: [...dims], data: packCodes(dtype, new Array<number>(sizeOf(dims)).fill(Number(value[0]))) };
  const one = new (dtypeInfo(dtype).array)(1);
  one.set(value.subarray(0, 1) as never);
  return new SplatTensor(dtype, [...dims], one);
}

/**
 * The one-element value of a tensor known to be a splat (made by splatTensor, or holding at most
 * one element), else undefined. Never builds the full array of a splat.
 */
export function splatValue(t: Tensor): TypedArray | undefined {
  if (t instanceof SplatTensor) return t.one;
  if (sizeOf(t.dims) === 1) return t.data.subarray(0, 1);
  return undefined;
}

/** True when t is a lazily held splat (its full array may not exist). */
export const isLazySplat = (t: Tensor): boolean => t instanceof SplatTensor;

/** The bytes of one element of a splat. */
export function splatBytes(value: TypedArray): Uint8Array {
  return new Uint8Array(value.buffer, value.byteOffset, value.BYTES_PER_ELEMENT);
}

/**
 * Fill `into` with the element `unit` repeated: one element written, then the filled prefix
 * copied over the rest doubling each time (memcpy speed, and no alignment needed).
 */
export function fillRepeated(into: Uint8Array, unit: Uint8Array): void {
  if (into.length === 0) return;
  into.set(unit.subarray(0, Math.min(unit.length, into.length)));
  for (let done = unit.length; done < into.length; done *= 2) into.copyWithin(done, 0, Math.min(done, into.length - done));
}
