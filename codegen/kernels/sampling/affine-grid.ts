// AffineGrid: grid[n, (d,) h, w] = theta[n] (x_w, y_h, (z_d,) 1), the base coordinates spread over
// [-1, 1] (pixel centers, or with align_corners the corner pixels' centers). Computed in float64
// and rounded once, as the ONNX reference does (its base grid is float64). A dim of size 1 with
// align_corners has the base coordinate 0, as PyTorch and onnxruntime give (the reference divides
// by zero there).
import binaryen from "binaryen";
import { stridesOf, type Expr, type Local } from "../../fn.js";
import { scalarOps } from "../../math/ops.js";
import { load, store } from "../../memory.js";
import { KernelTable, type KernelCtx } from "../kernel.js";

const table = new KernelTable();

/** base coordinate i of `size` along an axis, as an f64 expression */
function base(m: binaryen.Module, i: Local, size: number, align: boolean): Expr {
  const F = scalarOps(m, "f64");
  const at = m.f64.convert_s.i32(i.get());
  if (align) return size === 1 ? F.c(0) : F.add(F.c(-1), F.mul(at, F.c(2 / (size - 1))));
  const step = 2 / size;
  return F.add(F.c(-1 + step / 2), F.mul(at, F.c(step)));
}

table.add("AffineGrid", (ctx: KernelCtx) => {
  const { m, fn } = ctx;
  const [theta, y] = [ctx.input(0), ctx.output(0)];
  if (y.size === 0) return;
  const F = scalarOps(m, "f64");
  const align = ctx.attrs.int("align_corners", 0) === 1;
  const r = y.dims.length - 2;
  const spatial = y.dims.slice(1, r + 1);
  const tb = theta.dtype === "float64" ? 8 : theta.dtype === "float16" ? 2 : 4;
  const th = Array.from({ length: r * (r + 1) }, () => fn.local(binaryen.f64));
  const coord = Array.from({ length: r }, () => fn.local(binaryen.f64));
  const ys = stridesOf(y.dims);
  const wide = (v: Expr) => (theta.dtype === "float64" ? v : m.f64.promote(v));
  const narrow = (v: Expr) => (y.dtype === "float64" ? v : m.f32.demote(v));
  fn.emit(fn.loop(y.dims[0], (n) => [
    ...th.map((t, k) => t.set(wide(load(m, theta.dtype, m.i32.mul(n.get(), m.i32.const(r * (r + 1) * tb)), theta.addr + k * tb)))),
    fn.nest(spatial, (idx) => {
      // coordinate k is along spatial axis r-1-k: x along the last (W), y along H, z along D
      const at = (k: number) => m.i32.mul(m.i32.add(m.i32.add(m.i32.mul(n.get(), m.i32.const(ys[0])), fn.linear(idx, ys.slice(1, r + 1))), m.i32.const(k)), m.i32.const(tb));
      return [
        ...coord.map((c, k) => c.set(base(m, idx[r - 1 - k], spatial[r - 1 - k], align))),
        ...Array.from({ length: r }, (_, k) => {
          const row = th.slice(k * (r + 1), (k + 1) * (r + 1));
          const v = coord.slice(1).reduce<Expr>((s, c, j) => F.add(s, F.mul(row[j + 1].get(), c.get())), F.mul(row[0].get(), coord[0].get()));
          return store(m, y.dtype, at(k), narrow(F.add(v, row[r].get())), y.addr);
        }),
      ];
    }),
  ]));
});

export const KERNELS = table.families;
