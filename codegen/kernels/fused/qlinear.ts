// Fused QDQ groups (meta.kind "qlinear", made by passes/fuse-qdq.ts): DequantizeLinear of the
// 8-bit activations (and of the constant weights and int32 bias) -> Conv | MatMul | Gemm | Add
// (-> Relu | Clip) -> QuantizeLinear, run as one 8-bit kernel: the int8 GEMM with the
// requantization (and the activation, as bounds) in its store, or the 8-bit Add. No float
// tensor exists between the group's 8-bit input and output. A Conv / MatMul / Gemm group with no
// QuantizeLinear (its result read by float nodes alone) stores float: each i32 sum times
// x_scale * w_scale of its channel. The body is the recipe: this file reads it into the quantized
// layer the kernels take (quant/qlayer.ts).
import type { Node } from "../../../compiler/ir/graph.js";
import { Attrs } from "../../../compiler/ir/attrs.js";
import { hasTrait } from "../../../compiler/ops/index.js";
import { constFloats, isByte, numbers, perChannel, requantMultipliers, type QLayer, type QSources, type QOperand, type ZeroPoint } from "../quant/qlayer.js";
import { emitQConv, qconvPlan, qconvPrepare, type QConvPlan } from "../quant/qconv-gemm.js";
import { qdepthwiseVariant, qwinogradVariant } from "../quant/qops.js";
import { emitQMatMul, qmatmulPlan, qmatmulPrepare, type QMatMulPlan } from "../quant/qmatmul-gemm.js";
import { emitQAdd, type QAddPlan } from "../quant/qadd.js";
import { constantClipBounds } from "../unary/clip.js";
import { LayerCtx, variant, type KernelVariant, type TensorInfo } from "../kernel.js";

/** The group's nodes: the final QuantizeLinear (none: a float store), the activation, the anchor, and the DequantizeLinears by output. */
interface QBody {
  q?: Node;
  act?: Node;
  anchor: Node;
  dq: Map<string, Node>;
}

function readBody(node: Node): QBody | undefined {
  const body = node.body ?? [];
  const last = body[body.length - 1];
  if (!last) return undefined;
  const dqs = () => new Map(body.filter((n) => n.op === "DequantizeLinear").map((n) => [n.outputs[0], n]));
  if (last.op !== "QuantizeLinear") return hasTrait(last, "epilogue-anchor") ? { anchor: last, dq: dqs() } : undefined;
  const q = last;
  const byOut = new Map(body.map((n) => [n.outputs[0], n]));
  let anchor = byOut.get(q.inputs[0]);
  let act: Node | undefined;
  if (anchor && (anchor.op === "Relu" || anchor.op === "Clip")) {
    act = anchor;
    anchor = byOut.get(anchor.inputs[0]);
  }
  if (!anchor) return undefined;
  return { q, act, anchor, dq: dqs() };
}

/** Looks up fused inputs by name. */
class Inputs {
  constructor(private readonly layer: LayerCtx) {}
  index(name: string): number {
    return name ? this.layer.node.inputs.indexOf(name) : -1;
  }
  info(name: string | undefined): TensorInfo | undefined {
    const i = name ? this.index(name) : -1;
    return i >= 0 ? this.layer.inputs[i] : undefined;
  }
  floats(name: string | undefined): Float32Array | undefined {
    return constFloats(this.info(name));
  }
  scalar(name: string | undefined): number | undefined {
    const v = this.floats(name);
    return v && v.length === 1 ? v[0] : undefined;
  }
}

/** A DequantizeLinear's 8-bit operand, its scale (one, or one per `axis` when given) and zero point. */
function dqOperand(ins: Inputs, dq: Node, channelAxis?: number): { op: QOperand; scale: Float32Array } | undefined {
  const attrs = new Attrs(dq);
  if (attrs.int("block_size", 0) !== 0 || (attrs.has("output_dtype") && attrs.int("output_dtype", 1) !== 1)) return undefined;
  const index = ins.index(dq.inputs[0]);
  const t = ins.info(dq.inputs[0]);
  const scale = ins.floats(dq.inputs[1]);
  if (!t || !isByte(t.dtype) || !scale) return undefined;
  if (scale.length > 1) {
    const a = attrs.int("axis", 1);
    if (channelAxis === undefined || (a < 0 ? a + t.dims.length : a) !== channelAxis) return undefined;
  }
  let zp: ZeroPoint | undefined = { kind: "const", values: [0] };
  const z = ins.info(dq.inputs[2]);
  if (z) zp = z.value ? { kind: "const", values: numbers(z.value) } : z.size === 1 ? { kind: "input", index: ins.index(dq.inputs[2]) } : undefined;
  if (!zp) return undefined;
  return { op: { index, dtype: t.dtype, dims: t.dims, value: t.value, zp }, scale };
}

