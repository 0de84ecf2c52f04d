// fuse-qdq: runs QDQ graphs (onnxruntime's quantize_static, QuantFormat.QDQ) on 8-bit kernels.
// A QDQ graph computes in float between DequantizeLinear and QuantizeLinear pairs; this pass finds
// the groups that have an 8-bit meaning and replaces each by what the kernels run on 8-bit data:
//   - DequantizeLinear(x), DequantizeLinear(w), DequantizeLinear(bias) -> Conv | MatMul | Gemm
//     (-> Relu | Clip) -> QuantizeLinear: one fused node of kind "qlinear", the int8 GEMM with
//     the requantization in its store (codegen/kernels/fused/qlinear.ts);
//   - the same without the QuantizeLinear (the anchor's result read by float nodes alone, as
//     kiln's quantize-static leaves a layer no int8 layer reads): "qlinear" with a float store,
//     the int8 GEMM's sums scaled by x_scale * w_scale per channel;
//   - DequantizeLinear(a), DequantizeLinear(b) -> Add (-> Relu | Clip) -> QuantizeLinear: "qlinear"
//     too, the 8-bit Add;
//   - DequantizeLinear -> a data movement or monotone op (Reshape, Transpose, MaxPool...) ->
//     QuantizeLinear with the same scale and zero point: the op itself on the 8-bit tensor;
//   - a blocked (opset 21+) 4- or 8-bit DequantizeLinear of constant weights [K, N], blocks
//     along K, feeding MatMul: com.microsoft MatMulNBits, whose kernels keep the weights packed.
// The DequantizeLinear nodes a group reads are copied into its body (other readers keep theirs;
// dead ones are removed here, before fold-constants would turn the weights' into float).
// A group is made only when its kernel takes it (codegen/capabilities.ts); anything else keeps
// running as float DequantizeLinear -> op -> QuantizeLinear.
import type { Graph, Node, Tensor } from "../compiler/ir/graph.js";
import { decodeElements } from "../runtime/lowbit.js";
import { addConstant } from "./rewrite.js";
import { hasTrait, opDef } from "../compiler/ops/index.js";
import { chooseKernel } from "../codegen/capabilities.js";
import type { Pass } from "./pass.js";
import { FUSED_DOMAIN } from "../compiler/ir/graph.js";

const isQ = (n: Node | undefined): boolean => !!n && n.domain === "" && n.op === "QuantizeLinear";
const isDQ = (n: Node | undefined): n is Node => !!n && n.domain === "" && n.op === "DequantizeLinear";
const constOf = (g: Graph, v: string | undefined): Tensor | undefined => (v ? g.values.get(v)?.const : undefined);
const isByte = (g: Graph, v: string) => { const dt = g.values.get(v)?.dtype; return dt === "int8" || dt === "uint8"; };

/** The one reader of v, when v is no graph output and exactly one node reads it. */
function soleReader(g: Graph, v: string): Node | undefined {
  if (g.outputs.includes(v)) return undefined;
  const users = g.consumers(v);
  return users.length === 1 ? users[0] : undefined;
}

/** A per-tensor QuantizeLinear / DequantizeLinear to or from 8 bits with constant parameters. */
function perTensor(g: Graph, n: Node): boolean {
  const s = constOf(g, n.inputs[1]);
  const zp = n.inputs[2] ? constOf(g, n.inputs[2]) : undefined;
  const q = isQ(n) ? n.outputs[0] : n.inputs[0];
  return !!s && s.data.length === 1 && (!n.inputs[2] || (!!zp && zp.data.length === 1)) && isByte(g, q) &&
    !n.attrs.block_size && !n.attrs.output_dtype && g.values.get(isQ(n) ? n.inputs[0] : n.outputs[0])?.dtype === "float32";
}

/** Whether two per-tensor nodes quantize alike: same scale, same zero point and type. */
function sameParams(g: Graph, a: Node, b: Node): boolean {
  const num = (v: string | undefined) => { const t = constOf(g, v); return t ? Number(t.data[0]) : 0; };
  const dt = (n: Node) => g.values.get(isQ(n) ? n.outputs[0] : n.inputs[0])?.dtype;
  return num(a.inputs[1]) === num(b.inputs[1]) && num(a.inputs[2]) === num(b.inputs[2]) && dt(a) === dt(b);
}

