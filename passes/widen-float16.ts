// widen-float16: a graph that computes in float16 computes in float32 instead, with float16 only at
// its edges. float16 models ship to halve the download, not to be computed in half precision: wasm
// has no float16 arithmetic, so kiln's float16 kernels convert every element on load and store and
// run none of the SIMD paths (a float16 MobileNetV2 ran ~150x slower than its float32 twin), and
// chains of float16-rounded steps (a LayerNormalization's variance, a Softmax's sum) drift far from
// what onnxruntime computes: its CPU provider runs such nodes in float32 between inserted Casts.
//
// Every float16 value inside the graph becomes float32; float16 constants widen exactly. Graph
// inputs and outputs keep their float16 type: a Cast in after each input, a Cast out before each
// output. Where the graph makes a float16 value from something that is not float16 (a Cast or
// CastLike to float16, a dtype attribute, a conversion from integers), the value is rounded to
// float16 as the graph's type says (Cast to float16 and back), so what a conversion rounds stays
// rounded. Arithmetic between float16 values is not rounded after each step: results are within
// float16 precision of onnxruntime's, as its own float32 run between Casts is.
// It runs as graph preparation ends (compiler/driver/compile.ts), at every level, so every pass and
// every kernel sees float32.
import { capturesOf, subgraphsOf, type Graph, type Node, type Tensor, type Value } from "../compiler/ir/graph.js";
import { guardOf, setGuard } from "../compiler/ir/subgraph.js";
import { hasTrait } from "../compiler/ops/index.js";
import { widenedHalfs } from "../compiler/ir/values.js";
import { KilnError } from "../runtime/errors.js";
import type { Pass } from "./pass.js";

const FLOAT = 1;
const FLOAT16 = 10;
/** attributes that name an output element type (Cast's to, EyeLike's and the Random ops' dtype, DequantizeLinear's output_dtype ...) */
const TYPE_ATTRS = ["to", "dtype", "output_datatype", "output_dtype"];

export interface WidenStats {
  /** float16 values made float32 */
  values: number;
  /** Casts added at the graph's inputs and outputs */
  edges: number;
  /** values rounded to float16 where the graph converts into it */
  rounded: number;
}

/**
 * Where values are rounded to float16: "conversions" (default) only where the graph converts into
 * float16, closer to the float32 model and as fast as it; "every-node" after every node that
 * computes a float16 value (not after pure data movement, whose inputs are rounded already), the
 * graph's types step by step as onnxruntime's float16 kernels store them: about 3-10x slower
 * (wasm converts to float16 in scalar code, and the rounding splits fused layers). kiln opt
 * --passes 'widen-float16{rounding=every-node}' shows it; compiles use the default.
 */
export type HalfRounding = "every-node" | "conversions";

