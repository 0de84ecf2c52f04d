// Folding small float32 arithmetic in JavaScript, exactly as the kernels compute it, instead of
// compiling a module for it. BatchNormalization folded into weights is a chain of Add, Sqrt, Div,
// Reshape, Mul, Sub over vectors of a few hundred values: compiling that chain (binaryen, then
// WebAssembly.compile, cold in a fresh process) cost 10-30 ms of a JIT load for arithmetic that
// takes microseconds. Only operations IEEE 754 rounds exactly qualify: +, -, *, / and sqrt of two
// float32 values computed in double precision and rounded once to float32 (Math.fround) give the
// correctly rounded float32 result (double has 53 >= 2 * 24 + 2 significand bits, so the double
// rounding is innocuous), which is what f32.add/sub/mul/div/sqrt give. Neg, Abs and the reshaping
// ops move values without arithmetic. The op registry holds each op's formula (OpDef.exact) and
// the reshape trait. Integer shape arithmetic is evaluate-ints.ts's. Anything else, or anything
// larger, goes to `evaluate`.
import type { DTypeName } from "../../runtime/dtypes.js";
import { sizeOf } from "../../runtime/dtypes.js";
import type { Tensor } from "../ir/graph.js";
import { opDef } from "../ops/index.js";
import type { EvalRequest, EvaluateMany } from "./evaluate-splat.js";
import { evaluateInts } from "./evaluate-ints.js";
import { broadcastIndex } from "./evaluate-tensors.js";

/** Larger results are computed by the module (its SIMD loop is then worth compiling). */
export const MAX_EXACT_ELEMENTS = 1 << 16;


function binary(f: (a: number, b: number) => number, a: Tensor, b: Tensor, out: number[]): Float32Array {
  const [ia, ib] = [broadcastIndex(a, out), broadcastIndex(b, out)];
  const x = a.data as Float32Array, z = b.data as Float32Array;
  return Float32Array.from({ length: ia.length }, (_, i) => f(x[ia[i]], z[ib[i]]));
}

/** The value of a request computed here, or undefined when it is not one this file takes. */
function exact(r: EvalRequest, inputs: (Tensor | undefined)[]): Tensor | undefined {
  const { node } = r;
  const def = opDef(node.domain, node.op);
  if (!def || node.outputs.length !== 1 || !node.outputs[0]) return undefined;
  const out = r.outputs[0];
  const shape = out.shape as number[];
  if (sizeOf(shape) > MAX_EXACT_ELEMENTS) return undefined;
  const x = inputs[0];
  if (!x) return undefined;
  // integer shape arithmetic and the moves around it (evaluate-ints.ts)
  const ints = evaluateInts(node, inputs, { dtype: out.dtype as DTypeName, dims: shape });
  if (ints) return ints;
  if (def.traits.has("reshape")) {
    // every input the op reads (Reshape's shape) is known; the elements keep their order
    if (node.inputs.some((name, k) => name && !inputs[k]) || x.dtype !== out.dtype) return undefined;
    return { dtype: out.dtype as DTypeName, dims: [...shape], data: x.data };
  }
  if (out.dtype !== "float32" || inputs.some((t, k) => node.inputs[k] && (!t || t.dtype !== "float32"))) return undefined;
  const f = def.exact;
  if (f && f.length === 1 && node.inputs.length === 1) return { dtype: "float32", dims: [...shape], data: Float32Array.from(x.data as Float32Array, (v) => f(v)) };
  if (f && f.length === 2 && node.inputs.length === 2 && inputs[1]) return { dtype: "float32", dims: [...shape], data: binary(f, x, inputs[1], shape) };
  return undefined;
}

/**
 * Evaluates requests as `evaluate` does (every input a constant or another request's output,
 * requests in an order where producers come first), computing here what `exact` takes.
 */
export async function evaluateExact(requests: EvalRequest[], evaluate: EvaluateMany): Promise<Tensor[][]> {
  const known = new Map<string, Tensor>();
  const results = new Map<number, Tensor[]>();
  requests.forEach((r, k) => {
    const inputs = r.inputs.map((t, j) => t ?? known.get(r.node.inputs[j]));
    const v = exact(r, inputs);
    if (!v) return;
    known.set(r.node.outputs[0], v);
    results.set(k, [v]);
  });
  if (!results.size) return evaluate(requests);
  // the rest, reading what was computed here as constants
  const rest = requests.filter((_, k) => !results.has(k)).map((r) => ({ ...r, inputs: r.inputs.map((t, j) => t ?? known.get(r.node.inputs[j])) }));
  const restResults = rest.length ? await evaluate(rest) : [];
  let next = 0;
  return requests.map((_, k) => results.get(k) ?? restResults[next++]);
}
