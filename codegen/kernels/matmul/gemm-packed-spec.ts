// The packed GEMM's interface (codegen/kernels/matmul/gemm-packed.ts): what a caller gives
// emitPackedGemm (PackedGemmSpec: the matrices, the tile, the epilogue, threads and run-time counts),
// the default tile, and the scratch bytes a product asks for.
import type { Expr, Local } from "../../fn.js";
import type { ThreadCtx } from "../../threads.js";
import type { Idx } from "./gemm-tile.js";

/**
 * A fused epilogue applied to each f32x4 of finished outputs before it is stored: row and col are
 * i32 expressions of the output indices of the vector's first lane (fresh trees on every call). `lanes` < 4 only at the right edge (N % 4): a
 * callback that reads memory (a residual) must read only `lanes` columns there.
 */
export type PackedEpilogue = (v: Expr, row: Expr, col: Expr, lanes: number) => Expr;

/** An f32 matrix view: element (r, c) at byte addr + base() + 4 * (r * rs + c * cs). */
export interface RowMajor {
  addr: number;
  rs: number;
  /**
   * column stride in floats, default 1. Other values for A (read down its columns: an NCHW image as
   * positions x channels) and for C (stored transposed, lane by lane, through laneEpilogue)
   */
  cs?: number;
  /** runtime byte offset added to addr (e.g. of the batch); called once per use */
  base?: () => Expr;
}

export interface PackedTile {
  /** rows of the register tile */
  mr: number;
  /** columns of the register tile = columns of a packed panel (a multiple of 4) */
  nr: number;
  /** k steps per block: the KC x NR panel stays in L1 */
  kc: number;
  /** rows per block: the MC x KC block of A stays in L2 (a multiple of mr) */
  mc: number;
  /** k steps per loop iteration */
  unroll: number;
}

/**
 * Chosen by measurement (bench/gemm-packed.ts, interleaved runs on this 2-core EPYC, Node 20):
 * 2x16 reaches 42-44 GFLOPS on 256^3 and 512^3, about the 4x8 L1 peak loop (44-47); 4x8 gave ~38,
 * 5x8 ~30, 6x8/4x12/3x16 ~27 (V8 spills once accumulators + B vectors + the splat pass ~13 of
 * the 16 xmm registers), 1x32 ~19 (load-bound). Unrolling k by 2 costs a third of the speed
 * (28 vs 42), so the k loop is not unrolled. KC and MC matter little (+-3%) at these sizes; KC 384
 * over 256 took MiniLM's K=384 products in one block (whole model 2-7% faster, A/B interleaved;
 * ResNet-50 unchanged within noise), 512 was no better.
 */
export const DEFAULT_TILE: PackedTile = { mr: 2, nr: 16, kc: 384, mc: 128, unroll: 1 };

