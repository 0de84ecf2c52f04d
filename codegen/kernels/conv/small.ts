// Convolution as one packed GEMM per image and group (im2col), for the float32 2-D (and 1-D) Conv layers
// Winograd and the pointwise GEMM leave to the direct kernel: strided 3x3 and 1x1, the 7x7 and 11x11 stems, grouped layers,
// small spatial outputs. The direct kernel gives each (channel block, row) a short run there
// (~5-15 GFLOPS); as Y[M][P] = W[M][K] col[K][P] the packed microkernel runs at its speed
// (matmul/gemm-packed.ts, each KC x NR panel of B copied to scratch first: 1x1 layers 25-30 -> 36-44 GFLOPS). col is built from a zero-padded copy of the image, so no
// row of it needs a bounds check; bias, then the fused epilogue, run on the GEMM's last store.
import binaryen from "binaryen";
import { slidingWindow, type Window } from "../../../compiler/ops/nn-geometry.js";
import { minI32, type Expr, type Fn, type Local } from "../../fn.js";
import { align16 } from "../../memory.js";
import { strided4 } from "./segments.js";
import { DEFAULT_TILE, emitPackedGemm, packedAScratchBytes, packedBScratchBytes, type PackedEpilogue, type PackedTile, type RowMajor } from "../matmul/gemm-packed.js";
import { packAInto, packAOf, packBOf } from "../matmul/gemm-pack.js";
import { packedEpilogue } from "../matmul/gemm-epilogue.js";
import { derivedFrom, lazyFloat32, variant, type KernelCtx, type KernelPrep, type LayerCtx, type LazyConstant } from "../kernel.js";
import type { Tensor } from "../../../compiler/ir/graph.js";
import { readOnce } from "../../../compiler/ir/raw.js";
import { splitNest, type ThreadCtx } from "../../threads.js";
import { spatialVarying } from "../padding.js";

/** A zero-padded copy of one image's planes: x[c][h][w] at plane[c][h + padT][w + padL]. */
export interface PaddedPlane {
  C: number; H: number; W: number;
  Hp: number; Wp: number;
  padT: number; padL: number;
}

/**
 * Fill the plane at byte address `at` with zeros, then copy in image n (an i32 expression getter)
 * of x. With threads, each thread fills and copies its share of the channels, then all meet.
 */
export function emitPaddedCopy(fn: Fn, p: PaddedPlane, at: number, xAddr: number, n: () => Expr, threads?: ThreadCtx,
  run?: { rows: () => Expr; cols: () => Expr; xRows: () => Expr; xCols: () => Expr }): Expr[] {
  const m = fn.m;
  const i32 = (v: number) => m.i32.const(v);
  // input rows/columns no window reaches (stride > 1, no end pad) are left out
  const rows = Math.min(p.H, p.Hp - p.padT), cols = Math.min(p.W, p.Wp - p.padL);
  const planeAt = (c: Local) => m.i32.add(i32(at), m.i32.mul(c.get(), i32(p.Hp * p.Wp * 4)));
  /** row h of channel c: into the plane, from image n */
  const copyRow = (c: Local, h: Local, bytes: Expr) => m.memory.copy(
    m.i32.add(m.i32.add(i32(at + (p.padT * p.Wp + p.padL) * 4), m.i32.mul(c.get(), i32(p.Hp * p.Wp * 4))), m.i32.mul(h.get(), i32(p.Wp * 4))),
    m.i32.add(m.i32.add(m.i32.add(i32(xAddr), m.i32.mul(n(), i32(p.C * p.H * p.W * 4))), m.i32.mul(c.get(), i32(p.H * p.W * 4))), m.i32.mul(h.get(), i32(p.W * 4))),
    bytes);
  if (run) {
    // an image whose height or width varies (padding.ts): the plane's first run.rows rows (of
    // every column) zeroed, and this run's rows and columns of the image that reach them copied
    // in (past them the plane holds zeros, whatever the image's padding holds); the rest is read
    // by no window of the run
    const need = fn.local(binaryen.i32), copyRows = fn.local(binaryen.i32), copyCols = fn.local(binaryen.i32);
    const plane = (c: Local): Expr[] => [
      m.memory.fill(planeAt(c), i32(0), m.i32.mul(need.get(), i32(p.Wp * 4))),
      fn.loopDyn(i32(0), copyRows.get(), (h) => [copyRow(c, h, m.i32.shl(copyCols.get(), i32(2)))]),
    ];
    return [
      need.set(minI32(m, run.rows, () => i32(p.Hp))),
      copyRows.set(minI32(m, () => minI32(m, () => m.i32.sub(need.get(), i32(p.padT)), () => i32(rows)), run.xRows)),
      copyCols.set(minI32(m, () => minI32(m, () => m.i32.sub(minI32(m, run.cols, () => i32(p.Wp)), i32(p.padL)), () => i32(cols)), run.xCols)),
      threads ? splitNest(fn, threads, [p.C], ([c]) => plane(c)) : fn.loop(p.C, (c) => plane(c)),
      ...(threads ? [threads.barrier()] : []),
    ];
  }
  if (threads) {
    return [splitNest(fn, threads, [p.C], ([c]) => [
      m.memory.fill(planeAt(c), i32(0), i32(p.Hp * p.Wp * 4)),
      fn.loop(rows, (h) => [copyRow(c, h, i32(cols * 4))]),
    ]), threads.barrier()];
  }
  return [
    m.memory.fill(i32(at), i32(0), i32(p.C * p.Hp * p.Wp * 4)),
    fn.nest([p.C, rows], ([c, h]) => [copyRow(c, h, i32(cols * 4))]),
  ];
}

