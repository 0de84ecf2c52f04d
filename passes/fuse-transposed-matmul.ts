// fuse-transposed-matmul: a MatMul that reads a Transpose's output, or whose output only a
// Transpose reads, becomes one Einsum reading and writing the untransposed layouts in place, when
// the Einsum's packed kernel (codegen/kernels/attention/einsum-packed.ts) takes it. Attention as
// exporters write it transposes Q and V from [b, s, h, d] to [b, h, s, d] before its two products
// and the context back after them: three copies of the activations per layer, and at N threads
// three more layers each with its barrier (and K's transpose to [b, h, d, s] a fourth). Q K^T then
// reads Q and K in place ("bshd,bthd->bhst") and P V writes the context where the merge wanted it
// ("bhst,bthd->bshd"). The product is the same
// code as the MatMul's (the packed GEMM, the same order of accumulation), so results do not change.
import type { Graph, Node } from "../compiler/ir/graph.js";
import { chooseKernel } from "../codegen/capabilities.js";
import { ensureOpset, privateProducer, scalarConst, soleConsumer } from "./fuse-patterns-match.js";
import type { Pass } from "./pass.js";

/** ai.onnx's Einsum */
const EINSUM_OPSET = 12;
const LETTERS = "abcdefghijklmnopqrstuvwxyz";

const rank = (g: Graph, v: string) => g.values.get(v)?.shape?.length ?? -1;

/** A Transpose's perm (default: reversed axes), or undefined when `n` is no plain Transpose. */
function permOf(g: Graph, n: Node | undefined): number[] | undefined {
  if (!n || n.op !== "Transpose" || n.domain !== "" || n.inputs.length !== 1) return undefined;
  const p = n.attrs.perm;
  if (p && p.type !== "ints") return undefined;
  const r = rank(g, n.inputs[0]);
  return p ? (p.value as number[]).map(Number) : [...Array(r).keys()].reverse();
}

/** The subscript of a Transpose's input, given the labels of its output (output axis i is input axis perm[i]). */
function beforeTranspose(labels: string, perm: number[]): string {
  const out: string[] = [];
  perm.forEach((p, i) => (out[p] = labels[i]));
  return out.join("");
}

/** The subscript of a Transpose's output, given the labels of its input. */
const afterTranspose = (labels: string, perm: number[]) => perm.map((p) => labels[p]).join("");

interface Fold {
  a?: Node;
  b?: Node;
  out?: Node;
}

/** The Einsum computing `mm` with the transposes of `fold` taken in. */
function einsumFor(mm: Node, fold: Fold, r: number, perms: { a?: number[]; b?: number[]; out?: number[] }): Node {
  const batch = LETTERS.slice(0, r - 2);
  const [m, k, n] = LETTERS.slice(r - 2, r + 1);
  const a = fold.a ? beforeTranspose(batch + m + k, perms.a!) : batch + m + k;
  const b = fold.b ? beforeTranspose(batch + k + n, perms.b!) : batch + k + n;
  const y = fold.out ? afterTranspose(batch + m + n, perms.out!) : batch + m + n;
  return {
    name: mm.name, op: "Einsum", domain: "",
    inputs: [fold.a ? fold.a.inputs[0] : mm.inputs[0], fold.b ? fold.b.inputs[0] : mm.inputs[1]],
    outputs: [fold.out ? fold.out.outputs[0] : mm.outputs[0]],
    attrs: { equation: { type: "string", value: `${a},${b}->${y}` } },
  };
}

/**
 * MatMul operand i made as Transpose(x) * c, c a constant of one element (transformers 5 scales Q
 * and K each by the root of the scale, after their head transposes): rewritten as Transpose(x * c),
 * the same values (a scalar product commutes with moving elements), so the Transpose meets the
 * MatMul and is taken in. Returns whether it rewrote.
 */
