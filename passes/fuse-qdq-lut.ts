// fuse-qdq-lut: a float island of a QDQ graph that depends on one 8-bit tensor alone becomes a
// 256-entry table. QDQ models keep activations such as HardSwish (x * Clip(x + 3, 0, 6) / 6) as
// float nodes between a DequantizeLinear and QuantizeLinear, often with a QuantizeLinear ->
// DequantizeLinear pair after every step: PP-OCR's detection ran slower quantized than in float,
// a float tensor materialized and five quantize/dequantize round trips per element. When every
// other input of the island is a scalar constant, its output is a function of the 8-bit input's
// 256 values: the island is evaluated once on all of them, with the model's own kernels (so the
// table holds exactly what the nodes compute), and each QuantizeLinear leaving it becomes
// kiln.quant LookupTable(x, table).
//
// An island: from a DequantizeLinear of a non-constant int8/uint8 tensor with a scalar scale and
// zero point, the elementwise and unary nodes reading it (and QuantizeLinear -> DequantizeLinear
// pairs inside it), up to the QuantizeLinear nodes (scalar scale and zero point) where it leaves.
// No float value may leave it otherwise (another reader, a graph output): then it stays as it is.
import type { Graph, Node, Tensor } from "../compiler/ir/graph.js";
import { hasTrait } from "../compiler/ops/index.js";
import { QUANT_LUT_DOMAIN } from "../compiler/ops/quant-lut.js";
import type { OutputInfo } from "../compiler/ops/registry.js";
import type { Pass, PassContext } from "./pass.js";

const BYTES = ["int8", "uint8"];

interface Island {
  /** the 8-bit tensor it depends on */
  x: string;
  /** its nodes in graph order, the DequantizeLinear first */
  nodes: Node[];
  /** the QuantizeLinear nodes where it leaves */
  exits: Node[];
}

const isScalarConst = (g: Graph, v: string | undefined) => !v || (g.values.get(v)?.const !== undefined && (g.values.get(v)!.const!.data.length === 1));
const plainOp = (n: Node, op: string) => n.domain === "" && n.op === op;
/** a per-tensor (de)quantization: its scale and zero point are scalar constants */
const perTensor = (g: Graph, n: Node) => isScalarConst(g, n.inputs[1]) && !!n.inputs[1] && isScalarConst(g, n.inputs[2]);

function islandFrom(g: Graph, dq: Node, taken: Set<Node>, rank: ReadonlyMap<Node, number>): Island | undefined {
  const x = dq.inputs[0];
  const xv = g.values.get(x);
  if (!xv || xv.const || !BYTES.includes(xv.dtype ?? "") || !perTensor(g, dq)) return undefined;
  const shape = xv.shape!.join();
  const inside = new Set<Node>([dq]);
  const exits: Node[] = [];
  const queue = [dq];
  while (queue.length) {
    const n = queue.pop()!;
    for (const o of n.outputs) {
      if (!o) continue;
      if (g.outputs.includes(o)) return undefined;
      for (const c of g.consumers(o)) {
        if (inside.has(c)) continue;
        if (taken.has(c) || c.meta?.guard) return undefined;
        const sameShape = c.outputs.every((y) => !y || g.values.get(y)?.shape?.join() === shape);
        if (!sameShape) return undefined;
        if (plainOp(c, "QuantizeLinear") && perTensor(g, c)) {
          // leaves here, unless every reader dequantizes it again (a step of the island)
          const readers = g.consumers(c.outputs[0]);
          const internal = readers.length > 0 && !g.outputs.includes(c.outputs[0]) && readers.every((r) => plainOp(r, "DequantizeLinear") && perTensor(g, r));
          inside.add(c);
          if (internal) queue.push(c);
          else exits.push(c);
          continue;
        }
        const pointwise = (hasTrait(c, "elementwise") || hasTrait(c, "unary")) && !hasTrait(c, "impure") && !hasTrait(c, "subgraphs");
        if (!pointwise) return undefined;
        inside.add(c);
        queue.push(c);
      }
    }
  }
  if (!exits.length) return undefined;
  // every input from outside is a scalar constant (or x itself, read by the DequantizeLinear nodes)
  const made = new Set([...inside].flatMap((n) => n.outputs));
  for (const n of inside) {
    for (const i of n.inputs) if (i && !made.has(i) && !isScalarConst(g, i) && !(i === x && n === dq)) return undefined;
  }
  const order = [...inside].sort((a, b) => rank.get(a)! - rank.get(b)!);
  return { x, nodes: order, exits };
}