export function widenFloat16(graph: Graph, rounding: HalfRounding = "conversions"): WidenStats {
  const stats: WidenStats = { values: 0, edges: 0, rounded: 0 };
  const half = (name: string | undefined) => !!name && graph.values.get(name)?.dtype === "float16";
  const nodes = graph.topoOrder();
  // subgraphs left after lower-control-flow (Loop, Scan bodies) read and write float16 by their own
  // types: leave such graphs as they are
  if (nodes.some((n) => subgraphsOf(n).length && (n.inputs.some(half) || n.outputs.some(half) || capturesOf(n).some(half)))) return stats;
  if (![...graph.values.values()].some((v) => v.dtype === "float16")) return stats;

  // where a float16 value is made from a first input that is not float16 (Cast, CastLike,
  // DequantizeLinear, a dtype attribute), remember it to round it afterwards
  const moves = (n: Node) => hasTrait(n, "reshape") || hasTrait(n, "alias") || hasTrait(n, "moves");
  // a node that reads its operands' bits (BitCast) keeps its float16 operands float16: its results
  // stay float16 as graph inputs do (widened for their other readers), and a widened value it reads
  // goes back to float16 for it (exactly: it holds a float16 value)
  const bits = nodes.filter((n) => hasTrait(n, "bits"));
  const halfInputs = new Map(bits.map((n) => [n, n.inputs.map(half)]));
  const conversions = nodes.filter((n) => !hasTrait(n, "bits") && n.outputs.some(half) && (!half(n.inputs[0]) || (rounding === "every-node" && !moves(n))));
  // only their float16 outputs are rounded: a node may also give float32 ones (LinearAttention's
  // float32 output beside a float16 state)
  const rounds = new Map(conversions.map((n) => [n, n.outputs.filter(half)]));
  for (const n of nodes) {
    if (hasTrait(n, "bits")) continue;
    for (const k of TYPE_ATTRS) {
      const a = n.attrs[k];
      if (a?.type === "int" && a.value === FLOAT16) n.attrs[k] = { type: "int", value: FLOAT };
    }
    for (const a of Object.values(n.attrs)) if (a.type === "tensor" && a.value.dtype === "float16") a.value = widenTensor(a.value);
  }

  const inputs = new Set([...graph.inputs.filter(half), ...bits.flatMap((n) => n.outputs.filter((o): o is string => half(o)))]);
  const outputs = new Set(graph.outputs.filter(half));
  for (const v of graph.values.values()) {
    if (v.dtype !== "float16" || inputs.has(v.name) || outputs.has(v.name)) continue;
    widenValue(v);
    stats.values++;
  }
  for (const n of conversions) {
    for (const o of rounds.get(n)!) if (o && !outputs.has(o) && graph.values.get(o)?.dtype === "float32") {
      roundThroughHalf(graph, n, o);
      stats.rounded++;
    }
  }
  for (const i of inputs) {
    const wide = graph.uniqueValueName(`${i}/float32`);
    const readers = graph.consumers(i);
    graph.values.set(wide, { name: wide, dtype: "float32", shape: graph.values.get(i)!.shape });
    graph.addNode({ name: graph.uniqueNodeName(`${i}/widen`), op: "Cast", domain: "", inputs: [i], outputs: [wide], attrs: { to: { type: "int", value: FLOAT } } });
    for (const r of readers) if (!hasTrait(r, "bits")) r.inputs.forEach((x, k) => x === i && graph.setInput(r, k, wide));
    stats.edges++;
  }
  for (const o of outputs) {
    if (inputs.has(o)) continue; // stays float16: a graph input, or the bits a BitCast made
    const p = graph.producer(o);
    const wide = graph.uniqueValueName(`${o}/float32`);
    const value = graph.values.get(o)!;
    if (!p) {
      // a graph input returned as it is reads nothing new; a constant output stays float16, and
      // the nodes that also read it read its float32 copy
      if (!value.const) continue;
      graph.values.set(wide, { ...value, name: wide, dtype: "float32", const: widenTensor(value.const) });
      for (const r of graph.consumers(o)) r.inputs.forEach((x, k) => x === o && graph.setInput(r, k, wide));
      continue;
    }
    graph.values.set(wide, { ...value, name: wide, dtype: "float32" });
    const readers = graph.consumers(o);
    renameOutput(graph, p, o, wide);
    addCast(graph, p, wide, o, FLOAT16);
    // an output also read inside: where the graph converted into float16 there, its readers read
    // the rounded value (the float16 output, widened again, exactly)
    let read = wide;
    if (readers.length && conversions.includes(p)) {
      read = graph.uniqueValueName(`${o}/rounded`);
      graph.values.set(read, { ...value, name: read, dtype: "float32" });
      addCast(graph, p, o, read, FLOAT);
    }
    for (const r of readers) r.inputs.forEach((x, k) => x === o && graph.setInput(r, k, read));
    stats.edges++;
  }
  for (const [n, wasHalf] of halfInputs) {
    n.inputs.forEach((x, k) => {
      if (!x || !wasHalf[k] || graph.values.get(x)!.dtype !== "float32") return;
      const h = graph.uniqueValueName(`${x}/float16`);
      graph.values.set(h, { name: h, dtype: "float16", shape: graph.values.get(x)!.shape });
      addCast(graph, n, x, h, FLOAT16);
      graph.setInput(n, k, h);
      stats.edges++;
    });
  }
  graph.pruneValues();
  return stats;
}

function widenValue(v: Value): void {
  v.dtype = "float32";
  if (v.const) v.const = widenTensor(v.const);
}

/** t widened exactly; the float16 codes are remembered, so that an artifact can store them as they are (codegen/derive.ts) */
function widenTensor(t: Tensor): Tensor {
  return widenedHalfs(t.dims, t.data as Uint16Array);
}

/** o (now float32) goes through float16 and back: what the graph rounds to float16 stays rounded. */
function roundThroughHalf(graph: Graph, producer: Node, o: string): void {
  const raw = graph.uniqueValueName(`${o}/unrounded`);
  const h = graph.uniqueValueName(`${o}/float16`);
  const v = graph.values.get(o)!;
  graph.values.set(raw, { name: raw, dtype: "float32", shape: v.shape });
  graph.values.set(h, { name: h, dtype: "float16", shape: v.shape });
  renameOutput(graph, producer, o, raw);
  addCast(graph, producer, raw, h, FLOAT16);
  addCast(graph, producer, h, o, FLOAT);
}

/** The producer writes `to` instead of `from`; `from` keeps its readers and its graph-output place. */
function renameOutput(graph: Graph, producer: Node, from: string, to: string): void {
  graph.removeNode(producer.name);
  producer.outputs = producer.outputs.map((x) => (x === from ? to : x));
  graph.addNode(producer);
}

function addCast(graph: Graph, after: Node, from: string, to: string, type: number): void {
  const cast = graph.addNode({ name: graph.uniqueNodeName(`${to}/cast`), op: "Cast", domain: "", inputs: [from], outputs: [to], attrs: { to: { type: "int", value: type } } });
  setGuard(cast, guardOf(after)); // a guarded (inlined If branch) producer's Cast runs when it does
}


export const widenFloat16Pass: Pass = {
  name: "widen-float16",
  description: "computes a float16 graph in float32 kernels, rounding to float16 where the graph stores float16 values",
  options: { rounding: { default: "conversions", description: "every-node: round each computed float16 value; conversions: only where the graph converts into float16" } },
  run: (graph, ctx) => {
    const rounding = ctx.options?.rounding ?? "conversions";
    if (rounding !== "every-node" && rounding !== "conversions") throw new KilnError("BAD_OPTION", `widen-float16 rounding is every-node or conversions, not ${JSON.stringify(rounding)}`);
    return { ...widenFloat16(graph, rounding) };
  },
};
