// Reading compile-time tensors as JavaScript numbers, whatever their dtype (float16, bfloat16 and
// float8 are stored as codes and the 4- and 2-bit types packed: they must be decoded).
import { sizeOf } from "../../runtime/dtypes.js";
import { decodeElements, encodeValue, isCoded } from "../../runtime/lowbit.js";
import type { Tensor } from "./graph.js";

export function halfToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** the least and greatest magnitudes of a normal float16 */
const HALF_MIN_NORMAL = 2 ** -14, HALF_MAX = 65504;

/**
 * x rounded to the nearest float16 value (ties to even) where that is 0 or a normal float16
 * (2^-14 <= |x| <= 65504, within 2^-11 of x relatively); x itself elsewhere. Quantization scales
 * so rounded can be stored as float16 (exactHalfCodes) at half the bytes and no loss.
 */
export function nearestNormalHalf(x: number): number {
  const a = Math.abs(x);
  return a < HALF_MIN_NORMAL || a > HALF_MAX ? x : halfToNumber(encodeValue("float16", x));
}

/**
 * The float16 codes of float32 values (as bits) when each is exactly a float16 value (zeros,
 * subnormals and infinities included; no NaN), else undefined: the widening gives the same bits back.
 */
export function exactHalfBits(bits: Uint32Array): Uint16Array | undefined {
  const codes = new Uint16Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const u = bits[i], sign = (u >>> 16) & 0x8000, e = (u >>> 23) & 0xff, mant = u & 0x7fffff;
    let code: number;
    if (e === 0 && mant === 0) code = sign;
    else if (e === 255) { if (mant) return undefined; code = sign | 0x7c00; }
    else if (e >= 113 && e <= 142) { if (mant & 0x1fff) return undefined; code = sign | ((e - 112) << 10) | (mant >>> 13); }
    else if (e >= 103 && e < 113) {
      const full = mant | 0x800000, shift = 126 - e;
      if (full & ((1 << shift) - 1)) return undefined;
      code = sign | (full >>> shift);
    } else return undefined;
    codes[i] = code;
  }
  return codes;
}

/** The float16 codes of `values` when every one of them is exactly 0 or a normal float16, else undefined. */
export function exactHalfCodes(values: Float32Array): Uint16Array | undefined {
  const codes = exactHalfBits(new Uint32Array(values.buffer, values.byteOffset, values.length));
  // exponent bits 0 (zeros kept, subnormals not) and 31 (infinities) out
  return codes?.every((h) => (h & 0x7fff) === 0 || ((h & 0x7c00) !== 0 && (h & 0x7c00) !== 0x7c00)) ? codes : undefined;
}

let halfTable: Float32Array | undefined;

/** float16 codes as float32 (exact: every float16 is a float32), by a 65,536-entry table. */
export function halfsToFloat32(codes: Uint16Array): Float32Array {
  const table = (halfTable ??= Float32Array.from({ length: 65536 }, (_, h) => halfToNumber(h)));
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = table[codes[i]];
  return out;
}

/**
 * How a float32 tensor comes from float16 codes, exactly: a compact artifact stores the codes (half
 * the bytes) and the module computes the tensor as it places the weight (codegen/derive.ts).
 */
export interface HalfSource {
  /** float16 codes, one per element of the tensor, in its element order */
  codes: Uint16Array;
  /** then element k times factors[floor(k / inner) % factors.length], rounded to float32 once (a folded BatchNormalization) */
  scale?: { factors: Float32Array; inner: number };
}

const halfSources = new WeakMap<Tensor, HalfSource>();

/**
 * A float32 tensor of float16 codes, widened exactly, that remembers the codes (see HalfSource). A
 * pass that computes a new tensor from it makes one without them, stored as float32, unless it
 * says how (halfScaled, halfTransposed).
 */
export function widenedHalfs(dims: readonly number[], codes: Uint16Array): Tensor {
  const t: Tensor = { dtype: "float32", dims: [...dims], data: halfsToFloat32(codes) };
  halfSources.set(t, { codes });
  return t;
}

/** How `t` comes from float16 codes, if it does. */
export function halfSourceOf(t: Tensor): HalfSource | undefined {
  return halfSources.get(t);
}

/** `scaled` is `base` times factors[floor(k / inner) % factors.length], each product rounded to float32 (compiler/ir/scaled.ts) */
export function halfScaled(scaled: Tensor, base: Tensor, factors: Float32Array, inner: number): void {
  const src = halfSources.get(base);
  if (src && !src.scale) halfSources.set(scaled, { codes: src.codes, scale: { factors, inner } });
}

/** `t` is the [rows, cols] matrix `w` transposed (passes/layout-nhwc.ts's 1x1 weights) */
export function halfTransposed(t: Tensor, w: Tensor, rows: number, cols: number): void {
  const src = halfSources.get(w);
  if (!src) return;
  const { codes, scale } = src;
  // a scale along the rows (the output channels) runs along the columns of the transpose: period 1
  if (scale && scale.factors.length !== 1 && !(scale.inner === cols && scale.factors.length === rows)) return;
  const moved = new Uint16Array(codes.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) moved[c * rows + r] = codes[r * cols + c];
  halfSources.set(t, { codes: moved, ...(scale ? { scale: scale.factors.length === 1 ? { factors: scale.factors, inner: codes.length } : { factors: scale.factors, inner: 1 } } : {}) });
}

export function toNumbers(t: Tensor): number[] {
  const a = t.data as ArrayLike<number | bigint>;
  if (t.dtype === "float16") return Array.from(a, (x) => halfToNumber(Number(x)));
  // bfloat16 and float8 codes, packed 4- and 2-bit elements
  if (isCoded(t.dtype)) return decodeElements(t.dtype, t.data, sizeOf(t.dims));
  return Array.from(a, Number);
}
