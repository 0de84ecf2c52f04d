// fold-constants: evaluate every node whose inputs are all known at compile time, through the
// same kernels the model runs (compiler/driver/evaluate.ts), and replace it by its value. Also folds
// inference BatchNormalization into a preceding Conv/ConvTranspose/Gemm by rewriting it as
// constant arithmetic on the weights, which the same folding then evaluates.
import type { Graph, Node } from "../compiler/ir/graph.js";
import { inferNode, type Evaluator } from "../compiler/ops/infer.js";
import { hasTrait, opDef } from "../compiler/ops/index.js";
import { addConstant, int64Tensor, shapeOf } from "./rewrite.js";
import type { Pass, PassContext } from "./pass.js";

const isConst = (g: Graph, v: string) => !v || g.values.get(v)?.const !== undefined;

/**
 * Folds in rounds. A round takes, in topological order, every pure node whose inputs are
 * constant or computed earlier in the round (when its shape rule needs no value of those), and
 * asks the evaluator for all of them in one tick: compiler/driver/evaluate.ts compiles such a batch as
 * ONE module, so a chain (BN folding's Add, Sqrt, Div, Reshape, Mul ...) costs one module, not
 * one per step. A node the batch could not give a value is tried again next round, alone.
 */
export async function foldConstants(graph: Graph, evaluate: Evaluator): Promise<number> {
  let folded = 0;
  const done = (n: Node) => n.outputs.every((o) => !o || graph.values.get(o)!.const);
  for (;;) {
    const pending = new Set<string>();
    const region: Node[] = [];
    const ready: Node[] = [];
    for (const n of graph.topoOrder()) {
      if (!opDef(n.domain, n.op) || hasTrait(n, "impure") || graph.dataDims?.has(n.name) || !n.inputs.every((i) => isConst(graph, i) || pending.has(i))) continue;
      const inRegion = n.inputs.some((i) => pending.has(i));
      if (!done(n)) {
        try {
          await inferNode(graph, n); // types, and values a shape rule computes itself
        } catch (e) {
          if (inRegion) continue; // it may need an input's value: next round
          throw e;
        }
      }
      if (done(n)) ready.push(n);
      else {
        region.push(n);
        n.outputs.forEach((o) => o && pending.add(o));
      }
    }
    const values = await Promise.allSettled(region.map((n) => evaluate(graph, n,
      n.inputs.map((i) => (i ? graph.values.get(i)!.const : undefined)),
      n.outputs.map((o) => ({ dtype: graph.values.get(o)?.dtype ?? "float32", shape: (graph.values.get(o)?.shape ?? []) as number[] })))));
    region.forEach((n, k) => {
      const r = values[k];
      if (r.status === "rejected") {
        if (n.inputs.some((i) => pending.has(i))) return;
        throw r.reason;
      }
      n.outputs.forEach((o, j) => {
        if (o) graph.values.get(o)!.const = r.value[j];
      });
      ready.push(n);
    });
    for (const n of ready) graph.removeNode(n.name);
    folded += ready.length;
    if (ready.length === 0) break;
  }
  graph.pruneValues();
  return folded;
}

/**
 * Add a node computing a new value of the given type; returns the value name, the graph's own
 * next free one (a counter kept across graphs named a symbolic build's probes differently, which
 * read as graphs of different structure)
 */
function emitNode(graph: Graph, op: string, inputs: string[], like: string, attrs: Node["attrs"] = {}): string {
  const src = graph.values.get(like)!;
  const name = graph.uniqueValueName("bnfold");
  graph.addNode({ name: graph.uniqueNodeName(name), op, domain: "", inputs, outputs: [name], attrs });
  const v = graph.value(name);
  v.dtype = src.dtype;
  v.shape = [...(src.shape as number[])];
  return name;
}

/** Whether a bias of this shape adds the same to every row of a [M, channels] result. */
function rowInvariant(shape: readonly number[], channels: number): boolean {
  const last = shape.length ? shape[shape.length - 1] : 1;
  return shape.slice(0, -1).every((d) => d === 1) && (last === channels || last === 1);
}

/**
 * Conv(x, W, b) -> BN(scale, B, mean, var) becomes Conv(x, W * s, (b - mean) * s + B) with
 * s = scale / sqrt(var + eps), s reshaped over W's output-channel axis (any op whose definition
 * names that axis: Conv, ConvTranspose, Gemm). Only when W, b and the
 * BN parameters are constants and the Conv output has no other reader.
 */
