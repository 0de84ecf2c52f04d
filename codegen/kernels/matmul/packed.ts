// MatMul and Gemm through the packed GEMM (matmul/gemm-packed.ts): the variants "packed" (B a
// float32 constant, packed into panels at compile time by prepare; the original B is left out of
// the weights) and, for MatMul, "packed-runtime" (B computed at run time, its panels copied to
// scratch). A fused epilogue's combined bias takes the place of Gemm's C (beta 1), which the plans
// below accept as well.
import { KilnError } from "../../../runtime/errors.js";
import binaryen from "binaryen";
import { broadcastStrides, type Expr, type Trips } from "../../fn.js";
import { prefixDim } from "../../symbolic.js";
import { DEFAULT_TILE, emitPackedGemm, packedBScratchBytes, type RowMajor } from "./gemm-packed.js";
import { packBOf } from "./gemm-pack.js";
import { packedEpilogue } from "./gemm-epilogue.js";
import { batchLoop } from "./core.js";
import { MAX_RUNTIME_K } from "../attention/einsum-packed.js";
import { variant, type KernelCtx, type KernelPrep, type LayerCtx, type TensorInfo } from "../kernel.js";
import { externalRef } from "../../../compiler/ir/raw.js";

/** The product as the packed GEMM sees it: A is M x K row-major read in place (batches folded into M). */
interface PackedShape {
  M: number;
  N: number;
  K: number;
  transB: boolean;
  b: TensorInfo;
  /**
   * B read in place, in its stored layout, not packed: a single row (M 1) against a B left in its
   * external data file (compiler/ir/raw.ts externalTensor, a model past 4 GiB streamed under a
   * memory budget). Each B element is read once either way; packing would make a copy of
   * gigabytes in JavaScript on every run, as each layer's weights are read into their slot
   */
  inPlace?: boolean;
}

/** See PackedShape.inPlace. */
const inPlace = (M: number, transB: boolean, b: TensorInfo) => M === 1 && !transB && externalRef(b.value!) !== undefined;

const f32 = (t: TensorInfo | undefined) => t?.dtype === "float32";

/** B a float32 constant and no batch of B: the batches of A are rows of one long A. */
function matmulShape(ctx: LayerCtx): PackedShape | undefined {
  const a = ctx.input(0), b = ctx.input(1), y = ctx.output(0);
  if (!f32(a) || !f32(y) || !f32(b) || !b.value || b.dims.length < 2) return undefined;
  if (b.dims.slice(0, -2).some((d) => d !== 1)) return undefined;
  const [K, N] = b.dims.slice(-2);
  if (K === 0 || N === 0 || y.size === 0) return undefined;
  return { M: y.size / N, N, K, transB: false, b, inPlace: inPlace(y.size / N, false, b) };
}

function gemmShape(ctx: LayerCtx): PackedShape | undefined {
  const a = ctx.input(0), b = ctx.input(1), y = ctx.output(0);
  if (!f32(a) || !f32(y) || !f32(b) || !b.value || ctx.attrs.int("transA", 0) !== 0) return undefined;
  const [M, N] = y.dims;
  const K = a.dims[1];
  if (K === 0 || y.size === 0) return undefined;
  const transB = ctx.attrs.int("transB", 0) !== 0;
  return { M, N, K, transB, b, inPlace: inPlace(M, transB, b) };
}

/**
 * How Gemm's C reaches the packed GEMM, which adds one float32[N] along the columns: read in place
 * (a vector of N and beta 1), a constant made at prepare time (beta folded in, scalars spread), or
 * nothing. undefined: C varies by row (or is not float32), so the layer stays on the generic GEMM.
 */
type BiasForm = { kind: "none" } | { kind: "input" } | { kind: "const"; data: Float32Array };

function gemmBias(ctx: LayerCtx, M: number, N: number): BiasForm | undefined {
  const c = ctx.inputs[2];
  if (!c || c.size === 0) return { kind: "none" };
  if (!f32(c) || c.dims.length > 2) return undefined;
  const [rs, cs] = broadcastStrides(c.dims, [M, N]);
  if (rs !== 0 && M > 1) return undefined;
  const beta = ctx.attrs.float("beta", 1);
  if (beta === 1 && c.size === N) return { kind: "input" };
  if (!c.value) return undefined;
  const v = c.value.data as Float32Array;
  return { kind: "const", data: Float32Array.from({ length: N }, (_, j) => beta * v[cs ? j : 0]) };
}

