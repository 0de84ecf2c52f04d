// Shape rules for the quantization operators. QuantizeLinear and DequantizeLinear take every
// quantized type of the spec (8/16-bit ints, int4/uint4/int2/uint2, float8, float4e2m1) and its
// scales (float32, float16, bfloat16, int32, float8e8m0; float64 too); the integer MatMul/Conv
// operators take 8-bit ints.
import { dtypeFromOnnx, onnxTypeName, type DTypeName } from "../../runtime/dtypes.js";
import { matmulShape } from "./nn.js";
import { slidingWindow } from "./nn-geometry.js";
import { normAxis, OpTable, type ShapeCtx } from "./registry.js";
import { NBITS_OPS } from "./quant-nbits.js";

const ops = new OpTable();

const FLOAT8: DTypeName[] = ["float8e4m3fn", "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz"];
const LOW_INTS: DTypeName[] = ["int4", "uint4", "int2", "uint2"];
/** what QuantizeLinear produces and DequantizeLinear reads (DequantizeLinear also int32: a quantized bias) */
const QUANT_TYPES: DTypeName[] = ["int8", "uint8", "int16", "uint16", ...LOW_INTS, ...FLOAT8, "float4e2m1"];
const DEQUANT_TYPES: DTypeName[] = [...QUANT_TYPES, "int32"];
const FLOATS: DTypeName[] = ["float32", "float16", "bfloat16", "float64"];
/** QuantizeLinear's x; and the scales: floats, int32 (QuantizeLinear) and float8e8m0 (power-of-two MX scales) */
const QUANT_X: DTypeName[] = [...FLOATS, "int32"];
const SCALES: DTypeName[] = [...FLOATS, "int32", "float8e8m0"];
const BYTES: DTypeName[] = ["int8", "uint8"];

/** Checks that scale (and zero point) fit x per tensor, per axis or per block. */
function checkScale(ctx: ShapeCtx, x: number[], scaleIdx: number, zpIdx: number): void {
  const s = ctx.input(scaleIdx).shape;
  const zp = ctx.optional(zpIdx);
  const size = s.reduce((a, b) => a * b, 1);
  // one value each is per tensor however it is shaped ([] or [1]), as the reference reads it
  const single = (t: number[]) => t.length <= 1 && t.reduce((a, b) => a * b, 1) === 1;
  if (zp && zp.shape.join() !== s.join() && !(single(zp.shape) && single(s))) ctx.fail(`zero point [${zp.shape}] and scale [${s}] differ in shape`);
  const block = ctx.attrs.int("block_size", 0);
  if (block > 0) {
    const axis = normAxis(ctx, ctx.attrs.int("axis", 1), x.length);
    const want = x.map((d, k) => (k === axis ? Math.ceil(d / block) : d));
    if (s.join() !== want.join()) ctx.fail(`blocked scale must be [${want}] for block_size ${block}, got [${s}]`);
    return;
  }
  if (size === 1 && s.length <= 1) return;
  if (s.length !== 1) ctx.fail(`scale must be a scalar or 1-D (per axis), got [${s}]`);
  const axis = normAxis(ctx, ctx.attrs.int("axis", 1), x.length);
  if (s[0] !== x[axis]) ctx.fail(`per-axis scale has ${s[0]} values; axis ${axis} has ${x[axis]}`);
}

/** The dtype an attribute (output_dtype, precision) names, or undefined when it is absent. */
function attrDType(ctx: ShapeCtx, name: string, allowed: readonly DTypeName[]): DTypeName | undefined {
  const code = ctx.attrs.int(name, 0);
  if (code === 0) return undefined;
  const dt = dtypeFromOnnx(code)?.name;
  if (!dt || !allowed.includes(dt)) ctx.invalid(`${name} ${onnxTypeName(code)} is not one of ${allowed.join(", ")}`);
  return dt;
}

function expectQuant(ctx: ShapeCtx, dt: DTypeName, what: string, allowed: readonly DTypeName[]): DTypeName {
  if (!allowed.includes(dt)) ctx.invalid(`${what} type ${dt} is not a quantized type (${allowed.join(", ")})`);
  return dt;
}

ops.define("QuantizeLinear", (ctx) => {
  const x = ctx.input(0);
  ctx.expectDType(0, QUANT_X);
  const zp = ctx.optional(2);
  const out = expectQuant(ctx, attrDType(ctx, "output_dtype", QUANT_TYPES) ?? zp?.dtype ?? "uint8", "output", QUANT_TYPES);
  if (zp && zp.dtype !== out) ctx.invalid(`zero point type ${zp.dtype} differs from output_dtype ${out}`);
  ctx.expectDType(1, SCALES);
  attrDType(ctx, "precision", FLOATS);
  checkScale(ctx, x.shape, 1, 2);
  return [{ dtype: out, shape: [...x.shape] }];
}, { arity: [2, 3], lastChange: 13, traits: ["low-bit", "elementwise", "fusible"] });

ops.define("DequantizeLinear", (ctx) => {
  const x = ctx.input(0);
  expectQuant(ctx, x.dtype, "input", DEQUANT_TYPES);
  const zp = ctx.optional(2);
  if (zp && zp.dtype !== x.dtype) ctx.invalid(`zero point type ${zp.dtype} differs from the input's ${x.dtype}`);
  const scale = ctx.expectDType(1, [...FLOATS, "float8e8m0"]);
  checkScale(ctx, x.shape, 1, 2);
  const out = attrDType(ctx, "output_dtype", FLOATS) ?? scale;
  if (!FLOATS.includes(out)) ctx.invalid(`a ${scale} scale needs output_dtype (float32, float16 or bfloat16)`);
  return [{ dtype: out, shape: [...x.shape] }];
}, { arity: [2, 3], lastChange: 13, traits: ["low-bit", "dequantize", "elementwise", "fusible"] });

