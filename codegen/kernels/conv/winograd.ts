// Winograd convolution for stride-1, dilation-1 3x3 float32 Conv with constant weights (grouped when
// each group has a multiple of 4 output channels). Per image: the input is copied into a zero-padded scratch plane (no bounds checks after
// that), then blocks of R tile rows go through three f32x4 steps, each lane one output tile:
//   V = B^T d B   (a x a input tiles, 4 neighbouring tiles per vector, into V[xi][C][L])
//   M = U V       (a*a GEMMs [Mp x C] x [C x L], a 4-channel x 8-tile register block; U = G g G^T
//                  was computed at compile time by prepare)
//   Y = A^T M A   (+ bias, then the fused epilogue, stored 4m outputs per row as whole vectors)
// The block of L tiles keeps V and M of one xi around L1 size while U streams.
import binaryen from "binaryen";
import { minI32, type Expr, type Local, type Trips } from "../../fn.js";
import { strided4 } from "./segments.js";
import { emitPaddedCopy, floatWindow } from "./small.js";
import { F2, F4, interleave, transform2d, transformedConstant, type WinogradTile } from "./winograd-math.js";
import { winogradDerive } from "./winograd-derive.js";
import { variant, type KernelCtx, type KernelPrep, type LayerCtx } from "../kernel.js";
import { madd } from "../matmul/gemm-tile.js";
import { splitNest, threadShare } from "../../threads.js";

interface Layout {
  t: WinogradTile;
  N: number; C: number; M: number; Mp: number;
  /** groups, and input channels per group (each output channel block of 4 lies in one group) */
  G: number; Cg: number;
  H: number; W: number; OH: number; OW: number;
  padT: number; padL: number;
  /** tile rows, tile columns rounded up to whole vectors */
  tH: number; tWp: number;
  /** padded input plane */
  Hp: number; Wp: number;
  /** tile rows per block and the block's lanes (tiles, a multiple of 8) */
  R: number; L: number;
  vAt: number; mAt: number; scratchBytes: number;
}

const roundUp = (v: number, k: number) => Math.ceil(v / k) * k;

/**
 * Where Winograd wins over the direct kernel (effective GFLOPS, measured on this 2-core EPYC under
 * load: 56x56x64x64 ~80 vs ~12, 7x7x512x512 ~55 vs ~8, 14x14x8x8 ~38 vs ~14, 4x4x16x16 ~25 vs ~8;
 * 56x56x4x4 ~19 vs ~21): from 8 channels on, the GEMM outweighs the transforms.
 */
function worthIt(C: number, M: number, OH: number, OW: number): boolean {
  return Math.min(C, M) >= 8 && OH >= 4 && OW >= 4;
}

/**
 * F(4x4,3x3) does 2.25 products per output against F(2x2,3x3)'s 4, but its 4x4 output tiles
 * overhang small images and its transforms gather lanes one by one. Measured A/B interleaved (effective
 * GFLOPS, F2 vs F4): 14x14x256 57 vs 99, 28x28x128 55 vs 76, 12x12x384 26 vs 47, 56x56x64 45 vs 53,
 * 112x112x32 36 vs 39, 27x27x32->128 58 vs 87, but 7x7x512 50 vs 44 and 55x55x16->64 77 vs 57
 * (few input channels: the transforms dominate). So F4 from 12x12 outputs and 32 input channels
 * up, F2 otherwise (KILN_KERNELS=+winograd-f4x4 or -winograd-f4x4 overrides this, for measuring).
 */
const f4Pays = (OH: number, OW: number, Cg: number) => Math.min(OH, OW) >= 12 && Cg >= 32;

/**
 * The plan of Winograd with tile `t` for a layer, or undefined when the layer does not fit it
 * (not a stride-1 3x3 float32 Conv with constant weights) or, unless forced, when another kernel
 * does better: F4 only where f4Pays, and either only from 8 channels up (worthIt).
 */
