// RoiAlign: each roi's box is split into output_height x output_width bins; a bin's value is the
// average (or max) of a grid of bilinear samples in it, the grid sampling_ratio on a side or, with
// sampling_ratio 0, ceil(bin size) (adaptive, so it depends on the roi: a run-time count).
//
// Per roi the sample rows of every bin row (and the sample columns of every bin column) go into a
// table first: the clamped tap rows/columns and their weights, for the samples that fall inside
// [-1, H] x [-1, W] (the others contribute zero, as in the reference). Then every channel runs over
// the tables. A bin's sample positions are spaced bin/grid apart, so only the range of grid indices
// that can land inside the image is visited: an adaptive grid past the image (a roi far bigger
// than the feature map, or infinite) costs at most about 2(H + 1) samples per axis, never its full
// count, and each table has a compile-time bound. The average still divides by the full grid, and
// in max mode the samples outside count as zeros, as the reference's do.
//
// max mode follows the ONNX reference and onnxruntime: a sample's value is the max of its four
// weighted taps (w1 v1, ..., w4 v4), not the interpolated value.
//
// A batch index outside [0, N) is reported (KernelCtx.badIndex: BAD_INPUT after the run) and that
// roi's output is zeros; nothing is read outside X. Threads share out the rois, each with tables in
// its own scratch; a symbolic roi count runs this run's rois.
import binaryen from "binaryen";
import { roiAlignAttrs } from "../../../compiler/ops/nn-sampling.js";
import type { Expr, Local } from "../../fn.js";
import { dtype } from "../../../runtime/dtypes.js";
import { align16, constant, load, store } from "../../memory.js";
import { vectorOps } from "../../math/ops.js";
import { samplingScalars } from "./scalar.js";
import { splitNest, threadScratch } from "../../threads.js";
import { KernelTable, variant, type KernelCtx, type LayerCtx } from "../kernel.js";

const table = new KernelTable();

interface Plan {
  N: number; C: number; H: number; W: number; R: number;
  outH: number; outW: number;
  /** fixed sampling grid (sampling_ratio), or 0: adaptive */
  ratio: number;
  mode: string;
  halfPixel: boolean;
  scale: number;
  /** table entries per bin row / bin column */
  rowsCap: number; colsCap: number;
  /** bytes of one table entry: tap offsets lo, hi (i32), then weights l, h */
  entry: number;
  scratchBytes: number;
}

/** tables above this are refused (a sampling_ratio in the tens of thousands) */
const MAX_TABLE_BYTES = 64 << 20;

function plan(layer: LayerCtx): Plan {
  const x = layer.input(0), rois = layer.input(1), y = layer.output(0);
  const a = roiAlignAttrs(layer.attrs, layer.opset, (m) => layer.unsupported(m));
  const [N, C, H, W] = x.dims;
  const R = rois.dims[0];
  // valid samples on an axis are spaced > 1/2 apart when adaptive (grid = ceil(bin), bin > 1) and
  // lie in [-1, H]: at most 2(H + 1) + 1 of them; a fixed grid has at most `ratio`
  const rowsCap = a.ratio > 0 ? a.ratio : 2 * H + 4, colsCap = a.ratio > 0 ? a.ratio : 2 * W + 4;
  const entry = x.dtype === "float64" ? 24 : 16;
  const rowsBytes = align16(a.outH * rowsCap * entry), colsBytes = align16(a.outW * colsCap * entry);
  if (rowsBytes + colsBytes > MAX_TABLE_BYTES) layer.unsupported(`sampling_ratio ${a.ratio} needs ${rowsBytes + colsBytes} bytes of sample tables; kiln takes at most ${MAX_TABLE_BYTES}`);
  const scratchBytes = rowsBytes + colsBytes + align16(a.outH * 4) + align16(a.outW * 4);
  return { N, C, H, W, R, outH: a.outH, outW: a.outW, ratio: a.ratio, mode: a.mode, halfPixel: a.halfPixel, scale: a.scale, rowsCap, colsCap, entry, scratchBytes };
}

