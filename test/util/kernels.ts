// Which kernel variant runs a layer, asked the way the code generator asks it: a one-node graph,
// shapes inferred by the op registry, then the pure plans of the op's kernel family (no module).
import type { Attr } from "../../compiler/ir/graph.js";
import { Graph } from "../../compiler/ir/graph.js";
import { inferShapes } from "../../compiler/ops/infer.js";
import { familyOfOp } from "../../codegen/kernels/index.js";
import { LayerCtx, NO_SELECTION, type KernelSelection, type TensorInfo } from "../../codegen/kernels/kernel.js";
import { selectVariant } from "../../codegen/kernels/select.js";
import { tensor } from "./ort.js";
import type { DTypeName } from "../../runtime/dtypes.js";

export interface LayerInput {
  dims: number[];
  /** a compile-time constant (weights) */
  constant?: boolean;
  dtype?: DTypeName;
  /** a constant's values (default: seeded random) */
  data?: number[];
}

export interface KernelAnswer {
  /** the variant the code generator picks */
  chosen: string;
  /** every variant whose plan takes the layer (heuristics on), in the family's order */
  applicable: string[];
}

export async function kernelsFor(op: string, inputs: (LayerInput | null)[], attrs: Record<string, Attr> = {}, selection: KernelSelection = NO_SELECTION, domain = ""): Promise<KernelAnswer> {
  const g = new Graph();
  g.opsets.set("", 17);
  if (domain) g.opsets.set(domain, 1);
  const names = inputs.map((x, k) => {
    if (!x) return "";
    const name = `in${k}`;
    const v = g.value(name);
    v.dtype = x.dtype ?? "float32";
    v.shape = [...x.dims];
    if (x.constant) v.const = tensor({ dims: x.dims, dtype: x.dtype, data: x.data }, k + 1);
    else g.inputs.push(name);
    return name;
  });
  g.addNode({ name: "layer", op, domain, inputs: names, outputs: ["y"], attrs });
  g.value("y");
  g.outputs = ["y"];
  await inferShapes(g);
  const node = g.node("layer");
  const info = (name: string): TensorInfo | undefined => {
    if (!name) return undefined;
    const v = g.values.get(name)!;
    const dims = v.shape as number[];
    return { name, dtype: v.dtype!, dims, size: dims.reduce((a, b) => a * b, 1), value: v.const };
  };
  const layer = new LayerCtx(node, domain ? 1 : 17, node.inputs.map(info), node.outputs.map(info), selection);
  const family = familyOfOp(domain, op)!;
  const applicable = family.variants.filter((v) => v.plan(layer, false) !== undefined).map((v) => v.name);
  return { chosen: selectVariant(family, layer).name, applicable };
}
