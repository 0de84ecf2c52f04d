// fuse-attention: attention written as its three products, scores -> [scale] -> [additive mask] ->
// Softmax(last axis) -> context, becomes one ONNX Attention node (opset 23), whose "blocked"
// kernel keeps each block of query rows' scores in an L2-resident scratch instead of writing the
// [b, h, s, t] score matrix to memory and reading it back twice (18 MB per layer for a 1,500-
// position encoder). It runs after fuse-transposed-matmul, so it sees the products as the Einsums
// that pass makes: Q and K read as [b, s, h, d] or [b, h, s, d], the context written as either;
// those are Attention's 3-D ([b, s, h*d], reshaped for free) and 4-D layouts. The scores and the
// probabilities must have no other reader (a context written [b, s, h, e] from 4-D operands, as
// transformers' SDPA export writes it, gets a Transpose after the Attention); transformers' guard against fully masked rows
// (Where(IsNaN(p), 0, p)) is taken in too, since Attention gives zeros for such rows (a NaN in Q or
// K now gives a NaN row, where the guard gave zeros: NaN in, NaN out). The rewrite
// is made only where the kernel selection picks "blocked" for the result (float32, sizes that pay,
// a block of scores that fits): elsewhere the three layers stay as they were.
// With symbolic dims (`symbolic`: the driver prepares the graph at probe values and at the
// bounds, and every one must come out the same), the choice cannot hang on the sizes: "blocked" is
// asked for as a user forcing it would (a block of scores must still fit at each) and recorded
// on the node (meta.kernel, which select-kernels keeps). The 3-D form reads the [b, s, h*d] values
// the model's head splits took and writes its head merge's output, so no value is added; where
// the model has none, the reshapes the rewrite adds copy the batch and sequence dims from their
// input (0 in Reshape's shape) instead of naming them.
import type { Graph, Node } from "../compiler/ir/graph.js";
import { FUSED_DOMAIN } from "../compiler/ir/graph.js";
import { chooseKernel, matchesVariant, type KernelSelection } from "../codegen/capabilities.js";
import { ensureOpset, privateProducer, scalarConst, soleConsumer } from "./fuse-patterns-match.js";
import { addConstant, int64Tensor } from "./rewrite.js";
import { parseKernelSelection } from "./select-kernels.js";
import type { Pass } from "./pass.js";

/** ai.onnx's Attention */
const ATTENTION_OPSET = 23;

const shapeOf = (g: Graph, v: string) => g.values.get(v)?.shape as number[] | undefined;
const isF32 = (g: Graph, v: string) => g.values.get(v)?.dtype === "float32";

/** The probabilities' producer read as Softmax(x [* scale]): x and the scale, or undefined. */
function softmaxOf(g: Graph, n: Node): { x: string; scale: number; nodes: Node[] } | undefined {
  const lastAxis = (sm: Node) => {
    const r = shapeOf(g, sm.inputs[0])?.length ?? 0;
    const a = sm.attrs.axis ? Number(sm.attrs.axis.value) : g.opset("") >= 13 ? -1 : 1;
    return r > 0 && (a === -1 || a === r - 1);
  };
  if (n.op === "Softmax" && n.domain === "" && lastAxis(n)) return { x: n.inputs[0], scale: 1, nodes: [n] };
  // fuse-patterns' Softmax(x * c) / Softmax(x / c): inputs [x, c]
  if (n.domain !== FUSED_DOMAIN || n.meta?.kind !== "scaled-softmax" || !n.body || n.body.length !== 2) return undefined;
  const [s, sm] = n.body;
  const c = scalarConst(g, n.inputs[1]);
  if (c === undefined || sm.op !== "Softmax" || !lastAxis(sm)) return undefined;
  return { x: n.inputs[0], scale: s.op === "Div" ? 1 / c : c, nodes: [n] };
}

