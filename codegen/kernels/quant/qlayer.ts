// An int8 layer as the int8 GEMM kernels see it, whatever form it came in (QLinearConv,
// ConvInteger, QLinearMatMul, MatMulInteger, or a fused QDQ / dynamic-quantization group): the
// activation operand with its zero point, the weights (a constant, or a second activation), the
// bias in the accumulator's scale, and what happens to each i32 sum (stored, requantized to
// 8 bits, or scaled to float). Plans hold input indices and compile-time values only.
import type { DTypeName } from "../../../runtime/dtypes.js";
import type { Tensor } from "../../../compiler/ir/graph.js";
import type { LayerCtx, TensorInfo } from "../kernel.js";

/** A zero point: compile-time values (one per tensor, or one per row / column / channel), or a runtime one-value tensor (an input index). */
export type ZeroPoint = { kind: "const"; values: number[] } | { kind: "input"; index: number };

export interface QOperand {
  /** the layer input that holds it */
  index: number;
  dtype: "int8" | "uint8";
  dims: number[];
  value?: Tensor;
  zp: ZeroPoint;
}

/** What each i32 sum (bias included) becomes. */
export type QResult =
  | { kind: "int32" }
  /** round_half_even(sum * mult[channel], within [lo, hi]) + zp, saturated to 8 bits */
  | { kind: "requant"; mult: Float32Array; zp: number; dtype: "int8" | "uint8"; lo?: number; hi?: number }
  /**
   * float32(sum) * scale[channel] (+ bias[channel]), then the layer's float epilogue: the scale a
   * constant per tensor or channel, or a runtime input of one value or one per channel
   * (dynamic quantization's x_scale * w_scale, computed by its own Mul)
   */
  | { kind: "float"; scale: { kind: "const"; values: Float32Array } | { kind: "input"; index: number; perChannel: boolean }; bias?: Float32Array };

export interface QLayer {
  x: QOperand;
  w: QOperand;
  /** i32 added to each sum of an output channel (the bias in the accumulator's scale) */
  bias?: Int32Array;
  result: QResult;
  /** the one-tensor sources of `bias` and the requantization's multipliers, where they have one */
  sources?: QSources;
}

export const isByte = (dt: DTypeName): dt is "int8" | "uint8" => dt === "int8" || dt === "uint8";

export function numbers(t: Tensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

/**
 * A constant's elements as numbers to index, for weights: the typed array itself where it holds
 * numbers (an int8 weight of 590K elements took 0.3 s through numbers(): Array.from with a
 * mapping function), converted only from 64-bit integers.
 */
export function elementsOf(t: Tensor): ArrayLike<number> {
  const d = t.data;
  return d instanceof BigInt64Array || d instanceof BigUint64Array ? Array.from(d, Number) : (d as ArrayLike<number>);
}

/** The zero point in input slot i: absent (0), a constant, or a runtime one-value tensor. */
export function zeroPointAt(layer: LayerCtx, i: number): ZeroPoint | undefined {
  const t = layer.inputs[i];
  if (!t) return { kind: "const", values: [0] };
  if (t.value) return { kind: "const", values: numbers(t.value) };
  return t.size === 1 ? { kind: "input", index: i } : undefined;
}

/** A constant's float32 values (scales), or undefined when it is computed at run time. */
export function constFloats(t: TensorInfo | undefined): Float32Array | undefined {
  return t?.value ? Float32Array.from(numbers(t.value)) : undefined;
}

/** mult[c] = x_scale * w_scale[c] / y_scale in float32 arithmetic, as onnxruntime's QLinearConv computes it. */
export function requantMultipliers(xScale: number, wScale: ArrayLike<number>, yScale: number, channels: number): Float32Array {
  const f = Math.fround;
  return Float32Array.from({ length: channels }, (_, c) => f(f(f(xScale) * f(wScale[wScale.length === 1 ? 0 : c])) / f(yScale)));
}

/** One value per channel from a per-tensor or per-channel array. */
export const perChannel = (v: ArrayLike<number>, c: number) => v[v.length === 1 ? 0 : c];

/** A per-tensor zero point's one value, or undefined for a per-channel or runtime one. */
export function scalarZp(zp: ZeroPoint): number | undefined {
  return zp.kind === "const" && zp.values.length === 1 ? zp.values[0] : undefined;
}

/**
 * Where a layer's per-channel tables come from, when each is a function of one model tensor (so
 * a compact artifact stores that tensor once and the module derives the table, quant/qgemm-derive.ts):
 * the int32 bias as the model gives it less one zero point, and the multipliers from the weights'
 * scale with x_scale and y_scale known at compile time.
 */
export interface QSources {
  bias?: { tensor: Tensor; zp: number };
  mult?: { tensor: Tensor; xScale: number; yScale: number };
}