/** The activation as bounds on y / y_scale (the value the store rounds). */
function actBounds(ins: Inputs, act: Node | undefined, yScale: number): { lo?: number; hi?: number } | undefined {
  if (!act) return {};
  if (act.op === "Relu") return { lo: 0 };
  let ok = true;
  const b = constantClipBounds(act, (name) => { const v = ins.scalar(name); if (v === undefined) ok = false; return v ?? 0; });
  if (!ok) return undefined;
  const f = Math.fround;
  return { lo: b.lo === undefined ? undefined : f(b.lo / yScale), hi: b.hi === undefined ? undefined : f(b.hi / yScale) };
}

/** The output QuantizeLinear's scale, zero point and type (per tensor). */
function outParams(ins: Inputs, layer: LayerCtx, q: Node): { scale: number; zp: number; dtype: "int8" | "uint8" } | undefined {
  const y = layer.outputs[0];
  const scale = ins.scalar(q.inputs[1]);
  const zpT = ins.info(q.inputs[2]);
  const zp = zpT?.value ? numbers(zpT.value) : zpT ? undefined : [0];
  if (!y || !isByte(y.dtype) || scale === undefined || !zp || zp.length !== 1 || new Attrs(q).int("block_size", 0) !== 0) return undefined;
  return { scale, zp: zp[0], dtype: y.dtype };
}

/** The bias in the accumulator's scale x_scale * w_scale[c]: from an int32 DequantizeLinear (exact when its scale is that product) or a float constant. */
function biasOf(ins: Inputs, body: QBody, name: string | undefined, accScale: Float32Array, channels: number): Int32Array | undefined | false {
  if (!name) return undefined;
  const dq = body.dq.get(name);
  let values: number[], scale: ArrayLike<number> = [1], zp: number[] = [0];
  if (dq) {
    const t = ins.info(dq.inputs[0]);
    const s = ins.floats(dq.inputs[1]);
    if (!t?.value || t.dtype !== "int32" || !s) return false;
    values = numbers(t.value);
    scale = s;
    const z = ins.info(dq.inputs[2]);
    if (z) { if (!z.value) return false; zp = numbers(z.value); }
  } else {
    const t = ins.info(name);
    if (!t?.value || t.dtype !== "float32") return false;
    values = numbers(t.value);
  }
  if (values.length !== channels && values.length !== 1) return false;
  return Int32Array.from({ length: channels }, (_, c) => {
    const q = perChannel(values, c) - perChannel(zp, c), s = Math.fround(perChannel(scale, c)), acc = accScale[c];
    // the quantizer's int32 bias is in units of x_scale * w_scale: taken as it is
    return dq && s === acc ? q : Math.round((q * s) / acc);
  });
}

/**
 * The bias's one source tensor when biasOf takes it as it is (an int32 DequantizeLinear whose
 * scale is the accumulator's on every channel, one zero point), so the module may derive it.
 */
function biasSource(ins: Inputs, body: QBody, name: string | undefined, accScale: Float32Array): QSources["bias"] {
  const dq = name ? body.dq.get(name) : undefined;
  const t = dq && ins.info(dq.inputs[0]), s = dq && ins.floats(dq.inputs[1]);
  if (!dq || !t?.value || t.dtype !== "int32" || !s) return undefined;
  const z = ins.info(dq.inputs[2]);
  const zp = z ? (z.value ? numbers(z.value) : undefined) : [0];
  if (!zp || !zp.every((v) => v === zp[0])) return undefined;
  for (let c = 0; c < accScale.length; c++) if (Math.fround(perChannel(s, c)) !== accScale[c]) return undefined;
  return { tensor: t.value, zp: zp[0] };
}