interface Layout {
  win: Window;
  /** groups, and per group: output channels M, GEMM depth K (= input channels x window) */
  G: number;
  N: number; M: number; K: number; P: number;
  plane: PaddedPlane;
  colAt: number;
  /** the runtime B panel (matmul/gemm-packed.ts bScratch), after col; or the A packing when positions */
  panelAt: number;
  scratchBytes: number;
  /** few positions: the GEMM runs transposed (see positionsGemm) */
  positions: boolean;
  /** W pre-packed at compile time into the microkernel's A order (packA) */
  prepackA: boolean;
}


/** col (K x P floats) stays below this; larger layers keep the direct kernel */
const MAX_COL_BYTES = 32 << 20;

/** The window of a float32 Conv (bias included) — single-group unless `groups` — or undefined for any other layer. */
export function floatWindow(ctx: LayerCtx, opts: { groups?: boolean } = {}): Window | undefined {
  const x = ctx.inputs[0], w = ctx.inputs[1], y = ctx.outputs[0], bias = ctx.inputs[2];
  if (!x || !w || !y || y.size === 0) return undefined;
  if ([x, w, y, ...(bias ? [bias] : [])].some((t) => t.dtype !== "float32") || (!opts.groups && ctx.attrs.int("group", 1) !== 1)) return undefined;
  try { return slidingWindow(ctx.attrs, x.dims.slice(2), w.dims.slice(2)); } catch { return undefined; }
}

const isPointwise = (win: Window) =>
  win.kernel.every((k) => k === 1) && win.strides.every((s) => s === 1) && [...win.padBegin, ...win.padEnd].every((p) => p === 0);

/** a 1-D window as the 2-D one over a single row: its layout in memory is the same */
const asRow = (w: Window): Window => ({
  in: [1, ...w.in], kernel: [1, ...w.kernel], strides: [1, ...w.strides], dilations: [1, ...w.dilations],
  padBegin: [0, ...w.padBegin], padEnd: [0, ...w.padEnd], out: [1, ...w.out],
});

/**
 * The im2col GEMM's plan: over positions (Y^T = col^T W^T, see fewPositions) or over output
 * channels. Unless forced, a layer with a short GEMM depth or few output channels (K < 16, M < 8)
 * is left to the direct kernel, and only few positions take the positions form.
 */
