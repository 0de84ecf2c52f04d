// "qwinograd": an 8-bit 3x3 stride-1 convolution as Winograd F(2x2, 3x3) on the int8 GEMM
// (quant/qgemm.ts), exact. Each 2x2 block of outputs ("tile") takes 16 products per input
// channel where im2col takes 36: Y = A^T [U (.) V] A with
//   V = B^T d B  (d: the tile's 4x4 input patch less the zero point; B^T entries 0, +-1: |V| <= 1020, i16)
//   U' = G' g G'^T, G' = 2G = [[2,0,0],[1,1,1],[1,-1,1],[0,0,2]] (integer; |U'| <= 9 * 255, i16)
// so the 16 products M_e = U'_e V_e (one GEMM per element e of the 4x4 transform: output channels
// x input channels x tiles) give 4 Y. The sums wrap in i32 lanes, which is arithmetic mod 2^32:
// as long as the true 4 Y fits in i32 (the plan checks the bound from the weights' largest
// magnitude), the wrapped result is exactly 4 Y and an arithmetic shift by 2 gives Y. Then the
// bias and the requantization of the im2col path's store (qgemm-store.ts requantLanes).
//
// Per image: the input copied into a plane padded with its zero point (as im2col does); then per
// chunk of tile rows: the input transform writes V straight in the GEMM's packed-panel layout
// (8 tiles a vector: a row's bytes split into even and odd columns; only V[1][1] keeps the zero
// point, 4 zp, so the raw bytes are transformed and that one entry corrected), the 16 GEMMs store
// i32 M, and the output transform requantizes 4 tiles a vector and stores their 2x2 outputs.
// Tiles run TWp to a tile row (TW rounded up to a multiple of 4); the spare ones are computed and
// never stored.
// At threads each phase is shared, with a barrier after it (the scratch is one, thread 0's): the
// padded plane by input channel, per chunk the input transform by channel pair, the 16 GEMMs by
// element, the output transform by output channel. Each value is computed by one thread through
// the same code as at one thread.
import binaryen from "binaryen";
import { fillPadding, spatialVarying } from "../padding.js";
import { align16 } from "../../memory.js";
import type { Expr, Fn, Local } from "../../fn.js";
import { threadShare, type ThreadCtx } from "../../threads.js";
import { derivedFrom, type KernelCtx, type KernelPrep, type LazyConstant } from "../kernel.js";
import { qwinogradDerive } from "./qwinograd-derive.js";
import { emitQGemm, evenK, packedColsBytes, packedRowsBytes, QTILE } from "./qgemm.js";
import { qchannelTables } from "./qgemm-derive.js";
import { finiteMultipliers, requantLanes, storeBytes, storeInt32 } from "./qgemm-store.js";
import { perChannel } from "./qlayer.js";
import { xZeroPoint, type QConvPlan } from "./qconv-gemm.js";

export interface QWinogradPlan {
  conv: QConvPlan;
  /** tile rows, tiles per row (TW real, TWp computed: a multiple of 4) */
  TH: number; TW: number; TWp: number;
  /** tile rows per chunk (divides TH), tiles per chunk */
  R: number; Tc: number;
  /** the padded plane: rows, columns */
  Hp: number; Wp: number;
  planeAt: number; vAt: number; mAt: number;
  scratchBytes: number;
}

/** a chunk's V and M stay within about this (L2) */
const CHUNK_BYTES = 512 << 10;

/** The largest |x - zp| the activation can take. */
function activationBound(p: QConvPlan): number {
  const zp = p.q.x.zp;
  if (zp.kind !== "const") return 255;
  const [lo, hi] = p.q.x.dtype === "int8" ? [-128, 127] : [0, 255];
  return Math.max(Math.abs(lo - zp.values[0]), Math.abs(hi - zp.values[0]));
}

