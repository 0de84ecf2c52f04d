// LinearAttention (opset 27): per batch row and kv head, a d_k x d_v state S (row d holds the
// d_v values of key dim d, contiguous) updated token by token:
//   gated rules        S *= exp(g_t)                      (g per head, or per key dim: per row of S)
//   delta rules        u = beta_t * (v_t - S^T k_t)       (else u = v_t)
//   every rule         S += k_t (outer) u
//   each query head    o = scale * q_t^T S                (the q_heads / kv_heads heads sharing the kv head)
// Every step is independent across S's columns, so the kernel takes the columns in blocks of up to
// 32 (eight f32x4 vectors, a scalar tail past the last multiple of four) and runs each step of a
// token over a block with its sums (S^T k, u, the read-out) in locals: per token and block, one
// pass over the block's rows decays and reads S^T k, one adds k u^T (and, with one query head per
// kv head, reads the output in the same pass), and with more query heads one more pass per head.
// exp(g) is taken once per token (a row of scratch for per-dim decay). The state lives in
// present_state's memory from the start (past_state copied in, or zeros), so a decode step
// (T = 1) is one copy of the state and those passes. Each (batch row, kv head) is an item of its
// own (its state, its output columns): threads split the items. A symbolic batch or sequence
// length bounds the loops by this run's (tripsOf).
//
// float32 only: float16 models reach kernels widened to float32 (passes/widen-float16.ts).
import binaryen from "binaryen";
import { linearAttentionGeometry, type LinearAttentionGeometry } from "../../../compiler/ops/recurrent-state.js";
import { KilnError } from "../../../runtime/errors.js";
import type { Expr, Local, Trips } from "../../fn.js";
import { splitItems, threadScratch } from "../../threads.js";
import { LaneRow } from "../attention/lanes.js";
import { variant, type KernelCtx, type LayerCtx } from "../kernel.js";

/** columns of S per block: the width of the rows kept in locals */
const BLOCK = 32;

export interface LinearAttentionPlan {
  geo: LinearAttentionGeometry;
  /** scratch bytes: exp of a token's per-dim decay, then one head's state when present_state is not wanted */
  decayBytes: number;
  stateBytes: number;
}

function plan(layer: LayerCtx): LinearAttentionPlan {
  const invalid = (m: string): never => { throw new KilnError("INVALID_MODEL", m, layer.context()); };
  const geo = linearAttentionGeometry(layer.attrs, layer.inputs.map((t) => t?.dims), invalid);
  const other = [...layer.inputs, ...layer.outputs].find((t) => t && t.dtype !== "float32");
  if (other) layer.unsupported(`LinearAttention's kernel computes float32 (float16 graphs are widened to it); ${JSON.stringify(other.name)} is ${other.dtype}`);
  const pad = (n: number) => Math.ceil(n / 16) * 16;
  return {
    geo,
    decayBytes: geo.decayWidth > 1 ? pad(geo.dk * 4) : 0,
    stateBytes: layer.outputs[1] ? 0 : geo.dk * geo.dv * 4,
  };
}

/**
 * The trips over batch rows and tokens: this run's where a dim is symbolic, else the numbers. A
 * varying batch is every tensor's leading dim; a varying sequence is dim 1 of the per-token tensors
 * (query, key, value, decay, beta, output) with a batch of 1 (the prefix form: their rows past this
 * run's length are never read). Anything else is refused, naming the dims to pin.
 */
