// 8-bit matrix products through the int8 GEMM (quant/qgemm.ts): Y[M][N] = X[M][K] W[K][N], the
// activations X as the GEMM's rows (packed per block of rows at run time, the zero point
// subtracted there: a constant, one per row, or a runtime one-value tensor such as
// DynamicQuantizeLinear's), W as its columns: packed at compile time when constant (Gemm's
// transB read across), else per panel at run time. Batches of X fold into M when W has none;
// batched runtime operands of equal batch shape run one product per batch. Per-column
// multipliers and biases (per output channel) are per column. Over symbolic dims (X [seq, K] or
// [1, seq, K] in the prefix form) the rows run to this run's.
import binaryen from "binaryen";
import { align16 } from "../../memory.js";
import type { Expr, Local } from "../../fn.js";
import { emitQGemm, packedColsBytes, QTILE } from "./qgemm.js";
import { float32Bytes, packColsOf } from "./qgemm-pack.js";
import { packColsRuntime, packRowsRuntime } from "./qgemm-runtime.js";
import { finiteMultipliers, storeFloat, storeInt32, storeRequant, type QOut } from "./qgemm-store.js";
import { elementsOf, type QLayer, type ZeroPoint } from "./qlayer.js";
import type { KernelCtx, KernelPrep, LayerCtx, LazyConstant } from "../kernel.js";
import { qchannelTables, qpackedConstant } from "./qgemm-derive.js";
import { paddedRows } from "../matmul/packed.js";
import { pinHint } from "../../pin-hint.js";

export interface QMatMulPlan {
  q: QLayer;
  M: number; N: number; K: number;
  /** W stored N x K (Gemm transB) */
  transW: boolean;
  /** products (batches of runtime operands of equal batch shape); 1 when X's batches fold into M */
  batches: number;
  /** rows per runtime block of X */
  mc: number;
  /** scratch: X's block of rows, then (W at run time) one panel */
  panelAt: number;
  scratchBytes: number;
}

const prod = (d: number[]) => d.reduce((a, b) => a * b, 1);

/** Rows per block of X: its packed rows within ~128 KiB (L2), whole tiles. */
function blockRows(M: number, K: number): number {
  const rows = Math.max(QTILE.mr, Math.floor((128 << 10) / (2 * (K + 1)) / QTILE.mr) * QTILE.mr);
  return Math.min(rows, Math.ceil(M / QTILE.mr) * QTILE.mr);
}

/** The plan for X (rank >= 2) times W (2-D, or batched like X when both are runtime), or undefined. */
export function qmatmulPlan(layer: LayerCtx, q: QLayer, transW = false): QMatMulPlan | undefined {
  const x = layer.inputs[q.x.index], w = layer.inputs[q.w.index], y = layer.outputs[0];
  if (!x || !w || !y || y.size === 0 || x.dims.length < 2 || w.dims.length < 2) return undefined;
  const K = x.dims[x.dims.length - 1];
  const N = transW ? w.dims[0] : w.dims[w.dims.length - 1];
  if ((transW ? w.dims[1] : w.dims[w.dims.length - 2]) !== K || K === 0) return undefined;
  // the weights' zero point: per column when constant, one value when packed at run time
  if (q.w.zp.kind === "input" || (q.w.zp.values.length !== 1 && (!q.w.value || q.w.zp.values.length !== N))) return undefined;
  if (q.x.zp.kind === "const" && q.x.zp.values.length !== 1) return undefined;
  let batches = 1, M: number;
  if (w.dims.length === 2) M = prod(x.dims.slice(0, -1));
  else {
    if (w.value || x.dims.length !== w.dims.length || x.dims.slice(0, -2).join() !== w.dims.slice(0, -2).join()) return undefined;
    batches = prod(x.dims.slice(0, -2));
    M = x.dims[x.dims.length - 2];
  }
  const mc = blockRows(M, K);
  const panelAt = align16(mc * (K + 1) * 2);
  return { q, M, N, K, transW, batches, mc, panelAt, scratchBytes: panelAt + (q.w.value ? 0 : packedColsBytes(QTILE.nr, K)) };
}

export function qmatmulPrepare(plan: QMatMulPlan): KernelPrep {
  const { q, K, N } = plan;
  const constants: (Uint8Array | LazyConstant)[] = [];
  const unread: number[] = [];
  if (q.w.value) {
    const w = elementsOf(q.w.value);
    const zp = (q.w.zp as { values: number[] }).values;
    const packed = packColsOf(w, zp, K, N, plan.transW);
    // a compact artifact ships the 8-bit weights and derives this i16 form (qgemm-derive.ts)
    const shape = { groups: 1, lines: N, K, tile: QTILE.nr, step: plan.transW ? 1 : N, groupBytes: packed.length,
      first: (m: binaryen.Module, _g: Expr, n: Expr) => (plan.transW ? m.i32.mul(n, m.i32.const(K)) : n) };
    const uniform = zp.every((z) => z === zp[0]) && q.w.value.dims.length === 2 ? zp[0] : undefined;
    constants.push(qpackedConstant(packed, q.w.value, uniform, shape, `qpackCols ${K}x${N} ${plan.transW ? "t" : "n"} z${uniform}`));
    unread.push(q.w.index);
  }
  const Np = Math.ceil(N / QTILE.nr) * QTILE.nr;
  constants.push(...qchannelTables(q, N, Np));
  if (q.result.kind === "float") {
    const sc = q.result.scale;
    if (sc.kind === "const") constants.push(float32Bytes(sc.values.length === 1 ? new Float32Array(N).fill(sc.values[0]) : sc.values, Np));
    if (q.result.bias) constants.push(float32Bytes(q.result.bias, Np));
  }
  return { constants, scratchBytes: plan.scratchBytes, unread };
}

