// GridSample over N-d images: each output position maps its grid coordinates to input pixels,
// then mixes 1 (nearest), 2 (linear) or 4 (cubic) taps per axis. Coordinates and taps are
// computed once per position and shared by every channel. Every tap index is clamped before it
// is read, so no grid value (inf, NaN, far outside) can read outside the image.
import binaryen from "binaryen";
import type { Expr, Local } from "../../fn.js";
import { stridesOf } from "../../fn.js";
import type { Precision } from "../../math.js";
import { scalarOps } from "../../math/ops.js";
import { convert, load, store } from "../../memory.js";
import { byteAt } from "../quant/index.js";
import { KernelTable, type KernelCtx } from "../kernel.js";

const table = new KernelTable();

type S = ReturnType<typeof scalarOps>;

const TAPS: Record<string, number> = { nearest: 1, linear: 2, bilinear: 2, cubic: 4, bicubic: 4 };

/** Keys cubic convolution weights (A = -0.75) for the fraction t, taps at -1, 0, 1, 2. */
function cubicWeights(F: S, t: () => Expr): Expr[] {
  const A = -0.75;
  const far = (d: Expr) => F.sub(F.mul(F.add(F.mul(F.sub(F.mul(F.c(A), d), F.c(5 * A)), d), F.c(8 * A)), d), F.c(4 * A));
  const near = (d: () => Expr) => F.add(F.mul(F.mul(F.sub(F.mul(F.c(A + 2), d()), F.c(A + 3)), d()), d()), F.c(1));
  return [far(F.add(t(), F.c(1))), near(t), near(() => F.sub(F.c(1), t())), far(F.sub(F.c(2), t()))];
}

/** Reflect x into [lo, hi] the way the ONNX reference does (whole bounces, then the remainder). */
function reflect(ctx: KernelCtx, F: S, x: Local, lo: number, hi: number): Expr[] {
  const m = ctx.m;
  const range = hi - lo;
  if (range <= 0) return [x.set(F.c(lo))];
  const [dx, r] = [ctx.fn.local(x.type), ctx.fn.local(x.type)];
  const n = ctx.fn.local(binaryen.i32);
  const [trunc, toF] = [F.truncI32, F.fromI32];
  const bounce = (from: number, towards: number, dist: Expr): Expr[] => [
    dx.set(dist), n.set(trunc(F.div(dx.get(), F.c(range)))), r.set(F.sub(dx.get(), F.mul(toF(n.get()), F.c(range)))),
    x.set(F.select(m.i32.eqz(m.i32.and(n.get(), m.i32.const(1))),
      from < towards ? F.add(F.c(from), r.get()) : F.sub(F.c(from), r.get()),
      from < towards ? F.sub(F.c(towards), r.get()) : F.add(F.c(towards), r.get()))),
  ];
  return [
    m.if(F.lt(x.get(), F.c(lo)), ctx.fn.block(bounce(lo, hi, F.sub(F.c(lo), x.get())))),
    m.if(F.gt(x.get(), F.c(hi)), ctx.fn.block(bounce(hi, lo, F.sub(x.get(), F.c(hi))))),
  ];
}