function hoistScale(g: Graph, mm: Node, i: number): boolean {
  const mul = privateProducer(g, mm.inputs[i], "Mul");
  if (!mul || mul.domain !== "" || mul.inputs.length !== 2 || mul.outputs.length !== 1) return false;
  const j = [0, 1].find((q) => permOf(g, privateProducer(g, mul.inputs[q], "Transpose")) !== undefined);
  if (j === undefined || scalarConst(g, mul.inputs[1 - j]) === undefined) return false;
  const t = g.producer(mul.inputs[j])!;
  const x = g.values.get(t.inputs[0]), y = g.values.get(mul.outputs[0]);
  // the constant broadcasts to nothing wider, and the product keeps x's dtype
  if (!x?.shape || !y?.shape || rank(g, mul.inputs[1 - j]) > x.shape.length || x.dtype !== y.dtype) return false;
  const scaled = g.uniqueValueName(`${mul.outputs[0]}/before_transpose`);
  Object.assign(g.value(scaled), { dtype: x.dtype, shape: [...x.shape] });
  g.removeNode(mul.name);
  g.removeNode(t.name);
  g.addNode({ ...mul, inputs: mul.inputs.map((v, q) => (q === j ? t.inputs[0] : v)), outputs: [scaled] });
  g.addNode({ ...t, inputs: [scaled], outputs: [mul.outputs[0]] });
  return true;
}

/**
 * The MatMul `mm` rewritten, or false: the most transposes it can take in (its operands' and its
 * output's, each read or written by the MatMul alone) for which the packed Einsum plans.
 */
function fuseAt(g: Graph, mm: Node): boolean {
  if (mm.op !== "MatMul" || mm.domain !== "" || mm.inputs.length !== 2 || mm.outputs.length !== 1) return false;
  const r = rank(g, mm.outputs[0]);
  // no broadcasting between the operands' batches: every operand has the output's rank and dims
  const shape = (v: string) => (g.values.get(v)?.shape ?? []).join();
  if (r < 2 || r > LETTERS.length - 1 || rank(g, mm.inputs[0]) !== r || rank(g, mm.inputs[1]) !== r) return false;
  if (shape(mm.inputs[0]).split(",").slice(0, -2).join() !== shape(mm.outputs[0]).split(",").slice(0, -2).join()) return false;
  if (shape(mm.inputs[1]).split(",").slice(0, -2).join() !== shape(mm.outputs[0]).split(",").slice(0, -2).join()) return false;
  // x^T x^T reads one Transpose twice: taking it into one operand would leave the other reading a removed value
  const same = mm.inputs[0] === mm.inputs[1];
  const ta = same ? undefined : privateProducer(g, mm.inputs[0], "Transpose");
  const tb = same ? undefined : privateProducer(g, mm.inputs[1], "Transpose");
  const to = soleConsumer(g, mm.outputs[0], "Transpose");
  const perms = { a: permOf(g, ta), b: permOf(g, tb), out: permOf(g, to) };
  const options: Fold[] = [];
  for (const a of perms.a ? [ta, undefined] : [undefined]) {
    for (const b of perms.b ? [tb, undefined] : [undefined]) {
      for (const out of perms.out ? [to, undefined] : [undefined]) if (a || b || out) options.push({ a, b, out });
    }
  }
  const count = (f: Fold) => (f.a ? 1 : 0) + (f.b ? 1 : 0) + (f.out ? 1 : 0);
  options.sort((x, y) => count(y) - count(x));
  for (const fold of options) {
    const einsum = einsumFor(mm, fold, r, perms);
    let kernel: string | undefined;
    try {
      kernel = chooseKernel(g, einsum);
    } catch {
      continue;
    }
    if (kernel !== "packed") continue;
    const gone = [mm, ...[fold.a, fold.b, fold.out].filter((n): n is Node => !!n)];
    if (!ensureOpset(g, EINSUM_OPSET, gone)) return false;
    for (const n of gone) g.removeNode(n.name);
    g.addNode(einsum);
    return true;
  }
  return false;
}

/** Returns how many MatMuls it rewrote, and scales it moved before their Transposes. */
export function fuseTransposedMatmuls(graph: Graph): number {
  let made = 0;
  for (const n of graph.topoOrder()) {
    if (!graph.g.hasNode(n.name) || graph.node(n.name) !== n) continue;
    if (n.op === "MatMul" && n.inputs[0] !== n.inputs[1]) for (const i of [0, 1]) if (hoistScale(graph, n, i)) made++;
    if (fuseAt(graph, n)) made++;
  }
  if (made) graph.pruneValues();
  return made;
}

export const fuseTransposedMatmulPass: Pass = {
  name: "fuse-transposed-matmul",
  description: "takes a MatMul's operand and output Transposes into one Einsum that reads and writes those layouts in place (attention's head transposes), where the packed kernel runs it",
  run: (graph) => ({ rewrites: fuseTransposedMatmuls(graph) }),
};