/** labels of an Einsum's operands and output, or undefined */
function einsumLabels(n: Node | undefined, rank: number): [string, string, string] | undefined {
  if (!n || n.op !== "Einsum" || n.domain !== "" || n.inputs.length !== 2) return undefined;
  const eq = n.attrs.equation?.value;
  const m = typeof eq === "string" ? /^([a-z]+),([a-z]+)->([a-z]+)$/.exec(eq.replace(/\s/g, "")) : null;
  if (!m || [m[1], m[2], m[3]].some((s) => s.length !== rank || new Set(s).size !== rank)) return undefined;
  return [m[1], m[2], m[3]];
}

/** "bshd" (Attention's 3-D layout), "bhsd" (4-D) for labels of (batch, head, position, feature), else undefined */
function layoutOf(labels: string, b: string, h: string, s: string, d: string): "bshd" | "bhsd" | undefined {
  if (labels === b + s + h + d) return "bshd";
  if (labels === b + h + s + d) return "bhsd";
  return undefined;
}

interface Match {
  q: string; k: string; v: string; y: string;
  mask?: string;
  scale: number;
  layout: "bshd" | "bhsd";
  /** Q, K and V as [b, h, s, d] and the context written as [b, s, h, e] (transformers' SDPA export: attn.transpose(1, 2)) */
  transposeOut?: boolean;
  /** the nodes the Attention replaces */
  gone: Node[];
}

/** Attention ending at the probabilities' producer `pn`, or undefined. */
function match(g: Graph, pn: Node): Match | undefined {
  const sm = softmaxOf(g, pn);
  if (!sm || pn.outputs.length !== 1) return undefined;
  const gone: Node[] = [...sm.nodes];
  let scale = sm.scale, mask: string | undefined, x = sm.x;
  // [mask Add] then [scale Mul/Div], walking up from the softmax's input
  const add = privateProducer(g, x, "Add");
  if (add && add.domain === "" && add.inputs.length === 2) {
    // the scores' side: an Einsum, or a scale Mul/Div of one
    const scoresSide = (v: string) => {
      const n = privateProducer(g, v);
      return n?.op === "Einsum" || ((n?.op === "Mul" || n?.op === "Div") && privateProducer(g, n.inputs[0])?.op === "Einsum");
    };
    const j = [0, 1].find((i) => scoresSide(add.inputs[i]) && !scoresSide(add.inputs[1 - i]));
    if (j === undefined) return undefined;
    mask = add.inputs[1 - j];
    x = add.inputs[j];
    gone.push(add);
  }
  const mul = privateProducer(g, x, ["Mul", "Div"]);
  if (mul && mul.domain === "" && mul.inputs.length === 2 && scale === 1) {
    const j = mul.op === "Div" ? 0 : [0, 1].find((i) => scalarConst(g, mul.inputs[1 - i]) !== undefined);
    const c = j === undefined ? undefined : scalarConst(g, mul.inputs[1 - j]);
    if (j !== undefined && c !== undefined && c !== 0) {
      scale = mul.op === "Div" ? 1 / c : c;
      x = mul.inputs[j];
      gone.push(mul);
    }
  }
  const scores = privateProducer(g, x);
  const sl = einsumLabels(scores, 4);
  if (!scores || !sl) return undefined;
  gone.push(scores);
  // the probabilities, or transformers' Where(IsNaN(p), 0, p) of them, read by the context alone
  let p = pn.outputs[0];
  const readers = g.outputs.includes(p) ? [] : g.consumers(p);
  if (readers.length === 2) {
    const isnan = readers.find((r) => r.op === "IsNaN"), where = readers.find((r) => r.op === "Where");
    if (!isnan || !where || soleConsumer(g, isnan.outputs[0]) !== where) return undefined;
    if (where.inputs[0] !== isnan.outputs[0] || where.inputs[2] !== p || scalarConst(g, where.inputs[1]) !== 0) return undefined;
    gone.push(isnan, where);
    p = where.outputs[0];
  }
  const context = soleConsumer(g, p);
  const cl = einsumLabels(context, 4);
  if (!context || !cl || context.inputs[0] !== p || context.inputs[1] === p) return undefined;
  gone.push(context);
  // scores: labels (b, h, s, t) out of Q (b, h, s, d) and K (b, h, t, d) in one of the layouts
  const [bq, bk, bo] = sl;
  const [b, h, s, t] = bo;
  const d = [...bq].find((l) => !bo.includes(l));
  if (!d || !bk.includes(d)) return undefined;
  const lq = layoutOf(bq, b, h, s, d), lk = layoutOf(bk, b, h, t, d);
  // context: P (b, h, s, t) times V (b, h, t, e) into (b, h, s, e) in the same layout
  const [pl, vl, ol] = cl;
  const [b2, h2, s2, t2] = pl;
  const e = [...vl].find((l) => !pl.includes(l));
  if (!e) return undefined;
  const lv = layoutOf(vl, b2, h2, t2, e), ly = layoutOf(ol, b2, h2, s2, e);
  if (!lq || lq !== lk || lq !== lv || !ly) return undefined;
  // the 4-D form, its context transposed on the way out: Attention's own output, then a Transpose
  const transposeOut = lq === "bhsd" && ly === "bshd";
  if (lq !== ly && !transposeOut) return undefined;
  const [q, k] = scores.inputs, v = context.inputs[1], y = context.outputs[0];
  if (![q, k, v, y].every((n) => isF32(g, n))) return undefined;
  // the mask broadcasts along the scores, not over the keys (Attention takes a short mask as
  // padding), with rank 2 to 4 as Attention's attn_mask
  const ms = mask ? shapeOf(g, mask) : undefined, ss = shapeOf(g, scores.outputs[0]);
  if (mask && (!ms || !ss || ms.length < 2 || ms.length > 4 || ms[ms.length - 1] !== ss[3] || !isF32(g, mask))) return undefined;
  if (gone.some((n) => n.meta?.guard)) return undefined;
  return { q, k, v, y, mask, scale, layout: lq, gone, transposeOut };
}

