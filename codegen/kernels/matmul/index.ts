// The MatMul and Gemm families: the packed GEMM when B is a float32 constant ("packed"), or for
// MatMul a float32 B computed at run time ("packed-runtime"; matmul/packed.ts), else the shared
// matrix-multiply core ("generic", matmul/core.ts).
import { dtype } from "../../../runtime/dtypes.js";
import { broadcastStrides } from "../../fn.js";
import { batchLoop, gemm } from "./core.js";
import { PACKED_GEMM, PACKED_MATMUL, PACKED_RUNTIME } from "./packed.js";
import { KernelTable, simpleVariant, type KernelCtx } from "../kernel.js";

const table = new KernelTable();

function genericMatmul(ctx: KernelCtx): void {
  const { m, fn } = ctx;
  const a = ctx.input(0), b = ctx.input(1), y = ctx.output(0);
  if (y.size === 0) return;
  const A = a.dims.length === 1 ? [1, a.dims[0]] : a.dims;
  const B = b.dims.length === 1 ? [b.dims[0], 1] : b.dims;
  const M = A[A.length - 2], K = A[A.length - 1], N = B[B.length - 1];
  const batch = y.dims.slice(0, y.dims.length - (a.dims.length > 1 ? 1 : 0) - (b.dims.length > 1 ? 1 : 0));
  const bytes = dtype(y.dtype).bytes;
  const post = ctx.epilogue;
  if (K === 0 && !post) {
    // an empty sum: every output is 0
    fn.emit(m.memory.fill(m.i32.const(y.addr), m.i32.const(0), m.i32.const(y.size * bytes)));
    return;
  }
  fn.emit(batchLoop(fn, batch, A, B, { a: M * K * bytes, b: K * N * bytes, c: M * N * bytes }, (base) => gemm(fn, {
    dtype: y.dtype, M, N, K,
    a: { addr: a.addr, base: base.a, rs: K, cs: 1 },
    b: { addr: b.addr, base: base.b, rs: N, cs: 1 },
    c: { addr: y.addr, base: base.c, rs: N, cs: 1 },
    // a fused bias runs over the last axis (columns), the same for every row and batch
    bias: post?.bias && { addr: post.bias.addr, rs: 0, cs: post.bias.size === 1 ? 0 : 1, dtype: post.bias.dtype, beta: 1 },
    post,
  })));
}

function genericGemm(ctx: KernelCtx): void {
  const { m, fn } = ctx;
  const a = ctx.input(0), b = ctx.input(1), y = ctx.output(0);
  const c = ctx.inputs[2];
  if (y.size === 0) return;
  const [M, N] = y.dims;
  const tA = ctx.attrs.int("transA", 0) !== 0, tB = ctx.attrs.int("transB", 0) !== 0;
  const K = tA ? a.dims[0] : a.dims[1];
  const alpha = ctx.attrs.float("alpha", 1), beta = ctx.attrs.float("beta", 1);
  const bias = c && c.size > 0 ? (() => {
    const [rs, cs] = broadcastStrides(c.dims, [M, N]);
    return { addr: c.addr, rs, cs, dtype: c.dtype, beta };
  })() : undefined;
  if (K === 0) {
    if (!bias && !ctx.epilogue) { fn.emit(m.memory.fill(m.i32.const(y.addr), m.i32.const(0), m.i32.const(y.size * dtype(y.dtype).bytes))); return; }
  }
  fn.emit(...gemm(fn, {
    dtype: y.dtype, M, N, K, alpha, bias,
    a: { addr: a.addr, rs: tA ? 1 : K, cs: tA ? M : 1 },
    b: { addr: b.addr, rs: tB ? 1 : N, cs: tB ? K : 1 },
    c: { addr: y.addr, rs: N, cs: 1 },
    post: ctx.epilogue,
  }));
}

// the generic kernels have no symbolic form: a layer with a varying dim takes a packed one, however small
table.family("matmul", "MatMul", [PACKED_MATMUL, PACKED_RUNTIME, simpleVariant(genericMatmul, undefined, "generic", true)]);
table.family("gemm", "Gemm", [PACKED_GEMM, simpleVariant(genericGemm, undefined, "generic", true)]);

export const KERNELS = table.families;