ops.define("DynamicQuantizeLinear", (ctx) => {
  const x = ctx.input(0);
  ctx.expectDType(0, ["float32"]);
  return [{ dtype: "uint8", shape: [...x.shape] }, { dtype: "float32", shape: [] }, { dtype: "uint8", shape: [] }];
}, { lastChange: 11 });

/** A zero point or scale that is a scalar, or 1-D of `n` values (per row / per column / per channel). */
function perChannel(ctx: ShapeCtx, i: number, n: number, what: string): void {
  const t = ctx.optional(i);
  if (!t) return;
  const size = t.shape.reduce((a, b) => a * b, 1);
  if (size !== 1 && (t.shape.length !== 1 || size !== n)) ctx.unsupported(`${what} of shape [${t.shape}] (kiln takes a scalar or [${n}])`);
}

// integer multiply-adds count as two operations, as the float ops' flops do (profiles, and which
// layers are worth splitting among threads: codegen/threads.ts)
const count = (d: readonly number[]) => d.reduce((a, b) => a * b, 1);
const matmulOps = (a: readonly number[] | undefined, y: readonly number[] | undefined) => (a?.length && y ? 2 * count(y) * a[a.length - 1] : 0);
const convOps = (w: readonly number[] | undefined, y: readonly number[] | undefined) => (w?.length && y && w[0] ? (2 * count(y) * count(w)) / w[0] : 0);

ops.define("MatMulInteger", (ctx) => {
  const [a, b] = [ctx.input(0), ctx.input(1)];
  ctx.expectDType(0, BYTES);
  ctx.expectDType(1, BYTES);
  const out = matmulShape(ctx, a.shape, b.shape);
  perChannel(ctx, 2, a.shape.length > 1 ? a.shape[a.shape.length - 2] : 1, "a_zero_point");
  perChannel(ctx, 3, b.shape.length > 1 ? b.shape[b.shape.length - 1] : 1, "b_zero_point");
  return [{ dtype: "int32", shape: out }];
}, { lastChange: 10, flops: (_n, [a], [y]) => matmulOps(a, y) });

ops.define("QLinearMatMul", (ctx) => {
  const [a, b] = [ctx.input(0), ctx.input(3)];
  ctx.expectDType(0, BYTES);
  ctx.expectDType(3, BYTES);
  const out = ctx.expectDType(7, BYTES);
  const M = a.shape.length > 1 ? a.shape[a.shape.length - 2] : 1;
  const N = b.shape.length > 1 ? b.shape[b.shape.length - 1] : 1;
  for (const [i, n, what] of [[1, M, "a_scale"], [2, M, "a_zero_point"], [4, N, "b_scale"], [5, N, "b_zero_point"], [6, 1, "y_scale"], [7, 1, "y_zero_point"]] as const) perChannel(ctx, i, n, what);
  return [{ dtype: out, shape: matmulShape(ctx, a.shape, b.shape) }];
}, { lastChange: 10, flops: (_n, [a], [y]) => matmulOps(a, y) });

/** Conv geometry shared by ConvInteger and QLinearConv. */
function convShape(ctx: ShapeCtx, xi: number, wi: number): number[] {
  const x = ctx.input(xi).shape;
  const w = ctx.input(wi).shape;
  if (x.length < 3 || w.length !== x.length) ctx.invalid(`input must be [N, C, spatial...] and weights of the same rank; got [${x}] and [${w}]`);
  const group = ctx.attrs.int("group", 1);
  if (x[1] !== w[1] * group) ctx.fail(`input has ${x[1]} channels; weights expect ${w[1]} x group ${group}`);
  if (w[0] % group !== 0) ctx.invalid(`output channels ${w[0]} are not divisible by group ${group}`);
  const kernel = ctx.attrs.ints("kernel_shape", w.slice(2));
  if (kernel.join() !== w.slice(2).join()) ctx.fail(`kernel_shape [${kernel}] differs from the weights [${w.slice(2)}]`);
  return [x[0], w[0], ...slidingWindow(ctx.attrs, x.slice(2), w.slice(2)).out];
}

ops.define("ConvInteger", (ctx) => {
  ctx.expectDType(0, BYTES);
  ctx.expectDType(1, BYTES);
  const shape = convShape(ctx, 0, 1);
  perChannel(ctx, 2, 1, "x_zero_point");
  perChannel(ctx, 3, shape[1], "w_zero_point");
  return [{ dtype: "int32", shape }];
}, { lastChange: 10, flops: (_n, [, w], [y]) => convOps(w, y) });

ops.define("QLinearConv", (ctx) => {
  ctx.expectDType(0, BYTES);
  ctx.expectDType(3, BYTES);
  const out = ctx.expectDType(7, BYTES);
  const shape = convShape(ctx, 0, 3);
  for (const [i, n, what] of [[1, 1, "x_scale"], [2, 1, "x_zero_point"], [4, shape[1], "w_scale"], [5, shape[1], "w_zero_point"], [6, 1, "y_scale"], [7, 1, "y_zero_point"]] as const) perChannel(ctx, i, n, what);
  const bias = ctx.optional(8);
  if (bias && (bias.dtype !== "int32" || bias.shape.join() !== String(shape[1]))) ctx.invalid(`bias must be int32 [${shape[1]}], got ${bias.dtype}[${bias.shape}]`);
  return [{ dtype: out, shape }];
}, { lastChange: 10, flops: (_n, [, , , w], [y]) => convOps(w, y) });

export const QUANT_OPS = [...ops.defs, ...NBITS_OPS];
