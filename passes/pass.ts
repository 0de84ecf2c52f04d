// What a pass is: a named rewrite of a typed Graph with one job. Passes run after shape inference,
// so every value has a dtype and concrete shape, and they must keep it so.
import type { Graph } from "../compiler/ir/graph.js";
import type { Evaluator } from "../compiler/ops/infer.js";

export interface PassContext {
  /** evaluates a node on constant inputs with the model's own kernels */
  evaluate: Evaluator;
}

export interface Pass {
  readonly name: string;
  /** one sentence for --help and the README */
  readonly description: string;
  run(graph: Graph, ctx: PassContext): void | Promise<void>;
}
