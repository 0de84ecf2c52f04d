// Fused epilogues (meta.kind "epilogue"): a Conv/ConvTranspose/Gemm/MatMul whose stored values go
// through bias, activation and residual adds first. Constant bias adds are summed into one bias
// vector at compile time (placed with the weights) that the anchor kernel adds where it already
// adds its own, hoisted per channel; activations and residuals run as ctx.epilogue on each value
// (f32x4 in the anchors' vector loops), the residual read at the stored element's own offset.
// The anchor runs through its own family's variant, chosen for the anchor as the fused kernel
// will call it (the combined bias in place of its own); the layer reports that variant's name.
import binaryen from "binaryen";
import { KilnError } from "../../../runtime/errors.js";
import { Attrs } from "../../../compiler/ir/attrs.js";
import type { Node, Tensor } from "../../../compiler/ir/graph.js";
import { tensorBytes } from "../../../compiler/ir/raw.js";
import type { Expr } from "../../fn.js";
import { biasFoldable, channelAxis, classifyStep, ownBiasInput, type Lookup } from "./epilogue-rules.js";
import { KernelCtx, LayerCtx, variant, type Epilogue, type KernelFamily, type KernelVariant, type TensorInfo, type TensorRef } from "../kernel.js";
import { selectVariant, type KernelChoice } from "../select.js";
import { UNARY_FORMULAS } from "../unary/ops.js";
import { floatOps, vecOps } from "../unary/formula.js";
import { clampToConstants, constantClipBounds } from "../unary/clip.js";

/** one value transform: x is a getter of the running value; ptr() + offset is where it is stored */
interface Transform {
  vec(x: () => Expr, ptr: () => Expr, offset: number): Expr;
  scalar(x: () => Expr, ptr: () => Expr, offset: number): Expr;
}

/** The chain after the anchor, by value names. */
interface Chain {
  anchor: Node;
  /** the constant bias adds folded into one bias */
  biasParts: string[];
  /** what runs on each value after the bias, in order (residual adds name their operand) */
  after: { node: Node; operand?: string }[];
}

interface Plan {
  chain: Chain;
  /** the anchor's own bias plus every folded bias add, placed as the layer's first constant */
  bias?: Tensor;
  /** the anchor as its kernel runs: Gemm's beta is 1 when its C went into the combined bias */
  anchor: Node;
  /** the anchor's inputs by name; "" for the combined bias in place of its own */
  anchorInputs: (string | undefined)[];
  choice: KernelChoice;
}

const BIAS = "";

function chainOf<T extends TensorInfo>(layer: LayerCtx<T>, infos: Map<string, T>): Chain {
  const body = layer.node.body ?? [];
  const anchor = body[0];
  const fail = (why: string): never => { throw new KilnError("INTERNAL", `epilogue ${JSON.stringify(layer.node.name)}: ${why}`, layer.context()); };
  if (!anchor) fail("empty body");
  const y = layer.output(0);
  const look: Lookup = (v) => { const r = infos.get(v); return r && { dims: r.dims, dtype: r.dtype, isConst: !!r.value }; };
  const axis = channelAxis(anchor, y.dims.length);
  let chained = anchor.outputs[0];
  let biasOpen = biasFoldable(anchor, look);
  const biasParts: string[] = [], after: Chain["after"] = [];
  for (const n of body.slice(1)) {
    const step = classifyStep(n, chained, look, y.dims, axis, biasOpen) ?? fail(`cannot apply ${n.op} ${JSON.stringify(n.name)}`);
    if (step.kind === "bias") biasParts.push(step.operand);
    else { biasOpen = false; after.push({ node: n, operand: step.kind === "residual" ? step.operand : undefined }); }
    chained = n.outputs[0];
  }
  return { anchor, biasParts, after };
}

function byName<T extends TensorInfo>(layer: LayerCtx<T>): Map<string, T> {
  const m = new Map<string, T>();
  layer.node.inputs.forEach((n, i) => { const r = layer.inputs[i]; if (n && r) m.set(n, r); });
  return m;
}

/** index into a constant broadcast along `axis` of a tensor shaped `out`, at channel c */
const channelValue = (t: Tensor, c: number) => Number(t.data[t.data.length === 1 ? 0 : c]);

