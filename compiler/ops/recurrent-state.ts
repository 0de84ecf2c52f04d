// Shape rules for the stateful sequence ops of state-space and linear-attention language models
// (opset 27): CausalConvWithState (Mamba's and Gated DeltaNet's short depthwise convolution, with
// its carry state) and LinearAttention (linear, gated, delta and gated-delta recurrences over a
// per-head state matrix). Each geometry is computed once here and shared with its kernel
// (codegen/kernels/recurrent/causal-conv.ts, linear-attention.ts), so the two cannot disagree.
import type { DTypeName } from "../../runtime/dtypes.js";
import { Attrs } from "../ir/attrs.js";
import type { Node } from "../ir/graph.js";
import { OpTable, type ShapeCtx } from "./registry.js";

const ops = new OpTable();

/** float16 reaches the kernels widened to float32; CausalConvWithState also takes bfloat16 (computed in float32, rounded once per stored value) */
const FLOATS: readonly DTypeName[] = ["float32", "float16"];
const CONV_FLOATS: readonly DTypeName[] = [...FLOATS, "bfloat16"];

const dimsText = (d: readonly number[] | undefined) => `[${d ?? ""}]`;

export interface CausalConvGeometry {
  batch: number;
  channels: number;
  /** sequence length L of input and output */
  length: number;
  /** kernel size k; the state holds k - 1 positions */
  kernel: number;
  silu: boolean;
}

/** The activation attribute: "none", or SiLU under either of its names. */
export function causalConvActivation(attrs: Attrs, invalid: (m: string) => never): boolean {
  const a = attrs.string("activation", "none");
  if (a !== "none" && a !== "silu" && a !== "swish") invalid(`activation ${JSON.stringify(a)} is not one of none, silu, swish`);
  return a !== "none";
}

export function causalConvGeometry(attrs: Attrs, dims: (readonly number[] | undefined)[], invalid: (m: string) => never): CausalConvGeometry {
  const [x, w, bias, past] = dims;
  if (!x || x.length !== 3) invalid(`input must be 3-D (batch, channels, length); got ${dimsText(x)}`);
  const [batch, channels, length] = x;
  if (!w || w.length !== 3 || w[0] !== channels || w[1] !== 1 || w[2] < 1) {
    invalid(`weight must be (channels, 1, k) = (${channels}, 1, k) with k >= 1; got ${dimsText(w)}`);
  }
  const kernel = w[2];
  if (bias && (bias.length !== 1 || bias[0] !== channels)) invalid(`bias must be (channels) = (${channels}); got ${dimsText(bias)}`);
  const state = [batch, channels, kernel - 1];
  if (past && past.join(",") !== state.join(",")) invalid(`past_state must be (batch, channels, k - 1) = (${state}); got ${dimsText(past)}`);
  return { batch, channels, length, kernel, silu: causalConvActivation(attrs, invalid) };
}

ops.define("CausalConvWithState", (ctx) => {
  const dt = ctx.expectDType(0, CONV_FLOATS);
  for (const i of [1, 2, 3]) {
    const t = ctx.optional(i);
    if (t && t.dtype !== dt) ctx.invalid(`input ${i} has type ${t.dtype}; input is ${dt}, and every input must match it`);
  }
  const g = causalConvGeometry(ctx.attrs, ctx.inputs.map((t) => t?.shape), (m) => ctx.invalid(m));
  return [
    { dtype: dt, shape: [g.batch, g.channels, g.length] },
    { dtype: dt, shape: [g.batch, g.channels, g.kernel - 1] },
  ];
}, { arity: [2, 4], lastChange: 27, traits: ["bfloat16"], flops: (_n, [x, w]) => (x?.length === 3 && w?.length === 3 ? 2 * x[0] * x[1] * x[2] * w[2] : 0) });

export type UpdateRule = "linear" | "gated" | "delta" | "gated_delta";

export interface LinearAttentionGeometry {
  rule: UpdateRule;
  batch: number;
  /** tokens T */
  seq: number;
  qHeads: number;
  kvHeads: number;
  /** head size of Q and K */
  dk: number;
  /** head size of V and of the output */
  dv: number;
  /** decay per key dim (B, T, kv_heads * dk) rather than per head (B, T, kv_heads); 0 without decay */
  decayWidth: number;
  /** beta's last dim: kv_heads, or 1 shared by every head; 0 without beta */
  betaWidth: number;
  scale: number;
}

