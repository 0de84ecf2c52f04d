// Tensors decoded from a model file's raw bytes, kept as those bytes until something reads `data`.
// Most weights are read once, as bytes: copied into a module's memory (the weights image, or the
// memory of the module that folds BatchNormalization into them at compile time). Decoding them
// into arrays first cost a copy of every weight (~100 MB for ResNet-50: ~50 ms, and that much more
// memory touched at load). Whoever reads `data` gets the array, built once on first read (the raw
// bytes are not viewed in place: they are the caller's model bytes, and need not be aligned).
import { dtype as dtypeInfo, sizeOf, storageLength, type DTypeName, type TypedArray } from "../../runtime/dtypes.js";
import type { Tensor } from "./graph.js";

class RawTensor implements Tensor {
  declare readonly data: TypedArray;
  private full?: TypedArray;
  constructor(readonly dtype: DTypeName, readonly dims: number[], readonly raw: Uint8Array) {
    // an own enumerable accessor, not a class getter: `{ ...t, name }` copies a tensor with its data
    Object.defineProperty(this, "data", { enumerable: true, get: () => this.array() });
  }

  private array(): TypedArray {
    if (!this.full) {
      const a = new (dtypeInfo(this.dtype).array)(storageLength(this.dtype, sizeOf(this.dims)));
      new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(this.raw);
      this.full = a;
    }
    return this.full;
  }
}

/** A tensor of `dims` whose elements are `raw` (little-endian, exactly storageBytes(dtype, size) bytes). */
export function rawTensor(dtype: DTypeName, dims: readonly number[], raw: Uint8Array): Tensor {
  return new RawTensor(dtype, [...dims], raw);
}

/** The bytes of t's elements, without building its array when it is still raw. */
export function tensorBytes(t: Tensor): Uint8Array {
  if (t instanceof RawTensor) return t.raw;
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}