/** The anchor's own bias plus every folded bias add, as one float32 tensor the anchor kernel reads. */
function combinedBias(chain: Chain, infos: Map<string, TensorInfo>, y: TensorInfo): Tensor | undefined {
  if (!chain.biasParts.length) return undefined;
  const { anchor } = chain;
  const k = ownBiasInput(anchor);
  const own = k === undefined || !anchor.inputs[k] ? undefined : infos.get(anchor.inputs[k])?.value;
  const axis = channelAxis(anchor, y.dims.length);
  const C = y.dims[axis];
  const parts = (c: number) => chain.biasParts.reduce((s, p) => s + channelValue(infos.get(p)!.value!, c), 0);
  if (anchor.op !== "Gemm") {
    const data = Float32Array.from({ length: C }, (_, c) => (own ? channelValue(own, c) : 0) + parts(c));
    return { dtype: "float32", dims: [C], data };
  }
  // Gemm's C may vary by row too: keep its rows, scaled by beta (the anchor then runs with beta 1)
  const beta = new Attrs(anchor).float("beta", 1);
  const cd = own ? [...Array(2 - Math.min(own.dims.length, 2)).fill(1), ...own.dims] : [1, 1];
  const rows = cd[0];
  const data = new Float32Array(rows * C);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) data[r * C + c] = (own ? beta * Number(own.data[r * cd[1] + (cd[1] === 1 ? 0 : c)]) : 0) + parts(c);
  }
  return { dtype: "float32", dims: own ? [rows, C] : [C], data };
}

/** Clip with its constant bounds (attributes before opset 11, scalar inputs after) */
function clipTransform(ctx: KernelCtx, node: Node, refs: Map<string, TensorInfo>): Transform {
  const bounds = constantClipBounds(node, (name) => channelValue(refs.get(name)!.value!, 0));
  const V = vecOps(ctx.m, ctx), F = floatOps(ctx.m, "f32", ctx);
  return { vec: (x) => clampToConstants(V, x(), bounds), scalar: (x) => clampToConstants(F, x(), bounds) };
}

/**
 * Whether an epilogue can apply activation `op` to each stored value: Clip, or a unary op with a
 * float32 f32x4 form (the registry's trait "epilogue"; the registry-agreement test holds the two together).
 */
export function epilogueTakes(op: string): boolean {
  const f = UNARY_FORMULAS[op];
  return op === "Clip" || !!(f?.simd && f.float);
}

function transformOf(ctx: KernelCtx, { node, operand }: Chain["after"][number], refs: Map<string, TensorRef>): Transform {
  const m = ctx.m;
  const y = ctx.output(0);
  if (operand) {
    const r = refs.get(operand)!;
    // same shape as the output: element at the same position, i.e. the same offset from its start
    const at = (offset: number) => r.addr + offset - y.addr;
    return {
      vec: (x, ptr, off) => m.f32x4.add(x(), m.v128.load(at(off), 4, ptr())),
      scalar: (x, ptr, off) => m.f32.add(x(), m.f32.load(at(off), 4, ptr())),
    };
  }
  if (node.op === "Clip") return clipTransform(ctx, node, refs);
  const op = UNARY_FORMULAS[node.op];
  if (!op?.simd || !op.float) ctx.unsupported(`no fused epilogue form for ${node.op}`);
  // the activation's own attributes (alpha, approximate...) through a context for its node
  const own = new KernelCtx(m, ctx.fn, node, ctx.opset, [], [], ctx.math);
  const V = vecOps(m, ctx), F = floatOps(m, "f32", ctx);
  return { vec: (x) => op.simd!(V, x, own), scalar: (x) => op.float!(F, x, own) };
}

function epilogueOf(ctx: KernelCtx, chain: Chain, refs: Map<string, TensorRef>, bias?: TensorRef): Epilogue {
  const { m, fn } = ctx;
  const steps = chain.after.map((s) => transformOf(ctx, s, refs));
  // one local per lane type carries the running value: every step reads it, then overwrites it
  const run = (type: binaryen.Type, pick: (t: Transform) => Transform["vec"]) => {
    const l = fn.local(type);
    return (v: Expr, ptr: () => Expr, off: number): Expr => {
      if (!steps.length) return v;
      const code = [l.set(v), ...steps.map((s) => l.set(pick(s)(l.get, ptr, off)))];
      return m.block(null, [...code, l.get()], type);
    };
  };
  return { bias, vec: run(binaryen.v128, (t) => t.vec), scalar: run(binaryen.f32, (t) => t.scalar) };
}

/**
 * The epilogue of steps (activations, residual adds) applied to every value a fused kernel other
 * than "epilogue" stores (fused/qdynamic.ts: the int8 GEMM's float result).
 */
export function epilogueAfter(ctx: KernelCtx, after: { node: Node; operand?: string }[]): Epilogue {
  return epilogueOf(ctx, { anchor: ctx.node, biasParts: [], after }, byName(ctx));
}

/** The anchor's view of the layer (the combined bias in place of its own), with tensors of `infos` and the bias `bias`. */
function anchorView<T extends TensorInfo>(plan: Pick<Plan, "anchor" | "anchorInputs">, infos: Map<string, T>, bias: T | undefined): (T | undefined)[] {
  return plan.anchorInputs.map((n) => (n === BIAS ? bias : n ? infos.get(n) : undefined));
}

