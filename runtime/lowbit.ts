// Numbers <-> stored codes for the dtypes JavaScript has no typed array for: bfloat16, the float8
// family, float4e2m1 and the packed 4- and 2-bit integers (float16 too, by the same rule). A
// caller feeding such a tensor passes its codes as kiln stores them (dtypes.ts); these helpers
// make them from numbers and read them back:
//
//   encodeElements("int4", [1, -2, 7])        -> Uint8Array [0xe1, 0x07]   (two per byte, low first)
//   decodeElements("float8e4m3fn", out.data)  -> numbers
//
// Rounding is the ONNX Cast's (onnx/reference/ops/op_cast.py, which generates the node tests):
// to nearest even; float8 saturates unless `saturate: false` (then overflow gives NaN, or Inf for
// float8e5m2); float8e8m0 rounds up unless told `down` or `nearest`; float4e2m1 always saturates;
// integers truncate toward zero and keep their low bits. codegen/lowbit.ts computes the same in wasm.
import { dtype, storageLength, type DTypeName, type TypedArray } from "./dtypes.js";

/**
 * A small binary float: sign, `e` exponent bits, `m` mantissa bits. `kind` says what the top
 * codes mean: ieee (all-ones exponent is Inf / NaN), fn (no Inf; all-ones magnitude is NaN), fnuz
 * (no Inf, no -0; the code of -0 is the one NaN), finite (no Inf, no NaN).
 */
export interface Minifloat {
  readonly e: number;
  readonly m: number;
  readonly bias: number;
  readonly kind: "ieee" | "fn" | "fnuz" | "finite";
}

export const MINIFLOATS: Partial<Record<DTypeName, Minifloat>> = {
  float16: { e: 5, m: 10, bias: 15, kind: "ieee" },
  bfloat16: { e: 8, m: 7, bias: 127, kind: "ieee" },
  float8e4m3fn: { e: 4, m: 3, bias: 7, kind: "fn" },
  float8e4m3fnuz: { e: 4, m: 3, bias: 8, kind: "fnuz" },
  float8e5m2: { e: 5, m: 2, bias: 15, kind: "ieee" },
  float8e5m2fnuz: { e: 5, m: 2, bias: 16, kind: "fnuz" },
  float4e2m1: { e: 2, m: 1, bias: 1, kind: "finite" },
};

/** The codes a minifloat format reserves. */
export function minifloatCodes(f: Minifloat) {
  const sign = 2 ** (f.e + f.m);
  const expOnes = (2 ** f.e - 1) * 2 ** f.m;
  const maxCode = f.kind === "ieee" ? expOnes - 1 : f.kind === "fn" ? sign - 2 : sign - 1;
  return {
    sign,
    maxCode,
    inf: f.kind === "ieee" ? expOnes : undefined,
    /** the NaN a conversion writes for a NaN of sign bit `neg` (float4e2m1 has none: see nanOf) */
    nan: (neg: boolean): number => {
      switch (f.kind) {
        case "ieee": return expOnes + 2 ** (f.m - 1) + (neg ? sign : 0);
        case "fn": return sign - 1 + (neg ? sign : 0);
        case "fnuz": return sign;
        // the reference (ml_dtypes) gives the zero of the other sign; the ONNX float4 note says 6
        case "finite": return neg ? 0 : sign;
      }
    },
  };
}

/** The value of a minifloat code. */
export function decodeMinifloat(f: Minifloat, code: number): number {
  const { sign } = minifloatCodes(f);
  const mag = code & (sign - 1);
  const neg = (code & sign) !== 0;
  if (f.kind === "fnuz" && code === sign) return NaN;
  if (f.kind === "fn" && mag === sign - 1) return NaN;
  const ex = Math.floor(mag / 2 ** f.m);
  const mt = mag % 2 ** f.m;
  if (f.kind === "ieee" && ex === 2 ** f.e - 1) return mt ? NaN : neg ? -Infinity : Infinity;
  const v = ex === 0 ? mt * 2 ** (1 - f.bias - f.m) : (1 + mt / 2 ** f.m) * 2 ** (ex - f.bias);
  return neg ? -v : v;
}

const roundHalfEven = (n: number): number => {
  const f = Math.floor(n);
  const d = n - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
};

/** floor(log2(a)) for a finite a > 0, exactly. */
function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  return e;
}

/**
 * The code of v rounded to nearest even in the format. Overflow saturates to the largest finite
 * value when `saturate` (always for `finite` formats), else gives Inf (ieee) or NaN.
 */
export function encodeMinifloat(f: Minifloat, v: number, saturate: boolean): number {
  const c = minifloatCodes(f);
  const neg = v < 0 || Object.is(v, -0);
  if (Number.isNaN(v)) return c.nan(neg);
  const a = Math.abs(v);
  const minExp = 1 - f.bias;
  const q = a === Infinity ? 1 : 2 ** (Math.max(a === 0 ? minExp : exponentOf(a), minExp) - f.m);
  const r = a === Infinity ? Infinity : roundHalfEven(a / q) * q;
  const s = neg ? c.sign : 0;
  if (r > decodeMinifloat(f, c.maxCode)) {
    if (saturate || f.kind === "finite") return c.maxCode + s;
    return c.inf !== undefined ? c.inf + s : c.nan(neg);
  }
  let code: number;
  if (r < 2 ** minExp) code = r / 2 ** (minExp - f.m);
  else {
    const ex = exponentOf(r);
    code = (ex + f.bias) * 2 ** f.m + (r / 2 ** ex - 1) * 2 ** f.m;
  }
  return f.kind === "fnuz" && code === 0 ? 0 : code + s;
}

