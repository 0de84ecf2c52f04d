// Shape rules for the quantization operators. kiln quantizes to and from the byte-aligned
// integer types; float8, int4 and int2 are not in its dtype set and are refused by name.
import { dtypeFromOnnx, onnxTypeName, type DTypeName } from "../../runtime/dtypes.js";
import { matmulShape } from "./nn.js";
import { slidingWindow } from "./nn-geometry.js";
import { normAxis, OpTable, type ShapeCtx } from "./registry.js";

const ops = new OpTable();

/** DequantizeLinear also reads int32 (a quantized bias); QuantizeLinear never produces it */
const DEQUANT_INTS: DTypeName[] = ["int8", "uint8", "int16", "uint16", "int32"];
const QUANT_INTS: DTypeName[] = ["int8", "uint8", "int16", "uint16"];
const FLOATS: DTypeName[] = ["float32", "float16", "float64"];
const BYTES: DTypeName[] = ["int8", "uint8"];

/** Checks that scale (and zero point) fit x per tensor, per axis or per block. */
function checkScale(ctx: ShapeCtx, x: number[], scaleIdx: number, zpIdx: number): void {
  const s = ctx.input(scaleIdx).shape;
  const zp = ctx.optional(zpIdx);
  if (zp && zp.shape.join() !== s.join()) ctx.fail(`zero point [${zp.shape}] and scale [${s}] differ in shape`);
  const size = s.reduce((a, b) => a * b, 1);
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

/** The dtype an output_dtype attribute names, refusing the ones kiln does not have. */
function attrDType(ctx: ShapeCtx, name: string): DTypeName | undefined {
  const code = ctx.attrs.int(name, 0);
  if (code === 0) return undefined;
  return dtypeFromOnnx(code)?.name ?? ctx.unsupported(`${name} ${onnxTypeName(code)} is not supported (kiln quantizes to ${QUANT_INTS.join(", ")})`);
}

function expectQuant(ctx: ShapeCtx, dt: DTypeName, what: string, allowed = QUANT_INTS): DTypeName {
  if (!allowed.includes(dt)) ctx.unsupported(`${what} type ${dt} is not supported here (kiln takes ${allowed.join(", ")})`);
  return dt;
}

ops.define("QuantizeLinear", (ctx) => {
  const x = ctx.input(0);
  ctx.expectDType(0, [...FLOATS, "int32"]);
  const zp = ctx.optional(2);
  const out = expectQuant(ctx, attrDType(ctx, "output_dtype") ?? zp?.dtype ?? "uint8", "output");
  if (zp && zp.dtype !== out) ctx.invalid(`zero point type ${zp.dtype} differs from output_dtype ${out}`);
  ctx.expectDType(1, FLOATS);
  checkScale(ctx, x.shape, 1, 2);
  return [{ dtype: out, shape: [...x.shape] }];
});

ops.define("DequantizeLinear", (ctx) => {
  const x = ctx.input(0);
  expectQuant(ctx, x.dtype, "input", DEQUANT_INTS);
  const zp = ctx.optional(2);
  if (zp && zp.dtype !== x.dtype) ctx.invalid(`zero point type ${zp.dtype} differs from the input's ${x.dtype}`);
  const scale = ctx.expectDType(1, FLOATS);
  checkScale(ctx, x.shape, 1, 2);
  return [{ dtype: attrDType(ctx, "output_dtype") ?? scale, shape: [...x.shape] }];
});

ops.define("DynamicQuantizeLinear", (ctx) => {
  const x = ctx.input(0);
  ctx.expectDType(0, ["float32"]);
  return [{ dtype: "uint8", shape: [...x.shape] }, { dtype: "float32", shape: [] }, { dtype: "uint8", shape: [] }];
});

/** A zero point or scale that is a scalar, or 1-D of `n` values (per row / per column / per channel). */
function perChannel(ctx: ShapeCtx, i: number, n: number, what: string): void {
  const t = ctx.optional(i);
  if (!t) return;
  const size = t.shape.reduce((a, b) => a * b, 1);
  if (size !== 1 && (t.shape.length !== 1 || size !== n)) ctx.unsupported(`${what} of shape [${t.shape}] (kiln takes a scalar or [${n}])`);
}

ops.define("MatMulInteger", (ctx) => {
  const [a, b] = [ctx.input(0), ctx.input(1)];
  ctx.expectDType(0, BYTES);
  ctx.expectDType(1, BYTES);
  const out = matmulShape(ctx, a.shape, b.shape);
  perChannel(ctx, 2, a.shape.length > 1 ? a.shape[a.shape.length - 2] : 1, "a_zero_point");
  perChannel(ctx, 3, b.shape.length > 1 ? b.shape[b.shape.length - 1] : 1, "b_zero_point");
  return [{ dtype: "int32", shape: out }];
});

ops.define("QLinearMatMul", (ctx) => {
  const [a, b] = [ctx.input(0), ctx.input(3)];
  ctx.expectDType(0, BYTES);
  ctx.expectDType(3, BYTES);
  const out = ctx.expectDType(7, BYTES);
  const M = a.shape.length > 1 ? a.shape[a.shape.length - 2] : 1;
  const N = b.shape.length > 1 ? b.shape[b.shape.length - 1] : 1;
  for (const [i, n, what] of [[1, M, "a_scale"], [2, M, "a_zero_point"], [4, N, "b_scale"], [5, N, "b_zero_point"], [6, 1, "y_scale"], [7, 1, "y_zero_point"]] as const) perChannel(ctx, i, n, what);
  return [{ dtype: out, shape: matmulShape(ctx, a.shape, b.shape) }];
});

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
});

ops.define("QLinearConv", (ctx) => {
  ctx.expectDType(0, BYTES);
  ctx.expectDType(3, BYTES);
  const out = ctx.expectDType(7, BYTES);
  const shape = convShape(ctx, 0, 3);
  for (const [i, n, what] of [[1, 1, "x_scale"], [2, 1, "x_zero_point"], [4, shape[1], "w_scale"], [5, shape[1], "w_zero_point"], [6, 1, "y_scale"], [7, 1, "y_zero_point"]] as const) perChannel(ctx, i, n, what);
  const bias = ctx.optional(8);
  if (bias && (bias.dtype !== "int32" || bias.shape.join() !== String(shape[1]))) ctx.invalid(`bias must be int32 [${shape[1]}], got ${bias.dtype}[${bias.shape}]`);
  return [{ dtype: out, shape }];
});

export const QUANT_OPS = ops.defs;
