// Typed loads, stores, constants and conversions. Each dtype computes in one wasm type:
// float32 -> f32, float64 -> f64, 2..32-bit ints and bool -> i32, 64-bit ints -> i64, and the
// narrow floats (float16, bfloat16, float8, float4e2m1) -> f32, converted on load and exactly
// rounded on store (float16 by the module's half-float helpers, the others by codegen/lowbit.ts).
// The packed 4- and 2-bit types have no byte address per element: loadElement / storeElement
// take an element index (and work for every dtype).
import binaryen from "binaryen";
import type { DTypeName } from "../runtime/dtypes.js";
import { dtype } from "../runtime/dtypes.js";
import { KilnError } from "../runtime/errors.js";
import type { Expr, WasmType } from "./fn.js";
import { decodeFloat, encodeFloat, loadPackedCode, storePackedCode, type StoreMode } from "./lowbit.js";

export type { StoreMode } from "./lowbit.js";

/** n bytes rounded up to a multiple of 16 (a v128; scratch regions and constants start there) */
export const align16 = (n: number) => Math.ceil(n / 16) * 16;

export function wasmType(dt: DTypeName): WasmType {
  switch (dt) {
    case "float64": return binaryen.f64;
    case "int64": case "uint64": return binaryen.i64;
    default: return dtype(dt).float ? binaryen.f32 : binaryen.i32;
  }
}

export function isFloat(dt: DTypeName): boolean {
  return dtype(dt).float;
}

/** The unsigned integer dtypes (and bool): widened with zero extension. */
export function isUnsigned(dt: DTypeName): boolean {
  return dt === "uint8" || dt === "uint16" || dt === "uint32" || dt === "uint64" || dt === "bool" || dt === "uint4" || dt === "uint2";
}

const packedError = (dt: DTypeName) => new KilnError("INTERNAL", `${dt} elements have no byte address: use loadElement / storeElement`);

/** Names of the module-level helper functions for float16. */
export const HALF_TO_FLOAT = "kiln_f16_to_f32";
export const FLOAT_TO_HALF = "kiln_f32_to_f16";

/** Load element at byte address `ptr + offset` in the dtype's compute type. */
export function load(m: binaryen.Module, dt: DTypeName, ptr: Expr, offset = 0): Expr {
  const align = Math.min(dtype(dt).bytes, 4);
  switch (dt) {
    case "float32": return m.f32.load(offset, align, ptr);
    case "float64": return m.f64.load(offset, 8, ptr);
    case "int64": case "uint64": return m.i64.load(offset, 8, ptr);
    case "int32": case "uint32": return m.i32.load(offset, 4, ptr);
    case "int16": return m.i32.load16_s(offset, 2, ptr);
    case "uint16": return m.i32.load16_u(offset, 2, ptr);
    case "int8": return m.i32.load8_s(offset, 1, ptr);
    case "uint8": case "bool": return m.i32.load8_u(offset, 1, ptr);
    case "float16": return m.call(HALF_TO_FLOAT, [m.i32.load16_u(offset, 2, ptr)], binaryen.f32);
    case "bfloat16": return decodeFloat(m, dt, m.i32.load16_u(offset, 2, ptr));
    case "float8e4m3fn": case "float8e4m3fnuz": case "float8e5m2": case "float8e5m2fnuz": case "float8e8m0":
      return decodeFloat(m, dt, m.i32.load8_u(offset, 1, ptr));
    case "int4": case "uint4": case "int2": case "uint2": case "float4e2m1": throw packedError(dt);
  }
}

/**
 * Store a compute-type value as dtype at byte address `ptr + offset`. `mode` says how a float8
 * store rounds (Cast's saturate and round_mode; default: saturating, e8m0 rounding up).
 */
