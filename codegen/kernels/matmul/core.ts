// The matrix-multiply core shared by MatMul, Gemm and 1x1 Conv: C[M,N] = alpha * A[M,K] B[K,N]
// (+ beta * bias), with every size and stride a compile-time constant. float32 runs a register-blocked
// f32x4 microkernel (4 rows x 8 columns of accumulators, A splatted, B loaded as v128) with 4-wide
// and scalar tails; other dtypes run a plain scalar loop in their compute type.
import binaryen from "binaryen";
import type { DTypeName } from "../../../runtime/dtypes.js";
import { broadcastStrides, stridesOf, type Expr, type Fn, type Local } from "../../fn.js";
import { constant, load, store, wasmType } from "../../memory.js";
import { madd } from "./gemm-tile.js";
import type { Epilogue } from "../kernel.js";

/** A strided 2-D view: element (r, c) at byte addr + base + 4*(r*rs + c*cs) (elements of dtype). */
export interface Operand {
  addr: number;
  /** runtime byte offset (e.g. of the batch), added to addr */
  base?: Local;
  rs: number;
  cs: number;
}

export interface GemmSpec {
  dtype: DTypeName;
  M: number;
  N: number;
  K: number;
  a: Operand;
  b: Operand;
  c: Operand;
  alpha?: number;
  /** added to the product: beta * bias(r, c) */
  bias?: Operand & { dtype: DTypeName; beta: number };
  /** applied to every finished value as it is stored (fused activation / residual; float32) */
  post?: Epilogue;
}

const BYTES: Partial<Record<DTypeName, number>> = { float32: 4, float64: 8, float16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8 };

/** Code for the whole product. */
export function gemm(fn: Fn, spec: GemmSpec): Expr[] {
  if (spec.M === 0 || spec.N === 0) return [];
  if (spec.dtype === "float32" && spec.c.cs === 1) {
    if (spec.b.cs === 1) return gemmF32(fn, spec);
    if (spec.a.cs === 1 && spec.b.rs === 1 && spec.K >= 4) return gemmDotF32(fn, spec);
  }
  return gemmScalar(fn, spec);
}

/** a row or column index: a loop counter or a constant */
type Idx = Local | number;

function ptr(m: binaryen.Module, o: Operand, bytes: number, r: Idx, c: Idx): Expr {
  const term = (e: Idx, s: number): Expr | undefined => {
    if (s === 0) return undefined;
    if (typeof e === "number") return e * s === 0 ? undefined : m.i32.const(e * s * bytes);
    return m.i32.mul(e.get(), m.i32.const(s * bytes));
  };
  const parts = [o.base?.get(), term(r, o.rs), term(c, o.cs)].filter((x): x is Expr => x !== undefined);
  return parts.length === 0 ? m.i32.const(0) : parts.reduce((x, y) => m.i32.add(x, y));
}

type Arith = { add(a: Expr, b: Expr): Expr; mul(a: Expr, b: Expr): Expr };

function arith(m: binaryen.Module, dt: DTypeName): Arith {
  const t = wasmType(dt);
  return t === binaryen.f32 ? m.f32 : t === binaryen.f64 ? m.f64 : t === binaryen.i64 ? m.i64 : m.i32;
}

/** alpha * acc + beta * bias, in the compute type */
function epilogue(fn: Fn, spec: GemmSpec, acc: Expr, r: Idx, c: Idx): Expr {
  const m = fn.m;
  const ar = arith(m, spec.dtype);
  const alpha = spec.alpha ?? 1;
  let v = alpha === 1 ? acc : ar.mul(acc, constant(m, spec.dtype, alpha));
  const bias = spec.bias;
  if (bias && bias.beta !== 0) {
    let bv = load(m, bias.dtype, ptr(m, bias, BYTES[bias.dtype]!, r, c), bias.addr);
    if (bias.beta !== 1) bv = ar.mul(bv, constant(m, spec.dtype, bias.beta));
    v = ar.add(v, bv);
  }
  return v;
}

/** the fused epilogue of one scalar value stored at ptr() + offset */
function post(spec: GemmSpec, v: Expr, at: () => Expr, offset: number): Expr {
  return spec.post ? spec.post.scalar(v, at, offset) : v;
}

function gemmScalar(fn: Fn, spec: GemmSpec): Expr[] {
  const m = fn.m;
  const { dtype: dt, a, b, c } = spec;
  const bytes = BYTES[dt];
  if (!bytes) throw new Error(`gemm: no scalar path for ${dt}`);
  const ar = arith(m, dt);
  const acc = fn.local(wasmType(dt));
  return [fn.nest([spec.M, spec.N], ([i, j]) => [
    acc.set(constant(m, dt, 0)),
    fn.loop(spec.K, (k) => [
      acc.set(ar.add(acc.get(), ar.mul(
        load(m, dt, ptr(m, a, bytes, i, k), a.addr),
        load(m, dt, ptr(m, b, bytes, k, j), b.addr)))),
    ]),
    store(m, dt, ptr(m, c, bytes, i, j), post(spec, epilogue(fn, spec, acc.get(), i, j), () => ptr(m, c, bytes, i, j), c.addr), c.addr),
  ])];
}

