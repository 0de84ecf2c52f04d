// The int8 GEMM variants of QLinearConv, ConvInteger, QLinearMatMul and MatMulInteger: each op's
// inputs read as a QLayer (quant/qlayer.ts), then the convolution or matrix-product plan of
// quant/qconv-gemm.ts / qmatmul-gemm.ts. A layer they cannot take (runtime weights of a
// convolution, per-row activation zero points or scales) falls through to the family's next variant.
import { constFloats, isByte, requantMultipliers, zeroPointAt, numbers, type QLayer, type QOperand } from "./qlayer.js";
import { emitQConv, qconvPlan, qconvPrepare, xZeroPoint, type QConvPlan } from "./qconv-gemm.js";
import { emitQDepthwise, qdepthwiseApplies, qdepthwisePrepare } from "./qdepthwise.js";
import { emitQWinograd, qwinogradPlan, qwinogradPrepare, type QWinogradPlan } from "./qwinograd.js";
import { emitQMatMul, qmatmulPlan, qmatmulPrepare, type QMatMulPlan } from "./qmatmul-gemm.js";
import { variant, type KernelVariant, type LayerCtx } from "../kernel.js";

/** Input i as a GEMM operand with its zero point in slot zpAt, or undefined when it is not 8-bit or its zero point is not usable. */
export function operandAt(layer: LayerCtx, i: number, zpAt: number): QOperand | undefined {
  const t = layer.inputs[i];
  if (!t || !isByte(t.dtype)) return undefined;
  const zp = zeroPointAt(layer, zpAt);
  return zp && { index: i, dtype: t.dtype, dims: t.dims, value: t.value, zp };
}

/** One value of a one-value constant (a per-tensor scale), or undefined. */
const scalarConst = (layer: LayerCtx, i: number) => {
  const v = constFloats(layer.inputs[i]);
  return v && v.length === 1 ? v[0] : undefined;
};

/** QLinearConv (x 0, x_scale 1, x_zp 2, w 3, w_scale 4, w_zp 5, y_scale 6, y_zp 7, bias 8) and QLinearMatMul's same slots. */
export function qlinearLayer(layer: LayerCtx, channels: number): QLayer | undefined {
  const x = operandAt(layer, 0, 2), w = operandAt(layer, 3, 5);
  const xs = scalarConst(layer, 1), ys = scalarConst(layer, 6), ws = constFloats(layer.inputs[4]);
  const yzp = layer.inputs[7]?.value, y = layer.outputs[0];
  if (!x || !w || xs === undefined || ys === undefined || !ws || !yzp || !y || !isByte(y.dtype)) return undefined;
  const b = layer.inputs[8];
  if (b && !b.value) return undefined;
  const wScale = layer.inputs[4]?.value;
  return {
    x, w, bias: b?.value ? Int32Array.from(numbers(b.value)) : undefined,
    result: { kind: "requant", mult: requantMultipliers(xs, ws, ys, channels), zp: numbers(yzp)[0], dtype: y.dtype },
    sources: { bias: b?.value && { tensor: b.value, zp: 0 }, mult: wScale && { tensor: wScale, xScale: xs, yScale: ys } },
  };
}

/** ConvInteger and MatMulInteger (a 0, b 1, a_zp 2, b_zp 3): int32 sums. */
export function integerLayer(layer: LayerCtx): QLayer | undefined {
  const x = operandAt(layer, 0, 2), w = operandAt(layer, 1, 3);
  return x && w ? { x, w, result: { kind: "int32" } } : undefined;
}

const outChannels = (layer: LayerCtx, wAt: number) => layer.inputs[wAt]?.dims[0] ?? 0;
const columns = (layer: LayerCtx) => { const y = layer.outputs[0]; return y ? y.dims[y.dims.length - 1] : 0; };

/** "qdepthwise": one input channel per group (quant/qdepthwise.ts). */
export function qdepthwiseVariant(read: (layer: LayerCtx) => { q: QLayer; layer: LayerCtx } | undefined): KernelVariant<QConvPlan> {
  return variant<QConvPlan>({
    name: "qdepthwise",
    plan: (layer) => {
      const r = read(layer);
      const plan = r && qconvPlan(r.layer, r.q, true);
      return plan && qdepthwiseApplies(plan) ? plan : undefined;
    },
    prepare: (_ctx, plan) => qdepthwisePrepare(plan),
    emit: (ctx, plan) => emitQDepthwise(ctx, plan, xZeroPoint(ctx, plan.q)),
  });
}

/**
 * "qwinograd" (quant/qwinograd.ts): a 3x3 stride-1 convolution as Winograd F(2x2, 3x3) on the int8
 * GEMM; unless forced, only with 8 or more input and output channels, where the transforms cost
 * less than the products they save.
 */
export function qwinogradVariant(read: (layer: LayerCtx) => { q: QLayer; layer: LayerCtx } | undefined): KernelVariant<QWinogradPlan> {
  return variant<QWinogradPlan>({
    name: "qwinograd",
    plan: (layer, forced) => {
      const r = read(layer);
      const conv = r && qconvPlan(r.layer, r.q, forced);
      if (!conv || (!forced && (conv.C < 8 || conv.OC < 8))) return undefined;
      return qwinogradPlan(conv);
    },
    prepare: (_ctx, plan) => qwinogradPrepare(plan),
    emit: emitQWinograd,
  });
}

/** "qgemm-pointwise" / "qgemm-im2col": a convolution op through the int8 GEMM. */
export function qconvVariants(read: (layer: LayerCtx) => QLayer | undefined): KernelVariant<any>[] {
  const make = (name: string, pointwise: boolean) => variant<QConvPlan>({
    name,
    plan: (layer, forced) => {
      const q = read(layer);
      const plan = q && qconvPlan(layer, q, forced);
      return plan && plan.pointwise === pointwise ? plan : undefined;
    },
    prepare: (_ctx, plan) => qconvPrepare(plan),
    emit: emitQConv,
  });
  return [make("qgemm-pointwise", true), qwinogradVariant(withLayer(read)), make("qgemm-im2col", false)];
}

/** "qgemm": a matrix-product op through the int8 GEMM. */
export function qmatmulVariant(read: (layer: LayerCtx) => QLayer | undefined): KernelVariant<QMatMulPlan> {
  return variant<QMatMulPlan>({
    name: "qgemm",
    plan: (layer) => { const q = read(layer); return q && qmatmulPlan(layer, q); },
    prepare: (_ctx, plan) => qmatmulPrepare(plan),
    emit: emitQMatMul,
  });
}

const withLayer = (read: (l: LayerCtx) => QLayer | undefined) => (layer: LayerCtx) => { const q = read(layer); return q && { q, layer }; };
export const QLINEAR_CONV_GEMM = [qdepthwiseVariant(withLayer((l) => qlinearLayer(l, outChannels(l, 3)))), ...qconvVariants((l) => qlinearLayer(l, outChannels(l, 3)))];
export const CONV_INTEGER_GEMM = [qdepthwiseVariant(withLayer(integerLayer)), ...qconvVariants(integerLayer)];
export const QLINEAR_MATMUL_GEMM = qmatmulVariant((l) => qlinearLayer(l, columns(l)));
export const MATMUL_INTEGER_GEMM = qmatmulVariant(integerLayer);
