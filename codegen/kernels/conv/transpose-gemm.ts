// ConvTranspose whose kernel equals its stride (no pads, no dilation, one group, constant float32
// weights): every output pixel receives exactly one tap, so the layer is one GEMM and a
// rearrangement, not a scatter. With P = H x W input positions and W viewed as [C, M * kh * kw]
// (its own layout):
//   T[p][(oc, a, b)] = sum_c x[c][p] W[c][(oc, a, b)]     (the packed GEMM over positions)
//   y[oc][i * kh + a][j * kw + b] = T[(i, j)][(oc, a, b)] + bias[oc]
// PP-OCR's detection head upsamples with such layers (2x2, stride 2): as a scatter they ran near
// 1 GFLOPS, 33 ms of that model's 70. The fused epilogue runs after, as for the scatter.
import binaryen from "binaryen";
import { transposedWindow } from "../../../compiler/ops/nn-geometry.js";
import type { Expr } from "../../fn.js";
import type { Trips } from "../../fn.js";
import { emitPackedGemm, packedAScratchBytes, type PackedTile } from "../matmul/gemm-packed.js";
import { packBOf } from "../matmul/gemm-pack.js";
import { variant, type KernelCtx, type KernelPrep, type LayerCtx } from "../kernel.js";
import { splitNest } from "../../threads.js";

interface Layout {
  N: number; C: number; M: number; H: number; W: number; kh: number; kw: number;
  /** input positions, GEMM columns (M * kh * kw) */
  P: number; Q: number;
  /** scratch: T [P][Q], then the A packing */
  aAt: number; scratchBytes: number;
}

/** K (input channels) in one block: T is written once, and K is small in these layers */
const tileFor = (K: number): Partial<PackedTile> => ({ kc: Math.min(Math.max(K, 1), 2048) });

function layoutOf(ctx: LayerCtx): Layout | undefined {
  const x = ctx.inputs[0], w = ctx.inputs[1], y = ctx.outputs[0], bias = ctx.inputs[2];
  if (!x || !w || !y || x.dims.length !== 4 || !w.value || w.value.dtype !== "float32") return undefined;
  if ([x, w, y, ...(bias ? [bias] : [])].some((t) => t.dtype !== "float32") || ctx.attrs.int("group", 1) !== 1) return undefined;
  let win;
  try {
    win = transposedWindow(ctx.attrs, x.dims.slice(2), w.dims.slice(2));
  } catch {
    return undefined;
  }
  const [N, C, H, W] = x.dims, M = y.dims[1], [kh, kw] = win.kernel;
  if (win.strides[0] !== kh || win.strides[1] !== kw || win.dilations.some((d) => d !== 1)) return undefined;
  if ([...win.padBegin, ...win.padEnd].some((p) => p !== 0) || win.out[0] !== H * kh || win.out[1] !== W * kw) return undefined;
  if (y.dims[2] !== H * kh || y.dims[3] !== W * kw || w.dims[0] !== C || w.dims[1] !== M) return undefined;
  const P = H * W, Q = M * kh * kw;
  if (P < 4 || C === 0) return undefined;
  const aAt = Math.ceil((P * Q * 4) / 16) * 16;
  return { N, C, M, H, W, kh, kw, P, Q, aAt, scratchBytes: aAt + packedAScratchBytes(P, Q, C, tileFor(C)) };
}

/**
 * The GEMM path: W packed as the GEMM's B panels, and the scratch. `finish` applies the fused
 * epilogue to y after the rearrangement (the scatter's way; at threads, after the threads meet).
 */
export function transposeGemm(finish: (ctx: KernelCtx) => void) {
  return variant<Layout>({
    name: "stride-gemm",
    plan: layoutOf,
    prepare: (ctx, lay): KernelPrep => ({ constants: [packBOf(ctx.input(1).value!, lay.C, lay.Q, false)], scratchBytes: lay.scratchBytes, unread: [1] }),
    emit: (ctx, lay) => {
      emit(ctx, lay);
      finish(ctx);
    },
  });
}