export function winogradLayout(ctx: LayerCtx, t: WinogradTile, forced = false): Layout | undefined {
  const win = floatWindow(ctx, { groups: true });
  if (!win) return undefined;
  const x = ctx.input(0), w = ctx.input(1), y = ctx.output(0);
  if (!w.value || x.dims.length !== 4 || w.dims[2] !== 3 || w.dims[3] !== 3) return undefined;
  if (win.strides.some((s) => s !== 1) || win.dilations.some((d) => d !== 1)) return undefined;
  const [N, C, H, W] = x.dims, M = y.dims[1];
  const G = ctx.attrs.int("group", 1);
  // grouped layers (AlexNet's) when every block of 4 output channels stays inside its group
  if (C % G || M % G || (G > 1 && (M / G) % 4)) return undefined;
  const Cg = C / G;
  const [OH, OW] = win.out;
  if (!forced && (!worthIt(Cg, M / G, OH, OW) || (t === F4 && !f4Pays(OH, OW, Cg)))) return undefined;
  const tH = Math.ceil(OH / t.m), tWp = roundUp(Math.ceil(OW / t.m), 4);
  const Hp = (tH - 1) * t.m + t.a, Wp = (tWp - 1) * t.m + t.a + 1;
  // tiles per block: a block's V (a*a x C x L floats) near 256 KB, so the GEMM finds it in L2
  const lanes = Math.min(64, Math.max(32, 65536 / (t.a * t.a * C)));
  let R = Math.max(1, Math.min(tH, Math.floor(lanes / tWp)));
  // an odd count of 4-tile groups leaves 4 idle GEMM lanes: take one more tile row when there is one
  if ((R * tWp) % 8 && R < tH) R++;
  const L = roundUp(R * tWp, 8);
  const Mp = roundUp(M, 4);
  const vAt = roundUp(C * Hp * Wp * 4, 16);
  const mAt = vAt + t.a * t.a * C * L * 4;
  const scratchBytes = mAt + t.a * t.a * Mp * L * 4;
  return { t, N, C, M, Mp, G, Cg, H, W, OH, OW, padT: win.padBegin[0], padL: win.padBegin[1], tH, tWp, Hp, Wp, R, L, vAt, mAt, scratchBytes };
}

/** The Winograd-domain weights and the scratch. */
function winogradPrepare(ctx: KernelCtx, lay: Layout): KernelPrep {
  const U = transformedConstant(lay.t, ctx.input(1).value!, lay.M, lay.Cg, winogradDerive(lay.t, lay.M, lay.Cg));
  // the layer reads U only: the 3x3 weights need not be shipped (unless another layer reads them)
  return { constants: [U], scratchBytes: lay.scratchBytes, unread: [1] };
}

const winograd = (name: string, t: WinogradTile) => variant<Layout>({
  name,
  plan: (layer, forced) => winogradLayout(layer, t, forced),
  prepare: winogradPrepare,
  emit: emitWinograd,
});

export const WINOGRAD_F4 = winograd("winograd-f4x4", F4);
export const WINOGRAD_F2 = winograd("winograd-f2x2", F2);

