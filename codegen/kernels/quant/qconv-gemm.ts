// 8-bit convolution through the int8 GEMM (quant/qgemm.ts): per image and group,
// Y[oc][p] = W[oc][K] col[K][p] with the weights as the GEMM's rows (packed at compile time, their
// zero point subtracted) and the positions as its columns, so each output row is one channel's
// plane, stored 16 bytes at a time; per-channel multipliers and biases are per row. A pointwise
// layer (1x1, stride 1, no pad) reads the image itself as col; any other first copies the image
// into a plane padded with its zero point, then writes col's rows (c, ki, kj) from it without a
// bounds check ("im2col"), the 8-bit form of conv/small.ts.
import binaryen from "binaryen";
import { fillPadding, spatialVarying } from "../padding.js";
import { align16 } from "../../memory.js";
import { slidingWindow, type Window } from "../../../compiler/ops/nn-geometry.js";
import type { Expr, Fn, Local } from "../../fn.js";
import { threadShare, type ThreadCtx } from "../../threads.js";
import { emitQGemm, packedColsBytes, packedRowsBytes, QTILE } from "./qgemm.js";
import { float32Bytes, packRows } from "./qgemm-pack.js";
import { packColsRuntime } from "./qgemm-runtime.js";
import { finiteMultipliers, storeBytes, storeFloat, storeInt32, storeRequant, type QOut } from "./qgemm-store.js";
import { elementsOf, perChannel, type QLayer } from "./qlayer.js";
import type { KernelCtx, KernelPrep, LayerCtx, LazyConstant } from "../kernel.js";
import { qchannelTables, qpackedConstant } from "./qgemm-derive.js";

export interface QConvPlan {
  q: QLayer;
  N: number; C: number; H: number; W: number;
  OC: number; OH: number; OW: number;
  kh: number; kw: number; sh: number; sw: number; dh: number; dw: number;
  group: number; Cg: number; OCg: number;
  /** GEMM depth Cg * kh * kw and width OH * OW */
  K: number; P: number;
  pointwise: boolean;
  /** the zero-padded plane (rows Hp, columns Wp) and where it starts in the image */
  Hp: number; Wp: number; padT: number; padL: number;
  /** scratch offsets: padded plane, col, runtime B panel */
  planeAt: number; colAt: number; panelAt: number;
  scratchBytes: number;
}

/** col (K x P bytes) stays below this */
const MAX_COL_BYTES = 32 << 20;

/**
 * The GEMM's plan for a 1-D or 2-D convolution with constant weights, or undefined. Depthwise
 * layers (one input and one output channel per group) are left to other kernels unless forced.
 */
export function qconvPlan(layer: LayerCtx, q: QLayer, forced: boolean): QConvPlan | undefined {
  const x = layer.inputs[q.x.index], y = layer.outputs[0];
  if (!x || !y || !q.w.value || q.w.zp.kind !== "const" || (q.x.zp.kind === "const" && q.x.zp.values.length !== 1)) return undefined;
  if (x.dims.length !== 4 && x.dims.length !== 3) return undefined;
  // a float result: a constant scale per output channel
  if (q.result.kind === "float" && q.result.scale.kind !== "const") return undefined;
  let win: Window;
  try { win = slidingWindow(layer.attrs, x.dims.slice(2), q.w.dims.slice(2)); } catch { return undefined; }
  const two = x.dims.length === 4;
  const [N, C] = x.dims, H = two ? x.dims[2] : 1, W = x.dims[x.dims.length - 1];
  const OC = q.w.dims[0], group = layer.attrs.int("group", 1);
  const [kh, kw] = two ? win.kernel : [1, win.kernel[0]];
  const [sh, sw] = two ? win.strides : [1, win.strides[0]];
  const [dh, dw] = two ? win.dilations : [1, win.dilations[0]];
  const [OH, OW] = two ? win.out : [1, win.out[0]];
  const padT = two ? win.padBegin[0] : 0, padL = win.padBegin[two ? 1 : 0];
  if (C % group || OC % group || y.size === 0) return undefined;
  const Cg = C / group, OCg = OC / group;
  if (!forced && Cg === 1 && OCg === 1) return undefined;
  const K = Cg * kh * kw, P = OH * OW;
  const pointwise = kh === 1 && kw === 1 && sh === 1 && sw === 1 && [...win.padBegin, ...win.padEnd].every((p) => p === 0);
  if (!pointwise && K * P > MAX_COL_BYTES) return undefined;
  const Hp = (OH - 1) * sh + (kh - 1) * dh + 1, Wp = (OW - 1) * sw + (kw - 1) * dw + 1 + 32;
  const planeAt = 0;
  const colAt = pointwise ? 0 : align16(C * Hp * Wp + 32);
  const panelAt = pointwise ? 0 : align16(colAt + K * P + 32);
  const scratchBytes = panelAt + packedColsBytes(QTILE.nr, K);
  return { q, N, C, H, W, OC, OH, OW, kh, kw, sh, sw, dh, dw, group, Cg, OCg, K, P, pointwise, Hp, Wp, padT, padL, planeAt, colAt, panelAt, scratchBytes };
}

