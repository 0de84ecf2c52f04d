// What every recurrent variant's plan starts from: the node's geometry (compiler/ops/recurrent.ts)
// and whether its sequence_lens can cut any sequence short.
import { recurrentGeometry, type RecurrentGeometry, type RecurrentKind } from "../../../compiler/ops/recurrent.js";
import { KilnError } from "../../../runtime/errors.js";
import type { LayerCtx } from "../kernel.js";

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