function emitWinograd(ctx: KernelCtx, lay: Layout): void {
  const { m, fn } = ctx;
  const { t, N, C, M, Mp, G, Cg, H, W, OH, OW, padT, padL, tH, tWp, Hp, Wp, R, L } = lay;
  const { a } = t, tm = t.m;
  const x = ctx.input(0), y = ctx.output(0), bias = ctx.inputs[2];
  const post = ctx.epilogue;
  const S = ctx.scratchAddr, V0 = S + lay.vAt, M0 = S + lay.mAt, U0 = ctx.constantAddrs[0];
  const i32 = (v: number) => m.i32.const(v);
  const add = (...e: Expr[]) => e.reduce((p, q) => m.i32.add(p, q));
  const mul = (l: Local, k: number) => m.i32.mul(l.get(), i32(k));
  const v128 = () => fn.local(binaryen.v128);
  const zero = () => m.v128.const(new Array(16).fill(0));
  const n = fn.local(binaryen.i32), th0 = fn.local(binaryen.i32);
  // threads, where an image has enough blocks to share evenly (byBlocks): each thread whole blocks
  // of tile rows, its V and M in its own scratch (no phase of one thread reads what another wrote,
  // so no barrier between phases, and V and M stay in the core's own cache); else the plane, V and
  // M are shared (thread 0's scratch), each phase split over its channels (input transform: input
  // channels; GEMM: the a*a transformed positions; output transform: output channels), the threads
  // meeting after each phase that the next one reads. The padded plane is shared either way.
  const all = ctx.splitAmong();
  const nb = Math.floor(tH / R) + (tH % R ? 1 : 0);
  const byBlocks = all !== undefined && all.scratchStride >= lay.scratchBytes && (nb % all.max === 0 || nb >= 4 * all.max);
  const threads = byBlocks ? undefined : all;
  const meet = () => (threads ? [threads.barrier()] : []);
  // this thread's scratch offset (V and M by blocks), added to their addresses
  const own = byBlocks ? fn.local(binaryen.i32) : undefined;
  const mine = (e: Expr): Expr => (own ? m.i32.add(e, own.get()) : e);

  // one pointer local per step, reused by every block
  const pp = fn.local(binaryen.i32), pv = fn.local(binaryen.i32), pu = fn.local(binaryen.i32), pm = fn.local(binaryen.i32), py = fn.local(binaryen.i32);
  const d = Array.from({ length: a }, () => Array.from({ length: a }, v128));
  /** lanes 0, m, 2m, 3m elements apart: the same (i, j) of 4 neighbouring tiles */
  const gather = (off: number): Expr => {
    if (tm <= 2) return strided4(m, pp.get, off, tm);
    let v = m.f32x4.splat(m.f32.load(off, 4, pp.get()));
    for (let l = 1; l < 4; l++) v = m.f32x4.replace_lane(v, l, m.f32.load(off + l * tm * 4, 4, pp.get()));
    return v;
  };

  // an image whose width varies (padding.ts): this run's tile columns (whole groups of 4) in each
  // block's lanes, r * tw + column, where a pinned build has tWp; the blocks' lanes, the GEMM's
  // lane blocks and the output groups follow
  const runCols = ctx.runtimeDim(y, 3);
  const tw = runCols === undefined ? undefined : fn.local(binaryen.i32);
  const laneOf = (r: Local) => (tw ? m.i32.mul(r.get(), tw.get()) : mul(r, tWp));
  const groupTrips: Trips = tw ? () => m.i32.shr_u(tw.get(), i32(2)) : tWp / 4;
  const inputTransform = (rows: number): Expr[] => {
    const code: Expr[] = [splitNest(fn, threads, [C, rows, groupTrips], ([c, r, g]) => {
      const tr = transform2d(fn, t.BT, t.BT, d.map((row) => row.map((l) => l.get)));
      return [
        pp.set(add(mul(c, Hp * Wp * 4), mul(r, tm * Wp * 4), mul(th0, tm * Wp * 4), mul(g, 4 * tm * 4))),
        ...d.flatMap((row, i) => row.map((l, j) => l.set(gather(S + (i * Wp + j) * 4)))),
        pv.set(mine(add(mul(c, L * 4), m.i32.shl(laneOf(r), i32(2)), mul(g, 16)))),
        ...tr.setup,
        ...tr.out.flatMap((row, i) => row.map((e, j) => m.v128.store(V0 + (i * a + j) * C * L * 4, 4, pv.get(), e))),
      ];
    })];
    // lanes past the block's tiles: zeros, so the GEMM never meets stale scratch values
    if (tw) {
      // up to the GEMM's last lane block of this run's tiles
      const end = () => m.i32.and(m.i32.add(m.i32.mul(tw.get(), i32(rows)), i32(7)), i32(~7));
      code.push(splitNest(fn, threads, [C], ([c]) => Array.from({ length: a * a }, (_, xi) =>
        fn.loopDyn(m.i32.mul(tw.get(), i32(rows)), end(), (q) => [m.v128.store(V0 + xi * C * L * 4, 4, mine(add(mul(c, L * 4), m.i32.shl(q.get(), i32(2)))), zero())], 4))));
    } else if (L > rows * tWp) {
      code.push(splitNest(fn, threads, [C], ([c]) => {
        const out: Expr[] = [];
        for (let xi = 0; xi < a * a; xi++) {
          for (let q = rows * tWp; q < L; q += 4) out.push(m.v128.store(V0 + (xi * C * L + q) * 4, 4, mine(mul(c, L * 4)), zero()));
        }
        return out;
      }));
    }
    return code;
  };

  // M[xi][oc][lane] = sum_c U[xi][oc][c] V[xi][c][lane], 4 channels x 8 lanes per register block
  const acc = Array.from({ length: 4 }, () => [v128(), v128()]);
  const vx = [v128(), v128()];
  // with groups, block ob reads the Cg input channels of its group: V from channel gi * Cg on
  const blocksPerGroup = Mp / 4 / G;
  const gemm = (rows: number): Expr => splitNest(fn, threads, [a * a, G, blocksPerGroup, tw ? () => m.i32.shr_u(m.i32.add(m.i32.mul(tw.get(), i32(rows)), i32(7)), i32(3)) : L / 8], ([xi, gi, obg, jb]) => [
    pu.set(add(i32(U0), mul(xi, Mp * Cg * 4), mul(gi, blocksPerGroup * Cg * 16), mul(obg, Cg * 16))),
    pv.set(mine(add(i32(V0), mul(xi, C * L * 4), mul(gi, Cg * L * 4), mul(jb, 32)))),
    ...acc.flat().map((l) => l.set(zero())),
    fn.loop(Cg, () => [
      vx[0].set(m.v128.load(0, 16, pv.get())),
      vx[1].set(m.v128.load(16, 16, pv.get())),
      ...acc.flatMap((row, r) => {
        const s = m.v128.load32_splat(r * 4, 4, pu.get());
        const sl = v128();
        return [sl.set(s), ...row.map((l, v) => l.set(madd(m, sl.get(), vx[v].get(), l.get())))];
      }),
      pu.set(add(pu.get(), i32(16))),
      pv.set(add(pv.get(), i32(L * 4))),
    ]),
    pm.set(mine(add(i32(M0), mul(xi, Mp * L * 4), mul(gi, blocksPerGroup * 4 * L * 4), mul(obg, 4 * L * 4), mul(jb, 32)))),
    ...acc.flatMap((row, r) => row.map((l, v) => m.v128.store(r * L * 4 + v * 16, 16, pm.get(), l.get()))),
  ]);

  const mv = Array.from({ length: a }, () => Array.from({ length: a }, v128));
  const o = Array.from({ length: tm }, () => Array.from({ length: tm }, v128));
  const iv = Array.from({ length: tm }, v128);
  const b = v128();
  /** one group of 4 tiles at group g (a local, or a constant for the partial last group) */
  const outputGroup = (oc: Local, r: Local, g: Local | number): Expr[] => {
    const gOff = (k: number) => (typeof g === "number" ? i32(g * k) : mul(g, k));
    const tr = transform2d(fn, t.AT, t.AT, mv.map((row) => row.map((l) => l.get)));
    const code: Expr[] = [
      pm.set(mine(add(mul(oc, L * 4), m.i32.shl(laneOf(r), i32(2)), gOff(16)))),
      ...mv.flatMap((row, i) => row.map((l, j) => l.set(m.v128.load(M0 + (i * a + j) * Mp * L * 4, 16, pm.get())))),
      ...tr.setup,
      ...tr.out.flatMap((row, i) => row.map((e, j) => o[i][j].set(m.f32x4.add(e, b.get())))),
      py.set(add(mul(n, M * OH * OW * 4), mul(oc, OH * OW * 4), mul(r, tm * OW * 4), mul(th0, tm * OW * 4), gOff(4 * tm * 4))),
    ];
    const full = typeof g !== "number";
    for (let i = 0; i < tm; i++) {
      const il = interleave(fn, o[i].map((l) => l.get));
      const row: Expr[] = [...il.setup];
      const base = y.addr + i * OW * 4;
      il.out.forEach((e, v) => {
        if (full) {
          row.push(m.v128.store(base + v * 16, 4, py.get(), post ? post.vec(e, py.get, base + v * 16) : e));
          return;
        }
        row.push(iv[v].set(e));
        for (let l = 0; l < 4; l++) {
          const col = (g as number) * 4 * tm + v * 4 + l;
          if (col >= OW) continue;
          const off = base + (v * 4 + l) * 4;
          const s = m.f32x4.extract_lane(iv[v].get(), l);
          row.push(m.f32.store(off, 4, py.get(), post ? post.scalar(s, py.get, off) : s));
        }
      });
      // the last tile row may reach past the output: its lower rows are skipped at run time
      if (i >= OH % tm && OH % tm) code.push(m.if(m.i32.lt_u(add(mul(r, tm), mul(th0, tm)), i32(OH - i)), fn.block(row)));
      else code.push(...row);
    }
    return code;
  };
  const fullGroups = Math.floor(OW / (4 * tm));
  // this run's groups of 4 tiles: whole ones up to fullGroups, the bound's partial one where the run reaches it
  const runGroups = () => m.i32.shr_u(tw!.get(), i32(2));
  const outputTransform = (rows: number): Expr => splitNest(fn, threads, [M, rows], ([oc, r]) => [
    b.set(bias ? m.v128.load32_splat(bias.addr, 4, mul(oc, 4)) : zero()),
    tw ? fn.loopDyn(i32(0), minI32(m, runGroups, () => i32(fullGroups)), (g) => outputGroup(oc, r, g)) : fn.loop(fullGroups, (g) => outputGroup(oc, r, g)),
    ...(fullGroups < tWp / 4 ? (tw ? [m.if(m.i32.gt_u(runGroups(), i32(fullGroups)), fn.block(outputGroup(oc, r, fullGroups)))] : outputGroup(oc, r, fullGroups)) : []),
  ]);

  const block = (rows: number): Expr[] => [...inputTransform(rows), ...meet(), gemm(rows), ...meet(), outputTransform(rows)];
  const blocks = Math.floor(tH / R), tail = tH % R;
  const tailBlock = () => (tail ? [th0.set(i32(blocks * R)), ...block(tail)] : []);
  // an image whose height varies (padding.ts): the blocks holding this run's tile rows (its
  // padding filled, so the tiles at the run's edge read zeros there), else all nb
  const runRows = ctx.runtimeDim(y, 2);
  const nbRun = (): Expr => (runRows === undefined ? i32(nb)
    : m.i32.div_u(m.i32.add(m.i32.div_u(m.i32.add(ctx.runtimeDim(y, 2)!, i32(tm - 1)), i32(tm)), i32(R - 1)), i32(R)));
  const upTo = (e: () => Expr, k: number) => minI32(m, e, () => i32(k));
  // by blocks: this thread's share [lo, hi) of the image's blocks (the tail block last), the
  // threads meeting before the next image's plane is written over this one
  const share = byBlocks ? threadShare(m, all, runRows === undefined ? nb : nbRun) : undefined;
  const lo = fn.local(binaryen.i32), hi = fn.local(binaryen.i32);
  const blockLoop = share
    ? [lo.set(share.lo), hi.set(share.hi),
      fn.loopDyn(lo.get(), upTo(hi.get, blocks), (bk) => [th0.set(mul(bk, R)), ...block(R)]),
      ...(tail ? [m.if(m.i32.gt_u(hi.get(), i32(blocks)), fn.block(tailBlock()))] : []),
      ...(N > 1 ? [all!.barrier()] : [])]
    : runRows === undefined
      ? [fn.loop(blocks, (bk) => [th0.set(mul(bk, R)), ...block(R)]), ...tailBlock()]
      : [fn.loopDyn(i32(0), upTo(nbRun, blocks), (bk) => [th0.set(mul(bk, R)), ...block(R)]), ...(tail ? [m.if(m.i32.gt_u(nbRun(), i32(blocks)), fn.block(tailBlock()))] : [])];
  if (own) fn.emit(own.set(m.i32.mul(all!.tid(), i32(all!.scratchStride))));
  // this run's tile columns, rounded up to whole groups of 4
  if (tw) fn.emit(tw.set(m.i32.and(m.i32.add(m.i32.div_u(m.i32.add(ctx.runtimeDim(y, 3)!, i32(tm - 1)), i32(tm)), i32(3)), i32(~3))));
  fn.emit(fn.trips(ctx.outerCount(x, N), (img) => [
    n.set(img.get()),
    ...emitPaddedCopy(fn, { C, H, W, Hp, Wp, padT, padL }, S, x.addr, n.get, all, runRows === undefined && !tw ? undefined : {
      // the plane rows and columns this run's tiles read: its blocks' tile rows, its tile columns
      rows: () => (runRows === undefined ? i32(Hp) : m.i32.add(m.i32.mul(nbRun(), i32(R * tm)), i32(a - tm))),
      cols: () => (tw ? m.i32.add(m.i32.mul(tw.get(), i32(tm)), i32(a - tm + 1)) : i32(Wp)),
      // the image's rows and columns of this run: a tile at its edge mixes every value it reads
      // (the transforms), so the plane past them holds zeros, not the image's padding
      xRows: () => ctx.runtimeDim(x, 2) ?? i32(H),
      xCols: () => ctx.runtimeDim(x, 3) ?? i32(W),
    }),
    ...blockLoop,
  ]));
}