/** Constants: the weights packed per group (rows), then the bias and multipliers per output channel. */
export function qconvPrepare(plan: QConvPlan): KernelPrep {
  const { q, group, OCg, K, OC } = plan;
  const w = elementsOf(q.w.value!);
  const zp = (q.w.zp as { values: number[] }).values;
  const parts: Uint8Array[] = [];
  for (let g = 0; g < group; g++) {
    parts.push(packRows((i, k) => { const oc = g * OCg + i; return w[oc * K + k] - perChannel(zp, oc); }, OCg, K));
  }
  const total = parts.reduce((s, p) => s + p.length, 0);
  const packed = new Uint8Array(total);
  let at = 0;
  for (const p of parts) { packed.set(p, at); at += p.length; }
  // a compact artifact ships the 8-bit weights and derives this i16 form (qgemm-derive.ts)
  const shape = { groups: group, lines: OCg, K, tile: QTILE.mr, step: 1, groupBytes: parts[0].length,
    first: (m: binaryen.Module, g: Expr, i: Expr) => m.i32.mul(m.i32.add(m.i32.mul(g, m.i32.const(OCg)), i), m.i32.const(K)) };
  const uniform = zp.every((z) => z === zp[0]) ? zp[0] : undefined;
  const weights = qpackedConstant(packed, q.w.value!, uniform, shape, `qpackRows ${group}x${OCg}x${K} z${uniform}`);
  const constants: (Uint8Array | LazyConstant)[] = [weights, ...qchannelTables(q, OC, OC + 4), ...floatScaleTable(q, OC, OC + 4)];
  return { constants, scratchBytes: plan.scratchBytes, unread: [plan.q.w.index] };
}

/**
 * A float result's scale per output channel (a convolution's GEMM row), where the requantizing
 * layer has its multipliers (the kernels read either table at the same constant slot), then its
 * float bias if it has one.
 */
export function floatScaleTable(q: QLayer, channels: number, padTo: number): Uint8Array[] {
  if (q.result.kind !== "float" || q.result.scale.kind !== "const") return [];
  const sc = q.result.scale.values;
  const scale = float32Bytes(sc.length === 1 ? new Float32Array(channels).fill(sc[0]) : sc, padTo);
  return q.result.bias ? [scale, float32Bytes(q.result.bias, padTo)] : [scale];
}

/** What a convolution does with each row of sums (an output channel): requantize, keep as i32, or scale to float (constant, per channel). */
export function convStore(fn: Fn, q: QLayer, out: QOut, tables: number[], base?: () => Expr) {
  const [table, floatBias] = tables;
  const r = q.result;
  if (r.kind === "requant") return storeRequant(fn, out, { mult: { kind: "row", addr: table, base }, zp: r.zp, signed: r.dtype === "int8", lo: r.lo, hi: r.hi, finite: finiteMultipliers(r.mult) });
  if (r.kind === "float") return storeFloat(fn, out, { scale: { addr: table, by: "row", base }, bias: r.bias ? floatBias : undefined });
  return storeInt32(fn, out);
}