/** The weights' scale tensor, the multipliers' one source (x_scale and y_scale are compile-time numbers). */
function wScaleSource(ins: Inputs, dqw: Node, xScale: number, yScale: number): QSources["mult"] {
  const t = ins.info(dqw.inputs[1])?.value;
  return t && { tensor: t, xScale, yScale };
}

/**
 * The float store: sum * (x_scale * w_scale[c]), the float32 product DequantizeLinear's operands
 * make. A bias the sums take exactly (an int32 DequantizeLinear in the accumulator's scale) starts
 * them; any other is added in float after the scale (rounding it to the accumulator's scale would
 * move the result by up to half of x_scale * w_scale).
 */
function floatLayer(x: QOperand, w: QOperand, accScale: Float32Array, bias: Int32Array | undefined, exact: QSources["bias"], ins: Inputs, body: QBody, name: string | undefined, channels: number): QLayer {
  const scale = { kind: "const" as const, values: accScale };
  if (!bias || exact) return { x, w, bias, result: { kind: "float", scale }, sources: { bias: exact } };
  const dq = body.dq.get(name!);
  const ints = (v: string) => numbers(ins.info(v)!.value!);
  const values = ints(dq ? dq.inputs[0] : name!), s = dq ? ins.floats(dq.inputs[1])! : [1];
  const z = dq && dq.inputs[2] ? ints(dq.inputs[2]) : [0];
  const f = Math.fround;
  const floatBias = Float32Array.from({ length: channels }, (_, c) => f((perChannel(values, c) - perChannel(z, c)) * f(perChannel(s, c))));
  return { x, w, result: { kind: "float", scale, bias: floatBias } };
}

type GemmRead = { q: QLayer; anchor: Node; transW: boolean };

/** A Conv / MatMul / Gemm group as a QLayer, or undefined when the kernels cannot take it. */
function readGemm(layer: LayerCtx): GemmRead | undefined {
  const body = readBody(layer.node);
  if (!body || !hasTrait(body.anchor, "epilogue-anchor")) return undefined;
  const { anchor } = body;
  const ins = new Inputs(layer);
  const attrs = new Attrs(anchor);
  const isConv = anchor.op === "Conv", isGemm = anchor.op === "Gemm";
  if (!isConv && !isGemm && anchor.op !== "MatMul") return undefined;
  const transW = isGemm && attrs.int("transB", 0) !== 0;
  if (isGemm && (attrs.int("transA", 0) !== 0 || attrs.float("alpha", 1) !== 1 || attrs.float("beta", 1) !== 1)) return undefined;
  const dqx = body.dq.get(anchor.inputs[0]), dqw = body.dq.get(anchor.inputs[1]);
  if (!dqx || !dqw) return undefined;
  const wInfo = ins.info(dqw.inputs[0]);
  if (!wInfo) return undefined;
  const channelAxis = isConv ? 0 : transW ? 0 : wInfo.dims.length - 1;
  const x = dqOperand(ins, dqx), w = dqOperand(ins, dqw, channelAxis);
  const out = body.q && outParams(ins, layer, body.q);
  if (!x || !w || x.scale.length !== 1 || (body.q && !out)) return undefined;
  if (!out && layer.outputs[0]?.dtype !== "float32") return undefined;
  const channels = wInfo.dims[channelAxis];
  const accScale = Float32Array.from({ length: channels }, (_, c) => Math.fround(x.scale[0] * perChannel(w.scale, c)));
  const bias = biasOf(ins, body, isConv || isGemm ? anchor.inputs[2] : undefined, accScale, channels);
  const bounds = out ? actBounds(ins, body.act, out.scale) : {};
  if (bias === false || !bounds) return undefined;
  // a per-channel weight zero point must run along the channels too
  if (w.op.zp.kind === "const" && w.op.zp.values.length !== 1 && w.op.zp.values.length !== channels) return undefined;
  const sources = { bias: bias && biasSource(ins, body, anchor.inputs[2], accScale) };
  const q: QLayer = out
    ? { x: x.op, w: w.op, bias,
      result: { kind: "requant", mult: requantMultipliers(x.scale[0], w.scale, out.scale, channels), zp: out.zp, dtype: out.dtype, ...bounds },
      sources: { ...sources, mult: wScaleSource(ins, dqw, x.scale[0], out.scale) } }
    : floatLayer(x.op, w.op, accScale, bias, sources.bias, ins, body, isConv || isGemm ? anchor.inputs[2] : undefined, channels);
  return { q, anchor, transW };
}

