// MatMulNBits (com.microsoft): Y = A W^T (+ bias) with W block-quantized to 4 or 8 bits. The
// weights stay packed in memory (quant/nbits-pack.ts) and are unpacked in registers:
//   "gemv-nbits"   one or two rows of A (a decoder's batch-1 step): every weight streamed once,
//                  a panel row of 16 unpacked per k (nibbles split, zero point subtracted, widened
//                  to float) and multiplied by the splatted A value; per block the sums are scaled
//                  once by the block's 16 scales;
//   "panels-nbits" more rows: the float packed GEMM (matmul/gemm-packed.ts) with each KC x 16
//                  panel of W^T dequantized into its L1 scratch panel instead of copied.
// Both compute (q - zp) in integers and scale in float32 as onnxruntime's accuracy level 0 does
// (the GEMV groups a block's products before scaling: one rounding order among others).
// At threads both share the 16-column panels (the GEMM as the packed GEMM shares them, each
// thread dequantizing its panels into its own scratch): the same code per column, the same bytes.
import binaryen from "binaryen";
import type { Expr, Fn, Local, Trips } from "../../fn.js";
import { DEFAULT_TILE, emitPackedGemm, packedBScratchBytes, type RowMajor } from "../matmul/gemm-packed.js";
import { paddedRows } from "../matmul/packed.js";
import { packedEpilogue } from "../matmul/gemm-epilogue.js";
import { idx, madd, type Idx } from "../matmul/gemm-tile.js";
import { halfScales, matMulNBitsWeights, NBITS_NR, packNBits, type NBitsWeights } from "./nbits-pack.js";
import { KernelTable, variant, type KernelCtx, type KernelPrep, type LayerCtx } from "../kernel.js";
import { widenFiniteHalfs } from "../../math/half.js";
import { threadScratch, threadShare } from "../../threads.js";

const table = new KernelTable();

interface NBitsPlan {
  w: NBitsWeights;
  M: number;
  /** KC of the panel GEMM: whole blocks */
  kc: number;
  /** the scales kept as float16 codes (quant/nbits-pack.ts halfScales) */
  half: boolean;
}

const prod = (d: number[]) => d.reduce((a, b) => a * b, 1);

function nbitsPlan(layer: LayerCtx): NBitsPlan | undefined {
  const a = layer.input(0), b = layer.input(1), s = layer.input(2), zp = layer.inputs[3];
  const K = layer.attrs.int("K", 0), N = layer.attrs.int("N", 0), bits = layer.attrs.int("bits", 4), bs = layer.attrs.int("block_size", 0);
  if (a.dtype !== "float32" || !b.value || !s.value || (zp && !zp.value) || (bits !== 4 && bits !== 8)) return undefined;
  const w = matMulNBitsWeights(K, N, bits as 4 | 8, bs, b.value, s.value, zp?.value);
  if (!w) return undefined;
  const kc = Math.max(bs, Math.floor(DEFAULT_TILE.kc / bs) * bs);
  return { w, M: prod(a.dims.slice(0, -1)), kc, half: halfScales(w) };
}

function prepare(plan: NBitsPlan, extraScratch = 0): KernelPrep {
  const p = packNBits(plan.w);
  const scales = plan.half ? p.halfScale! : p.scale;
  return { constants: [p.q, p.zp, new Uint8Array(scales.buffer)], unread: [1, 2, 3], scratchBytes: extraScratch };
}

/**
 * Reads a block's 16 scales as four f32x4 (i = 0..3: columns 4i .. 4i + 3) from the packed scales
 * at `scaleAt`, block `blk` (panel * blocks + block): float32, or float16 codes widened exactly
 * (codegen/math/half.ts widenFiniteHalfs; the packer keeps float16 only when every scale is one).
 */
function scaleReader(fn: Fn, half: boolean, scaleAt: number): (i: number, blk: Local) => Expr {
  const m = fn.m;
  if (!half) return (i, blk) => m.v128.load(scaleAt + 16 * i, 4, m.i32.shl(blk.get(), m.i32.const(6)));
  const h = fn.local(binaryen.v128);
  return (i, blk) => m.block(null, [
    h.set(m.i32x4.extend_low_i16x8_u(m.v128.load64_zero(scaleAt + 8 * i, 8, m.i32.shl(blk.get(), m.i32.const(5))))),
    widenFiniteHalfs(m, h.get),
  ], binaryen.v128);
}