/**
 * The variant of fused nodes of kind "epilogue"; `familyOf` finds the anchor's kernel family
 * (kernels/index.ts passes its lookup in: this file must not import the registry, which lists it).
 */
export function epilogueVariant(familyOf: (domain: string, op: string) => KernelFamily | undefined): KernelVariant<Plan> {
  return variant<Plan>({
    name: "epilogue",
    describe: (plan) => plan.choice.name,
    plan(layer) {
      const infos = byName(layer);
      const y = layer.output(0);
      const chain = chainOf(layer, infos);
      const value = combinedBias(chain, infos, y);
      const k = ownBiasInput(chain.anchor);
      let anchor = chain.anchor;
      const anchorInputs: Plan["anchorInputs"] = [...anchor.inputs];
      if (value && k !== undefined) {
        anchorInputs[k] = BIAS;
        // Gemm's beta is already in the combined bias
        if (anchor.op === "Gemm") anchor = { ...anchor, attrs: { ...anchor.attrs, beta: { type: "float", value: 1 } } };
      }
      const bias: TensorInfo | undefined = value && { name: `${layer.node.name}.bias`, dtype: "float32", dims: value.dims, size: value.data.length, value };
      const family = familyOf(anchor.domain, anchor.op) ?? layer.unsupported(`no kernel for ${anchor.op}`);
      const inputs = anchorView({ anchor, anchorInputs }, infos, bias);
      const anchorLayer = new LayerCtx(anchor, layer.opset, inputs, [y], layer.selection, k === undefined ? bias : undefined, layer.recorded);
      anchorLayer.varying = layer.varying;
      anchorLayer.varyingDims = layer.varyingDims;
      return { chain, bias: value, anchor, anchorInputs, choice: selectVariant(family, anchorLayer) };
    },
    prepare(ctx, plan) {
      // the anchor's own prepare (pre-packed weights, scratch) runs too; its constants follow the bias
      const inner = anchorCtx(ctx, plan, -1);
      const own = plan.choice.variant.prepare?.(inner, plan.choice.plan) ?? {};
      // inputs the anchor no longer reads, as indices of this node's inputs; a residual add may read
      // the same tensor (Gemm(x, c) + c: one input of the fused node), which must then stay in memory
      const residuals = new Set(plan.chain.after.map((a) => a.operand));
      const unread = (own.unread ?? []).map((k) => plan.anchorInputs[k] ?? BIAS).filter((n) => !residuals.has(n))
        .map((n) => ctx.node.inputs.indexOf(n)).filter((k) => k >= 0);
      return { constants: [...(plan.bias ? [tensorBytes(plan.bias)] : []), ...(own.constants ?? [])], scratchBytes: own.scratchBytes, unread };
    },
    emit(ctx, plan) {
      const inner = anchorCtx(ctx, plan, ctx.constantAddrs[0]);
      inner.constantAddrs = ctx.constantAddrs.slice(plan.bias ? 1 : 0);
      inner.scratchAddr = ctx.scratchAddr;
      const biasRef = plan.bias ? inner.inputs[plan.anchorInputs.indexOf(BIAS)] ?? inner.fusedBias as TensorRef : undefined;
      inner.epilogue = epilogueOf(ctx, plan.chain, byName(ctx), biasRef);
      inner.threads = ctx.threads; // an epilogue is per output element: it splits with its anchor
      inner.symbolic = ctx.symbolic; // and runs the anchor's rows
      plan.choice.variant.emit(inner, plan.choice.plan);
      ctx.split = inner.split;
    },
  });
}

/** The anchor's kernel context: the combined bias (at `biasAddr`, the layer's first constant) in place of its own. */
function anchorCtx(ctx: KernelCtx, plan: Plan, biasAddr: number): KernelCtx {
  const bias: TensorRef | undefined = plan.bias && {
    name: `${ctx.node.name}.bias`, dtype: "float32", dims: plan.bias.dims, size: plan.bias.data.length, addr: biasAddr, value: plan.bias,
  };
  const inputs = anchorView(plan, byName(ctx), bias);
  const viaInput = plan.anchorInputs.includes(BIAS);
  const inner = new KernelCtx(ctx.m, ctx.fn, plan.anchor, ctx.opset, inputs, [ctx.output(0)], ctx.math, ctx.selection, viaInput ? undefined : bias, plan.choice.name);
  // the anchor plans as it was planned (Einsum's packed labels depend on which dims vary)
  inner.varyingDims = ctx.varyingDims;
  return inner;
}
