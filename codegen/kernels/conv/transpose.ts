// ConvTranspose as a scatter: every input position adds x * w into the outputs its taps reach
// (layers whose kernel equals their stride take one GEMM instead: conv/transpose-gemm.ts).
// The input positions are split into runs whose in-range taps are a constant range
// (conv/segments.ts with input and output swapped), so no tap is bounds-checked. float32 scatters
// 4 input positions at once when the last stride is 1 or 2.
import binaryen from "binaryen";
import { transposedWindow } from "../../../compiler/ops/nn-geometry.js";
import { dtype } from "../../../runtime/dtypes.js";
import { stridesOf, type Expr, type Local } from "../../fn.js";
import { constant, load, store, wasmType } from "../../memory.js";
import { product, runLoops, segments, type Segment } from "./segments.js";
import { KernelTable, simpleVariant, variant, type KernelCtx } from "../kernel.js";
import { spatialLimits, zeroPadded } from "../padding.js";
import { transposeGemm } from "./transpose-gemm.js";
import { lastThread, stepShare } from "../../threads.js";

const table = new KernelTable();

const sum = (m: binaryen.Module, parts: Expr[]) => parts.reduce((a, b) => m.i32.add(a, b));

/** the fused epilogue, if any, over the finished output */
const finish = (ctx: KernelCtx) => {
  if (ctx.epilogue) ctx.fn.emit(...finishInPlace(ctx, ctx.output(0).addr, ctx.output(0).size));
};

function emitScatter(ctx: KernelCtx): void {
  const { m, fn } = ctx;
  const x = ctx.input(0), w = ctx.input(1), y = ctx.output(0);
  const bias = ctx.inputs[2];
  const dt = y.dtype;
  const eb = dtype(dt).bytes;
  const t = wasmType(dt);
  const ar = t === binaryen.f64 ? m.f64 : m.f32;
  const group = ctx.attrs.int("group", 1);
  const win = transposedWindow(ctx.attrs, x.dims.slice(2), w.dims.slice(2));
  const [N, C] = x.dims, M = y.dims[1];
  const Cg = C / group, Mg = M / group;
  const Isz = x.size / (N * C), Osz = y.size / (N * M), Ksz = win.kernel.reduce((a, b) => a * b, 1);
  const inStr = stridesOf(win.in), outStr = stridesOf(win.out), kStr = stridesOf(win.kernel);
  const rank = win.in.length;

  // y = bias (or 0)
  fn.emit(fn.nest([ctx.outerCount(x, N), M, Osz], ([n, oc, p]) => [
    store(m, dt, m.i32.mul(m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(n.get(), m.i32.const(M)), oc.get()), m.i32.const(Osz)), p.get()), m.i32.const(eb)),
      bias ? load(m, dt, m.i32.mul(oc.get(), m.i32.const(eb)), bias.addr) : constant(m, dt, 0), y.addr),
  ]));

  const runs = win.in.map((len, a) => segments(len, win.out[a], win.kernel[a], win.strides[a], win.dilations[a], win.padBegin[a]));
  const xBase = fn.local(binaryen.i32), wBase = fn.local(binaryen.i32), yBase = fn.local(binaryen.i32);
  const xv = fn.local(t), xv4 = fn.local(binaryen.v128), prod = fn.local(binaryen.v128), py = fn.local(binaryen.i32);
  const last = rank - 1, stride = win.strides[last];
  const vector = dt === "float32" && (stride === 1 || stride === 2);
  const zero = () => m.v128.const(new Array(16).fill(0));
  /** y[py..] += prod, lanes landing `stride` elements apart (stride 2: two overlapping RMWs, lanes 0..6 only) */
  const addLanes = (off: number): Expr[] => {
    if (stride === 1) return [m.v128.store(off, 4, py.get(), m.f32x4.add(m.v128.load(off, 4, py.get()), prod.get()))];
    const spread = (lanes: number[]) => m.i8x16.shuffle(prod.get(), zero(), lanes.flatMap((l) => [0, 1, 2, 3].map((b) => l * 4 + b)));
    return [
      m.v128.store(off, 4, py.get(), m.f32x4.add(m.v128.load(off, 4, py.get()), spread([0, 4, 1, 4]))),
      m.v128.store(off + 12, 4, py.get(), m.f32x4.add(m.v128.load(off + 12, 4, py.get()), spread([4, 2, 4, 3]))),
    ];
  };
  const scatter = (segs: Segment[]): Expr => {
    if (segs.some((g) => g.kHi === g.kLo)) return m.nop();
    const pos: Local[] = [], taps: Local[] = [];
    const tapNest = (a: number, lanes: number): Expr[] => {
      if (a === rank) {
        const yp = sum(m, [yBase.get(),
          ...pos.map((l, b) => m.i32.mul(l.get(), m.i32.const(win.strides[b] * outStr[b] * eb))),
          ...taps.map((k, b) => m.i32.mul(k.get(), m.i32.const(win.dilations[b] * outStr[b] * eb))),
          m.i32.const(segs.reduce((s, g, b) => s + (g.kLo * win.dilations[b] - win.padBegin[b]) * outStr[b] * eb, 0))]);
        const wp = sum(m, [wBase.get(), ...taps.map((k, b) => m.i32.mul(k.get(), m.i32.const(kStr[b] * eb))),
          m.i32.const(segs.reduce((s, g, b) => s + g.kLo * kStr[b] * eb, 0))]);
        if (lanes === 4) return [py.set(yp), prod.set(m.f32x4.mul(xv4.get(), m.f32x4.splat(m.f32.load(w.addr, 4, wp)))), ...addLanes(y.addr)];
        return [py.set(yp), store(m, dt, py.get(), ar.add(load(m, dt, py.get(), y.addr), ar.mul(xv.get(), load(m, dt, wp, w.addr))), y.addr)];
      }
      return [fn.loop(segs[a].kHi - segs[a].kLo, (k) => { taps[a] = k; return tapNest(a + 1, lanes); })];
    };
    // 4 consecutive input positions of one run scatter together (their taps all land in range)
    return runLoops(fn, segs, vector ? [4, 1] : [1], (o, lanes) => {
      o.forEach((l, b) => (pos[b] = l));
      const xp = sum(m, [xBase.get(), ...pos.map((l, b) => m.i32.mul(l.get(), m.i32.const(inStr[b] * eb)))]);
      return [lanes === 4 ? xv4.set(m.v128.load(x.addr, 4, xp)) : xv.set(load(m, dt, xp, x.addr)), ...tapNest(0, lanes)];
    }, false, spatialLimits(ctx, x)); // an image whose height or width varies: this run's inputs
  };
  const body = product(runs).map(scatter);
  fn.emit(fn.nest([ctx.outerCount(x, N), group, Mg, Cg], ([n, g, oc, ic]) => {
    const cin = m.i32.add(m.i32.mul(g.get(), m.i32.const(Cg)), ic.get());
    const cout = () => m.i32.add(m.i32.mul(g.get(), m.i32.const(Mg)), oc.get());
    return [
      xBase.set(m.i32.mul(m.i32.add(m.i32.mul(n.get(), m.i32.const(C)), cin), m.i32.const(Isz * eb))),
      wBase.set(m.i32.mul(m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(g.get(), m.i32.const(Cg)), ic.get()), m.i32.const(Mg)), oc.get()), m.i32.const(Ksz * eb))),
      yBase.set(m.i32.mul(m.i32.add(m.i32.mul(n.get(), m.i32.const(M)), cout()), m.i32.const(Osz * eb))),
      ...body,
    ];
  }));
  finish(ctx);
}