/** Unpacks panel rows (16 weights at one k) into four f32x4 of (q - zp) (not yet scaled). */
class Unpacker {
  private readonly v: Local;
  private readonly rows: Local[];
  constructor(private readonly fn: Fn, private readonly bits: 4 | 8, private readonly zp: Local) {
    this.v = fn.local(binaryen.v128);
    this.rows = [fn.local(binaryen.v128), fn.local(binaryen.v128)];
  }

  /** statements that load the rows at k and k + 1 (4 bits: one 16-byte load) from ptr + off */
  load(ptr: () => Expr, off: number, two: boolean): Expr[] {
    const m = this.fn.m;
    if (this.bits === 8) return [this.rows[0].set(m.v128.load(off, 1, ptr())), ...(two ? [this.rows[1].set(m.v128.load(off + 16, 1, ptr()))] : [])];
    const lo = () => m.v128.and(this.v.get(), m.i8x16.splat(m.i32.const(15)));
    const hi = () => m.i8x16.shr_u(this.v.get(), m.i32.const(4));
    const first = Array.from({ length: 16 }, (_, i) => (i < 8 ? i : 8 + i));
    const second = first.map((i) => i + 8);
    return [
      this.v.set(two ? m.v128.load(off, 1, ptr()) : m.v128.load64_zero(off, 1, ptr())),
      this.rows[0].set(m.i8x16.shuffle(lo(), hi(), first)),
      ...(two ? [this.rows[1].set(m.i8x16.shuffle(lo(), hi(), second))] : []),
    ];
  }

  /** the four f32x4 of row r (columns 4i .. 4i + 3) */
  floats(r: number): Expr[] {
    const m = this.fn.m;
    const row = this.rows[r].get;
    let h: Expr[];
    if (this.bits === 4) {
      // q - zp in [-15, 15]: an i8 difference, widened
      const d = () => m.i8x16.sub(row(), this.zp.get());
      h = [m.i16x8.extend_low_i8x16_s(d()), m.i16x8.extend_high_i8x16_s(d())];
    } else {
      const zp16 = (high: boolean) => (high ? m.i16x8.extend_high_i8x16_u(this.zp.get()) : m.i16x8.extend_low_i8x16_u(this.zp.get()));
      h = [false, true].map((high) => m.i16x8.sub(high ? m.i16x8.extend_high_i8x16_u(row()) : m.i16x8.extend_low_i8x16_u(row()), zp16(high)));
    }
    return h.flatMap((x) => [m.f32x4.convert_i32x4_s(m.i32x4.extend_low_i16x8_s(x)), m.f32x4.convert_i32x4_s(m.i32x4.extend_high_i16x8_s(x))]);
  }
}

/** Byte offsets of the packed pieces: per-k rows of panel p, and per-block zero points and scales. */
function layoutOf(w: NBitsWeights) {
  const Kp = w.K + (w.K & 1), rowBytes = w.bits === 4 ? 8 : 16;
  return { Kp, rowBytes, panelBytes: Kp * rowBytes };
}

/**
 * The panel GEMM's bPanel: rows k0 .. k0 + len (whole blocks, KC a multiple of bs) of panel p
 * dequantized into `to`, 16 floats a row.
 */