export function store(m: binaryen.Module, dt: DTypeName, ptr: Expr, value: Expr, offset = 0, mode?: StoreMode): Expr {
  switch (dt) {
    case "float32": return m.f32.store(offset, 4, ptr, value);
    case "float64": return m.f64.store(offset, 8, ptr, value);
    case "int64": case "uint64": return m.i64.store(offset, 8, ptr, value);
    case "int32": case "uint32": return m.i32.store(offset, 4, ptr, value);
    case "int16": case "uint16": return m.i32.store16(offset, 2, ptr, value);
    case "int8": case "uint8": case "bool": return m.i32.store8(offset, 1, ptr, value);
    case "float16": return m.i32.store16(offset, 2, ptr, m.call(FLOAT_TO_HALF, [value], binaryen.i32));
    case "bfloat16": return m.i32.store16(offset, 2, ptr, encodeFloat(m, dt, value, mode));
    case "float8e4m3fn": case "float8e4m3fnuz": case "float8e5m2": case "float8e5m2fnuz": case "float8e8m0":
      return m.i32.store8(offset, 1, ptr, encodeFloat(m, dt, value, mode));
    case "int4": case "uint4": case "int2": case "uint2": case "float4e2m1": throw packedError(dt);
  }
}

/**
 * A float32 compute value rounded to a narrow float dtype and read back (what a store and a load
 * give): the precision arithmetic "in float16" or "in bfloat16" has. float32 and float64 pass.
 */
export function roundTo(m: binaryen.Module, dt: DTypeName, v: Expr, mode?: StoreMode): Expr {
  if (dt === "float32" || dt === "float64") return v;
  if (dt === "float16") return m.call(HALF_TO_FLOAT, [m.call(FLOAT_TO_HALF, [v], binaryen.i32)], binaryen.f32);
  return decodeFloat(m, dt, encodeFloat(m, dt, v, mode));
}

/** Element `index` (i32) of the tensor at byte address `base`, in the dtype's compute type; any dtype. */
export function loadElement(m: binaryen.Module, dt: DTypeName, base: number, index: Expr): Expr {
  const { bytes, bits } = dtype(dt);
  if (bits >= 8) return load(m, dt, bytes === 1 ? index : m.i32.mul(index, m.i32.const(bytes)), base);
  const code = loadPackedCode(m, dt, m.i32.const(base), index);
  return dt === "float4e2m1" ? decodeFloat(m, dt, code) : narrow(m, dt, code);
}

/**
 * Zero the padding bits after the last of n packed elements at `base` (a no-op for whole bytes):
 * stores read-modify-write their byte, so the last byte's unused bits hold whatever was there.
 * Emit it after the writing loop (the output may share an input's bytes).
 */
export function clearPadding(m: binaryen.Module, dt: DTypeName, base: number, n: number): Expr {
  const { bits } = dtype(dt);
  const rem = (n * bits) % 8;
  if (bits >= 8 || rem === 0) return m.nop();
  const last = base + Math.floor((n * bits) / 8);
  return m.i32.store8(0, 1, m.i32.const(last), m.i32.and(m.i32.load8_u(0, 1, m.i32.const(last)), m.i32.const(2 ** rem - 1)));
}

/** Store a compute-type value as element `index` of the tensor at `base`; any dtype (packed: read-modify-write of its byte). */
export function storeElement(m: binaryen.Module, dt: DTypeName, base: number, index: Expr, value: Expr, mode?: StoreMode): Expr {
  const { bytes, bits } = dtype(dt);
  if (bits >= 8) return store(m, dt, bytes === 1 ? index : m.i32.mul(index, m.i32.const(bytes)), value, base, mode);
  return storePackedCode(m, dt, m.i32.const(base), index, dt === "float4e2m1" ? encodeFloat(m, dt, value, mode) : value);
}

