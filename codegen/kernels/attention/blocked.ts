// Attention's "blocked" variant (float32): per (batch, head) and block of R query rows, the
// scores of the block are one packed GEMM into a per-thread scratch that stays in L2, the scale,
// mask and softmax run over that scratch while it is hot, and the context is a second packed GEMM
// from it straight into the output layout. The score matrix is never written to the arena (for a
// 1,500-position encoder it is 18 MB per layer, written, read, written and read again by three
// layers otherwise).
//
// The scratch holds S, R rows of Lk scores (the row stride rounded up to 4): the first GEMM is
// Q K^T (A = Q's rows in place, B = K's panels, packed once per (batch, kv head) a thread meets into
// its own scratch, where the packed Einsum gathers K into a panel per block of rows: with blocks
// of 32 rows that gather made 1,500 keys 2-3% slower than the three layers, packed once 5-7%
// faster), the softmax runs along each row (the padding past Lk stored as -inf, so its exp is 0),
// and the second GEMM reads the rows as A and multiplies each output row by its 1/sum as it stores
// (the epilogue). (Keeping S^T instead, so the first GEMM gathers only Q, made the softmax and P V
// read the scratch down its columns: both slower, measured.) Blocks whose 16 x Lk scores would not
// fit the budget are refused (the plan is undefined): those layers keep the "rows" kernel, or
// their three layers when the graph had them (fuse-attention asks first). No streaming softmax
// over key blocks yet: up to 3,072 keys fit.
//
// At threads the (batch, head, block) items are split among the threads, each whole on one thread
// with its own scratch, through the same code as at one thread: outputs are bit-identical.
import binaryen from "binaryen";
import { attentionGeometry, type AttentionGeometry } from "../../../compiler/ops/attention.js";
import { broadcastStrides, type Expr, type Fn, type Local } from "../../fn.js";
import { emitPackedGemm, packedBScratchBytes } from "../matmul/gemm-packed.js";
import { threadShare } from "../../threads.js";
import { variant, type KernelCtx, type LayerCtx } from "../kernel.js";
import { rowStrides } from "./sdpa.js";

/** bytes of one block's scores: R x Lk floats kept in L2 with room for K and V streaming past */
export const SCORE_BYTES = 192 * 1024;
/** below these the per-row kernel does as well (its cost is mostly per key, no GEMM setup) */
const MIN_ROWS = 16, MIN_KEYS = 16;
/** most query rows in a block: the second GEMM's rows are one MC block */
const MAX_ROWS = 128;

export interface BlockedPlan {
  g: AttentionGeometry;
  /** query rows per block (a multiple of 4: the softmax runs four queries per vector) */
  R: number;
  scale: number;
  /** scratch bytes per thread: scores, 1/sum per row, one B panel (V's) */
  scoresBytes: number;
  invBytes: number;
  panelBytes: number;
  /** K's panels for the whole key sequence, packed once per (batch, kv head) a thread meets */
  kBytes: number;
}

const up = (x: number, k: number) => Math.ceil(x / k) * k;

/** query rows per block for qLen queries over lk keys, or 0 when 16 rows' scores would not fit */
export function blockRows(qLen: number, lk: number): number {
  const fit = Math.min(MAX_ROWS, Math.floor(SCORE_BYTES / (4 * lk) / 16) * 16);
  if (fit < 16) return 0;
  return Math.min(fit, up(qLen, 4));
}

