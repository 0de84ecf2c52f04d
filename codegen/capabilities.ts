// What the code generator can do, asked without generating code: the one module passes import
// from codegen/. A pass that rewrites the graph for a kernel (epilogue fusion, the NHWC layout)
// asks here whether the kernel takes the result; select-kernels records each layer's variant.
import type { Graph, Node } from "../compiler/ir/graph.js";
import { sizeOf } from "../runtime/dtypes.js";
import { kernelFamily, allKernelFamilies } from "./kernels/index.js";
import { LayerCtx, STATIC_SHAPE_VARIANTS, type KernelSelection, type TensorInfo } from "./kernels/kernel.js";
import { selectVariant } from "./kernels/select.js";

export { anchorFits, biasFoldable, channelAxis, classifyStep, worthFusing, type Lookup } from "./kernels/fused/epilogue-rules.js";
export { MAX_FUSED_VALUES } from "./kernels/fused/elementwise.js";
export { nhwcDepthwiseGeometry } from "./kernels/conv/depthwise-nhwc-geometry.js";
export { matchesVariant, NO_SELECTION, type KernelSelection } from "./kernels/kernel.js";

/** The graph's view of a value, as kernels plan with it. */
function infoOf(graph: Graph, name: string): TensorInfo | undefined {
  if (!name) return undefined;
  const v = graph.values.get(name);
  if (!v?.dtype || !v.shape || v.shape.some((d) => typeof d !== "number")) return undefined;
  const dims = v.shape as number[];
  return { name, dtype: v.dtype, dims, size: sizeOf(dims), value: v.const };
}

/**
 * The kernel variant that will run `node` (the one the code generator picks: its family's first
 * that plans the layer, after the selection's forced and forbidden variants), or undefined for a
 * node with no kernel.
 */
export function chooseKernel(graph: Graph, node: Node, selection?: KernelSelection): string | undefined {
  const family = kernelFamily(node);
  if (!family) return undefined;
  const layer = new LayerCtx(node, graph.opset(node.domain), node.inputs.map((i) => infoOf(graph, i)), node.outputs.map((o) => infoOf(graph, o)), selection);
  layer.varying = [...node.inputs, ...node.outputs].some((t) => !!t && !!graph.symbolic?.dims.has(t));
  if (layer.varying) layer.varyingDims = graph.symbolic!.dims;
  return selectVariant(family, layer).name;
}

/**
 * After a symbolic build's dims are known (graph.symbolic): a layer with a varying dim whose
 * recorded variant (select-kernels ran at the bounds) has no symbolic form takes the variant the
 * code generator will run instead (kernels/select.ts), so dumps and reports name it.
 */
export function rerecordVarying(graph: Graph): void {
  for (const n of graph.nodeList()) {
    if (n.meta?.kernel === undefined) continue;
    if (![...n.inputs, ...n.outputs].some((t) => t && graph.symbolic?.dims.has(t))) continue;
    if (STATIC_SHAPE_VARIANTS.has(n.meta.kernel)) n.meta = { ...n.meta, kernel: chooseKernel(graph, n) ?? n.meta.kernel };
    // a variant whose plan depends on which dims vary (Einsum's packed labels) and no longer plans: chosen afresh
    else if (plansByVarying(n) && !plans(graph, n)) n.meta = { ...n.meta, kernel: chooseKernel(graph, { ...n, meta: withoutKernel(n.meta) }) ?? n.meta.kernel };
  }
}

const withoutKernel = ({ kernel: _, ...rest }: NonNullable<Node["meta"]>) => rest;

/** whether the node's recorded variant plans by which dims vary (KernelVariant.plansByVarying) */
const plansByVarying = (n: Node) => kernelFamily(n)?.variants.find((v) => v.name === n.meta?.kernel)?.plansByVarying === true;

/** whether the recorded variant still plans the node (with graph.symbolic's dims known) */
function plans(graph: Graph, n: Node): boolean {
  try {
    chooseKernel(graph, n);
    return true;
  } catch {
    return false;
  }
}

/** Every variant name, by family: what a kernel selection may name. */
export function kernelVariantNames(): Map<string, string[]> {
  return new Map(allKernelFamilies().map((f) => [f.name, f.variants.map((v) => v.name)]));
}
