// Shape rules for the signal operators: CumProd, the window functions, MelWeightMatrix, DFT
// and STFT. Window and mel sizes are input values, so they must be known when compiling.
import { dtypeFromOnnx, onnxTypeName, type DTypeName } from "../../runtime/dtypes.js";
import { normAxis, OpTable, type ShapeCtx } from "./registry.js";

const ops = new OpTable();

const NUMERIC: DTypeName[] = ["float32", "float64", "float16", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"];

/** The output_datatype attribute (default float32), refusing types kiln lacks. */
export function outputDType(ctx: ShapeCtx, name = "output_datatype"): DTypeName {
  const code = ctx.attrs.int(name, 1);
  const dt = dtypeFromOnnx(code)?.name;
  if (!dt || !NUMERIC.includes(dt)) ctx.unsupported(`${name} ${onnxTypeName(code)} is not supported`);
  return dt;
}

/** A scalar (or one-element) compile-time integer input. */
export function scalarInt(ctx: ShapeCtx, i: number, what: string): number {
  const v = ctx.ints(i) ?? ctx.invalid(`${what} is required`);
  if (v.length !== 1) ctx.invalid(`${what} must be a scalar, has ${v.length} values`);
  return v[0];
}

ops.define("CumProd", (ctx) => {
  const x = ctx.input(0);
  ctx.expectDType(0, ["float32", "float64", "float16", "int32", "int64", "uint32", "uint64"]);
  ctx.expectDType(1, ["int32", "int64"]);
  if (x.shape.length === 0) ctx.invalid("CumProd needs a tensor of rank >= 1");
  const axis = ctx.input(1);
  if (axis.shape.reduce((a, b) => a * b, 1) !== 1) ctx.invalid("CumProd axis must be a scalar");
  if (axis.value) normAxis(ctx, Number(axis.value.data[0]), x.shape.length);
  return [{ dtype: x.dtype, shape: [...x.shape] }];
}, { arity: [2, 2], lastChange: 26 });

ops.define(["HannWindow", "HammingWindow", "BlackmanWindow"], (ctx) => {
  const size = scalarInt(ctx, 0, "size");
  if (size < 0) ctx.invalid(`window size ${size} is negative`);
  return [{ dtype: outputDType(ctx), shape: [size] }];
}, { lastChange: 17 });

ops.define("MelWeightMatrix", (ctx) => {
  const bins = scalarInt(ctx, 0, "num_mel_bins");
  const dft = scalarInt(ctx, 1, "dft_length");
  // the matrix depends on every input value; kiln builds it at compile time
  for (const i of [2, 3, 4]) ctx.value(i);
  if (bins < 0 || dft < 1) ctx.invalid(`num_mel_bins ${bins} and dft_length ${dft} must be positive`);
  return [{ dtype: outputDType(ctx), shape: [Math.floor(dft / 2) + 1, bins] }];
}, { lastChange: 17 });

export const SIGNAL_OPS = ops.defs;
