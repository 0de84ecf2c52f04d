// The run-time side of the int8 GEMM (quant/qgemm.ts): an 8-bit activation operand packed into
// scratch in the microkernel's order as the product goes, widened to i16 and its zero point
// subtracted on the way. Rows (A, the broadcast side: MatMul's activations) per block of rows;
// a panel of columns (B, the vector side: a convolution's image or im2col rows) per panel.
import binaryen from "binaryen";
import type { Expr, Fn, Local } from "../../fn.js";
import { evenK, QTILE, type QTile } from "./qgemm.js";

/** An 8-bit matrix in memory: element (r, c) at byte addr + base() + r * rs + c. */
export interface ByteMatrix {
  addr: number;
  rs: number;
  base?: () => Expr;
  signed: boolean;
}

const at = (m: binaryen.Module, x: ByteMatrix, e: Expr) => (x.base ? m.i32.add(x.base(), e) : e);

/** 8 bytes (the low or high half of v) widened to i16 lanes, signed or not */
function widen(m: binaryen.Module, v: Expr, high: boolean, signed: boolean): Expr {
  if (signed) return high ? m.i16x8.extend_high_i8x16_s(v) : m.i16x8.extend_low_i8x16_s(v);
  return high ? m.i16x8.extend_high_i8x16_u(v) : m.i16x8.extend_low_i8x16_u(v);
}

/**
 * Packs rows rowStart .. rowStart + rows of A (K wide) into `to` as tiles (the layout of
 * qgemm-pack.ts packRows, relative to rowStart): 16 k at a time as two i16x8 (the row's zero
 * point, zp(row), subtracted), their eight k-pair words stored to their rows' slots; then the K % 16 tail one
 * value at a time, and a zero past an odd K. Rows of the last tile past M are left as they are:
 * the product never stores them.
 */
export function packRowsRuntime(fn: Fn, a: ByteMatrix, K: number, zp: (row: Local) => Expr, t: QTile = QTILE): (rowStart: Local, rows: Expr, to: () => Expr) => Expr {
  const m = fn.m;
  const Kp = evenK(K), K16 = K - (K % 16);
  return (rowStart, rows, to) => {
    const src = fn.local(binaryen.i32), dst = fn.local(binaryen.i32), x = fn.local(binaryen.v128), z = fn.local(binaryen.v128), zs = fn.local(binaryen.i32);
    const rowCode = (i: Local): Expr[] => {
      const r = () => m.i32.sub(i.get(), rowStart.get());
      // this row's first word: tile base (r - r % MR) * Kp * 2 bytes, then 4 * (r % MR)
      const tileOff = () => m.i32.add(m.i32.mul(m.i32.sub(r(), m.i32.rem_u(r(), m.i32.const(t.mr))), m.i32.const(Kp * 2)), m.i32.mul(m.i32.rem_u(r(), m.i32.const(t.mr)), m.i32.const(4)));
      const code: Expr[] = [
        src.set(at(m, a, m.i32.add(m.i32.const(a.addr), m.i32.mul(i.get(), m.i32.const(a.rs))))), dst.set(m.i32.add(to(), tileOff())),
        zs.set(zp(i)), z.set(m.i16x8.splat(zs.get())),
      ];
      if (K16 > 0) {
        code.push(fn.loop(K16 / 16, () => {
          const halves: Expr[] = [x.set(m.v128.load(0, 1, src.get()))];
          for (const high of [false, true]) {
            const h = fn.local(binaryen.v128);
            halves.push(h.set(m.i16x8.sub(widen(m, x.get(), high, a.signed), z.get())));
            // word w of this half is k-pair (high ? 4 : 0) + w
            for (let w = 0; w < 4; w++) halves.push(m.v128.store32_lane(((high ? 4 : 0) + w) * 4 * t.mr, 4, w, dst.get(), h.get()));
          }
          return [...halves, src.set(m.i32.add(src.get(), m.i32.const(16))), dst.set(m.i32.add(dst.get(), m.i32.const(32 * t.mr)))];
        }));
      }
      for (let k = K16; k < Kp; k++) {
        const u = k - K16;
        const off = (u >> 1) * 4 * t.mr + 2 * (u & 1);
        const value = k < K ? m.i32.sub(a.signed ? m.i32.load8_s(u, 1, src.get()) : m.i32.load8_u(u, 1, src.get()), zs.get()) : m.i32.const(0);
        code.push(m.i32.store16(off, 2, dst.get(), value));
      }
      return code;
    };
    return fn.loopDyn(rowStart.get(), m.i32.add(rowStart.get(), rows), rowCode);
  };
}

