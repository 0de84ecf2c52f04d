// DeformConv as a deformable im2col followed by the GEMM Conv's grouped variant uses
// (matmul/core.ts gemm: f32x4 register tiles for float32, scalar for float64 and float16).
//
// For each image and each chunk of output positions, col[(c, tap), p] is input channel c sampled
// bilinearly at tap's position for output position p, moved by the learned offset and scaled by
// the mask: h = oh*sh - padT + i*dh + offset_h, w likewise; the four taps around (h, w) that lie
// in the image are weighted, the others count as zero (GridSample's zeros padding with
// align_corners, in pixel units, as onnxruntime and the reference). The four tap offsets and
// weights of one (offset group, tap, position) are computed once into a table and shared by the
// offset group's channels. Then per conv group, y[g] = W[g] col[g] + B[g].
//
// Cost: the sampling is 4 loads and 4 multiply-adds per col element (C x kh*kw x positions), the
// GEMM 2 x M x C/group x kh*kw x positions flops as Conv's im2col-gemm; col is built a chunk of
// positions at a time so its scratch stays under COL_BYTES. Every tap index is clamped to the
// image before it is read, so no offset (NaN, inf, huge) reads outside X.
import binaryen from "binaryen";
import { slidingWindow, type Window } from "../../../compiler/ops/nn-geometry.js";
import { dtype } from "../../../runtime/dtypes.js";
import type { Expr, Local } from "../../fn.js";
import { load, store } from "../../memory.js";
import { gemm } from "../matmul/core.js";
import { samplingScalars } from "./scalar.js";
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
  scratchBytes: number;
}

const align16 = (n: number) => Math.ceil(n / 16) * 16;
/** col's bytes stay below this: larger layers build it a chunk of positions at a time */
const COL_BYTES = 16 << 20;
/** a table entry: four tap element offsets (i32), then four weights (f32 or f64) */
const entryBytes = (tb: number) => 16 + 4 * tb;

function plan(layer: LayerCtx): Plan {
  const x = layer.input(0), w = layer.input(1), y = layer.output(0);
  const [N, C, H, W] = x.dims;
  const [M, , kh, kw] = w.dims;
  const win = slidingWindow(layer.attrs, [H, W], [kh, kw]);
  const [OH, OW] = win.out;
  const eb = dtype(y.dtype).bytes, tb = y.dtype === "float64" ? 8 : 4;
  const P = OH * OW;
  const chunk = Math.max(1, Math.min(P, Math.floor(COL_BYTES / Math.max(1, C * kh * kw * eb))));
  const tableBytes = align16(chunk * entryBytes(tb));
  return {
    win, N, C, H, W, M, group: layer.attrs.int("group", 1), offsetGroup: layer.attrs.int("offset_group", 1), kh, kw, OH, OW,
    chunk, tableBytes, scratchBytes: tableBytes + align16(C * kh * kw * chunk * eb),
  };
}

