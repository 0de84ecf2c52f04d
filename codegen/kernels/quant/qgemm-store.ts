// What the int8 GEMM (quant/qgemm.ts) does with a finished row of its tile: store the i32 sums
// (MatMulInteger, ConvInteger), requantize them to 8 bits (QLinearConv/QLinearMatMul and QDQ
// groups: multiplier, activation bounds, rounding half to even, zero point, saturation by the
// narrowing instructions), or scale them to float32 (dynamic quantization's Cast -> Mul chain,
// then a float epilogue).
import binaryen from "binaryen";
import type { Expr, Fn } from "../../fn.js";
import type { Epilogue } from "../kernel.js";
import type { QStore } from "./qgemm.js";
import { nearestPlusZp, ROUND_BOUND, roundBias } from "./common.js";

/** A row-major output: element (r, c) at byte addr + base() + (r * rs + c) * element bytes. */
export interface QOut {
  addr: number;
  /** row stride in elements */
  rs: number;
  base?: () => Expr;
}

function elementPtr(m: binaryen.Module, c: QOut, row: () => Expr, col: () => Expr, bytes: number): Expr {
  const e = m.i32.add(m.i32.mul(row(), m.i32.const(c.rs * bytes)), bytes === 1 ? col() : m.i32.mul(col(), m.i32.const(bytes)));
  return c.base ? m.i32.add(c.base(), e) : e;
}

/** Stores v's first `lanes` 32-bit lanes at addr + ptr (whole vector when 4). */
function storeLanes32(m: binaryen.Module, addr: number, ptr: () => Expr, v: () => Expr, lanes: number): Expr[] {
  if (lanes >= 4) return [m.v128.store(addr, 4, ptr(), v())];
  return Array.from({ length: lanes }, (_, q) => m.v128.store32_lane(addr + 4 * q, 4, q, ptr(), v()));
}

/** Stores v's first `n` bytes at addr + ptr: whole, or in 8/4/2/1-byte lanes. */
export function storeBytes(m: binaryen.Module, addr: number, ptr: () => Expr, v: () => Expr, n: number): Expr[] {
  if (n >= 16) return [m.v128.store(addr, 1, ptr(), v())];
  const out: Expr[] = [];
  let pos = 0;
  for (const size of [8, 4, 2, 1]) {
    while (n - pos >= size && pos % size === 0) {
      const lane = pos / size;
      const f = size === 8 ? m.v128.store64_lane : size === 4 ? m.v128.store32_lane : size === 2 ? m.v128.store16_lane : m.v128.store8_lane;
      out.push(f(addr + pos, 1, lane, ptr(), v()));
      pos += size;
    }
  }
  return out;
}

/** The i32 sums as they are (an int32 output). */
export function storeInt32(fn: Fn, c: QOut): QStore {
  const m = fn.m;
  const p = fn.local(binaryen.i32);
  return (acc, row, col, cols) => [p.set(elementPtr(m, c, row, col, 4)),
    ...acc.flatMap((a, v) => (4 * v < cols ? storeLanes32(m, c.addr + 16 * v, p.get, a.get, cols - 4 * v) : []))];
}

/** Where a requantization's multiplier comes from: one constant, per row or per column from a float32 table. */
export type Multiplier =
  | { kind: "scalar"; value: number }
  /** a float32 table at addr + base(), indexed by the GEMM's row or column */
  | { kind: "row" | "col"; addr: number; base?: () => Expr };

export interface Requant {
  mult: Multiplier;
  /** the output's zero point */
  zp: number;
  signed: boolean;
  /** activation bounds on the scaled sum, before rounding (Relu: lo 0; Clip: its bounds / y_scale) */
  lo?: number;
  hi?: number;
  /** every multiplier is finite (no lane can be NaN): the rounding takes the short exact form (quant/common.ts nearestPlusZp) */
  finite?: boolean;
}

/** Whether requantization multipliers (a table or one value) are all finite. */
export const finiteMultipliers = (mult: ArrayLike<number>) => Array.prototype.every.call(mult, Number.isFinite) as boolean;

/**
 * One vector of the requantization: i32 sums times f32 multipliers, within [lo, hi], rounded half
 * to even, plus zp, as i32 lanes (the caller narrows them to 8 bits, which saturates).
 */
export function requantLanes(m: binaryen.Module, q: Omit<Requant, "mult">, sums: Expr, mult: Expr): Expr {
  const splat = (x: number) => m.f32x4.splat(m.f32.const(x));
  let x = m.f32x4.mul(m.f32x4.convert_i32x4_s(sums), mult);
  if (q.finite) {
    // the bounds within +-ROUND_BOUND: past it the narrowing saturates the same way
    const lo = Math.min(Math.max(q.lo ?? -ROUND_BOUND, -ROUND_BOUND), ROUND_BOUND), hi = Math.max(Math.min(q.hi ?? ROUND_BOUND, ROUND_BOUND), -ROUND_BOUND);
    return nearestPlusZp(m, m.f32x4.pmin(m.f32x4.pmax(x, splat(lo)), splat(hi)), roundBias(m, m.i32.const(q.zp)));
  }
  if (q.lo !== undefined) x = m.f32x4.pmax(x, splat(q.lo));
  if (q.hi !== undefined) x = m.f32x4.pmin(x, splat(q.hi));
  return m.i32x4.trunc_sat_f32x4_s(m.f32x4.add(m.f32x4.nearest(x), splat(q.zp)));
}

