// The int8 GEMM: C[M,N] = A[M,K] B[K,N] on zero-point-shifted 8-bit values, exact in i32 lanes,
// built on i32x4.dot_i16x8_s (8 multiply-adds per instruction, against f32x4's 4 in two).
//
// Both operands reach the microkernel as i16 (value - zero point, in [-255, 255]) packed in
// k-pairs: the "rows" operand A as MR-row tiles, per k-pair one i32 word per row (rows (k, k+1));
// the "columns" operand B as NR-column panels, per k-pair one i32 word per column. A k-pair step
// splats each row's word over four lanes (v128.load32_splat) and dots it with the NR/4 vectors of
// the panel: acc[r][v] += dot_i16x8_s(splat(A[r][k..k+1]), B[k..k+1][4v..4v+3]), each lane of a
// product summing two k. A constant operand (the weights) is packed at compile time
// (quant/qgemm-pack.ts); a runtime one (activations) is packed per block of rows or per panel
// into scratch as the kernel goes (quant/qgemm-runtime.ts), its zero point subtracted there.
// K is padded to even and rows and columns to whole tiles with zeros, so every tile runs the
// same code; stores skip the padding. The accumulators start from a per-row or per-column i32
// vector (the bias in the accumulator's scale) and each finished row of the tile goes to the
// caller's store (quant/qgemm-store.ts: i32 out, requantized 8-bit, or float).
// At threads (QGemmSpec.threads) each thread takes a contiguous share of the panels, packing its
// runtime operands into its own scratch: every element of C is computed by one thread through the
// same tile code as at one thread, so the bytes are the same.
import binaryen from "binaryen";
import type { Expr, Fn, Local } from "../../fn.js";
import { threadScratch, threadShare, type ThreadCtx } from "../../threads.js";
import { sum } from "../matmul/gemm-tile.js";

export interface QTile {
  /** rows of the register tile (of a packed A tile) */
  mr: number;
  /** columns of the register tile = of a packed B panel (a multiple of 4) */
  nr: number;
  /** k-pair steps per loop iteration */
  unroll?: number;
}

/**
 * Chosen by measurement (bench/qgemm.ts, interleaved with the float GEMM on this 2-core EPYC,
 * Node 20): see that file's header for the figures.
 */
export const QTILE: QTile = { mr: 2, nr: 16 };

/** K rounded up to whole k-pairs. */
export const evenK = (K: number) => K + (K & 1);
/** a scratch offset rounded up to 16 bytes (a v128's alignment) */

/** Bytes of a packed A of M rows (whole tiles) and of a packed B of N columns (whole panels). */
export function packedRowsBytes(M: number, K: number, t: QTile = QTILE): number {
  return Math.ceil(M / t.mr) * t.mr * evenK(K) * 2;
}
export function packedColsBytes(N: number, K: number, t: QTile = QTILE): number {
  return Math.ceil(N / t.nr) * t.nr * evenK(K) * 2;
}

/**
 * Where the packed A tiles are: prepacked (every tile, at `addr`, tile i at addr + i * Kp * 2 for
 * its first row i), or packed at run time per block of `mc` rows into `scratch` by `pack`.
 */
export type RowsOperand =
  | { kind: "packed"; addr: number; base?: () => Expr }
  | { kind: "runtime"; scratch: number; mc: number; pack: (rowStart: Local, rows: Expr, to: () => Expr) => Expr };

/** Where the packed B panels are: prepacked (panel p at addr + p * NR * Kp * 2), or packed per panel into `scratch`. */
export type ColsOperand =
  | { kind: "packed"; addr: number; base?: () => Expr }
  | { kind: "runtime"; scratch: number; pack: (colStart: Expr, cols: number, to: () => Expr) => Expr };

/**
 * One finished row of a tile: `acc[v]` holds columns col + 4v .. col + 4v + 3 (only `cols` of the
 * tile's columns are real); row and col are fresh i32 expressions of each call.
 */
export type QStore = (acc: Local[], row: () => Expr, col: () => Expr, cols: number) => Expr[];

/**
 * The accumulators' start for a row: per column (an i32x4 for columns col + 4v..) or per row (one
 * i32 splatted), e.g. the bias in the accumulator's scale; undefined: zero.
 */
export interface QInit {
  perCol?: (col: () => Expr, v: number, cols: number) => Expr;
  perRow?: (row: () => Expr) => Expr;
}

