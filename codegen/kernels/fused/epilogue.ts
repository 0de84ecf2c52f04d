// Fused epilogues (meta.kind "epilogue"): a Conv/ConvTranspose/Gemm/MatMul whose stored values go
// through bias, activation and residual adds first. Constant bias adds are summed into one bias
// vector at compile time (placed with the weights) that the anchor kernel adds where it already
// adds its own, hoisted per channel; activations and residuals run as ctx.epilogue on each value
// (f32x4 in the anchors' vector loops), the residual read at the stored element's own offset.
import binaryen from "binaryen";
import { KilnError } from "../../../runtime/errors.js";
import { Attrs } from "../../../compiler/ir/attrs.js";
import type { Node, Tensor } from "../../../compiler/ir/graph.js";
import { tensorBytes } from "../../../compiler/ir/raw.js";
import type { Expr } from "../../fn.js";
import { biasFoldable, channelAxis, classifyStep, OWN_BIAS_INPUT, type Lookup } from "./epilogue-rules.js";
import { KernelCtx, kernelEntry, kernelFor, type Epilogue, type KernelEntry, type KernelPrep, type TensorRef } from "../registry.js";
import { UNARY_OPS } from "../unary/ops.js";
import { floatOps, vecOps } from "../unary/index.js";
import { clampToConstants, constantClipBounds } from "../unary/clip.js";

/** one value transform: x is a getter of the running value; ptr() + offset is where it is stored */
interface Transform {
  vec(x: () => Expr, ptr: () => Expr, offset: number): Expr;
  scalar(x: () => Expr, ptr: () => Expr, offset: number): Expr;
}

interface Plan {
  anchor: Node;
  refs: Map<string, TensorRef>;
  y: TensorRef;
  biasParts: TensorRef[];
  /** what runs on each value after the bias, in order (residual adds name their operand) */
  after: { node: Node; operand?: string }[];
}

function planOf(ctx: KernelCtx): Plan {
  const body = ctx.node.body ?? [];
  const anchor = body[0];
  const fail = (why: string): never => { throw new KilnError("INTERNAL", `epilogue ${JSON.stringify(ctx.node.name)}: ${why}`, ctx.context()); };
  if (!anchor) fail("empty body");
  const refs = new Map<string, TensorRef>();
  ctx.node.inputs.forEach((n, i) => { const r = ctx.inputs[i]; if (n && r) refs.set(n, r); });
  const y = ctx.output(0);
  const look: Lookup = (v) => { const r = refs.get(v); return r && { dims: r.dims, dtype: r.dtype, isConst: !!r.value }; };
  const axis = channelAxis(anchor.op, y.dims.length);
  let chained = anchor.outputs[0];
  let biasOpen = biasFoldable(anchor, look);
  const biasParts: TensorRef[] = [], after: Plan["after"] = [];
  for (const n of body.slice(1)) {
    const step = classifyStep(n, chained, look, y.dims, axis, biasOpen) ?? fail(`cannot apply ${n.op} ${JSON.stringify(n.name)}`);
    if (step.kind === "bias") biasParts.push(refs.get(step.operand)!);
    else { biasOpen = false; after.push({ node: n, operand: step.kind === "residual" ? step.operand : undefined }); }
    chained = n.outputs[0];
  }
  return { anchor, refs, y, biasParts, after };
}

/** index into a constant broadcast along `axis` of a tensor shaped `out`, at channel c */
const channelValue = (t: Tensor, c: number) => Number(t.data[t.data.length === 1 ? 0 : c]);

