// Einsum as a batched matrix product through the packed GEMM (matmul/gemm-packed.ts), its operands
// and output read and written in place with the strides the equation gives. This is what lets
// attention skip its head transposes (passes/fuse-transposed-matmul.ts): Q K^T reads Q and K as
// [b, s, h, d] ("bshd,bthd->bhst") and P V writes the context straight into [b, s, h, d]
// ("bhst,bthd->bshd"), so no layer copies Q, V or the context between the two layouts. The
// same code per matrix as MatMul's "packed-runtime" (B's panels copied into scratch, the 2x16
// microkernel, K in the same order), split among threads the same way.
import binaryen from "binaryen";
import { planEinsum, type EinsumPlan } from "../../../compiler/ops/attention-einsum.js";
import { DEFAULT_TILE, emitPackedGemm, packedBScratchBytes, type RowMajor } from "../matmul/gemm-packed.js";
import type { Expr, Local } from "../../fn.js";
import { variant, type KernelCtx, type LayerCtx } from "../kernel.js";
import { threadShare } from "../../threads.js";

/** The product's one M, N and K label and its batch labels, each with its element strides. */
export interface PackedEinsum {
  M: number; N: number; K: number;
  /** element strides: A's rows (M) and columns (K), B's rows (K) and columns (N), C's rows (M) */
  aRows: number; aCols: number; bRows: number; bCols: number; cRows: number;
  batch: { size: number; a: number; b: number; c: number }[];
}

/**
 * The M, N and K labels and the batch labels of a PackedEinsum, with each label's size and element
 * strides in A, B and C; M, N or K made of several labels is its innermost, the others `merged`.
 */
interface Labels { m: number; n: number; k: number; batch: number[]; sizes: number[]; merged: Set<number>; /** the label of each dim of A, B and C */ dims: number[][] }

/**
 * Labels that run as one (MaskFormer's "bqc,bchw->bqhw": N is h and w): each the next's size times
 * its stride apart in every tensor that has them. Innermost last; undefined where they are not.
 */
function mergedLabels(labels: readonly number[], sizes: readonly number[], strides: readonly (readonly number[])[]): { inner: number; size: number; others: number[] } | undefined {
  const order = [...labels].sort((x, y) => strides[0][y] - strides[0][x]);
  for (let i = 0; i + 1 < order.length; i++) {
    if (strides.some((st) => st[order[i]] !== sizes[order[i + 1]] * st[order[i + 1]])) return undefined;
  }
  return { inner: order[order.length - 1], size: order.reduce((n, l) => n * sizes[l], 1), others: order.slice(0, -1) };
}

const outStrides = (plan: EinsumPlan): number[] => {
  const s: number[] = [];
  for (let k = plan.outRank - 1, acc = 1; k >= 0; acc *= plan.sizes[k], k--) s[k] = acc;
  return s;
};

/**
 * The plan of a two-operand float32 Einsum that is one matrix product per batch index: one label
 * in A and the output (M), one in B and the output (N, contiguous in the output), one summed in
 * both (K), or for each several labels that run as one (mergedLabels: "bqc,bchw->bqhw"); the other
 * output labels, in both operands, are batch labels; A and B may have any strides (A is read a
 * float at a time anyway; a B whose N is not contiguous is gathered into the panel lane by lane, as
 * attention's K^T: "bshd,bthd->bhst" reads K as [b, t, h, d]); labels of size 1 do not count.
 * Labels are told apart by their strides, so a label one operand broadcasts counts as a second M
 * or N label: it runs as one with the other, or as a batch label (the other operand's stride 0).
 * Otherwise undefined (the loop-nest kernel).
 */
export function packedEinsumPlan(equation: string, shapes: readonly (readonly number[])[], out: readonly number[], varying?: readonly (readonly boolean[])[]): PackedEinsum | undefined {
  return classify(equation, shapes, out, varying)?.plan;
}

