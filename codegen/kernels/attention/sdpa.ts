// Attention (opset 23/24): Y = softmax(softcap(scale * Q K^T) + bias) V per batch and query head,
// with grouped-query heads, past key/value caches, masks and the optional qk output.
//
// One query row at a time, streamed over the keys with an online softmax (running max and sum,
// the accumulator rescaled when the max grows): the query row and the output accumulator live in
// locals (f32x4 for float32), so the kernel needs no scratch memory for the score matrix and reads
// each key and value row once per query row. A masked key (score -inf) is skipped, so a fully
// masked row yields zeros, as the ONNX tests expect, rather than 0/0.
import binaryen from "binaryen";
import { dtype as dtypeInfo, type DTypeName } from "../../../runtime/dtypes.js";
import { attentionGeometry, type AttentionGeometry } from "../../../compiler/ops/attention.js";
import { broadcastStrides } from "../../fn.js";
import type { Expr, Fn, Local } from "../../fn.js";
import { load, store, wasmType } from "../../memory.js";
import type { KernelCtx, TensorRef } from "../kernel.js";
import { floatOps, LaneRow } from "./lanes.js";

/** Byte strides of (batch, head, position) rows of a 3-D packed or 4-D tensor. */
export function rowStrides(packed: boolean, heads: number, len: number, headSize: number, bytes: number): [number, number, number] {
  const s: [number, number, number] = packed ? [len * heads * headSize, headSize, heads * headSize] : [heads * len * headSize, len * headSize, headSize];
  return s.map((x) => x * bytes) as [number, number, number];
}

/** A run of keys [start, end) read from one K and V tensor pair. */
interface KeySegment {
  start: number;
  end: number;
  k: TensorRef;
  v: TensorRef;
  /** byte strides (batch, kv head, position) */
  ks: [number, number, number];
  vs: [number, number, number];
}

function keySegments(ctx: KernelCtx, g: AttentionGeometry, bytes: number): KeySegment[] {
  const segs: KeySegment[] = [];
  const pk = ctx.inputs[4], pv = ctx.inputs[5];
  if (pk && pv && g.pastLen > 0) {
    segs.push({ start: 0, end: g.pastLen, k: pk, v: pv,
      ks: rowStrides(false, g.kvHeads, g.pastLen, g.headSize, bytes), vs: rowStrides(false, g.kvHeads, g.pastLen, g.vHeadSize, bytes) });
  }
  segs.push({ start: g.pastLen, end: g.totalLen, k: ctx.input(1), v: ctx.input(2),
    ks: rowStrides(g.packed, g.kvHeads, g.kvLen, g.headSize, bytes), vs: rowStrides(g.packed, g.kvHeads, g.kvLen, g.vHeadSize, bytes) });
  return segs;
}

export function emitAttention(ctx: KernelCtx): void {
  const { m, fn } = ctx;
  const q = ctx.input(0);
  const dt = q.dtype;
  if (dt !== "float32" && dt !== "float16" && dt !== "float64") ctx.unsupported(`Attention on ${dt}`);
  const g = attentionGeometry(ctx.attrs, q.dims, ctx.input(1).dims, ctx.input(2).dims, ctx.inputs[4]?.dims, ctx.inputs[5]?.dims, (msg) => ctx.unsupported(msg));
  const bytes = dtypeInfo(dt).bytes;
  const segs = keySegments(ctx, g, bytes);
  fn.emit(...copyPresent(ctx, g, segs, bytes));
  fn.emit(attentionRows(ctx, g, segs, dt, bytes));
}

/** present_key / present_value = concat(past, new) along the sequence, row by row with memory.copy. */
function copyPresent(ctx: KernelCtx, g: AttentionGeometry, segs: KeySegment[], bytes: number): Expr[] {
  const { m, fn } = ctx;
  const out: Expr[] = [];
  const copy = (dst: TensorRef, headSize: number, pick: (s: KeySegment) => [TensorRef, [number, number, number]]) => {
    const rowBytes = headSize * bytes;
    const ds = rowStrides(false, g.kvHeads, g.totalLen, headSize, bytes);
    for (const s of segs) {
      const [src, ss] = pick(s);
      out.push(fn.nest([g.batch, g.kvHeads, s.end - s.start], ([b, h, j]) => [m.memory.copy(
        m.i32.add(m.i32.const(dst.addr + s.start * ds[2]), fn.linear([b, h, j], ds)),
        m.i32.add(m.i32.const(src.addr), fn.linear([b, h, j], ss)),
        m.i32.const(rowBytes))]));
    }
  };
  if (ctx.outputs[1]) copy(ctx.output(1), g.headSize, (s) => [s.k, s.ks]);
  if (ctx.outputs[2]) copy(ctx.output(2), g.vHeadSize, (s) => [s.v, s.vs]);
  return out;
}