export function im2colLayout(ctx: LayerCtx, positions: boolean, forced = false): Layout | undefined {
  let win = floatWindow(ctx, { groups: true });
  if (!win) return undefined;
  const x = ctx.input(0), y = ctx.output(0);
  const G = ctx.attrs.int("group", 1);
  if (x.dims.length !== 4 && x.dims.length !== 3) return undefined;
  if (isPointwise(win) || win.dilations.some((d) => d !== 1)) return undefined;
  // a 1-D layer (Whisper's and wav2vec's audio stems, [N, C, frames]) is the 2-D one of height 1
  const [N, C, H, W] = x.dims.length === 3 ? [x.dims[0], x.dims[1], 1, x.dims[2]] : x.dims;
  if (x.dims.length === 3) win = asRow(win);
  const [OH, OW] = win.out, [kh, kw] = win.kernel, [sh, sw] = win.strides;
  if (C % G || y.dims[1] % G) return undefined;
  const M = y.dims[1] / G, K = (C / G) * kh * kw, P = OH * OW;
  if (K * P * 4 > MAX_COL_BYTES || (!forced && (K < 16 || M < 8))) return undefined;
  if (positions && (G !== 1 || !constantWeights(ctx) || (!forced && !fewPositions(M, P)))) return undefined;
  const plane: PaddedPlane = { C, H, W, Hp: (OH - 1) * sh + kh, Wp: (OW - 1) * sw + kw + 1, padT: win.padBegin[0], padL: win.padBegin[1] };
  const colAt = Math.ceil((C * plane.Hp * plane.Wp * 4) / 16) * 16;
  const panelAt = align16(colAt + K * P * 4);
  const tail = positions ? packedAScratchBytes(P, M, K, positionsTile(K)) : packedBScratchBytes(K);
  // groups pack one after another, found through A's group base: whole MR tiles only
  const prepackA = !positions && constantWeights(ctx) && (G === 1 || M % DEFAULT_TILE.mr === 0);
  return { win, G, N, M, K, P, plane, colAt, panelAt, positions, prepackA, scratchBytes: panelAt + tail };
}

/**
 * Scratch for the im2col rows, or for a pointwise layer's packing of W; when the GEMM runs over
 * positions, W^T pre-packed into B panels (the layer reads only those).
 */
function gemmPrepare(ctx: KernelCtx, shape: { M: number; K: number; G?: number; positions: boolean; prepackA: boolean }, scratchBytes: number): KernelPrep {
  const { M, K } = shape;
  const w = ctx.input(1).value!;
  if (shape.positions) return { scratchBytes, constants: [packBOf(w, K, M, true)], unread: [1] };
  // rows past the last whole MR tile are read from W in place: then W stays
  if (shape.prepackA) {
    const G = shape.G ?? 1;
    const packed = G === 1 ? packAOf(w, M, K) : groupsPacked(w, G, M, K);
    return { scratchBytes, constants: [packed], unread: M % DEFAULT_TILE.mr ? [] : [1] };
  }
  return scratchBytes ? { scratchBytes } : {};
}

const im2col = (name: string, positions: boolean) => variant<Layout>({
  name,
  plan: (layer, forced) => im2colLayout(layer, positions, forced),
  prepare: (ctx, lay) => gemmPrepare(ctx, lay, lay.scratchBytes),
  emit: emitIm2col,
});

/** few output positions: the GEMM over positions, W^T pre-packed */
export const IM2COL_POSITIONS = im2col("im2col-positions", true);
/** the GEMM over output channels x positions of the im2col rows */
export const IM2COL_GEMM = im2col("im2col-gemm", false);

/** packA of each group's M x K block of W, end to end (M % MR = 0: each takes M * K floats), packed when the image is written */
function groupsPacked(t: Tensor, G: number, M: number, K: number): LazyConstant {
  return derivedFrom(lazyFloat32(G * M * K, (out) => {
    const w = readOnce(t) as Float32Array;
    for (let g = 0; g < G; g++) packAInto(out.subarray(g * M * K, (g + 1) * M * K), w.subarray(g * M * K, (g + 1) * M * K), M, K);
  }), t, `packA groups ${G}x${M}x${K}`);
}

// by dtype, not data: reading a splat constant's data would build its full array (compiler/ir/splat.ts)
const constantWeights = (ctx: LayerCtx) => ctx.input(1).value?.dtype === "float32";

/**
 * Few output positions (a 7x7 image: 49) leave the tail panel of Y = W col mostly padding and W,
 * read once, goes through the per-block A packing; Y^T = col^T W^T puts positions on the GEMM's
 * rows and output channels on its columns (full 16-wide panels), with W^T packed at compile time
 * into one contiguous stream. Needs constant float32 weights.
 */