/**
 * B read along K (transposed B): each output is a dot product of two contiguous rows, f32x4 over
 * K; up to 4 columns at once share each load of the A row.
 */
function gemmDotF32(fn: Fn, spec: GemmSpec): Expr[] {
  const m = fn.m;
  const { a, b, c, K, N } = spec;
  const K4 = K - (K % 4);
  const N4 = N - (N % 4);
  const pa = fn.local(binaryen.i32), pb = fn.local(binaryen.i32), av = fn.local(binaryen.v128);
  const sum = fn.local(binaryen.f32), col = fn.local(binaryen.i32);
  const acc = Array.from({ length: 4 }, () => fn.local(binaryen.v128));
  /** dot products of row i with B rows j .. j+J-1 */
  const block = (i: Local, j: Local, J: number): Expr[] => {
    const bRow = (t: number) => b.addr + 4 * t * b.cs;
    const code: Expr[] = [
      pa.set(ptr(m, a, 4, i, 0)),
      pb.set(ptr(m, b, 4, 0, j)),
      ...acc.slice(0, J).map((l) => l.set(m.v128.const(new Array(16).fill(0)))),
      fn.loop(K4, () => [
        av.set(m.v128.load(a.addr, 4, pa.get())),
        ...acc.slice(0, J).map((l, t) => l.set(madd(m, av.get(), m.v128.load(bRow(t), 4, pb.get()), l.get()))),
        pa.set(m.i32.add(pa.get(), m.i32.const(16))),
        pb.set(m.i32.add(pb.get(), m.i32.const(16))),
      ], { step: 4 }),
    ];
    for (let t = 0; t < J; t++) {
      const lane = (l: number) => m.f32x4.extract_lane(acc[t].get(), l);
      code.push(sum.set(m.f32.add(m.f32.add(lane(0), lane(1)), m.f32.add(lane(2), lane(3)))));
      for (let r = 0; r < K % 4; r++) {
        code.push(sum.set(m.f32.add(sum.get(), m.f32.mul(m.f32.load(a.addr + 4 * r, 4, pa.get()), m.f32.load(bRow(t) + 4 * r, 4, pb.get())))));
      }
      code.push(col.set(m.i32.add(j.get(), m.i32.const(t))), m.f32.store(c.addr, 4, ptr(m, c, 4, i, col),
        post(spec, epilogue(fn, spec, sum.get(), i, col), () => ptr(m, c, 4, i, col), c.addr)));
    }
    return code;
  };
  return [fn.loop(spec.M, (i) => [
    fn.loop(N4, (j) => block(i, j, 4), { step: 4 }),
    fn.loop(N, (j) => block(i, j, 1), { start: N4 }),
  ])];
}

/**
 * One R x W tile at rows i.., columns j..: W is 8 or 4 (v128 accumulators) or 1 (scalar).
 * Pointers walk K; every row/column offset inside the tile is a constant memarg offset.
 */
function tile(fn: Fn, spec: GemmSpec, i: Idx, j: Idx, R: number, W: number): Expr[] {
  const m = fn.m;
  const { a, b, c, K } = spec;
  const vec = W >= 4;
  const V = vec ? W / 4 : 1;
  const acc = Array.from({ length: R }, () => Array.from({ length: V }, () => fn.local(vec ? binaryen.v128 : binaryen.f32)));
  const pa = fn.local(binaryen.i32), pb = fn.local(binaryen.i32);
  const bv = Array.from({ length: V }, () => fn.local(vec ? binaryen.v128 : binaryen.f32));
  const zero = () => (vec ? m.v128.const(new Array(16).fill(0)) : m.f32.const(0));
  const body: Expr[] = [];
  for (let v = 0; v < V; v++) body.push(bv[v].set(vec ? m.v128.load(b.addr + 16 * v, 4, pb.get()) : m.f32.load(b.addr, 4, pb.get())));
  for (let r = 0; r < R; r++) {
    const av = m.f32.load(a.addr + 4 * r * a.rs, 4, pa.get());
    const as = fn.local(vec ? binaryen.v128 : binaryen.f32);
    body.push(as.set(vec ? m.f32x4.splat(av) : av));
    for (let v = 0; v < V; v++) {
      body.push(acc[r][v].set(vec ? madd(m, as.get(), bv[v].get(), acc[r][v].get())
        : m.f32.add(acc[r][v].get(), m.f32.mul(as.get(), bv[v].get()))));
    }
  }
  body.push(pa.set(m.i32.add(pa.get(), m.i32.const(4 * a.cs))), pb.set(m.i32.add(pb.get(), m.i32.const(4 * b.rs))));
  const out: Expr[] = [
    ...acc.flat().map((l) => l.set(zero())),
    pa.set(ptr(m, a, 4, i, 0)),
    pb.set(ptr(m, b, 4, 0, j)),
    fn.loop(K, () => body),
  ];
  const pc = fn.local(binaryen.i32);
  out.push(pc.set(ptr(m, c, 4, i, j)));
  const alpha = spec.alpha ?? 1;
  const bias = spec.bias && spec.bias.beta !== 0 ? spec.bias : undefined;
  const pbias = fn.local(binaryen.i32);
  if (bias) out.push(pbias.set(ptr(m, bias, 4, i, j)));
  for (let r = 0; r < R; r++) {
    for (let v = 0; v < V; v++) {
      let x = acc[r][v].get();
      if (vec) {
        if (alpha !== 1) x = m.f32x4.mul(x, m.f32x4.splat(m.f32.const(alpha)));
        if (bias) {
          const off = bias.addr + 4 * (r * bias.rs + 4 * v * bias.cs);
          let bx = bias.cs === 1 ? m.v128.load(off, 4, pbias.get()) : m.f32x4.splat(m.f32.load(off, 4, pbias.get()));
          if (bias.beta !== 1) bx = m.f32x4.mul(bx, m.f32x4.splat(m.f32.const(bias.beta)));
          x = m.f32x4.add(x, bx);
        }
        const off = c.addr + 4 * (r * c.rs + 4 * v);
        out.push(m.v128.store(off, 4, pc.get(), spec.post ? spec.post.vec(x, pc.get, off) : x));
      } else {
        if (alpha !== 1) x = m.f32.mul(x, m.f32.const(alpha));
        if (bias) {
          let bx = m.f32.load(bias.addr + 4 * r * bias.rs, 4, pbias.get());
          if (bias.beta !== 1) bx = m.f32.mul(bx, m.f32.const(bias.beta));
          x = m.f32.add(x, bx);
        }
        out.push(m.f32.store(c.addr + 4 * r * c.rs, 4, pc.get(), post(spec, x, pc.get, c.addr + 4 * r * c.rs)));
      }
    }
  }
  return out;
}

