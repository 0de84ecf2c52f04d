// Fused dynamic quantization (meta.kind "qdynamic", made by passes/fuse-dynamic-quant.ts): the
// chain onnxruntime's quantize_dynamic writes after each DynamicQuantizeLinear,
// MatMulInteger(x_q, W_q, x_zp, w_zp) -> Cast(float) -> Mul(x_scale * w_scale) (-> Add(bias)
// -> activation, residual Add ...), run as the int8 GEMM with a float store: each i32 sum is
// converted, scaled by the scale tensor the graph's own Mul computed, biased, and goes through
// the float epilogue, so neither the i32 product nor its float copy is ever stored.
import type { Node } from "../../../compiler/ir/graph.js";
import { classifyStep, type Lookup } from "./epilogue-rules.js";
import { epilogueAfter } from "./epilogue.js";
import { operandAt } from "../quant/qops.js";
import { constFloats, numbers, perChannel, type QLayer } from "../quant/qlayer.js";
import { emitQMatMul, qmatmulPlan, qmatmulPrepare, type QMatMulPlan } from "../quant/qmatmul-gemm.js";
import { variant, type KernelVariant, type LayerCtx } from "../kernel.js";

interface DynamicPlan extends QMatMulPlan {
  /** the steps after the bias, for the float epilogue */
  after: { node: Node; operand?: string }[];
}

/** The body as a QLayer with a float result, and the epilogue steps; undefined when the kernels cannot take it. */
function readDynamic(layer: LayerCtx): { q: QLayer; after: DynamicPlan["after"] } | undefined {
  const body = layer.node.body ?? [];
  const [mm, cast, mul, ...rest] = body;
  if (!mm || mm.op !== "MatMulInteger" || cast?.op !== "Cast" || mul?.op !== "Mul") return undefined;
  // the fused node's input slot of a body value (-1 for an absent optional one)
  const slots = (name: string | undefined) => (name ? layer.node.inputs.indexOf(name) : -1);
  const x = operandAt(layer, slots(mm.inputs[0]), slots(mm.inputs[2])), w = operandAt(layer, slots(mm.inputs[1]), slots(mm.inputs[3]));
  if (!x || !w) return undefined;
  const y = layer.output(0);
  const N = y.dims[y.dims.length - 1];
  const scaleName = mul.inputs[0] === cast.outputs[0] ? mul.inputs[1] : mul.inputs[0];
  const s = layer.inputs[slots(scaleName)];
  if (!s || s.dtype !== "float32" || (s.size !== 1 && (s.size !== N || s.dims.some((d, k) => k < s.dims.length - 1 && d !== 1)))) return undefined;
  const scale = s.value ? { kind: "const" as const, values: constFloats(s)! } : { kind: "input" as const, index: slots(scaleName), perChannel: s.size > 1 };
  // the rest: bias adds folded into one float vector, then the epilogue (as fused/epilogue.ts classifies it)
  const infos = new Map(layer.node.inputs.map((n, i) => [n, layer.inputs[i]]));
  const look: Lookup = (v) => { const t = infos.get(v); return t && { dims: t.dims, dtype: t.dtype, isConst: !!t.value }; };
  let chained = mul.outputs[0], biasOpen = true;
  const bias = new Float32Array(N);
  let biased = false;
  const after: DynamicPlan["after"] = [];
  for (const n of rest) {
    const step = classifyStep(n, chained, look, y.dims, y.dims.length - 1, biasOpen);
    if (!step) return undefined;
    if (step.kind === "bias") {
      const v = numbers(infos.get(step.operand)!.value!);
      for (let c = 0; c < N; c++) bias[c] = Math.fround(bias[c] + perChannel(v, c));
      biased = true;
    } else {
      biasOpen = false;
      after.push({ node: n, operand: step.kind === "residual" ? step.operand : undefined });
    }
    chained = n.outputs[0];
  }
  return { q: { x, w, result: { kind: "float", scale, bias: biased ? bias : undefined } }, after };
}

const DYNAMIC = variant<DynamicPlan>({
  name: "qgemm",
  plan: (layer) => {
    const r = readDynamic(layer);
    const plan = r && r.q.w.value ? qmatmulPlan(layer, r.q) : undefined;
    return plan && r && { ...plan, after: r.after };
  },
  prepare: (_ctx, plan) => qmatmulPrepare(plan),
  emit: (ctx, plan) => {
    if (plan.after.length) ctx.epilogue = epilogueAfter(ctx, plan.after);
    emitQMatMul(ctx, plan);
  },
});

/** The variants of fused kind "qdynamic". */
export const QDYNAMIC_VARIANTS: KernelVariant<any>[] = [DYNAMIC];
