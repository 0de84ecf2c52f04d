// What every recurrent variant's plan starts from: the node's geometry (compiler/ops/recurrent.ts)
// and whether its sequence_lens can cut any sequence short; the packed variants' plan.
import { recurrentGeometry, type RecurrentGeometry, type RecurrentKind } from "../../../compiler/ops/recurrent.js";
import { KilnError } from "../../../runtime/errors.js";
import type { LayerCtx } from "../kernel.js";
import { packedBytes } from "../matmul/gemm-pack.js";
import type { CellLayout } from "./layout.js";

export function geometryOf(layer: LayerCtx): RecurrentGeometry {
  const invalid = (m: string): never => { throw new KilnError("INVALID_MODEL", m, layer.context()); };
  return recurrentGeometry(layer.node.op as RecurrentKind, layer.opset, layer.attrs, layer.inputs.map((t) => t?.dims), invalid);
}

/** false when sequence_lens is absent or a constant that lets every sequence run to the end */
export function lensMatter(layer: LayerCtx, g: RecurrentGeometry): boolean {
  const lens = layer.inputs[4];
  if (!lens) return false;
  if (!lens.value) return true;
  return Array.from(lens.value.data as Int32Array).some((n) => n < g.seq);
}

export interface PackedPlan {
  geo: RecurrentGeometry;
  lay: CellLayout;
  lens: boolean;
  bias: boolean;
  peep: boolean;
  /** W, R, B and P packed at run time (some are not constants) */
  runtime: boolean;
}

/** Bytes of each packed weight: W for the GEMM, R per direction and segment, the bias, Rb_h, the peepholes. */
export function weightBytes(p: PackedPlan) {
  const { geo: g, lay } = p;
  return {
    w: packedBytes(g.input, g.dirs * lay.cols),
    r: lay.segments.map((s) => g.hidden * s.width * 4),
    bias: p.bias ? g.dirs * lay.cols * 4 : 0,
    rbh: p.bias && g.linearBeforeReset ? g.dirs * lay.hpad * 4 : 0,
    peep: p.peep ? g.dirs * 3 * lay.hpad * 4 : 0,
  };
}
