// A packed, register-blocked float32 GEMM: C[M,N] = alpha * A[M,K] B[K,N] (+ bias[N]), with B a
// compile-time constant packed ahead of time (packB) into panels of NR columns, K-major inside a
// panel, the tail panel zero-padded. The microkernel keeps an MR x NR tile of f32x4 accumulators in
// locals for a whole KC block of K: per k step it loads NR/4 vectors of the panel, splats MR values
// of A straight from A's rows (v128.load32_splat) and does MR*NR/4 mul+add. Cache blocking (after
// GotoBLAS): for each KC block of K, for each MC block of rows, for each panel, for each MR rows --
// the KC x NR panel (16 KiB at KC=256, NR=16) stays in L1 while the MC x KC block of A stays in L2.
// A is read in place by default (the MR row streams are sequential; the prefetcher follows them);
// with spec.scratch each A block is first packed MR-interleaved (measured about equal at 2x16).
// Wiring into an op (see test/kernels/gemm-packed-op.ts): prepare returns packB(...) (matmul/gemm-pack.ts; and the bias)
// as constants, emit calls emitPackedGemm with packedB = ctx.constantAddrs[0], and
// packedEpilogue(ctx.fn, ctx.epilogue, c) for fused epilogues (codegen/kernels/matmul/gemm-epilogue.ts).
import binaryen from "binaryen";
import type { Expr, Fn, Local } from "../../fn.js";
import { type Idx, idx, madd, sum } from "./gemm-tile.js";
import { threadShare, type ThreadCtx } from "../../threads.js";

/**
 * A fused epilogue applied to each f32x4 of finished outputs before it is stored: row and col are
 * i32 expressions of the output indices of the vector's first lane (fresh trees on every call). `lanes` < 4 only at the right edge (N % 4): a
 * callback that reads memory (a residual) must read only `lanes` columns there.
 */
export type PackedEpilogue = (v: Expr, row: Expr, col: Expr, lanes: number) => Expr;

/** An f32 matrix view: element (r, c) at byte addr + base() + 4 * (r * rs + c * cs). */
export interface RowMajor {
  addr: number;
  rs: number;
  /**
   * column stride in floats, default 1. Other values for A (read down its columns: an NCHW image as
   * positions x channels) and for C (stored transposed, lane by lane, through laneEpilogue)
   */
  cs?: number;
  /** runtime byte offset added to addr (e.g. of the batch); called once per use */
  base?: () => Expr;
}

export interface PackedTile {
  /** rows of the register tile */
  mr: number;
  /** columns of the register tile = columns of a packed panel (a multiple of 4) */
  nr: number;
  /** k steps per block: the KC x NR panel stays in L1 */
  kc: number;
  /** rows per block: the MC x KC block of A stays in L2 (a multiple of mr) */
  mc: number;
  /** k steps per loop iteration */
  unroll: number;
}

/**
 * Chosen by measurement (bench/gemm-packed.ts, interleaved runs on this 2-core EPYC, Node 20):
 * 2x16 reaches 42-44 GFLOPS on 256^3 and 512^3, about the 4x8 L1 peak loop (44-47); 4x8 gave ~38,
 * 5x8 ~30, 6x8/4x12/3x16 ~27 (V8 spills once accumulators + B vectors + the splat pass ~13 of
 * the 16 xmm registers), 1x32 ~19 (load-bound). Unrolling k by 2 costs a third of the speed
 * (28 vs 42), so the k loop is not unrolled. KC and MC matter little (+-3%) at these sizes; KC 384
 * over 256 took MiniLM's K=384 products in one block (whole model 2-7% faster, A/B interleaved;
 * ResNet-50 unchanged within noise), 512 was no better.
 */
export const DEFAULT_TILE: PackedTile = { mr: 2, nr: 16, kc: 384, mc: 128, unroll: 1 };

