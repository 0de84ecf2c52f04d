// Depthwise 2-D convolution on a channels-last image (kiln.layout DepthwiseConvNhwc, made by the
// NHWC layout pass, passes/layout-nhwc.ts). A pixel's channels are contiguous, so 4 channels are
// one vector and the kernel needs no transposes and no copy of the image:
//   - per output row, each kernel row gets a pointer to its input row, or to a row of zeros in
//     scratch when it falls in the top or bottom padding (no bounds checks below that);
//   - the columns whose window crosses the left or right edge are few and known at compile time:
//     each is emitted with exactly the taps that land inside the image;
//   - the interior runs 4 output pixels at a time: per block of 4 channels, 4 accumulators, each
//     tap's weight vector loaded once for the 4 pixels (weights packed at compile time as
//     [tap][C], contiguous per tap).
// Bias starts the sums; the fused epilogue (Clip as ReLU6, a residual add) runs on each stored vector.
import { splitNest } from "../../threads.js";
import binaryen from "binaryen";
import { slidingWindow } from "../../../compiler/ops/nn-geometry.js";
import { LAYOUT_DOMAIN } from "../../../compiler/ops/layout.js";
import type { Tensor } from "../../../compiler/ir/graph.js";
import type { Expr, Local } from "../../fn.js";
import { madd } from "../matmul/gemm-tile.js";
import { derivedFrom, lazyFloat32, KernelTable, variant, type KernelCtx, type KernelPrep, type LayerCtx, type LazyConstant } from "../kernel.js";
import { nhwcDepthwiseGeometry, type NhwcDepthwiseGeometry } from "./depthwise-nhwc-geometry.js";

const table = new KernelTable();

/** Taps whose weight vectors stay in locals over a row (more would spill: 4 accumulators besides). */
const MAX_HOISTED_TAPS = 9;

/** The input rows a chunk of channel blocks reads for one output row stay under this (L1 is 32-48 KB). */
const L1_WINDOW_BYTES = 24 << 10;

/** the geometry, or undefined when the layer does not fit (the layout pass makes only layers that do) */
const geometryOf = (layer: LayerCtx): NhwcDepthwiseGeometry | undefined => {
  const w = layer.input(1);
  if (!w.value || w.dtype !== "float32") return undefined;
  const g = nhwcDepthwiseGeometry(layer.attrs, layer.input(0).dims, w.dims);
  return typeof g === "string" ? undefined : g;
};

/** w [C, 1, kh, kw] as [tap][C] */
function packedTaps(t: Tensor, C: number, T: number): LazyConstant {
  return derivedFrom(lazyFloat32(C * T, (out) => {
    const w = t.data as Float32Array;
    for (let c = 0; c < C; c++) for (let k = 0; k < T; k++) out[k * C + c] = w[c * T + k];
  }), t, `depthwise nhwc ${C}x${T}`);
}

function prepare(ctx: KernelCtx, g: NhwcDepthwiseGeometry): KernelPrep {
  // a row of zeros for the kernel rows in the top and bottom padding
  return { constants: [packedTaps(ctx.input(1).value!, g.C, g.kh * g.kw)], scratchBytes: g.W * g.C * 4, unread: [1] };
}

