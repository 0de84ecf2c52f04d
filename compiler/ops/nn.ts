// Shape rules for MatMul, Gemm, convolutions, pooling and Resize.
import type { DTypeName } from "../../runtime/dtypes.js";
import { broadcastShapes, OpTable, type ShapeCtx } from "./registry.js";

const ops = new OpTable();

const count = (dims: readonly number[]) => dims.reduce((a, d) => a * d, 1);

const MATMUL_DTYPES: DTypeName[] = ["float32", "float64", "float16", "int32", "int64", "uint32", "uint64"];

/** numpy matmul: 1-D operands gain (then lose) a unit dim, batch dims broadcast. */
export function matmulShape(ctx: ShapeCtx, a: number[], b: number[]): number[] {
  if (a.length === 0 || b.length === 0) ctx.invalid("MatMul operands must have rank >= 1");
  const A = a.length === 1 ? [1, a[0]] : a;
  const B = b.length === 1 ? [b[0], 1] : b;
  const K = A[A.length - 1];
  if (B[B.length - 2] !== K) ctx.fail(`MatMul inner dims differ: ${K} vs ${B[B.length - 2]}`);
  const batch = broadcastShapes(A.slice(0, -2), B.slice(0, -2));
  if (!batch) ctx.fail("MatMul batch dims do not broadcast");
  const out = [...batch];
  if (a.length > 1) out.push(A[A.length - 2]);
  if (b.length > 1) out.push(B[B.length - 1]);
  return out;
}

ops.define("MatMul", (ctx) => {
  const dt = ctx.expectDType(0, MATMUL_DTYPES);
  if (ctx.input(1).dtype !== dt) ctx.invalid(`MatMul operands differ in type: ${dt} vs ${ctx.input(1).dtype}`);
  return [{ dtype: dt, shape: matmulShape(ctx, ctx.input(0).shape, ctx.input(1).shape) }];
}, { arity: [2, 2], lastChange: 13, traits: ["epilogue-anchor"], anchor: { channelAxis: -1, costly: true },
  flops: (_n, [a], [y]) => 2 * count(y) * a[a.length - 1] });

ops.define("Gemm", (ctx) => {
  const dt = ctx.expectDType(0, MATMUL_DTYPES);
  const a = ctx.input(0).shape, b = ctx.input(1).shape;
  if (a.length !== 2 || b.length !== 2) ctx.invalid("Gemm operands must be 2-D");
  const tA = ctx.attrs.int("transA", 0), tB = ctx.attrs.int("transB", 0);
  const [M, K] = tA ? [a[1], a[0]] : a;
  const [K2, N] = tB ? [b[1], b[0]] : b;
  if (K !== K2) ctx.fail(`Gemm inner dims differ: ${K} vs ${K2}`);
  const c = ctx.optional(2);
  if (c) {
    const bc = broadcastShapes(c.shape, [M, N]);
    if (!bc || bc.length !== 2 || bc[0] !== M || bc[1] !== N) ctx.fail(`Gemm C [${c.shape}] does not broadcast to [${M},${N}]`);
  }
  return [{ dtype: dt, shape: [M, N] }];
}, { arity: [2, 3], lastChange: 13, traits: ["epilogue-anchor"], anchor: { bias: 2, channelAxis: -1, costly: true },
  weightsOutputAxis: (node) => (node.attrs.transB?.type === "int" && node.attrs.transB.value ? 0 : 1),
  flops: (node, [a], [y]) => 2 * count(y) * (node.attrs.transA?.type === "int" && node.attrs.transA.value ? a[0] : a[1]) });

export const NN_OPS = ops.defs;