/** The plan, for a 3x3 stride-1 undilated ungrouped 2-D convolution requantized to 8 bits whose 4 Y fits i32; else undefined. */
export function qwinogradPlan(p: QConvPlan): QWinogradPlan | undefined {
  const { q } = p;
  if (p.kh !== 3 || p.kw !== 3 || p.sh !== 1 || p.sw !== 1 || p.dh !== 1 || p.dw !== 1 || p.group !== 1 || p.H === 1) return undefined;
  if (q.result.kind !== "requant" || q.w.zp.kind !== "const" || !q.w.value) return undefined;
  const w = q.w.value.data as ArrayLike<number>, zp = q.w.zp.values, per = p.C * 9;
  let wMax = 0;
  for (let oc = 0; oc < p.OC; oc++) {
    const z = perChannel(zp, oc);
    for (let i = oc * per; i < (oc + 1) * per; i++) wMax = Math.max(wMax, Math.abs(Number(w[i]) - z));
  }
  // |Y| <= C * 9 * wMax * xMax; 4 Y must stay within i32
  if (4 * p.C * 9 * wMax * activationBound(p) >= 2 ** 31) return undefined;
  const TH = Math.ceil(p.OH / 2), TW = Math.ceil(p.OW / 2), TWp = Math.ceil(TW / 4) * 4;
  const rowBytes = (r: number) => 16 * (packedColsBytes(r * TWp, p.C) + p.OC * r * TWp * 4);
  const divisors = Array.from({ length: TH }, (_, i) => i + 1).filter((d) => TH % d === 0);
  // the largest chunk within CHUNK_BYTES, but at least two panels of tiles where TH allows
  let R = divisors.filter((d) => rowBytes(d) <= CHUNK_BYTES).pop() ?? 1;
  if (R * TWp < 2 * QTILE.nr) R = divisors.find((d) => d * TWp >= 2 * QTILE.nr) ?? TH;
  const Tc = R * TWp;
  const Hp = 2 * TH + 2, Wp = 2 * TWp + 18;
  const planeAt = 0, vAt = align16(p.C * Hp * Wp + 32), mAt = align16(vAt + 16 * packedColsBytes(Tc, p.C));
  return { conv: p, TH, TW, TWp, R, Tc, Hp, Wp, planeAt, vAt, mAt, scratchBytes: mAt + 16 * p.OC * Tc * 4 + 16 };
}

/**
 * U' of every (output, input) channel pair straight into the 16 GEMMs' packed rows (qgemm-pack.ts
 * packRows' layout, element e's rows after element e - 1's): G' g by rows, then by columns.
 */
function packedU(w: ArrayLike<number>, zp: number[], OC: number, C: number): Uint8Array {
  const Kp = evenK(C), MR = QTILE.mr, per = packedRowsBytes(OC, C) / 2;
  const out = new Int16Array(16 * per);
  const g = new Float64Array(9), t = new Float64Array(12);
  const row = (x0: number, x1: number, x2: number, i: number) => (i === 0 ? 2 * x0 : i === 1 ? x0 + x1 + x2 : i === 2 ? x0 - x1 + x2 : 2 * x2);
  for (let oc = 0; oc < OC; oc++) {
    const z = perChannel(zp, oc);
    for (let c = 0; c < C; c++) {
      const from = (oc * C + c) * 9;
      for (let k = 0; k < 9; k++) g[k] = Number(w[from + k]) - z;
      for (let i = 0; i < 4; i++) for (let b = 0; b < 3; b++) t[i * 3 + b] = row(g[b], g[3 + b], g[6 + b], i);
      const at = (oc - (oc % MR)) * Kp + (c >> 1) * 2 * MR + 2 * (oc % MR) + (c & 1);
      for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) out[(4 * i + j) * per + at] = row(t[i * 3], t[i * 3 + 1], t[i * 3 + 2], j);
    }
  }
  return new Uint8Array(out.buffer);
}

/** The 16 transformed weight matrices U'_e (OC x C), each packed as the GEMM's rows; then the bias and multipliers per channel. */
export function qwinogradPrepare(plan: QWinogradPlan): KernelPrep {
  const { q, OC, C } = plan.conv;
  const w8 = q.w.value!;
  const zp = (q.w.zp as { values: number[] }).values;
  const packed = packedU(w8.data as ArrayLike<number>, zp, OC, C);
  // a compact artifact ships the 8-bit filters and the module derives U' (quant/qwinograd-derive.ts)
  const uniform = zp.every((z) => z === zp[0]) ? zp[0] : undefined;
  const weights: Uint8Array | LazyConstant = (w8.dtype === "int8" || w8.dtype === "uint8") && uniform !== undefined
    ? derivedFrom({ byteLength: packed.length, write: (into) => into.set(packed), integers: true }, w8, `qwinograd ${OC}x${C} z${uniform}`, qwinogradDerive(OC, C, w8.dtype === "int8", uniform))
    : packed;
  const constants: (Uint8Array | LazyConstant)[] = [weights, ...qchannelTables(q, OC, OC + 4)];
  return { constants, scratchBytes: plan.scratchBytes, unread: [q.w.index] };
}

