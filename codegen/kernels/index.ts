// The kernel registry: every kernel family, listed by hand (no registration by import side
// effect), and the lookup from an op, or a fused node's kind, to its family.
import { FUSED_DOMAIN, fusedKindOf, type Node } from "../../compiler/ir/graph.js";
import { opKey } from "../../compiler/ops/index.js";
import { KernelTable, type KernelCtx, type KernelFamily, type KernelPrep } from "./kernel.js";
import { KERNELS as ATTENTION } from "./attention/index.js";
import { KERNELS as CONV } from "./conv/index.js";
import { KERNELS as CONV_TRANSPOSE } from "./conv/transpose.js";
import { KERNELS as DEPTHWISE_NHWC } from "./conv/depthwise-nhwc.js";
import { KERNELS as ARITH } from "./elementwise/arith.js";
import { KERNELS as CAST } from "./elementwise/cast.js";
import { KERNELS as GATED } from "./elementwise/gated.js";
import { KERNELS as LOGIC } from "./elementwise/logic.js";
import { KERNELS as POW } from "./elementwise/pow.js";
import { fusedFamilies } from "./fused/index.js";
import { KERNELS as LINALG } from "./linalg/det.js";
import { KERNELS as LOSS } from "./loss/index.js";
import { KERNELS as MATMUL } from "./matmul/index.js";
import { KERNELS as FILL } from "./movement/fill.js";
import { KERNELS as MOVEMENT } from "./movement/index.js";
import { KERNELS as INDEXING } from "./movement/indexing.js";
import { KERNELS as DATA_DEPENDENT } from "./movement/data-dependent.js";
import { KERNELS as NORM } from "./norm/index.js";
import { KERNELS as NORM_LOCAL } from "./norm/local.js";
import { KERNELS as POOL_GLOBAL } from "./pool/global.js";
import { KERNELS as POOL } from "./pool/index.js";
import { KERNELS as QUANT_CONV } from "./quant/conv.js";
import { KERNELS as QUANT } from "./quant/index.js";
import { KERNELS as QUANT_MATMUL } from "./quant/matmul.js";
import { KERNELS as QUANT_NBITS } from "./quant/nbits.js";
import { KERNELS as QUANT_LUT } from "./quant/lut.js";
import { KERNELS as RECURRENT } from "./recurrent/index.js";
import { KERNELS as REDUCE_ARG } from "./reduce/arg.js";
import { KERNELS as REDUCE } from "./reduce/index.js";
import { KERNELS as RESIZE } from "./resize/index.js";
import { KERNELS as ROI_ALIGN } from "./sampling/roi-align.js";
import { KERNELS as DEFORM_CONV } from "./sampling/deform-conv.js";
import { KERNELS as AFFINE_GRID } from "./sampling/affine-grid.js";
import { KERNELS as MAX_UNPOOL } from "./sampling/max-unpool.js";
import { KERNELS as NMS } from "./detection/nms.js";
import { KERNELS as TREE_ENSEMBLE } from "./ml/tree-ensemble.js";
import { KERNELS as DFT } from "./signal/dft.js";
import { KERNELS as GRID } from "./signal/grid.js";
import { KERNELS as IMAGE } from "./signal/image.js";
import { KERNELS as SIGNAL } from "./signal/index.js";
import { KERNELS as CLIP } from "./unary/clip.js";
import { KERNELS as UNARY } from "./unary/index.js";

export const ALL_KERNELS: readonly KernelFamily[] = [
  ...ARITH, ...LOGIC, ...POW, ...CAST, ...GATED, ...UNARY, ...CLIP, ...MOVEMENT, ...FILL, ...INDEXING, ...REDUCE, ...REDUCE_ARG,
  ...NORM, ...NORM_LOCAL, ...MATMUL, ...CONV, ...CONV_TRANSPOSE, ...DEPTHWISE_NHWC, ...POOL, ...POOL_GLOBAL, ...RESIZE,
  ...ATTENTION, ...LINALG, ...LOSS, ...QUANT, ...QUANT_MATMUL, ...QUANT_CONV, ...QUANT_NBITS, ...QUANT_LUT, ...SIGNAL, ...DFT,
  ...IMAGE, ...GRID, ...RECURRENT, ...ROI_ALIGN, ...DEFORM_CONV, ...AFFINE_GRID, ...MAX_UNPOOL, ...NMS, ...DATA_DEPENDENT, ...TREE_ENSEMBLE,
];

const byOp = new Map<string, KernelFamily>();
function add(families: readonly KernelFamily[]): void {
  for (const f of families) {
    for (const op of f.ops) {
      const k = opKey(f.domain, op);
      if (byOp.has(k)) throw new Error(`two kernel families run ${k}`);
      byOp.set(k, f);
    }
  }
}
add(ALL_KERNELS);

/** the family of an op (no fused kinds) */
export function familyOfOp(domain: string, op: string): KernelFamily | undefined {
  return byOp.get(opKey(domain, op));
}

const FUSED = fusedFamilies(familyOfOp);

/** The kernel family that runs a node, or undefined when kiln has none. */
export function kernelFamily(node: Pick<Node, "domain" | "op" | "meta">): KernelFamily | undefined {
  if (node.domain === FUSED_DOMAIN) {
    const kind = fusedKindOf(node as Node);
    return kind && FUSED[kind];
  }
  return familyOfOp(node.domain, node.op);
}

/** Every family, built-in and registered, with the fused kinds. */
export function allKernelFamilies(): KernelFamily[] {
  return [...new Set([...byOp.values(), ...Object.values(FUSED)])];
}

/** A kernel for an op beyond kiln's own (a custom domain's, with registerOp; or a test's). */
export function registerKernel(ops: string | readonly string[], emit: (ctx: KernelCtx) => void, opts: { domain?: string; prepare?: (ctx: KernelCtx) => KernelPrep } = {}): void {
  const table = new KernelTable();
  table.add(ops, emit, opts);
  add(table.families);
}