/**
 * round_half_even(sum * mult, clamped to [lo, hi]) + zp, saturated to 8 bits, as ORT's
 * QLinearConv computes it (MLAS: float multiplier, round to nearest even, add, saturate).
 * f32 holds every sum below 2^24 exactly; past that the product rounds once more, and results
 * that far out saturate anyway.
 */
export function storeRequant(fn: Fn, c: QOut, q: Requant): QStore {
  const m = fn.m;
  const p = fn.local(binaryen.i32), mult = fn.local(binaryen.v128), packed = fn.local(binaryen.v128);
  const splat = (x: number) => m.f32x4.splat(m.f32.const(x));
  return (acc, row, col, cols) => {
    const code: Expr[] = [p.set(elementPtr(m, c, row, col, 1))];
    const table = (index: () => Expr) => (q.mult.kind !== "scalar" && q.mult.base ? m.i32.add(q.mult.base(), m.i32.shl(index(), m.i32.const(2))) : m.i32.shl(index(), m.i32.const(2)));
    if (q.mult.kind === "row") code.push(mult.set(m.v128.load32_splat(q.mult.addr, 4, table(row))));
    const lanes = acc.map((a, v) => {
      if (4 * v >= cols) return m.v128.const(new Array(16).fill(0));
      const mv = q.mult.kind === "scalar" ? splat(q.mult.value) : q.mult.kind === "row" ? mult.get()
        : m.v128.load(q.mult.addr + 16 * v, 4, table(col));
      return requantLanes(m, q, a.get(), mv);
    });
    // four i32x4 -> one i8x16, saturating at each narrowing: i32 -> i16 (signed), i16 -> 8 bits
    for (let g = 0; g < lanes.length; g += 4) {
      const v = (k: number) => lanes[g + k] ?? m.v128.const(new Array(16).fill(0));
      const lo = m.i16x8.narrow_i32x4_s(v(0), v(1)), hi = m.i16x8.narrow_i32x4_s(v(2), v(3));
      code.push(packed.set(q.signed ? m.i8x16.narrow_i16x8_s(lo, hi) : m.i8x16.narrow_i16x8_u(lo, hi)));
      code.push(...storeBytes(m, c.addr + 4 * g, p.get, packed.get, Math.min(16, cols - 4 * g)));
    }
    return code;
  };
}

export interface FloatResult {
  /**
   * float32 multipliers: one at addr, one per column from addr, or one per row from addr + base()
   * (a convolution's output channels, as the requantization's row multipliers)
   */
  scale: { addr: number; by: "one" | "col" | "row"; base?: () => Expr };
  /** a float32 table added after the scale: per row when the scale is, else per column */
  bias?: number;
  /** the fused float epilogue (activation, residual) applied before the store */
  epilogue?: Epilogue;
}

/**
 * float32(sum) * scale (+ bias), then the epilogue, stored as float32: dynamic quantization's
 * MatMulInteger -> Cast -> Mul (-> Add) in one pass, or a QDQ layer whose result no int8 layer
 * reads (x_scale * w_scale per output channel). The product is the reference's: the sum
 * converted exactly (|sum| < 2^24) times the scale tensor its own Mul computed.
 */
export function storeFloat(fn: Fn, c: QOut, f: FloatResult): QStore {
  const m = fn.m;
  const p = fn.local(binaryen.i32), x = fn.local(binaryen.v128), s = fn.local(binaryen.v128), b = fn.local(binaryen.v128);
  const colTable = (addr: number, col: () => Expr, v: number) => m.v128.load(addr + 16 * v, 4, m.i32.shl(col(), m.i32.const(2)));
  return (acc, row, col, cols) => {
    const code: Expr[] = [p.set(elementPtr(m, c, row, col, 4))];
    const sc = f.scale;
    if (sc.by === "one") code.push(s.set(m.v128.load32_splat(sc.addr, 4, m.i32.const(0))));
    if (sc.by === "row") {
      const at = m.i32.shl(row(), m.i32.const(2));
      code.push(s.set(m.v128.load32_splat(sc.addr, 4, sc.base ? m.i32.add(sc.base(), at) : at)));
      if (f.bias !== undefined) code.push(b.set(m.v128.load32_splat(f.bias, 4, sc.base ? m.i32.add(sc.base(), at) : at)));
    }
    acc.forEach((a, v) => {
      const lanes = Math.min(4, cols - 4 * v);
      if (lanes <= 0) return;
      let e = m.f32x4.mul(m.f32x4.convert_i32x4_s(a.get()), sc.by === "col" ? colTable(sc.addr, col, v) : s.get());
      if (f.bias !== undefined) e = m.f32x4.add(e, sc.by === "row" ? b.get() : colTable(f.bias, col, v));
      const off = c.addr + 16 * v;
      if (lanes === 4) {
        code.push(m.v128.store(off, 4, p.get(), f.epilogue ? f.epilogue.vec(e, p.get, off) : e));
        return;
      }
      code.push(x.set(e));
      for (let q = 0; q < lanes; q++) {
        let lane = m.f32x4.extract_lane(x.get(), q);
        if (f.epilogue) lane = f.epilogue.scalar(lane, p.get, off + 4 * q);
        code.push(m.f32.store(off + 4 * q, 4, p.get(), lane));
      }
    });
    return code;
  };
}
