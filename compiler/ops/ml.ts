// Operators of ai.onnx.ml that kiln resolves at compile time into plain nodes (Binarizer is an
// elementwise op: unary.ts). ArrayFeatureExtractor: X[..., indices] over the last axis, the
// indices flattened (onnxruntime's reading: a 1-D X gives one row [1, k]); an index out of range
// is Gather's run-time BAD_INPUT.
import { OpTable, resolvedOnly, type CompoundCtx, type Resolved } from "./registry.js";

const ops = new OpTable();
const ML = "ai.onnx.ml";


async function arrayFeatureExtractor(s: CompoundCtx): Promise<Resolved[]> {
  const { ctx, build } = s;
  const [x, idx] = [0, 1].map((i) => {
    const o = s.operands[i];
    if (!o || !("tensor" in o)) return ctx.invalid(`input ${i} must be a tensor`);
    return o.tensor;
  });
  ctx.expectDType(0, ["float32", "float64", "int64", "int32"]);
  ctx.expectDType(1, ["int64"]);
  if (x.shape.length === 0) ctx.fail("X must have at least one dim");
  const flat = await build.node("Reshape", [idx.name, build.int64("flat", [-1])]);
  const picked = await build.node("Gather", [x.name, flat], { axis: { type: "int", value: x.shape.length - 1 } });
  // a vector gives one row
  return [{ tensor: x.shape.length === 1 ? await build.node("Unsqueeze", [picked, build.int64("row", [0])]) : picked }];
}

ops.define("ArrayFeatureExtractor", resolvedOnly, { domain: ML, lastChange: 1, arity: [2, 2], traits: ["compile-time-only"], compound: arrayFeatureExtractor });

export const ML_OPS = ops.defs;