/** i16x8 lanes from the even (odd) bytes of v, widened signed or not */
function byteLanes(m: binaryen.Module, v: Expr, odd: boolean, signed: boolean): Expr {
  const eight = m.i32.const(8);
  if (odd) return signed ? m.i16x8.shr_s(v, eight) : m.i16x8.shr_u(v, eight);
  return signed ? m.i16x8.shr_s(m.i16x8.shl(v, eight), eight) : m.v128.and(v, m.v128.const(new Array(8).fill([255, 0]).flat()));
}

export function emitQWinograd(ctx: KernelCtx, plan: QWinogradPlan): void {
  const { m, fn } = ctx;
  const p = plan.conv;
  const x = ctx.input(p.q.x.index);
  // an image whose height or width varies: the bound's code over x's padding filled with its zero point (padding.ts)
  if (spatialVarying(ctx, x)) fillPadding(ctx, x, xZeroPoint(ctx, p.q));
  const [packedU, biasAt, multAt] = ctx.constantAddrs;
  const S = ctx.scratchAddr;
  const plane = S + plan.planeAt;
  const zp = xZeroPoint(ctx, p.q);
  const i32 = (v: number) => m.i32.const(v);
  const n = fn.local(binaryen.i32), th0 = fn.local(binaryen.i32), zs = fn.local(binaryen.i32);
  // the tiles read plane columns up to 2 TWp + 1; the last 16 are the vectors' slack
  const rows = Math.min(p.H, plan.Hp - p.padT), cols = Math.min(p.W, plan.Wp - 16 - p.padL);
  const threads = ctx.splitAmong();
  const after = (e: Expr): Expr[] => (threads ? [e, threads.barrier()] : [e]);
  // channel c's padded plane: the zero point, then the image's rows
  const channelPlane = (c: Local): Expr[] => [
    m.memory.fill(m.i32.add(i32(plane), m.i32.mul(c.get(), i32(plan.Hp * plan.Wp))), zs.get(), i32(plan.Hp * plan.Wp)),
    cols > 0 && rows > 0 ? fn.loop(rows, (h) => [m.memory.copy(
      m.i32.add(i32(plane + p.padT * plan.Wp + p.padL), m.i32.add(m.i32.mul(c.get(), i32(plan.Hp * plan.Wp)), m.i32.mul(h.get(), i32(plan.Wp)))),
      m.i32.add(i32(x.addr), m.i32.add(m.i32.mul(n.get(), i32(p.C * p.H * p.W)), m.i32.add(m.i32.mul(c.get(), i32(p.H * p.W)), m.i32.mul(h.get(), i32(p.W))))),
      i32(cols))]) : m.nop(),
  ];
  // a symbolic batch: this run's images
  fn.emit(fn.trips(ctx.outerCount(x, p.N), (img) => [
    n.set(img.get()), zs.set(zp()),
    ...after(shared(fn, threads, p.C, channelPlane)),
    fn.loop(plan.TH, (t) => [th0.set(t.get()),
      ...after(inputTransform(fn, plan, th0, zs, p.q.x.dtype === "int8", S, threads)),
      ...after(gemms(fn, plan, packedU, S, threads)),
      ...after(outputTransform(ctx, plan, n, th0, biasAt, multAt, S, threads))], { step: plan.R }),
  ]));
}

/** body(i) for i in 0..trips, or this thread's contiguous share of them (each call outlined) */
function shared(fn: Fn, threads: ThreadCtx | undefined, trips: number, body: (i: Local) => Expr[], outline = false): Expr {
  if (!threads) return fn.loop(trips, body, { outline });
  const share = threadShare(fn.m, threads, trips);
  return fn.loopDyn(share.lo, share.hi, (i) => { const code = body(i); return outline ? [fn.outline(code) ?? fn.block(code)] : code; });
}

