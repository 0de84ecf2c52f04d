// The IR verifier's type check (kiln opt --verify-each, and kiln opt's input): every node output's
// declared dtype and shape are what the op's shape rule gives for its inputs' declared types. A
// hand-written or rewritten graph that says Relu turns float32[2] into float32[3] is refused here,
// naming the node, instead of reaching a pass or a kernel that trusts the declared types.
// The check infers a copy (Graph.copy: the constants' tensors shared), so the graph itself is
// untouched; a graph with subgraphs (If, Loop, Scan), which a copy would share, is not checked.
// Nodes a pass made (kiln.fused.*: an anchor with its epilogue) have no shape rule: their declared
// types stand, and the nodes after them are checked against them.
import { KilnError } from "../../runtime/errors.js";
import type { Graph } from "../ir/graph.js";
import { describeShape, inferNode } from "./infer.js";
import { opDef } from "./index.js";

/** a node a pass made (kiln.fused.Conv_Clip ...): no shape rule of its own, its declared types stand */
const made = (n: { domain: string; op: string }) => n.domain.startsWith("kiln.") && !opDef(n.domain, n.op);

export async function verifyTypes(graph: Graph): Promise<void> {
  // dims the graph leaves symbolic are the shape rules' to bind (kiln compile --shape): not checked
  if (graph.inputs.some((i) => graph.values.get(i)?.shape?.some((d) => typeof d !== "number"))) return;
  // a copy sharing the constants' tensors; a graph with subgraphs (If, Loop, Scan) has none: unchecked
  const copy = graph.copy(true);
  if (!copy) return;
  const declared = new Map<string, { dtype?: string; shape?: string }>();
  for (const n of copy.nodeList()) {
    if (made(n)) continue;
    for (const o of n.outputs) {
      const v = o ? copy.values.get(o) : undefined;
      if (!v || v.container) continue;
      declared.set(o, { dtype: v.dtype, shape: v.shape && describeShape(v.shape) });
      v.dtype = undefined;
      v.shape = undefined;
    }
  }
  // no evaluator: shapes only, nothing folded
  for (const n of copy.topoOrder()) if (!made(n)) await inferNode(copy, n);
  for (const n of copy.nodeList()) {
    for (const o of n.outputs) {
      const want = o ? declared.get(o) : undefined;
      const v = o ? copy.values.get(o) : undefined;
      if (!want || !v || (want.dtype === undefined && want.shape === undefined)) continue;
      const got = { dtype: v.dtype, shape: v.shape && describeShape(v.shape) };
      if (got.dtype !== want.dtype || got.shape !== want.shape) {
        throw new KilnError("INVALID_MODEL", `value ${JSON.stringify(o)} is declared ${want.dtype}${want.shape ?? "[?]"}, but ${n.op} gives ${got.dtype}${got.shape ?? "[?]"} for its inputs`, { node: n.name, op: n.op, domain: n.domain });
      }
    }
  }
}