export interface QGemmSpec {
  M: number;
  N: number;
  K: number;
  a: RowsOperand;
  b: ColsOperand;
  init?: QInit;
  store: QStore;
  tile?: QTile;
  /**
   * the threads to share the panels among (a split layer): each thread packs runtime operands
   * into its own scratch, at scratch + tid * scratchStride
   */
  threads?: ThreadCtx;
  /**
   * symbolic dims: this run's rows (at most M), as a fresh i32 expression each call. Blocks and
   * tiles run up to them; a last tile's rows past them (in the padding of A and C, whose values
   * may be anything) are computed from whatever the block's scratch holds and stored there.
   */
  rows?: () => Expr;
}

interface Pool {
  acc: Local[][];
  b: Local[];
  a: Local;
  pa: Local;
  pb: Local;
  pend: Local;
}

/** Code for the whole product. Nothing is read past the packed operands and what init and store read. */
export function emitQGemm(fn: Fn, spec: QGemmSpec): Expr {
  const t = spec.tile ?? QTILE;
  if (t.nr % 4) throw new Error(`qgemm: bad tile ${JSON.stringify(t)}`);
  if (spec.M === 0 || spec.N === 0) return fn.m.nop();
  const V = t.nr / 4;
  const pool: Pool = {
    acc: Array.from({ length: t.mr }, () => Array.from({ length: V }, () => fn.local(binaryen.v128))),
    b: Array.from({ length: V }, () => fn.local(binaryen.v128)),
    a: fn.local(binaryen.v128),
    pa: fn.local(binaryen.i32), pb: fn.local(binaryen.i32), pend: fn.local(binaryen.i32),
  };
  return new QEmitter(fn, spec, t, pool).product();
}

class QEmitter {
  private readonly m: binaryen.Module;
  private readonly Kp: number;
  constructor(private readonly fn: Fn, private readonly s: QGemmSpec, private readonly t: QTile, private readonly p: Pool) {
    this.m = fn.m;
    this.Kp = evenK(s.K);
  }

  /** this thread's copy of the scratch at `addr` */
  private scratchAt(addr: number): Expr {
    return threadScratch(this.m, this.s.threads, addr);
  }

  /** MC blocks of rows (A packed per block when it is a runtime operand) x panels (this thread's share) x MR tiles. */
  product(): Expr {
    const { fn, m, s, t } = this;
    const mc = s.a.kind === "runtime" ? s.a.mc : Math.ceil(s.M / t.mr) * t.mr;
    if (mc % t.mr) throw new Error(`qgemm: block of ${mc} rows is not whole tiles of ${t.mr}`);
    const Pfull = Math.floor(s.N / t.nr), tail = s.N % t.nr;
    const { a, b, threads: th } = s;
    const i32 = binaryen.i32;
    const lo = fn.local(i32), hi = fn.local(i32);
    const share = th && threadShare(m, th, Pfull + (tail ? 1 : 0));
    const block = (ib: Local): Expr[] => {
      const rt = s.rows;
      const rows = rt ? () => m.select(m.i32.lt_u(m.i32.add(ib.get(), m.i32.const(mc)), rt()), m.i32.const(mc), m.i32.sub(rt(), ib.get()))
        : () => (s.M <= mc ? m.i32.const(s.M) : m.select(m.i32.lt_u(m.i32.add(ib.get(), m.i32.const(mc)), m.i32.const(s.M)), m.i32.const(mc), m.i32.sub(m.i32.const(s.M), ib.get())));
      const end = () => (!rt && s.M <= mc ? m.i32.const(s.M) : m.i32.add(ib.get(), rows()));
      const panel = (col: () => Expr, cols: number): Expr[] => [
        ...(b.kind === "runtime" ? [b.pack(col(), cols, () => this.scratchAt(b.scratch))] : []),
        fn.loopDyn(ib.get(), end(), (i) => this.tile(ib, i, col, cols), t.mr),
      ];
      const full = (p: Local) => panel(() => m.i32.mul(p.get(), m.i32.const(t.nr)), t.nr);
      const last = () => fn.block(panel(() => m.i32.const(Pfull * t.nr), tail));
      return [
        a.kind === "runtime" ? a.pack(ib, rows(), () => this.scratchAt(a.scratch)) : m.nop(),
        // a call per panel: optimized code from the first run's first calls on (Fn.outline)
        th ? fn.loopDyn(lo.get(), m.select(m.i32.lt_u(hi.get(), m.i32.const(Pfull)), hi.get(), m.i32.const(Pfull)), (p) => { const body = full(p); return [fn.outline(body) ?? fn.block(body)]; })
          : fn.loop(Pfull, full, { outline: true }),
        // the tail panel is the last share's
        !tail ? m.nop() : th ? m.if(m.i32.eq(hi.get(), m.i32.const(Pfull + 1)), last()) : last(),
      ];
    };
    const gemm = s.rows ? fn.loopDyn(m.i32.const(0), s.rows(), block, mc) : fn.loop(s.M, block, { step: mc });
    // a thread whose share is empty packs nothing either
    return share ? fn.block([lo.set(share.lo), hi.set(share.hi), m.if(m.i32.lt_u(lo.get(), hi.get()), gemm)]) : gemm;
  }