function tripsOf(ctx: KernelCtx, g: LinearAttentionGeometry): { batch: Trips; seq: Trips } {
  const sym = ctx.symbolic;
  if (!sym) return { batch: g.batch, seq: g.seq };
  const q = ctx.input(0);
  const varyingDim = (name: string) => sym.dims.get(name)?.findIndex((d) => typeof d !== "number") ?? -1;
  const k = varyingDim(q.name);
  if (k !== 0 && k !== 1) ctx.unsupported(`LinearAttention takes a symbolic batch or sequence length, and query's varying dim is ${k}: ${ctx.pinHintOf(q)}`);
  const perToken = [0, 1, 2, 4, 5].map((i) => ctx.inputs[i]).concat([ctx.outputs[0]]);
  const tensors = [...ctx.inputs, ...ctx.outputs].filter((t) => t && varyingDim(t.name) >= 0);
  for (const t of tensors) {
    const want = k === 0 ? 0 : perToken.includes(t) ? 1 : -1;
    if (varyingDim(t!.name) !== want) ctx.unsupported(`LinearAttention takes a symbolic batch (every tensor's dim 0) or sequence (dim 1 of query, key, value, decay, beta and output); ${JSON.stringify(t!.name)} varies in dim ${varyingDim(t!.name)}: ${ctx.pinHintOf(t!)}`);
  }
  if (k === 0) {
    for (const t of tensors) ctx.outerCount(t!, t!.dims[0]); // refuses a second varying dim
    return { batch: ctx.outerCount(q, g.batch), seq: g.seq };
  }
  for (const t of tensors) ctx.runtimeExtent(t!, g.seq); // refuses a batch above 1 or a second varying dim
  return { batch: g.batch, seq: () => ctx.runtimeExtent(q, g.seq)! };
}

/** A scalar held twice: as an f32 and splat into an f32x4. */
interface Splat {
  s: Local;
  v: Local;
}

