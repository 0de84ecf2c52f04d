// CenterCropPad and Col2Im: index remapping with compile-time offsets. Positions that fall
// outside the source read as zero (pad) or are skipped (Col2Im), never outside the tensor.
import binaryen from "binaryen";
import type { Expr, Local } from "../../fn.js";
import { stridesOf } from "../../fn.js";
import { constant, load, store, wasmType } from "../../memory.js";
import { col2imGeometry } from "../../../compiler/ops/signal-image.js";
import { byteAt } from "../quant/index.js";
import { invalidIn, requireNumbers } from "./values.js";
import { KernelTable, type KernelCtx } from "../kernel.js";

const table = new KernelTable();

/** i32 condition: every position local lies in [0, bound) (one unsigned compare per axis). */
export function allInside(ctx: KernelCtx, pos: Local[], bounds: number[]): Expr {
  const m = ctx.m;
  return pos.map((p, a) => m.i32.lt_u(p.get(), m.i32.const(bounds[a]))).reduce((s, e) => m.i32.and(s, e), m.i32.const(1));
}

// crop takes the centered window (floor of the excess before it); pad centers the input the same way
table.add("CenterCropPad", (ctx) => {
  const { m, fn } = ctx;
  const [x, y] = [ctx.input(0), ctx.output(0)];
  const shift = x.dims.map((d, a) => (d >= y.dims[a] ? Math.floor((d - y.dims[a]) / 2) : -Math.floor((y.dims[a] - d) / 2)));
  const pos = x.dims.map(() => fn.local(binaryen.i32));
  const xs = stridesOf(x.dims);
  fn.emit(fn.nest(y.dims, (idx) => [
    ...idx.map((l, a) => pos[a].set(m.i32.add(l.get(), m.i32.const(shift[a])))),
    store(m, y.dtype, byteAt(ctx, y, fn.linear(idx, stridesOf(y.dims))),
      m.if(allInside(ctx, pos, x.dims), load(m, x.dtype, byteAt(ctx, x, fn.linear(pos, xs)), x.addr), constant(m, x.dtype, 0)), y.addr),
  ]));
});

// every block element adds into its image position; overlapping blocks sum
table.add("Col2Im", (ctx) => {
  const { m, fn } = ctx;
  const [x, y] = [ctx.input(0), ctx.output(0)];
  const g = col2imGeometry(requireNumbers(ctx, 1), requireNumbers(ctx, 2), ctx.attrs, invalidIn(ctx));
  const [N, C] = [y.dims[0], y.dims[1]];
  const per = g.block.reduce((a, b) => a * b, 1);
  const L = x.dims[2];
  const T = wasmType(y.dtype);
  const add = T === binaryen.f64 ? m.f64.add : m.f32.add;
  const pos = g.image.map(() => fn.local(binaryen.i32));
  const at = fn.local(binaryen.i32);
  const ys = stridesOf(y.dims);
  fn.emit(fn.loop(y.size, (i) => [store(m, y.dtype, byteAt(ctx, y, i.get()), constant(m, y.dtype, 0), y.addr)]));
  fn.emit(fn.nest([N, C, ...g.block, ...g.counts], (idx) => {
    const [n, c] = idx;
    const kb = idx.slice(2, 2 + g.block.length);
    const l = idx.slice(2 + g.block.length);
    const src = m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(n.get(), m.i32.const(C)), c.get()), m.i32.const(per)),
      fn.linear(kb, stridesOf(g.block))), m.i32.const(L)), fn.linear(l, stridesOf(g.counts)));
    return [
      ...pos.map((p, a) => p.set(m.i32.add(m.i32.sub(m.i32.mul(l[a].get(), m.i32.const(g.strides[a])), m.i32.const(g.padBegin[a])),
        m.i32.mul(kb[a].get(), m.i32.const(g.dilations[a]))))),
      m.if(allInside(ctx, pos, g.image), fn.block([
        at.set(byteAt(ctx, y, m.i32.add(m.i32.add(m.i32.mul(n.get(), m.i32.const(ys[0])), m.i32.mul(c.get(), m.i32.const(ys[1]))), fn.linear(pos, ys.slice(2))))),
        store(m, y.dtype, at.get(), add(load(m, y.dtype, at.get(), y.addr), load(m, x.dtype, byteAt(ctx, x, src), x.addr)), y.addr),
      ])),
    ];
  }));
});

export const KERNELS = table.families;