export interface PackedGemmSpec {
  M: number;
  N: number;
  K: number;
  a: RowMajor;
  /** byte address of packB(b, K, N, transB, tile.nr) in memory (B a compile-time constant) ... */
  packedB?: number;
  /** a runtime byte offset added to packedB (a B packed at run time into per-thread scratch) */
  packedBBase?: () => Expr;
  /**
   * ... or B (K x N, element (k, n) at addr + base() + 4 * (k * rs + n * cs)) read in place, e.g. a
   * runtime activation (NCHW 1x1 convolution: C = W X with W as A); edge vectors load lane by lane.
   * A column stride cs != 1 (B stored transposed: attention's K read as [b, t, h, d]) needs bScratch:
   * each panel is gathered lane by lane into it, the row tail's too
   */
  b?: RowMajor;
  c: RowMajor;
  alpha?: number;
  /** byte address of a float32[N] added along the columns (after alpha) */
  bias?: number;
  epilogue?: PackedEpilogue;
  /**
   * with a transposed C (c.cs != 1): applied to each finished value before it is stored at byte
   * address ptr() + offset (a fused kernel's Epilogue.scalar), after alpha and bias
   */
  laneEpilogue?: (v: Expr, ptr: () => Expr, offset: number) => Expr;
  tile?: Partial<PackedTile>;
  /**
   * byte address of packedAScratchBytes(...) bytes of scratch: when given, each MC x KC block of A
   * is first copied there MR-interleaved (k-major), so the microkernel reads A as one stream
   */
  scratch?: number;
  /**
   * byte address of packA(a, M, K, tile): A a compile-time constant already in the order the
   * scratch copy would give it, for every block at once (rows past the last whole MR tile are
   * still read in place through spec.a). a.base() is added too: with M % MR = 0 a packed A takes
   * the bytes A does, so packed groups laid end to end are found at the same offsets
   */
  packedA?: number;
  /**
   * byte address of packedBScratchBytes(K, tile) bytes (16-aligned), with b only: each KC x NR panel
   * of B is first copied there (zero-padded past N) per MC block of rows, so the microkernel reads
   * one contiguous L1-resident stream instead of NR columns of rows rs apart (a 7x7 image's rows
   * are 196 bytes apart: a 256-row panel spans 50 KB in place)
   */
  bScratch?: number;
  /** f32x4.relaxed_madd in the k loop; default: when the module has binaryen.Features.RelaxedSIMD */
  relaxed?: boolean;
  /**
   * with bScratch and no b or packedB: code that writes the KC x NR panel of B for K rows k0 ..
   * k0 + len, columns from p * NR (cols of them) at bScratch, NR floats per row, the columns
   * past cols zero (as far as ceil(cols / 4) vectors): B made on the fly, e.g. dequantized from
   * 4-bit weights (quant/nbits.ts), never stored whole; at threads into this thread's own copy of
   * bScratch (+ tid * scratchStride), where the tiles read it
   */
  bPanel?: (k0: Idx, len: number, p: Idx, cols: number) => Expr[];
  /**
   * a threaded layer (docs/THREADS.md): each thread computes its share of C's panels (or of its MR
   * row tiles, whichever splits more evenly), every output element by one thread in the same K
   * order as one thread does, and packs into its own scratch (scratch and bScratch + tid * stride;
   * a bPanel writes there too: quant/nbits.ts).
   */
  threads?: ThreadCtx;
  /**
   * not split, but run by every thread of a threaded layer on a different matrix (a batched
   * product split over its batch: attention's heads): packs into this thread's own scratch
   * (bScratch + tid * stride), as with threads
   */
  ownScratch?: ThreadCtx;
  /**
   * a symbolic row count (KernelCtx.runtimeExtent): the rows of this run, at most M (the padded
   * layout's: strides and scratch are M's). Whole MR tiles up to it; with M a multiple of MR, the
   * last tile of a run's rows reaches into the padding rows of A and C (C's rows past the run's
   * may change), else its tail (each possible tail length compiled, one chosen at run time). Not
   * with packedA; with threads, split by panels.
   */
  rows?: () => Expr;
  /**
   * a symbolic K (attention's P V sums over the sequence): the k steps of this run, at most K (at
   * least 1). One K block only (K <= tile.kc); not with bPanel, packedA or scratch (A packing)
   */
  kSteps?: () => Expr;
  /**
   * with rows: a symbolic N, this run's columns (at most N): the panels that hold them run, the
   * columns past them in the last one are computed into the padding
   */
  cols?: () => Expr;
}

/** Scratch bytes of the runtime B panel (PackedGemmSpec.bScratch): one KC x NR panel. */
export function packedBScratchBytes(K: number, tile: Partial<PackedTile> = {}): number {
  const t = { ...DEFAULT_TILE, ...tile };
  return 4 * Math.min(t.kc, K) * t.nr;
}

/** Scratch bytes the A packing of a product needs (0 when it is not worth it: one panel of B). */
export function packedAScratchBytes(M: number, N: number, K: number, tile: Partial<PackedTile> = {}): number {
  const t = { ...DEFAULT_TILE, ...tile };
  if (N <= t.nr || M < t.mr) return 0;
  return 4 * Math.min(t.mc, M - (M % t.mr)) * Math.min(t.kc, K);
}

/**
 * Where the microkernel reads A: tile rows start at start(i, k0) (+ the memarg offset(r, u) of row r,
 * k step u), and each k step moves `step` bytes.
 */
interface AView {
  start(i: Idx, k0: Idx): Expr;
  offset(r: number, u: number): number;
  step: number;
}

/** Where the microkernel reads B: like AView, with `exact` set when vectors past N must not be read. */
interface BView {
  start(p: Idx, k0: Idx): Expr;
  offset(u: number, v: number): number;
  step: number;
  exact: boolean;
}

/** Which part of K one emitted tile covers, and what it does at its ends. */
interface KBlock {
  /** first k (runtime for the middle blocks) */
  k0: Idx;
  len: number;
  /** a run-time k step count (at most len) in place of len: PackedGemmSpec.kSteps */
  steps?: () => Expr;
  /** accumulators start at zero (else from C) */
  first: boolean;
  /** alpha, bias and the epilogue are applied at the store */
  last: boolean;
}

