// Operators of ai.onnx.ml (Binarizer is an elementwise op: unary.ts). TreeEnsemble: its tables
// (tree-ensemble.ts) walked per row by its kernel. ArrayFeatureExtractor, resolved at compile time: X[..., indices] over the last axis, the
// indices flattened (onnxruntime's reading: a 1-D X gives one row [1, k]); an index out of range
// is Gather's run-time BAD_INPUT.
import { OpTable, resolvedOnly, type CompoundCtx, type Resolved } from "./registry.js";
import { treeTables } from "./tree-ensemble.js";

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

// TreeEnsemble: X [N, F] -> [N, n_targets], its trees walked per row (codegen/kernels/ml/tree-ensemble.ts)
ops.define("TreeEnsemble", (ctx) => {
  const x = ctx.input(0);
  const dt = ctx.expectDType(0, ["float32", "float64"]);
  if (x.shape.length !== 2) ctx.fail(`X must be [rows, features], got [${x.shape.join(",")}]`);
  const t = treeTables(ctx.attrs, x.shape[1]);
  if (typeof t === "string") return ctx.invalid(t);
  if (t.postTransform < 0 || t.postTransform > 4) return ctx.invalid(`post_transform ${t.postTransform} is not one of 0..4`);
  if (t.postTransform === 4) ctx.unsupported("post_transform PROBIT is not supported yet (NONE, SOFTMAX, LOGISTIC and SOFTMAX_ZERO are)");
  return [{ dtype: dt, shape: [x.shape[0], t.targets] }];
}, { domain: ML, lastChange: 5, arity: [1, 1] });

ops.define("ArrayFeatureExtractor", resolvedOnly, { domain: ML, lastChange: 1, arity: [2, 2], traits: ["compile-time-only"], compound: arrayFeatureExtractor });

export const ML_OPS = ops.defs;