/** A copy of a DequantizeLinear for a group's body, writing a fresh name. */
function copyDQ(dq: Node, group: string, k: number): Node {
  return { ...dq, name: `${dq.name}@${group}`, outputs: [`${group}.dq${k}`], attrs: { ...dq.attrs } };
}

interface Candidate {
  /** body nodes in order; the last is the QuantizeLinear */
  body: Node[];
  /** graph nodes the group replaces (anchor, activation, QuantizeLinear) */
  replaced: Node[];
  /** the DequantizeLinear nodes the body copied (removed when nothing else reads them) */
  read: Node[];
}

/** The activation between the anchor and q (Relu, or Clip with constant bounds), if any. */
function activationBefore(g: Graph, q: Node): { act?: Node; value: string } {
  const p = g.producer(q.inputs[0]);
  if (!p || p.domain !== "" || soleReader(g, q.inputs[0]) !== q) return { value: q.inputs[0] };
  const boundsConst = p.inputs.slice(1).every((b) => !b || constOf(g, b)?.data.length === 1);
  if ((p.op === "Relu" && p.inputs.length === 1) || (p.op === "Clip" && boundsConst)) return { act: p, value: p.inputs[0] };
  return { value: q.inputs[0] };
}

/**
 * The anchor's operands at `wanted` read from DequantizeLinear nodes (a bias at `bias` may be
 * dequantized too, or a float constant): their copies for a body, the anchor reading them, the
 * originals; undefined when one is not dequantized.
 */
function dequantizedOperands(g: Graph, anchor: Node, wanted: number[], bias: number | undefined): { copies: Node[]; anchorCopy: Node; read: Node[] } | undefined {
  const copies = new Map<string, Node>();
  const read: Node[] = [];
  for (const i of bias === undefined ? wanted : [...wanted, bias]) {
    const v = anchor.inputs[i];
    if (!v || copies.has(v)) continue;
    const dq = g.producer(v);
    if (!isDQ(dq)) {
      if (i === bias && constOf(g, v)) continue;
      return undefined;
    }
    copies.set(v, copyDQ(dq, anchor.name, copies.size));
    read.push(dq);
  }
  const anchorCopy: Node = { ...anchor, inputs: anchor.inputs.map((v) => copies.get(v)?.outputs[0] ?? v) };
  return { copies: [...copies.values()], anchorCopy, read };
}

/**
 * The group ending at q whose anchor reads dequantized values at inputs `operands.dq` (a bias at
 * `operands.bias` may be dequantized too, or a float constant), or undefined.
 */
function groupAt(g: Graph, q: Node, anchorOk: (n: Node) => boolean, operands: (n: Node) => { dq: number[]; bias?: number }): Candidate | undefined {
  const { act, value } = activationBefore(g, q);
  const anchor = g.producer(value);
  if (!anchor || !anchorOk(anchor) || anchor.outputs.length !== 1 || soleReader(g, value) !== (act ?? q)) return undefined;
  const { dq: wanted, bias } = operands(anchor);
  const ops = dequantizedOperands(g, anchor, wanted, bias);
  if (!ops) return undefined;
  const { copies, anchorCopy, read } = ops;
  const body = [...copies, anchorCopy, ...(act ? [act] : []), q];
  return { body, replaced: [anchor, ...(act ? [act] : []), q], read };
}

/**
 * The group of an anchor that reads dequantized activations and weights (and bias) and whose
 * result stays float (no QuantizeLinear takes it): the int8 kernels with a float store.
 */
function floatGroupAt(g: Graph, anchor: Node): Candidate | undefined {
  if (anchor.domain !== "" || !hasTrait(anchor, "epilogue-anchor") || anchor.outputs.length !== 1) return undefined;
  if (g.values.get(anchor.outputs[0])?.dtype !== "float32") return undefined;
  const ops = dequantizedOperands(g, anchor, [0, 1], opDef(anchor.domain, anchor.op)?.anchor?.bias);
  if (!ops) return undefined;
  const { copies, anchorCopy, read } = ops;
  return { body: [...copies, anchorCopy], replaced: [anchor], read };
}