async function foldBatchNorm(graph: Graph, evaluate: Evaluator): Promise<number> {
  let count = 0;
  for (const bn of graph.topoOrder()) {
    if (bn.op !== "BatchNormalization" || bn.outputs.filter((o) => o).length !== 1) continue;
    if (bn.attrs.training_mode?.type === "int" && bn.attrs.training_mode.value !== 0) continue;
    const producer = graph.producer(bn.inputs[0]);
    const weightsAxis = producer && producer.domain === "" ? opDef("", producer.op)?.weightsOutputAxis : undefined;
    if (!producer || !weightsAxis) continue;
    if (graph.consumers(producer.outputs[0]).length !== 1 || graph.outputs.includes(producer.outputs[0])) continue;
    if (![1, 2, 3, 4].every((k) => isConst(graph, bn.inputs[k])) || !isConst(graph, producer.inputs[1]) || !isConst(graph, producer.inputs[2] ?? "")) continue;
    const w = producer.inputs[1];
    const wShape = shapeOf(graph, w);
    const channels = shapeOf(graph, bn.inputs[1])[0];
    // the axis of W that holds output channels must have the BN channel count
    const axis = weightsAxis(producer, wShape.length);
    if (axis === undefined) continue;
    if (wShape[axis] !== channels) continue;
    if (producer.op === "Gemm") {
      const alpha = producer.attrs.alpha?.type === "float" ? producer.attrs.alpha.value : 1;
      const beta = producer.attrs.beta?.type === "float" ? producer.attrs.beta.value : 1;
      if (alpha !== 1 || (producer.inputs[2] && beta !== 1)) continue;
      // C must be the same for every row: one value per output channel ([N], [1, N]) or one for
      // all ([], [1], [1, 1]); a column [M, 1] differs per row, even when M happens to equal N
      if (producer.inputs[2] && !rowInvariant(shapeOf(graph, producer.inputs[2]), channels)) continue;
    }
    const eps = bn.attrs.epsilon?.type === "float" ? bn.attrs.epsilon.value : 1e-5;
    const [, scale, beta, mean, variance] = bn.inputs;
    const dt = graph.values.get(scale)!.dtype!;
    const epsName = addConstant(graph, `${bn.name}_eps`, { dtype: dt, dims: [], data: dt === "float64" ? Float64Array.of(eps) : Float32Array.of(eps) });
    const s = emitNode(graph, "Div", [scale, emitNode(graph, "Sqrt", [emitNode(graph, "Add", [variance, epsName], scale)], scale)], scale);
    const sShape = wShape.map((d, k) => (k === axis ? d : 1));
    const sw = emitNode(graph, "Reshape", [s, addConstant(graph, `${bn.name}_sshape`, int64Tensor(sShape))], s);
    graph.values.get(sw)!.shape = sShape;
    const newW = emitNode(graph, "Mul", [w, sw], w);
    const oldB = producer.inputs[2];
    // b as [channels], or [1] when it is one value for all (Sub broadcasts it)
    const bShape = oldB && shapeOf(graph, oldB).reduce((a, d) => a * d, 1) === channels ? [channels] : [1];
    const centered = oldB ? emitNode(graph, "Sub", [emitNode(graph, "Reshape", [oldB, addConstant(graph, `${bn.name}_bshape`, int64Tensor(bShape))], mean), mean], mean)
      : emitNode(graph, "Neg", [mean], mean);
    const newB = emitNode(graph, "Add", [emitNode(graph, "Mul", [centered, s], mean), beta], mean);
    const conv: Node = { ...producer, inputs: [producer.inputs[0], newW, newB], outputs: [bn.outputs[0]] };
    if (producer.op === "Gemm") conv.attrs = { ...producer.attrs, beta: { type: "float", value: 1 } };
    graph.removeNode(bn.name);
    graph.removeNode(producer.name);
    graph.addNode(conv);
    count++;
  }
  if (count) await foldConstants(graph, evaluate);
  return count;
}

export const foldConstantsPass: Pass = {
  name: "fold-constants",
  description: "evaluates all-constant subgraphs with the model's own kernels and folds inference BatchNormalization into the preceding Conv/ConvTranspose/Gemm",
  async run(graph: Graph, ctx: PassContext) {
    const folded = await foldConstants(graph, ctx.evaluate);
    const batchNorms = await foldBatchNorm(graph, ctx.evaluate);
    return { folded, batchNorms };
  },
};
