// Raw element moves: movement ops are dtype-agnostic, so they copy bytes, 1 to 8 at a time.
import type binaryen from "binaryen";
import type { Expr } from "../../fn.js";

/** Raw load of one element of `bytes` bytes (no conversion: movement is dtype-agnostic). */
export function rawLoad(m: binaryen.Module, bytes: number, ptr: Expr, offset = 0): Expr {
  switch (bytes) {
    case 1: return m.i32.load8_u(offset, 1, ptr);
    case 2: return m.i32.load16_u(offset, 1, ptr);
    case 4: return m.i32.load(offset, 1, ptr);
    default: return m.i64.load(offset, 1, ptr);
  }
}

export function rawStore(m: binaryen.Module, bytes: number, ptr: Expr, value: Expr, offset = 0): Expr {
  switch (bytes) {
    case 1: return m.i32.store8(offset, 1, ptr, value);
    case 2: return m.i32.store16(offset, 1, ptr, value);
    case 4: return m.i32.store(offset, 1, ptr, value);
    default: return m.i64.store(offset, 1, ptr, value);
  }
}

export function rawZero(m: binaryen.Module, bytes: number): Expr {
  return bytes === 8 ? m.i64.const(0) : m.i32.const(0);
}