interface Pool {
  acc: Local[][];
  b: Local[];
  a: Local;
  pa: Local;
  pb: Local;
  pend: Local;
  pc: Local;
  x: Local;
}

/**
 * Code for the whole product (M, N, K compile-time; nothing is read outside A, B, bias and C).
 * C must not overlap A, B or anything the epilogue reads: K blocks after the first accumulate
 * through C (partial sums are stored there, the epilogue runs only on the last block).
 */
export function emitPackedGemm(ctx: { fn: Fn }, spec: PackedGemmSpec): Expr[] {
  const { fn } = ctx;
  const t: PackedTile = { ...DEFAULT_TILE, ...spec.tile };
  if ([spec.packedB !== undefined, spec.b !== undefined, spec.bPanel !== undefined].filter((x) => x).length !== 1) throw new Error("packed gemm: give exactly one of packedB, b and bPanel");
  if (spec.bPanel && spec.bScratch === undefined) throw new Error("packed gemm: bPanel needs bScratch");
  if (t.nr % 4 || t.mc % t.mr) throw new Error(`packed gemm: bad tile ${JSON.stringify(t)}`);
  const { M, N, K } = spec;
  if ((spec.c.cs ?? 1) !== 1 && spec.epilogue) throw new Error("packed gemm: a transposed C takes laneEpilogue, not epilogue");
  if ((spec.b?.cs ?? 1) !== 1 && spec.bScratch === undefined) throw new Error("packed gemm: B in place must be row-major (a column stride needs bScratch)");
  if (M === 0 || N === 0) return [];
  if (spec.rows && spec.packedA !== undefined) throw new Error("packed gemm: a run-time row count takes no packed A");
  if (spec.kSteps && (K > t.kc || spec.bPanel || spec.packedA !== undefined || spec.scratch !== undefined || spec.threads)) throw new Error("packed gemm: a run-time K takes one K block, and no bPanel, packed A, A scratch or threads");
  const V = t.nr / 4;
  const v128 = binaryen.v128, i32 = binaryen.i32;
  const pool: Pool = {
    acc: Array.from({ length: t.mr }, () => Array.from({ length: V }, () => fn.local(v128))),
    b: Array.from({ length: V }, () => fn.local(v128)),
    a: fn.local(v128),
    pa: fn.local(i32), pb: fn.local(i32), pend: fn.local(i32), pc: fn.local(i32), x: fn.local(v128),
  };
  const g = new Emitter(fn, spec, t, pool);
  const blocks = spec.kSteps ? [{ k0: 0, len: K, first: true, last: true, steps: spec.kSteps }] : kBlocks(fn, K, t.kc);
  return blocks.map((kb) => g.pass(kb));
}

/** The K blocks: the first and last emitted once each, the middle ones as one runtime loop. */
function kBlocks(fn: Fn, K: number, kc: number): (KBlock | ((body: (kb: KBlock) => Expr) => Expr))[] {
  const n = Math.max(1, Math.ceil(K / kc));
  if (n === 1) return [{ k0: 0, len: K, first: true, last: true }];
  const lastStart = (n - 1) * kc;
  const out: (KBlock | ((body: (kb: KBlock) => Expr) => Expr))[] = [{ k0: 0, len: kc, first: true, last: false }];
  if (n > 2) out.push((body) => fn.loop(lastStart, (k0) => [body({ k0, len: kc, first: false, last: false })], { start: kc, step: kc }));
  out.push({ k0: lastStart, len: K - lastStart, first: false, last: true });
  return out;
}

class Emitter {
  private readonly m: binaryen.Module;
  private readonly bv: BView;
  constructor(private readonly fn: Fn, private readonly s: PackedGemmSpec, private readonly t: PackedTile, private readonly p: Pool) {
    this.m = fn.m;
    this.bv = this.bView();
  }

  private bView(): BView {
    const { m, s, t } = this;
    // B made on the fly, or B with a column stride: always through the scratch panel, the row tail too
    if (s.bPanel || this.bStrided) return this.panelView();
    if (s.b) {
      const b = s.b;
      return {
        start: (p, k0) => sum(m, [b.base?.(), idx(m, p, 4 * t.nr), idx(m, k0, 4 * b.rs)]),
        offset: (u, v) => b.addr + 4 * (u * b.rs + 4 * v),
        step: 4 * b.rs,
        exact: true,
      };
    }
    return {
      start: (p, k0) => sum(m, [s.packedBBase?.(), idx(m, p, 4 * s.K * t.nr), idx(m, k0, 4 * t.nr)]),
      offset: (u, v) => s.packedB! + 4 * (u * t.nr + 4 * v),
      step: 4 * t.nr,
      exact: false,
    };
  }

  pass(kb: KBlock | ((body: (kb: KBlock) => Expr) => Expr)): Expr {
    return typeof kb === "function" ? kb((b) => this.block(b)) : this.block(kb);
  }

  /** One K block over all of C: MC row blocks x panels x MR row tiles, then the row tail. */
  private block(kb: KBlock): Expr {
    if (this.s.rows) return this.rowsBlock(kb, this.s.rows);
    return this.s.threads ? this.splitBlock(kb, this.s.threads) : this.wholeBlock(kb);
  }