function emit(ctx: KernelCtx, g: NhwcDepthwiseGeometry): void {
  const { m, fn } = ctx;
  const { N, H, W, C, OH, OW, kh, kw, sh, sw, dh, dw, padT, padL, lo, hi } = g;
  const x = ctx.input(0), y = ctx.output(0), bias = ctx.inputs[2];
  const post = ctx.epilogue;
  const S = ctx.scratchAddr, taps = ctx.constantAddrs[0];
  const CB = C / 4, rowBytes = W * C * 4, pix = C * 4;
  const i32 = (v: number) => m.i32.const(v);
  const add = (...e: Expr[]) => e.reduce((p, q) => m.i32.add(p, q));
  const mul = (l: Local, k: number) => m.i32.mul(l.get(), i32(k));
  const local = (t: binaryen.Type) => fn.local(t);
  const rows = Array.from({ length: kh }, () => local(binaryen.i32));
  const at = Array.from({ length: kh }, () => local(binaryen.i32));
  const acc = Array.from({ length: 4 }, () => local(binaryen.v128));
  const wv = local(binaryen.v128), bv = local(binaryen.v128);
  const yRow = local(binaryen.i32), py = local(binaryen.i32), pw = local(binaryen.i32), ih = local(binaryen.i32);
  const zero = m.v128.const(new Array(16).fill(0));

  const rowPointers = (n: Local, oh: Local): Expr[] => rows.flatMap((r, ki) => [
    ih.set(add(mul(oh, sh), i32(ki * dh - padT))),
    r.set(m.select(m.i32.lt_u(ih.get(), i32(H)), add(i32(x.addr), mul(n, H * rowBytes), mul(ih, rowBytes)), i32(S))),
  ]);
  const store = (v: Expr, offset: number): Expr => m.v128.store(offset, 4, py.get(), post ? post.vec(v, py.get, offset) : v);

  // up to 9 taps (3x3) keep their weight vectors in locals for a whole row of a channel block
  const T = kh * kw, hoisted = T <= MAX_HOISTED_TAPS;
  const wl = hoisted ? Array.from({ length: T }, () => local(binaryen.v128)) : [];
  const weight = (tap: number): Expr => (hoisted ? wl[tap].get() : m.v128.load(tap * C * 4, 4, pw.get()));

  /**
   * `count` output pixels of channel block cb starting at column ow (a constant for edge
   * columns, else a local): each pixel's taps, only those inside the image at edge columns.
   */
  const pixels = (cb: Local, ow: number | Local, count: number): Expr[] => {
    const col = typeof ow === "number" ? i32(ow) : ow.get();
    const iw = (p: number, kj: number) => (typeof ow === "number" ? (ow + p) * sw - padL + kj * dw : 0);
    const valid = (p: number, kj: number) => typeof ow !== "number" || (iw(p, kj) >= 0 && iw(p, kj) < W);
    // edge columns address from the image's column 0 (offsets static); interior ones from the
    // window's first column, each pixel's tap at a static offset from it
    const code: Expr[] = typeof ow === "number"
      ? at.map((a, ki) => a.set(add(rows[ki].get(), mul(cb, 16))))
      : at.map((a, ki) => a.set(add(rows[ki].get(), m.i32.mul(m.i32.sub(m.i32.mul(col, i32(sw)), i32(padL)), i32(pix)), mul(cb, 16))));
    code.push(...acc.slice(0, count).map((l) => l.set(bv.get())));
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++) {
        const ps = Array.from({ length: count }, (_, p) => p).filter((p) => valid(p, kj));
        if (!ps.length) continue;
        const tap = ki * kw + kj;
        if (!hoisted) code.push(wv.set(weight(tap)));
        const w = () => (hoisted ? weight(tap) : wv.get());
        for (const p of ps) {
          const off = typeof ow === "number" ? iw(p, kj) * pix : (p * sw + kj * dw) * pix;
          code.push(acc[p].set(madd(m, m.v128.load(off, 4, at[ki].get()), w(), acc[p].get())));
        }
      }
    }
    code.push(py.set(add(yRow.get(), m.i32.mul(col, i32(pix)), mul(cb, 16))));
    for (let p = 0; p < count; p++) code.push(store(acc[p].get(), y.addr + p * pix));
    return code;
  };

  const interior4 = hi - lo - ((hi - lo) % 4);
  /** one output row of channel block cb: its weights and bias, then every column */
  const row = (cb: Local): Expr[] => {
    const code: Expr[] = [
      bv.set(bias ? m.v128.load(bias.addr, 4, mul(cb, 16)) : zero),
      pw.set(add(i32(taps), mul(cb, 16))),
      ...wl.map((l, tap) => l.set(m.v128.load(tap * C * 4, 4, pw.get()))),
    ];
    for (let ow = 0; ow < lo; ow++) code.push(...pixels(cb, ow, 1));
    code.push(fn.loop(lo + interior4, (ow) => pixels(cb, ow, 4), { start: lo, step: 4 }));
    code.push(fn.loop(hi, (ow) => pixels(cb, ow, 1), { start: lo + interior4 }));
    for (let ow = hi; ow < OW; ow++) code.push(...pixels(cb, ow, 1));
    return code;
  };
  fn.emit(m.memory.fill(i32(S), i32(0), i32(rowBytes)));
  // channel blocks in chunks whose kh input rows fit L1 together: a chunk slides down the image,
  // each input row read in once and reused by the kh output rows that need it
  const chunk = Math.max(1, Math.min(CB, Math.floor(L1_WINDOW_BYTES / (kh * W * 16))));
  const chunks = Math.ceil(CB / chunk);
  // threads: the output rows of each chunk shared out (the zero row above is only read: every
  // thread writes the same zeros into it)
  const threads = ctx.splitAmong();
  fn.emit(fn.nest([ctx.outerCount(ctx.input(0), N), chunks], ([n, ch]) => [splitNest(fn, threads, [OH], ([oh]) => [
    ...rowPointers(n, oh),
    yRow.set(m.i32.mul(add(mul(n, OH), oh.get()), i32(OW * pix))),
    fn.loopDyn(mul(ch, chunk), m.i32.add(mul(ch, chunk), m.select(m.i32.lt_u(mul(ch, chunk), i32(CB - chunk)), i32(chunk), m.i32.sub(i32(CB), mul(ch, chunk)))), row),
  ])]));
}

table.family("depthwise-nhwc", "DepthwiseConvNhwc", [variant({ name: "nhwc-lanes", plan: geometryOf, prepare, emit })], LAYOUT_DOMAIN);

export const KERNELS = table.families;