/** The anchor's attributes over the fused layer's tensors (the plans read group, pads, strides from it). */
const anchorLayer = (layer: LayerCtx, anchor: Node) => new LayerCtx(anchor, layer.opset, layer.inputs, layer.outputs, layer.selection);

function convVariant(name: string, pointwise: boolean): KernelVariant<QConvPlan> {
  return variant<QConvPlan>({
    name,
    plan: (layer, forced) => {
      const r = readGemm(layer);
      if (!r || r.anchor.op !== "Conv") return undefined;
      const plan = qconvPlan(anchorLayer(layer, r.anchor), r.q, forced);
      return plan && plan.pointwise === pointwise ? plan : undefined;
    },
    prepare: (_ctx, plan) => qconvPrepare(plan),
    emit: emitQConv,
  });
}

const MATMUL = variant<QMatMulPlan>({
  name: "qgemm",
  plan: (layer) => {
    const r = readGemm(layer);
    return r && r.anchor.op !== "Conv" ? qmatmulPlan(layer, r.q, r.transW) : undefined;
  },
  prepare: (_ctx, plan) => qmatmulPrepare(plan),
  emit: emitQMatMul,
});

/** DequantizeLinear(a), DequantizeLinear(b) -> Add (-> activation) -> QuantizeLinear on same-shaped 8-bit tensors. */
function addPlan(layer: LayerCtx): QAddPlan | undefined {
  const body = readBody(layer.node);
  if (!body?.q || (body.anchor.op !== "Add" && body.anchor.op !== "Sum") || body.anchor.inputs.length !== 2) return undefined;
  const ins = new Inputs(layer);
  const y = layer.outputs[0];
  const out = outParams(ins, layer, body.q);
  const side = (name: string) => {
    const dq = body.dq.get(name);
    const o = dq && dqOperand(ins, dq);
    if (!o || o.scale.length !== 1 || o.op.zp.kind !== "const" || o.op.zp.values.length !== 1 || !y || o.op.dims.join() !== y.dims.join()) return undefined;
    return { index: o.op.index, signed: o.op.dtype === "int8", scale: o.scale[0], zp: o.op.zp.values[0] };
  };
  const a = side(body.anchor.inputs[0]), b = side(body.anchor.inputs[1]);
  if (!a || !b || !out || !y) return undefined;
  const bounds = body.act ? (body.act.op === "Relu" ? { lo: 0 } : clipOf(ins, body.act)) : {};
  if (!bounds) return undefined;
  return { a, b, yScale: out.scale, yZp: out.zp, ySigned: out.dtype === "int8", ...bounds, size: y.size };
}

/** A Clip's constant bounds on the float value (before y_scale) */
function clipOf(ins: Inputs, act: Node): { lo?: number; hi?: number } | undefined {
  let ok = true;
  const b = constantClipBounds(act, (name) => { const v = ins.scalar(name); if (v === undefined) ok = false; return v ?? 0; });
  return ok ? b : undefined;
}

const ADD = variant<QAddPlan>({ name: "qadd", plan: addPlan, emit: emitQAdd });

/** The variants of fused kind "qlinear", in the order they are tried. */
const DEPTHWISE = qdepthwiseVariant((layer) => {
  const r = readGemm(layer);
  return r && r.anchor.op === "Conv" ? { q: r.q, layer: anchorLayer(layer, r.anchor) } : undefined;
});

const WINOGRAD = qwinogradVariant((layer) => {
  const r = readGemm(layer);
  return r && r.anchor.op === "Conv" ? { q: r.q, layer: anchorLayer(layer, r.anchor) } : undefined;
});

export const QLINEAR_VARIANTS: KernelVariant<any>[] = [DEPTHWISE, convVariant("qgemm-pointwise", true), WINOGRAD, convVariant("qgemm-im2col", false), MATMUL, ADD];