/** Copies n bytes from src to dst (byte addresses in locals): 16 at a time, the tail overlapping the last whole vector. */
function copyRow(m: binaryen.Module, dst: Local, src: Local, n: number, sw: number): Expr[] {
  const code: Expr[] = [];
  if (sw === 1) {
    for (let o = 0; o + 16 <= n; o += 16) code.push(m.v128.store(o, 1, dst.get(), m.v128.load(o, 1, src.get())));
    if (n % 16 && n > 16) code.push(m.v128.store(n - 16, 1, dst.get(), m.v128.load(n - 16, 1, src.get())));
    else if (n % 16) code.push(...storeBytes(m, 0, dst.get, () => m.v128.load(0, 1, src.get()), n));
    return code;
  }
  if (sw === 2) {
    // the even bytes of 32 read: 16 outputs (reads run up to 31 bytes past the row, into the padded plane's slack)
    const even = Array.from({ length: 16 }, (_, i) => 2 * i);
    const gather = (o: number) => m.i8x16.shuffle(m.v128.load(2 * o, 1, src.get()), m.v128.load(2 * o + 16, 1, src.get()), even);
    for (let o = 0; o + 16 <= n; o += 16) code.push(m.v128.store(o, 1, dst.get(), gather(o)));
    if (n % 16 && n > 16) code.push(m.v128.store(n - 16, 1, dst.get(), gather(n - 16)));
    else if (n % 16) code.push(...storeBytes(m, 0, dst.get, () => gather(0), n));
    return code;
  }
  for (let o = 0; o < n; o++) code.push(m.i32.store8(o, 1, dst.get(), m.i32.load8_u(o * sw, 1, src.get())));
  return code;
}

/** The zero point of x as an i32 expression (a constant, or read from its one-value input). */
export function xZeroPoint(ctx: KernelCtx, q: QLayer): () => Expr {
  const m = ctx.m;
  const zp = q.x.zp;
  if (zp.kind === "const") return () => m.i32.const(zp.values[0]);
  const t = ctx.input(zp.index);
  return () => (q.x.dtype === "int8" ? m.i32.load8_s(t.addr, 1, m.i32.const(0)) : m.i32.load8_u(t.addr, 1, m.i32.const(0)));
}

/**
 * im2col of image n, group g: per input channel (this thread's share of them at threads) its
 * padded plane, then its col rows (c, ki, kj) x OH rows of OW bytes.
 */
function emitIm2col(fn: Fn, ctx: KernelCtx, p: QConvPlan, n: Local, g: Local, zp: () => Expr, threads?: ThreadCtx): Expr[] {
  const m = fn.m;
  const x = ctx.input(p.q.x.index);
  const S = ctx.scratchAddr;
  const plane = S + p.planeAt, col = S + p.colAt;
  const i32 = (v: number) => m.i32.const(v);
  const add = (...e: Expr[]) => e.reduce((a, b) => m.i32.add(a, b));
  const src = fn.local(binaryen.i32), dst = fn.local(binaryen.i32);
  const rows = Math.min(p.H, p.Hp - p.padT), cols = Math.min(p.W, p.Wp - 32 - p.padL);
  // channel c: its plane padded with the zero point (which the GEMM's packing maps to 0), its rows, its col rows
  const channel = (c: Local): Expr[] => [
    m.memory.fill(m.i32.add(i32(plane), m.i32.mul(c.get(), i32(p.Hp * p.Wp))), zp(), i32(p.Hp * p.Wp)),
    cols > 0 ? fn.loop(rows, (h) => [m.memory.copy(
      add(i32(plane + p.padT * p.Wp + p.padL), m.i32.mul(c.get(), i32(p.Hp * p.Wp)), m.i32.mul(h.get(), i32(p.Wp))),
      add(i32(x.addr), m.i32.mul(n.get(), i32(p.C * p.H * p.W)), m.i32.mul(add(m.i32.mul(g.get(), i32(p.Cg)), c.get()), i32(p.H * p.W)), m.i32.mul(h.get(), i32(p.W))),
      i32(cols))]) : m.nop(),
    fn.nest([p.kh, p.kw, p.OH], ([ki, kj, oh]) => [
      src.set(add(i32(plane), m.i32.mul(c.get(), i32(p.Hp * p.Wp)), m.i32.mul(ki.get(), i32(p.dh * p.Wp)), m.i32.mul(oh.get(), i32(p.sh * p.Wp)), m.i32.mul(kj.get(), i32(p.dw)))),
      dst.set(add(i32(col), m.i32.mul(c.get(), i32(p.kh * p.kw * p.P)), m.i32.mul(ki.get(), i32(p.kw * p.P)), m.i32.mul(kj.get(), i32(p.P)), m.i32.mul(oh.get(), i32(p.OW)))),
      ...copyRow(m, dst, src, p.OW, p.sw),
    ]),
  ];
  if (!threads) return [fn.loop(p.Cg, channel)];
  const share = threadShare(m, threads, p.Cg);
  return [fn.loopDyn(share.lo, share.hi, channel), threads.barrier()];
}

