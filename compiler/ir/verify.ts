// Structural checks on a Graph: every value has one definition (graph input, constant or node
// output), the graph is acyclic, and, once types are inferred, every value has a dtype and shape.
import { KilnError } from "../../runtime/errors.js";
import type { Graph } from "./graph.js";

export interface VerifyOptions {
  /** also require every value to carry a dtype and a shape (after inference) */
  typed?: boolean;
}

export function verifyGraph(graph: Graph, options: VerifyOptions = {}): void {
  const defined = new Set<string>();
  for (const i of graph.inputs) {
    if (graph.values.get(i)?.const) throw new KilnError("INVALID_MODEL", `graph input ${JSON.stringify(i)} is also a constant`);
    defined.add(i);
  }
  // an initializer of a type kiln does not read (string ...) is defined all the same: a node that
  // reads it is unsupported (inference says so, naming the type), not dangling
  for (const v of graph.values.values()) if ((v.const || v.unsupportedType) && !graph.producer(v.name)) defined.add(v.name);
  const order = graph.topoOrder(); // throws on a cycle
  for (const n of order) {
    for (const out of n.outputs) {
      if (!out) continue;
      if (defined.has(out)) {
        throw new KilnError("INVALID_MODEL", `value ${JSON.stringify(out)} is defined twice (output of ${JSON.stringify(n.name)} and a graph input, constant or earlier node)`, { node: n.name, op: n.op });
      }
    }
    for (const inp of n.inputs) {
      if (inp && !defined.has(inp) && !graph.producer(inp)) {
        throw new KilnError("INVALID_MODEL", `input ${JSON.stringify(inp)} of node ${JSON.stringify(n.name)} is not a graph input, an initializer or the output of any node`, { node: n.name, op: n.op });
      }
    }
    for (const out of n.outputs) if (out) defined.add(out);
  }
  for (const o of graph.outputs) {
    if (!defined.has(o)) throw new KilnError("INVALID_MODEL", `graph output ${JSON.stringify(o)} is not produced by any node`);
  }
  if (options.typed) {
    for (const name of defined) {
      const v = graph.values.get(name)!;
      if (v.unsupportedType) throw new KilnError("UNSUPPORTED_OP", `value ${JSON.stringify(name)} has type ${v.unsupportedType}, which kiln does not support`);
      if (!v.dtype || !v.shape || v.shape.some((d) => typeof d !== "number")) {
        throw new KilnError("INTERNAL", `value ${JSON.stringify(name)} has no concrete type after inference`);
      }
      if (v.const && (v.const.dtype !== v.dtype || v.const.dims.join() !== v.shape.join())) {
        throw new KilnError("INTERNAL", `constant ${JSON.stringify(name)} is ${v.const.dtype}[${v.const.dims}] but typed ${v.dtype}[${v.shape}]`);
      }
    }
  }
}