function panelFill(ctx: KernelCtx, w: NBitsWeights, half: boolean, to: () => Expr): (k0: Idx, len: number, p: Idx, cols: number) => Expr[] {
  const { m, fn } = ctx;
  const [qAt, zpAt, scaleAt] = ctx.constantAddrs;
  const scaleOf = scaleReader(fn, half, scaleAt);
  const { rowBytes, panelBytes } = layoutOf(w);
  const zp = fn.local(binaryen.v128), sv = [0, 1, 2, 3].map(() => fn.local(binaryen.v128));
  const src = fn.local(binaryen.i32), dst = fn.local(binaryen.i32), blk = fn.local(binaryen.i32);
  const u = new Unpacker(fn, w.bits, zp);
  return (k0, len, p) => {
    const code: Expr[] = [];
    const blocks = Math.ceil(len / w.bs);
    const body = (b: Local | number, rows: number): Expr[] => {
      const bIdx = () => m.i32.add(m.i32.add(m.i32.mul(idx(m, p, 1), m.i32.const(w.blocks)), m.i32.div_u(idx(m, k0, 1), m.i32.const(w.bs))), typeof b === "number" ? m.i32.const(b) : b.get());
      const out: Expr[] = [
        blk.set(bIdx()),
        zp.set(m.v128.load(zpAt, 1, m.i32.shl(blk.get(), m.i32.const(4)))),
        ...sv.map((l, i) => l.set(scaleOf(i, blk))),
      ];
      const store = (r: number) => u.floats(r).map((f, i) => m.v128.store(16 * i + 64 * r, 16, dst.get(), m.f32x4.mul(f, sv[i].get())));
      const pairs = Math.floor(rows / 2);
      if (pairs > 0) out.push(fn.loop(pairs, () => [...u.load(src.get, 0, true), ...store(0), ...store(1),
        src.set(m.i32.add(src.get(), m.i32.const(2 * rowBytes))), dst.set(m.i32.add(dst.get(), m.i32.const(128)))]));
      if (rows & 1) out.push(...u.load(src.get, 0, false), ...store(0), src.set(m.i32.add(src.get(), m.i32.const(rowBytes))), dst.set(m.i32.add(dst.get(), m.i32.const(64))));
      return out;
    };
    code.push(
      src.set(m.i32.add(m.i32.add(m.i32.const(qAt), m.i32.mul(idx(m, p, 1), m.i32.const(panelBytes))), m.i32.mul(idx(m, k0, 1), m.i32.const(rowBytes)))),
      dst.set(to()),
    );
    const full = Math.floor(len / w.bs);
    if (full > 0) code.push(fn.loop(full, (b) => body(b, w.bs)));
    if (blocks > full) code.push(...body(full, len - full * w.bs));
    return code;
  };
}

const PANELS = variant<NBitsPlan>({
  name: "panels-nbits",
  plan: nbitsPlan,
  prepare: (_ctx, plan) => prepare(plan, packedBScratchBytes(plan.w.K, { kc: plan.kc })),
  emit: (ctx, plan) => {
    const { w, M } = plan;
    const c: RowMajor = { addr: ctx.output(0).addr, rs: w.N };
    const bias = ctx.inputs[5];
    const m = ctx.m;
    const threads = ctx.splitAmong();
    // each thread fills its panels into its own scratch (the GEMM reads them there: scratchOffset)
    const own = () => threadScratch(m, threads, ctx.scratchAddr);
    // symbolic dims (A [1, seq, K] in the prefix form): this run's rows; a run of at most
    // GEMV_ROWS of them (a decoder's step of one token) takes the GEMV's code, as its pinned build would
    // ([batch, seq, K] in the padded layout: a product per block of rows under the last varying dim)
    const y = ctx.output(0), a = ctx.input(0);
    const padded = paddedRows(ctx, y);
    if (padded && (a.dims.length !== y.dims.length || a.dims.slice(0, -1).join() !== y.dims.slice(0, -1).join())) ctx.unsupported(`MatMulNBits over symbolic dims in the padded layout needs A with Y's rows, got A [${a.dims.join(",")}] for Y [${y.dims.join(",")}]`);
    const Mg = padded ? padded.Mb : M;
    const blk = padded && ctx.fn.local(binaryen.i32);
    const at = (bytesPerRow: number) => (blk ? () => m.i32.mul(blk.get(), m.i32.const(Mg * bytesPerRow)) : undefined);
    const rows = padded ? padded.rows : ctx.runtimeExtent(y, M) === undefined ? undefined : () => ctx.runtimeExtent(y, M)!;
    const cb: RowMajor = { ...c, base: at(4 * w.N) };
    const gemm = ctx.fn.block(emitPackedGemm(ctx, {
      M: Mg, N: w.N, K: w.K, c: cb, threads, rows,
      a: { addr: a.addr, rs: w.K, base: at(4 * w.K) },
      bScratch: ctx.scratchAddr,
      bPanel: panelFill(ctx, w, plan.half, own),
      bias: bias?.addr,
      epilogue: ctx.epilogue && packedEpilogue(ctx.fn, ctx.epilogue, cb),
      tile: { kc: plan.kc },
    }));
    const first = blk ? () => m.i32.mul(blk.get(), m.i32.const(Mg)) : undefined;
    const code = rows ? m.if(m.i32.le_u(rows(), m.i32.const(GEMV_ROWS)), gemvCode(ctx, plan, rows, first), gemm) : gemm;
    ctx.fn.emit(padded && blk ? ctx.fn.nest(padded.trips, (idx) => [blk.set(ctx.fn.linear(idx, padded.strides)), code]) : code);
  },
});