/** Rewrites one match when the Attention it makes runs "blocked"; returns whether it did. */
function rewrite(g: Graph, mt: Match, selection: KernelSelection | undefined, symbolic: boolean): boolean {
  const made: Node[] = [];
  const newValue = (base: string, shape: number[]) => {
    const name = g.uniqueValueName(base);
    Object.assign(g.value(name), { dtype: "float32", shape });
    return name;
  };
  // symbolic: the batch and sequence dims (the first two of both layouts) copied from the input
  const reshape = (from: string, to: string, dims: number[]) => {
    const shape = symbolic ? [0, 0, ...dims.slice(2)] : dims;
    made.push({ name: g.uniqueValueName(`${to}/reshape`), op: "Reshape", domain: "", inputs: [from, addConstant(g, `${to}/shape`, int64Tensor(shape))], outputs: [to], attrs: {} });
  };
  const [qs, ks, vs, ys] = [mt.q, mt.k, mt.v, mt.y].map((n) => shapeOf(g, n)!);
  const packed = mt.layout === "bshd";
  const flat = (dims: number[]) => [dims[0], dims[1], dims[2] * dims[3]];
  let [q, k, v, y] = [mt.q, mt.k, mt.v, mt.y];
  const attrs: Node["attrs"] = { scale: { type: "float", value: Math.fround(mt.scale) } };
  // the [b, s, h*d] value a [b, s, h, d] operand was reshaped from (the model's head split), or
  // where the context goes once reshaped to [b, s, h*e] (its head merge): taken as they are, no
  // value added (a symbolic build's probes that only prepare the graph then know every value)
  const reshapedFrom = (x: string, dims: number[]) => {
    const r = g.producer(x);
    return r?.op === "Reshape" && r.domain === "" && shapeOf(g, r.inputs[0])?.join() === flat(dims).join() ? r.inputs[0] : undefined;
  };
  const merge = packed ? soleConsumer(g, mt.y, "Reshape") : undefined;
  const merged = merge && merge.domain === "" && merge.inputs[0] === mt.y && shapeOf(g, merge.outputs[0])?.join() === flat(ys).join() ? merge : undefined;
  if (packed) {
    const split = (x: string, dims: number[]) => {
      const from = reshapedFrom(x, dims);
      if (from) return from;
      const to = newValue(`${x}/heads`, flat(dims));
      reshape(x, to, flat(dims));
      return to;
    };
    q = split(mt.q, qs);
    k = split(mt.k, ks);
    v = split(mt.v, vs);
    y = merged ? merged.outputs[0] : newValue(`${mt.y}/heads`, flat(ys));
    attrs.q_num_heads = { type: "int", value: qs[2] };
    attrs.kv_num_heads = { type: "int", value: ks[2] };
  }
  const last = mt.gone[mt.gone.length - 1];
  if (mt.transposeOut) y = newValue(`${mt.y}/bhsd`, [ys[0], ys[2], ys[1], ys[3]]);
  const attention: Node = { name: last.name, op: "Attention", domain: "", inputs: [q, k, v, ...(mt.mask ? [mt.mask] : [])], outputs: [y], attrs };
  made.push(attention);
  if (mt.transposeOut) made.push({ name: g.uniqueNodeName(`${last.name}/transpose`), op: "Transpose", domain: "", inputs: [y], outputs: [mt.y], attrs: { perm: { type: "ints", value: [0, 2, 1, 3] } } });
  if (packed && !merged) reshape(y, mt.y, ys);
  let kernel: string | undefined;
  const forbidden = selection?.forbid.some((f) => matchesVariant(f, "Attention", "blocked"));
  const asked = symbolic && !forbidden ? { force: [...(selection?.force ?? []), "Attention/blocked"], forbid: selection?.forbid ?? [] } : selection;
  try {
    kernel = chooseKernel(g, attention, asked);
  } catch {
    kernel = undefined;
  }
  if (kernel !== "blocked" || !ensureOpset(g, ATTENTION_OPSET, mt.gone)) return false;
  // symbolic: recorded, so select-kernels keeps it at any size (its own heuristics would not)
  if (symbolic) attention.meta = { ...attention.meta, kernel };
  for (const n of [...mt.gone, ...(merged ? [merged] : [])]) g.removeNode(n.name);
  for (const n of made) g.addNode(n);
  return true;
}