/** A constant in the dtype's compute type. */
export function constant(m: binaryen.Module, dt: DTypeName, v: number | bigint): Expr {
  switch (wasmType(dt)) {
    case binaryen.f32: return m.f32.const(Number(v));
    case binaryen.f64: return m.f64.const(Number(v));
    case binaryen.i64: {
      const b = BigInt.asUintN(64, typeof v === "bigint" ? v : BigInt(Math.trunc(Number(v))));
      return m.i64.const(BigInt.asIntN(64, b) as unknown as number); // this binaryen takes one (bigint) argument
    }
    default: return m.i32.const(Number(typeof v === "bigint" ? BigInt.asIntN(32, v) : v) | 0);
  }
}

/**
 * Convert a compute-type value of dtype `from` to the compute type of `to`, with Cast semantics
 * (float -> int truncates toward zero, saturating; int -> narrower int wraps; -> bool is != 0).
 */
export function convert(m: binaryen.Module, from: DTypeName, to: DTypeName, e: Expr): Expr {
  if (to === "bool") {
    switch (wasmType(from)) {
      case binaryen.f32: return m.f32.ne(e, m.f32.const(0));
      case binaryen.f64: return m.f64.ne(e, m.f64.const(0));
      case binaryen.i64: return m.i64.ne(e, m.i64.const(0));
      default: return m.i32.ne(e, m.i32.const(0));
    }
  }
  const ft = wasmType(from);
  const tt = wasmType(to);
  const fu = isUnsigned(from);
  let v: Expr;
  if (ft === tt) v = e;
  else if (tt === binaryen.f32) {
    v = ft === binaryen.f64 ? m.f32.demote(e)
      : ft === binaryen.i64 ? (fu ? m.f32.convert_u.i64(e) : m.f32.convert_s.i64(e))
      : fu ? m.f32.convert_u.i32(e) : m.f32.convert_s.i32(e);
  } else if (tt === binaryen.f64) {
    v = ft === binaryen.f32 ? m.f64.promote(e)
      : ft === binaryen.i64 ? (fu ? m.f64.convert_u.i64(e) : m.f64.convert_s.i64(e))
      : fu ? m.f64.convert_u.i32(e) : m.f64.convert_s.i32(e);
  } else if (tt === binaryen.i64) {
    v = ft === binaryen.f32 ? (isUnsigned(to) ? m.i64.trunc_u_sat.f32(e) : m.i64.trunc_s_sat.f32(e))
      : ft === binaryen.f64 ? (isUnsigned(to) ? m.i64.trunc_u_sat.f64(e) : m.i64.trunc_s_sat.f64(e))
      : fu ? m.i64.extend_u(e) : m.i64.extend_s(e);
  } else {
    // to i32-backed type
    v = ft === binaryen.f32 ? (to === "uint32" ? m.i32.trunc_u_sat.f32(e) : m.i32.trunc_s_sat.f32(e))
      : ft === binaryen.f64 ? (to === "uint32" ? m.i32.trunc_u_sat.f64(e) : m.i32.trunc_s_sat.f64(e))
      : ft === binaryen.i64 ? m.i32.wrap(e)
      : e;
  }
  return narrow(m, to, v);
}

/** Wrap an i32 compute value to the range of a narrow integer dtype (stores truncate anyway; this keeps compute values canonical). */
export function narrow(m: binaryen.Module, dt: DTypeName, v: Expr): Expr {
  switch (dt) {
    case "int8": return m.i32.extend8_s(v);
    case "uint8": return m.i32.and(v, m.i32.const(0xff));
    case "int16": return m.i32.extend16_s(v);
    case "uint16": return m.i32.and(v, m.i32.const(0xffff));
    case "int4": return m.i32.shr_s(m.i32.shl(v, m.i32.const(28)), m.i32.const(28));
    case "uint4": return m.i32.and(v, m.i32.const(0xf));
    case "int2": return m.i32.shr_s(m.i32.shl(v, m.i32.const(30)), m.i32.const(30));
    case "uint2": return m.i32.and(v, m.i32.const(0x3));
    default: return v;
  }
}