export interface PackedGemmSpec {
  M: number;
  N: number;
  K: number;
  a: RowMajor;
  /** byte address of packB(b, K, N, transB, tile.nr) in memory (B a compile-time constant) ... */
  packedB?: number;
  /** a runtime byte offset added to packedB (a B packed at run time into per-thread scratch) */
  packedBBase?: () => Expr;
  /**
   * ... or B (K x N, element (k, n) at addr + base() + 4 * (k * rs + n * cs)) read in place, e.g. a
   * runtime activation (NCHW 1x1 convolution: C = W X with W as A); edge vectors load lane by lane.
   * A column stride cs != 1 (B stored transposed: attention's K read as [b, t, h, d]) needs bScratch:
   * each panel is gathered lane by lane into it, the row tail's too
   */
  b?: RowMajor;
  c: RowMajor;
  alpha?: number;
  /** byte address of a float32[N] added along the columns (after alpha) */
  bias?: number;
  epilogue?: PackedEpilogue;
  /**
   * with a transposed C (c.cs != 1): applied to each finished value before it is stored at byte
   * address ptr() + offset (a fused kernel's Epilogue.scalar), after alpha and bias
   */
  laneEpilogue?: (v: Expr, ptr: () => Expr, offset: number) => Expr;
  tile?: Partial<PackedTile>;
  /**
   * byte address of packedAScratchBytes(...) bytes of scratch: when given, each MC x KC block of A
   * is first copied there MR-interleaved (k-major), so the microkernel reads A as one stream
   */
  scratch?: number;
  /**
   * byte address of packA(a, M, K, tile): A a compile-time constant already in the order the
   * scratch copy would give it, for every block at once (rows past the last whole MR tile are
   * still read in place through spec.a). a.base() is added too: with M % MR = 0 a packed A takes
   * the bytes A does, so packed groups laid end to end are found at the same offsets
   */
  packedA?: number;
  /**
   * byte address of packedBScratchBytes(K, tile) bytes (16-aligned), with b only: each KC x NR panel
   * of B is first copied there (zero-padded past N) per MC block of rows, so the microkernel reads
   * one contiguous L1-resident stream instead of NR columns of rows rs apart (a 7x7 image's rows
   * are 196 bytes apart: a 256-row panel spans 50 KB in place)
   */
  bScratch?: number;
  /** f32x4.relaxed_madd in the k loop; default: when the module has binaryen.Features.RelaxedSIMD */
  relaxed?: boolean;
  /**
   * with bScratch and no b or packedB: code that writes the KC x NR panel of B for K rows k0 ..
   * k0 + len, columns from p * NR (cols of them) at bScratch, NR floats per row, the columns
   * past cols zero (as far as ceil(cols / 4) vectors): B made on the fly, e.g. dequantized from
   * 4-bit weights (quant/nbits.ts), never stored whole; at threads into this thread's own copy of
   * bScratch (+ tid * scratchStride), where the tiles read it
   */
  bPanel?: (k0: Idx, len: number, p: Idx, cols: number) => Expr[];
  /**
   * a threaded layer (docs/THREADS.md): each thread computes its share of C's panels (or of its MR
   * row tiles, whichever splits more evenly), every output element by one thread in the same K
   * order as one thread does, and packs into its own scratch (scratch and bScratch + tid * stride;
   * a bPanel writes there too: quant/nbits.ts).
   */
  threads?: ThreadCtx;
  /**
   * not split, but run by every thread of a threaded layer on a different matrix (a batched
   * product split over its batch: attention's heads): packs into this thread's own scratch
   * (bScratch + tid * stride), as with threads
   */
  ownScratch?: ThreadCtx;
  /**
   * a symbolic row count (KernelCtx.runtimeExtent): the rows of this run, at most M (the padded
   * layout's: strides and scratch are M's). Whole MR tiles up to it; with M a multiple of MR, the
   * last tile of a run's rows reaches into the padding rows of A and C (C's rows past the run's
   * may change), else its tail (each possible tail length compiled, one chosen at run time). Not
   * with packedA; with threads, split by panels.
   */
  rows?: () => Expr;
  /**
   * a symbolic K (attention's P V sums over the sequence): the k steps of this run, at most K (at
   * least 1). One K block only (K <= tile.kc); not with bPanel, packedA or scratch (A packing)
   */
  kSteps?: () => Expr;
  /**
   * a symbolic N, this run's columns (at most N): the panels that hold them run, the columns past
   * them in the last one are computed into the padding (with rows, or over all M rows: a
   * convolution's row of positions over an image whose width varies)
   */
  cols?: () => Expr;
}

/** Scratch bytes of the runtime B panel (PackedGemmSpec.bScratch): one KC x NR panel. */
export function packedBScratchBytes(K: number, tile: Partial<PackedTile> = {}): number {
  const t = { ...DEFAULT_TILE, ...tile };
  return 4 * Math.min(t.kc, K) * t.nr;
}

/** Scratch bytes the A packing of a product needs (0 when it is not worth it: one panel of B). */
export function packedAScratchBytes(M: number, N: number, K: number, tile: Partial<PackedTile> = {}): number {
  const t = { ...DEFAULT_TILE, ...tile };
  if (N <= t.nr || M < t.mr) return 0;
  return 4 * Math.min(t.mc, M - (M % t.mr)) * Math.min(t.kc, K);
}
