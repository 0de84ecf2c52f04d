// MatMul and Gemm through the packed GEMM (matmul/gemm-packed.ts) when B is a float32 constant: B is
// packed into panels at compile time (prepare) and the original B is left out of the weights.
// A float32 MatMul whose B is computed at run time takes it too, B's panels copied to scratch. The
// same rules decide in prepare and in emit, so a layer whose B was packed always takes this path;
// the fused-epilogue kernel runs the anchor's prepare with the anchor's own inputs, then emits with
// the combined bias in place of Gemm's C (beta 1), which the rules below accept as well.
import { KilnError } from "../../../runtime/errors.js";
import { broadcastStrides } from "../../fn.js";
import { DEFAULT_TILE, emitPackedGemm, packedBScratchBytes, type RowMajor } from "./gemm-packed.js";
import { packBOf } from "./gemm-pack.js";
import { packedEpilogue } from "./gemm-epilogue.js";
import { batchLoop } from "./core.js";
import type { KernelCtx, KernelPrep, TensorRef } from "../registry.js";

/** The product as the packed GEMM sees it: A is M x K row-major read in place (batches folded into M). */
interface PackedShape {
  M: number;
  N: number;
  K: number;
  transB: boolean;
  b: TensorRef;
}

const f32 = (t: TensorRef | undefined) => t?.dtype === "float32";

/** B a float32 constant and no batch of B: the batches of A are rows of one long A. */
function matmulShape(ctx: KernelCtx): PackedShape | undefined {
  const a = ctx.input(0), b = ctx.input(1), y = ctx.output(0);
  if (!f32(a) || !f32(y) || !f32(b) || !b.value || b.dims.length < 2) return undefined;
  if (b.dims.slice(0, -2).some((d) => d !== 1)) return undefined;
  const [K, N] = b.dims.slice(-2);
  if (K === 0 || N === 0 || y.size === 0) return undefined;
  return { M: y.size / N, N, K, transB: false, b };
}

function gemmShape(ctx: KernelCtx): PackedShape | undefined {
  const a = ctx.input(0), b = ctx.input(1), y = ctx.output(0);
  if (!f32(a) || !f32(y) || !f32(b) || !b.value || ctx.attrs.int("transA", 0) !== 0) return undefined;
  const [M, N] = y.dims;
  const K = a.dims[1];
  if (K === 0 || y.size === 0) return undefined;
  return { M, N, K, transB: ctx.attrs.int("transB", 0) !== 0, b };
}

/**
 * How Gemm's C reaches the packed GEMM, which adds one float32[N] along the columns: read in place
 * (a vector of N and beta 1), a constant made at prepare time (beta folded in, scalars spread), or
 * nothing. undefined: C varies by row (or is not float32), so the layer stays on the generic GEMM.
 */
type BiasForm = { kind: "none" } | { kind: "addr"; addr: number } | { kind: "const"; data: Float32Array };

function gemmBias(ctx: KernelCtx, M: number, N: number): BiasForm | undefined {
  const c = ctx.inputs[2];
  if (!c || c.size === 0) return { kind: "none" };
  if (!f32(c) || c.dims.length > 2) return undefined;
  const [rs, cs] = broadcastStrides(c.dims, [M, N]);
  if (rs !== 0 && M > 1) return undefined;
  const beta = ctx.attrs.float("beta", 1);
  if (beta === 1 && c.size === N) return { kind: "addr", addr: c.addr };
  if (!c.value) return undefined;
  const v = c.value.data as Float32Array;
  return { kind: "const", data: Float32Array.from({ length: N }, (_, j) => beta * v[cs ? j : 0]) };
}

const bytes = (d: Float32Array) => new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

function prepareWith(shape: PackedShape | undefined, bias: BiasForm | undefined): KernelPrep {
  if (!shape || !bias) return {};
  const constants: KernelPrep["constants"] & {} = [packBOf(shape.b.value!, shape.K, shape.N, shape.transB)];
  if (bias.kind === "const") constants.push(bytes(bias.data));
  return { constants, unread: [1] };
}

export function matmulPrepare(ctx: KernelCtx): KernelPrep {
  const runtime = runtimeShape(ctx);
  if (runtime) return { scratchBytes: packedBScratchBytes(runtime.K) };
  return prepareWith(matmulShape(ctx), { kind: "none" });
}

