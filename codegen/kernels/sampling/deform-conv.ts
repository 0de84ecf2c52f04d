// DeformConv as a deformable im2col followed by a GEMM: float32 takes the packed GEMM Conv's
// im2col-gemm uses (matmul/gemm-packed.ts, B's panels copied to scratch), float64 and float16 the
// generic one (matmul/core.ts gemm, scalar).
//
// For each image and each chunk of output positions, col[(c, tap), p] is input channel c sampled
// bilinearly at tap's position for output position p, moved by the learned offset and scaled by
// the mask: h = oh*sh - padT + i*dh + offset_h, w likewise; the four taps around (h, w) that lie
// in the image are weighted, the others count as zero (GridSample's zeros padding with
// align_corners, in pixel units, as the reference; onnxruntime agrees but for infinite X). The
// four tap offsets and weights of one (offset group, tap, position) are computed once into a table
// and shared by the offset group's channels (float32: four positions per vector). Then per conv
// group, y[g] = W[g] col[g] + B[g]. Threads (float32) share out the channels' col rows, then the
// GEMM's panels; a symbolic batch runs this run's images.
//
// Cost: the sampling is 4 gathered loads and 4 multiply-adds per col element (C x kh*kw x positions), the
// GEMM 2 x M x C/group x kh*kw x positions flops as Conv's im2col-gemm; col is built a chunk of
// positions at a time so its scratch stays under COL_BYTES. A tap outside the image is read at
// the plane's first element and counts as zero, so no offset (NaN, inf, huge) reads outside X and
// no infinite X value leaks into a tap outside (0 x inf).
import binaryen from "binaryen";
import { slidingWindow, type Window } from "../../../compiler/ops/nn-geometry.js";
import { dtype } from "../../../runtime/dtypes.js";
import type { Expr, Local } from "../../fn.js";
import { align16, load, store } from "../../memory.js";
import { gemm } from "../matmul/core.js";
import { emitPackedGemm, packedBScratchBytes, type PackedEpilogue } from "../matmul/gemm-packed.js";
import { samplingScalars } from "./scalar.js";
import { splitNest, threadScratch } from "../../threads.js";
import { KernelTable, variant, type KernelCtx, type LayerCtx } from "../kernel.js";

const table = new KernelTable();

interface Plan {
  win: Window;
  N: number; C: number; H: number; W: number; M: number;
  group: number; offsetGroup: number;
  kh: number; kw: number;
  OH: number; OW: number;
  /** positions per chunk of col */
  chunk: number;
  tableBytes: number;
  /** where the packed GEMM copies B's panels (float32), after col */
  panelAt: number;
  scratchBytes: number;
}

/** col's bytes stay below this: larger layers build it a chunk of positions at a time */
const COL_BYTES = 16 << 20;
/**
 * The sample table of one (offset group, tap) over a chunk's positions, as arrays (so four
 * positions load as one vector): for each corner k, the byte offsets in the plane (i32) at
 * offsetsAt(k), then for each corner the weights (f32 or f64) at weightsAt(k). `cap`: the chunk
 * rounded up to whole vectors.
 */
const tableLayout = (chunk: number, tb: number) => {
  const cap = Math.ceil(chunk / 4) * 4;
  return { offsetsAt: (k: number) => 4 * k * cap, weightsAt: (k: number) => 16 * cap + k * cap * tb, bytes: align16(16 * cap + 4 * cap * tb) };
};

function plan(layer: LayerCtx): Plan {
  const x = layer.input(0), w = layer.input(1), y = layer.output(0);
  const [N, C, H, W] = x.dims;
  const [M, , kh, kw] = w.dims;
  const win = slidingWindow(layer.attrs, [H, W], [kh, kw]);
  const [OH, OW] = win.out;
  const eb = dtype(y.dtype).bytes, tb = y.dtype === "float64" ? 8 : 4;
  const P = OH * OW;
  const chunk = Math.max(1, Math.min(P, Math.floor(COL_BYTES / Math.max(1, C * kh * kw * eb))));
  const tableBytes = tableLayout(chunk, tb).bytes;
  const group = layer.attrs.int("group", 1);
  const panelAt = tableBytes + align16(C * kh * kw * chunk * eb);
  const panel = y.dtype === "float32" ? packedBScratchBytes((C / group) * kh * kw) : 0;
  return {
    win, N, C, H, W, M, group, offsetGroup: layer.attrs.int("offset_group", 1), kh, kw, OH, OW,
    chunk, tableBytes, panelAt, scratchBytes: panelAt + align16(panel),
  };
}