  /** wholeBlock with a run-time row count: MC blocks of whole MR tiles up to it, then the row tail */
  private rowsBlock(kb: KBlock, rowsOf: () => Expr): Expr {
    const { fn, m, t } = this;
    const { M, N } = this.s;
    const Pfull = Math.floor(N / t.nr);
    const tailCols = N % t.nr;
    const rows = fn.local(binaryen.i32), full = fn.local(binaryen.i32);
    // the bound a whole number of MR tiles: a run's row tail is one more whole tile, its rows past
    // the run's in the padding of A and C (the run's rows are fewer than M then), where a value
    // may be anything (docs/ARCHITECTURE.md "Symbolic dims"), so no tail tile is compiled;
    // else each possible tail is, and one runs
    const whole = M % t.mr === 0;
    const down = (x: () => Expr) => m.i32.sub(x(), m.i32.rem_u(x(), m.i32.const(t.mr)));
    const code: Expr[] = [rows.set(rowsOf()), full.set(down(whole ? () => m.i32.add(rows.get(), m.i32.const(t.mr - 1)) : () => rows.get()))];
    // the panels to run: those holding this run's columns (a symbolic N: whole panels, and whether
    // the tail panel holds some), of which this thread's share (threads: the tail panel counted
    // last): whole panels [lo, panels), and the tail panel when tailOn
    const colsOf = this.s.cols, th = this.s.threads;
    const ranged = colsOf !== undefined || th !== undefined;
    const lo = th && fn.local(binaryen.i32), panels = ranged ? fn.local(binaryen.i32) : undefined, tailOn = ranged ? fn.local(binaryen.i32) : undefined;
    if (colsOf) {
      const c = fn.local(binaryen.i32);
      code.push(c.set(colsOf()), panels!.set(m.i32.div_u(m.i32.add(c.get(), m.i32.const(t.nr - 1)), m.i32.const(t.nr))),
        panels!.set(m.select(m.i32.lt_u(panels!.get(), m.i32.const(Pfull)), panels!.get(), m.i32.const(Pfull))),
        tailOn!.set(tailCols ? m.i32.gt_u(c.get(), m.i32.const(Pfull * t.nr)) : m.i32.const(0)));
    } else if (ranged) code.push(panels!.set(m.i32.const(Pfull)), tailOn!.set(m.i32.const(tailCols ? 1 : 0)));
    if (th) {
      const units = fn.local(binaryen.i32), hi = fn.local(binaryen.i32);
      const share = threadShare(m, th, units.get);
      code.push(units.set(m.i32.add(panels!.get(), tailOn!.get())), lo!.set(share.lo), hi.set(share.hi),
        tailOn!.set(m.i32.and(tailOn!.get(), m.i32.eq(hi.get(), units.get()))),
        panels!.set(m.select(m.i32.lt_u(hi.get(), panels!.get()), hi.get(), panels!.get())));
    }
    const cols = panels && { lo, panels, tailOn: tailOn! };
    code.push(fn.loopDyn(m.i32.const(0), full.get(), (ib) => {
      const end = () => {
        const capped = () => m.i32.add(ib.get(), m.i32.const(t.mc));
        return m.select(m.i32.lt_u(capped(), full.get()), capped(), full.get());
      };
      return this.rowBlock(kb, ib, end, cols);
    }, t.mc));
    const own = (p: Idx, cols: number) => (this.s.bPanel ? this.s.bPanel(kb.k0, kb.len, p, cols) : this.bStrided ? this.packPanel(kb, p, cols) : []);
    for (let r = 1; r < t.mr && r <= M && !whole; r++) {
      const each = (f: (p: Local) => Expr[]) => (panels ? fn.loopDyn(lo ? lo.get() : m.i32.const(0), panels.get(), f) : fn.loop(Pfull, f));
      const tail = tailCols ? fn.block([...own(Pfull, tailCols), ...this.tile(kb, full, Pfull, r, tailCols)]) : m.nop();
      code.push(m.if(m.i32.eq(m.i32.sub(rows.get(), full.get()), m.i32.const(r)), fn.block([
        each((p) => [...own(p, t.nr), ...this.tile(kb, full, p, r, t.nr)]),
        tailCols && tailOn ? m.if(tailOn.get(), tail) : tail,
      ])));
    }
    return fn.block(code);
  }

