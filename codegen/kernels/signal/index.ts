// Signal operators: CumProd, the window functions and MelWeightMatrix (DFT and STFT live in
// signal/dft.ts). Windows and mel matrices depend only on compile-time values, so their kernels
// compute the table once here and store it; a constant graph folds them away entirely.
import binaryen from "binaryen";
import { dtype } from "../../../runtime/dtypes.js";
import type { Expr } from "../../fn.js";
import { constant, convert, isFloat, load, store, wasmType } from "../../memory.js";
import { emitAlongAxis } from "../movement/indexing.js";
import { requireNumbers } from "./values.js";
import { KernelTable, type KernelCtx, type TensorRef } from "../kernel.js";

const table = new KernelTable();

const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/** Store a table computed at compile time (floats cast to integer outputs truncate, as numpy's astype). */
function storeTable(ctx: KernelCtx, out: TensorRef, values: number[]): void {
  const b = dtype(out.dtype).bytes;
  const cast = isFloat(out.dtype) ? (v: number) => v : (v: number) => (Number.isFinite(v) ? Math.trunc(v) : 0);
  values.forEach((v, i) => ctx.fn.emit(store(ctx.m, out.dtype, ctx.m.i32.const(i * b), constant(ctx.m, out.dtype, cast(v)), out.addr)));
}

/** CumProd along one axis; exclusive shifts by one (a leading 1), reverse runs from the end. */
function cumprodAlong(ctx: KernelCtx, x: TensorRef, out: TensorRef, axis: number): Expr {
  const { m, fn } = ctx;
  const [pre, n, post] = [prod(x.dims.slice(0, axis)), x.dims[axis], prod(x.dims.slice(axis + 1))];
  const dt = x.dtype;
  const b = dtype(dt).bytes;
  const exclusive = ctx.attrs.int("exclusive", 0) === 1;
  const reverse = ctx.attrs.int("reverse", 0) === 1;
  const T = wasmType(dt);
  const acc = fn.local(T);
  const mul = (a: Expr, c: Expr) => (T === binaryen.f32 ? m.f32.mul(a, c) : T === binaryen.f64 ? m.f64.mul(a, c) : T === binaryen.i64 ? m.i64.mul(a, c) : m.i32.mul(a, c));
  return fn.nest([pre, post], ([p, q]) => [
    acc.set(constant(m, dt, 1)),
    fn.loop(n, (t) => {
      const step = reverse ? m.i32.sub(m.i32.const(n - 1), t.get()) : t.get();
      const pos = () => m.i32.mul(m.i32.add(m.i32.add(m.i32.mul(p.get(), m.i32.const(n * post)), q.get()), m.i32.mul(step, m.i32.const(post))), m.i32.const(b));
      const next = acc.set(mul(acc.get(), load(m, dt, pos(), x.addr)));
      const put = store(m, dt, pos(), acc.get(), out.addr);
      return exclusive ? [put, next] : [next, put];
    }),
  ]);
}

table.add("CumProd", (ctx) => {
  const [x, axisT, out] = [ctx.input(0), ctx.input(1), ctx.output(0)];
  emitAlongAxis(ctx, axisT, x.dims.length, (axis) => cumprodAlong(ctx, x, out, axis));
});

/** Generalized cosine windows: sum_k a_k cos(2 pi k n / N) with alternating signs in the table. */
const WINDOWS: Record<string, number[]> = {
  HannWindow: [0.5, -0.5],
  HammingWindow: [25 / 46, -21 / 46],
  BlackmanWindow: [0.42, -0.5, 0.08],
};

table.add(Object.keys(WINDOWS), (ctx) => {
  const out = ctx.output(0);
  const coeffs = WINDOWS[ctx.node.op];
  const size = out.dims[0];
  const N = ctx.attrs.int("periodic", 1) === 1 ? size : size - 1;
  const w = Array.from({ length: size }, (_, n) => coeffs.reduce((s, a, k) => s + a * Math.cos((2 * Math.PI * k * n) / N), 0));
  storeTable(ctx, out, w);
});

const hzToMel = (hz: number) => 2595 * Math.log10(1 + hz / 700);
const melToHz = (mel: number) => 700 * (10 ** (mel / 2595) - 1);

/** Triangular filters between mel-spaced edges, as the ONNX reference builds them. */
function melMatrix(bins: number, dft: number, rate: number, lowHz: number, highHz: number): number[] {
  const spec = Math.floor(dft / 2) + 1;
  const [lo, hi] = [hzToMel(lowHz), hzToMel(highHz)];
  // the reference (and onnxruntime) divide the mel range into bins + 2 steps, so the top edge is never reached
  const step = (hi - lo) / (bins + 2);
  const edges = Array.from({ length: bins + 2 }, (_, i) => Math.trunc(Math.floor(((dft + 1) * melToHz(i * step + lo)) / rate)));
  const out = new Array<number>(spec * bins).fill(0);
  const put = (j: number, i: number, v: number) => {
    if (j >= 0 && j < spec) out[j * bins + i] = v;
  };
  for (let i = 0; i < bins; i++) {
    const [left, center, right] = [edges[i], edges[i + 1], edges[i + 2]];
    if (center === left) put(center, i, 1);
    else for (let j = left; j <= center; j++) put(j, i, (j - left) / (center - left));
    if (right > center) for (let j = center; j < right; j++) put(j, i, (right - j) / (right - center));
  }
  return out;
}

table.add("MelWeightMatrix", (ctx) => {
  const [bins, dft, rate, lo, hi] = [0, 1, 2, 3, 4].map((i) => requireNumbers(ctx, i)[0]);
  if (rate <= 0) ctx.unsupported(`sample_rate ${rate} must be positive`);
  storeTable(ctx, ctx.output(0), melMatrix(bins, dft, rate, lo, hi));
});

export const KERNELS = table.families;