export function emitQConv(ctx: KernelCtx, p: QConvPlan): void {
  const { m, fn } = ctx;
  const { q } = p;
  const x = ctx.input(q.x.index), y = ctx.output(0);
  // an image whose height or width varies: the bound's code over x's padding filled with its zero point (padding.ts)
  if (spatialVarying(ctx, x)) fillPadding(ctx, x, xZeroPoint(ctx, q));
  const n = fn.local(binaryen.i32), g = fn.local(binaryen.i32), yBase = fn.local(binaryen.i32), gOff = fn.local(binaryen.i32);
  const zp = xZeroPoint(ctx, q);
  const [packedW, biasAt, ...tables] = ctx.constantAddrs;
  const outBytes = q.result.kind === "int32" || q.result.kind === "float" ? 4 : 1;
  const out: QOut = { addr: y.addr, rs: p.P, base: yBase.get };
  const rowsBytes = packedRowsBytes(p.OCg, p.K);
  const bSource = p.pointwise
    ? { addr: x.addr, rs: p.P, base: () => m.i32.mul(m.i32.add(m.i32.mul(n.get(), m.i32.const(p.C)), m.i32.mul(g.get(), m.i32.const(p.Cg))), m.i32.const(p.P)), signed: q.x.dtype === "int8" }
    : { addr: ctx.scratchAddr + p.colAt, rs: p.P, signed: q.x.dtype === "int8" };
  const store = convStore(fn, q, out, tables, gOff.get);
  // the positions are shared among the threads (each packs its panels of the image, or of col,
  // into its own scratch); im2col's plane and col are one scratch, written by channel, a barrier
  // after it and after the product (the next image or group writes them again)
  const threads = p.P > QTILE.nr ? ctx.splitAmong() : undefined;
  const gemm = emitQGemm(fn, {
    M: p.OCg, N: p.P, K: p.K, threads,
    a: { kind: "packed", addr: packedW, base: () => m.i32.mul(g.get(), m.i32.const(rowsBytes)) },
    b: { kind: "runtime", scratch: ctx.scratchAddr + p.panelAt, pack: packColsRuntime(fn, bSource, p.K, zp) },
    init: { perRow: (row) => m.i32.load(biasAt, 4, m.i32.add(gOff.get(), m.i32.shl(row(), m.i32.const(2)))) },
    store,
  });
  // a symbolic batch: this run's images, each as in the pinned build
  fn.emit(fn.nest([ctx.outerCount(x, p.N), p.group], ([img, grp]) => [
    n.set(img.get()), g.set(grp.get()),
    gOff.set(m.i32.mul(grp.get(), m.i32.const(p.OCg * 4))),
    yBase.set(m.i32.mul(m.i32.add(m.i32.mul(img.get(), m.i32.const(p.OC)), m.i32.mul(grp.get(), m.i32.const(p.OCg))), m.i32.const(p.P * outBytes))),
    ...(p.pointwise ? [] : emitIm2col(fn, ctx, p, img, grp, zp, threads)),
    gemm,
    ...(threads && !p.pointwise ? [threads.barrier()] : []),
  ]));
}
