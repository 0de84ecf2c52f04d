// The optimization levels: which passes run, in which order.
import { cse } from "./cse.js";
import { dce } from "./dce.js";
import { foldConstantsPass } from "./fold-constants.js";
import { fuse } from "./fuse.js";
import { layoutNhwcPass } from "./layout-nhwc.js";
import type { Pass } from "./pass.js";
import { planMemoryPass } from "./plan-memory.js";
import { simplify } from "./simplify.js";

export type OptLevel = 0 | 1 | 2;

export const ALL_PASSES: readonly Pass[] = [simplify, foldConstantsPass, cse, dce, layoutNhwcPass, fuse, planMemoryPass];

export function pipelineFor(level: OptLevel): Pass[] {
  switch (level) {
    case 0: return [];
    case 1: return [simplify, foldConstantsPass, dce, planMemoryPass];
    default: return [simplify, foldConstantsPass, cse, simplify, dce, layoutNhwcPass, fuse, dce, planMemoryPass];
  }
}

export { runPasses, type PassStat, type DumpHook, type DumpSelection } from "./manager.js";
export type { Pass, PassContext } from "./pass.js";