/** The anchor's own bias plus every folded bias add, as one float32 tensor the anchor kernel reads. */
function combinedBias(plan: Plan): Tensor | undefined {
  if (!plan.biasParts.length) return undefined;
  const { anchor, refs, y } = plan;
  const k = OWN_BIAS_INPUT[anchor.op];
  const own = k === undefined || !anchor.inputs[k] ? undefined : refs.get(anchor.inputs[k])?.value;
  const axis = channelAxis(anchor.op, y.dims.length);
  const C = y.dims[axis];
  const parts = (c: number) => plan.biasParts.reduce((s, p) => s + channelValue(p.value!, c), 0);
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
function clipTransform(ctx: KernelCtx, node: Node, refs: Map<string, TensorRef>): Transform {
  const bounds = constantClipBounds(node, (name) => channelValue(refs.get(name)!.value!, 0));
  const V = vecOps(ctx.m, ctx), F = floatOps(ctx.m, "f32", ctx);
  return { vec: (x) => clampToConstants(V, x(), bounds), scalar: (x) => clampToConstants(F, x(), bounds) };
}

function transformOf(ctx: KernelCtx, { node, operand }: Plan["after"][number], plan: Plan): Transform {
  const m = ctx.m;
  if (operand) {
    const r = plan.refs.get(operand)!;
    // same shape as the output: element at the same position, i.e. the same offset from its start
    const at = (offset: number) => r.addr + offset - plan.y.addr;
    return {
      vec: (x, ptr, off) => m.f32x4.add(x(), m.v128.load(at(off), 4, ptr())),
      scalar: (x, ptr, off) => m.f32.add(x(), m.f32.load(at(off), 4, ptr())),
    };
  }
  if (node.op === "Clip") return clipTransform(ctx, node, plan.refs);
  const op = UNARY_OPS[node.op];
  if (!op?.simd || !op.float) ctx.unsupported(`no fused epilogue form for ${node.op}`);
  // the activation's own attributes (alpha, approximate...) through a context for its node
  const own = new KernelCtx(m, ctx.fn, node, ctx.opset, [], [], ctx.math);
  const V = vecOps(m, ctx), F = floatOps(m, "f32", ctx);
  return { vec: (x) => op.simd!(V, x, own), scalar: (x) => op.float!(F, x, own) };
}

function epilogueOf(ctx: KernelCtx, plan: Plan, bias?: TensorRef): Epilogue {
  const { m, fn } = ctx;
  const steps = plan.after.map((s) => transformOf(ctx, s, plan));
  // one local per lane type carries the running value: every step reads it, then overwrites it
  const chain = (type: binaryen.Type, pick: (t: Transform) => Transform["vec"]) => {
    const l = fn.local(type);
    return (v: Expr, ptr: () => Expr, off: number): Expr => {
      if (!steps.length) return v;
      const code = [l.set(v), ...steps.map((s) => l.set(pick(s)(l.get, ptr, off)))];
      return m.block(null, [...code, l.get()], type);
    };
  };
  return { bias, vec: chain(binaryen.v128, (t) => t.vec), scalar: chain(binaryen.f32, (t) => t.scalar) };
}

/** what the anchor kernel's own prepare asks for, seen through the anchor's inputs */
function anchorPrep(ctx: KernelCtx, plan: Plan): KernelPrep {
  const prepare = kernelEntry(plan.anchor.domain, plan.anchor.op)?.prepare;
  if (!prepare) return {};
  const inputs = plan.anchor.inputs.map((n) => (n ? plan.refs.get(n) : undefined));
  return prepare(new KernelCtx(ctx.m, ctx.fn, plan.anchor, ctx.opset, inputs, [plan.y], ctx.math));
}

/** the kernel of fused nodes of kind "epilogue" (registered by fused/index.ts) */
export const FUSED_EPILOGUE: KernelEntry = {
  prepare(ctx) {
    const plan = planOf(ctx);
    const bias = combinedBias(plan);
    // the anchor's own prepare (pre-packed weights, scratch) runs too; its constants follow the bias
    const own = anchorPrep(ctx, plan);
    // inputs the anchor no longer reads, as indices of this node's inputs
    const unread = (own.unread ?? []).map((k) => ctx.node.inputs.indexOf(plan.anchor.inputs[k])).filter((k) => k >= 0);
    return { constants: [...(bias ? [tensorBytes(bias)] : []), ...(own.constants ?? [])], scratchBytes: own.scratchBytes, unread };
  },
  emit(ctx) {
    const plan = planOf(ctx);
    const { anchor, refs, y } = plan;
    const emit = kernelFor(anchor.domain, anchor.op) ?? ctx.unsupported(`no kernel for ${anchor.op}`);
    const value = combinedBias(plan);
    const bias: TensorRef | undefined = value && {
      name: `${ctx.node.name}.bias`, dtype: "float32", dims: value.dims, size: value.data.length, addr: ctx.constantAddrs[0], value,
    };
    const inputs = anchor.inputs.map((n) => (n ? refs.get(n) : undefined));
    let node = anchor;
    const k = OWN_BIAS_INPUT[anchor.op];
    if (bias && k !== undefined) {
      inputs[k] = bias;
      // Gemm's beta is already in the combined bias
      if (anchor.op === "Gemm") node = { ...anchor, attrs: { ...anchor.attrs, beta: { type: "float", value: 1 } } };
    }
    const inner = new KernelCtx(ctx.m, ctx.fn, node, ctx.opset, inputs, [y], ctx.math);
    inner.constantAddrs = ctx.constantAddrs.slice(bias ? 1 : 0);
    inner.scratchAddr = ctx.scratchAddr;
    inner.epilogue = epilogueOf(ctx, plan, bias);
    emit(inner);
  },
};