/** `varying`: which dims of A, B and the output vary (symbolic dims): their labels never run as one with another */
function classify(equation: string, shapes: readonly (readonly number[])[], out: readonly number[], varying?: readonly (readonly boolean[])[]): { plan: PackedEinsum; labels: Labels } | undefined {
  if (shapes.length !== 2) return undefined;
  let plan: EinsumPlan;
  try {
    plan = planEinsum(equation, shapes, (msg) => { throw new Error(msg); });
  } catch {
    return undefined;
  }
  if (plan.outShape.join() !== out.join() || plan.sizes.some((s) => s === 0)) return undefined;
  const [sa, sb] = plan.inputStrides;
  const os = outStrides(plan);
  // the label of each dim of A, B and C (an output dim's label is its place), and those of the varying ones
  const dims = [...plan.inputLabels, out.map((_, k) => k)];
  const apart = new Set(dims.flatMap((ls, j) => ls.filter((_, k) => varying?.[j]?.[k])));
  const M: number[] = [], N: number[] = [], K: number[] = [];
  const batch: PackedEinsum["batch"] = [];
  const batchLabels: number[] = [];
  for (let l = 0; l < plan.sizes.length; l++) {
    const inOut = l < plan.outRank, a = sa[l] !== 0, b = sb[l] !== 0;
    if (plan.sizes[l] === 1) continue;
    if (inOut && a && !b) M.push(l);
    else if (inOut && b && !a) N.push(l);
    else if (inOut) batchLabels.push(l), batch.push({ size: plan.sizes[l], a: sa[l], b: sb[l], c: os[l] });
    else if (a && b) K.push(l);
    else return undefined; // a label summed in one operand only
  }
  if (!M.length || !N.length || !K.length) return undefined;
  // M (or N) labels that do not run as one: the one innermost in the output stays, the others are
  // batch labels the other operand broadcasts (SAM's relative positions, "bhwc,hkc->bhwk": a
  // product per b and h, B the same for every b)
  const rowsOrCols = (list: number[], strides: readonly number[], side: "a" | "b") => {
    const whole = list.some((l) => apart.has(l)) ? undefined : mergedLabels(list, plan.sizes, [strides, os]);
    if (whole) return whole;
    const inner = list.reduce((x, y) => (os[y] < os[x] ? y : x));
    for (const l of list) if (l !== inner) batchLabels.push(l), batch.push({ size: plan.sizes[l], a: side === "a" ? sa[l] : 0, b: side === "b" ? sb[l] : 0, c: os[l] });
    return { inner, size: plan.sizes[inner], others: [] };
  };
  const [mm, nn, kk] = [rowsOrCols(M, sa, "a"), rowsOrCols(N, sb, "b"), mergedLabels(K, plan.sizes, [sa, sb])];
  if (!kk) return undefined;
  const [m, n, k] = [mm.inner, nn.inner, kk.inner];
  if (os[n] !== 1) return undefined;
  // as packed-runtime: at least one row tile, panels mostly filled
  if (mm.size < DEFAULT_TILE.mr || nn.size < 8) return undefined;
  const labels = { m, n, k, batch: batchLabels, sizes: plan.sizes, merged: new Set([...mm.others, ...nn.others, ...kk.others]), dims };
  return { plan: { M: mm.size, N: nn.size, K: kk.size, aRows: sa[m], aCols: sa[k], bRows: sb[k], bCols: sb[n], cRows: os[m], batch }, labels };
}

function plan(ctx: LayerCtx): PackedEinsum | undefined {
  if (ctx.inputs.length !== 2) return undefined;
  const a = ctx.input(0), b = ctx.input(1), y = ctx.output(0);
  if ([a, b, y].some((t) => t?.dtype !== "float32") || !y.size) return undefined;
  return packedEinsumPlan(ctx.attrs.string("equation"), [a.dims, b.dims], y.dims, varyingOf(ctx));
}

/** which dims of A, B and the output vary, for classify (none outside a symbolic build) */
const varyingOf = (ctx: LayerCtx) => ctx.varyingDims && [ctx.input(0), ctx.input(1), ctx.output(0)].map((t) => (ctx.varyingDims!.get(t.name) ?? t.dims).map((d) => typeof d !== "number"));

/**
 * Symbolic dims (the padded layout's strides, docs/ARCHITECTURE.md "Symbolic dims"): each varying
 * dim of A, B or C as its label, with this run's extent. M's rows and K's steps run to it, N's
 * panels too (the columns past this run's in its last panel, or all of N's when M is static, are
 * computed into the padding, which no kernel reads as values: softmax and P V stop at the run's
 * length); a varying batch label runs this run's count of matrices along it (a batch of images'
 * attention; SpeechT5's relative positions, "bac,acd->bad", one product per position).
 */
function symbolicLabels(ctx: KernelCtx, p: PackedEinsum): Map<number, () => Expr> & { labels?: Labels } {
  const found: Map<number, () => Expr> & { labels?: Labels } = new Map();
  if (!ctx.symbolic) return found;
  const labels = found.labels = classify(ctx.attrs.string("equation"), [ctx.input(0).dims, ctx.input(1).dims], ctx.output(0).dims, varyingOf(ctx))!.labels;
  [ctx.input(0), ctx.input(1), ctx.output(0)].forEach((t, j) => {
    ctx.symbolic!.dims.get(t.name)?.forEach((d, k) => {
      if (typeof d === "number") return;
      const l = labels.dims[j][k];
      // labels run as one M, N or K (h and w of "bqc,bchw->bqhw"): their product is the bounds'
      if (labels.merged.has(l) || [labels.m, labels.n, labels.k].some((x) => x === l && p[x === labels.m ? "M" : x === labels.n ? "N" : "K"] !== labels.sizes[l])) {
        ctx.unsupported(`Einsum ${JSON.stringify(ctx.attrs.string("equation"))}: ${JSON.stringify(t.name)} varies in dim ${k}, one of the dims the packed kernel runs as one; ${ctx.pinHintOf(t, k)}`);
      }
      found.set(l, () => ctx.runtimeDim(t, k)!);
    });
  });
  if (found.has(labels.k) && p.K > MAX_RUNTIME_K) ctx.unsupported(`Einsum sums over a symbolic dim of at most ${p.K}; the packed kernel takes a run-time K up to ${MAX_RUNTIME_K} so far: lower the bound or pin the dim`);
  return found;
}

