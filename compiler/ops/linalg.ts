// Linear algebra on the last two axes: Det (opset 11; 22 added bfloat16), the determinant of each
// square matrix.
import { OpTable } from "./registry.js";

const ops = new OpTable();

ops.define("Det", (ctx) => {
  const x = ctx.input(0);
  ctx.expectDType(0, ["float32", "float64", "float16", "bfloat16"]);
  const r = x.shape.length;
  if (r < 2) ctx.fail(`Det takes matrices [..., M, M], not rank ${r}`);
  if (x.shape[r - 1] !== x.shape[r - 2]) ctx.fail(`Det takes square matrices, not ${x.shape[r - 2]}x${x.shape[r - 1]}`);
  return [{ dtype: x.dtype, shape: x.shape.slice(0, -2) }];
}, { arity: [1, 1], traits: ["bfloat16"], lastChange: 22 });

export const LINALG_OPS = ops.defs;