function emit(ctx: KernelCtx, p: LinearAttentionPlan): void {
  const { m, fn } = ctx;
  const g = p.geo;
  const { batch: B, seq: T, kvHeads: H, dk, dv } = g;
  const G = g.qHeads / H;
  const [q, k, v] = [ctx.input(0), ctx.input(1), ctx.input(2)];
  const past = ctx.inputs[3], decay = ctx.inputs[4], beta = ctx.inputs[5];
  const [y, present] = [ctx.outputs[0], ctx.outputs[1]];
  const gated = !!decay, delta = !!beta;
  const headBytes = dk * dv * 4;
  const trips = tripsOf(ctx, g);
  // one item per (batch row, kv head): its state and output columns are its own, so threads split
  // the items; each thread has its own scratch (the decay row, the state when present_state is not wanted)
  const items: Trips = typeof trips.batch === "number" ? trips.batch * H : () => m.i32.mul((trips.batch as () => Expr)(), m.i32.const(H));
  const threads = items === 1 ? undefined : ctx.splitAmong();
  const scratch = fn.local(binaryen.i32);

  const i32 = () => fn.local(binaryen.i32);
  // byte addresses: this head's state, this token's k, v, first q head and first output head, a row of S
  const [sp0, kp, vp, qp, op, sp, bt] = [i32(), i32(), i32(), i32(), i32(), i32(), i32()];
  const [bLocal, hLocal] = [i32(), i32()];
  const splat = (): Splat => ({ s: fn.local(binaryen.f32), v: fn.local(binaryen.v128) });
  const setSplat = (x: Splat, e: Expr): Expr[] => [x.s.set(e), x.v.set(m.f32x4.splat(x.s.get()))];
  const [eg, kd, qd, bt1] = [splat(), splat(), splat(), splat()];
  const scale = splat();
  const c32 = (n: number) => m.i32.const(n);
  const at = (base: Local, off: Expr, bytes: number) => m.i32.add(base.get(), m.i32.mul(off, c32(bytes)));

  /** the f32 or f32x4 arithmetic of a chunk */
  const ops = (wide: boolean) => ({
    add: (a: Expr, b: Expr) => (wide ? m.f32x4.add(a, b) : m.f32.add(a, b)),
    sub: (a: Expr, b: Expr) => (wide ? m.f32x4.sub(a, b) : m.f32.sub(a, b)),
    mul: (a: Expr, b: Expr) => (wide ? m.f32x4.mul(a, b) : m.f32.mul(a, b)),
    of: (x: Splat) => (wide ? x.v.get() : x.s.get()),
  });

  /** the steps of one token over the columns [mb / 4, mb / 4 + width) of S; mb an i32 byte offset */
  const block = (width: number, mb: () => Expr): Expr[] => {
    const r = new LaneRow(fn, "float32", width), u = new LaneRow(fn, "float32", width), o = new LaneRow(fn, "float32", width);
    const tmp = r.chunks.map((c) => fn.local(c.wide ? binaryen.v128 : binaryen.f32));
    const rowOf = (d: Local) => sp.set(m.i32.add(m.i32.add(sp0.get(), m.i32.mul(d.get(), c32(dv * 4))), mb()));
    const chunkStore = (c: number, val: Expr) => {
      const ch = r.chunks[c];
      return ch.wide ? m.v128.store(ch.off * 4, 4, sp.get(), val) : m.f32.store(ch.off * 4, 4, sp.get(), val);
    };
    const out: Expr[] = [];
    // decay the block's rows and read S^T k from the decayed state
    if (gated || delta) {
      if (delta) out.push(...r.zero());
      out.push(fn.loop(dk, (d) => [
        rowOf(d),
        ...(g.decayWidth > 1 ? setSplat(eg, m.f32.load(0, 4, m.i32.add(m.i32.mul(d.get(), c32(4)), scratch.get()))) : []),
        ...(delta ? setSplat(kd, m.f32.load(0, 4, at(kp, d.get(), 4))) : []),
        ...r.chunks.flatMap((ch, c) => {
          const O = ops(ch.wide);
          const s = r.loadChunk(c, sp.get(), 0);
          return [
            tmp[c].set(gated ? O.mul(s, O.of(eg)) : s),
            ...(gated ? [chunkStore(c, tmp[c].get())] : []),
            ...(delta ? [r.locals[c].set(O.add(r.locals[c].get(), O.mul(O.of(kd), tmp[c].get())))] : []),
          ];
        }),
      ]));
    }
    // u = beta (v - S^T k), or v
    out.push(...u.setAll((c, wide) => {
      const O = ops(wide);
      const vc = u.loadChunk(c, m.i32.add(vp.get(), mb()), 0);
      return delta ? O.mul(O.of(bt1), O.sub(vc, r.locals[c].get())) : vc;
    }));
    const readOut = !!y && G === 1;
    if (readOut) out.push(...o.zero());
    // S += k u^T, with one query head per kv head the read-out in the same pass
    out.push(fn.loop(dk, (d) => [
      rowOf(d),
      ...setSplat(kd, m.f32.load(0, 4, at(kp, d.get(), 4))),
      ...(readOut ? setSplat(qd, m.f32.load(0, 4, at(qp, d.get(), 4))) : []),
      ...u.chunks.flatMap((ch, c) => {
        const O = ops(ch.wide);
        return [
          tmp[c].set(O.add(u.loadChunk(c, sp.get(), 0), O.mul(O.of(kd), u.locals[c].get()))),
          chunkStore(c, tmp[c].get()),
          ...(readOut ? [o.locals[c].set(O.add(o.locals[c].get(), O.mul(O.of(qd), tmp[c].get())))] : []),
        ];
      }),
    ]));
    const qh = i32(), oh = i32();
    const store = (ptr: Local) => o.storeAll(ptr, 0, (c, wide) => ops(wide).mul(o.locals[c].get(), ops(wide).of(scale)));
    if (readOut) out.push(oh.set(m.i32.add(op.get(), mb())), ...store(oh));
    else if (y) {
      // each query head of the group reads the updated block
      out.push(fn.loop(G, (gh) => [
        qh.set(at(qp, gh.get(), dk * 4)),
        oh.set(m.i32.add(at(op, gh.get(), dv * 4), mb())),
        ...o.zero(),
        fn.loop(dk, (d) => [
          rowOf(d),
          ...setSplat(qd, m.f32.load(0, 4, at(qh, d.get(), 4))),
          ...o.setAll((c, wide) => ops(wide).add(o.locals[c].get(), ops(wide).mul(ops(wide).of(qd), o.loadChunk(c, sp.get(), 0)))),
        ]),
        ...store(oh),
      ]));
    }
    return out;
  };

  const full = Math.floor(dv / BLOCK), tail = dv % BLOCK;
  const mbl = i32();
  const blocks: Expr[] = [
    fn.loop(full, (blk) => [mbl.set(m.i32.mul(blk.get(), c32(BLOCK * 4))), ...block(BLOCK, () => mbl.get())]),
    ...(tail ? block(tail, () => c32(full * BLOCK * 4)) : []),
  ];

  const decayStep = (): Expr[] => {
    if (!gated) return [];
    // decay's row for (b, t, h): per head one value, per key dim d_k of them
    if (g.decayWidth === 1) {
      return setSplat(eg, ctx.math.call("exp", "f32", m.f32.load(decay!.addr, 4, m.i32.mul(m.i32.add(m.i32.mul(bt.get(), c32(H)), hLocal.get()), c32(4)))));
    }
    const dp = i32();
    return [
      dp.set(m.i32.mul(m.i32.add(m.i32.mul(bt.get(), c32(H)), hLocal.get()), c32(dk * 4))),
      fn.loop(dk, (d) => [m.f32.store(0, 4, m.i32.add(scratch.get(), m.i32.mul(d.get(), c32(4))),
        ctx.math.call("exp", "f32", m.f32.load(decay!.addr, 4, m.i32.add(dp.get(), m.i32.mul(d.get(), c32(4))))))]),
    ];
  };
  const betaStep = (): Expr[] => {
    if (!delta) return [];
    const idx = g.betaWidth === 1 ? bt.get() : m.i32.add(m.i32.mul(bt.get(), c32(H)), hLocal.get());
    return setSplat(bt1, m.f32.load(beta!.addr, 4, m.i32.mul(idx, c32(4))));
  };

  const token = (b: Local, t: Local): Expr[] => [
    bt.set(m.i32.add(m.i32.mul(b.get(), c32(T)), t.get())),
    kp.set(m.i32.add(c32(k.addr), m.i32.mul(m.i32.add(m.i32.mul(bt.get(), c32(H)), hLocal.get()), c32(dk * 4)))),
    vp.set(m.i32.add(c32(v.addr), m.i32.mul(m.i32.add(m.i32.mul(bt.get(), c32(H)), hLocal.get()), c32(dv * 4)))),
    ...(y ? [
      qp.set(m.i32.add(c32(q.addr), m.i32.mul(m.i32.add(m.i32.mul(bt.get(), c32(g.qHeads)), m.i32.mul(hLocal.get(), c32(G))), c32(dk * 4)))),
      op.set(m.i32.add(c32(y.addr), m.i32.mul(m.i32.add(m.i32.mul(bt.get(), c32(g.qHeads)), m.i32.mul(hLocal.get(), c32(G))), c32(dv * 4)))),
    ] : []),
    ...decayStep(),
    ...betaStep(),
    ...blocks,
  ];

  const item = (w: Local): Expr[] => [
    bLocal.set(m.i32.div_u(w.get(), c32(H))),
    hLocal.set(m.i32.rem_u(w.get(), c32(H))),
    sp0.set(present ? m.i32.add(c32(present.addr), m.i32.mul(w.get(), c32(headBytes))) : m.i32.add(scratch.get(), c32(p.decayBytes))),
    past ? m.memory.copy(sp0.get(), m.i32.add(c32(past.addr), m.i32.mul(w.get(), c32(headBytes))), c32(headBytes))
      : m.memory.fill(sp0.get(), c32(0), c32(headBytes)),
    fn.trips(trips.seq, (t) => token(bLocal, t)),
  ];
  fn.emit(...setSplat(scale, m.f32.const(Math.fround(g.scale))));
  if (p.decayBytes + p.stateBytes > 0) fn.emit(scratch.set(threadScratch(m, threads, ctx.scratchAddr)));
  fn.emit(splitItems(fn, threads, items, item));
}

export const LINEAR_ATTENTION = variant<LinearAttentionPlan>({
  name: "column-blocks",
  plan,
  prepare: (_ctx, p) => ({ scratchBytes: p.decayBytes + p.stateBytes }),
  emit,
});