function emit(ctx: KernelCtx, P: Plan): void {
  const { m, fn } = ctx;
  const [x, rois, bidx, y] = [ctx.input(0), ctx.input(1), ctx.input(2), ctx.output(0)];
  const { F, T, tb, i32, add, trunc, toF, loadT, storeT } = samplingScalars(m, x.dtype);
  const xb = dtype(x.dtype).bytes;
  const { C, H, W, R, outH, outW, entry } = P;
  // threads take shares of the rois, each with its own tables (offsets from sb, its scratch)
  const threads = ctx.splitAmong();
  const sb = fn.local(binaryen.i32);
  const at = (off: number) => m.i32.add(sb.get(), i32(off));
  const rowsAt = 0, colsAt = align16(outH * P.rowsCap * entry);
  const nRowsAt = colsAt + align16(outW * P.colsCap * entry), nColsAt = nRowsAt + align16(outH * 4);

  const roi = fn.local(binaryen.i32), bi = fn.local(binaryen.i32), given = fn.local(binaryen.i64);
  const [x1, y1, roiW, roiH, binW, binH, gridWf, gridHf, count] = Array.from({ length: 9 }, () => fn.local(T));
  const gridH = fn.local(binaryen.i32), gridW = fn.local(binaryen.i32);
  // rois has X's type (T1): read in the compute type
  const roiAt = (k: number) => F.sub(F.mul(load(m, rois.dtype, m.i32.mul(roi.get(), i32(4 * xb)), rois.addr + k * xb), F.c(P.scale)), F.c(P.halfPixel ? 0.5 : 0));

  /**
   * The table of one axis for bin k: its valid samples' (lo, hi, l, h), and their count. start:
   * the roi's start; bin, grid (i32 and float): the bin size and sample count; size: H or W;
   * stride: the bytes between its rows or columns in X.
   */
  const axisTable = (k: Local, start: Local, bin: Local, grid: Local, gridF: Local, size: number, tableAt: number, countAt: number, cap: number, stride: number): Expr => {
    const [a, step, t1, t2, pos] = Array.from({ length: 5 }, () => fn.local(T));
    const lo = fn.local(binaryen.i32), hi = fn.local(binaryen.i32), n = fn.local(binaryen.i32), low = fn.local(binaryen.i32);
    const e = () => add(at(tableAt), m.i32.mul(k.get(), i32(cap * entry)), m.i32.mul(n.get(), i32(entry)));
    const finiteStep = m.i32.and(F.lt(F.abs(step.get()), F.c(Infinity)), F.ne(step.get(), F.c(0)));
    return fn.block([
      a.set(F.add(start.get(), F.mul(toF(k.get()), bin.get()))),
      step.set(F.div(bin.get(), gridF.get())),
      n.set(i32(0)),
      // grid indices i with a + (i + 1/2) step in [-1, size], widened by one each side (the exact test follows)
      m.if(finiteStep, fn.block([
        t1.set(F.sub(F.div(F.sub(F.c(-1), a.get()), step.get()), F.c(0.5))),
        t2.set(F.sub(F.div(F.sub(F.c(size), a.get()), step.get()), F.c(0.5))),
        lo.set(trunc(F.sub(F.floor(F.min(t1.get(), t2.get())), F.c(1)))),
        hi.set(trunc(F.add(F.ceil(F.max(t1.get(), t2.get())), F.c(1)))),
      ]), fn.block([lo.set(i32(0)), hi.set(P.ratio > 0 ? i32(P.ratio - 1) : i32(-1))])),
      lo.set(m.select(m.i32.lt_s(lo.get(), i32(0)), i32(0), lo.get())),
      hi.set(m.select(m.i32.lt_s(hi.get(), m.i32.sub(grid.get(), i32(1))), hi.get(), m.i32.sub(grid.get(), i32(1)))),
      fn.loopDyn(lo.get(), m.i32.add(hi.get(), i32(1)), (i) => [
        // the reference's expression, in its order: start + k bin + (i + .5) bin / grid
        pos.set(F.add(a.get(), F.div(F.mul(F.add(toF(i.get()), F.c(0.5)), bin.get()), gridF.get()))),
        m.if(m.i32.eqz(m.i32.or(m.i32.or(F.lt(pos.get(), F.c(-1)), F.gt(pos.get(), F.c(size))), m.i32.ge_u(n.get(), i32(cap)))), fn.block([
          pos.set(F.max(pos.get(), F.c(0))),
          low.set(trunc(pos.get())),
          m.if(m.i32.ge_s(low.get(), i32(size - 1)), fn.block([low.set(i32(size - 1)), pos.set(toF(low.get()))])),
          m.i32.store(0, 4, e(), m.i32.mul(low.get(), i32(stride))),
          m.i32.store(4, 4, e(), m.i32.mul(m.select(m.i32.ge_s(low.get(), i32(size - 1)), low.get(), m.i32.add(low.get(), i32(1))), i32(stride))),
          storeT(e(), 8, F.sub(pos.get(), toF(low.get()))),
          storeT(e(), 8 + tb, F.sub(F.c(1), F.sub(pos.get(), toF(low.get())))),
          n.set(m.i32.add(n.get(), i32(1))),
        ])),
      ]),
      m.i32.store(0, 4, m.i32.add(at(countAt), m.i32.shl(k.get(), i32(2))), n.get()),
    ]);
  };

  const gridOf = (roiSize: Local, out: number, grid: Local, gridF: Local): Expr[] => P.ratio > 0
    ? [grid.set(i32(P.ratio)), gridF.set(F.c(P.ratio))]
    : [grid.set(trunc(F.ceil(F.div(roiSize.get(), F.c(out))))), grid.set(m.select(m.i32.lt_s(grid.get(), i32(0)), i32(0), grid.get())), gridF.set(toF(grid.get()))];

  // the channel loop: every bin of every channel over the two tables, pointers stepped along;
  // float32 four channels at a time (each tap gathered from four planes into lanes: the table
  // reads and the arithmetic shared by four channels), the rest one by one. Both add (or max) a
  // sample's four terms in the same order, so a channel's value is the same either way.
  const V = vectorOps(m);
  const acc = fn.local(T), vacc = fn.local(binaryen.v128), ny = fn.local(binaryen.i32), nx = fn.local(binaryen.i32);
  const [xp, yp, rp, cp] = Array.from({ length: 4 }, () => fn.local(binaryen.i32));
  const [ly, hy, lx, hx] = Array.from({ length: 4 }, () => fn.local(T));
  const ylo = fn.local(binaryen.i32), yhi = fn.local(binaryen.i32), xlo = fn.local(binaryen.i32), xhi = fn.local(binaryen.i32);
  const max = P.mode === "max";
  const plane = H * W * xb, bins = outH * outW * xb;
  /** the tap at byte offset `o` of the plane at xp: a value, or (vec) the four planes' values in lanes */
  const tap = (o: () => Expr, vec: boolean): Expr => {
    if (!vec) return load(m, x.dtype, m.i32.add(xp.get(), o()));
    let g = m.f32x4.splat(m.f32.load(0, 4, m.i32.add(xp.get(), o())));
    for (let l = 1; l < 4; l++) g = m.f32x4.replace_lane(g, l, m.f32.load(l * plane, 4, m.i32.add(xp.get(), o())));
    return g;
  };
  const sample = (vec: boolean) => {
    const O = vec ? V : F;
    const corners: [Local, Local, Local, Local][] = [[hy, hx, ylo, xlo], [hy, lx, ylo, xhi], [ly, hx, yhi, xlo], [ly, lx, yhi, xhi]];
    const t = corners.map(([a, b, r, c]) => {
      const w = F.mul(a.get(), b.get());
      return O.mul(vec ? m.f32x4.splat(w) : w, tap(() => m.i32.add(r.get(), c.get()), vec));
    });
    return max ? O.max(O.max(O.max(t[0], t[1]), t[2]), t[3]) : O.add(O.add(O.add(t[0], t[1]), t[2]), t[3]);
  };
  // max: samples outside the image count as zeros; no samples at all give 0 (the reference's start)
  const all = () => F.mul(toF(ny.get()), toF(nx.get()));
  const init = () => (max ? m.select(m.i32.or(F.eq(all(), F.c(0)), F.lt(all(), F.mul(gridHf.get(), gridWf.get()))), F.c(0), F.c(-Infinity)) : F.c(0));
  /** every bin of the channel (or four channels) at xp, stored from yp on */
  const overBins = (vec: boolean): Expr => {
    const a = vec ? vacc : acc, O = vec ? V : F;
    const result = () => (max ? a.get() : O.div(a.get(), vec ? m.f32x4.splat(count.get()) : count.get()));
    return fn.nest([outH, outW], ([ph, pw]) => [
      ny.set(m.i32.load(0, 4, m.i32.add(at(nRowsAt), m.i32.shl(ph.get(), i32(2))))),
      nx.set(m.i32.load(0, 4, m.i32.add(at(nColsAt), m.i32.shl(pw.get(), i32(2))))),
      a.set(vec ? m.f32x4.splat(init()) : init()),
      rp.set(m.i32.add(at(rowsAt), m.i32.mul(ph.get(), i32(P.rowsCap * entry)))),
      fn.loopDyn(i32(0), ny.get(), () => [
        ylo.set(m.i32.load(0, 4, rp.get())), yhi.set(m.i32.load(4, 4, rp.get())),
        ly.set(loadT(rp.get(), 8)), hy.set(loadT(rp.get(), 8 + tb)),
        cp.set(m.i32.add(at(colsAt), m.i32.mul(pw.get(), i32(P.colsCap * entry)))),
        fn.loopDyn(i32(0), nx.get(), () => [
          xlo.set(m.i32.load(0, 4, cp.get())), xhi.set(m.i32.load(4, 4, cp.get())),
          lx.set(loadT(cp.get(), 8)), hx.set(loadT(cp.get(), 8 + tb)),
          a.set(max ? O.max(a.get(), sample(vec)) : O.add(a.get(), sample(vec))),
          cp.set(m.i32.add(cp.get(), i32(entry))),
        ]),
        rp.set(m.i32.add(rp.get(), i32(entry))),
      ]),
      ...(vec ? [a.set(result()), ...[0, 1, 2, 3].map((l) => m.f32.store(l * bins, 4, yp.get(), m.f32x4.extract_lane(a.get(), l)))]
        : [store(m, y.dtype, yp.get(), result())]),
      yp.set(m.i32.add(yp.get(), i32(xb))),
    ]);
  };
  const quads = x.dtype === "float32" ? Math.floor(C / 4) : 0;
  /** xp and yp at channel c of this roi */
  const channelAt = (c: () => Expr): Expr[] => [
    xp.set(m.i32.add(i32(x.addr), m.i32.mul(add(m.i32.mul(bi.get(), i32(C)), c()), i32(plane)))),
    yp.set(m.i32.add(i32(y.addr), m.i32.mul(add(m.i32.mul(roi.get(), i32(C)), c()), i32(bins)))),
  ];
  const channels = fn.block([
    fn.loop(quads, (q) => [...channelAt(() => m.i32.shl(q.get(), i32(2))), overBins(true)]),
    fn.loop(C, (c) => [...channelAt(() => c.get()), overBins(false)], { start: 4 * quads }),
  ]);

  const zeros = () => m.memory.fill(add(i32(y.addr), m.i32.mul(roi.get(), i32(C * outH * outW * xb))), i32(0), i32(C * outH * outW * xb));
  fn.emit(sb.set(threadScratch(m, threads, ctx.scratchAddr)));
  // symbolic dims: a varying roi count (rois, batch_indices and y lead with it) runs this run's
  // rois; a varying batch of X bounds the batch indices by this run's images
  const rows = ctx.symbolic ? ctx.outerCount(rois, R) : R;
  for (const t of [bidx, y]) if (ctx.symbolic?.dims.has(t.name)) ctx.outerCount(t, t.dims[0]);
  const images = ctx.symbolic?.dims.has(x.name) ? ctx.outerCount(x, P.N) : P.N;
  const imageCount = () => (typeof images === "number" ? constant(m, "int64", images) : m.i64.extend_u(images()));
  fn.emit(splitNest(fn, threads, [rows], ([r]) => {
    const [x2, y2] = [fn.local(T), fn.local(T)];
    return [
      roi.set(r.get()),
      given.set(load(m, "int64", m.i32.mul(r.get(), i32(8)), bidx.addr)),
      m.if(m.i32.or(m.i64.lt_s(given.get(), constant(m, "int64", 0)), m.i64.ge_s(given.get(), imageCount())),
        fn.block([ctx.badIndex(() => given.get(), imageCount), zeros()]),
        fn.block([
          bi.set(m.i32.wrap(given.get())),
          x1.set(roiAt(0)), y1.set(roiAt(1)), x2.set(roiAt(2)), y2.set(roiAt(3)),
          roiW.set(F.sub(x2.get(), x1.get())), roiH.set(F.sub(y2.get(), y1.get())),
          // output_half_pixel (the pre-16 behaviour) makes malformed rois 1x1
          ...(P.halfPixel ? [] : [roiW.set(F.max(roiW.get(), F.c(1))), roiH.set(F.max(roiH.get(), F.c(1)))]),
          binH.set(F.div(roiH.get(), F.c(outH))), binW.set(F.div(roiW.get(), F.c(outW))),
          ...gridOf(roiH, outH, gridH, gridHf), ...gridOf(roiW, outW, gridW, gridWf),
          ...(P.H * P.W === 0 ? [zeros()] : [count.set(F.max(F.mul(gridHf.get(), gridWf.get()), F.c(1))),
          fn.loop(outH, (k) => [axisTable(k, y1, binH, gridH, gridHf, H, rowsAt, nRowsAt, P.rowsCap, W * xb)]),
          fn.loop(outW, (k) => [axisTable(k, x1, binW, gridW, gridWf, W, colsAt, nColsAt, P.colsCap, xb)]),
          channels]),
        ])),
    ];
  }));
}

export const ROI_ALIGN = variant<Plan>({ name: "roi-tables", plan, prepare: (_ctx, P) => ({ scratchBytes: P.scratchBytes }), emit });

table.family("roi-align", "RoiAlign", [ROI_ALIGN]);

export const KERNELS = table.families;