/** The fused node a candidate makes (not yet in the graph). */
function fusedNode(c: Candidate): Node {
  const produced = new Set(c.body.flatMap((n) => n.outputs));
  const inputs = [...new Set(c.body.flatMap((n) => n.inputs).filter((v) => v && !produced.has(v)))];
  const q = c.body[c.body.length - 1];
  const anchor = c.replaced[0];
  return {
    name: anchor.name, op: c.body.map((n) => n.op).join("_"), domain: FUSED_DOMAIN, inputs, outputs: [...q.outputs], attrs: {},
    meta: { kind: "qlinear", fused: c.body.map((n) => n.op).join("+") }, body: c.body,
  };
}

/** Makes the group when its kernel takes it. */
function apply(g: Graph, c: Candidate): boolean {
  const node = fusedNode(c);
  try {
    if (!chooseKernel(g, node)) return false;
  } catch {
    return false;
  }
  for (const n of c.replaced) g.removeNode(n.name);
  g.opsets.set(FUSED_DOMAIN, 1);
  g.addNode(node);
  // the body's copies write fresh names: typed like the values they copy
  for (const dq of c.read) {
    const copy = c.body.find((b) => b.name === `${dq.name}@${c.replaced[0].name}`);
    const from = g.values.get(dq.outputs[0]), to = copy && g.value(copy.outputs[0]);
    if (from && to) { to.dtype = from.dtype; to.shape = from.shape && [...from.shape]; }
  }
  for (const dq of c.read) {
    if (g.g.hasNode(dq.name) && g.consumers(dq.outputs[0]).length === 0 && !g.outputs.includes(dq.outputs[0])) g.removeNode(dq.name);
  }
  return true;
}

/** DequantizeLinear -> op -> QuantizeLinear with equal parameters, op a data movement or monotone: op on the 8-bit input. */
function direct(g: Graph, q: Node): boolean {
  const op = g.producer(q.inputs[0]);
  if (!op || op.outputs.filter((o) => o).length !== 1 || op.domain !== "") return false;
  if (!hasTrait(op, "moves") && !hasTrait(op, "monotone")) return false;
  const dq = g.producer(op.inputs[0]);
  if (!isDQ(dq) || !perTensor(g, dq) || !sameParams(g, dq, q)) return false;
  // the op's other inputs (shape, axes, starts...) are not data
  if (op.inputs.slice(1).some((v) => v && !constOf(g, v))) return false;
  g.removeNode(q.name);
  g.addNode({ ...op, name: `${op.name}@q`, inputs: [dq.inputs[0], ...op.inputs.slice(1)], outputs: [q.outputs[0]], attrs: { ...op.attrs } });
  for (const n of [op, dq]) {
    if (g.g.hasNode(n.name) && n.outputs.every((o) => !o || (g.consumers(o).length === 0 && !g.outputs.includes(o)))) g.removeNode(n.name);
  }
  return true;
}

/** block sizes MatMulNBits takes */
const NBITS_BLOCKS = [16, 32, 64, 128, 256];

/**
 * MatMul(A, DequantizeLinear(q [K, N], scale [K / bs, N], zp) blocked along K) as MatMulNBits:
 * B [N, blocks, bs * bits / 8] unsigned (a signed q and zp shifted by 2^(bits-1): their
 * difference is the same), scales [N * blocks], zero points packed per row.
 */