function emit(ctx: KernelCtx, lay: Layout): void {
  const { m, fn } = ctx;
  const { N, C, M, H, W, kh, kw, P, Q } = lay;
  const x = ctx.input(0), y = ctx.output(0), bias = ctx.inputs[2];
  const S = ctx.scratchAddr;
  const i32 = (v: number) => m.i32.const(v);
  const add = (...e: Expr[]) => e.reduce((p, q) => m.i32.add(p, q));
  const n = fn.local(binaryen.i32), pt = fn.local(binaryen.i32), py = fn.local(binaryen.i32), bv = fn.local(binaryen.f32);
  const OW = W * kw;
  // threads: T (thread 0's scratch) written in the GEMM's shares, the threads meeting before the
  // rearrangement (by output channel) reads it and before the next image's GEMM rewrites it
  const threads = ctx.splitAmong();
  const meet = () => (threads ? [threads.barrier()] : []);
  // an image whose height or width varies (padding.ts): the GEMM's rows (input positions) up to
  // this run's last row, and the rearrangement over this run's rows and columns
  // (a GEMM per input row over this run's columns where the width varies)
  const runH = ctx.runtimeDim(x, 2), runW = ctx.runtimeDim(x, 3);
  const extent = (k: 2 | 3, d: number): Trips => (ctx.runtimeDim(x, k) === undefined ? d : () => ctx.runtimeDim(x, k)!);
  const inRow = runW === undefined ? undefined : fn.local(binaryen.i32);
  const rowAt = (bytes: number) => (inRow ? m.i32.mul(inRow.get(), i32(W * bytes)) : i32(0));
  const product = emitPackedGemm({ fn }, {
    ...(inRow ? { rows: () => ctx.runtimeDim(x, 3)! } : runH === undefined ? {} : { rows: () => m.i32.mul(ctx.runtimeDim(x, 2)!, i32(W)) }),
    M: inRow ? W : P, N: Q, K: C,
    a: { addr: x.addr, rs: 1, cs: P, base: inRow ? () => m.i32.add(m.i32.mul(n.get(), i32(C * P * 4)), rowAt(4)) : () => m.i32.mul(n.get(), i32(C * P * 4)) },
    packedB: ctx.constantAddrs[0],
    c: { addr: S, rs: Q, ...(inRow ? { base: () => rowAt(Q * 4) } : {}) },
    scratch: packedAScratchBytes(P, Q, C, tileFor(C)) ? S + lay.aAt : undefined,
    tile: tileFor(C),
    threads,
  });
  const gemm = inRow ? [fn.trips(extent(2, H), (r) => [inRow.set(r.get()), ...product])] : product;
  // y row (oc, i * kh + a): for each j, the kw values T[(i, j)][(oc, a, 0..kw-1)] (+ bias)
  const rearrange = splitNest(fn, threads, [M, extent(2, H), kh], ([oc, i, a]) => [
    bv.set(bias ? m.f32.load(bias.addr, 4, m.i32.shl(oc.get(), i32(2))) : m.f32.const(0)),
    pt.set(add(i32(S), m.i32.mul(i.get(), i32(W * Q * 4)), m.i32.mul(oc.get(), i32(kh * kw * 4)), m.i32.mul(a.get(), i32(kw * 4)))),
    py.set(add(m.i32.mul(n.get(), i32(M * H * kh * OW * 4)), m.i32.mul(oc.get(), i32(H * kh * OW * 4)), m.i32.mul(add(m.i32.mul(i.get(), i32(kh)), a.get()), i32(OW * 4)))),
    fn.trips(extent(3, W), () => [
      ...Array.from({ length: kw }, (_, b) => m.f32.store(y.addr + b * 4, 4, py.get(), m.f32.add(m.f32.load(b * 4, 4, pt.get()), bv.get()))),
      pt.set(m.i32.add(pt.get(), i32(Q * 4))),
      py.set(m.i32.add(py.get(), i32(kw * 4))),
    ]),
  ]);
  fn.emit(fn.trips(ctx.outerCount(x, N), (img) => [n.set(img.get()), ...gemm, ...meet(), rearrange, ...meet()]));
}
