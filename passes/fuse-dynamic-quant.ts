// fuse-dynamic-quant: the chain onnxruntime's quantize_dynamic (and transformers.js's q8 models)
// writes for each quantized MatMul, MatMulInteger -> Cast(float) -> Mul(x_scale * w_scale),
// becomes one fused node of kind "qdynamic" together with what follows it as an epilogue would
// (bias Add, activation, residual Add: the rules of passes/fuse-epilogue.ts), which the int8 GEMM
// runs with a float store (codegen/kernels/fused/qdynamic.ts). DynamicQuantizeLinear stays its
// own layer: its three outputs usually feed several products.
import type { Graph, Node } from "../compiler/ir/graph.js";
import { chooseKernel, classifyStep, worthFusing, type Lookup } from "../codegen/capabilities.js";
import { FUSED_DOMAIN } from "../compiler/ir/graph.js";
import type { Pass } from "./pass.js";

/** The one reader of v, when v is no graph output and exactly one node reads it. */
function soleReader(g: Graph, v: string): Node | undefined {
  if (g.outputs.includes(v)) return undefined;
  const users = g.consumers(v);
  return users.length === 1 ? users[0] : undefined;
}

function lookup(g: Graph): Lookup {
  return (name) => {
    const v = g.values.get(name);
    return v?.dtype && v.shape ? { dims: v.shape as number[], dtype: v.dtype, isConst: !!v.const } : undefined;
  };
}

/** MatMulInteger -> Cast(float32) -> Mul, and the epilogue steps after it; undefined when the chain is not there. */
function chainFrom(g: Graph, mm: Node): Node[] | undefined {
  const cast = soleReader(g, mm.outputs[0]);
  if (!cast || cast.op !== "Cast" || cast.domain !== "" || g.values.get(cast.outputs[0])?.dtype !== "float32") return undefined;
  const mul = soleReader(g, cast.outputs[0]);
  if (!mul || mul.op !== "Mul" || mul.domain !== "" || mul.inputs.filter((i) => i === cast.outputs[0]).length !== 1) return undefined;
  const look = lookup(g);
  const out = look(mul.outputs[0])?.dims;
  if (!out || out.join() !== (look(mm.outputs[0])?.dims ?? []).join()) return undefined;
  const nodes = [mm, cast, mul];
  let cur = mul.outputs[0], biasOpen = true;
  for (;;) {
    const next = soleReader(g, cur);
    if (!next || next.outputs.length !== 1) break;
    const res = look(next.outputs[0]);
    if (!res || res.dtype !== "float32" || res.dims.join() !== out.join()) break;
    const step = classifyStep(next, cur, look, out, out.length - 1, biasOpen);
    // the kernel is a matrix product: costly activations join as after MatMul
    if (!step || (step.kind === "activation" && !worthFusing({ op: "MatMul", domain: "" }, next.op))) break;
    if (step.kind !== "bias") biasOpen = false;
    nodes.push(next);
    cur = next.outputs[0];
  }
  return nodes;
}

export function fuseDynamicQuant(graph: Graph): { groups: number } {
  let groups = 0;
  for (const mm of graph.topoOrder()) {
    if (mm.op !== "MatMulInteger" || mm.domain !== "" || !graph.g.hasNode(mm.name)) continue;
    const nodes = chainFrom(graph, mm);
    if (!nodes) continue;
    const produced = new Set(nodes.flatMap((n) => n.outputs));
    const last = nodes[nodes.length - 1];
    const node: Node = {
      name: mm.name, op: nodes.map((n) => n.op).join("_"), domain: FUSED_DOMAIN,
      inputs: [...new Set(nodes.flatMap((n) => n.inputs).filter((v) => v && !produced.has(v)))],
      outputs: [...last.outputs], attrs: {}, meta: { kind: "qdynamic", fused: nodes.map((n) => n.op).join("+") }, body: nodes,
    };
    // only what the kernel takes (constant 2-D weights, one-value zero points and scales...)
    try { if (!chooseKernel(graph, node)) continue; } catch { continue; }
    for (const n of nodes) graph.removeNode(n.name);
    graph.opsets.set(FUSED_DOMAIN, 1);
    graph.addNode(node);
    groups++;
  }
  graph.pruneValues();
  return { groups };
}

export const fuseDynamicQuantPass: Pass = {
  name: "fuse-dynamic-quant",
  description: "runs dynamic quantization's MatMulInteger -> Cast -> Mul(scale) chains, with the bias, activation and residual after them, as one int8 GEMM with a float store",
  run: (graph) => fuseDynamicQuant(graph),
};