function attentionRows(ctx: KernelCtx, g: AttentionGeometry, segs: KeySegment[], dt: DTypeName, bytes: number): Expr {
  const { m, fn } = ctx;
  const F = floatOps(m, dt);
  const p = dt === "float64" ? "f64" : "f32";
  const simd = dt === "float32";
  const reps = g.qHeads / g.kvHeads;
  const mode = ctx.attrs.int("qk_matmul_output_mode", 0);
  const qkOut = ctx.outputs[3];
  const scale = ctx.attrs.float("scale", 1 / Math.sqrt(g.headSize));
  const softcap = ctx.attrs.float("softcap", 0);
  const negInf = () => F.const(-Infinity);

  const qRow = new LaneRow(fn, dt, g.headSize);
  const acc = new LaneRow(fn, dt, g.vHeadSize);
  const [s, mx, l, pr, f] = [0, 1, 2, 3, 4].map(() => fn.local(wasmType(dt)));
  const splat = simd ? fn.local(binaryen.v128) : undefined;
  const [qp, kp, vp, yp, op] = [0, 1, 2, 3, 4].map(() => fn.local(binaryen.i32));
  const splatOf = (x: Local) => (splat ? [splat.set(m.f32x4.splat(x.get()))] : []);
  const bias = scoreBias(ctx, g, dt);

  // h = hk * reps + r: looping over kv heads and their query heads avoids a division
  const headStrides = (st: [number, number, number]) => [st[0], st[1] * reps, st[1], st[2]];
  const qs = rowStrides(g.packed, g.qHeads, g.qLen, g.headSize, bytes);
  const ys = rowStrides(g.packed, g.qHeads, g.qLen, g.vHeadSize, bytes);
  const os = [g.qHeads * g.qLen * g.totalLen * bytes, g.totalLen * bytes * g.qLen * reps, g.totalLen * bytes * g.qLen, g.totalLen * bytes];
  const y = ctx.output(0);

  const s4 = fn.local(binaryen.v128), masked4 = fn.local(binaryen.v128);
  const bm = fn.local(binaryen.f32);
  const p4 = [0, 1, 2, 3].map(() => fn.local(binaryen.f32));
  const sp4 = [0, 1, 2, 3].map(() => fn.local(binaryen.v128));

  return fn.nest([g.batch, g.kvHeads, reps, g.qLen], (idx) => {
    const [b, hk] = idx;
    const storeQk = (when: boolean, j: () => Expr): Expr[] => (when && qkOut
      ? [store(m, dt, m.i32.add(op.get(), m.i32.mul(j(), m.i32.const(bytes))), s.get(), qkOut.addr)] : []);
    // a larger running max rescales what has been summed so far (`to` is a local: binaryen
    // expressions must form a tree, one use each)
    const raiseMax = (to: Local): Expr[] => [
      f.set(ctx.math.call("exp", p, F.sub(mx.get(), to.get()))),
      l.set(F.mul(l.get(), f.get())),
      ...splatOf(f),
      ...acc.setAll((k) => acc.scaled(k, f, splat)),
      mx.set(to.get()),
    ];
    // past the causal frontier or the non-padded length every key is masked: unless the qk output
    // wants those scores, a block starting there is not computed at all
    const skipUnreachable = (j: Local, work: Expr[], then: Expr[]): Expr[] => {
      const reach = qkOut ? undefined : bias.reachable(j);
      return [...(reach ? [m.if(reach, m.block(null, work))] : work), ...then];
    };
    const keyLoop = (seg: KeySegment): Expr => {
      // s = the biased score of key j, whose row is `ahead` rows past kp
      const score = (j: () => Expr, ahead: number): Expr[] => [
        s.set(qRow.dot(kp, seg.k.addr + ahead * seg.ks[2])),
        // mode 0 is the raw product (as the spec and onnxruntime have it; the Python reference
        // writes the softcapped value there too), mode 1 the softcapped one
        ...storeQk(mode === 0, j),
        ...(softcap > 0 ? [s.set(F.mul(F.const(softcap), ctx.math.call("tanh", p, F.div(s.get(), F.const(softcap)))))] : []),
        ...storeQk(mode === 1, j),
        s.set(bias.apply(s.get(), j)),
        ...storeQk(mode >= 2, j),
      ];
      const advance = (rows: number) => [
        kp.set(m.i32.add(kp.get(), m.i32.const(rows * seg.ks[2]))),
        vp.set(m.i32.add(vp.get(), m.i32.const(rows * seg.vs[2]))),
      ];
      const oneKey = (j: Local): Expr[] => [
        ...score(() => j.get(), 0),
        m.if(F.ne(s.get(), negInf()), m.block(null, [
          m.if(F.gt(s.get(), mx.get()),
            m.block(null, [...raiseMax(s), pr.set(F.const(1))]),
            pr.set(ctx.math.call("exp", p, F.sub(s.get(), mx.get())))),
          l.set(F.add(l.get(), pr.get())),
          ...splatOf(pr),
          ...acc.accumulate(pr, splat, vp, seg.v.addr),
        ])),
        ...advance(1),
      ];
      // float32: four keys per step, their exponentials in one f32x4 exp
      const lane = (v: Local, k: number) => m.f32x4.extract_lane(v.get(), k);
      const fourKeys = (j: Local): Expr[] => skipUnreachable(j, [
        ...[0, 1, 2, 3].flatMap((k) => [...score(() => m.i32.add(j.get(), m.i32.const(k)), k), s4.set(m.f32x4.replace_lane(s4.get(), k, s.get()))]),
        bm.set(m.f32.max(m.f32.max(lane(s4, 0), lane(s4, 1)), m.f32.max(lane(s4, 2), lane(s4, 3)))),
        m.if(m.f32.ne(bm.get(), negInf()), m.block(null, [
          m.if(m.f32.gt(bm.get(), mx.get()), m.block(null, raiseMax(bm))),
          masked4.set(m.f32x4.eq(s4.get(), m.f32x4.splat(negInf()))),
          s4.set(m.v128.andnot(ctx.math.call4("exp", m.f32x4.sub(s4.get(), m.f32x4.splat(mx.get()))), masked4.get())),
          l.set(m.f32.add(l.get(), m.f32.add(m.f32.add(lane(s4, 0), lane(s4, 1)), m.f32.add(lane(s4, 2), lane(s4, 3))))),
          ...[0, 1, 2, 3].flatMap((k) => [p4[k].set(lane(s4, k)), sp4[k].set(m.f32x4.splat(p4[k].get()))]),
          ...acc.accumulateRows([0, 1, 2, 3].map((k) => ({ p: p4[k], splat: sp4[k], addr: seg.v.addr + k * seg.vs[2] })), vp),
        ])),
      ], advance(4));
      const quads = simd ? (seg.end - seg.start) - ((seg.end - seg.start) % 4) : 0;
      return m.block(null, [
        kp.set(m.i32.add(m.i32.mul(b.get(), m.i32.const(seg.ks[0])), m.i32.mul(hk.get(), m.i32.const(seg.ks[1])))),
        vp.set(m.i32.add(m.i32.mul(b.get(), m.i32.const(seg.vs[0])), m.i32.mul(hk.get(), m.i32.const(seg.vs[1])))),
        fn.loop(seg.start + quads, fourKeys, { start: seg.start, step: 4 }),
        fn.loop(seg.end, oneKey, { start: seg.start + quads }),
      ]);
    };
    return [
      qp.set(fn.linear(idx, headStrides(qs))),
      f.set(F.const(scale)),
      ...splatOf(f),
      ...qRow.setAll((k) => qRow.loadChunk(k, qp.get(), ctx.input(0).addr)),
      ...qRow.setAll((k) => qRow.scaled(k, f, splat)),
      ...acc.zero(),
      mx.set(negInf()),
      l.set(F.const(0)),
      ...(qkOut ? [op.set(fn.linear(idx, os))] : []),
      ...bias.rowSetup(idx),
      ...segs.map(keyLoop),
      // 1/sum, or 0 for a row with every key masked
      f.set(m.select(F.gt(l.get(), F.const(0)), F.div(F.const(1), l.get()), F.const(0))),
      ...splatOf(f),
      yp.set(fn.linear(idx, headStrides(ys))),
      ...acc.storeAll(yp, y.addr, (k) => acc.scaled(k, f, splat)),
      ...(qkOut && mode === 3 ? [softmaxRow(fn, dt, g.totalLen, op, qkOut.addr, mx, f, ctx)] : []),
    ];
  });
}

