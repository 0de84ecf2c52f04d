// The optimization levels: which passes run, in which order.
import { cse } from "./cse.js";
import { dce } from "./dce.js";
import { foldConstantsPass } from "./fold-constants.js";
import { fuseElementwisePass } from "./fuse-elementwise.js";
import { fuseEpiloguePass } from "./fuse-epilogue.js";
import { fuseTransposedMatmulPass } from "./fuse-transposed-matmul.js";
import { fuseAttentionPass } from "./fuse-attention.js";
import { fuseQdqPass } from "./fuse-qdq.js";
import { fuseQdqLutPass } from "./fuse-qdq-lut.js";
import { fuseDynamicQuantPass } from "./fuse-dynamic-quant.js";
import { fusePatternsPass } from "./fuse-patterns.js";
import { layoutNhwcPass } from "./layout-nhwc.js";
import { lowerControlFlowPass } from "./lower-control-flow.js";
import { widenFloat16Pass } from "./widen-float16.js";
import type { Pass } from "./pass.js";
import { planMemoryPass } from "./plan-memory.js";
import { selectKernelsPass } from "./select-kernels.js";
import { simplify } from "./simplify.js";
import { quantizeWeightsPass } from "./quantize-weights.js";
import { quantizeStaticPass } from "./quantize-static.js";

export type OptLevel = 0 | 1 | 2;

export const ALL_PASSES: readonly Pass[] = [
  lowerControlFlowPass, widenFloat16Pass, simplify, fuseQdqPass, foldConstantsPass, cse, dce, layoutNhwcPass, fusePatternsPass, fuseDynamicQuantPass, fuseQdqLutPass, fuseEpiloguePass, fuseTransposedMatmulPass, fuseAttentionPass, fuseElementwisePass, selectKernelsPass, planMemoryPass,
  // run by the driver when asked (compile's quantize option), never by a level
  quantizeWeightsPass, quantizeStaticPass,
];

export function passNamed(name: string): Pass | undefined {
  return ALL_PASSES.find((p) => p.name === name);
}

/**
 * Every level ends with select-kernels, which rewrites nothing: it records each layer's kernel
 * variant. (lower-control-flow and widen-float16 run before every level, as graph preparation ends: compile.ts.)
 */
export function pipelineFor(level: OptLevel): Pass[] {
  switch (level) {
    case 0: return [selectKernelsPass];
    case 1: return [simplify, foldConstantsPass, dce, selectKernelsPass, planMemoryPass];
    // fuse-qdq before fold-constants, which would turn the weights' DequantizeLinear into float
    default: return [simplify, fuseQdqPass, foldConstantsPass, cse, simplify, dce, layoutNhwcPass, fusePatternsPass, fuseDynamicQuantPass, fuseQdqLutPass, fuseEpiloguePass, fuseTransposedMatmulPass, fuseAttentionPass, fuseElementwisePass, dce, selectKernelsPass, planMemoryPass];
  }
}

export { runPasses, type PassStat, type DumpHook, type DumpSelection, type RunOptions } from "./manager.js";
export { parseKernelSelection } from "./select-kernels.js";
export { lowerControlFlow } from "./lower-control-flow.js";
export { widenFloat16 } from "./widen-float16.js";
export type { Pass, PassContext, PassStats, OptionValue } from "./pass.js";