function plan(ctx: LayerCtx, forced: boolean): BlockedPlan | undefined {
  const [q, k, v, mask] = ctx.inputs;
  if (!q || !k || !v || [q, k, v].some((t) => t.dtype !== "float32")) return undefined;
  // past key/values, nonpad lengths and the extra outputs stay with the row kernel
  if (ctx.inputs.slice(4).some(Boolean) || ctx.outputs.slice(1).some(Boolean)) return undefined;
  if (ctx.attrs.int("is_causal", 0) !== 0 || ctx.attrs.float("softcap", 0) !== 0) return undefined;
  let g: AttentionGeometry;
  try {
    g = attentionGeometry(ctx.attrs, q.dims, k.dims, v.dims, undefined, undefined, (msg) => { throw new Error(msg); });
  } catch {
    return undefined;
  }
  if (!g.batch || !g.qHeads || !g.qLen || !g.totalLen || !g.headSize || !g.vHeadSize) return undefined;
  // a float mask as long as the keys (a short or bool mask: the row kernel)
  if (mask && (mask.dtype !== "float32" || mask.dims[mask.dims.length - 1] !== g.totalLen)) return undefined;
  if (!forced && (g.qLen < MIN_ROWS || g.totalLen < MIN_KEYS)) return undefined;
  const R = blockRows(g.qLen, g.totalLen);
  if (!R) return undefined;
  const scale = ctx.attrs.float("scale", 1 / Math.sqrt(g.headSize));
  return { g, R, scale, scoresBytes: 4 * R * up(g.totalLen, 4), invBytes: up(4 * R, 16), panelBytes: packedBScratchBytes(Math.max(g.headSize, g.totalLen)), kBytes: 4 * up(g.totalLen, 16) * g.headSize };
}

const scratchBytes = (p: BlockedPlan) => p.scoresBytes + p.invBytes + p.panelBytes + p.kBytes;