function fewPositions(M: number, P: number): boolean {
  return P <= 64 && M >= 16;
}

function emitIm2col(ctx: KernelCtx, lay: Layout): void {
  const { m, fn } = ctx;
  const { win, G, N, M, K, P, plane } = lay;
  const Cg = plane.C / G;
  const { Hp, Wp } = plane;
  const [OH, OW] = win.out, [kh, kw] = win.kernel, [sh, sw] = win.strides;
  const x = ctx.input(0), w = ctx.input(1), y = ctx.output(0), bias = ctx.inputs[2];
  const S = ctx.scratchAddr, col = S + lay.colAt;
  const i32 = (v: number) => m.i32.const(v);
  const add = (...e: Expr[]) => e.reduce((p, q) => m.i32.add(p, q));
  const n = fn.local(binaryen.i32), src = fn.local(binaryen.i32), dst = fn.local(binaryen.i32);
  const grp = fn.local(binaryen.i32);

  /** col row (c, ki, kj), output row oh: OW elements sw apart from the padded plane */
  const rowCopy = (): Expr[] => {
    if (sw === 1) return [m.memory.copy(dst.get(), src.get(), i32(OW * 4))];
    // wider strides (AlexNet's 11x11/4 stem): one element at a time; the GEMM dominates anyway
    if (sw > 2) return [fn.loop(OW, (o) => [m.f32.store(0, 4, add(dst.get(), m.i32.shl(o.get(), i32(2))), m.f32.load(0, 4, add(src.get(), m.i32.mul(o.get(), i32(sw * 4)))))])];
    const code: Expr[] = [fn.loop(Math.floor(OW / 4), (g) => [
      m.v128.store(0, 4, add(dst.get(), m.i32.mul(g.get(), i32(16))), strided4(m, () => add(src.get(), m.i32.mul(g.get(), i32(16 * sw))), 0, sw)),
    ])];
    for (let ow = OW - (OW % 4); ow < OW; ow++) code.push(m.f32.store(ow * 4, 4, dst.get(), m.f32.load(ow * sw * 4, 4, src.get())));
    return code;
  };
  // col rows for the input channels of group `grp`
  const threads = ctx.splitAmong();
  // an image whose height or width varies (padding.ts): the col rows of this run's output rows,
  // and the GEMM over their positions, a row of them at a time over this run's columns where the
  // width varies (the positions form computes the bound's)
  const runRows = lay.positions || x.dims.length !== 4 ? undefined : ctx.runtimeDim(y, 2);
  const runCols = lay.positions || x.dims.length !== 4 ? undefined : ctx.runtimeDim(y, 3);
  const ohTrips = runRows === undefined ? OH : () => ctx.runtimeDim(y, 2)!;
  const outRow = runCols === undefined ? undefined : fn.local(binaryen.i32);
  // (channel, kernel row) pairs flattened: threads share them out evenly where a group has few
  // channels (a stem's 3)
  const im2col = splitNest(fn, threads, [Cg * kh, kw, ohTrips], ([ck, kj, oh]) => [
    src.set(add(i32(S), m.i32.mul(add(m.i32.div_u(ck.get(), i32(kh)), m.i32.mul(grp.get(), i32(Cg))), i32(Hp * Wp * 4)), m.i32.mul(m.i32.rem_u(ck.get(), i32(kh)), i32(Wp * 4)), m.i32.mul(oh.get(), i32(sh * Wp * 4)), m.i32.mul(kj.get(), i32(4)))),
    dst.set(add(i32(col), m.i32.mul(ck.get(), i32(kw * P * 4)), m.i32.mul(kj.get(), i32(P * 4)), m.i32.mul(oh.get(), i32(OW * 4)))),
    ...rowCopy(),
  ]);

  const gemm = lay.positions
    ? positionsGemm(ctx, { M, P, K, n, src: { addr: col, rs: 1, cs: P }, aScratch: S + lay.panelAt, threads })
    : channelGemm(ctx, {
      M, P, K, n, b: { addr: col, rs: P }, group: G > 1 ? { count: G, index: grp } : undefined, bScratch: S + lay.panelAt,
      packedA: lay.prepackA ? ctx.constantAddrs[0] : undefined, threads,
      ...(outRow ? { row: { at: () => m.i32.mul(outRow.get(), i32(OW * 4)), N: OW, cols: () => ctx.runtimeDim(y, 3)! } }
        : runRows === undefined ? {} : { row: { at: () => i32(0), N: P, cols: () => m.i32.mul(ctx.runtimeDim(y, 2)!, i32(OW)) } }),
    });
  const gemmRows = outRow && !lay.positions ? [fn.trips(ohTrips, (r) => [outRow.set(r.get()), ...gemm])] : gemm;
  // threads: the plane and col are shared (thread 0's scratch), each written in shares, the
  // threads meeting before anyone reads them and before the next image or group rewrites them
  const meet = (more: boolean) => (threads && more ? [threads.barrier()] : []);
  // images: this run's where the batch is symbolic
  fn.emit(fn.trips(ctx.outerCount(x, N), (img) => [
    n.set(img.get()),
    ...emitPaddedCopy(fn, plane, S, x.addr, n.get, threads),
    fn.loop(G, (g) => [grp.set(g.get()), im2col, ...meet(true), ...gemmRows, ...meet(N * G > 1)]),
  ]));
}

