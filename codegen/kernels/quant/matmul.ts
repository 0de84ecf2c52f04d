// MatMulInteger and QLinearMatMul: an exact i32 dot product of zero-point-shifted 8-bit values
// with numpy batch broadcasting; QLinearMatMul then requantizes each sum to the output type.
import binaryen from "binaryen";
import type { Expr, Local } from "../../fn.js";
import { broadcastStrides, stridesOf } from "../../fn.js";
import { scalarOps } from "../../math/ops.js";
import { store } from "../../memory.js";
import { loadLanes } from "../loops.js";
import { byteAt, elem, quantize, scaleAt, zeroPoint } from "./common.js";
import { KernelTable, type KernelCtx, type TensorRef } from "../kernel.js";

const table = new KernelTable();

interface Operands {
  a: TensorRef;
  b: TensorRef;
  /** input slots of the zero points (per tensor, per row of a, per column of b) */
  aZp: number;
  bZp: number;
}

/** The epilogue turns one i32 sum into the stored value; r is the row local, c the column (an i32 expression). */
type Epilogue = (acc: Expr, r: Local, c: () => Expr) => Expr;

/**
 * out[..., m, n] = epilogue(sum_k (a[m,k] - aZp) * (b[k,n] - bZp), m, n). Columns go four at a
 * time in i32x4 lanes (b's bytes widened on load, a's value splatted); a scalar tail finishes.
 */
function emitIntMatMul(ctx: KernelCtx, ops: Operands, epilogue: Epilogue): void {
  const { m, fn } = ctx;
  const { a, b } = ops;
  const out = ctx.output(0);
  const A = a.dims.length === 1 ? [1, a.dims[0]] : a.dims;
  const B = b.dims.length === 1 ? [b.dims[0], 1] : b.dims;
  const [M, K, N] = [A[A.length - 2], A[A.length - 1], B[B.length - 1]];
  const batch = out.dims.slice(0, out.dims.length - (a.dims.length > 1 ? 1 : 0) - (b.dims.length > 1 ? 1 : 0));
  const aStr = broadcastStrides(A.slice(0, -2), batch).map((s) => s * M * K);
  const bStr = broadcastStrides(B.slice(0, -2), batch).map((s) => s * K * N);
  const N4 = N - (N % 4);
  const acc = fn.local(binaryen.i32);
  const vacc = fn.local(binaryen.v128);
  const [aBase, bBase, oBase] = [fn.local(binaryen.i32), fn.local(binaryen.i32), fn.local(binaryen.i32)];
  const aAt = (k: Local) => m.i32.add(aBase.get(), k.get());
  const bAt = (k: Local, c: Expr) => m.i32.add(bBase.get(), m.i32.add(m.i32.mul(k.get(), m.i32.const(N)), c));
  const put = (r: Local, c: () => Expr, v: Expr) => store(m, out.dtype, byteAt(ctx, out, m.i32.add(oBase.get(), c())), epilogue(v, r, c), out.addr);
  const bZp = ctx.inputs[ops.bZp];
  const bZpLanes = (c: Local): Expr => !bZp ? m.v128.const(new Array(16).fill(0))
    : bZp.size === 1 ? m.i32x4.splat(zeroPoint(ctx, ops.bZp, m.i32.const(0)))
    : loadLanes(m, bZp.dtype, c.get(), bZp.addr);
  fn.emit(fn.nest([...batch, M], (idx) => {
    const bi = idx.slice(0, batch.length);
    const r = idx[batch.length];
    const aZp = () => zeroPoint(ctx, ops.aZp, r.get());
    const vector = fn.loop(N4, (c) => [
      vacc.set(m.v128.const(new Array(16).fill(0))),
      fn.loop(K, (k) => [vacc.set(m.i32x4.add(vacc.get(), m.i32x4.mul(
        m.i32x4.splat(m.i32.sub(elem(ctx, a, aAt(k)), aZp())),
        m.i32x4.sub(loadLanes(m, b.dtype, byteAt(ctx, b, bAt(k, c.get())), b.addr), bZpLanes(c)))))]),
      ...[0, 1, 2, 3].map((l) => put(r, () => m.i32.add(c.get(), m.i32.const(l)), m.i32x4.extract_lane(vacc.get(), l))),
    ], { step: 4 });
    const tail = fn.loop(N, (c) => [
      acc.set(m.i32.const(0)),
      fn.loop(K, (k) => [acc.set(m.i32.add(acc.get(), m.i32.mul(
        m.i32.sub(elem(ctx, a, aAt(k)), aZp()),
        m.i32.sub(elem(ctx, b, bAt(k, c.get())), zeroPoint(ctx, ops.bZp, c.get())))))]),
      put(r, c.get, acc.get()),
    ], { start: N4 });
    return [
      aBase.set(m.i32.add(fn.linear(bi, aStr), m.i32.mul(r.get(), m.i32.const(K)))),
      bBase.set(fn.linear(bi, bStr)),
      oBase.set(m.i32.add(fn.linear(bi, stridesOf([...batch, M, N]).slice(0, batch.length)), m.i32.mul(r.get(), m.i32.const(N)))),
      vector, tail,
    ];
  }));
}

table.add("MatMulInteger", (ctx) => {
  emitIntMatMul(ctx, { a: ctx.input(0), b: ctx.input(1), aZp: 2, bZp: 3 }, (acc) => acc);
});

// sum * (a_scale * b_scale / y_scale), rounded half to even, plus y_zero_point, saturated
table.add("QLinearMatMul", (ctx) => {
  const S = scalarOps(ctx.m, "f32");
  const out = ctx.output(0);
  emitIntMatMul(ctx, { a: ctx.input(0), b: ctx.input(3), aZp: 2, bZp: 5 }, (acc, r, c) => {
    const mult = S.div(S.mul(scaleAt(ctx, ctx.input(1), r.get(), "f32"), scaleAt(ctx, ctx.input(4), c(), "f32")), scaleAt(ctx, ctx.input(6), ctx.m.i32.const(0), "f32"));
    return quantize(ctx, "f32", S.mul(ctx.m.f32.convert_s.i32(acc), mult), zeroPoint(ctx, 7, ctx.m.i32.const(0)), out.dtype);
  });
});

export const KERNELS = table.families;