function emit(ctx: KernelCtx, P: Plan): void {
  const { m, fn } = ctx;
  const [x, w, off, y] = [ctx.input(0), ctx.input(1), ctx.input(2), ctx.output(0)];
  const bias = ctx.inputs[3], mask = ctx.inputs[4];
  if (y.size === 0) return;
  const dt = y.dtype;
  const { F, T, tb, i32, add, trunc, toF, loadT, storeT } = samplingScalars(m, dt);
  const eb = dtype(dt).bytes;
  const { C, H, W, M, group, offsetGroup, kh, kw, OH, OW, chunk, win } = P;
  const lay = tableLayout(chunk, tb);
  const Pn = OH * OW, taps = kh * kw, K = (C / group) * taps, Mg = M / group, Cog = C / offsetGroup;
  const [sh, sw] = win.strides, [dh, dw] = win.dilations, [padT, padL] = win.padBegin;
  // threads (float32: the packed GEMM splits): each builds the tables in its own scratch and fills
  // its share of the channels' col rows in the shared col (thread 0's scratch), then all meet, and
  // meet again after the products before col is rewritten
  const threads = dt === "float32" ? ctx.splitAmong() : undefined;
  const tab = fn.local(binaryen.i32), col = ctx.scratchAddr + P.tableBytes;

  const n = fn.local(binaryen.i32), p0 = fn.local(binaryen.i32);
  const [hh, ww, fh, fw, mk] = Array.from({ length: 5 }, () => fn.local(T));
  const h0 = fn.local(binaryen.i32), w0 = fn.local(binaryen.i32), pos = fn.local(binaryen.i32), eo = fn.local(binaryen.i32), ew = fn.local(binaryen.i32);

  /** element (n, channel, position) of offset or mask, in the compute type */
  const planeAt = (t: typeof off, channels: number, ch: Expr, q: Local) =>
    load(m, t.dtype, m.i32.mul(add(m.i32.mul(add(m.i32.mul(n.get(), i32(channels)), ch), i32(Pn)), p0.get(), q.get()), i32(eb)), t.addr);

  /** the table for offset group og, tap (i, j), positions p0 .. p0+len */
  const buildTable = (og: Local, i: Local, j: Local, len: number): Expr => fn.loop(len, (q) => {
    const tap = () => add(m.i32.mul(og.get(), i32(taps)), m.i32.mul(i.get(), i32(kw)), j.get());
    const ok = (v: Local, d: number, k: number) => m.i32.lt_u(m.i32.add(v.get(), i32(k)), i32(d));
    // corner (a, b): its byte offset in the plane, or the sign bit alone outside the image, and weight (0 outside)
    const corner = (a: number, b: number): Expr[] => {
      const inside = () => m.i32.and(ok(h0, H, a), ok(w0, W, b));
      const wt = F.mul(F.mul(a ? fh.get() : F.sub(F.c(1), fh.get()), b ? fw.get() : F.sub(F.c(1), fw.get())), mk.get());
      const k = 2 * a + b;
      return [
        m.i32.store(lay.offsetsAt(k), 4, eo.get(), m.select(inside(), m.i32.mul(add(m.i32.mul(m.i32.add(h0.get(), i32(a)), i32(W)), w0.get(), i32(b)), i32(eb)), i32(0x80000000 | 0))),
        storeT(ew.get(), lay.weightsAt(k), F.select(inside(), wt, F.c(0))),
      ];
    };
    return [
      pos.set(m.i32.add(p0.get(), q.get())),
      eo.set(m.i32.add(tab.get(), m.i32.shl(q.get(), i32(2)))), ew.set(m.i32.add(tab.get(), m.i32.mul(q.get(), i32(tb)))),
      hh.set(F.add(toF(add(m.i32.mul(m.i32.div_u(pos.get(), i32(OW)), i32(sh)), i32(-padT), m.i32.mul(i.get(), i32(dh)))), planeAt(off, offsetGroup * taps * 2, m.i32.shl(tap(), i32(1)), q))),
      ww.set(F.add(toF(add(m.i32.mul(m.i32.rem_u(pos.get(), i32(OW)), i32(sw)), i32(-padL), m.i32.mul(j.get(), i32(dw)))), planeAt(off, offsetGroup * taps * 2, m.i32.add(m.i32.shl(tap(), i32(1)), i32(1)), q))),
      mk.set(mask ? planeAt(mask, offsetGroup * taps, tap(), q) : F.c(1)),
      h0.set(trunc(F.floor(hh.get()))), w0.set(trunc(F.floor(ww.get()))),
      fh.set(F.sub(hh.get(), F.floor(hh.get()))), fw.set(F.sub(ww.get(), F.floor(ww.get()))),
      ...corner(0, 0), ...corner(0, 1), ...corner(1, 0), ...corner(1, 1),
    ];
  });

  /**
   * col rows of the offset group's channels for this tap, from the table: pointers stepped along;
   * float32 four positions at a time (the taps gathered lane by lane, weighted and summed as vectors)
   */
  const [xp, to, tw, dp] = Array.from({ length: 4 }, () => fn.local(binaryen.i32));
  const offs = fn.local(binaryen.v128), acc = fn.local(binaryen.v128);
  const fillCol = (og: Local, i: Local, j: Local, len: number): Expr => splitNest(fn, threads, [Cog], ([c]) => {
    const ch = () => add(m.i32.mul(og.get(), i32(Cog)), c.get());
    // a corner outside (offset with the sign bit, low bits 0) is read at the plane's first element
    // with weight 0; where that element is not finite (0 x inf), the exact loop makes it zero instead
    const v = (k: number, exact: boolean) => {
      const o = () => m.i32.load(lay.offsetsAt(k), 4, to.get());
      const at = load(m, x.dtype, m.i32.add(xp.get(), m.i32.and(o(), i32(0x7fffffff))));
      return F.mul(loadT(tw.get(), lay.weightsAt(k)), exact ? F.select(m.i32.lt_s(o(), i32(0)), F.c(0), at) : at);
    };
    const scalar = (exact: boolean, from: number) => fn.loop(len, () => [
      store(m, dt, dp.get(), F.add(F.add(F.add(v(0, exact), v(1, exact)), v(2, exact)), v(3, exact))),
      to.set(m.i32.add(to.get(), i32(4))), tw.set(m.i32.add(tw.get(), i32(tb))), dp.set(m.i32.add(dp.get(), i32(eb))),
    ], { start: from });
    const gather = () => {
      const lane = (l: number) => m.f32.load(0, 4, m.i32.add(xp.get(), m.i32x4.extract_lane(offs.get(), l)));
      let g = m.f32x4.splat(lane(0));
      for (let l = 1; l < 4; l++) g = m.f32x4.replace_lane(g, l, lane(l));
      return g;
    };
    const vectors = (): Expr => fn.loop(len - (len % 4), () => [
      acc.set(m.v128.const(new Array(16).fill(0))),
      ...[0, 1, 2, 3].flatMap((k) => [
        offs.set(m.v128.and(m.v128.load(lay.offsetsAt(k), 4, to.get()), m.i32x4.splat(i32(0x7fffffff)))),
        acc.set(m.f32x4.add(acc.get(), m.f32x4.mul(m.v128.load(lay.weightsAt(k), 4, tw.get()), gather()))),
      ]),
      m.v128.store(0, 4, dp.get(), acc.get()),
      to.set(m.i32.add(to.get(), i32(16))), tw.set(m.i32.add(tw.get(), i32(16))), dp.set(m.i32.add(dp.get(), i32(16))),
    ], { step: 4 });
    const fill = (exact: boolean) => fn.block([
      to.set(tab.get()), tw.set(tab.get()),
      dp.set(m.i32.add(i32(col), m.i32.mul(add(m.i32.mul(ch(), i32(taps)), m.i32.mul(i.get(), i32(kw)), j.get()), i32(chunk * eb)))),
      ...(dt === "float32" && !exact ? [vectors(), scalar(false, len - (len % 4))] : [scalar(exact, 0)]),
    ]);
    const first = () => load(m, x.dtype, xp.get());
    return [
      xp.set(m.i32.add(i32(x.addr), m.i32.mul(add(m.i32.mul(n.get(), i32(C)), ch()), i32(H * W * eb)))),
      m.if(F.lt(F.abs(first()), F.c(Infinity)), fill(false), fill(true)),
    ];
  });

  const wBase = fn.local(binaryen.i32), bBase = fn.local(binaryen.i32), cBase = fn.local(binaryen.i32), yBase = fn.local(binaryen.i32);
  const row = fn.local(binaryen.i32);
  /** y[n, g] for positions p0 .. p0+len: W[g] col[g] (+ B[g] along the rows) */
  const product = (g: Local, len: number): Expr[] => {
    if (dt !== "float32") {
      return [
        wBase.set(m.i32.mul(g.get(), i32(Mg * K * eb))),
        bBase.set(m.i32.mul(g.get(), i32(Mg * eb))),
        cBase.set(m.i32.mul(g.get(), i32(K * chunk * eb))),
        yBase.set(m.i32.mul(add(m.i32.mul(add(m.i32.mul(n.get(), i32(M)), m.i32.mul(g.get(), i32(Mg))), i32(Pn)), p0.get()), i32(eb))),
        ...gemm(fn, {
          dtype: dt, M: Mg, N: len, K,
          a: { addr: w.addr, base: wBase, rs: K, cs: 1 },
          b: { addr: col, base: cBase, rs: chunk, cs: 1 },
          c: { addr: y.addr, base: yBase, rs: Pn, cs: 1 },
          bias: bias ? { addr: bias.addr, base: bBase, rs: 1, cs: 0, dtype: bias.dtype, beta: 1 } : undefined,
        }),
      ];
    }
    const epilogue: PackedEpilogue | undefined = bias && ((v, r) => m.block(null, [row.set(r),
      m.f32x4.add(v, m.v128.load32_splat(bias.addr, 4, m.i32.shl(add(row.get(), m.i32.mul(g.get(), i32(Mg))), i32(2))))], binaryen.v128));
    return emitPackedGemm({ fn }, {
      M: Mg, N: len, K, epilogue, bScratch: ctx.scratchAddr + P.panelAt, threads,
      a: { addr: w.addr, rs: K, base: () => m.i32.mul(g.get(), i32(Mg * K * 4)) },
      b: { addr: col, rs: chunk, base: () => m.i32.mul(g.get(), i32(K * chunk * 4)) },
      c: { addr: y.addr, rs: Pn, base: () => m.i32.mul(add(m.i32.mul(add(m.i32.mul(n.get(), i32(M)), m.i32.mul(g.get(), i32(Mg))), i32(Pn)), p0.get()), i32(4)) },
    });
  };
  /** col for positions p0 .. p0+len, then each group's product into y */
  const meet = () => (threads ? [threads.barrier()] : []);
  const positions = (len: number): Expr[] => [
    fn.nest([offsetGroup, kh, kw], ([og, i, j]) => [buildTable(og, i, j, len), fillCol(og, i, j, len)]),
    ...meet(),
    fn.loop(group, (g) => product(g, len)),
    ...meet(),
  ];

  const full = Math.floor(Pn / chunk), tail = Pn - full * chunk;
  fn.emit(tab.set(threadScratch(m, threads, ctx.scratchAddr)));
  // a symbolic batch (leading in X, offset, mask and y) runs this run's images
  for (const t of [off, mask, y]) if (t && ctx.symbolic?.dims.has(t.name)) ctx.outerCount(t, P.N);
  fn.emit(fn.trips(ctx.outerCount(x, P.N), (img) => [
    n.set(img.get()),
    fn.loop(full, (k) => [p0.set(m.i32.mul(k.get(), i32(chunk))), ...positions(chunk)]),
    ...(tail ? [p0.set(i32(full * chunk)), ...positions(tail)] : []),
  ]));
}

export const DEFORM_IM2COL = variant<Plan>({ name: "deform-im2col-gemm", plan, prepare: (_ctx, P) => ({ scratchBytes: P.scratchBytes }), emit });

table.family("deform-conv", "DeformConv", [DEFORM_IM2COL]);

export const KERNELS = table.families;
