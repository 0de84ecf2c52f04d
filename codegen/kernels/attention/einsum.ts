// Einsum lowered to one loop nest from its plan (compiler/ops/attention-einsum.ts): output labels
// outside, summed labels inside, every stride a constant. float32 contractions whose last output
// label runs contiguously in the output (and contiguously or not at all in each operand) take the
// row form instead: the output row is zeroed, then for every summed index it gains the operands'
// product four lanes at a time, the operands constant along the row splatted once (batched
// matmul "bij,bjk->bik" becomes splat(x) * y rows).
import binaryen from "binaryen";
import { dtype as dtypeInfo } from "../../../runtime/dtypes.js";
import { planEinsum, type EinsumPlan } from "../../../compiler/ops/attention-einsum.js";
import type { Expr, Fn, Local, Trips } from "../../fn.js";
import { constant, load, store, wasmType } from "../../memory.js";
import type { KernelCtx, TensorRef } from "../kernel.js";
import { treeSum } from "./lanes.js";
import { gemm } from "../matmul/core.js";

type Arith = { add(a: Expr, b: Expr): Expr; mul(a: Expr, b: Expr): Expr };

export function emitEinsum(ctx: KernelCtx): void {
  const ins = ctx.inputs.map((_, i) => ctx.input(i));
  const y = ctx.output(0);
  const plan = planEinsum(ctx.attrs.string("equation"), ins.map((t) => t.dims), (msg) => ctx.unsupported(msg));
  if (y.size === 0) return;
  // symbolic dims: the scalar loop nest, each varying label this run's extent
  const trips = ctx.symbolic ? labelTrips(ctx, plan, ins, y) : undefined;
  if (trips) return ctx.fn.emit(einsumScalar(ctx.fn, plan, ins, y, trips));
  ctx.fn.emit(einsumGemm(ctx.fn, plan, ins, y) ?? (rowForm(plan, ins, y) ? einsumRows(ctx.fn, plan, ins, y) : einsumScalar(ctx.fn, plan, ins, y)));
}

/**
 * Symbolic dims, in the padded layout (the plan's strides are the bounds'): each label's trips,
 * this run's extent where a dim it indexes varies; undefined where none varies.
 */
function labelTrips(ctx: KernelCtx, plan: EinsumPlan, ins: TensorRef[], y: TensorRef): Trips[] | undefined {
  const trips: Trips[] = [...plan.sizes];
  let varies = false;
  [...ins, y].forEach((t, i) => t.dims.forEach((_, k) => {
    if (ctx.runtimeDim(t, k) === undefined) return;
    const l = i < ins.length ? plan.inputLabels[i][k] : k;
    trips[l] = () => ctx.runtimeDim(t, k)!;
    varies = true;
  }));
  return varies ? trips : undefined;
}

/**
 * Two float32 operands contracted like a batched matrix product, at most one label each for M
 * (first operand and output), N (second operand and output, last in the output) and K (summed,
 * in both): the register-blocked GEMM of matmul/core.ts, looped over the batch labels.
 */
function einsumGemm(fn: Fn, plan: EinsumPlan, ins: TensorRef[], y: TensorRef): Expr | undefined {
  if (ins.length !== 2 || y.dtype !== "float32") return undefined;
  const [sa, sb] = plan.inputStrides;
  const batch: number[] = [], M: number[] = [], N: number[] = [], K: number[] = [];
  for (let l = 0; l < plan.sizes.length; l++) {
    const out = l < plan.outRank, a = sa[l] !== 0, b = sb[l] !== 0;
    if (plan.sizes[l] === 0) return undefined;
    if (out) (a && b ? batch : a ? M : b ? N : batch).push(l);
    else if (plan.sizes[l] === 1) continue;
    else if (a && b) K.push(l);
    else return undefined;
  }
  if (M.length > 1 || N.length > 1 || K.length > 1) return undefined;
  const os = outStrides(plan);
  const [m1, n1, k1] = [M[0], N[0], K[0]];
  if (n1 !== undefined && os[n1] !== 1) return undefined;
  const stride = (st: number[], l: number | undefined) => (l === undefined ? 0 : st[l]);
  const size = (l: number | undefined) => (l === undefined ? 1 : plan.sizes[l]);
  const spec = {
    dtype: y.dtype, M: size(m1), N: size(n1), K: size(k1),
    a: { addr: ins[0].addr, base: fn.local(binaryen.i32), rs: stride(sa, m1), cs: stride(sa, k1) },
    b: { addr: ins[1].addr, base: fn.local(binaryen.i32), rs: stride(sb, k1), cs: stride(sb, n1) },
    c: { addr: y.addr, base: fn.local(binaryen.i32), rs: stride(os, m1), cs: 1 },
  };
  const simd = spec.b.cs === 1 || (spec.a.cs === 1 && spec.b.rs === 1 && spec.K >= 4);
  if (!simd) return undefined;
  const product = gemm(fn, spec);
  const sizes = batch.map((l) => plan.sizes[l]);
  const bytesOf = (st: number[]) => batch.map((l) => st[l] * 4);
  return fn.nest(sizes, (idx) => [
    spec.a.base.set(fn.linear(idx, bytesOf(sa))),
    spec.b.base.set(fn.linear(idx, bytesOf(sb))),
    spec.c.base.set(fn.linear(idx, bytesOf(os))),
    ...product,
  ]);
}

