// A test-only op, kiln.test::PackedGemm(A[M,K], B[K,N] or [N,K] constant, bias[N]? constant;
// transB), wired the way MatMul/Gemm would be: B packed in prepare, placed with the weights, the
// kernel emitted at ctx.constantAddrs. It lets the tests run the packed GEMM through kiln's whole
// compile path (shape inference, memory layout, prepare, codegen, runtime).
import { registerOp } from "../../compiler/ops/index.js";
import { registerKernel } from "../../codegen/kernels/index.js";
import type { KernelCtx } from "../../codegen/kernels/kernel.js";
import { emitPackedGemm, packedAScratchBytes } from "../../codegen/kernels/matmul/gemm-packed.js";
import { packB } from "../../codegen/kernels/matmul/gemm-pack.js";
import { packedEpilogue } from "../../codegen/kernels/matmul/gemm-epilogue.js";

export const TEST_DOMAIN = "kiln.test";

function dims(ctx: KernelCtx) {
  const [M, K] = ctx.input(0).dims;
  const transB = ctx.attrs.int("transB", 0) === 1;
  const N = ctx.input(1).dims[transB ? 0 : 1];
  return { M, K, N, transB };
}

registerOp("PackedGemm", (ctx) => {
  const a = ctx.input(0).shape, b = ctx.input(1).shape;
  const transB = ctx.attrs.int("transB", 0) === 1;
  if (a[1] !== b[transB ? 1 : 0]) ctx.fail("inner dimensions differ");
  return [{ dtype: "float32", shape: [a[0], b[transB ? 0 : 1]] }];
}, { domain: TEST_DOMAIN });

registerKernel("PackedGemm", (ctx) => {
  const { M, K, N } = dims(ctx);
  const a = ctx.input(0), y = ctx.output(0);
  const c = { addr: y.addr, rs: N };
  const useScratch = ctx.scratchAddr >= 0 && ctx.attrs.int("packA", 0) === 1;
  ctx.fn.emit(...emitPackedGemm(ctx, {
    M, N, K, a: { addr: a.addr, rs: K }, c, packedB: ctx.constantAddrs[0],
    bias: ctx.inputs[2] ? ctx.constantAddrs[1] : undefined,
    epilogue: ctx.epilogue && packedEpilogue(ctx.fn, ctx.epilogue, c),
    scratch: useScratch ? ctx.scratchAddr : undefined,
  }));
}, {
  domain: TEST_DOMAIN,
  prepare: (ctx: KernelCtx) => {
    const { M, K, N, transB } = dims(ctx);
    const b = ctx.input(1).value, bias = ctx.inputs[2]?.value;
    if (!b || b.dtype !== "float32" || (ctx.inputs[2] && (!bias || bias.dtype !== "float32"))) ctx.unsupported("PackedGemm needs float32 constant B and bias");
    const constants = [packB(b.data as Float32Array, K, N, transB)];
    if (bias) constants.push(new Uint8Array(Float32Array.from(bias.data as Float32Array).buffer));
    return { constants, scratchBytes: ctx.attrs.int("packA", 0) === 1 ? packedAScratchBytes(M, N, K) : 0 };
  },
});