  /** The MR tiles of rows ib..end() (an MC block) over every panel, A packed first where it pays. */
  private rowBlock(kb: KBlock, ib: Local, end: () => Expr, cols?: { lo?: Local; panels: Local; tailOn: Local }): Expr[] {
    const { fn, m, t } = this;
    const { M, N } = this.s;
    const Pfull = Math.floor(N / t.nr);
    const tailCols = N % t.nr;
    const pack = this.s.packedA === undefined && this.s.scratch !== undefined && packedAScratchBytes(M, N, this.s.K, t) > 0;
    const av = this.s.packedA !== undefined ? this.prepacked(kb.len) : pack ? this.packed(ib, kb.len) : undefined;
    const panel = (this.s.b || this.s.bPanel) && this.s.bScratch !== undefined ? this.panelView() : undefined;
    const rows = (p: Idx, cols: number) => [
      ...(panel ? (this.s.bPanel ? this.s.bPanel(kb.k0, kb.len, p, cols) : this.packPanel(kb, p, cols)) : []),
      fn.loopDyn(ib.get(), end(), (i) => this.tile(kb, i, p, t.mr, cols, av, panel), t.mr),
    ];
    if (cols) {
      // a symbolic N or threads: the panels [lo, panels) (each a call, as below)
      return [
        pack ? this.packA(kb, ib, end) : m.nop(),
        fn.loopDyn(cols.lo ? cols.lo.get() : m.i32.const(0), cols.panels.get(), (p) => {
          const body = rows(p, t.nr);
          const call = fn.outline(body);
          return call === undefined ? body : [call];
        }),
        tailCols ? m.if(cols.tailOn.get(), fn.block(rows(Pfull, tailCols))) : m.nop(),
      ];
    }
    return [
      pack ? this.packA(kb, ib, end) : m.nop(),
      // a call per panel: optimized code from the first run's first calls on (Fn.outline)
      fn.loop(Pfull, (p) => rows(p, t.nr), { outline: true }),
      tailCols ? fn.block(rows(Pfull, tailCols)) : m.nop(),
    ];
  }

  private wholeBlock(kb: KBlock): Expr {
    const { fn, m, t } = this;
    const { M, N } = this.s;
    const Mfull = M - (M % t.mr);
    const Pfull = Math.floor(N / t.nr);
    const tailCols = N % t.nr;
    const code: Expr[] = [];
    if (Mfull > 0) {
      code.push(fn.loop(Mfull, (ib) => {
        const end = () => {
          const capped = () => m.i32.add(ib.get(), m.i32.const(t.mc));
          if (Mfull <= t.mc) return m.i32.const(Mfull);
          return Mfull % t.mc === 0 ? capped() : m.select(m.i32.lt_u(capped(), m.i32.const(Mfull)), capped(), m.i32.const(Mfull));
        };
        return this.rowBlock(kb, ib, end);
      }, { step: t.mc }));
    }
    if (M % t.mr) {
      // B made on the fly has no panel in memory but the one written for it
      const own = (p: Idx, cols: number) => (this.s.bPanel ? this.s.bPanel(kb.k0, kb.len, p, cols) : this.bStrided ? this.packPanel(kb, p, cols) : []);
      code.push(fn.loop(Pfull, (p) => [...own(p, t.nr), ...this.tile(kb, Mfull, p, M % t.mr, t.nr)]));
      if (tailCols) code.push(fn.block([...own(Pfull, tailCols), ...this.tile(kb, Mfull, Pfull, M % t.mr, tailCols)]));
    }
    return fn.block(code);
  }

