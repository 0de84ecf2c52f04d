// fuse-elementwise: merge trees of elementwise ops into one fused node (kind "elementwise") that
// codegen/kernels/fused/elementwise.ts runs as ONE broadcasting loop, intermediates in locals.
// A group grows from a root (the last op, whose output may have any number of readers) up through
// producers whose output is read by exactly one node, inside the group, and is no graph output:
// so every group is a tree, nothing outside reads its intermediates, and it cannot close a cycle.
// Every member computes the root's full shape (external inputs may broadcast), so no intermediate
// is recomputed for more elements than it has. Float32/float64 only (a Cast may read float16);
// comparisons join only as the condition of a Where in the same group. Clip joins with constant
// bounds (the HardSwish exporters write, x * Clip(x + 3, 0, 6) / 6, becomes one loop).
import type { DTypeName } from "../runtime/dtypes.js";
import type { Graph, Node } from "../compiler/ir/graph.js";
import { hasTrait } from "../compiler/ops/index.js";
import type { Pass } from "./pass.js";
import { fuseNodes } from "./rewrite.js";
import { MAX_FUSED_VALUES } from "../codegen/capabilities.js";

const FLOATS: ReadonlySet<string> = new Set(["float32", "float64"]);

const dtypeOf = (g: Graph, v: string) => g.values.get(v)?.dtype as DTypeName | undefined;
const shapeKey = (g: Graph, v: string) => (g.values.get(v)?.shape ?? []).join(",");

/** Whether a node may be a member of a fused elementwise group, by op and operand types. */
function fusible(g: Graph, n: Node): boolean {
  if (!hasTrait(n, "fusible")) return false;
  if (n.outputs.length !== 1 || !n.outputs[0] || n.inputs.some((i) => !i)) return false;
  const out = g.values.get(n.outputs[0]);
  if (!out || out.const) return false;
  const ins = n.inputs.map((i) => dtypeOf(g, i));
  const float = (dts: (DTypeName | undefined)[]) => dts.every((d) => d !== undefined && FLOATS.has(d) && d === out.dtype);
  // the ops whose operands follow rules of their own
  // Cast between float types: float16 only as a group input (it computes in f32 like float32)
  if (n.op === "Cast") return n.inputs.length === 1 && ins[0] !== undefined && (FLOATS.has(ins[0]) || ins[0] === "float16") && FLOATS.has(out.dtype!);
  if (n.op === "Where") return n.inputs.length === 3 && ins[0] === "bool" && float(ins.slice(1));
  // per-tensor 8-bit QuantizeLinear / DequantizeLinear with constant parameters (QDQ graphs' float islands)
  if (n.op === "QuantizeLinear" || n.op === "DequantizeLinear") return perTensorQuant(g, n);
  // Clip with constant bounds: attributes before opset 11, constant scalar inputs from 11 on
  if (n.op === "Clip") return float(ins) && n.inputs.slice(1).every((b) => g.values.get(b)?.const?.data.length === 1);
  if (hasTrait(n, "comparison")) return out.dtype === "bool" && n.inputs.length === 2 && ins[0] !== undefined && FLOATS.has(ins[0]) && ins[0] === ins[1];
  if (hasTrait(n, "unary")) return n.inputs.length === 1 && float(ins);
  return n.inputs.length >= 1 && float(ins);
}

/** A QuantizeLinear (float32 -> 8 bits) or DequantizeLinear (8 bits -> float32) with one constant scale and zero point. */
function perTensorQuant(g: Graph, n: Node): boolean {
  const one = (v: string | undefined) => !!v && g.values.get(v)?.const?.data.length === 1;
  const q = n.op === "QuantizeLinear";
  const [fl, int] = q ? [n.inputs[0], n.outputs[0]] : [n.outputs[0], n.inputs[0]];
  const byte = (v: string) => ["int8", "uint8"].includes(dtypeOf(g, v) ?? "");
  return n.inputs.length === 3 && one(n.inputs[1]) && one(n.inputs[2]) && dtypeOf(g, n.inputs[1]) === "float32" && dtypeOf(g, fl) === "float32" && byte(int) &&
    !n.attrs.block_size && !n.attrs.output_dtype && !n.attrs.precision && (!q || n.attrs.saturate === undefined);
}

/**
 * The group rooted at `root`: its members, the root last, in execution order. It stops growing
 * before its values (members plus the distinct values they read) pass `maxValues`: each is a
 * local of the fused loop, and a 200,000-node chain in one loop was a function V8 refuses.
 */
function growGroup(g: Graph, root: Node, taken: Set<string>, rank: Map<string, number>, maxValues: number, outputs: Set<string>): Node[] {
  const shape = shapeKey(g, root.outputs[0]);
  const group = [root];
  const members = new Set([root.name]);
  /** the values the group reads from outside */
  const reads = new Set(root.inputs);
  if (1 + reads.size > maxValues) return group;
  for (let k = 0; k < group.length; k++) {
    const user = group[k];
    user.inputs.forEach((v, slot) => {
      const p = g.producer(v);
      if (!p || taken.has(p.name) || members.has(p.name) || !fusible(g, p)) return;
      if (outputs.has(v) || g.consumerCount(v) !== 1 || shapeKey(g, v) !== shape) return;
      // a bool comparison is only worth fusing as the condition it feeds
      if (dtypeOf(g, v) === "bool" && !(user.op === "Where" && slot === 0)) return;
      // v becomes a local of the group; p's operands are read from outside (inputs sit in memory)
      const fresh = new Set(p.inputs.filter((i) => !reads.has(i)));
      if (group.length + 1 + reads.size - 1 + fresh.size > maxValues) return;
      reads.delete(v);
      fresh.forEach((i) => reads.add(i));
      group.push(p);
      members.add(p.name);
    });
  }
  return group.sort((a, b) => rank.get(a.name)! - rank.get(b.name)!);
}

/** Returns the number of fused nodes made and of the nodes they took in. */
export function fuseElementwise(graph: Graph, maxValues = MAX_FUSED_VALUES): { groups: number; nodes: number } {
  const order = graph.topoOrder();
  const rank = new Map(order.map((n, k) => [n.name, k]));
  const taken = new Set<string>();
  const outputs = new Set(graph.outputs);
  let made = 0, nodes = 0;
  for (let r = order.length - 1; r >= 0; r--) {
    const root = order[r];
    if (taken.has(root.name) || !fusible(graph, root) || dtypeOf(graph, root.outputs[0]) === "bool") continue;
    const group = growGroup(graph, root, taken, rank, maxValues, outputs);
    if (group.length < 2) continue;
    group.forEach((n) => taken.add(n.name));
    fuseNodes(graph, group, "elementwise");
    made++;
    nodes += group.length;
  }
  graph.pruneValues();
  return { groups: made, nodes };
}

export const fuseElementwisePass: Pass = {
  name: "fuse-elementwise",
  description: "merges trees of elementwise ops (and the comparisons a Where reads) into one fused loop, intermediates in locals",
  options: { maxValues: { default: MAX_FUSED_VALUES, description: "the most values (nodes plus the values they read) one fused loop takes; a longer chain becomes several loops" } },
  run: (graph, ctx) => fuseElementwise(graph, Number(ctx.options?.maxValues ?? MAX_FUSED_VALUES)),
};
