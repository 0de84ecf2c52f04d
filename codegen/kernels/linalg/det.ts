// Det: each matrix's determinant by LU factorization with partial pivoting, in float64 whatever
// the input type (a float32 matrix's determinant is then rounded once, where float32 elimination
// loses digits on ill-conditioned matrices). The matrix is copied into scratch as float64; column
// k's pivot is its largest magnitude at or below the diagonal (rows swapped from column k on,
// each swap negating the sign), and the rows below are eliminated. A zero pivot (the column is
// zero there: a singular matrix) is multiplied in and its elimination skipped, as LAPACK's getrf
// and Eigen's partial-pivoting LU do, so a singular matrix gives 0 and a NaN gives NaN. A 0x0
// matrix's determinant is 1. The elimination runs two columns per f64x2 step.
import binaryen from "binaryen";
import { dtype } from "../../../runtime/dtypes.js";
import type { Expr, Local } from "../../fn.js";
import { load, store, wasmType } from "../../memory.js";
import { KernelTable, type KernelCtx } from "../kernel.js";

const table = new KernelTable();

/** scratch for one matrix in float64 */
const scratchOf = (ctx: KernelCtx) => {
  const n = ctx.input(0).dims.at(-1)!;
  return n * n * 8;
};

function emitDet(ctx: KernelCtx): void {
  const { m, fn } = ctx;
  const [x, y] = [ctx.input(0), ctx.output(0)];
  if (ctx.symbolic?.dims.get(x.name)) ctx.unsupported("Det over symbolic dims has no kernel yet; pin the dims (--shape NAME=N)");
  const n = x.dims.at(-1)!;
  const wide = wasmType(x.dtype) === binaryen.f64;
  const [xb, yb] = [dtype(x.dtype).bytes, dtype(y.dtype).bytes];
  const a = ctx.scratchAddr;
  const [det, best, v, f, piv] = [0, 1, 2, 3, 4].map(() => fn.local(binaryen.f64));
  const [p, row, prow] = [0, 1, 2].map(() => fn.local(binaryen.i32));
  const fv = fn.local(binaryen.v128);
  const one = () => m.i32.const(1);
  // element (i, j) of the scratch matrix; rows as byte offsets (row: i * n * 8)
  const at = (r: Expr, j: Expr) => m.i32.add(r, m.i32.shl(j, m.i32.const(3)));
  const get = (r: Expr, j: Expr) => m.f64.load(a, 8, at(r, j));
  const put = (r: Expr, j: Expr, val: Expr) => m.f64.store(a, 8, at(r, j), val);
  const rowOf = (i: Expr) => m.i32.mul(i, m.i32.const(n * 8));
  const after = (k: Local, body: (i: Local) => Expr[]) => fn.loopDyn(m.i32.add(k.get(), one()), m.i32.const(n), body);

  const column = (k: Local): Expr[] => [
    // the pivot: the largest magnitude at or below the diagonal (the first of equals)
    p.set(k.get()),
    best.set(m.f64.abs(get(rowOf(k.get()), k.get()))),
    after(k, (i) => [
      v.set(m.f64.abs(get(rowOf(i.get()), k.get()))),
      m.if(m.f64.gt(v.get(), best.get()), m.block(null, [best.set(v.get()), p.set(i.get())])),
    ]),
    row.set(rowOf(k.get())),
    m.if(m.i32.ne(p.get(), k.get()), m.block(null, [
      prow.set(rowOf(p.get())),
      fn.loopDyn(k.get(), m.i32.const(n), (j) => [
        v.set(get(row.get(), j.get())),
        put(row.get(), j.get(), get(prow.get(), j.get())),
        put(prow.get(), j.get(), v.get()),
      ]),
      det.set(m.f64.neg(det.get())),
    ])),
    piv.set(get(row.get(), k.get())),
    det.set(m.f64.mul(det.get(), piv.get())),
    m.if(m.f64.ne(piv.get(), m.f64.const(0)), after(k, (i) => [
      prow.set(rowOf(i.get())),
      f.set(m.f64.div(get(prow.get(), k.get()), piv.get())),
      fv.set(m.f64x2.splat(f.get())),
      // row i -= f * row k from column k + 1: two columns per f64x2 step (the same roundings as
      // one at a time), then the last one when their count is odd
      fn.loopDyn(m.i32.add(k.get(), one()), m.i32.const(n - 1), (j) => [
        m.v128.store(a, 8, at(prow.get(), j.get()), m.f64x2.sub(m.v128.load(a, 8, at(prow.get(), j.get())), m.f64x2.mul(fv.get(), m.v128.load(a, 8, at(row.get(), j.get()))))),
      ], 2),
      m.if(m.i32.and(m.i32.sub(m.i32.const(n - 1), k.get()), one()),
        put(prow.get(), m.i32.const(n - 1), m.f64.sub(get(prow.get(), m.i32.const(n - 1)), m.f64.mul(f.get(), get(row.get(), m.i32.const(n - 1)))))),
    ])),
  ];

  fn.emit(fn.loop(y.size, (b) => {
    const elem = (e: Local) => load(m, x.dtype, m.i32.mul(m.i32.add(m.i32.mul(b.get(), m.i32.const(n * n)), e.get()), m.i32.const(xb)), x.addr);
    return [
      fn.loop(n * n, (e) => [m.f64.store(a, 8, m.i32.shl(e.get(), m.i32.const(3)), wide ? elem(e) : m.f64.promote(elem(e)))]),
      det.set(m.f64.const(1)),
      fn.loop(n, column),
      store(m, y.dtype, m.i32.mul(b.get(), m.i32.const(yb)), wide ? det.get() : m.f32.demote(det.get()), y.addr),
    ];
  }));
}

table.add("Det", emitDet, { prepare: (ctx) => ({ scratchBytes: scratchOf(ctx) }) });

export const KERNELS = table.families;