function blockedMatMul(g: Graph, dq: Node): number {
  const q = constOf(g, dq.inputs[0]), s = constOf(g, dq.inputs[1]), z = dq.inputs[2] ? constOf(g, dq.inputs[2]) : undefined;
  const bs = dq.attrs.block_size?.type === "int" ? dq.attrs.block_size.value : 0;
  const axis = dq.attrs.axis?.type === "int" ? dq.attrs.axis.value : 1;
  if (!q || !s || (dq.inputs[2] && !z) || q.dims.length !== 2 || !NBITS_BLOCKS.includes(bs) || (axis !== 0 && axis !== -2)) return 0;
  const bits = q.dtype === "int4" || q.dtype === "uint4" ? 4 : q.dtype === "int8" || q.dtype === "uint8" ? 8 : 0;
  if (!bits || s.dtype !== "float32" || g.values.get(dq.outputs[0])?.dtype !== "float32") return 0;
  const users = g.consumers(dq.outputs[0]);
  if (g.outputs.includes(dq.outputs[0]) || users.length === 0 || users.some((u) => u.domain !== "" || u.op !== "MatMul" || u.inputs[1] !== dq.outputs[0] || u.inputs[0] === dq.outputs[0])) return 0;
  if (users.some((u) => g.values.get(u.inputs[0])?.dtype !== "float32" || (g.values.get(u.inputs[0])?.shape?.length ?? 0) < 2)) return 0;
  const [K, N] = q.dims, blocks = Math.ceil(K / bs);
  const shift = q.dtype === "int4" || q.dtype === "int8" ? 1 << (bits - 1) : 0;
  const qv = decodeElements(q.dtype, q.data, K * N), zv = z ? decodeElements(z.dtype, z.data, blocks * N) : undefined, sv = s.data as Float32Array;
  const blob = (bs * bits) / 8, zRow = Math.ceil((blocks * bits) / 8);
  const B = new Uint8Array(N * blocks * blob), S = new Float32Array(N * blocks), Z = new Uint8Array(N * zRow);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      S[n * blocks + b] = sv[b * N + n];
      const zp = (zv ? zv[b * N + n] : 0) + shift;
      Z[n * zRow + Math.floor((b * bits) / 8)] |= bits === 8 ? zp : b & 1 ? zp << 4 : zp;
    }
    for (let k = 0; k < K; k++) {
      const v = qv[k * N + n] + shift, at = n * blocks * blob + Math.floor(k / bs) * blob + Math.floor(((k % bs) * bits) / 8);
      B[at] |= bits === 8 ? v : k & 1 ? v << 4 : v;
    }
  }
  const base = dq.outputs[0];
  const bName = addConstant(g, `${base}.nbits`, { dtype: "uint8", dims: [N, blocks, blob], data: B });
  const sName = addConstant(g, `${base}.nbits_scales`, { dtype: "float32", dims: [N * blocks], data: S });
  const zName = addConstant(g, `${base}.nbits_zero_points`, { dtype: "uint8", dims: [N * zRow], data: Z });
  g.opsets.set("com.microsoft", Math.max(1, g.opsets.get("com.microsoft") ?? 1));
  for (const u of users) {
    g.removeNode(u.name);
    g.addNode({ name: u.name, op: "MatMulNBits", domain: "com.microsoft", inputs: [u.inputs[0], bName, sName, zName], outputs: [...u.outputs],
      attrs: { K: { type: "int", value: K }, N: { type: "int", value: N }, bits: { type: "int", value: bits }, block_size: { type: "int", value: bs } } });
  }
  g.removeNode(dq.name);
  return users.length;
}

export function fuseQdq(graph: Graph): { gemm: number; floatStore: number; add: number; direct: number; nbits: number } {
  const counts = { gemm: 0, floatStore: 0, add: 0, direct: 0, nbits: 0 };
  for (const dq of graph.topoOrder()) if (isDQ(dq) && graph.g.hasNode(dq.name)) counts.nbits += blockedMatMul(graph, dq);
  for (const q of graph.topoOrder()) {
    if (!graph.g.hasNode(q.name) || graph.node(q.name) !== q || !isQ(q) || !perTensor(graph, q)) continue;
    const gemm = groupAt(graph, q, (n) => hasTrait(n, "epilogue-anchor") && n.domain === "", (n) => ({ dq: [0, 1], bias: opDef(n.domain, n.op)?.anchor?.bias }));
    if (gemm && apply(graph, gemm)) { counts.gemm++; continue; }
    // Sum of two: opset 9 ResNets write their residual adds so
    const add = groupAt(graph, q, (n) => n.domain === "" && (n.op === "Add" || n.op === "Sum") && n.inputs.length === 2, () => ({ dq: [0, 1] }));
    if (add && apply(graph, add)) { counts.add++; continue; }
    if (direct(graph, q)) counts.direct++;
  }
  for (const n of graph.topoOrder()) {
    if (!graph.g.hasNode(n.name) || graph.node(n.name) !== n) continue;
    const group = floatGroupAt(graph, n);
    if (group && apply(graph, group)) counts.floatStore++;
  }
  graph.pruneValues();
  return counts;
}

export const fuseQdqPass: Pass = {
  name: "fuse-qdq",
  description: "runs QDQ groups (DequantizeLinear -> Conv/MatMul/Gemm/Add -> QuantizeLinear, or Conv/MatMul/Gemm with a float result) as fused 8-bit kernels, data movement between equal QDQ pairs on 8-bit tensors, and blocked 4/8-bit weights feeding MatMul as MatMulNBits",
  run: (graph) => fuseQdq(graph),
};