function emit(ctx: KernelCtx, p: BlockedPlan): void {
  const { m, fn } = ctx;
  const { g, R } = p;
  const Lk = g.totalLen;
  const q = ctx.input(0), k = ctx.input(1), v = ctx.input(2), y = ctx.output(0), mask = ctx.inputs[3];
  const reps = g.qHeads / g.kvHeads;
  // element strides of (batch, head, position) rows
  const qs = rowStrides(g.packed, g.qHeads, g.qLen, g.headSize, 1);
  const ks = rowStrides(g.packed, g.kvHeads, g.kvLen, g.headSize, 1);
  const vs = rowStrides(g.packed, g.kvHeads, g.kvLen, g.vHeadSize, 1);
  const ys = rowStrides(g.packed, g.qHeads, g.qLen, g.vHeadSize, 1);
  const ms = mask ? broadcastStrides(mask.dims, [g.batch, g.qHeads, g.qLen, Lk]) : [0, 0, 0, 0];
  const LkP = up(Lk, 4);
  const S = ctx.scratchAddr, INV = S + p.scoresBytes, PANEL = INV + p.invBytes, KP = PANEL + p.panelBytes;
  const threads = ctx.splitAmong();
  const tOff = (): Expr => (threads && threads.scratchStride ? m.i32.mul(threads.tid(), m.i32.const(threads.scratchStride)) : m.i32.const(0));
  const i32 = binaryen.i32;
  const [qb, kb, vb, yb, mb, blk, bh, h, b] = Array.from({ length: 9 }, () => fn.local(i32));
  const blocks = Math.ceil(g.qLen / R);
  const tail = g.qLen - (blocks - 1) * R;

  /** the block's n query rows: scores, softmax, context */
  const work = (n: number): Expr[] => [
    // S (n x Lk, row stride LkP) = Q K^T: K gathered into each panel (as the packed Einsum does)
    ...emitPackedGemm(ctx, {
      M: n, N: Lk, K: g.headSize,
      a: { addr: q.addr, rs: qs[2], base: () => qb.get() },
      packedB: KP, packedBBase: tOff,
      c: { addr: S, rs: LkP, base: tOff },
      ownScratch: threads,
    }),
    ...softmax(n),
    // Y rows = P V, each row times its 1/sum as it is stored
    ...emitPackedGemm(ctx, {
      M: n, N: g.vHeadSize, K: Lk,
      a: { addr: S, rs: LkP, base: tOff },
      b: { addr: v.addr, rs: vs[2], base: () => vb.get() },
      c: { addr: y.addr, rs: ys[2], base: () => yb.get() },
      bScratch: PANEL, ownScratch: threads,
      epilogue: (x, row) => m.f32x4.mul(x, m.v128.load32_splat(INV, 4, m.i32.add(tOff(), m.i32.shl(row, m.i32.const(2))))),
    }),
  ];

  const ptr = fn.local(i32), mp = fn.local(i32), end = fn.local(i32), row = fn.local(i32);
  const x = fn.local(binaryen.v128), mx = fn.local(binaryen.v128), sum = fn.local(binaryen.v128);
  const mxs = fn.local(binaryen.f32), total = fn.local(binaryen.f32);
  const exp = softmaxExp(m, fn);
  const full = Lk >> 2, rem = Lk & 3;
  const NEG = () => m.f32x4.splat(m.f32.const(-Infinity));
  const lane = (v: Local, l: number) => m.f32x4.extract_lane(v.get(), l);
  /** a loop over the row's vectors from ptr to end (a do-while: the row has at least one) */
  const vectors = (body: Expr[], last: number): Expr => {
    const label = fn.label("t");
    return m.block(null, [
      end.set(m.i32.add(ptr.get(), m.i32.const(16 * last))),
      m.loop(label, m.block(null, [...body, ptr.set(m.i32.add(ptr.get(), m.i32.const(16))), m.br(label, m.i32.lt_u(ptr.get(), end.get()))])),
    ]);
  };
  const rowStart = () => m.i32.add(tOff(), m.i32.mul(row.get(), m.i32.const(4 * LkP)));
  /** x = the scaled and masked scores at ptr (`lanes` real, the rest -inf) */
  const scores = (lanes: number): Expr[] => {
    let s: Expr = m.v128.load(S, 16, ptr.get());
    if (p.scale !== 1) s = m.f32x4.mul(s, m.f32x4.splat(m.f32.const(p.scale)));
    if (mask) {
      let mv: Expr = lanes === 4 ? m.v128.load(mask.addr, 4, mp.get()) : m.v128.load32_zero(mask.addr, 4, mp.get());
      for (let l = 1; l < lanes && lanes < 4; l++) mv = m.v128.load32_lane(mask.addr + 4 * l, 4, l, mp.get(), mv);
      s = m.f32x4.add(s, mv);
    }
    const out: Expr[] = [x.set(s)];
    if (lanes < 4) out.push(x.set(m.v128.bitselect(x.get(), NEG(), m.v128.const(Array.from({ length: 16 }, (_, b) => (b >> 2 < lanes ? 255 : 0))))));
    return out;
  };
  const scaledOrMasked = p.scale !== 1 || !!mask || rem > 0;
  const softmaxRow = (): Expr[] => [
    // max over the row (the scaled, masked scores stored back; the padding past Lk as -inf)
    mx.set(NEG()),
    ptr.set(rowStart()),
    ...(mask ? [mp.set(m.i32.add(mb.get(), m.i32.mul(row.get(), m.i32.const(4 * ms[2]))))] : []),
    ...(full ? [vectors([
      ...scores(4),
      ...(scaledOrMasked ? [m.v128.store(S, 16, ptr.get(), x.get())] : []),
      mx.set(m.f32x4.pmax(mx.get(), x.get())),
      ...(mask ? [mp.set(m.i32.add(mp.get(), m.i32.const(16)))] : []),
    ], full)] : []),
    ...(rem ? [...scores(rem), m.v128.store(S, 16, ptr.get(), x.get()), mx.set(m.f32x4.pmax(mx.get(), x.get()))] : []),
    mxs.set(m.f32.max(m.f32.max(lane(mx, 0), lane(mx, 1)), m.f32.max(lane(mx, 2), lane(mx, 3)))),
    // a row with every key masked: max 0, every exp 0, 1/sum taken as 0 (zeros, as the row kernel
    // gives and the decomposed graphs' Where(IsNaN(p), 0, p) does)
    mxs.set(m.select(m.f32.eq(mxs.get(), m.f32.const(-Infinity)), m.f32.const(0), mxs.get())),
    mx.set(m.f32x4.splat(mxs.get())),
    sum.set(m.f32x4.splat(m.f32.const(0))),
    ptr.set(rowStart()),
    vectors([
      x.set(exp(m.f32x4.sub(m.v128.load(S, 16, ptr.get()), mx.get()))),
      m.v128.store(S, 16, ptr.get(), x.get()),
      sum.set(m.f32x4.add(sum.get(), x.get())),
    ], full + (rem ? 1 : 0)),
    total.set(m.f32.add(m.f32.add(lane(sum, 0), lane(sum, 1)), m.f32.add(lane(sum, 2), lane(sum, 3)))),
    m.f32.store(INV, 4, m.i32.add(tOff(), m.i32.shl(row.get(), m.i32.const(2))),
      m.select(m.f32.gt(total.get(), m.f32.const(0)), m.f32.div(m.f32.const(1), total.get()), m.f32.const(0))),
  ];
  const softmax = (n: number): Expr[] => [fn.loopDyn(m.i32.const(0), m.i32.const(n), (r) => [row.set(r.get()), ...softmaxRow()])];

  const items = g.batch * g.qHeads * blocks;
  const share = threads ? threadShare(m, threads, items) : { lo: m.i32.const(0), hi: m.i32.const(items) };
  const at = (...terms: [Local, number][]) => terms.reduce<Expr>((e, [l, s]) => (s ? m.i32.add(e, m.i32.mul(l.get(), m.i32.const(4 * s))) : e), m.i32.const(0));
  const hk = fn.local(i32), i0 = fn.local(i32), packed = fn.local(i32), kvAt = fn.local(i32);
  // K^T in the GEMM's panel order (panel of 16 keys, D rows of 16), the last panel's lanes past Lk zero
  const D = g.headSize, P = Math.ceil(Lk / 16);
  const kp = fn.local(i32), kd = fn.local(binaryen.v128), ksrc = fn.local(i32);
  const packK = (): Expr[] => [
    ...(Lk % 16 ? [fn.loop(D, (d) => [m.memory.fill(
      m.i32.add(m.i32.add(tOff(), m.i32.const(KP + (P - 1) * D * 64 + 4 * (Lk % 16))), m.i32.mul(d.get(), m.i32.const(64))),
      m.i32.const(0), m.i32.const(4 * (16 - (Lk % 16))))])] : []),
    fn.loop(Lk, (t) => [
      ksrc.set(m.i32.add(kb.get(), m.i32.mul(t.get(), m.i32.const(4 * ks[2])))),
      // t's column: panel t >> 4, lane t & 15
      kp.set(m.i32.add(tOff(), m.i32.add(m.i32.mul(m.i32.shr_u(t.get(), m.i32.const(4)), m.i32.const(D * 64)), m.i32.shl(m.i32.and(t.get(), m.i32.const(15)), m.i32.const(2))))),
      ...Array.from({ length: Math.floor(D / 4) }, (_, d4) => [
        kd.set(m.v128.load(k.addr + 16 * d4, 4, ksrc.get())),
        ...[0, 1, 2, 3].map((l) => m.f32.store(KP + 64 * (4 * d4 + l), 4, kp.get(), m.f32x4.extract_lane(kd.get(), l))),
      ]).flat(),
      ...Array.from({ length: D % 4 }, (_, l) => m.f32.store(KP + 64 * (D - (D % 4) + l), 4, kp.get(), m.f32.load(k.addr + 4 * (D - (D % 4) + l), 4, ksrc.get()))),
    ]),
  ];
  fn.emit(packed.set(m.i32.const(-1)));
  fn.emit(fn.loopDyn(share.lo, share.hi, (w) => {
    const pack = packK();
    const body: Expr[] = [
      blk.set(m.i32.rem_u(w.get(), m.i32.const(blocks))),
      bh.set(m.i32.div_u(w.get(), m.i32.const(blocks))),
      h.set(m.i32.rem_u(bh.get(), m.i32.const(g.qHeads))),
      b.set(m.i32.div_u(bh.get(), m.i32.const(g.qHeads))),
      hk.set(m.i32.div_u(h.get(), m.i32.const(reps))),
      i0.set(m.i32.mul(blk.get(), m.i32.const(R))),
      qb.set(at([b, qs[0]], [h, qs[1]], [i0, qs[2]])),
      kb.set(at([b, ks[0]], [hk, ks[1]])),
      vb.set(at([b, vs[0]], [hk, vs[1]])),
      yb.set(at([b, ys[0]], [h, ys[1]], [i0, ys[2]])),
      ...(mask ? [mb.set(at([b, ms[0]], [h, ms[1]], [i0, ms[2]]))] : []),
      tail === R ? fn.block(work(R)) : m.if(m.i32.eq(blk.get(), m.i32.const(blocks - 1)), fn.block(work(tail)), fn.block(work(R))),
    ];
    const batchHead = () => m.i32.add(m.i32.mul(m.i32.div_u(m.i32.div_u(w.get(), m.i32.const(blocks)), m.i32.const(g.qHeads)), m.i32.const(g.kvHeads)),
      m.i32.div_u(m.i32.rem_u(m.i32.div_u(w.get(), m.i32.const(blocks)), m.i32.const(g.qHeads)), m.i32.const(reps)));
    // K packed when this thread meets a new (batch, kv head); the packing reads kb, set here
    const packBody = [kb.set(at([b, ks[0]], [hk, ks[1]])), ...pack];
    const setup = [
      kvAt.set(batchHead()),
      bh.set(m.i32.div_u(w.get(), m.i32.const(blocks))),
      h.set(m.i32.rem_u(bh.get(), m.i32.const(g.qHeads))),
      b.set(m.i32.div_u(bh.get(), m.i32.const(g.qHeads))),
      hk.set(m.i32.div_u(h.get(), m.i32.const(reps))),
      m.if(m.i32.ne(kvAt.get(), packed.get()), m.block(null, [fn.outline(packBody) ?? fn.block(packBody), packed.set(kvAt.get())])),
    ];
    return [...setup, fn.outline(body) ?? fn.block(body)];
  }));
}