/** A zero point as an i32 expression: a constant (per tensor, or per row of `row`), or read from its one-value input. */
function zeroPointOf(ctx: KernelCtx, zp: ZeroPoint, dtype: "int8" | "uint8"): (row?: Local) => Expr {
  const m = ctx.m;
  if (zp.kind === "input") {
    const t = ctx.input(zp.index);
    return () => (dtype === "int8" ? m.i32.load8_s(t.addr, 1, m.i32.const(0)) : m.i32.load8_u(t.addr, 1, m.i32.const(0)));
  }
  return () => m.i32.const(zp.values[0]);
}

export function emitQMatMul(ctx: KernelCtx, p: QMatMulPlan): void {
  const { m, fn } = ctx;
  const { q, M, N, K } = p;
  const x = ctx.input(q.x.index), w = ctx.input(q.w.index), y = ctx.output(0);
  const addrs = [...ctx.constantAddrs];
  const packedW = q.w.value ? addrs.shift()! : undefined;
  const biasAt = addrs.shift()!;
  const b = fn.local(binaryen.i32);
  const batched = p.batches > 1;
  // symbolic dims in the padded layout ([batch, seq, K] with seq varying): one product per block
  // of rows under Y's last varying dim, this run's blocks and this run's rows of each
  if (batched && ctx.symbolic) ctx.unsupported(`the int8 MatMul takes symbolic dims with a constant W only (its rows this run's); ${pinHint(ctx.symbolic.symbols, [...ctx.symbolic.dims.values()].flat())}`);
  const padded = batched ? undefined : paddedRows(ctx, y);
  if (padded && (x.dims.length !== y.dims.length || x.dims.slice(0, -1).join() !== y.dims.slice(0, -1).join())) ctx.unsupported(`the int8 MatMul over symbolic dims in the padded layout needs X with Y's rows, got X [${x.dims.join(",")}] for Y [${y.dims.join(",")}]`);
  const Mg = padded ? padded.Mb : M, blocked = batched || padded !== undefined;
  const outBytes = q.result.kind === "requant" ? 1 : 4;
  const out: QOut = { addr: y.addr, rs: N, base: blocked ? () => m.i32.mul(b.get(), m.i32.const(Mg * N * outBytes)) : undefined };
  let store;
  if (q.result.kind === "requant") {
    store = storeRequant(fn, out, { mult: { kind: "col", addr: addrs.shift()! }, zp: q.result.zp, signed: q.result.dtype === "int8", lo: q.result.lo, hi: q.result.hi, finite: finiteMultipliers(q.result.mult) });
  } else if (q.result.kind === "float") {
    const sc = q.result.scale;
    const scale = sc.kind === "const" ? { addr: addrs.shift()!, by: "col" as const } : { addr: ctx.input(sc.index).addr, by: sc.perChannel ? "col" as const : "one" as const };
    store = storeFloat(fn, out, { scale, bias: q.result.bias ? addrs.shift()! : undefined, epilogue: ctx.epilogue });
  } else store = storeInt32(fn, out);
  const rowsSource = { addr: x.addr, rs: K, base: blocked ? () => m.i32.mul(b.get(), m.i32.const(Mg * K)) : undefined, signed: q.x.dtype === "int8" };
  const colsSource = { addr: w.addr, rs: N, base: batched ? () => m.i32.mul(b.get(), m.i32.const(K * N)) : undefined, signed: q.w.dtype === "int8" };
  // at threads the panels are shared (each thread packs X's rows into its own scratch): a product
  // of one panel stays on one thread
  const threads = N > QTILE.nr ? ctx.splitAmong() : undefined;
  // symbolic dims in the prefix form (X's batches folded into M): this run's rows
  const rows = padded ? padded.rows : ctx.runtimeExtent(y, M) === undefined ? undefined : () => ctx.runtimeExtent(y, M)!;
  const gemm: Expr = emitQGemm(fn, {
    M: Mg, N, K, threads, rows,
    a: { kind: "runtime", scratch: ctx.scratchAddr, mc: p.mc, pack: packRowsRuntime(fn, rowsSource, K, zeroPointOf(ctx, q.x.zp, q.x.dtype)) },
    b: packedW !== undefined ? { kind: "packed", addr: packedW }
      : { kind: "runtime", scratch: ctx.scratchAddr + p.panelAt, pack: packColsRuntime(fn, colsSource, K, zeroPointOf(ctx, q.w.zp, q.w.dtype)) },
    // no int32 bias (MatMulInteger, dynamic quantization's float bias): the accumulators start
    // from zero rather than from a table of zeros, eight loads a tile fewer
    init: q.bias ? { perCol: (col, v) => m.v128.load(biasAt + 16 * v, 4, m.i32.shl(col(), m.i32.const(2))) } : undefined,
    store,
  });
  fn.emit(batched ? fn.loop(p.batches, (i) => [b.set(i.get()), gemm]) : padded ? fn.nest(padded.trips, (idx) => [b.set(fn.linear(idx, padded.strides)), gemm]) : gemm);
}
