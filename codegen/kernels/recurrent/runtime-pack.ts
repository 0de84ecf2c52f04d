// "packed-runtime": W, R, B and P packed into scratch at the start of each run, in the layout
// layout.ts gives them at compile time (packB panels of the cell's gate columns, zero padding),
// for layers whose weights are graph inputs. A table of the gate columns' ONNX rows (a kernel
// constant; -1 for padding) drives every copy. Costs one pass over the weights per run.
import binaryen from "binaryen";
import type { Expr, Fn } from "../../fn.js";
import type { KernelCtx, TensorRef } from "../kernel.js";
import { weightBytes, type PackedPlan } from "./plan.js";

/** Byte addresses of the packed weights (absent: the node has no B, no P, or no Rb_h use). */
export interface PackedWeights {
  w: number;
  /** segment s's panels of R, direction 0; direction 1's follow */
  r: (s: number) => number;
  bias?: number;
  rbh?: number;
  peep?: number;
}

/**
 * For gate columns c in [0, n) (table entries from `first`): when the column has a source row e,
 * copy K floats from src(e) to the packed column `col0 + c` of panels nr wide (float k of the
 * column at (panel * K + k) * nr + c % nr). Padding columns stay as the zero fill left them.
 */
function packColumns(fn: Fn, table: number, first: number, n: number, col0: number, nr: number, K: number, dst: number, src: (e: Expr) => Expr): Expr {
  const m = fn.m;
  const [e, to, from, col] = [fn.local(binaryen.i32), fn.local(binaryen.i32), fn.local(binaryen.i32), fn.local(binaryen.i32)];
  return fn.loop(n, (c) => [
    e.set(m.i32.load(table + 4 * first, 4, m.i32.shl(c.get(), m.i32.const(2)))),
    m.if(m.i32.ge_s(e.get(), m.i32.const(0)), fn.block([
      col.set(m.i32.add(c.get(), m.i32.const(col0))),
      to.set(m.i32.add(m.i32.const(dst), m.i32.shl(m.i32.add(m.i32.mul(m.i32.div_u(col.get(), m.i32.const(nr)), m.i32.const(K * nr)), m.i32.rem_u(col.get(), m.i32.const(nr))), m.i32.const(2)))),
      from.set(src(e.get())),
      fn.loop(K, (k) => [m.f32.store(0, 4, m.i32.add(to.get(), m.i32.mul(k.get(), m.i32.const(4 * nr))), m.f32.load(0, 4, m.i32.add(from.get(), m.i32.shl(k.get(), m.i32.const(2)))))]),
    ])),
  ]);
}

/** Code that fills `at` from the layer's W, R, B and P inputs; table is the column table's address. */
export function emitRuntimePacking(ctx: KernelCtx, p: PackedPlan, table: number, at: PackedWeights): Expr[] {
  const { m, fn } = ctx;
  const { geo: g, lay } = p;
  const GH = g.gates * g.hidden, H = g.hidden;
  const wb = weightBytes(p);
  const total = wb.w + g.dirs * wb.r.reduce((a, b) => a + b, 0) + wb.bias + wb.rbh + wb.peep;
  const rowAt = (t: TensorRef, row: Expr, K: number) => m.i32.add(m.i32.const(t.addr), m.i32.mul(row, m.i32.const(K * 4)));
  const code: Expr[] = [m.memory.fill(m.i32.const(at.w), m.i32.const(0), m.i32.const(total))];
  const W = ctx.input(1), R = ctx.input(2), B = ctx.inputs[3], P = ctx.inputs[7];
  for (let d = 0; d < g.dirs; d++) {
    code.push(packColumns(fn, table, 0, lay.cols, d * lay.cols, 16, g.input, at.w, (e) => rowAt(W, m.i32.add(e, m.i32.const(d * GH)), g.input)));
    lay.segments.forEach((s, k) => {
      code.push(packColumns(fn, table, s.col, s.width, 0, s.gates.length * s.units, H, at.r(k) + d * wb.r[k], (e) => rowAt(R, m.i32.add(e, m.i32.const(d * GH)), H)));
    });
    if (B && at.bias !== undefined) code.push(biasColumns(ctx, p, table, d, B, at.bias));
    if (B && at.rbh !== undefined) code.push(m.memory.copy(m.i32.const(at.rbh + d * lay.hpad * 4), m.i32.const(B.addr + (d * 2 * GH + GH + 2 * H) * 4), m.i32.const(H * 4)));
    for (let n = 0; P && at.peep !== undefined && n < 3; n++) {
      code.push(m.memory.copy(m.i32.const(at.peep + (d * 3 + n) * lay.hpad * 4), m.i32.const(P.addr + (d * 3 * H + n * H) * 4), m.i32.const(H * 4)));
    }
  }
  return code;
}

/** The projection's bias of direction d: Wb + Rb per gate column (Wb alone for GRU's h gate with linear_before_reset). */
function biasColumns(ctx: KernelCtx, p: PackedPlan, table: number, d: number, B: TensorRef, dst: number): Expr {
  const { m, fn } = ctx;
  const { geo: g, lay } = p;
  const GH = g.gates * g.hidden;
  const e = fn.local(binaryen.i32);
  const wb = () => m.f32.load(B.addr + d * 2 * GH * 4, 4, m.i32.shl(e.get(), m.i32.const(2)));
  const rb = () => m.f32.load(B.addr + (d * 2 * GH + GH) * 4, 4, m.i32.shl(e.get(), m.i32.const(2)));
  return fn.loop(lay.cols, (c) => [
    e.set(m.i32.load(table, 4, m.i32.shl(c.get(), m.i32.const(2)))),
    m.if(m.i32.ge_s(e.get(), m.i32.const(0)), m.f32.store(dst + d * lay.cols * 4, 4, m.i32.shl(c.get(), m.i32.const(2)),
      g.linearBeforeReset ? m.f32.add(wb(), m.select(m.i32.ge_s(e.get(), m.i32.const(2 * g.hidden)), m.f32.const(0), rb())) : m.f32.add(wb(), rb()))),
  ]);
}