/** B panel size (bytes) that column blocking keeps in cache while every row of A passes over it */
const PANEL_BYTES = 128 * 1024;

function gemmF32(fn: Fn, spec: GemmSpec): Expr[] {
  if (spec.bias && spec.bias.dtype !== "float32") throw new Error("gemm: float32 product needs a float32 bias");
  const m = fn.m;
  const { M, N, K } = spec;
  const M4 = M - (M % 4);
  const rows = (R: (i: Idx, R: number) => Expr[]): Expr[] => [
    fn.loop(M4, (i) => R(i, 4), { step: 4 }),
    ...(M % 4 ? R(M4, M % 4) : []),
  ];
  const N8 = N - (N % 8);
  const Nb = Math.max(8, Math.floor(PANEL_BYTES / (4 * K) / 8) * 8);
  const blocked = N8 > Nb ? N8 - (N8 % Nb) : 0;
  const code: Expr[] = [];
  if (blocked) {
    const jj = fn.local(binaryen.i32);
    code.push(fn.loop(blocked, (jb) => rows((i, R) => [
      fn.loop(Nb, (j) => [jj.set(m.i32.add(jb.get(), j.get())), ...tile(fn, spec, i, jj, R, 8)], { step: 8 }),
    ]), { step: Nb }));
  }
  const N4 = N % 8 >= 4 ? N8 + 4 : N8;
  code.push(...rows((i, R) => [
    fn.loop(N8, (j) => tile(fn, spec, i, j, R, 8), { start: blocked, step: 8 }),
    ...(N4 > N8 ? tile(fn, spec, i, N8, R, 4) : []),
    fn.loop(N, (j) => tile(fn, spec, i, j, R, 1), { start: N4 }),
  ]));
  return code;
}

/**
 * A batched product's loop over C's leading dims (`batch`): before each batch's `body` runs, the
 * locals it is given hold the byte offsets of that batch's A, B and C matrices (a batch dim A or B
 * broadcasts has stride 0). aDims/bDims are the operands' dims, their last two the matrix.
 */
export function batchLoop(fn: Fn, batch: number[], aDims: number[], bDims: number[], bytes: { a: number; b: number; c: number },
  body: (base: { a: Local; b: Local; c: Local }) => Expr[], leading?: () => Expr): Expr {
  const strides = (dims: number[], matrix: number) => broadcastStrides(dims.slice(0, -2), batch).map((s) => s * matrix);
  const aStrides = strides(aDims, bytes.a), bStrides = strides(bDims, bytes.b), cStrides = stridesOf(batch).map((s) => s * bytes.c);
  const base = { a: fn.local(binaryen.i32), b: fn.local(binaryen.i32), c: fn.local(binaryen.i32) };
  const code = body(base);
  // a call per matrix: optimized code early in the first run (Fn.outline)
  // `leading`: this run's count of the leading batch dim (symbolic), the strides the bounds'
  return fn.nest(leading ? [leading, ...batch.slice(1)] : batch, (idx) => [
    base.a.set(fn.linear(idx, aStrides)),
    base.b.set(fn.linear(idx, bStrides)),
    base.c.set(fn.linear(idx, cStrides)),
    ...code,
  ], { outline: true });
}