  /**
   * wholeBlock's work, this thread's share of it: by panels (the tail panel last) or by MR row
   * tiles (the row tail last), whichever divides more evenly among ThreadCtx.max threads.
   */
  private splitBlock(kb: KBlock, th: ThreadCtx): Expr {
    const { fn, m, t } = this;
    const { M, N } = this.s;
    const Mfull = M - (M % t.mr);
    const Pfull = Math.floor(N / t.nr);
    const tailCols = N % t.nr;
    const panels = Pfull + (tailCols ? 1 : 0);
    const tiles = Mfull / t.mr + (M % t.mr ? 1 : 0);
    // the busiest thread's share of the work (columns or rows, a tail unit counting what it holds)
    // over an even share, at the module's most threads
    const uneven = (units: number, full: number, tail: number) => {
      const at = (k: number) => Math.floor((units * k) / th.max);
      const work = (u: number) => (u < units - (tail ? 1 : 0) ? full : tail);
      let most = 0;
      for (let k = 0; k < th.max; k++) {
        let w = 0;
        for (let u = at(k); u < at(k + 1); u++) w += work(u);
        most = Math.max(most, w);
      }
      return most / ((units - (tail ? 1 : 0)) * full + tail) * th.max;
    };
    const byPanels = uneven(panels, t.nr, tailCols) <= uneven(tiles, t.mr, M % t.mr);
    const i32 = binaryen.i32;
    const lo = fn.local(i32), hi = fn.local(i32);
    const share = threadShare(m, th, byPanels ? panels : tiles);
    const code: Expr[] = [lo.set(share.lo), hi.set(share.hi)];
    const pack = this.s.packedA === undefined && this.s.scratch !== undefined && packedAScratchBytes(M, N, this.s.K, t) > 0;
    const own = (p: Idx, cols: number) => (this.s.bPanel ? this.s.bPanel(kb.k0, kb.len, p, cols) : this.bStrided ? this.packPanel(kb, p, cols) : []);
    // rows [r0, r1) (whole MR tiles) over panels [p0, p1) and the tail panel when `tail`
    const rows = (r0: () => Expr, r1: () => Expr, p0: () => Expr, p1: () => Expr, tail: () => Expr): Expr =>
      fn.loopDyn(r0(), r1(), (ib) => {
        const end = () => {
          const capped = () => m.i32.add(ib.get(), m.i32.const(t.mc));
          return m.select(m.i32.lt_u(capped(), r1()), capped(), r1());
        };
        const av = this.s.packedA !== undefined ? this.prepacked(kb.len) : pack ? this.packed(ib, kb.len) : undefined;
        const panel = (this.s.b || this.s.bPanel) && this.s.bScratch !== undefined ? this.panelView() : undefined;
        const panelRows = (p: Idx, cols: number) => [
          ...(panel ? (this.s.bPanel ? this.s.bPanel(kb.k0, kb.len, p, cols) : this.packPanel(kb, p, cols)) : []),
          fn.loopDyn(ib.get(), end(), (i) => this.tile(kb, i, p, t.mr, cols, av, panel), t.mr),
        ];
        return [
          pack ? this.packA(kb, ib, end) : m.nop(),
          fn.loopDyn(p0(), p1(), (p) => {
            const body = panelRows(p, t.nr);
            return [fn.outline(body) ?? fn.block(body)];
          }),
          tailCols ? m.if(tail(), fn.block(panelRows(Pfull, tailCols))) : m.nop(),
        ];
      }, t.mc);
    const c = (x: number) => () => m.i32.const(x);
    const capP = () => m.select(m.i32.lt_u(hi.get(), m.i32.const(Pfull)), hi.get(), m.i32.const(Pfull));
    const tailRows = (p0: () => Expr, p1: () => Expr, tail: () => Expr): Expr[] => [
      fn.loopDyn(p0(), p1(), (p) => [...own(p, t.nr), ...this.tile(kb, Mfull, p, M % t.mr, t.nr)]),
      tailCols ? m.if(tail(), fn.block([...own(Pfull, tailCols), ...this.tile(kb, Mfull, Pfull, M % t.mr, tailCols)])) : m.nop(),
    ];
    if (byPanels) {
      const tail = () => m.i32.eq(hi.get(), m.i32.const(panels));
      if (Mfull > 0) code.push(rows(c(0), c(Mfull), lo.get, capP, tail));
      if (M % t.mr) code.push(...tailRows(lo.get, capP, tail));
    } else {
      const tileRows = (x: Local) => () => {
        const r = m.i32.mul(x.get(), m.i32.const(t.mr));
        return m.select(m.i32.lt_u(r, m.i32.const(Mfull)), r, m.i32.const(Mfull));
      };
      const all = () => m.i32.const(1);
      if (Mfull > 0) code.push(rows(tileRows(lo), tileRows(hi), c(0), c(Pfull), all));
      if (M % t.mr) code.push(m.if(m.i32.eq(hi.get(), m.i32.const(tiles)), fn.block(tailRows(c(0), c(Pfull), all))));
    }
    return fn.block(code);
  }

  /** this thread's scratch offset from the layer's scratch address (0 in a one-thread layer) */
  private scratchOffset(): Expr | undefined {
    const th = this.s.threads ?? this.s.ownScratch;
    return th && th.scratchStride ? this.m.i32.mul(th.tid(), this.m.i32.const(th.scratchStride)) : undefined;
  }

  /** An R x cols tile at rows i.., panel p, over the K block kb. */
  private tile(kb: KBlock, i: Idx, p: Idx, R: number, cols: number, av: AView = this.direct(), bv: BView = this.bv): Expr[] {
    const { m, t, s, p: L } = this;
    const V = Math.ceil(cols / 4);
    const acc = L.acc.slice(0, R).map((row) => row.slice(0, V));
    const laneCount = (v: number) => Math.min(4, cols - 4 * v);
    const out: Expr[] = [
      L.pa.set(av.start(i, kb.k0)),
      L.pb.set(bv.start(p, kb.k0)),
      L.pc.set(sum(m, [s.c.base?.(), idx(m, i, 4 * s.c.rs), idx(m, p, 4 * t.nr * this.ccs)])),
    ];
    acc.forEach((row, r) => row.forEach((l, v) => out.push(l.set(kb.first
      ? m.v128.const(new Array(16).fill(0))
      : this.loadLanes(this.cAt(r, v), L.pc.get, laneCount(v), 4 * this.ccs)))));
    out.push(...(kb.steps ? this.kLoopDyn(kb.steps, acc, av, bv, laneCount) : this.kLoop(kb.len, acc, av, bv, laneCount)));
    acc.forEach((row, r) => row.forEach((l, v) => out.push(...this.store(kb, l, i, p, r, v, laneCount(v)))));
    return out;
  }