/**
 * Packs columns colStart .. colStart + cols of B (K rows, NR a multiple of 8) into `to` as one
 * panel (qgemm-pack.ts packCols' layout for one panel): per k-pair, rows k and k + 1 loaded
 * NR bytes at a time, byte-interleaved, widened to i16 and shifted by the zero point: NR words.
 * A panel narrower than NR loads its bytes lane by lane (nothing past column N is read); an odd
 * K pairs its last row with zeros.
 */
export function packColsRuntime(fn: Fn, b: ByteMatrix, K: number, zp: () => Expr, t: QTile = QTILE): (colStart: Expr, cols: number, to: () => Expr) => Expr {
  const m = fn.m;
  if (t.nr % 8) throw new Error(`qgemm: runtime column packing needs NR a multiple of 8, got ${t.nr}`);
  const groups = t.nr / 8;
  return (colStart, cols, to) => {
    const src = fn.local(binaryen.i32), dst = fn.local(binaryen.i32), z = fn.local(binaryen.v128);
    const r0 = Array.from({ length: groups }, () => fn.local(binaryen.v128));
    const r1 = Array.from({ length: groups }, () => fn.local(binaryen.v128));
    /** 8 bytes of row `row` (relative to src) for column group g: whole, or lane by lane at the edge */
    const load8 = (row: number, g: number): Expr => {
      const n = Math.min(8, cols - 8 * g);
      const off = row * b.rs + 8 * g;
      if (n <= 0) return m.v128.const(new Array(16).fill(0));
      if (n === 8) return m.v128.load64_zero(off, 1, src.get());
      let v = m.v128.const(new Array(16).fill(0));
      for (let q = 0; q < n; q++) v = m.v128.load8_lane(off + q, 1, q, src.get(), v);
      return v;
    };
    const interleave = [0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23];
    const pair = (second: boolean): Expr[] => {
      const code: Expr[] = [];
      for (let g = 0; g < groups; g++) {
        code.push(r0[g].set(load8(0, g)), r1[g].set(second ? load8(1, g) : m.v128.const(new Array(16).fill(0))));
        const bytes = m.i8x16.shuffle(r0[g].get(), r1[g].get(), interleave);
        code.push(r0[g].set(bytes));
        for (const high of [false, true]) {
          let w = widen(m, r0[g].get(), high, b.signed);
          // the zero point applies to real rows only: a padded k (odd K) stays 0
          w = second ? m.i16x8.sub(w, z.get()) : m.i16x8.sub(w, m.v128.and(z.get(), m.v128.const(ZP_FIRST_OF_PAIR)));
          code.push(m.v128.store(32 * g + (high ? 16 : 0), 16, dst.get(), w));
        }
      }
      return code;
    };
    const steps = K >> 1;
    return fn.block([
      z.set(m.i16x8.splat(zp())),
      src.set(at(m, b, m.i32.add(m.i32.const(b.addr), colStart))),
      dst.set(to()),
      fn.loop(steps, () => [...pair(true), src.set(m.i32.add(src.get(), m.i32.const(2 * b.rs))), dst.set(m.i32.add(dst.get(), m.i32.const(4 * t.nr)))]),
      K & 1 ? fn.block(pair(false)) : m.nop(),
    ]);
  };
}

/** i16 lanes 0, 2, 4, 6 (the first k of each pair) all ones: masks the zero point off the padded second k */
const ZP_FIRST_OF_PAIR = [255, 255, 0, 0, 255, 255, 0, 0, 255, 255, 0, 0, 255, 255, 0, 0];

