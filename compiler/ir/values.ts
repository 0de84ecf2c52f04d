// Reading compile-time tensors as JavaScript numbers, whatever their dtype (float16, bfloat16 and
// float8 are stored as codes and the 4- and 2-bit types packed: they must be decoded).
import { sizeOf } from "../../runtime/dtypes.js";
import { decodeElements, isCoded } from "../../runtime/lowbit.js";
import type { Tensor } from "./graph.js";

export function halfToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

let halfTable: Float32Array | undefined;

/** float16 codes as float32 (exact: every float16 is a float32), by a 65,536-entry table. */
export function halfsToFloat32(codes: Uint16Array): Float32Array {
  const table = (halfTable ??= Float32Array.from({ length: 65536 }, (_, h) => halfToNumber(h)));
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = table[codes[i]];
  return out;
}

export function toNumbers(t: Tensor): number[] {
  const a = t.data as ArrayLike<number | bigint>;
  if (t.dtype === "float16") return Array.from(a, (x) => halfToNumber(Number(x)));
  // bfloat16 and float8 codes, packed 4- and 2-bit elements
  if (isCoded(t.dtype)) return decodeElements(t.dtype, t.data, sizeOf(t.dims));
  return Array.from(a, Number);
}
