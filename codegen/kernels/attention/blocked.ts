// Attention's "blocked" variant (float32): per (batch, head) and block of R query rows, the
// scores of the block are one packed GEMM into a per-thread scratch that stays in L2, the scale,
// mask and softmax run over that scratch while it is hot, and the context is a second packed GEMM
// from it straight into the output layout. The score matrix is never written to the arena (for a
// 1,500-position encoder it is 18 MB per layer, written, read, written and read again by three
// layers otherwise).
//
// The scratch holds S, R rows of Lk scores (the row stride rounded up to 4): the first GEMM is
// Q K^T (A = Q's rows in place, B = K's panels), the softmax runs along each row
// (blocked-softmax.ts; the padding past Lk stored as -inf, so its exp is 0), and the second GEMM
// reads the rows as A and V's panels as B and multiplies each output row by its 1/sum as it
// stores (the epilogue). K and V are packed into the GEMM's panel order once per (batch, kv head)
// a thread meets, into its own scratch (blocked-pack.ts: where the packed Einsum gathers K into
// a panel per block of rows, with blocks of 32 rows that gather made 1,500 keys 2-3% slower than
// the three layers, packed once 5-7% faster; V likewise). (Keeping S^T instead, so the first GEMM
// gathers only Q, made the softmax and P V read the scratch down its columns: both slower,
// measured.) Blocks whose 16 x Lk scores would not fit the budget are refused (the plan is
// undefined): those layers keep the "rows" kernel, or their three layers when the graph had them
// (fuse-attention asks first). Up to 3,072 keys fit.
//
// No streaming (online) softmax over key blocks: at 1,500 keys the two products with S through L2
// run at 95% of the f32x4 peak loop with the softmax left out (bench/attention.ts), so keeping S
// in registers or L1 could win at most those 5%, against a rescale of the output rows per key
// block; the time beyond the products is the softmax's own arithmetic (docs/TRANSFORMERS.md).
//
// At threads the (batch, head, block) items are split among the threads, each whole on one thread
// with its own scratch, through the same code as at one thread: outputs are bit-identical.
import binaryen from "binaryen";
import { attentionGeometry, type AttentionGeometry } from "../../../compiler/ops/attention.js";
import { broadcastStrides, type Expr, type Local } from "../../fn.js";
import { DEFAULT_TILE, emitPackedGemm } from "../matmul/gemm-packed.js";
import { threadShare } from "../../threads.js";
import { variant, type KernelCtx, type LayerCtx, type TensorRef } from "../kernel.js";
import { rowStrides } from "./sdpa.js";
import { blockSoftmax } from "./blocked-softmax.js";
import { packKeysT, packValues } from "./blocked-pack.js";

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
  /** scratch bytes per thread: scores, 1/sum per row */
  scoresBytes: number;
  invBytes: number;
  /** K's panels for the whole key sequence, packed once per (batch, kv head) a thread meets */
  kBytes: number;
  /** V's panels likewise (16 of its columns a panel, every key a row), packed with K */
  vBytes: number;
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
  // score rows as long as whole 16-column panels: a run-time key count runs the panels holding its keys whole
  return { g, R, scale, scoresBytes: 4 * R * up(g.totalLen, DEFAULT_TILE.nr), invBytes: up(4 * R, 16), kBytes: 4 * up(g.totalLen, 16) * g.headSize, vBytes: 4 * g.totalLen * up(g.vHeadSize, 16) };
}

const scratchBytes = (p: BlockedPlan) => p.scoresBytes + p.invBytes + p.kBytes + p.vBytes;

/**
 * The dims of this layer that vary at run time (symbolic dims, docs/ARCHITECTURE.md): the batch,
 * the query rows and the keys, each an i32 local set at the layer's start, or undefined where
 * static. Tensors are laid out at the bounds, so strides stay constants. A varying head count or
 * head size, or a mask varying elsewhere than along the batch, queries and keys: UNSUPPORTED.
 */
function runtimeDims(ctx: KernelCtx, g: AttentionGeometry): { batch?: Local; queries?: Local; keys?: Local; set: Expr[] } {
  const { fn } = ctx;
  const [q, k, v, mask] = ctx.inputs;
  const y = ctx.outputs[0]!;
  const seq = g.packed ? 1 : 2;
  const tensors = [q!, k!, v!, y];
  const varies = (t: TensorRef, j: number) => typeof ctx.symbolic?.dims.get(t.name)?.[j] === "object";
  for (const t of tensors) {
    for (let j = 0; j < t.dims.length; j++) {
      if (j !== 0 && j !== seq && varies(t, j)) ctx.unsupported(`Attention's blocked kernel takes symbolic dims along the batch, the queries and the keys, and dim ${j} of ${JSON.stringify(t.name)} varies; pin it (--shape NAME=N)`);
    }
  }
  if (mask) for (let j = 0; j < mask.dims.length; j++) {
    // a mask's last two dims run along the queries and the keys; the first of four, the batch
    const along = (j === 0 && mask.dims.length === 4) || j >= mask.dims.length - 2;
    if (varies(mask, j) && !along) ctx.unsupported(`Attention's blocked kernel takes a mask varying along the batch, the queries and the keys, and dim ${j} of ${JSON.stringify(mask.name)} varies; pin it (--shape NAME=N)`);
    ctx.runtimeDim(mask, j);
  }
  const set: Expr[] = [];
  const local = (at: (TensorRef | undefined)[], j: number): Local | undefined => {
    const got = at.map((t) => (t ? ctx.runtimeDim(t, j) : undefined));
    const e = got.find((x) => x !== undefined);
    if (e === undefined) return undefined;
    const l = fn.local(binaryen.i32);
    set.push(l.set(e));
    return l;
  };
  return { batch: local([q, k, v, y], 0), queries: local([q, y], seq), keys: local([k, v], seq), set };
}