  /** The MR x NR tile at rows i.. (of the block at ib), columns col().. (cols of them real). */
  private tile(ib: Local, i: Local, col: () => Expr, cols: number): Expr[] {
    const { m, s, t, p: L } = this;
    const rowBytes = this.Kp * 2;
    const aStart = s.a.kind === "packed"
      ? sum(m, [m.i32.const(s.a.addr), s.a.base?.(), m.i32.mul(i.get(), m.i32.const(rowBytes))])
      : m.i32.add(this.scratchAt(s.a.scratch), m.i32.mul(m.i32.sub(i.get(), ib.get()), m.i32.const(rowBytes)));
    const bStart = s.b.kind === "packed" ? sum(m, [m.i32.const(s.b.addr), s.b.base?.(), m.i32.mul(col(), m.i32.const(rowBytes))]) : this.scratchAt(s.b.scratch);
    const out: Expr[] = [L.pa.set(aStart), L.pb.set(bStart)];
    // a narrow last panel (N % NR columns) computes only the vectors that hold its columns: the
    // panel keeps its NR-wide layout and the rest is never read (a 7x7 convolution's 49 positions
    // are three whole panels and one column, which took a whole panel's products before)
    const V = Math.ceil(cols / 4);
    for (let r = 0; r < t.mr; r++) {
      const row = () => m.i32.add(i.get(), m.i32.const(r));
      const rowInit = s.init?.perRow?.(row);
      for (let v = 0; v < V; v++) {
        let x: Expr = s.init?.perCol?.(col, v, cols) ?? m.v128.const(new Array(16).fill(0));
        if (rowInit) x = s.init?.perCol ? m.i32x4.add(x, m.i32x4.splat(rowInit)) : m.i32x4.splat(s.init!.perRow!(row));
        out.push(L.acc[r][v].set(x));
      }
    }
    out.push(...this.kLoop(V));
    for (let r = 0; r < t.mr; r++) {
      const row = () => m.i32.add(i.get(), m.i32.const(r));
      const store = this.fn.block(s.store(L.acc[r], row, col, cols));
      // rows past M exist only in the last tile, when M % MR != 0
      out.push(r < s.M % t.mr || s.M % t.mr === 0 ? store : m.if(m.i32.lt_u(row(), m.i32.const(s.M)), store));
    }
    return out;
  }

  /** Kp / 2 k-pair steps over the tile's packed rows and the panel's first V vectors. */
  private kLoop(V: number): Expr[] {
    const { m, fn, t, p: L } = this;
    const steps = this.Kp / 2;
    if (steps === 0) return [];
    const U = Math.max(1, Math.min(t.unroll ?? 1, steps));
    const step = (u: number): Expr[] => {
      const code: Expr[] = [];
      for (let v = 0; v < V; v++) code.push(L.b[v].set(m.v128.load(16 * v + 4 * t.nr * u, 16, L.pb.get())));
      for (let r = 0; r < t.mr; r++) {
        code.push(L.a.set(m.v128.load32_splat(4 * r + 4 * t.mr * u, 4, L.pa.get())));
        for (let v = 0; v < V; v++) code.push(L.acc[r][v].set(m.i32x4.add(L.acc[r][v].get(), m.i32x4.dot_i16x8_s(L.a.get(), L.b[v].get()))));
      }
      return code;
    };
    const advance = (u: number) => [L.pa.set(m.i32.add(L.pa.get(), m.i32.const(4 * t.mr * u))), L.pb.set(m.i32.add(L.pb.get(), m.i32.const(4 * t.nr * u)))];
    const main = steps - (steps % U);
    const code: Expr[] = [];
    const body = [...Array.from({ length: U }, (_, u) => step(u)).flat(), ...advance(U)];
    if (main === U) code.push(...body);
    else if (main > 0) {
      const label = fn.label("qk");
      code.push(L.pend.set(m.i32.add(L.pb.get(), m.i32.const(4 * t.nr * main))),
        m.loop(label, fn.block([...body, m.br(label, m.i32.lt_u(L.pb.get(), L.pend.get()))])));
    }
    for (let u = 0; u < steps % U; u++) code.push(...step(u), ...advance(1));
    return code;
  }
}

