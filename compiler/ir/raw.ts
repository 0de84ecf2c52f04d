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

  /** the elements for reading once: the array when built, else a view of the raw bytes where aligned, else a copy not kept */
  readOnce(): TypedArray {
    if (this.full) return this.full;
    const type = dtypeInfo(this.dtype).array, n = storageLength(this.dtype, sizeOf(this.dims));
    if (this.raw.byteOffset % type.BYTES_PER_ELEMENT === 0) return new type(this.raw.buffer, this.raw.byteOffset, n);
    const a = new type(n);
    new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(this.raw);
    return a;
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

/**
 * A big tensor in a model's external data file, kept as a reference (file, offset, length): its
 * bytes are read from the file each time something asks (tensorBytes, or `data`, a fresh array
 * each read), never kept, so a model of many gigabytes compiles and runs without holding them
 * (weights streamed under a memory budget are read when their layer runs). Passes that would
 * read every byte (cse's hash) use `ref` instead.
 */
class ExternalTensor implements Tensor {
  declare readonly data: TypedArray;
  /** `read(into)` reads the bytes into `into` when given (exactly their length), else into a new array */
  constructor(readonly dtype: DTypeName, readonly dims: number[], readonly ref: string, readonly read: (into?: Uint8Array) => Uint8Array) {
    Object.defineProperty(this, "data", { enumerable: true, get: () => {
      const raw = this.read();
      const a = new (dtypeInfo(this.dtype).array)(storageLength(this.dtype, sizeOf(this.dims)));
      new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(raw);
      return a;
    } });
  }
}

/** A tensor read from external data on demand (`ref` names the file, offset and length). */
export function externalTensor(dtype: DTypeName, dims: readonly number[], ref: string, read: (into?: Uint8Array) => Uint8Array): Tensor {
  return new ExternalTensor(dtype, [...dims], ref, read);
}

/** Write t's bytes into `into` (exactly their length): read from the file straight there for a tensor left in external data. */
export function writeTensorBytes(t: Tensor, into: Uint8Array): void {
  if (t instanceof ExternalTensor) t.read(into);
  else into.set(tensorBytes(t));
}

/** The (file, offset, length) reference of a tensor read on demand from external data, else undefined. */
export const externalRef = (t: Tensor): string | undefined => (t instanceof ExternalTensor ? t.ref : undefined);

/** Whether t is still raw bytes or a reference to external data (reading its `data` would build an array, or read the file). */
export const isLazyTensor = (t: Tensor): boolean => t instanceof RawTensor || t instanceof ExternalTensor;

/** A tensor of `dims` whose elements are `raw` (little-endian, exactly storageBytes(dtype, size) bytes). */
export function rawTensor(dtype: DTypeName, dims: readonly number[], raw: Uint8Array): Tensor {
  return new RawTensor(dtype, [...dims], raw);
}

/**
 * t's elements for one read that keeps nothing (a kernel's form of a weight computed as the weight
 * is placed, or hashed): reading `data` of a raw tensor builds its array and keeps it for the
 * graph's lifetime, which held every weight a second time while the JIT's first run placed them.
 * The array must not be written to (it may be a view of the model's bytes).
 */
export function readOnce(t: Tensor): TypedArray {
  return t instanceof RawTensor ? t.readOnce() : t.data;
}

/** The bytes of t's elements, without building its array when it is still raw. */
export function tensorBytes(t: Tensor): Uint8Array {
  if (t instanceof RawTensor) return t.raw;
  if (t instanceof ExternalTensor) return t.read();
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}