/** Returns how many attentions it fused; `symbolic`: see the head of this file. */
export function fuseAttention(graph: Graph, selection?: KernelSelection, symbolic = false): number {
  let made = 0;
  for (const n of graph.topoOrder()) {
    if (!graph.g.hasNode(n.name) || graph.node(n.name) !== n) continue;
    const mt = match(graph, n);
    if (mt && rewrite(graph, mt, selection, symbolic)) made++;
  }
  graph.pruneValues();
  return made;
}

export const fuseAttentionPass: Pass = {
  name: "fuse-attention",
  description: "makes scores -> [scale] -> [mask] -> Softmax -> context one Attention node (opset 23) where its blocked kernel runs it: the score matrix stays in an L2 scratch, block by block",
  options: {
    enabled: { default: true, description: "false leaves attention as its layers" },
    symbolic: { default: false, description: "the graph has symbolic dims (set by the driver): blocked is asked for at any size, reshapes copy the batch and sequence dims" },
    kernels: { default: "", description: "the kernel selection (as KILN_KERNELS): -blocked keeps attention as its layers" },
  },
  run: (graph, ctx) => ({ fused: ctx.options?.enabled === false ? 0 : fuseAttention(graph, parseKernelSelection(String(ctx.options?.kernels ?? "")), ctx.options?.symbolic === true) }),
};