const LOG2E = 1.44269504088896341;
const LN2_HI = 0.693359375; // exact in f32: k * LN2_HI is exact for the k here
const LN2_LO = Math.LN2 - LN2_HI;
const ROUNDER = 12582912; // 1.5 * 2^23: t - ROUNDER is round(t) as a float, t's bits minus ROUNDER's are it as an integer
const ROUNDER_BITS = 0x4b400000;
/** 1/2!, ..., 1/6!: for |r| <= ln2/2 the Taylor tail r^7/7! is below 3e-7 of the result */
const EXP_TAIL = [1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720];
/** below this exp underflows f32's normal range: the lane is 0 (a masked key's -inf too) */
const EXP_FLOOR = -87;

/**
 * exp of softmax arguments, x - max <= 0 (or NaN, kept): the math library's exp minus what this
 * range does not need (no upper clamp, one 2^k scaling, a shorter polynomial): about a quarter
 * fewer instructions, within 3e-7 relative. Lanes under EXP_FLOOR give 0.
 */
function softmaxExp(m: binaryen.Module, fn: Fn): (a: Expr) => Expr {
  const v = binaryen.v128;
  const [x, under, t, k, r, q] = [0, 1, 2, 3, 4, 5].map(() => fn.local(v));
  const c = (n: number) => m.f32x4.splat(m.f32.const(n));
  const ic = (n: number) => m.i32x4.splat(m.i32.const(n));
  return (a) => {
    let poly: Expr = c(EXP_TAIL[EXP_TAIL.length - 1]);
    for (let j = EXP_TAIL.length - 2; j >= 0; j--) poly = m.f32x4.add(c(EXP_TAIL[j]), m.f32x4.mul(r.get(), poly));
    return m.block(null, [
      x.set(a),
      under.set(m.f32x4.lt(x.get(), c(EXP_FLOOR))),
      x.set(m.f32x4.pmax(x.get(), c(EXP_FLOOR))), // NaN stays (pmax keeps its first operand unless it is less)
      t.set(m.f32x4.add(m.f32x4.mul(x.get(), c(LOG2E)), c(ROUNDER))),
      k.set(m.f32x4.sub(t.get(), c(ROUNDER))),
      r.set(m.f32x4.sub(m.f32x4.sub(x.get(), m.f32x4.mul(k.get(), c(LN2_HI))), m.f32x4.mul(k.get(), c(LN2_LO)))),
      q.set(poly),
      // (1 + r + r^2 q) * 2^k, 2^k built in the exponent bits (k >= -126: a normal float)
      m.v128.andnot(m.f32x4.mul(
        m.f32x4.add(c(1), m.f32x4.add(r.get(), m.f32x4.mul(m.f32x4.mul(r.get(), r.get()), q.get()))),
        m.i32x4.shl(m.i32x4.add(m.i32x4.sub(t.get(), ic(ROUNDER_BITS)), ic(127)), m.i32.const(23))), under.get()),
    ], v);
  };
}

export const BLOCKED_ATTENTION = variant<BlockedPlan>({
  name: "blocked",
  plan,
  prepare: (_ctx, p) => ({ scratchBytes: scratchBytes(p) }),
  emit,
});