function emit(ctx: KernelCtx, P: Plan): void {
  const { m, fn } = ctx;
  const [x, w, off, y] = [ctx.input(0), ctx.input(1), ctx.input(2), ctx.output(0)];
  const bias = ctx.inputs[3], mask = ctx.inputs[4];
  if (y.size === 0) return;
  const dt = y.dtype;
  const { F, T, tb, i32, add, trunc, toF, loadT, storeT } = samplingScalars(m, dt);
  const eb = dtype(dt).bytes, E = entryBytes(tb);
  const { C, H, W, M, group, offsetGroup, kh, kw, OH, OW, chunk, win } = P;
  const Pn = OH * OW, taps = kh * kw, K = (C / group) * taps, Mg = M / group, Cog = C / offsetGroup;
  const [sh, sw] = win.strides, [dh, dw] = win.dilations, [padT, padL] = win.padBegin;
  const tab = ctx.scratchAddr, col = ctx.scratchAddr + P.tableBytes;

  const n = fn.local(binaryen.i32), p0 = fn.local(binaryen.i32);
  const [hh, ww, fh, fw, mk] = Array.from({ length: 5 }, () => fn.local(T));
  const h0 = fn.local(binaryen.i32), w0 = fn.local(binaryen.i32), pos = fn.local(binaryen.i32), e = fn.local(binaryen.i32);

  /** element (n, channel, position) of offset or mask, in the compute type */
  const planeAt = (t: typeof off, channels: number, ch: Expr, q: Local) =>
    load(m, t.dtype, m.i32.mul(add(m.i32.mul(add(m.i32.mul(n.get(), i32(channels)), ch), i32(Pn)), p0.get(), q.get()), i32(eb)), t.addr);

  /** the table for offset group og, tap (i, j), positions p0 .. p0+len */
  const buildTable = (og: Local, i: Local, j: Local, len: number): Expr => fn.loop(len, (q) => {
    const tap = add(m.i32.mul(og.get(), i32(taps)), m.i32.mul(i.get(), i32(kw)), j.get());
    const ok = (v: Local, d: number, k: number) => m.i32.lt_u(m.i32.add(v.get(), i32(k)), i32(d));
    // corner (a, b): its element offset (clamped inside when the corner is outside) and weight (0 outside)
    const corner = (a: number, b: number): Expr[] => {
      const inside = m.i32.and(ok(h0, H, a), ok(w0, W, b));
      const wt = F.mul(F.mul(a ? fh.get() : F.sub(F.c(1), fh.get()), b ? fw.get() : F.sub(F.c(1), fw.get())), mk.get());
      const k = 2 * a + b;
      return [
        m.i32.store(4 * k, 4, e.get(), m.select(m.i32.and(ok(h0, H, a), ok(w0, W, b)), add(m.i32.mul(m.i32.add(h0.get(), i32(a)), i32(W)), m.i32.add(w0.get(), i32(b))), i32(0))),
        storeT(e.get(), 16 + k * tb, F.select(inside, wt, F.c(0))),
      ];
    };
    return [
      pos.set(m.i32.add(p0.get(), q.get())),
      e.set(add(i32(tab), m.i32.mul(q.get(), i32(E)))),
      hh.set(F.add(toF(add(m.i32.mul(m.i32.div_u(pos.get(), i32(OW)), i32(sh)), i32(-padT), m.i32.mul(i.get(), i32(dh)))), planeAt(off, offsetGroup * taps * 2, m.i32.shl(tap, i32(1)), q))),
      ww.set(F.add(toF(add(m.i32.mul(m.i32.rem_u(pos.get(), i32(OW)), i32(sw)), i32(-padL), m.i32.mul(j.get(), i32(dw)))), planeAt(off, offsetGroup * taps * 2, m.i32.add(m.i32.shl(add(m.i32.mul(og.get(), i32(taps)), m.i32.mul(i.get(), i32(kw)), j.get()), i32(1)), i32(1)), q))),
      mk.set(mask ? planeAt(mask, offsetGroup * taps, add(m.i32.mul(og.get(), i32(taps)), m.i32.mul(i.get(), i32(kw)), j.get()), q) : F.c(1)),
      h0.set(trunc(F.floor(hh.get()))), w0.set(trunc(F.floor(ww.get()))),
      fh.set(F.sub(hh.get(), F.floor(hh.get()))), fw.set(F.sub(ww.get(), F.floor(ww.get()))),
      ...corner(0, 0), ...corner(0, 1), ...corner(1, 0), ...corner(1, 1),
    ];
  });

  /** col rows of the offset group's channels for this tap, from the table */
  const fillCol = (og: Local, i: Local, j: Local, len: number): Expr => fn.nest([Cog, len], ([c, q]) => {
    const ch = add(m.i32.mul(og.get(), i32(Cog)), c.get());
    const plane = () => m.i32.mul(add(m.i32.mul(n.get(), i32(C)), ch), i32(H * W));
    const te = () => add(i32(tab), m.i32.mul(q.get(), i32(E)));
    const v = (k: number) => F.mul(loadT(te(), 16 + k * tb), load(m, x.dtype, m.i32.mul(m.i32.add(plane(), m.i32.load(4 * k, 4, te())), i32(eb)), x.addr));
    const row = add(m.i32.mul(ch, i32(taps)), m.i32.mul(i.get(), i32(kw)), j.get());
    return [store(m, dt, m.i32.mul(add(m.i32.mul(row, i32(chunk)), q.get()), i32(eb)), F.add(F.add(F.add(v(0), v(1)), v(2)), v(3)), col)];
  });

  const wBase = fn.local(binaryen.i32), bBase = fn.local(binaryen.i32), cBase = fn.local(binaryen.i32), yBase = fn.local(binaryen.i32);
  /** col for positions p0 .. p0+len, then each group's product into y */
  const positions = (len: number): Expr[] => {
    const product = gemm(fn, {
      dtype: dt, M: Mg, N: len, K,
      a: { addr: w.addr, base: wBase, rs: K, cs: 1 },
      b: { addr: col, base: cBase, rs: chunk, cs: 1 },
      c: { addr: y.addr, base: yBase, rs: Pn, cs: 1 },
      bias: bias ? { addr: bias.addr, base: bBase, rs: 1, cs: 0, dtype: bias.dtype, beta: 1 } : undefined,
    });
    return [
      fn.nest([offsetGroup, kh, kw], ([og, i, j]) => [buildTable(og, i, j, len), fillCol(og, i, j, len)]),
      fn.loop(group, (g) => [
        wBase.set(m.i32.mul(g.get(), i32(Mg * K * eb))),
        bBase.set(m.i32.mul(g.get(), i32(Mg * eb))),
        cBase.set(m.i32.mul(g.get(), i32(K * chunk * eb))),
        yBase.set(m.i32.mul(add(m.i32.mul(add(m.i32.mul(n.get(), i32(M)), m.i32.mul(g.get(), i32(Mg))), i32(Pn)), p0.get()), i32(eb))),
        ...product,
      ]),
    ];
  };

  const full = Math.floor(Pn / chunk), tail = Pn - full * chunk;
  fn.emit(fn.loop(P.N, (img) => [
    n.set(img.get()),
    fn.loop(full, (k) => [p0.set(m.i32.mul(k.get(), i32(chunk))), ...positions(chunk)]),
    ...(tail ? [p0.set(i32(full * chunk)), ...positions(tail)] : []),
  ]));
}

export const DEFORM_IM2COL = variant<Plan>({ name: "deform-im2col-gemm", plan, prepare: (_ctx, P) => ({ scratchBytes: P.scratchBytes }), emit });

table.family("deform-conv", "DeformConv", [DEFORM_IM2COL]);

export const KERNELS = table.families;