  /** kLoop over a run-time count of k steps, one at a time (none when the count is 0) */
  private kLoopDyn(steps: () => Expr, acc: Local[][], av: AView, bv: BView, lanes: (v: number) => number): Expr[] {
    const { m, fn, p: L } = this;
    const V = acc[0]?.length ?? 0;
    const body: Expr[] = [];
    for (let v = 0; v < V; v++) body.push(L.b[v].set(bv.exact ? this.loadLanes(bv.offset(0, v), L.pb.get, lanes(v)) : m.v128.load(bv.offset(0, v), 16, L.pb.get())));
    acc.forEach((row, r) => {
      body.push(L.a.set(m.v128.load32_splat(av.offset(r, 0), 4, L.pa.get())));
      row.forEach((l, v) => body.push(l.set(madd(m, L.a.get(), L.b[v].get(), l.get(), this.s.relaxed))));
    });
    body.push(L.pa.set(m.i32.add(L.pa.get(), m.i32.const(av.step))), L.pb.set(m.i32.add(L.pb.get(), m.i32.const(bv.step))));
    const label = fn.label("k");
    return [
      L.pend.set(m.i32.add(L.pb.get(), m.i32.mul(steps(), m.i32.const(bv.step)))),
      m.if(m.i32.lt_u(L.pb.get(), L.pend.get()), m.loop(label, fn.block([...body, m.br(label, m.i32.lt_u(L.pb.get(), L.pend.get()))]))),
    ];
  }

  /** for len k steps (unrolled by t.unroll, then single steps): acc += splat(A[r][k]) * B[k][..] */
  private kLoop(len: number, acc: Local[][], av: AView, bv: BView, lanes: (v: number) => number): Expr[] {
    const { m, fn, p: L } = this;
    const V = acc[0]?.length ?? 0;
    const step = (u: number): Expr[] => {
      const code: Expr[] = [];
      for (let v = 0; v < V; v++) {
        code.push(L.b[v].set(bv.exact ? this.loadLanes(bv.offset(u, v), L.pb.get, lanes(v)) : m.v128.load(bv.offset(u, v), 16, L.pb.get())));
      }
      acc.forEach((row, r) => {
        code.push(L.a.set(m.v128.load32_splat(av.offset(r, u), 4, L.pa.get())));
        row.forEach((l, v) => code.push(l.set(madd(m, L.a.get(), L.b[v].get(), l.get(), this.s.relaxed))));
      });
      return code;
    };
    const advance = (u: number) => [L.pa.set(m.i32.add(L.pa.get(), m.i32.const(av.step * u))), L.pb.set(m.i32.add(L.pb.get(), m.i32.const(bv.step * u)))];
    const U = Math.max(1, this.t.unroll);
    const main = len - (len % U);
    const code: Expr[] = [];
    if (main > 0) {
      const body: Expr[] = [];
      for (let u = 0; u < U; u++) body.push(...step(u));
      body.push(...advance(U));
      if (main === U) code.push(...body);
      else {
        const label = fn.label("k");
        code.push(L.pend.set(m.i32.add(L.pb.get(), m.i32.const(bv.step * main))),
          m.loop(label, fn.block([...body, m.br(label, m.i32.lt_u(L.pb.get(), L.pend.get()))])));
      }
    }
    for (let u = 0; u < len % U; u++) code.push(...step(u));
    return code;
  }

  /** B's panel as packPanel left it in bScratch */
  private panelView(): BView {
    const { m, t, s } = this;
    return { start: () => sum(m, [this.scratchOffset()]), offset: (u, v) => s.bScratch! + 4 * (u * t.nr + 4 * v), step: 4 * t.nr, exact: false };
  }

  /**
   * Copies rows k0..k0+len, columns p*NR.. (cols of them) of B into bScratch, NR floats per row;
   * the vectors past cols are zero-filled only as far as the tile reads them (ceil(cols/4) vectors).
   */
  private packPanel(kb: KBlock, p: Idx, cols: number): Expr[] {
    const { m, fn, t, s, p: L } = this;
    const b = s.b!;
    const cs = b.cs ?? 1;
    const V = Math.ceil(cols / 4);
    if (kb.len === 0) return []; // K = 0: no row to copy (the loop below runs its body once)
    const label = fn.label("pack");
    const loop = (body: Expr) => (kb.steps ? m.if(m.i32.lt_u(L.pb.get(), L.pend.get()), body) : body);
    return [
      L.pa.set(sum(m, [b.base?.(), idx(m, p, 4 * t.nr * cs), idx(m, kb.k0, 4 * b.rs)])),
      L.pb.set(sum(m, [this.scratchOffset()])),
      L.pend.set(sum(m, [this.scratchOffset(), kb.steps ? m.i32.mul(kb.steps(), m.i32.const(4 * t.nr)) : m.i32.const(4 * t.nr * kb.len)])),
      loop(m.loop(label, fn.block([
        ...Array.from({ length: V }, (_, v) => m.v128.store(s.bScratch! + 16 * v, 16, L.pb.get(), this.loadLanes(b.addr + 16 * v * cs, L.pa.get, Math.min(4, cols - 4 * v), 4 * cs))),
        L.pa.set(m.i32.add(L.pa.get(), m.i32.const(4 * b.rs))),
        L.pb.set(m.i32.add(L.pb.get(), m.i32.const(4 * t.nr))),
        m.br(label, m.i32.lt_u(L.pb.get(), L.pend.get())),
      ]))),
    ];
  }

  /** B read in place with a column stride (its panels gathered lane by lane into bScratch) */
  private get bStrided(): boolean {
    return (this.s.b?.cs ?? 1) !== 1;
  }