table.add("GridSample", (ctx) => {
  const { m, fn } = ctx;
  const [x, grid, y] = [ctx.input(0), ctx.input(1), ctx.output(0)];
  const p: Precision = x.dtype === "float64" ? "f64" : "f32";
  const F = scalarOps(m, p);
  const T = p === "f64" ? binaryen.f64 : binaryen.f32;
  const mode = ctx.attrs.string("mode", ctx.opset >= 20 ? "linear" : "bilinear");
  const padding = ctx.attrs.string("padding_mode", "zeros");
  const align = ctx.attrs.int("align_corners", 0) === 1;
  const taps = TAPS[mode];
  const [N, C] = [x.dims[0], x.dims[1]];
  const dims = x.dims.slice(2);
  const r = dims.length;
  const outSpatial = y.dims.slice(2);
  const gs = stridesOf(grid.dims);
  const xs = stridesOf(x.dims);
  const ys = stridesOf(y.dims);
  const [trunc, toF] = [F.truncI32, F.fromI32];
  const coord = dims.map(() => fn.local(T));
  const base = dims.map(() => fn.local(binaryen.i32));
  const idx = dims.map(() => Array.from({ length: taps }, () => fn.local(binaryen.i32)));
  const ok = dims.map(() => Array.from({ length: taps }, () => fn.local(binaryen.i32)));
  const w = dims.map(() => Array.from({ length: taps }, () => fn.local(T)));
  const frac = fn.local(T);
  const acc = fn.local(T);

  /** coordinate, tap indices (clamped, with an inside flag) and tap weights along spatial axis a */
  const axisTaps = (a: number, n: Local, o: Local[]): Expr[] => {
    const d = dims[a];
    const [lo, hi] = align ? [0, d - 1] : [-0.5, d - 0.5];
    const gAt = m.i32.add(m.i32.add(m.i32.mul(n.get(), m.i32.const(gs[0])), fn.linear(o, gs.slice(1, r + 1))), m.i32.const(r - 1 - a));
    const g = convert(m, grid.dtype, p === "f64" ? "float64" : "float32", load(m, grid.dtype, byteAt(ctx, grid, gAt), grid.addr));
    const c = coord[a];
    const out: Expr[] = [c.set(align ? F.mul(F.mul(F.add(g, F.c(1)), F.c(0.5)), F.c(d - 1)) : F.mul(F.sub(F.mul(F.add(g, F.c(1)), F.c(d)), F.c(1)), F.c(0.5)))];
    if (taps === 1) out.push(c.set(F.nearest(c.get())));
    // coordinates past the border move back inside (border) or bounce (reflection) first
    if (padding === "border") out.push(m.if(m.i32.or(F.lt(c.get(), F.c(lo)), F.gt(c.get(), F.c(hi))), c.set(F.min(F.max(c.get(), F.c(0)), F.c(d - 1)))));
    if (padding === "reflection") out.push(...reflect(ctx, F, c, lo, hi));
    out.push(frac.set(F.sub(c.get(), F.floor(c.get()))));
    out.push(base[a].set(taps === 1 ? trunc(c.get()) : m.i32.sub(trunc(F.floor(c.get())), m.i32.const(taps === 4 ? 1 : 0))));
    const weights = taps === 1 ? [F.c(1)] : taps === 2 ? [F.sub(F.c(1), frac.get()), frac.get()] : cubicWeights(F, frac.get);
    for (let t = 0; t < taps; t++) {
      const i = idx[a][t];
      out.push(w[a][t].set(weights[t]), i.set(m.i32.add(base[a].get(), m.i32.const(t))), ok[a][t].set(m.i32.lt_u(i.get(), m.i32.const(d))));
      if (padding === "reflection") {
        const f = fn.local(T);
        out.push(m.if(m.i32.eqz(ok[a][t].get()), fn.block([f.set(toF(i.get())), ...reflect(ctx, F, f, lo, hi), i.set(trunc(f.get()))])));
      }
      // every mode reads a clamped index; zeros padding then drops taps that were outside
      out.push(i.set(m.select(m.i32.lt_s(i.get(), m.i32.const(0)), m.i32.const(0), m.select(m.i32.gt_s(i.get(), m.i32.const(d - 1)), m.i32.const(d - 1), i.get()))));
    }
    return out;
  };

  const combos: number[][] = [[]];
  for (let a = 0; a < r; a++) combos.splice(0, combos.length, ...combos.flatMap((cmb) => Array.from({ length: taps }, (_, t) => [...cmb, t])));

  // symbolic dims: a varying batch (leading in x, the grid and y: the prefix form) runs this run's
  // images; a varying plane has no symbolic form (outerCount refuses it)
  const images = ctx.symbolic ? ctx.outerCount(x, N) : N;
  for (const t of [grid, y]) if (ctx.symbolic?.dims.has(t.name)) ctx.outerCount(t, N);
  fn.emit(fn.nest([images, ...outSpatial], ([n, ...o]) => [
    ...dims.flatMap((_, a) => axisTaps(a, n, o)),
    fn.loop(C, (c) => {
      const chan = m.i32.add(m.i32.mul(n.get(), m.i32.const(xs[0])), m.i32.mul(c.get(), m.i32.const(xs[1])));
      const terms = combos.map((cmb) => {
        const at = cmb.reduce<Expr>((s, t, a) => m.i32.add(s, m.i32.mul(idx[a][t].get(), m.i32.const(xs[2 + a]))), chan);
        const weight = cmb.slice(1).reduce<Expr>((s, t, a) => F.mul(s, w[a + 1][t].get()), w[0][cmb[0]].get());
        const inside = padding === "zeros" ? cmb.slice(1).reduce<Expr>((s, t, a) => m.i32.and(s, ok[a + 1][t].get()), ok[0][cmb[0]].get()) : undefined;
        const v = load(m, x.dtype, byteAt(ctx, x, at), x.addr);
        return acc.set(F.add(acc.get(), F.mul(weight, inside ? F.select(inside, v, F.c(0)) : v)));
      });
      const yAt = m.i32.add(m.i32.add(m.i32.mul(n.get(), m.i32.const(ys[0])), m.i32.mul(c.get(), m.i32.const(ys[1]))), fn.linear(o, ys.slice(2)));
      return [acc.set(F.c(0)), ...terms, store(m, y.dtype, byteAt(ctx, y, yAt), acc.get(), y.addr)];
    }),
  ]));
});

export const KERNELS = table.families;
