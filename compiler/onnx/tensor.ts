// TensorProto <-> Tensor, for every storage encoding ONNX allows: raw_data, the typed repeated
// fields, and external data files.
import { dtype, dtypeFromOnnx, onnxTypeName, sizeOf, storageBytes, storageLength, type TypedArray } from "../../runtime/dtypes.js";
import { KilnError } from "../../runtime/errors.js";
import type { Tensor } from "../ir/graph.js";
import { externalTensor, rawTensor } from "../ir/raw.js";

/**
 * External tensors of at least this many bytes are read from their file on demand, never kept
 * (a model past 4 GiB, streamed under a memory budget); smaller ones are read at import.
 */
let lazyExternalBytes = 64 * 2 ** 20;

/** Tests set a small threshold to exercise on-demand external tensors with small models. */
export function setLazyExternalBytes(bytes: number): void {
  lazyExternalBytes = bytes;
}
import { onnx, toBigInt, toNumber, type TensorProto } from "./proto.js";

export interface ExternalDataReader {
  /**
   * Read `length` bytes (to the end when undefined) at `offset` of the file `location`, relative
   * to the model; `tensor` names the tensor, for messages. offset and length are non-negative integers.
   * With `into` (length bytes), the bytes are read into it (a module's memory: no staging copy).
   */
  (location: string, offset: number, length: number | undefined, tensor?: string, into?: Uint8Array): Uint8Array;
}

export class UnsupportedTypeError extends Error {
  constructor(readonly typeName: string) {
    super(`element type ${typeName} is not supported`);
  }
}

export function decodeTensor(t: TensorProto, readExternal?: ExternalDataReader): Tensor {
  const code = t.dataType ?? 0;
  const info = dtypeFromOnnx(code);
  const name = t.name ?? "";
  if (!info) throw new UnsupportedTypeError(onnxTypeName(code));
  const dims = (t.dims ?? []).map((d) => toNumber(d as number));
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new KilnError("INVALID_MODEL", `tensor ${JSON.stringify(name)} has invalid dims [${dims.join(",")}]`);
  }
  const n = sizeOf(dims);
  let raw: Uint8Array | undefined;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? "", e.value ?? ""]));
    const location = kv.get("location");
    if (!location) throw new KilnError("INVALID_MODEL", `tensor ${JSON.stringify(name)} is external but names no location`);
    if (!readExternal) throw new KilnError("INVALID_MODEL", `tensor ${JSON.stringify(name)} keeps its data in ${JSON.stringify(location)}; load the model from a file path (or pass externalData) so kiln can read it`);
    const offset = byteCount(name, "offset", kv.get("offset") ?? "0");
    const length = kv.has("length") ? byteCount(name, "length", kv.get("length")!) : undefined;
    const want = n * info.bytes;
    if (length !== undefined && length !== want) {
      throw new KilnError("INVALID_MODEL", `tensor ${JSON.stringify(name)} keeps ${length} bytes in ${JSON.stringify(location)}, expected ${want} for ${info.name}[${dims.join(",")}]`);
    }
    if (want >= lazyExternalBytes) {
      // a big tensor stays in its file: checked now (the path, and that the file holds the range),
      // read when something needs its bytes (compiler/ir/raw.ts externalTensor)
      if (want > 0) readExternal(location, offset + want - 1, 1, name);
      return externalTensor(info.name, dims, `${location}@${offset}+${want}`, (into) => {
        const got = readExternal(location, offset, want, name, into);
        if (got.length !== want) throw new KilnError("INVALID_MODEL", `tensor ${JSON.stringify(name)}: external data ${JSON.stringify(location)} gave ${got.length} bytes, expected ${want}`);
        if (into && got !== into) into.set(got); // a caller's reader may not read into it
        return into ?? got;
      });
    }
    raw = readExternal(location, offset, length, name);
  } else if (t.rawData && t.rawData.length > 0) {
    raw = t.rawData;
  }
  if (raw) {
    const want = storageBytes(info.name, n); // packed 4- and 2-bit types: ceil(n * bits / 8)
    if (raw.length !== want) {
      throw new KilnError("INVALID_MODEL", `tensor ${JSON.stringify(name)} has ${raw.length} bytes of data, expected ${want} for ${info.name}[${dims.join(",")}]`);
    }
    return rawTensor(info.name, dims, raw); // an array only when something reads its data
  }
  // packed types keep one byte (two or four elements) per int32_data entry; the count is checked
  // against the data before the array is allocated: dims of [1e9, 1e9] with no data are a wrong
  // model, not a 4 EB allocation
  const len = storageLength(info.name, n);
  let data: TypedArray | undefined;
  const fill = (src: ArrayLike<unknown>, conv: (x: unknown) => number | bigint) => {
    if (src.length !== len) {
      const what = len === n ? "elements" : "packed bytes";
      throw new KilnError("INVALID_MODEL", `tensor ${JSON.stringify(name)} has ${src.length} ${what}, expected ${len} for ${info.name}[${dims.join(",")}]`);
    }
    data = new info.array(len);
    for (let i = 0; i < len; i++) (data as unknown as (number | bigint)[])[i] = conv(src[i]);
  };
  const num = (x: unknown) => Number(x);
  switch (info.name) {
    case "float32": fill(t.floatData ?? [], num); break;
    case "float64": fill(t.doubleData ?? [], num); break;
    case "int64": fill(t.int64Data ?? [], (x) => toBigInt(x as number)); break;
    case "uint64": fill(t.uint64Data ?? [], (x) => BigInt.asUintN(64, toBigInt(x as number))); break;
    case "uint32": fill(t.uint64Data ?? [], (x) => Number(BigInt.asUintN(32, toBigInt(x as number)))); break;
    // int8..int32, uint8, uint16, bool; the bits of float16 and bfloat16, the float8 codes, packed bytes
    default: fill(t.int32Data ?? [], num); break;
  }
  return { dtype: info.name, dims, data: data! };
}

/** An external data offset or length: a decimal non-negative integer (ONNX stores them as strings). */
function byteCount(tensor: string, key: string, text: string): number {
  const v = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(v)) {
    throw new KilnError("INVALID_MODEL", `tensor ${JSON.stringify(tensor)}: external data ${key} ${JSON.stringify(text)} is not a non-negative integer`);
  }
  return v;
}

export function encodeTensor(name: string, t: Tensor): TensorProto {
  const info = dtype(t.dtype);
  const a = t.data as TypedArray;
  return {
    name,
    dataType: info.onnx,
    dims: t.dims,
    rawData: new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)),
  };
}