  /** C's column stride in floats */
  private get ccs(): number {
    return this.s.c.cs ?? 1;
  }

  /** byte offset (from pc) of accumulator (r, v)'s first lane */
  private cAt(r: number, v: number): number {
    return this.s.c.addr + 4 * (r * this.s.c.rs + 4 * v * this.ccs);
  }

  /** A read in place */
  private direct(): AView {
    const { m, s } = this;
    const cs = s.a.cs ?? 1;
    return {
      start: (i, k0) => sum(m, [s.a.base?.(), idx(m, i, 4 * s.a.rs), idx(m, k0, 4 * cs)]),
      offset: (r, u) => s.a.addr + 4 * (r * s.a.rs + u * cs),
      step: 4 * cs,
    };
  }

  /** A's block of rows ib.. as packA left it in scratch: tile rows i.. at (i - ib) * len floats */
  private packed(ib: Local, len: number): AView {
    const { m, t } = this;
    return {
      start: (i) => sum(m, [this.scratchOffset(), m.i32.mul(m.i32.sub(idx(m, i, 1), ib.get()), m.i32.const(4 * len))]),
      offset: (r, u) => this.s.scratch! + 4 * (u * t.mr + r),
      step: 4 * t.mr,
    };
  }

  /** A as packA laid it out at spec.packedA: tile rows i.. of the K block at k0 (len long) */
  private prepacked(len: number): AView {
    const { m, t, s } = this;
    const Mfull = s.M - (s.M % t.mr);
    return {
      start: (i, k0) => sum(m, [s.a.base?.(), idx(m, k0, 4 * Mfull), idx(m, i, 4 * len)]),
      offset: (r, u) => s.packedA! + 4 * (u * t.mr + r),
      step: 4 * t.mr,
    };
  }

  /** Copies rows ib..end (whole MR tiles) x k0..k0+len of A into scratch, MR-interleaved. */
  private packA(kb: KBlock, ib: Local, end: () => Expr): Expr {
    const { m, fn, t, s, p: L } = this;
    const src = this.direct();
    return fn.loopDyn(ib.get(), end(), (i) => [
      L.pa.set(src.start(i, kb.k0)),
      L.pb.set(sum(m, [this.scratchOffset(), m.i32.mul(m.i32.sub(i.get(), ib.get()), m.i32.const(4 * kb.len))])),
      fn.loop(kb.len, () => [
        ...Array.from({ length: t.mr }, (_, r) => m.f32.store(s.scratch! + 4 * r, 4, L.pb.get(), m.f32.load(src.offset(r, 0), 4, L.pa.get()))),
        L.pa.set(m.i32.add(L.pa.get(), m.i32.const(src.step))),
        L.pb.set(m.i32.add(L.pb.get(), m.i32.const(4 * t.mr))),
      ]),
    ], t.mr);
  }

  /** Stores accumulator (r, v): alpha, bias and the epilogue on the last K block; lanes < 4 lane by lane. */
  private store(kb: KBlock, l: Local, i: Idx, p: Idx, r: number, v: number, lanes: number): Expr[] {
    const { m, t, s, p: L } = this;
    let x = l.get();
    const col = () => sum(m, [idx(m, p, t.nr), m.i32.const(4 * v)]);
    if (kb.last) {
      if (s.alpha !== undefined && s.alpha !== 1) x = m.f32x4.mul(x, m.f32x4.splat(m.f32.const(s.alpha)));
      if (s.bias !== undefined) x = m.f32x4.add(x, this.loadLanes(s.bias + 16 * v, () => idx(m, p, 4 * t.nr), lanes));
      if (s.epilogue) x = s.epilogue(x, sum(m, [idx(m, i, 1), m.i32.const(r)]), col(), lanes);
    }
    const off = this.cAt(r, v), cs = this.ccs;
    // a transposed C of one column has cs 1 too, but its epilogue is still lane by lane
    if (lanes === 4 && cs === 1 && !(kb.last && s.laneEpilogue)) return [m.v128.store(off, 16, L.pc.get(), x)];
    // partial vectors, and every vector of a transposed C: lane by lane
    return [L.x.set(x), ...Array.from({ length: lanes }, (_, q) => {
      const at = off + 4 * q * cs;
      let e = m.f32x4.extract_lane(L.x.get(), q);
      if (kb.last && s.laneEpilogue) e = s.laneEpilogue(e, L.pc.get, at);
      return m.f32.store(at, 4, L.pc.get(), e);
    })];
  }

  /**
   * lanes f32 values at addr + ptr(), `stride` bytes apart (the rest zero): a v128 load only when
   * all four lie inside and are adjacent
   */
  private loadLanes(addr: number, ptr: () => Expr, lanes: number, stride = 4): Expr {
    const { m } = this;
    if (lanes === 4 && stride === 4) return m.v128.load(addr, 16, ptr());
    let e = m.v128.load32_zero(addr, 4, ptr());
    for (let q = 1; q < lanes; q++) e = m.v128.load32_lane(addr + stride * q, 4, q, ptr(), e);
    return e;
  }
}