/**
 * Y[n] = W B + bias (then the fused epilogue): the packed GEMM for output channels x positions of
 * image n, B the im2col rows or, for a pointwise layer, the image itself.
 */
function channelGemm(ctx: KernelCtx, g: {
  M: number; P: number; K: number; n: Local; b: RowMajor; aScratch?: number; bScratch?: number; packedA?: number; group?: { count: number; index: Local };
  threads?: ThreadCtx;
  /** one row of positions of an image whose width varies: N of them from byte offset `at` (also added to b's base), this run's `cols` */
  row?: { at: () => Expr; N: number; cols: () => Expr };
}): Expr[] {
  const { m, fn } = ctx;
  const y = ctx.output(0), w = ctx.input(1), bias = ctx.inputs[2];
  const i32 = (v: number) => m.i32.const(v);
  // with groups, group gi owns output channels [gi*M, (gi+1)*M) and W's rows of the same range
  const G = g.group?.count ?? 1;
  const gi = () => g.group!.index.get();
  const image = () => G === 1 ? m.i32.mul(g.n.get(), i32(G * g.M * g.P * 4))
    : m.i32.add(m.i32.mul(g.n.get(), i32(G * g.M * g.P * 4)), m.i32.mul(gi(), i32(g.M * g.P * 4)));
  const c = { addr: y.addr, rs: g.P, base: g.row ? () => m.i32.add(image(), g.row!.at()) : image };
  const a = G === 1 ? { addr: w.addr, rs: g.K } : { addr: w.addr, rs: g.K, base: () => m.i32.mul(gi(), i32(g.M * g.K * 4)) };
  const post = ctx.epilogue && packedEpilogue(fn, ctx.epilogue, c);
  const row = fn.local(binaryen.i32);
  // bias runs along Y's rows (output channels): added in the epilogue, before the fused steps
  const channel = () => (G === 1 ? row.get() : m.i32.add(row.get(), m.i32.mul(gi(), i32(g.M))));
  const epilogue: PackedEpilogue | undefined = !bias && !post ? undefined : (v, r, cl, lanes) => {
    const withBias = bias ? m.f32x4.add(v, m.v128.load32_splat(bias.addr, 4, m.i32.shl(channel(), m.i32.const(2)))) : v;
    return m.block(null, [row.set(r), post ? post(withBias, row.get(), cl, lanes) : withBias], binaryen.v128);
  };
  const b: RowMajor = g.row ? { ...g.b, base: () => m.i32.add(g.b.base ? g.b.base() : i32(0), g.row!.at()) } : g.b;
  return emitPackedGemm({ fn }, {
    M: g.M, N: g.row?.N ?? g.P, K: g.K, a, b, c, epilogue, scratch: g.aScratch, bScratch: g.bScratch, packedA: g.packedA, threads: g.threads,
    ...(g.row ? { cols: g.row.cols } : {}),
  });
}

