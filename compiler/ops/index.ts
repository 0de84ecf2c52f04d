// The op registry: every operator kiln knows, one definition each (domain, name, arity, shape
// rule, traits), listed family by family. Passes and the code generator ask it (opDef, hasTrait)
// instead of keeping lists of op names of their own.
import type { Node } from "../ir/graph.js";
import { ATTENTION_OPS } from "./attention.js";
import { EINSUM_OPS } from "./attention-einsum.js";
import { ROTARY_OPS } from "./attention-rotary.js";
import { CACHE_OPS } from "./attention-cache.js";
import { ELEMENTWISE_OPS } from "./elementwise.js";
import { LAYOUT_OPS } from "./layout.js";
import { LINALG_OPS } from "./linalg.js";
import { LOSS_OPS } from "./loss.js";
import { MOVEMENT_OPS } from "./movement.js";
import { INDEXING_OPS } from "./movement-index.js";
import { DETECTION_OPS } from "./detection.js";
import { FLEX_ATTENTION_OPS } from "./attention-flex.js";
import { ML_OPS } from "./ml.js";
import { NN_OPS } from "./nn.js";
import { CONV_OPS } from "./nn-conv.js";
import { CONTROL_OPS } from "./control.js";
import { OPTIONAL_OPS } from "./optional.js";
import { SEQUENCE_OPS } from "./sequence.js";
import { RESIZE_OPS } from "./nn-resize.js";
import { NORM_OPS } from "./norm.js";
import { QUANT_OPS } from "./quant.js";
import { QUANT_LUT_OPS } from "./quant-lut.js";
import { RECURRENT_OPS } from "./recurrent.js";
import { RECURRENT_STATE_OPS } from "./recurrent-state.js";
import { REDUCE_OPS } from "./reduce.js";
import { SIGNAL_OPS } from "./signal.js";
import { DFT_OPS } from "./signal-dft.js";
import { IMAGE_OPS } from "./signal-image.js";
import { SAMPLING_OPS } from "./nn-sampling.js";
import { UNARY_OPS } from "./unary.js";
import { OpTable, type OpDef, type OpOptions, type ShapeRule, type Trait } from "./registry.js";

export const ALL_OPS: readonly OpDef[] = [
  ...ELEMENTWISE_OPS, ...UNARY_OPS, ...MOVEMENT_OPS, ...INDEXING_OPS, ...REDUCE_OPS, ...NORM_OPS, ...NN_OPS,
  ...CONV_OPS, ...RESIZE_OPS, ...ATTENTION_OPS, ...EINSUM_OPS, ...ROTARY_OPS, ...CACHE_OPS, ...LOSS_OPS, ...QUANT_OPS,
  ...QUANT_LUT_OPS, ...SIGNAL_OPS, ...DFT_OPS, ...LINALG_OPS, ...IMAGE_OPS, ...SAMPLING_OPS, ...LAYOUT_OPS, ...RECURRENT_OPS,
  ...RECURRENT_STATE_OPS, ...CONTROL_OPS, ...OPTIONAL_OPS,
  ...SEQUENCE_OPS, ...DETECTION_OPS, ...FLEX_ATTENTION_OPS, ...ML_OPS,
];

/** "" and "ai.onnx" name the same domain */
export const opKey = (domain: string, op: string) => `${domain === "ai.onnx" ? "" : domain}::${op}`;

const byKey = new Map<string, OpDef>();
function add(defs: readonly OpDef[]): void {
  for (const d of defs) {
    const k = opKey(d.domain, d.name);
    if (byKey.has(k)) throw new Error(`op ${k} is defined twice`);
    byKey.set(k, d);
  }
}
add(ALL_OPS);

/**
 * Define operators beyond kiln's own: a custom domain's (with kernels registered through
 * codegen/kernels/index.ts registerKernel), or a test's.
 */
export function registerOp(names: string | readonly string[], shape: ShapeRule, options: OpOptions = {}): void {
  const table = new OpTable();
  table.define(names, shape, options);
  add(table.defs);
}

/** Every defined operator, built-in and registered. */
export function allOps(): OpDef[] {
  return [...byKey.values()];
}

export function opDef(domain: string, op: string): OpDef | undefined {
  return byKey.get(opKey(domain, op));
}

/** Whether the op (of the default domain unless a node is given) has the trait. */
export function hasTrait(op: string | Pick<Node, "op" | "domain">, trait: Trait): boolean {
  const d = typeof op === "string" ? byKey.get(opKey("", op)) : byKey.get(opKey(op.domain, op.op));
  return d?.traits.has(trait) ?? false;
}

export { type OpDef, type Trait, type AnchorInfo } from "./registry.js";
