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
// The interface is in gemm-packed-spec.ts, the microkernel (tiles, views, stores) in
// gemm-packed-micro.ts; this file schedules the tiles over C (K blocks, row blocks, panels, threads).
import binaryen from "binaryen";
import type { Expr, Fn, Local } from "../../fn.js";
import type { Idx } from "./gemm-tile.js";
import { threadShare, type ThreadCtx } from "../../threads.js";
import { DEFAULT_TILE, packedAScratchBytes, type PackedGemmSpec, type PackedTile } from "./gemm-packed-spec.js";
import { PackedMicrokernel, type KBlock, type Pool } from "./gemm-packed-micro.js";

export { DEFAULT_TILE, packedAScratchBytes, packedBScratchBytes, type PackedEpilogue, type PackedGemmSpec, type PackedTile, type RowMajor } from "./gemm-packed-spec.js";

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

class Emitter extends PackedMicrokernel {
  pass(kb: KBlock | ((body: (kb: KBlock) => Expr) => Expr)): Expr {
    return typeof kb === "function" ? kb((b) => this.block(b)) : this.block(kb);
  }

  /** One K block over all of C: MC row blocks x panels x MR row tiles, then the row tail. */
  private block(kb: KBlock): Expr {
    // a run-time N alone: the run-time rows' code, every row this run's
    if (this.s.rows || this.s.cols) return this.rowsBlock(kb, this.s.rows ?? (() => this.m.i32.const(this.s.M)));
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
      if (!this.s.rows && r !== M % t.mr) continue; // all M rows: the one tail there is
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

}