const bytes = (d: Float32Array) => new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

function prepareWith(shape: PackedShape, bias: BiasForm): KernelPrep {
  const constants: KernelPrep["constants"] & {} = shape.inPlace ? [] : [packBOf(shape.b.value!, shape.K, shape.N, shape.transB)];
  if (bias.kind === "const") constants.push(bytes(bias.data));
  return { constants, unread: shape.inPlace ? [] : [1] };
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

function runtimeShape(ctx: LayerCtx, forced: boolean): RuntimeShape | undefined {
  const a = ctx.input(0), b = ctx.input(1), y = ctx.output(0);
  if (!f32(a) || !f32(b) || !f32(y) || a.dims.length < 2 || b.dims.length < 2 || y.size === 0) return undefined;
  // a constant B is the packed kernel's, but for a batch of them where dims vary (DeBERTa's
  // position keys per head: no static kernel has a symbolic form), read as if computed
  if (b.value && (!forced || b.dims.slice(0, -2).every((d) => d === 1))) return undefined;
  const M = a.dims[a.dims.length - 2], K = a.dims[a.dims.length - 1], N = b.dims[b.dims.length - 1];
  // tiny products run as well on the generic kernel: unless forced (or its dims vary: select.ts)
  if (K === 0 || (!forced && (M < DEFAULT_TILE.mr || N < 8))) return undefined;
  if (ctx.fusedBias && ctx.fusedBias.size !== N) return undefined;
  return { M, N, K, batch: y.dims.slice(0, -2) };
}

/**
 * Symbolic dims (the padded layout's strides, as the packed Einsum reads them): this run's M rows,
 * K steps (one K block of K's bound) and, with varying rows, N's panels; a varying N with static
 * rows is computed whole into the padding (no kernel reads it as values). A varying batch dim is
 * refused, but for the output's leading one (`batch`: this run's count of its matrices).
 */
function runtimeSymbolic(ctx: KernelCtx, shape: RuntimeShape): { rows?: () => Expr; kSteps?: () => Expr; cols?: () => Expr; batch?: () => Expr } {
  if (!ctx.symbolic) return {};
  const [a, b, y] = [ctx.input(0), ctx.input(1), ctx.output(0)];
  const last = (t: TensorInfo, back: number) => ({ t, k: t.dims.length - back });
  const roles = { rows: [last(a, 2), last(y, 2)], kSteps: [last(a, 1), last(b, 2)], cols: [last(b, 1), last(y, 1)] };
  // the leading batch dim may vary (a batch of images' attention: [batch, heads, L, d]): its
  // matrices at the bounds' strides, this run's count of them; others not
  const yLead = ctx.symbolic.dims.get(y.name)?.[0];
  const leading = y.dims.length > 2 && yLead !== undefined && typeof yLead !== "number";
  for (const t of [a, b, y]) {
    const e = ctx.symbolic.dims.get(t.name);
    const lead = t.dims.length - y.dims.length; // y's dim 0 in t (broadcast: t may have fewer dims)
    if (e?.some((d, k) => k < t.dims.length - 2 && typeof d !== "number" && !(leading && k === lead && JSON.stringify(d) === JSON.stringify(yLead)))) {
      ctx.unsupported(`MatMul's packed-runtime kernel runs its batch dims at fixed sizes only, but for a varying leading one, and ${JSON.stringify(t.name)} varies in another; pin the dim (--shape NAME=N)`);
    }
  }
  const batch = leading ? () => ctx.runtimeDim(y, 0)! : undefined;
  if (batch) batch();
  const found = (r: keyof typeof roles) => roles[r].find(({ t, k }) => ctx.runtimeDim(t, k) !== undefined);
  const at = (r: keyof typeof roles) => {
    const f = found(r);
    return f && (() => ctx.runtimeDim(f.t, f.k)!);
  };
  const rows = at("rows"), kSteps = at("kSteps"), cols = at("cols");
  if (kSteps && shape.K > MAX_RUNTIME_K) ctx.unsupported(`MatMul sums over a symbolic dim of at most ${shape.K}; the packed kernel takes a run-time K up to ${MAX_RUNTIME_K} so far: lower the bound or pin the dim`);
  return { rows, kSteps, cols: rows ? cols : undefined, batch };
}

/** the tile of a product with a symbolic K: one K block of K's bound */
const runtimeTile = (ctx: KernelCtx, shape: RuntimeShape) => (runtimeSymbolic(ctx, shape).kSteps ? { kc: Math.max(DEFAULT_TILE.kc, shape.K) } : undefined);

export const PACKED_RUNTIME = variant<RuntimeShape>({
  name: "packed-runtime",
  plan: runtimeShape,
  prepare: (ctx, shape) => ({ scratchBytes: packedBScratchBytes(shape.K, runtimeTile(ctx, shape)) }),
  emit: emitRuntimeMatmul,
});

function emitRuntimeMatmul(ctx: KernelCtx, shape: RuntimeShape): void {
  const { fn } = ctx;
  const { M, N, K } = shape;
  const { batch, ...sym } = runtimeSymbolic(ctx, shape);
  const tile = runtimeTile(ctx, shape);
  fn.emit(batchLoop(fn, shape.batch, ctx.input(0).dims, ctx.input(1).dims, { a: M * K * 4, b: K * N * 4, c: M * N * 4 }, (base) => {
    const c: RowMajor = { addr: ctx.output(0).addr, rs: N, base: () => base.c.get() };
    return emitPackedGemm(ctx, {
      M, N, K, c,
      a: { addr: ctx.input(0).addr, rs: K, base: () => base.a.get() },
      b: { addr: ctx.input(1).addr, rs: N, base: () => base.b.get() },
      bScratch: ctx.scratchAddr,
      bias: ctx.epilogue?.bias?.addr,
      threads: sym.kSteps ? undefined : ctx.splitAmong(),
      epilogue: ctx.epilogue && packedEpilogue(fn, ctx.epilogue, c),
      ...sym,
      ...(tile ? { tile } : {}),
    });
  }, batch));
}


function emitWith(ctx: KernelCtx, shape: PackedShape, bias: number | undefined, alpha = 1): void {
  const { M, N, K } = shape;
  const y = ctx.output(0);
  const padded = paddedRows(ctx, y);
  if (padded) {
    // the output's rows in the padded layout (a dim past its leading ones varies: [2, seq, N]):
    // one product per block of rows under its last varying dim, this run's rows of each
    const { Mb, rows } = padded;
    const a = ctx.input(0);
    if (a.dims.length !== y.dims.length || a.dims.slice(0, -1).join() !== y.dims.slice(0, -1).join()) ctx.unsupported(`MatMul over symbolic dims in the padded layout needs A with C's rows, got A [${a.dims.join(",")}] for C [${y.dims.join(",")}]`);
    const base = ctx.fn.local(binaryen.i32);
    ctx.fn.emit(ctx.fn.nest(padded.trips, (idx) => {
      const at = (bytesPerBlock: number) => () => ctx.fn.m.i32.mul(base.get(), ctx.fn.m.i32.const(bytesPerBlock));
      const c: RowMajor = { addr: y.addr, rs: N, base: at(Mb * N * 4) };
      const epilogue = ctx.epilogue && packedEpilogue(ctx.fn, ctx.epilogue, c);
      return [base.set(ctx.fn.linear(idx, padded.strides)), ...emitPackedGemm(ctx, {
        M: Mb, N, K, alpha, bias, c, rows,
        a: { addr: a.addr, rs: K, base: at(Mb * K * 4) },
        ...(shape.inPlace ? { b: { addr: ctx.input(1).addr, rs: N } } : { packedB: ctx.constantAddrs[0] }),
        epilogue,
        threads: ctx.splitAmong(),
        tile: Mb < DEFAULT_TILE.mr ? { kc: Math.max(1, K) } : undefined,
      })];
    }));
    return;
  }
  const c: RowMajor = { addr: y.addr, rs: N };
  const epilogue = ctx.epilogue && packedEpilogue(ctx.fn, ctx.epilogue, c);
  // a symbolic leading dim of the output (its rows: batches fold into M): this run's rows; B is a constant
  const rows = ctx.runtimeExtent(y, M) === undefined ? undefined : () => ctx.runtimeExtent(y, M)!;
  ctx.fn.emit(...emitPackedGemm(ctx, {
    M, N, K, alpha, bias, c, rows,
    a: { addr: ctx.input(0).addr, rs: K },
    ...(shape.inPlace ? { b: { addr: ctx.input(1).addr, rs: N } } : { packedB: ctx.constantAddrs[0] }),
    epilogue,
    threads: ctx.splitAmong(),
    // a single row (M=1, a fully connected layer at batch 1) reads each B element once: memory-
    // bound, so each panel is read in one sequential sweep instead of per K block
    tile: M < DEFAULT_TILE.mr ? { kc: Math.max(1, K) } : undefined,
  }));
}

/**
 * C's rows (every dim but the last) in the padded layout, when some dim past its leading ones
 * varies: the dims before the last varying one as a loop (its trips this run's where they vary,
 * its strides in blocks), and each block's rows (Mb at the bounds, this run's `rows`).
 */
export function paddedRows(ctx: KernelCtx, y: TensorInfo): { trips: Trips[]; strides: number[]; Mb: number; rows: () => Expr } | undefined {
  const e = ctx.symbolic?.dims.get(y.name);
  if (!e || prefixDim(y.dims, e) !== undefined) return undefined;
  const rowDims = y.dims.slice(0, -1);
  const last = Math.max(...e.slice(0, -1).flatMap((d, k) => (typeof d === "number" ? [] : [k])));
  if (last < 0 || typeof e[e.length - 1] !== "number") ctx.unsupported(`${ctx.node.op}'s packed kernel takes symbolic rows only (C's last dim fixed), got C ${JSON.stringify(y.name)} varying in its last dim`);
  const inner = rowDims.slice(last + 1).reduce((a, b) => a * b, 1);
  const Mb = rowDims[last] * inner;
  const outerDims = rowDims.slice(0, last);
  const trips: Trips[] = outerDims.map((d, k) => (typeof e[k] === "number" ? d : () => ctx.runtimeDim(y, k)!));
  const strides = outerDims.map((_, k) => outerDims.slice(k + 1).reduce((a, b) => a * b, 1));
  const m = ctx.fn.m;
  return { trips, strides, Mb, rows: () => m.i32.mul(ctx.runtimeDim(y, last)!, m.i32.const(inner)) };
}

export const PACKED_MATMUL = variant<PackedShape>({
  name: "packed",
  plan: matmulShape,
  prepare: (_ctx, shape) => prepareWith(shape, { kind: "none" }),
  emit: (ctx, shape) => {
    // a fused bias holds one value per column (fused/epilogue.ts spreads scalars over the N columns)
    const fused = ctx.epilogue?.bias;
    if (fused && fused.size !== shape.N) throw new KilnError("INTERNAL", `fused MatMul bias of ${fused.size} values for ${shape.N} columns`, ctx.context());
    emitWith(ctx, shape, fused?.addr);
  },
});

interface PackedGemm extends PackedShape {
  bias: BiasForm;
}

export const PACKED_GEMM = variant<PackedGemm>({
  name: "packed",
  plan: (layer) => {
    const shape = gemmShape(layer);
    const bias = shape && gemmBias(layer, shape.M, shape.N);
    return shape && bias && { ...shape, bias };
  },
  prepare: (_ctx, plan) => prepareWith(plan, plan.bias),
  emit: (ctx, plan) => {
    const addr = plan.bias.kind === "input" ? ctx.input(2).addr : plan.bias.kind === "const" ? ctx.constantAddrs[plan.inPlace ? 0 : 1] : undefined;
    emitWith(ctx, plan, addr, ctx.attrs.float("alpha", 1));
  },
});