/**
 * The positions GEMM takes K in one block (up to 2048): its C is stored transposed, lane by lane,
 * and every further K block reads those lanes back and stores them again. Its B panels (W^T) then
 * stream from L2 rather than L1, which costs less (ResNet-50's 7x7 layers, K 512-2048: 5-15%
 * faster each, sum of per-layer minima over 15 interleaved runs 165.6 -> 162.5 ms).
 */
const positionsTile = (K: number): Partial<PackedTile> => ({ kc: Math.min(K, 2048) });

/**
 * Y[n]^T = src^T W^T (+ bias along columns, then the fused epilogue value by value): positions
 * as rows read down src's columns (the image or col, K x P), W^T from prepare's packed panels,
 * Y stored transposed into NCHW.
 */
function positionsGemm(ctx: KernelCtx, g: { M: number; P: number; K: number; n: Local; src: RowMajor; aScratch?: number; threads?: ThreadCtx }): Expr[] {
  const { m, fn } = ctx;
  const y = ctx.output(0), bias = ctx.inputs[2];
  const c: RowMajor = { addr: y.addr, rs: 1, cs: g.P, base: () => m.i32.mul(g.n.get(), m.i32.const(g.M * g.P * 4)) };
  return emitPackedGemm({ fn }, {
    M: g.P, N: g.M, K: g.K, a: g.src, packedB: ctx.constantAddrs[0], c, bias: bias?.addr,
    laneEpilogue: ctx.epilogue?.scalar, scratch: g.aScratch, tile: positionsTile(g.K), threads: g.threads,
  });
}

interface Pointwise { N: number; M: number; P: number; K: number; G: number; positions: boolean; prepackA: boolean }

/**
 * A float32 pointwise (1x1, stride 1, no pads) layer: the GEMM's sizes per group (M output and K
 * input channels of each), over positions (one group only) or over output channels. Unless
 * forced, tiny layers (M < 4, P < 16) are left to the generic GEMM, and only few positions take
 * the positions form.
 */
function pointwiseShape(ctx: LayerCtx, positions: boolean, forced: boolean): Pointwise | undefined {
  const win = floatWindow(ctx, { groups: true });
  if (!win || !isPointwise(win)) return undefined;
  const x = ctx.input(0), y = ctx.output(0);
  const G = ctx.attrs.int("group", 1);
  const [N, C] = x.dims, P = x.dims.slice(2).reduce((a, b) => a * b, 1);
  if (C % G || y.dims[1] % G) return undefined;
  const M = y.dims[1] / G, K = C / G;
  // with B's panels copied to scratch, small images win too (7x7x320->1280: 36 vs 25 GFLOPS for
  // the generic GEMM; 4x4x512->512: 42 vs 26)
  // no input channels (K = 0): the generic path writes the bias alone
  if (K === 0 || (!forced && (M < 4 || P < 16))) return undefined;
  if (positions && (G !== 1 || !constantWeights(ctx) || (!forced && !fewPositions(M, P)))) return undefined;
  // groups pack one after another, found through A's group base: whole MR tiles only (as im2col's)
  return { N, M, P, K, G, positions, prepackA: !positions && constantWeights(ctx) && (G === 1 || M % DEFAULT_TILE.mr === 0) };
}

const pointwise = (name: string, positions: boolean) => variant<Pointwise>({
  name,
  plan: (layer, forced) => pointwiseShape(layer, positions, forced),
  prepare: (ctx, pw) => gemmPrepare(ctx, pw, pointwiseScratch(pw).bytes),
  emit: emitPointwise,
});

/** few positions: Y^T = X^T W^T over the image in place, W^T pre-packed */
export const POINTWISE_POSITIONS = pointwise("pointwise-positions", true);
/**
 * the packed GEMM over output channels x positions reading the image in place (measured ~1.2-2.5x
 * the generic GEMM on ResNet's 1x1 layers)
 */
export const POINTWISE_GEMM = pointwise("pointwise-gemm", false);