/**
 * MatMul with B computed at run time (attention's Q K^T and P V): both operands float32 with at
 * least two dims (batches broadcast), B's rows wide enough to fill the 16-column panels mostly, a
 * fused bias (if any) one value per column. Per batch, the packed GEMM reads A in place and copies
 * each KC x 16 panel of B into scratch before the 2x16 microkernel reads it (MiniLM's attention
 * products: ~20 GFLOPS on the generic 4x8 kernel, which reads B's rows in place).
 */
interface RuntimeShape {
  M: number; N: number; K: number;
  batch: number[];
}

function runtimeShape(ctx: KernelCtx): RuntimeShape | undefined {
  const a = ctx.input(0), b = ctx.input(1), y = ctx.output(0);
  if (!f32(a) || !f32(b) || !f32(y) || b.value || a.dims.length < 2 || b.dims.length < 2 || y.size === 0) return undefined;
  const M = a.dims[a.dims.length - 2], K = a.dims[a.dims.length - 1], N = b.dims[b.dims.length - 1];
  if (M < DEFAULT_TILE.mr || N < 8 || K === 0) return undefined;
  const fused = ctx.epilogue?.bias;
  if (fused && fused.size !== N) return undefined;
  return { M, N, K, batch: y.dims.slice(0, -2) };
}

/** Emits the run-time-B packed MatMul when prepare chose it; false: the generic path. */
export function tryRuntimeMatmul(ctx: KernelCtx): boolean {
  const shape = runtimeShape(ctx);
  if (!shape || ctx.scratchAddr < 0) return false;
  const { fn } = ctx;
  const { M, N, K } = shape;
  fn.emit(batchLoop(fn, shape.batch, ctx.input(0).dims, ctx.input(1).dims, { a: M * K * 4, b: K * N * 4, c: M * N * 4 }, (base) => {
    const c: RowMajor = { addr: ctx.output(0).addr, rs: N, base: () => base.c.get() };
    return emitPackedGemm(ctx, {
      M, N, K, c,
      a: { addr: ctx.input(0).addr, rs: K, base: () => base.a.get() },
      b: { addr: ctx.input(1).addr, rs: N, base: () => base.b.get() },
      bScratch: ctx.scratchAddr,
      bias: ctx.epilogue?.bias?.addr,
      epilogue: ctx.epilogue && packedEpilogue(fn, ctx.epilogue, c),
    });
  }));
  return true;
}

export function gemmPrepare(ctx: KernelCtx): KernelPrep {
  const shape = gemmShape(ctx);
  return prepareWith(shape, shape && gemmBias(ctx, shape.M, shape.N));
}

function emitWith(ctx: KernelCtx, shape: PackedShape, bias: number | undefined, alpha = 1): void {
  const { M, N, K } = shape;
  const c: RowMajor = { addr: ctx.output(0).addr, rs: N };
  const epilogue = ctx.epilogue && packedEpilogue(ctx.fn, ctx.epilogue, c);
  ctx.fn.emit(...emitPackedGemm(ctx, {
    M, N, K, alpha, bias, c,
    a: { addr: ctx.input(0).addr, rs: K },
    packedB: ctx.constantAddrs[0],
    epilogue,
    // a single row (M=1, a fully connected layer at batch 1) reads each B element once: memory-
    // bound, so each panel is read in one sequential sweep instead of per K block
    tile: M < DEFAULT_TILE.mr ? { kc: Math.max(1, K) } : undefined,
  }));
}

/** Emits the packed MatMul when prepare packed B; false: the caller takes the generic path. */
export function tryPackedMatmul(ctx: KernelCtx): boolean {
  const shape = matmulShape(ctx);
  if (!shape || ctx.constantAddrs[0] === undefined) return false;
  // a fused bias holds one value per column (fused/epilogue.ts spreads scalars over the N columns)
  const fused = ctx.epilogue?.bias;
  if (fused && fused.size !== shape.N) throw new KilnError("INTERNAL", `fused MatMul bias of ${fused.size} values for ${shape.N} columns`, ctx.context());
  emitWith(ctx, shape, fused?.addr);
  return true;
}

export function tryPackedGemm(ctx: KernelCtx): boolean {
  const shape = gemmShape(ctx);
  const bias = shape && gemmBias(ctx, shape.M, shape.N);
  if (!shape || !bias || ctx.constantAddrs[0] === undefined) return false;
  if (bias.kind === "const" && ctx.constantAddrs[1] === undefined) return false;
  const addr = bias.kind === "addr" ? bias.addr : bias.kind === "const" ? ctx.constantAddrs[1] : undefined;
  emitWith(ctx, shape, addr, ctx.attrs.float("alpha", 1));
  return true;
}