/** V for channels (pairs of) x the chunk's tiles, in the packed-panel layout of the 16 GEMMs' columns. */
function inputTransform(fn: Fn, plan: QWinogradPlan, th0: Local, zs: Local, signed: boolean, S: number, threads?: ThreadCtx): Expr {
  const m = fn.m;
  const p = plan.conv;
  const i32 = (v: number) => m.i32.const(v);
  const vBytes = packedColsBytes(plan.Tc, p.C), panelBytes = 32 * evenK(p.C);
  const src = fn.local(binaryen.i32), dst = fn.local(binaryen.i32), t = fn.local(binaryen.i32), g8 = fn.local(binaryen.i32), z4 = fn.local(binaryen.v128);
  /** V (16 i16x8, 8 tiles) of the channel whose patch starts at src + off */
  const transform = (off: number, code: Expr[]): Local[] => {
    const out = Array.from({ length: 16 }, () => fn.local(binaryen.v128));
    const a = Array.from({ length: 4 }, () => Array.from({ length: 4 }, () => fn.local(binaryen.v128)));
    const d = Array.from({ length: 4 }, () => fn.local(binaryen.v128));
    for (let r = 0; r < 4; r++) {
      const l0 = () => m.v128.load(off + r * plan.Wp, 1, src.get()), l2 = () => m.v128.load(off + r * plan.Wp + 2, 1, src.get());
      code.push(d[0].set(byteLanes(m, l0(), false, signed)), d[1].set(byteLanes(m, l0(), true, signed)),
        d[2].set(byteLanes(m, l2(), false, signed)), d[3].set(byteLanes(m, l2(), true, signed)));
      code.push(a[r][0].set(m.i16x8.sub(d[0].get(), d[2].get())), a[r][1].set(m.i16x8.add(d[1].get(), d[2].get())),
        a[r][2].set(m.i16x8.sub(d[2].get(), d[1].get())), a[r][3].set(m.i16x8.sub(d[1].get(), d[3].get())));
    }
    for (let j = 0; j < 4; j++) {
      code.push(out[j].set(m.i16x8.sub(a[0][j].get(), a[2][j].get())), out[4 + j].set(m.i16x8.add(a[1][j].get(), a[2][j].get())),
        out[8 + j].set(m.i16x8.sub(a[2][j].get(), a[1][j].get())), out[12 + j].set(m.i16x8.sub(a[1][j].get(), a[3][j].get())));
    }
    // the zero point stays in V[1][1] alone (B^T's row sums are 0, 2, 0, 0): 4 zp
    code.push(out[5].set(m.i16x8.sub(out[5].get(), z4.get())));
    return out;
  };
  const zero = m.v128.const(new Array(16).fill(0));
  // word j of a k-pair: (V_c[tile j], V_c+1[tile j]) as i16 lanes 2j, 2j + 1
  const lo = [0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23], hi = lo.map((b) => b + 8);
  const pairCode = (second: boolean): Expr[] => {
    const code: Expr[] = [];
    const v0 = transform(0, code);
    const v1 = second ? transform(plan.Hp * plan.Wp, code) : undefined;
    const hiAt = fn.local(binaryen.i32);
    // tiles 4..7 of the group: the same panel 16 bytes on, or the next panel's first words
    code.push(hiAt.set(m.i32.add(dst.get(), m.select(m.i32.eq(m.i32.and(t.get(), i32(15)), i32(12)), i32(panelBytes - 48), i32(16)))));
    const hasHi = m.i32.lt_u(m.i32.add(g8.get(), i32(4)), i32(plan.TWp));
    const his: Expr[] = [];
    for (let e = 0; e < 16; e++) {
      const b = () => (v1 ? v1[e].get() : zero);
      code.push(m.v128.store(e * vBytes, 16, dst.get(), m.i8x16.shuffle(v0[e].get(), b(), lo)));
      his.push(m.v128.store(e * vBytes, 16, hiAt.get(), m.i8x16.shuffle(v0[e].get(), b(), hi)));
    }
    code.push(m.if(hasHi, fn.block(his)));
    return code;
  };
  const groups = Math.ceil(plan.TWp / 8);
  /** src and dst for channel pair cp, chunk tile row r, group g */
  const at = (cp: Expr, r: Local, g: Local): Expr[] => [
    g8.set(m.i32.shl(g.get(), i32(3))),
    t.set(m.i32.add(m.i32.mul(r.get(), i32(plan.TWp)), g8.get())),
    src.set(m.i32.add(i32(S + plan.planeAt), m.i32.add(m.i32.mul(cp, i32(2 * plan.Hp * plan.Wp)),
      m.i32.add(m.i32.mul(m.i32.add(th0.get(), r.get()), i32(2 * plan.Wp)), m.i32.shl(g8.get(), i32(1)))))),
    // panel t >> 4, k-pair cp, word t & 15
    dst.set(m.i32.add(i32(S + plan.vAt), m.i32.add(m.i32.mul(m.i32.shr_u(t.get(), i32(4)), i32(panelBytes)),
      m.i32.add(m.i32.shl(cp, i32(6)), m.i32.shl(m.i32.and(t.get(), i32(15)), i32(2)))))),
  ];
  const full = p.C >> 1;
  const out: Expr[] = [z4.set(m.i16x8.splat(m.i32.shl(zs.get(), i32(2))))];
  // channel pairs, the odd last channel as one more (the last share's)
  const units = full + (p.C & 1);
  out.push(shared(fn, threads, units, (cp) => {
    const pair = [fn.nest([plan.R, groups], ([r, g]) => [...at(cp.get(), r, g), ...pairCode(true)])];
    if (!(p.C & 1)) return pair;
    const single = fn.nest([plan.R, groups], ([r, g]) => [...at(i32(full), r, g), ...pairCode(false)]);
    return [m.if(m.i32.lt_u(cp.get(), i32(full)), fn.block(pair), single)];
  }, true));
  return fn.block(out);
}