/** Rows of A at most this many take the GEMV (weights streamed once per row). */
const GEMV_ROWS = 2;

const GEMV = variant<NBitsPlan>({
  name: "gemv-nbits",
  // its rows are fixed: a layer whose dims vary takes the panels
  staticShapes: true,
  plan: (layer) => { const p = nbitsPlan(layer); return p && p.M <= GEMV_ROWS ? p : undefined; },
  prepare: (_ctx, plan) => prepare(plan),
  emit: emitGemv,
});

/** y[r][n] = sum over blocks b of scale[n][b] * sum_{k in b} a[r][k] (q[n][k] - zp[n][b]) (+ bias), 16 columns per panel. */
function emitGemv(ctx: KernelCtx, plan: NBitsPlan): void {
  ctx.fn.emit(gemvCode(ctx, plan, plan.M));
}

/** The GEMV's code over `rows` rows of A (a number, or this run's count: symbolic dims), from row `first` (0). */
function gemvCode(ctx: KernelCtx, plan: NBitsPlan, rows: Trips, first?: () => Expr): Expr {
  const { m, fn } = ctx;
  const { w } = plan;
  const overRows = (body: (r: Local) => Expr[]) => {
    if (typeof rows === "number") return fn.loop(rows, body);
    if (!first) return fn.loopDyn(m.i32.const(0), rows(), body);
    const r0 = fn.local(binaryen.i32);
    return fn.block([r0.set(first()), fn.loopDyn(r0.get(), m.i32.add(r0.get(), rows()), body)]);
  };
  const [qAt, zpAt, scaleAt] = ctx.constantAddrs;
  const scaleOf = scaleReader(fn, plan.half, scaleAt);
  const { rowBytes, panelBytes } = layoutOf(w);
  const a = ctx.input(0), y = ctx.output(0), bias = ctx.inputs[5];
  const acc = [0, 1, 2, 3].map(() => fn.local(binaryen.v128)), part = [0, 1, 2, 3].map(() => fn.local(binaryen.v128));
  const zp = fn.local(binaryen.v128), av = fn.local(binaryen.v128), x = fn.local(binaryen.v128);
  const src = fn.local(binaryen.i32), ap = fn.local(binaryen.i32), blk = fn.local(binaryen.i32), row = fn.local(binaryen.i32), yp = fn.local(binaryen.i32);
  const u = new Unpacker(fn, w.bits, zp);
  const panels = Math.ceil(w.N / NBITS_NR);
  const step = (r: number, aOff: number): Expr[] => [
    av.set(m.v128.load32_splat(aOff, 4, ap.get())),
    ...u.floats(r).map((f, i) => part[i].set(madd(m, av.get(), f, part[i].get()))),
  ];
  const block = (p: Local, b: Local | number, rows: number): Expr[] => {
    const out: Expr[] = [
      blk.set(m.i32.add(m.i32.mul(p.get(), m.i32.const(w.blocks)), typeof b === "number" ? m.i32.const(b) : b.get())),
      zp.set(m.v128.load(zpAt, 1, m.i32.shl(blk.get(), m.i32.const(4)))),
      ...part.map((l) => l.set(m.v128.const(new Array(16).fill(0)))),
    ];
    const pairs = Math.floor(rows / 2);
    if (pairs > 0) out.push(fn.loop(pairs, () => [...u.load(src.get, 0, true), ...step(0, 0), ...step(1, 4),
      src.set(m.i32.add(src.get(), m.i32.const(2 * rowBytes))), ap.set(m.i32.add(ap.get(), m.i32.const(8)))]));
    if (rows & 1) out.push(...u.load(src.get, 0, false), ...step(0, 0), src.set(m.i32.add(src.get(), m.i32.const(rowBytes))), ap.set(m.i32.add(ap.get(), m.i32.const(4))));
    out.push(...acc.map((l, i) => l.set(madd(m, part[i].get(), scaleOf(i, blk), l.get()))));
    return out;
  };
  const storeCols = (p: Local, cols: number): Expr[] => {
    const code: Expr[] = [yp.set(m.i32.add(m.i32.mul(row.get(), m.i32.const(4 * w.N)), m.i32.mul(p.get(), m.i32.const(4 * NBITS_NR))))];
    for (let i = 0; i < 4 && 4 * i < cols; i++) {
      let v = acc[i].get();
      if (bias) v = m.f32x4.add(v, m.v128.load(bias.addr + 16 * i, 4, m.i32.shl(p.get(), m.i32.const(6))));
      if (ctx.epilogue) v = ctx.epilogue.vec(v, yp.get, y.addr + 16 * i);
      const lanes = Math.min(4, cols - 4 * i);
      if (lanes === 4) { code.push(m.v128.store(y.addr + 16 * i, 4, yp.get(), v)); continue; }
      code.push(x.set(v));
      for (let q = 0; q < lanes; q++) code.push(m.f32.store(y.addr + 16 * i + 4 * q, 4, yp.get(), m.f32x4.extract_lane(x.get(), q)));
    }
    return code;
  };
  const full = Math.floor(w.K / w.bs);
  const panel = (p: Local, cols: number): Expr[] => [
    ...acc.map((l) => l.set(m.v128.const(new Array(16).fill(0)))),
    src.set(m.i32.add(m.i32.const(qAt), m.i32.mul(p.get(), m.i32.const(panelBytes)))),
    ap.set(m.i32.add(m.i32.const(a.addr), m.i32.mul(row.get(), m.i32.const(4 * w.K)))),
    full > 0 ? fn.loop(full, (b) => block(p, b, w.bs)) : m.nop(),
    ...(w.K % w.bs ? block(p, full, w.K % w.bs) : []),
    ...storeCols(p, cols),
  ];
  // the tail panel's padding columns are zero weights, but only cols of them are stored
  const tailCols = w.N - (panels - 1) * NBITS_NR;
  const threads = panels > 1 ? ctx.splitAmong() : undefined;
  if (threads) {
    // this thread's panels, the tail panel the last share's
    const lo = fn.local(binaryen.i32), hi = fn.local(binaryen.i32), last = fn.local(binaryen.i32);
    const share = threadShare(m, threads, panels);
    const whole = tailCols === NBITS_NR ? panels : panels - 1;
    return fn.block([lo.set(share.lo), hi.set(share.hi), last.set(m.select(m.i32.lt_u(hi.get(), m.i32.const(whole)), hi.get(), m.i32.const(whole))),
      overRows((r) => [
        row.set(r.get()),
        fn.loopDyn(lo.get(), last.get(), (p) => { const body = panel(p, NBITS_NR); return [fn.outline(body) ?? fn.block(body)]; }),
        tailCols === NBITS_NR ? m.nop() : m.if(m.i32.eq(hi.get(), m.i32.const(panels)), fn.block(panel(constIdx(fn, panels - 1), tailCols))),
      ])]);
  }
  return overRows((r) => [
    row.set(r.get()),
    tailCols === NBITS_NR ? fn.loop(panels, (p) => panel(p, NBITS_NR), { outline: true })
      : fn.block([fn.loop(panels - 1, (p) => panel(p, NBITS_NR), { outline: true }), fn.block(panel(constIdx(fn, panels - 1), tailCols))]),
  ]);
}

/** A local that reads as a constant (the tail panel's index). */
function constIdx(fn: Fn, value: number): Local {
  const l = fn.local(binaryen.i32);
  return { ...l, get: () => fn.m.i32.const(value) };
}

table.family("matmul-nbits", "MatMulNBits", [GEMV, PANELS], "com.microsoft");

export const KERNELS = table.families;