function emitPointwise(ctx: KernelCtx, pw: Pointwise): void {
  const { N, M, P, K, G } = pw;
  const { m, fn } = ctx;
  const n = fn.local(binaryen.i32), grp = fn.local(binaryen.i32);
  const sc = pointwiseScratch(pw);
  const at = (off: number | undefined) => (ctx.scratchAddr >= 0 && off !== undefined ? ctx.scratchAddr + off : undefined);
  // image n's input channels of group grp: K rows of P
  const image = () => m.i32.mul(n.get(), m.i32.const(G * K * P * 4));
  const rows = G === 1 ? image : () => m.i32.add(image(), m.i32.mul(grp.get(), m.i32.const(K * P * 4)));
  // threads: every scratch use here is the thread's own (the GEMM's packing), no phase to wait
  // for; each group's GEMM split as one layer's, its rows of Y written by no other group
  const threads = ctx.splitAmong();
  // an image whose width varies (the padded layout): a GEMM per row of positions, over this run's
  // rows and columns; where only the height varies, one over the rows' positions up to this run's
  const x = ctx.input(0), spatial = x.dims.slice(2);
  const varying = !pw.positions && spatialVarying(ctx, x) ? spatial.map((_, k) => ctx.runtimeDim(x, k + 2) !== undefined) : undefined;
  const rowWise = varying?.[spatial.length - 1];
  const Wmax = spatial[spatial.length - 1] ?? 1;
  const extent = (k: number) => ctx.runtimeDim(x, k + 2) ?? m.i32.const(spatial[k]);
  const rowLocal = rowWise ? fn.local(binaryen.i32) : undefined;
  const row = !varying ? undefined : rowWise
    ? { at: () => m.i32.mul(rowLocal!.get(), m.i32.const(Wmax * 4)), N: Wmax, cols: () => extent(spatial.length - 1) }
    : { at: () => m.i32.const(0), N: P, cols: () => spatial.slice(1).reduce((a, d) => m.i32.mul(a, m.i32.const(d)), extent(0)) };
  if (varying && (rowWise ? spatial.length > 2 : varying.slice(1).some((v) => v))) ctx.unsupported(`a pointwise Conv over a volume whose inner dims vary; ${ctx.pinHintOf(x)}`);
  const gemm0 = pw.positions ? positionsGemm(ctx, { M, P, K, n, src: { addr: ctx.input(0).addr, rs: 1, cs: P, base: image }, aScratch: at(sc.aAt), threads }) : channelGemm(ctx, {
    M, P, K, n, b: { addr: ctx.input(0).addr, rs: P, base: rows }, group: G > 1 ? { count: G, index: grp } : undefined,
    aScratch: at(sc.aAt), bScratch: at(sc.bAt), packedA: pw.prepackA ? ctx.constantAddrs[0] : undefined, threads, row,
  });
  // the rows of positions: this run's (every dim before the width; its height where it varies)
  const gemm = rowWise ? [fn.trips(() => spatial.slice(0, -1).reduce((a, _, k) => m.i32.mul(a, extent(k)), m.i32.const(1)), (r) => [rowLocal!.set(r.get()), ...gemm0])] : gemm0;
  fn.emit(fn.trips(ctx.outerCount(ctx.input(0), N), (img) => [n.set(img.get()), ...(G === 1 ? gemm : [fn.loop(G, (g) => [grp.set(g.get()), ...gemm])])]));
}

/**
 * Scratch for copying blocks of W into the microkernel's order each run: pointwise layers only
 * (measured: 14x14x1024->256 ~41 vs ~30 GFLOPS; the im2col layers were a little slower with it).
 */
const aPackBytes = (M: number, P: number, K: number) => packedAScratchBytes(M, P, K);

/** A pointwise layer's scratch: W's block packing (when worth it), then the runtime B panel; or the positions' packing. */
function pointwiseScratch(pw: { M: number; P: number; K: number; positions: boolean; prepackA: boolean }): { aAt?: number; bAt?: number; bytes: number } {
  if (pw.positions) {
    const a = packedAScratchBytes(pw.P, pw.M, pw.K, positionsTile(pw.K));
    return { aAt: a ? 0 : undefined, bytes: a };
  }
  const a = pw.prepackA ? 0 : aPackBytes(pw.M, pw.P, pw.K);
  const bAt = align16(a);
  return { aAt: a ? 0 : undefined, bAt, bytes: bAt + packedBScratchBytes(pw.K) };
}
