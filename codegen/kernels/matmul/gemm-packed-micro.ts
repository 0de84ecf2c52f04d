// The packed GEMM's microkernel (codegen/kernels/matmul/gemm-packed.ts): one MR x NR tile of f32x4
// accumulators over a K block (tile, kLoop), where it reads A and B (views: in place, packed ahead,
// packed into scratch at run time) and how it stores C (alpha, bias and the epilogue on the last K
// block). gemm-packed.ts's Emitter schedules these tiles over C: row blocks, panels, threads.
import binaryen from "binaryen";
import type { Expr, Fn, Local } from "../../fn.js";
import { type Idx, idx, madd, sum } from "./gemm-tile.js";
import type { PackedGemmSpec, PackedTile } from "./gemm-packed-spec.js";

/**
 * Where the microkernel reads A: tile rows start at start(i, k0) (+ the memarg offset(r, u) of row r,
 * k step u), and each k step moves `step` bytes.
 */
export interface AView {
  start(i: Idx, k0: Idx): Expr;
  offset(r: number, u: number): number;
  step: number;
}

/** Where the microkernel reads B: like AView, with `exact` set when vectors past N must not be read. */
export interface BView {
  start(p: Idx, k0: Idx): Expr;
  offset(u: number, v: number): number;
  step: number;
  exact: boolean;
}

/** Which part of K one emitted tile covers, and what it does at its ends. */
export interface KBlock {
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

export interface Pool {
  acc: Local[][];
  b: Local[];
  a: Local;
  pa: Local;
  pb: Local;
  pend: Local;
  pc: Local;
  x: Local;
}

/** The tiles of one product: the views, the microkernel, the stores (Emitter schedules them). */
export abstract class PackedMicrokernel {
  protected readonly m: binaryen.Module;
  protected readonly bv: BView;
  constructor(protected readonly fn: Fn, protected readonly s: PackedGemmSpec, protected readonly t: PackedTile, protected readonly p: Pool) {
    this.m = fn.m;
    this.bv = this.bView();
  }

  protected bView(): BView {
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

  /** this thread's scratch offset from the layer's scratch address (0 in a one-thread layer) */
  protected scratchOffset(): Expr | undefined {
    const th = this.s.threads ?? this.s.ownScratch;
    return th && th.scratchStride ? this.m.i32.mul(th.tid(), this.m.i32.const(th.scratchStride)) : undefined;
  }

  /** An R x cols tile at rows i.., panel p, over the K block kb. */
  protected tile(kb: KBlock, i: Idx, p: Idx, R: number, cols: number, av: AView = this.direct(), bv: BView = this.bv): Expr[] {
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
  protected kLoopDyn(steps: () => Expr, acc: Local[][], av: AView, bv: BView, lanes: (v: number) => number): Expr[] {
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
  protected kLoop(len: number, acc: Local[][], av: AView, bv: BView, lanes: (v: number) => number): Expr[] {
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
  protected panelView(): BView {
    const { m, t, s } = this;
    return { start: () => sum(m, [this.scratchOffset()]), offset: (u, v) => s.bScratch! + 4 * (u * t.nr + 4 * v), step: 4 * t.nr, exact: false };
  }

  /**
   * Copies rows k0..k0+len, columns p*NR.. (cols of them) of B into bScratch, NR floats per row;
   * the vectors past cols are zero-filled only as far as the tile reads them (ceil(cols/4) vectors).
   */
  protected packPanel(kb: KBlock, p: Idx, cols: number): Expr[] {
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
  protected get bStrided(): boolean {
    return (this.s.b?.cs ?? 1) !== 1;
  }

  /** C's column stride in floats */
  protected get ccs(): number {
    return this.s.c.cs ?? 1;
  }

  /** byte offset (from pc) of accumulator (r, v)'s first lane */
  protected cAt(r: number, v: number): number {
    return this.s.c.addr + 4 * (r * this.s.c.rs + 4 * v * this.ccs);
  }

  /** A read in place */
  protected direct(): AView {
    const { m, s } = this;
    const cs = s.a.cs ?? 1;
    return {
      start: (i, k0) => sum(m, [s.a.base?.(), idx(m, i, 4 * s.a.rs), idx(m, k0, 4 * cs)]),
      offset: (r, u) => s.a.addr + 4 * (r * s.a.rs + u * cs),
      step: 4 * cs,
    };
  }

  /** A's block of rows ib.. as packA left it in scratch: tile rows i.. at (i - ib) * len floats */
  protected packed(ib: Local, len: number): AView {
    const { m, t } = this;
    return {
      start: (i) => sum(m, [this.scratchOffset(), m.i32.mul(m.i32.sub(idx(m, i, 1), ib.get()), m.i32.const(4 * len))]),
      offset: (r, u) => this.s.scratch! + 4 * (u * t.mr + r),
      step: 4 * t.mr,
    };
  }

  /** A as packA laid it out at spec.packedA: tile rows i.. of the K block at k0 (len long) */
  protected prepacked(len: number): AView {
    const { m, t, s } = this;
    const Mfull = s.M - (s.M % t.mr);
    return {
      start: (i, k0) => sum(m, [s.a.base?.(), idx(m, k0, 4 * Mfull), idx(m, i, 4 * len)]),
      offset: (r, u) => s.packedA! + 4 * (u * t.mr + r),
      step: 4 * t.mr,
    };
  }

  /** Copies rows ib..end (whole MR tiles) x k0..k0+len of A into scratch, MR-interleaved. */
  protected packA(kb: KBlock, ib: Local, end: () => Expr): Expr {
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
  protected store(kb: KBlock, l: Local, i: Idx, p: Idx, r: number, v: number, lanes: number): Expr[] {
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
  protected loadLanes(addr: number, ptr: () => Expr, lanes: number, stride = 4): Expr {
    const { m } = this;
    if (lanes === 4 && stride === 4) return m.v128.load(addr, 16, ptr());
    let e = m.v128.load32_zero(addr, 4, ptr());
    for (let q = 1; q < lanes; q++) e = m.v128.load32_lane(addr + stride * q, 4, q, ptr(), e);
    return e;
  }
}
