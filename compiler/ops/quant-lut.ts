// The op the fuse-qdq-lut pass (passes/fuse-qdq-lut.ts) puts in a graph: domain kiln.quant.
import { OpTable } from "./registry.js";

const ops = new OpTable();

export const QUANT_LUT_DOMAIN = "kiln.quant";

/**
 * LookupTable(X int8|uint8, T [256] int8|uint8) -> Y, X's shape, T's type: Y[i] = T[the byte of
 * X[i]] (an int8 -1 is byte 255). A float island between a DequantizeLinear and a QuantizeLinear
 * that depends on one 8-bit tensor alone is a function of its 256 values.
 */
ops.define("LookupTable", (ctx) => {
  const x = ctx.input(0);
  ctx.expectDType(0, ["int8", "uint8"]);
  const t = ctx.input(1);
  const dt = ctx.expectDType(1, ["int8", "uint8"]);
  if (t.shape.length !== 1 || t.shape[0] !== 256) ctx.invalid(`the table must be [256]; got [${t.shape}]`);
  return [{ dtype: dt, shape: [...x.shape] }];
}, { domain: QUANT_LUT_DOMAIN, arity: [2, 2] });

export const QUANT_LUT_OPS = ops.defs;