const outStrides = (plan: EinsumPlan) => {
  const s: number[] = [];
  for (let k = plan.outRank - 1, acc = 1; k >= 0; acc *= plan.sizes[k], k--) s[k] = acc;
  return s;
};

function arith(m: binaryen.Module, t: binaryen.Type): Arith {
  return t === binaryen.f32 ? m.f32 : t === binaryen.f64 ? m.f64 : t === binaryen.i64 ? m.i64 : m.i32;
}

/** Element address (bytes, without the tensor's addr) of `strides` at the loop indices. */
function at(fn: Fn, idx: Local[], strides: number[], bytes: number): Expr {
  return fn.linear(idx, strides.map((s) => s * bytes));
}

function einsumScalar(fn: Fn, plan: EinsumPlan, ins: TensorRef[], y: TensorRef, trips: readonly Trips[] = plan.sizes): Expr {
  const m = fn.m;
  const dt = y.dtype;
  const bytes = dtypeInfo(dt).bytes;
  const A = arith(m, wasmType(dt));
  const acc = fn.local(wasmType(dt));
  const os = outStrides(plan);
  const outer = trips.slice(0, plan.outRank);
  return fn.nest(outer, (oi) => [
    acc.set(constant(m, dt, 0)),
    fn.nest(trips.slice(plan.outRank), (ri) => {
      const idx = [...oi, ...ri];
      const prod = ins.map((t, i) => load(m, dt, at(fn, idx, plan.inputStrides[i], bytes), t.addr)).reduce((a, b) => A.mul(a, b));
      return [acc.set(A.add(acc.get(), prod))];
    }),
    store(m, dt, at(fn, oi, os, bytes), acc.get(), y.addr),
  ]);
}

function rowForm(plan: EinsumPlan, ins: TensorRef[], y: TensorRef): boolean {
  const v = plan.outRank - 1;
  return y.dtype === "float32" && v >= 0 && plan.sizes[v] >= 4 && plan.inputStrides.every((s) => s[v] === 0 || s[v] === 1) &&
    plan.inputStrides.some((s) => s[v] === 1) && ins.length > 0;
}

function einsumRows(fn: Fn, plan: EinsumPlan, ins: TensorRef[], y: TensorRef): Expr {
  const m = fn.m;
  const v = plan.outRank - 1;
  const n = plan.sizes[v];
  const n4 = n - (n % 4);
  const os = outStrides(plan);
  const along = ins.map((_, i) => plan.inputStrides[i][v] === 1);
  const yp = fn.local(binaryen.i32);
  const ptrs = ins.map(() => fn.local(binaryen.i32));
  const fixed = fn.local(binaryen.f32);
  const splat = fn.local(binaryen.v128);
  const hasFixed = along.some((a) => !a);
  const mulV = (a: Expr, b: Expr) => m.f32x4.mul(a, b);
  const mulS = (a: Expr, b: Expr) => m.f32.mul(a, b);
  // element (row position k bytes + lane) of the output and of the operands that vary along the row
  const yAt = (k: Expr) => m.i32.add(yp.get(), k);
  const quad = (k: Local) => m.v128.store(y.addr, 4, yAt(k.get()), m.f32x4.add(m.v128.load(y.addr, 4, yAt(k.get())),
    treeSum([...ins.flatMap((t, i) => (along[i] ? [m.v128.load(t.addr, 4, m.i32.add(ptrs[i].get(), k.get()))] : [])),
      ...(hasFixed ? [splat.get()] : [])], mulV)));
  const single = (lane: number) => m.f32.store(y.addr + lane * 4, 4, yp.get(), m.f32.add(m.f32.load(y.addr + lane * 4, 4, yp.get()),
    treeSum([...ins.flatMap((t, i) => (along[i] ? [m.f32.load(t.addr + lane * 4, 4, ptrs[i].get())] : [])),
      ...(hasFixed ? [fixed.get()] : [])], mulS)));
  const strideBytes = (i: number) => [...plan.inputStrides[i].slice(0, v), ...plan.inputStrides[i].slice(plan.outRank)].map((s) => s * 4);
  return fn.nest(plan.sizes.slice(0, v), (oi) => [
    yp.set(at(fn, oi, os.slice(0, v), 4)),
    m.memory.fill(m.i32.add(yp.get(), m.i32.const(y.addr)), m.i32.const(0), m.i32.const(n * 4)),
    fn.nest(plan.sizes.slice(plan.outRank), (ri) => [
      ...ins.map((_, i) => ptrs[i].set(fn.linear([...oi, ...ri], strideBytes(i)))),
      ...(hasFixed ? [
        fixed.set(treeSum(ins.flatMap((t, i) => (along[i] ? [] : [m.f32.load(t.addr, 4, ptrs[i].get())])), mulS)),
        splat.set(m.f32x4.splat(fixed.get())),
      ] : []),
      fn.loop(n4 * 4, (k) => [quad(k)], { step: 16 }),
      // the tail: pointers moved to the row's last n % 4 elements
      ...(n % 4 ? [yp.set(m.i32.add(yp.get(), m.i32.const(n4 * 4))),
        ...ins.flatMap((_, i) => (along[i] ? [ptrs[i].set(m.i32.add(ptrs[i].get(), m.i32.const(n4 * 4)))] : [])),
        ...Array.from({ length: n % 4 }, (_, t) => single(t)),
        yp.set(m.i32.sub(yp.get(), m.i32.const(n4 * 4)))] : []),
    ]),
  ]);
}
