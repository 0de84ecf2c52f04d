// Element types kiln understands, keyed by their ONNX names. The runtime needs this table to
// read and write tensors, so it lives here; the compiler imports it from the runtime.
//
// Storage is ONNX's: the 4- and 2-bit types (int4, uint4, float4e2m1, int2, uint2) are packed,
// 8 / bits values to a byte, element 0 in the low bits, the last byte padded with zero bits
// (ceil(n * bits / 8) bytes, `storageLength`), and held in a Uint8Array; the float8 types take
// one byte per element (Uint8Array of their codes) and bfloat16 two (Uint16Array of its bits), as
// float16 does. runtime/lowbit.ts converts codes to numbers and back.

export type DTypeName =
  | "float32" | "float64" | "float16" | "bfloat16"
  | "float8e4m3fn" | "float8e4m3fnuz" | "float8e5m2" | "float8e5m2fnuz" | "float8e8m0" | "float4e2m1"
  | "int8" | "uint8" | "int16" | "uint16" | "int32" | "uint32" | "int64" | "uint64"
  | "int4" | "uint4" | "int2" | "uint2"
  | "bool";

export type TypedArray =
  | Float32Array | Float64Array | Uint16Array
  | Int8Array | Uint8Array | Int16Array | Int32Array | Uint32Array
  | BigInt64Array | BigUint64Array;

export interface DTypeInfo {
  readonly name: DTypeName;
  /** TensorProto.DataType code */
  readonly onnx: number;
  /** bytes of one element of `array` (1 for the packed types, whose bytes hold 8 / bits elements) */
  readonly bytes: number;
  /** bits of one element: 4 and 2 for the packed types */
  readonly bits: number;
  readonly array: { new (n: number | ArrayBufferLike, byteOffset?: number, length?: number): TypedArray; BYTES_PER_ELEMENT: number };
  readonly float: boolean;
  readonly signed: boolean;
  /** true when elements are BigInt in JavaScript */
  readonly big: boolean;
}

const table: DTypeInfo[] = [
  { name: "float32", onnx: 1, bytes: 4, array: Float32Array, float: true, signed: true, big: false },
  { name: "uint8", onnx: 2, bytes: 1, array: Uint8Array, float: false, signed: false, big: false },
  { name: "int8", onnx: 3, bytes: 1, array: Int8Array, float: false, signed: true, big: false },
  { name: "uint16", onnx: 4, bytes: 2, array: Uint16Array, float: false, signed: false, big: false },
  { name: "int16", onnx: 5, bytes: 2, array: Int16Array, float: false, signed: true, big: false },
  { name: "int32", onnx: 6, bytes: 4, array: Int32Array, float: false, signed: true, big: false },
  { name: "int64", onnx: 7, bytes: 8, array: BigInt64Array, float: false, signed: true, big: true },
  { name: "bool", onnx: 9, bytes: 1, array: Uint8Array, float: false, signed: false, big: false },
  { name: "float16", onnx: 10, bytes: 2, array: Uint16Array, float: true, signed: true, big: false },
  { name: "float64", onnx: 11, bytes: 8, array: Float64Array, float: true, signed: true, big: false },
  { name: "uint32", onnx: 12, bytes: 4, array: Uint32Array, float: false, signed: false, big: false },
  { name: "uint64", onnx: 13, bytes: 8, array: BigUint64Array, float: false, signed: false, big: true },
  { name: "bfloat16", onnx: 16, bytes: 2, array: Uint16Array, float: true, signed: true, big: false },
  { name: "float8e4m3fn", onnx: 17, bytes: 1, array: Uint8Array, float: true, signed: true, big: false },
  { name: "float8e4m3fnuz", onnx: 18, bytes: 1, array: Uint8Array, float: true, signed: true, big: false },
  { name: "float8e5m2", onnx: 19, bytes: 1, array: Uint8Array, float: true, signed: true, big: false },
  { name: "float8e5m2fnuz", onnx: 20, bytes: 1, array: Uint8Array, float: true, signed: true, big: false },
  { name: "uint4", onnx: 21, bytes: 1, bits: 4, array: Uint8Array, float: false, signed: false, big: false },
  { name: "int4", onnx: 22, bytes: 1, bits: 4, array: Uint8Array, float: false, signed: true, big: false },
  { name: "float4e2m1", onnx: 23, bytes: 1, bits: 4, array: Uint8Array, float: true, signed: true, big: false },
  { name: "float8e8m0", onnx: 24, bytes: 1, array: Uint8Array, float: true, signed: false, big: false },
  { name: "uint2", onnx: 25, bytes: 1, bits: 2, array: Uint8Array, float: false, signed: false, big: false },
  { name: "int2", onnx: 26, bytes: 1, bits: 2, array: Uint8Array, float: false, signed: true, big: false },
].map((d) => ({ bits: d.bytes * 8, ...d })) as DTypeInfo[];

const byName = new Map(table.map((d) => [d.name, d]));
const byOnnx = new Map(table.map((d) => [d.onnx, d]));

/** ONNX TensorProto.DataType names for codes kiln does not handle, for error messages. */
const onnxNames: Record<number, string> = {
  0: "undefined", 8: "string", 14: "complex64", 15: "complex128",
};

export function dtype(name: DTypeName): DTypeInfo {
  const d = byName.get(name);
  if (!d) throw new Error(`unknown dtype ${name}`);
  return d;
}

export function dtypeFromOnnx(code: number): DTypeInfo | undefined {
  return byOnnx.get(code);
}

export function onnxTypeName(code: number): string {
  return byOnnx.get(code)?.name ?? onnxNames[code] ?? `type#${code}`;
}

export function isDTypeName(s: string): s is DTypeName {
  return byName.has(s as DTypeName);
}

/** True for the sub-byte types, stored 8 / bits to a byte. */
export function isPacked(name: DTypeName): boolean {
  return dtype(name).bits < 8;
}

/** Length of the typed array that holds n elements of the dtype (ceil(n * bits / 8) bytes when packed). */
export function storageLength(name: DTypeName, n: number): number {
  const d = dtype(name);
  return d.bits < 8 ? Math.ceil((n * d.bits) / 8) : n;
}

/** Bytes that n elements of the dtype take. */
export function storageBytes(name: DTypeName, n: number): number {
  return storageLength(name, n) * dtype(name).bytes;
}

export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}
