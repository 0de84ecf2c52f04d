// FlexAttention (ai.onnx.preview): attention whose scores and probabilities pass through
// subgraphs the model gives (torch's flex_attention). kiln resolves it at compile time into the
// plain nodes of its ONNX function body, as the node tests' expanded forms have them, so its
// products and softmax take the attention passes and kernels like any: Q and K each times
// sqrt(scale) (scale the attribute, else 1/sqrt(head size), computed in float32, then the inputs'
// type), Q K^T, the scores in float32 for float16 and bfloat16 inputs, score_mod inlined on them,
// Softmax on the last axis, prob_mod inlined, times V (float32 then back for half types). Key and
// value heads fewer than the query's (grouped-query attention) are each repeated for consecutive
// query heads. The subgraphs take the whole scores tensor [B, H, L, S]; mask_mod, and subgraphs of
// the (score, batch, head, query, key) form a later draft of the preview op describes, are
// unsupported: the preview spec has not settled them and no test data pins their meaning.
import type { Attr, Graph, Tensor } from "../ir/graph.js";
import { OpTable, resolvedOnly, type CompoundCtx, type Resolved } from "./registry.js";

const ops = new OpTable();


const FLOAT_TYPES = ["float32", "float16", "bfloat16", "float64"] as const;
const DTYPE_CODE: Record<string, number> = { float32: 1, float16: 10, float64: 11, bfloat16: 16 };
const ints = (value: number[]): Attr => ({ type: "ints", value });
const int = (value: number): Attr => ({ type: "int", value });

async function flexAttention(s: CompoundCtx): Promise<Resolved[]> {
  const { ctx, build } = s;
  const [q, k, v] = [0, 1, 2].map((i) => {
    const o = s.operands[i];
    if (!o || !("tensor" in o)) return ctx.invalid(`input ${i} must be a tensor`);
    return o.tensor;
  });
  for (const [i, t] of [q, k, v].entries()) if (t.shape.length !== 4) ctx.fail(`input ${i} must be rank 4 [batch, heads, sequence, head size], got [${t.shape.join(",")}]`);
  const dt = ctx.expectDType(0, FLOAT_TYPES);
  if (k.dtype !== dt || v.dtype !== dt) ctx.unsupported(`Q, K and V of different types (${dt}, ${k.dtype}, ${v.dtype}) are not supported`);
  const [b, qh, , e] = q.shape;
  const [kb, kvh, sk, ke] = k.shape;
  if (kb !== b || v.shape[0] !== b || ke !== e || v.shape[1] !== kvh || v.shape[2] !== sk) {
    ctx.fail(`Q [${q.shape.join(",")}], K [${k.shape.join(",")}] and V [${v.shape.join(",")}] must share the batch, K and V their heads and sequence, Q and K their head size`);
  }
  if (qh % kvh !== 0) ctx.fail(`Q's ${qh} heads are no multiple of K's and V's ${kvh}`);
  const graphAttr = (name: string): Graph | undefined => {
    const a = ctx.node.attrs[name];
    if (!a) return undefined;
    if (a.type !== "graph") return ctx.invalid(`attribute ${name} must be a graph`);
    if (a.value.inputs.length !== 1 || a.value.outputs.length !== 1) {
      ctx.unsupported(`${name} takes ${a.value.inputs.length} inputs and gives ${a.value.outputs.length} outputs; kiln takes the form of one input, the whole [batch, heads, query, key] tensor, and one output`);
    }
    return a.value;
  };
  if (ctx.node.attrs.mask_mod) ctx.unsupported("mask_mod is not supported: the preview spec has not settled what its subgraph takes and gives");
  const [scoreMod, probMod] = [graphAttr("score_mod"), graphAttr("prob_mod")];
  // grouped-query attention: each key and value head repeated for its query heads
  const repeat = async (t: string, d: number) => {
    if (kvh === qh) return t;
    const r = qh / kvh;
    const wide = await build.node("Expand", [await build.node("Unsqueeze", [t, build.int64("axis2", [2])]), build.int64("expand", [b, kvh, r, sk, d])]);
    return build.node("Reshape", [wide, build.int64("heads", [b, qh, sk, d])]);
  };
  const [kk, vv] = [await repeat(k.name, e), await repeat(v.name, v.shape[3])];
  // sqrt(scale) in float32, then the inputs' type, on Q and on K
  const f = Math.fround;
  const given = ctx.node.attrs.scale;
  const scale = given ? f(ctx.attrs.float("scale")) : f(1 / f(Math.sqrt(e)));
  const root = build.constant("scale_sqrt", { dtype: "float32", dims: [], data: Float32Array.of(f(Math.sqrt(scale))) } as Tensor);
  const rootT = dt === "float32" ? root : await build.node("Cast", [root], { to: int(DTYPE_CODE[dt]) });
  const qs = await build.node("Mul", [q.name, rootT]);
  const kt = await build.node("Transpose", [await build.node("Mul", [kk, rootT])], { perm: ints([0, 1, 3, 2]) });
  let scores = await build.node("MatMul", [qs, kt]);
  const half = dt === "float16" || dt === "bfloat16";
  if (half) scores = await build.node("Cast", [scores], { to: int(1) });
  if (scoreMod) [scores] = await build.iteration(scoreMod, 0, [scores], []);
  let probs = await build.node("Softmax", [scores], { axis: int(3) });
  if (probMod) [probs] = await build.iteration(probMod, 1, [probs], []);
  if (!half) return [{ tensor: await build.node("MatMul", [probs, vv]) }];
  const y = await build.node("MatMul", [probs, await build.node("Cast", [vv], { to: int(1) })]);
  return [{ tensor: await build.node("Cast", [y], { to: int(DTYPE_CODE[dt]) }) }];
}

ops.define("FlexAttention", resolvedOnly, { domain: "ai.onnx.preview", lastChange: 1, arity: [3, 3], traits: ["compile-time-only"], compound: flexAttention });

export const FLEX_ATTENTION_OPS = ops.defs;