// kernel = stride, no pads: one GEMM and a rearrangement (conv/transpose-gemm.ts); else the scatter
table.family("conv-transpose", "ConvTranspose", [
  variant({ name: "empty", plan: (layer) => (layer.output(0).size === 0 ? {} : undefined), emit: () => {} }),
  transposeGemm(finish),
  simpleVariant(emitScatter, undefined, "scatter"),
].map((v) => zeroPadded(v))); // over an image whose height or width varies as the bound's (padding.ts)

/**
 * A scatter is finished only when every input has been added, so a fused epilogue runs as a last
 * pass over the output (4 values at a time, scalar tail).
 */
function finishInPlace(ctx: KernelCtx, addr: number, size: number): Expr[] {
  const { m, fn } = ctx;
  const post = ctx.epilogue!;
  const p = fn.local(binaryen.i32);
  const size4 = size - (size % 4);
  const at = (i: Local) => p.set(m.i32.mul(i.get(), m.i32.const(4)));
  const vec = (i: Local) => [at(i), m.v128.store(addr, 4, p.get(), post.vec(m.v128.load(addr, 4, p.get()), p.get, addr))];
  const tail = fn.loop(size, (i) => [at(i), m.f32.store(addr, 4, p.get(), post.scalar(m.f32.load(addr, 4, p.get()), p.get, addr))], { start: size4 });
  // a split layer (its threads met after writing the output): each thread its share of the
  // vectors, the scalar tail the last thread's, every value through the path it takes on one
  const threads = ctx.split ? ctx.threads : undefined;
  if (!threads) return [fn.loop(size4, vec, { step: 4 }), tail];
  const share = stepShare(m, threads, size4 / 4, 4);
  return [fn.loopDyn(share.lo, share.hi, vec, 4), m.if(lastThread(m, threads), tail)];
}

export const KERNELS = table.families;