/**
 * A run-time K runs as one K block (PackedGemmSpec.kSteps), its B panel as long as K's bound: up to
 * this many steps (a 16-column panel of 2048 floats, 128 KB of scratch, past L1 but streamed in order)
 */
export const MAX_RUNTIME_K = 2048;

/** the tile of a product with a symbolic K: one K block of K's bound */
const tileOf = (ctx: KernelCtx, p: PackedEinsum) => {
  const sym = symbolicLabels(ctx, p);
  return sym.labels && sym.has(sym.labels.k) ? { kc: Math.max(DEFAULT_TILE.kc, p.K) } : undefined;
};

function emit(ctx: KernelCtx, p: PackedEinsum): void {
  const { fn } = ctx;
  const found = symbolicLabels(ctx, p);
  const labels = found.labels;
  // a varying N with varying rows: the panels of this run's columns; else computed whole (asking
  // its extent marks the padded layout as read)
  if (labels && found.has(labels.n) && !found.has(labels.m)) found.get(labels.n)!();
  const sym = labels ? { rows: found.get(labels.m), kSteps: found.get(labels.k), cols: found.has(labels.m) ? found.get(labels.n) : undefined } : {};
  const tile = tileOf(ctx, p);
  // enough matrices (attention's heads) for every thread to take whole ones: no thread shares a
  // small matrix (a 128x128 head split in two scaled worse than not at all); a run-time K splits
  // only so (the product's own split is by whole K blocks)
  const matrices = p.batch.reduce((n, l) => n * l.size, 1);
  // varying batch labels: this run's count of each, and of the matrices
  const runSize = p.batch.map((l, j) => (labels ? found.get(labels.batch[j]) : undefined));
  const sizeOf = (j: number): Expr => runSize[j]?.() ?? ctx.m.i32.const(p.batch[j].size);
  const runMatrices = runSize.some((r) => r) ? () => p.batch.reduce<Expr>((e, _, j) => ctx.m.i32.mul(e, sizeOf(j)), ctx.m.i32.const(1)) : matrices;
  const wholeMatrices = ctx.threads !== undefined && (matrices % ctx.threads.max === 0 || matrices >= 4 * ctx.threads.max);
  const threads = sym.kSteps && !wholeMatrices ? undefined : ctx.splitAmong();
  const byMatrix = threads !== undefined && wholeMatrices;
  const base = { a: fn.local(binaryen.i32), b: fn.local(binaryen.i32), c: fn.local(binaryen.i32) };
  const view = (addr: number, rs: number, cs: number, at: Local): RowMajor => ({ addr, rs, cs, base: () => at.get() });
  const product = emitPackedGemm(ctx, {
    M: p.M, N: p.N, K: p.K,
    a: view(ctx.input(0).addr, p.aRows, p.aCols, base.a),
    b: view(ctx.input(1).addr, p.bRows, p.bCols, base.b),
    c: view(ctx.output(0).addr, p.cRows, 1, base.c),
    bScratch: ctx.scratchAddr,
    ...(byMatrix ? { ownScratch: threads } : { threads }),
    ...sym,
    ...(tile ? { tile } : {}),
  });
  const bytes = (s: "a" | "b" | "c") => p.batch.map((l) => 4 * l[s]);
  if (byMatrix) {
    // this thread's matrices [lo, hi) of the flattened batch, each whole, a call per matrix
    const { m } = ctx;
    const share = threadShare(m, threads!, runMatrices);
    fn.emit(fn.loopDyn(share.lo, share.hi, (b) => {
      // matrix b's index along each batch label: its digits in this run's sizes
      const offset = (s: "a" | "b" | "c") => {
        let e: Expr = m.i32.const(0);
        let inner: () => Expr = () => m.i32.const(1);
        for (let k = p.batch.length - 1; k >= 0; k--) {
          const at = m.i32.rem_u(m.i32.div_u(b.get(), inner()), sizeOf(k));
          e = m.i32.add(e, m.i32.mul(at, m.i32.const(4 * p.batch[k][s])));
          const outer = inner;
          inner = () => m.i32.mul(outer(), sizeOf(k));
        }
        return e;
      };
      const body = [base.a.set(offset("a")), base.b.set(offset("b")), base.c.set(offset("c")), ...product];
      return [fn.outline(body) ?? fn.block(body)];
    }));
    return;
  }
  // a call per matrix, as MatMul's batches (Fn.outline)
  fn.emit(fn.nest(p.batch.map((l, j) => runSize[j] ?? l.size), (idx) => [
    base.a.set(fn.linear(idx, bytes("a"))),
    base.b.set(fn.linear(idx, bytes("b"))),
    base.c.set(fn.linear(idx, bytes("c"))),
    ...product,
  ], { outline: true }));
}

export const PACKED_EINSUM = variant<PackedEinsum>({
  name: "packed",
  plan,
  plansByVarying: true,
  prepare: (ctx, p) => ({ scratchBytes: packedBScratchBytes(p.K, tileOf(ctx, p)) }),
  emit,
});
