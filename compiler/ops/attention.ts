// Shape rules for the attention family: Attention (opset 23/24) here, RotaryEmbedding and Einsum
// in their own files. The Attention geometry (heads, head sizes, sequence lengths, layouts) is
// computed once by attentionGeometry and shared with the kernel, so the two cannot disagree.
import { Attrs } from "../ir/attrs.js";
import type { Node } from "../ir/graph.js";
import { broadcastShapes, OpTable, type OutputInfo, type ShapeCtx } from "./registry.js";

const ops = new OpTable();

export interface AttentionGeometry {
  /** 3-D inputs (batch, seq, heads*head_size) rather than 4-D (batch, heads, seq, head_size) */
  packed: boolean;
  batch: number;
  qHeads: number;
  kvHeads: number;
  /** head size of Q and K */
  headSize: number;
  /** head size of V (and of Y) */
  vHeadSize: number;
  qLen: number;
  kvLen: number;
  pastLen: number;
  /** pastLen + kvLen: the key sequence attended to */
  totalLen: number;
}

/** Everything the rule and the kernel need from the inputs' shapes; `bad` reports a mismatch. */
export function attentionGeometry(
  attrs: Attrs, q: readonly number[], k: readonly number[], v: readonly number[],
  pastKey: readonly number[] | undefined, pastValue: readonly number[] | undefined,
  bad: (message: string) => never,
): AttentionGeometry {
  if (q.length !== k.length || q.length !== v.length || (q.length !== 3 && q.length !== 4)) {
    bad(`Q, K and V must all be 3-D or all 4-D (got ranks ${q.length}, ${k.length}, ${v.length})`);
  }
  const packed = q.length === 3;
  const batch = q[0];
  if (k[0] !== batch || v[0] !== batch) bad("Q, K and V must have the same batch size");
  let g: AttentionGeometry;
  if (packed) {
    const qHeads = attrs.int("q_num_heads", 0), kvHeads = attrs.int("kv_num_heads", 0);
    if (qHeads <= 0 || kvHeads <= 0) bad("3-D Q, K, V need positive q_num_heads and kv_num_heads attributes");
    if (q[2] % qHeads || k[2] % kvHeads || v[2] % kvHeads) bad("the hidden sizes must divide by the head counts");
    g = { packed, batch, qHeads, kvHeads, headSize: q[2] / qHeads, vHeadSize: v[2] / kvHeads, qLen: q[1], kvLen: k[1], pastLen: 0, totalLen: 0 };
    if (k[2] / kvHeads !== g.headSize) bad("Q and K must have the same head size");
  } else {
    g = { packed, batch, qHeads: q[1], kvHeads: k[1], headSize: q[3], vHeadSize: v[3], qLen: q[2], kvLen: k[2], pastLen: 0, totalLen: 0 };
    if (v[1] !== g.kvHeads) bad("K and V must have the same number of heads");
    if (k[3] !== g.headSize) bad("Q and K must have the same head size");
  }
  if (v[1 + (packed ? 0 : 1)] !== g.kvLen) bad("K and V must have the same sequence length");
  if (g.kvHeads === 0 || g.qHeads % g.kvHeads !== 0) bad(`q heads (${g.qHeads}) must be a multiple of kv heads (${g.kvHeads})`);
  if (!pastKey !== !pastValue) bad("past_key and past_value go together");
  if (pastKey && pastValue) {
    const want = (hs: number) => [batch, g.kvHeads, pastKey[2], hs].join(",");
    if (pastKey.join(",") !== want(g.headSize) || pastValue.join(",") !== want(g.vHeadSize)) {
      bad(`past_key/past_value must be (batch, kv_heads, past_len, head_size) = (${want(g.headSize)}) / (${want(g.vHeadSize)})`);
    }
    g.pastLen = pastKey[2];
  }
  g.totalLen = g.pastLen + g.kvLen;
  return g;
}

const floats = ["float32", "float16", "float64"] as const;

ops.define("Attention", (ctx) => {
  const dt = ctx.expectDType(0, floats);
  for (const i of [1, 2, 4, 5]) if (ctx.optional(i) && ctx.input(i).dtype !== dt) ctx.invalid(`input ${i} must have Q's type ${dt}`);
  const shape = (i: number) => ctx.optional(i)?.shape;
  const g = attentionGeometry(ctx.attrs, ctx.input(0).shape, ctx.input(1).shape, ctx.input(2).shape, shape(4), shape(5), (msg) => ctx.fail(msg));
  checkMask(ctx, g);
  checkNonpad(ctx, g);
  const mode = ctx.attrs.int("qk_matmul_output_mode", 0);
  if (mode < 0 || mode > 3) ctx.invalid(`qk_matmul_output_mode ${mode} is not 0..3`);
  const y = g.packed ? [g.batch, g.qLen, g.qHeads * g.vHeadSize] : [g.batch, g.qHeads, g.qLen, g.vHeadSize];
  const out: OutputInfo[] = [
    { dtype: dt, shape: y },
    { dtype: dt, shape: [g.batch, g.kvHeads, g.totalLen, g.headSize] },
    { dtype: dt, shape: [g.batch, g.kvHeads, g.totalLen, g.vHeadSize] },
    { dtype: dt, shape: [g.batch, g.qHeads, g.qLen, g.totalLen] },
  ];
  return out.slice(0, Math.max(1, ctx.node.outputs.length));
}, { flops: attentionFlops });

const given = (d: readonly number[] | undefined) => (d?.length ? d : undefined);

/** Q K^T and P V: a multiply and an add per term of each (0 where the shapes do not plan) */
function attentionFlops(node: Node, inputs: readonly (readonly number[])[]): number {
  try {
    const g = attentionGeometry(new Attrs(node), inputs[0], inputs[1], inputs[2], given(inputs[4]), given(inputs[5]), (msg) => { throw new Error(msg); });
    return 2 * g.batch * g.qHeads * g.qLen * g.totalLen * (g.headSize + g.vHeadSize);
  } catch {
    return 0;
  }
}

/** attn_mask broadcasts to (batch, q_heads, q_len, <= total_len); a short last axis is padded as masked. */
function checkMask(ctx: ShapeCtx, g: AttentionGeometry): void {
  const mask = ctx.optional(3);
  if (!mask) return;
  if (mask.dtype !== "bool" && mask.dtype !== ctx.input(0).dtype) ctx.invalid(`attn_mask must be bool or Q's type, not ${mask.dtype}`);
  const s = mask.shape;
  if (s.length < 2 || s.length > 4) ctx.fail(`attn_mask must have rank 2 to 4, not ${s.length}`);
  const last = s[s.length - 1];
  if (last > g.totalLen) ctx.fail(`attn_mask's last axis (${last}) is longer than the total sequence (${g.totalLen})`);
  const want = [g.batch, g.qHeads, g.qLen, last];
  const b = broadcastShapes(s, want);
  if (!b || b.join(",") !== want.join(",")) ctx.fail(`attn_mask [${s}] does not broadcast to (batch, q_heads, q_len, kv) = [${want}]`);
}

function checkNonpad(ctx: ShapeCtx, g: AttentionGeometry): void {
  const n = ctx.optional(6);
  if (!n) return;
  if (n.dtype !== "int64" && n.dtype !== "int32") ctx.invalid(`nonpad_kv_seqlen must be int64, not ${n.dtype}`);
  if (n.shape.join(",") !== String(g.batch)) ctx.fail(`nonpad_kv_seqlen must have shape (batch) = (${g.batch})`);
}

export const ATTENTION_OPS = ops.defs;