/** M_e = U'_e V_e for the 16 elements: i32, e-major, OC rows of Tc tiles. */
function gemms(fn: Fn, plan: QWinogradPlan, packedU: number, S: number, threads?: ThreadCtx): Expr {
  const m = fn.m;
  const p = plan.conv;
  const e = fn.local(binaryen.i32);
  const uBytes = packedRowsBytes(p.OC, p.C), vBytes = packedColsBytes(plan.Tc, p.C), mBytes = p.OC * plan.Tc * 4;
  const gemm = emitQGemm(fn, {
    M: p.OC, N: plan.Tc, K: p.C,
    a: { kind: "packed", addr: packedU, base: () => m.i32.mul(e.get(), m.i32.const(uBytes)) },
    b: { kind: "packed", addr: S + plan.vAt, base: () => m.i32.mul(e.get(), m.i32.const(vBytes)) },
    store: storeInt32(fn, { addr: S + plan.mAt, rs: plan.Tc, base: () => m.i32.mul(e.get(), m.i32.const(mBytes)) }),
  });
  return shared(fn, threads, 16, (i) => [e.set(i.get()), gemm]);
}

/** Y = A^T M A / 4 + bias, requantized, for the chunk's tiles: 4 tiles (8 output columns, 2 rows) a vector. */
function outputTransform(ctx: KernelCtx, plan: QWinogradPlan, n: Local, th0: Local, biasAt: number, multAt: number, S: number, threads?: ThreadCtx): Expr {
  const { m, fn } = ctx;
  const p = plan.conv;
  const q = p.q.result as Extract<typeof p.q.result, { kind: "requant" }>;
  const y = ctx.output(0);
  const i32 = (v: number) => m.i32.const(v);
  const mBytes = p.OC * plan.Tc * 4;
  const src = fn.local(binaryen.i32), dst = fn.local(binaryen.i32), bias = fn.local(binaryen.v128), mult = fn.local(binaryen.v128), bytes = fn.local(binaryen.v128);
  const mBase = fn.local(binaryen.i32), yBase = fn.local(binaryen.i32), r = fn.local(binaryen.i32);
  const Mv = Array.from({ length: 16 }, () => fn.local(binaryen.v128));
  const bl = Array.from({ length: 4 }, () => [fn.local(binaryen.v128), fn.local(binaryen.v128)]);
  const req = { zp: q.zp, signed: q.dtype === "int8", lo: q.lo, hi: q.hi, finite: finiteMultipliers(q.mult) };
  /** the 2x2 outputs of 4 tiles: `width` output columns (<= 8), the second row when `two` */
  const group = (width: number, two: boolean): Expr[] => {
    const code: Expr[] = Mv.map((l, e) => l.set(m.v128.load(e * mBytes, 16, src.get())));
    for (let k = 0; k < 4; k++) {
      code.push(bl[k][0].set(m.i32x4.add(m.i32x4.add(Mv[4 * k].get(), Mv[4 * k + 1].get()), Mv[4 * k + 2].get())),
        bl[k][1].set(m.i32x4.sub(m.i32x4.sub(Mv[4 * k + 1].get(), Mv[4 * k + 2].get()), Mv[4 * k + 3].get())));
    }
    const Y = (i: number, j: number) => {
      const s = i === 0 ? m.i32x4.add(m.i32x4.add(bl[0][j].get(), bl[1][j].get()), bl[2][j].get())
        : m.i32x4.sub(m.i32x4.sub(bl[1][j].get(), bl[2][j].get()), bl[3][j].get());
      return requantLanes(m, req, m.i32x4.add(m.i32x4.shr_s(s, i32(2)), bias.get()), mult.get());
    };
    const lo = m.i16x8.narrow_i32x4_s(Y(0, 0), Y(0, 1)), hi = m.i16x8.narrow_i32x4_s(Y(1, 0), Y(1, 1));
    // Y00 t0..3, Y01 t0..3, Y10 t0..3, Y11 t0..3 -> row 0's 8 bytes, then row 1's, columns interleaved
    code.push(bytes.set(m.i8x16.shuffle(req.signed ? m.i8x16.narrow_i16x8_s(lo, hi) : m.i8x16.narrow_i16x8_u(lo, hi), m.v128.const(new Array(16).fill(0)),
      [0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15])));
    code.push(...storeBytes(m, 0, dst.get, bytes.get, width));
    if (two) {
      const row1 = () => m.i8x16.shuffle(bytes.get(), bytes.get(), [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15]);
      code.push(...storeBytes(m, p.OW, dst.get, row1, width));
    }
    return code;
  };
  const fullGroups = Math.floor(p.OW / 8), tailWidth = p.OW % 8;
  /** chunk tile row r of channel oc (mBase, yBase): its groups of 4 tiles */
  const tileRow = (two: boolean): Expr[] => {
    const at = (g: Expr): Expr[] => [
      src.set(m.i32.add(mBase.get(), m.i32.shl(m.i32.add(m.i32.mul(r.get(), i32(plan.TWp)), m.i32.shl(g, i32(2))), i32(2)))),
      dst.set(m.i32.add(yBase.get(), m.i32.add(m.i32.mul(m.i32.add(th0.get(), r.get()), i32(2 * p.OW)), m.i32.shl(g, i32(3))))),
    ];
    return [
      fn.loop(fullGroups, (g) => [...at(g.get()), ...group(8, two)]),
      tailWidth ? fn.block([...at(i32(fullGroups)), ...group(tailWidth, two)]) : m.nop(),
    ];
  };
  // with OH odd, the last tile row has one output row
  const lastOdd = p.OH % 2 === 1;
  const isLast = () => m.i32.eq(m.i32.add(th0.get(), i32(plan.R)), i32(plan.TH));
  return shared(fn, threads, p.OC, (oc) => [
    bias.set(m.i32x4.splat(m.i32.load(biasAt, 4, m.i32.shl(oc.get(), i32(2))))),
    mult.set(m.v128.load32_splat(multAt, 4, m.i32.shl(oc.get(), i32(2)))),
    mBase.set(m.i32.add(i32(S + plan.mAt), m.i32.mul(oc.get(), i32(plan.Tc * 4)))),
    yBase.set(m.i32.add(i32(y.addr), m.i32.add(m.i32.mul(n.get(), i32(p.OC * p.OH * p.OW)), m.i32.mul(oc.get(), i32(p.OH * p.OW))))),
    fn.loopDyn(i32(0), lastOdd ? m.select(isLast(), i32(plan.R - 1), i32(plan.R)) : i32(plan.R), (rr) => [r.set(rr.get()), ...tileRow(true)]),
    lastOdd ? m.if(isLast(), fn.block([r.set(i32(plan.R - 1)), ...tileRow(false)])) : m.nop(),
  ], true);
}