/** x's 256 byte values in byte order: an int8 -1 is byte 255 */
function allBytes(dtype: string): Tensor {
  const data = dtype === "int8" ? Int8Array.from({ length: 256 }, (_, b) => (b < 128 ? b : b - 256)) : Uint8Array.from({ length: 256 }, (_, b) => b);
  return { dtype: dtype as "int8", dims: [256], data };
}

export async function fuseQdqLut(graph: Graph, ctx: PassContext): Promise<{ islands: number; nodes: number }> {
  const islands: Island[] = [];
  const taken = new Set<Node>();
  const order = graph.topoOrder();
  // one topological order for every island's nodes (a graph with thousands of islands stays linear)
  const rank = new Map(order.map((n, k) => [n, k]));
  for (const n of order) {
    if (!plainOp(n, "DequantizeLinear") || taken.has(n)) continue;
    const island = islandFrom(graph, n, taken, rank);
    if (!island) continue;
    islands.push(island);
    for (const m of island.nodes) taken.add(m);
  }
  if (!islands.length) return { islands: 0, nodes: 0 };
  // every island's nodes in one batch: the evaluator compiles them into one module
  const pending: Promise<Tensor[]>[] = [];
  for (const island of islands) {
    const made = new Set(island.nodes.flatMap((n) => n.outputs));
    for (const n of island.nodes) {
      const inputs = n.inputs.map((i) => (!i || made.has(i) ? undefined : i === island.x ? allBytes(graph.values.get(i)!.dtype!) : graph.values.get(i)!.const));
      const outputs: OutputInfo[] = n.outputs.map((o) => ({ dtype: graph.values.get(o)!.dtype!, shape: [256] }));
      pending.push(ctx.evaluate(graph, n, inputs, outputs));
    }
  }
  const results = await Promise.all(pending);
  let k = 0, nodes = 0;
  for (const island of islands) {
    const values = new Map<string, Tensor>();
    for (const n of island.nodes) results[k++].forEach((t, j) => t && values.set(n.outputs[j], t));
    for (const q of island.exits) {
      const y = q.outputs[0];
      const table = graph.uniqueValueName(`${y}/table`);
      const t = values.get(y)!;
      graph.values.set(table, { name: table, dtype: t.dtype, shape: [256], const: { dtype: t.dtype, dims: [256], data: t.data.slice() } });
      graph.removeNode(q.name);
      graph.addNode({ name: q.name, op: "LookupTable", domain: QUANT_LUT_DOMAIN, inputs: [island.x, table], outputs: [y], attrs: {} });
    }
    for (const n of island.nodes) if (!island.exits.includes(n)) graph.removeNode(n.name);
    nodes += island.nodes.length;
  }
  if (!graph.opsets.has(QUANT_LUT_DOMAIN)) graph.opsets.set(QUANT_LUT_DOMAIN, 1);
  graph.pruneValues();
  return { islands: islands.length, nodes };
}

export const fuseQdqLutPass: Pass = {
  name: "fuse-qdq-lut",
  description: "turns a QDQ graph's float island over one 8-bit tensor (scalar constants besides) into a 256-entry lookup table",
  run: (graph, ctx) => fuseQdqLut(graph, ctx),
};
