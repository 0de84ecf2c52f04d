// How much arithmetic a node does, for profiles (GFLOPS per layer in kiln run --profile and the
// manifest): the op's own flops rule (the contractions), one per output element for elementwise
// ops, nothing for data movement. A fused node is the sum of its body.
import { sizeOf } from "../../runtime/dtypes.js";
import type { Node } from "../ir/graph.js";
import { hasTrait, opDef } from "./index.js";

/**
 * Floating-point operations of one run of `node`; `dimsOf` gives a value's static dims (undefined
 * when unknown: a fused body's intermediates may be gone, and then the node's output dims stand in).
 */
export function nodeFlops(node: Node, dimsOf: (value: string) => readonly number[] | undefined): number {
  const fallback = node.outputs[0] ? dimsOf(node.outputs[0]) : undefined;
  const count = (n: Node): number => {
    if (n.body) return n.body.reduce((a, b) => a + count(b), 0);
    const dims = (v: string) => (v ? dimsOf(v) ?? fallback ?? [] : []);
    const outputs = n.outputs.map(dims);
    const rule = opDef(n.domain, n.op)?.flops;
    if (rule) return rule(n, n.inputs.map(dims), outputs);
    return hasTrait(n, "elementwise") ? sizeOf([...(outputs[0] ?? [])]) : 0;
  };
  const total = count(node);
  return Number.isSafeInteger(Math.round(total)) && total > 0 ? Math.round(total) : 0;
}