export function linearAttentionGeometry(attrs: Attrs, dims: (readonly number[] | undefined)[], invalid: (m: string) => never): LinearAttentionGeometry {
  const rule = attrs.string("update_rule", "gated_delta") as UpdateRule;
  if (!["linear", "gated", "delta", "gated_delta"].includes(rule)) invalid(`update_rule ${JSON.stringify(rule)} is not one of linear, gated, delta, gated_delta`);
  if (!attrs.has("q_num_heads") || !attrs.has("kv_num_heads")) invalid("q_num_heads and kv_num_heads are required attributes");
  const qHeads = attrs.int("q_num_heads"), kvHeads = attrs.int("kv_num_heads");
  if (qHeads <= 0 || kvHeads <= 0 || qHeads % kvHeads) invalid(`q_num_heads (${qHeads}) must be a positive multiple of kv_num_heads (${kvHeads})`);
  const [q, k, v, past, decay, beta] = dims;
  for (const [name, d] of [["query", q], ["key", k], ["value", v]] as const) {
    if (!d || d.length !== 3) invalid(`${name} must be 3-D (batch, seq, heads * head_size); got ${dimsText(d)}`);
  }
  const [batch, seq] = q!;
  if (k![0] !== batch || v![0] !== batch || k![1] !== seq || v![1] !== seq) invalid(`query, key and value must have the same batch and sequence length; got ${dimsText(q)}, ${dimsText(k)}, ${dimsText(v)}`);
  if (q![2] % qHeads) invalid(`query's last dim ${q![2]} does not divide by q_num_heads ${qHeads}`);
  const dk = q![2] / qHeads;
  if (k![2] !== kvHeads * dk) invalid(`key's last dim must be kv_num_heads * d_k = ${kvHeads} * ${dk}; got ${k![2]}`);
  if (v![2] % kvHeads) invalid(`value's last dim ${v![2]} does not divide by kv_num_heads ${kvHeads}`);
  const dv = v![2] / kvHeads;
  const gated = rule === "gated" || rule === "gated_delta", delta = rule === "delta" || rule === "gated_delta";
  if (gated !== !!decay) invalid(`update_rule ${rule} ${gated ? "requires" : "takes no"} decay input`);
  if (delta !== !!beta) invalid(`update_rule ${rule} ${delta ? "requires" : "takes no"} beta input`);
  const rows = (name: string, d: readonly number[], widths: number[]) => {
    if (d.length !== 3 || d[0] !== batch || d[1] !== seq || !widths.includes(d[2])) {
      invalid(`${name} must be (batch, seq, ${widths.join(" or ")}) = (${batch}, ${seq}, ...); got ${dimsText(d)}`);
    }
    return d[2];
  };
  // per head first, as the reference reads it (the same numbers when d_k is 1)
  const decayWidth = decay ? (rows("decay", decay, [kvHeads, kvHeads * dk]) === kvHeads ? 1 : dk) : 0;
  const betaWidth = beta ? rows("beta", beta, [kvHeads, 1]) : 0;
  const state = [batch, kvHeads, dk, dv];
  if (past && past.join(",") !== state.join(",")) invalid(`past_state must be (batch, kv_num_heads, d_k, d_v) = (${state}); got ${dimsText(past)}`);
  const given = attrs.float("scale", 0);
  return { rule, batch, seq, qHeads, kvHeads, dk, dv, decayWidth, betaWidth, scale: given === 0 ? 1 / Math.sqrt(dk) : given };
}

function linearAttentionShape(ctx: ShapeCtx) {
  const dt = ctx.expectDType(0, FLOATS);
  for (const i of [1, 2, 4, 5]) {
    const t = ctx.optional(i);
    if (t && t.dtype !== dt) ctx.invalid(`input ${i} has type ${t.dtype}; query is ${dt}, and query, key, value, decay and beta must match`);
  }
  // the state's type S may differ from T; without past_state it is T's, as the reference's and the
  // spec's function body make it
  const past = ctx.optional(3);
  const state = past ? ctx.expectDType(3, FLOATS) : dt;
  const g = linearAttentionGeometry(ctx.attrs, ctx.inputs.map((t) => t?.shape), (m) => ctx.invalid(m));
  return [
    { dtype: dt, shape: [g.batch, g.seq, g.qHeads * g.dv] },
    { dtype: state, shape: [g.batch, g.kvHeads, g.dk, g.dv] },
  ];
}

/** per token and kv head: the state update and delta read (2 dk dv each), and per query head the read-out (2 dk dv) */
function linearAttentionFlops(node: Node, inputs: readonly (readonly number[])[]): number {
  try {
    const g = linearAttentionGeometry(new Attrs(node), inputs.map((d) => (d?.length ? d : undefined)), (m) => { throw new Error(m); });
    const perState = g.rule === "linear" || g.rule === "gated" ? 2 : 4;
    return 2 * g.batch * g.seq * g.dk * g.dv * (perState * g.kvHeads / 2 + g.qHeads);
  } catch {
    return 0;
  }
}

ops.define("LinearAttention", linearAttentionShape, { arity: [3, 6], lastChange: 27, flops: linearAttentionFlops });

export const RECURRENT_STATE_OPS = ops.defs;