function emit(ctx: KernelCtx, p: BlockedPlan): void {
  const { m, fn } = ctx;
  const { g, R } = p;
  const Lk = g.totalLen;
  const q = ctx.input(0), k = ctx.input(1), v = ctx.input(2), y = ctx.output(0), mask = ctx.inputs[3];
  const reps = g.qHeads / g.kvHeads;
  const rt = runtimeDims(ctx, g);
  fn.emit(...rt.set);
  // element strides of (batch, head, position) rows
  const qs = rowStrides(g.packed, g.qHeads, g.qLen, g.headSize, 1);
  const ks = rowStrides(g.packed, g.kvHeads, g.kvLen, g.headSize, 1);
  const vs = rowStrides(g.packed, g.kvHeads, g.kvLen, g.vHeadSize, 1);
  const ys = rowStrides(g.packed, g.qHeads, g.qLen, g.vHeadSize, 1);
  const ms = mask ? broadcastStrides(mask.dims, [g.batch, g.qHeads, g.qLen, Lk]) : [0, 0, 0, 0];
  // with run-time keys, Q K^T runs the panels holding them whole: rows as long as whole panels
  const LkP = rt.keys ? up(Lk, DEFAULT_TILE.nr) : up(Lk, 4);
  const S = ctx.scratchAddr, INV = S + p.scoresBytes, KP = INV + p.invBytes, VP = KP + p.kBytes;
  const threads = ctx.splitAmong();
  const tOff = (): Expr => (threads && threads.scratchStride ? m.i32.mul(threads.tid(), m.i32.const(threads.scratchStride)) : m.i32.const(0));
  const i32 = binaryen.i32;
  const [qb, kb, vb, yb, mb, blk, bh, h, b] = Array.from({ length: 9 }, () => fn.local(i32));
  const blocks = Math.ceil(g.qLen / R);
  const tail = g.qLen - (blocks - 1) * R;
  const keysRt = rt.keys && (() => rt.keys!.get());
  const softmax = blockSoftmax(m, fn, { scores: S, inv: INV, base: tOff, Lk, LkP, scale: p.scale, ...(rt.keys ? { keysRt: rt.keys } : {}), ...(mask ? { mask: { addr: mask.addr, rowStride: ms[2], base: () => mb.get() } } : {}) });
  // this run's blocks of query rows, where the queries vary
  const nb = fn.local(i32);
  if (rt.queries) fn.emit(nb.set(m.i32.div_u(m.i32.add(rt.queries.get(), m.i32.const(R - 1)), m.i32.const(R))));
  const blockCount = () => (rt.queries ? nb.get() : m.i32.const(blocks));

  /**
   * The block's n query rows: scores, softmax, context. A run-time n (symbolic dims) or run-time
   * keys take the products' run-time forms; their M one more than the block's rows, so each row
   * tail is compiled and no row past the run's is stored (the next row of C may be another batch's).
   */
  const work = (n: number | (() => Expr)): Expr[] => {
    const dyn = typeof n !== "number" || !!keysRt;
    const rows = typeof n === "number" ? () => m.i32.const(n) : n;
    const M = dyn ? R + 1 : (n as number);
    return [
      // S (n x Lk, row stride LkP) = Q K^T
      ...emitPackedGemm(ctx, {
        M, N: Lk, K: g.headSize,
        a: { addr: q.addr, rs: qs[2], base: () => qb.get() },
        packedB: KP, packedBBase: tOff,
        c: { addr: S, rs: LkP, base: tOff },
        ownScratch: threads,
        ...(dyn ? { rows } : {}),
        ...(keysRt ? { cols: keysRt } : {}),
      }),
      ...softmax(n),
      // Y rows = P V, each row times its 1/sum as it is stored
      ...emitPackedGemm(ctx, {
        M, N: g.vHeadSize, K: Lk,
        a: { addr: S, rs: LkP, base: tOff },
        packedB: VP, packedBBase: tOff,
        c: { addr: y.addr, rs: ys[2], base: () => yb.get() },
        ownScratch: threads,
        epilogue: (x, row) => m.f32x4.mul(x, m.v128.load32_splat(INV, 4, m.i32.add(tOff(), m.i32.shl(row, m.i32.const(2))))),
        ...(dyn ? { rows } : {}),
        // one K block over every key of this run
        ...(keysRt ? { kSteps: keysRt, tile: { kc: Math.max(DEFAULT_TILE.kc, Lk) } } : {}),
      }),
    ];
  };

  const itemCount = () => {
    const perBatch = m.i32.mul(blockCount(), m.i32.const(g.qHeads));
    return rt.batch ? m.i32.mul(rt.batch.get(), perBatch) : m.i32.mul(m.i32.const(g.batch), perBatch);
  };
  const items = rt.batch || rt.queries ? itemCount : g.batch * g.qHeads * blocks;
  const share = threads ? threadShare(m, threads, items) : { lo: m.i32.const(0), hi: typeof items === "number" ? m.i32.const(items) : items() };
  const at = (...terms: [Local, number][]) => terms.reduce<Expr>((e, [l, s]) => (s ? m.i32.add(e, m.i32.mul(l.get(), m.i32.const(4 * s))) : e), m.i32.const(0));
  const hk = fn.local(i32), i0 = fn.local(i32), packed = fn.local(i32), kvAt = fn.local(i32), n = fn.local(i32);
  // the block's rows: R, or the last block's tail
  const rowsOf = (): Expr[] => {
    if (rt.queries) {
      const left = () => m.i32.sub(rt.queries!.get(), i0.get());
      return [n.set(m.select(m.i32.lt_u(left(), m.i32.const(R)), left(), m.i32.const(R))), fn.block(work(() => n.get()))];
    }
    if (keysRt) return [fn.block(work(tail === R ? R : () => m.select(m.i32.eq(blk.get(), m.i32.const(blocks - 1)), m.i32.const(tail), m.i32.const(R))))];
    return [tail === R ? fn.block(work(R)) : m.if(m.i32.eq(blk.get(), m.i32.const(blocks - 1)), fn.block(work(tail)), fn.block(work(R)))];
  };
  fn.emit(packed.set(m.i32.const(-1)));
  fn.emit(fn.loopDyn(share.lo, share.hi, (w) => {
    const body: Expr[] = [
      blk.set(m.i32.rem_u(w.get(), blockCount())),
      bh.set(m.i32.div_u(w.get(), blockCount())),
      h.set(m.i32.rem_u(bh.get(), m.i32.const(g.qHeads))),
      b.set(m.i32.div_u(bh.get(), m.i32.const(g.qHeads))),
      i0.set(m.i32.mul(blk.get(), m.i32.const(R))),
      qb.set(at([b, qs[0]], [h, qs[1]], [i0, qs[2]])),
      yb.set(at([b, ys[0]], [h, ys[1]], [i0, ys[2]])),
      ...(mask ? [mb.set(at([b, ms[0]], [h, ms[1]], [i0, ms[2]]))] : []),
      ...rowsOf(),
    ];
    const batchHead = () => m.i32.add(m.i32.mul(m.i32.div_u(m.i32.div_u(w.get(), blockCount()), m.i32.const(g.qHeads)), m.i32.const(g.kvHeads)),
      m.i32.div_u(m.i32.rem_u(m.i32.div_u(w.get(), blockCount()), m.i32.const(g.qHeads)), m.i32.const(reps)));
    // K and V packed when this thread meets a new (batch, kv head)
    const packBody = [
      kb.set(at([b, ks[0]], [hk, ks[1]])),
      vb.set(at([b, vs[0]], [hk, vs[1]])),
      ...packKeysT(m, fn, Lk, g.headSize, { addr: k.addr, rowStride: ks[2], base: () => kb.get() }, { addr: KP, base: tOff }, keysRt),
      ...packValues(m, fn, Lk, g.vHeadSize, { addr: v.addr, rowStride: vs[2], base: () => vb.get() }, { addr: VP, base: tOff }, keysRt),
    ];
    const setup = [
      kvAt.set(batchHead()),
      bh.set(m.i32.div_u(w.get(), blockCount())),
      h.set(m.i32.rem_u(bh.get(), m.i32.const(g.qHeads))),
      b.set(m.i32.div_u(bh.get(), m.i32.const(g.qHeads))),
      hk.set(m.i32.div_u(h.get(), m.i32.const(reps))),
      m.if(m.i32.ne(kvAt.get(), packed.get()), m.block(null, [fn.outline(packBody) ?? fn.block(packBody), packed.set(kvAt.get())])),
    ];
    return [...setup, fn.outline(body) ?? fn.block(body)];
  }));
}

export const BLOCKED_ATTENTION = variant<BlockedPlan>({
  name: "blocked",
  plan,
  prepare: (_ctx, p) => ({ scratchBytes: scratchBytes(p) }),
  emit,
});