export type E8M0Rounding = "up" | "down" | "nearest";

/** float8e8m0 (2^(code - 127), 255 is NaN) */
export function decodeE8M0(code: number): number {
  return code === 255 ? NaN : 2 ** (code - 127);
}

/**
 * float8e8m0 from a float32 value's bits, as the ONNX reference computes it (numpy_helper
 * to_float8e8m0): the float32 exponent field, rounded by the mantissa; NaN and Inf give 255;
 * saturate keeps 254 from rounding up into 255. The sign is ignored (negative inputs are
 * unspecified).
 */
export function encodeE8M0Bits(bits: number, saturate: boolean, round: E8M0Rounding): number {
  let e = (bits >>> 23) & 0xff;
  if (e === 0xff) return 0xff;
  let up = false;
  if (round === "up") up = (bits & 0x7fffff) !== 0;
  else if (round === "nearest") {
    const g = (bits & 0x400000) !== 0;
    const rest = (bits & 0x3fffff) !== 0;
    up = g && (rest || e > 0);
  }
  if (up && !(saturate && e === 0xfe)) e++;
  return e & 0xff;
}

const f32bits = (v: number): number => new Uint32Array(Float32Array.of(v).buffer)[0];

export interface EncodeOptions {
  /** float8 only (default true): clamp overflow to the largest finite value */
  saturate?: boolean;
  /** float8e8m0 only (default "up") */
  round?: E8M0Rounding;
}

/** The value of element code `code` of dt (for packed types, one element's bits). */
export function decodeValue(dt: DTypeName, code: number): number {
  const f = MINIFLOATS[dt];
  if (f) return decodeMinifloat(f, code);
  if (dt === "float8e8m0") return decodeE8M0(code);
  const { bits, signed } = dtype(dt);
  if (bits < 8) return signed && code >= 2 ** (bits - 1) ? code - 2 ** bits : code;
  return code;
}

/** The code of v in dt, rounded as Cast rounds (see the header). */
export function encodeValue(dt: DTypeName, v: number, opts: EncodeOptions = {}): number {
  const f = MINIFLOATS[dt];
  // only the float8 types saturate; bfloat16 and float16 overflow to Inf like every IEEE cast
  if (f) return encodeMinifloat(f, v, dt.startsWith("float8") ? opts.saturate ?? true : false);
  if (dt === "float8e8m0") return encodeE8M0Bits(f32bits(v), opts.saturate ?? true, opts.round ?? "up");
  const { bits } = dtype(dt);
  if (bits < 8) return Number.isFinite(v) ? Math.trunc(v) & (2 ** bits - 1) : 0;
  throw new Error(`encodeValue: ${dt} is a JavaScript number type`);
}

/** The element codes of n elements stored in `data` (unpacked for the 4- and 2-bit types). */
export function unpackCodes(dt: DTypeName, data: ArrayLike<number>, n: number): number[] {
  const { bits } = dtype(dt);
  if (bits >= 8) return Array.from({ length: n }, (_, i) => data[i]);
  const per = 8 / bits;
  const mask = 2 ** bits - 1;
  return Array.from({ length: n }, (_, i) => (data[Math.floor(i / per)] >> ((i % per) * bits)) & mask);
}

/** Element codes into dt's storage (packed low element first for the 4- and 2-bit types, zero padding). */
export function packCodes(dt: DTypeName, codes: ArrayLike<number>): TypedArray {
  const info = dtype(dt);
  const out = new info.array(storageLength(dt, codes.length)) as Uint8Array;
  if (info.bits >= 8) {
    out.set(codes);
    return out;
  }
  const per = 8 / info.bits;
  const mask = 2 ** info.bits - 1;
  for (let i = 0; i < codes.length; i++) out[Math.floor(i / per)] |= (codes[i] & mask) << ((i % per) * info.bits);
  return out;
}

/** True for the dtypes whose stored elements are codes rather than JavaScript numbers. */
export function isCoded(dt: DTypeName): boolean {
  return dt === "float8e8m0" || MINIFLOATS[dt] !== undefined || dtype(dt).bits < 8;
}

/** The numbers n elements of dt stored in `data` hold (n defaults to every element of an unpacked array). */
export function decodeElements(dt: DTypeName, data: TypedArray, n = data.length): number[] {
  if (!isCoded(dt)) return Array.from(data as ArrayLike<number | bigint>, Number).slice(0, n);
  return unpackCodes(dt, data as ArrayLike<number>, n).map((c) => decodeValue(dt, c));
}

/** Numbers as dt's storage, each rounded as Cast rounds (see the header). */
export function encodeElements(dt: DTypeName, values: ArrayLike<number>, opts: EncodeOptions = {}): TypedArray {
  if (!isCoded(dt)) {
    const info = dtype(dt);
    const out = new info.array(values.length);
    for (let i = 0; i < values.length; i++) (out as unknown as (number | bigint)[])[i] = info.big ? BigInt(Math.trunc(values[i])) : values[i];
    return out;
  }
  return packCodes(dt, Array.from(values, (v) => encodeValue(dt, v, opts)));
}
