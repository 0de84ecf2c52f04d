// Kernels for fused nodes (domain kiln.fused), one family per fused kind: the fusion passes say
// which by node.meta.kind (compiler/ir/graph.ts FusedKind), and a fused node's body is its recipe.
import { FUSED_DOMAIN, type FusedKind } from "../../../compiler/ir/graph.js";
import { simpleVariant, type KernelFamily } from "../kernel.js";
import { emitFusedElementwise } from "./elementwise.js";
import { emitScaledSoftmax } from "./elementwise-softmax.js";
import { epilogueVariant } from "./epilogue.js";
import { QLINEAR_VARIANTS } from "./qlinear.js";
import { QDYNAMIC_VARIANTS } from "./qdynamic.js";

/** The family of each fused kind; `familyOf` finds an epilogue's anchor family. */
export function fusedFamilies(familyOf: (domain: string, op: string) => KernelFamily | undefined): Record<FusedKind, KernelFamily> {
  const family = (name: FusedKind, variants: KernelFamily["variants"]): KernelFamily => ({ name, domain: FUSED_DOMAIN, ops: [], variants });
  return {
    "elementwise": family("elementwise", [simpleVariant(emitFusedElementwise, undefined, "fused-loop")]),
    "scaled-softmax": family("scaled-softmax", [simpleVariant(emitScaledSoftmax, undefined, "scaled-rows")]),
    "epilogue": family("epilogue", [epilogueVariant(familyOf)]),
    "qlinear": family("qlinear", QLINEAR_VARIANTS),
    "qdynamic": family("qdynamic", QDYNAMIC_VARIANTS),
  };
}
