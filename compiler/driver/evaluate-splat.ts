// Folding over splat constants (compiler/ir/splat.ts) without building their millions of elements.
// A batch of evaluation requests is split before anything is compiled:
//   - ConstantOfShape gives the splat of its value attribute (what its kernel writes everywhere);
//   - a movement op (Reshape, Transpose, Expand ...) of a splat gives the same splat, reshaped:
//     every output element is some element of its input;
//   - an elementwise op whose inputs are all splats gives a splat whose value is that op on the
//     inputs' values, evaluated on scalars (one batch for all of them: +, -, *, / and sqrt in
//     JavaScript with one float32 rounding, compiler/driver/evaluate-exact.ts, the rest in one module).
//     Only ops that IEEE arithmetic rounds exactly (no math-library polynomials) qualify, so the
//     scalar result is bit for bit what every lane of the full-size kernel would compute.
// Everything else is left for the full evaluation, with the splats it reads given as constants.
import type { DTypeName, TypedArray } from "../../runtime/dtypes.js";
import type { Graph, Node, Tensor } from "../ir/graph.js";
import { splatBytes, splatTensor, splatValue } from "../ir/splat.js";
import { hasTrait, opDef } from "../ops/index.js";
import type { OutputInfo } from "../ops/registry.js";


export interface EvalRequest {
  graph: Graph;
  node: Node;
  inputs: (Tensor | undefined)[];
  outputs: OutputInfo[];
}

/** Evaluates requests (every input a constant or another request's output), as evaluate.ts does. */
export type EvaluateMany = (requests: EvalRequest[]) => Promise<Tensor[][]>;

/** Where a splat's value comes from: known now, or the scalar result of the named value. */
type Source = { value: TypedArray; dtype: DTypeName } | { pending: string };


/** The splat ConstantOfShape makes, or undefined when its value attribute is unusual (left to the kernel). */
function constantOfShapeValue(n: Node): TypedArray | undefined {
  const a = n.attrs.value;
  if (!a) return Float32Array.of(0);
  return a.type === "tensor" && a.value.data.length >= 1 ? a.value.data : undefined;
}

/** A key equal for scalar requests that must give the same value (undefined: never shared). */
function scalarKey(node: Node, out: DTypeName, ins: (Source | undefined)[]): string | undefined {
  const attrs = Object.keys(node.attrs).sort().map((k) => {
    const a = node.attrs[k];
    return ["int", "float", "ints", "floats", "string"].includes(a.type) ? `${k}=${JSON.stringify(a.value)}` : undefined;
  });
  if (attrs.some((a) => a === undefined)) return undefined;
  const operand = (s: Source | undefined) => !s ? "-" : "pending" in s ? `@${s.pending}` : `${s.dtype}:${splatBytes(s.value).join(".")}`;
  return `${node.op}->${out}[${attrs.join(";")}](${ins.map(operand).join(",")})`;
}

/**
 * Evaluate what the splat rules above cover (one scalar module for the arithmetic), then the
 * rest through `evaluate`. Returns each request's outputs, in order.
 */
export async function evaluateWithSplats(requests: EvalRequest[], evaluate: EvaluateMany): Promise<Tensor[][]> {
  const source = new Map<string, Source>();
  const scalar: EvalRequest[] = [];
  const asked = new Map<string, string>();
  const isSplat = new Array<boolean>(requests.length).fill(false);
  const sourceOf = (r: EvalRequest, k: number): Source | undefined => {
    const t = r.inputs[k];
    if (!t) return source.get(r.node.inputs[k]);
    const v = splatValue(t);
    return v ? { value: v, dtype: t.dtype } : undefined;
  };
  requests.forEach((r, idx) => {
    const { node } = r;
    if (!opDef(node.domain, node.op) || node.outputs.length !== 1 || !node.outputs[0]) return;
    const out = node.outputs[0];
    if (node.op === "ConstantOfShape") {
      const v = constantOfShapeValue(node);
      if (!v) return;
      source.set(out, { value: v, dtype: r.outputs[0].dtype });
    } else if (hasTrait(node, "moves")) {
      const s = sourceOf(r, 0);
      if (!s) return;
      source.set(out, s);
    } else if (hasTrait(node, "uniform")) {
      const ins = node.inputs.map((name, k) => (name ? sourceOf(r, k) : undefined));
      if (node.inputs.some((name, k) => name && !ins[k])) return;
      // the same op on the same values was asked already (light models' BN parameters are a
      // handful of values): share its result instead of compiling it again
      const key = scalarKey(node, r.outputs[0].dtype, ins);
      const twin = key === undefined ? undefined : asked.get(key);
      if (twin) {
        source.set(out, { pending: twin });
        isSplat[idx] = true;
        return;
      }
      if (key !== undefined) asked.set(key, out);
      // on scalars: every input a 0-d constant or the 0-d result of another scalar request
      scalar.push({
        graph: r.graph,
        node: { ...node, inputs: node.inputs.map((name, k) => { const s = ins[k]; return s && "pending" in s ? s.pending : name; }) },
        inputs: ins.map((s) => (s && "value" in s ? { dtype: s.dtype, dims: [], data: s.value } : undefined)),
        outputs: [{ dtype: r.outputs[0].dtype, shape: [] }],
      });
      source.set(out, { pending: out });
    } else return;
    isSplat[idx] = true;
  });
  if (!isSplat.some((s) => s)) return evaluate(requests);

  const scalars = new Map<string, TypedArray>();
  if (scalar.length) {
    const results = await evaluate(scalar);
    scalar.forEach((r, k) => scalars.set(r.node.outputs[0], results[k][0].data));
  }
  const splatOf = (r: EvalRequest): Tensor => {
    const s = source.get(r.node.outputs[0])!;
    return splatTensor(r.outputs[0].dtype, r.outputs[0].shape, "value" in s ? s.value : scalars.get(s.pending)!);
  };
  const done = new Map<string, Tensor>();
  requests.forEach((r, k) => {
    if (isSplat[k]) done.set(r.node.outputs[0], splatOf(r));
  });
  const rest = requests.filter((_, k) => !isSplat[k]).map((r) => ({ ...r, inputs: r.inputs.map((t, k) => t ?? done.get(r.node.inputs[k])) }));
  const restResults = rest.length ? await evaluate(rest) : [];
  let next = 0;
  return requests.map((r, k) => (isSplat[k] ? [done.get(r.node.outputs[0])!] : restResults[next++]));
}