/** Turn a row of stored scores into probabilities exp(s - max) / sum (0 where masked). */
function softmaxRow(fn: Fn, dt: DTypeName, n: number, rowPtr: Local, addr: number, mx: Local, inv: Local, ctx: KernelCtx): Expr {
  const m = fn.m;
  const F = floatOps(m, dt);
  const p = dt === "float64" ? "f64" : "f32";
  const bytes = dtypeInfo(dt).bytes;
  const ptr = fn.local(binaryen.i32);
  const x = fn.local(wasmType(dt));
  return fn.loop(n, (j) => [
    ptr.set(m.i32.add(rowPtr.get(), m.i32.mul(j.get(), m.i32.const(bytes)))),
    x.set(load(m, dt, ptr.get(), addr)),
    store(m, dt, ptr.get(), m.if(F.eq(x.get(), F.const(-Infinity)), F.const(0),
      F.mul(ctx.math.call("exp", p, F.sub(x.get(), mx.get())), inv.get())), addr),
  ]);
}

/**
 * The additive bias of score (b, h, i, j): the float mask added, or -inf where a bool mask, the
 * causal frontier, the non-padded length or the end of a short mask excludes the key.
 */
function scoreBias(ctx: KernelCtx, g: AttentionGeometry, dt: DTypeName) {
  const { m, fn } = ctx;
  const F = floatOps(m, dt);
  const mask = ctx.inputs[3];
  const nonpad = ctx.inputs[6];
  const causal = ctx.attrs.int("is_causal", 0) === 1;
  const reps = g.qHeads / g.kvHeads;
  const maskLen = mask ? mask.dims[mask.dims.length - 1] : 0;
  const maskBytes = mask ? dtypeInfo(mask.dtype).bytes : 0;
  const maskRow = fn.local(binaryen.i32);
  const limit = fn.local(binaryen.i32);
  const valid = fn.local(binaryen.i32);
  const hasPast = !!ctx.inputs[4];

  const nonpadAt = (b: Local): Expr => {
    const ptr = m.i32.mul(b.get(), m.i32.const(dtypeInfo(nonpad!.dtype).bytes));
    return nonpad!.dtype === "int64" ? m.i32.wrap(m.i64.load(nonpad!.addr, 8, ptr)) : m.i32.load(nonpad!.addr, 4, ptr);
  };

  const rowSetup = (idx: Local[]): Expr[] => {
    const [b, , , i] = idx;
    const out: Expr[] = [];
    if (mask) {
      const st = broadcastStrides(mask.dims, [g.batch, g.qHeads, g.qLen, maskLen]).map((x) => x * maskBytes);
      out.push(maskRow.set(fn.linear(idx, [st[0], st[1] * reps, st[1], st[2]])));
    }
    if (nonpad) out.push(valid.set(nonpadAt(b)));
    if (causal) {
      // a query at i sees keys j <= i + offset; offset counts the keys before this query block
      const offset = hasPast ? m.i32.const(g.pastLen) : nonpad ? m.i32.sub(valid.get(), m.i32.const(g.qLen)) : m.i32.const(0);
      out.push(limit.set(m.i32.add(i.get(), offset)));
    }
    return out;
  };

  const apply = (s: Expr, j: () => Expr): Expr => {
    const padded = mask && maskLen < g.totalLen;
    const maskAt = () => load(m, mask!.dtype, m.i32.add(maskRow.get(), m.i32.mul(j(), m.i32.const(maskBytes))), mask!.addr);
    const inMask = () => m.i32.lt_s(j(), m.i32.const(maskLen));
    const keep: Expr[] = [];
    if (mask?.dtype === "bool") keep.push(padded ? m.if(inMask(), m.i32.ne(maskAt(), m.i32.const(0)), m.i32.const(0)) : m.i32.ne(maskAt(), m.i32.const(0)));
    else if (mask) s = padded ? m.if(inMask(), F.add(s, maskAt()), F.const(-Infinity)) : F.add(s, maskAt());
    if (causal) keep.push(m.i32.le_s(j(), limit.get()));
    if (nonpad) keep.push(m.i32.lt_s(j(), valid.get()));
    if (!keep.length) return s;
    return m.select(keep.reduce((a, c) => m.i32.and(a, c)), s, F.const(-Infinity));
  };

  /** false when key j and every later key are masked for this row (undefined: no such bound) */
  const reachable = (j: Local): Expr | undefined => {
    const c: Expr[] = [];
    if (causal) c.push(m.i32.le_s(j.get(), limit.get()));
    if (nonpad) c.push(m.i32.lt_s(j.get(), valid.get()));
    return c.length ? c.reduce((a, x) => m.i32.and(a, x)) : undefined;
  };

  return { rowSetup, apply, reachable };
}
