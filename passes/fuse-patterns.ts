// fuse-patterns: rewrite decomposed subgraphs (as exporters write them) into the one standard op
// they compute, which then runs as one kernel:
//   LayerNorm  ReduceMean, Sub, Pow 2 | Mul d d, ReduceMean, Add eps, Sqrt, Div | Reciprocal+Mul,
//              Mul gamma[, Add beta]                       -> LayerNormalization(axis, epsilon)
//   GELU       x * 0.5 * (1 + Erf(x / sqrt 2))             -> Gelu
//              0.5 * x * (1 + Tanh(sqrt(2/pi) (x + 0.044715 x^3)))  -> Gelu[approximate="tanh"]
//   Softmax    Softmax(Mul(x, c) | Div(x, c)), c a constant scalar -> fused "scaled-softmax"
// Each rule starts at one anchor op and only fires when every value it removes is read by nothing
// outside the pattern. LayerNormalization needs ai.onnx opset 17 and Gelu 20: the model's opset is
// raised only when every other op reads the same there (fuse-patterns-match.ts); otherwise the rule
// does not fire (fuse-elementwise still merges a GELU chain into one loop).
import type { Attr, Graph, Node } from "../compiler/ir/graph.js";
import { fuseNodes } from "./rewrite.js";
import type { Pass } from "./pass.js";
import { ensureOpset, near, other, privateProducer, scalarConst, sameShape, shapeOf, shortestFloat32, soleConsumer } from "./fuse-patterns-match.js";

const FLOATS = new Set(["float32", "float64", "float16"]);

/** What a rule found: the nodes to remove and the node replacing them (its output is the pattern's). */
interface Match {
  remove: Node[];
  replace: Node;
  /** ai.onnx opset the new node needs */
  opset?: number;
}

type Rule = (g: Graph, anchor: Node) => Match | undefined;

const isFloat = (g: Graph, v: string) => FLOATS.has(g.values.get(v)?.dtype ?? "");

/** `v` is Mul(x, c) in either order with c a constant near `want`: returns x. */
function timesConst(g: Graph, n: Node | undefined, want: number): string | undefined {
  if (!n || n.op !== "Mul") return undefined;
  if (near(scalarConst(g, n.inputs[1]), want, 1e-5)) return n.inputs[0];
  if (near(scalarConst(g, n.inputs[0]), want, 1e-5)) return n.inputs[1];
  return undefined;
}

/** After `a` = 1 + f(x): the orderings of x * 0.5 * a. */
function geluTail(g: Graph, a: string, x: string): { nodes: Node[]; y: string } | undefined {
  const m1 = soleConsumer(g, a, "Mul");
  if (!m1) return undefined;
  const o1 = other(m1, a);
  const m1out = m1.outputs[0];
  if (o1 === x || near(scalarConst(g, o1), 0.5)) {
    // (x * a) * 0.5   or   x * (a * 0.5)
    const m2 = soleConsumer(g, m1out, "Mul");
    const o2 = m2 && other(m2, m1out);
    if (m2 && (o1 === x ? near(scalarConst(g, o2!), 0.5) : o2 === x)) return { nodes: [m1, m2], y: m2.outputs[0] };
    return undefined;
  }
  // (x * 0.5) * a
  const h = privateProducer(g, o1, "Mul");
  return h && timesConst(g, h, 0.5) === x ? { nodes: [h, m1], y: m1out } : undefined;
}

/** `f` = the Erf/Tanh output: its 1 + f, then the tail; the Gelu node replacing it all. */
function geluFrom(g: Graph, f: Node, x: string, head: Node[], approximate?: string): Match | undefined {
  // ONNX's own function body for Gelu writes 1 + f as a two-input Sum
  const add = soleConsumer(g, f.outputs[0], ["Add", "Sum"]);
  if (!add || !near(scalarConst(g, other(add, f.outputs[0])), 1)) return undefined;
  const tail = geluTail(g, add.outputs[0], x);
  if (!tail || !sameShape(g, tail.y, x) || !isFloat(g, x)) return undefined;
  const last = tail.nodes[tail.nodes.length - 1];
  const attrs: Record<string, Attr> = approximate ? { approximate: { type: "string", value: approximate } } : {};
  return {
    remove: [...head, f, add, ...tail.nodes],
    replace: { name: last.name, op: "Gelu", domain: "", inputs: [x], outputs: [tail.y], attrs },
    opset: 20,
  };
}

const geluErf: Rule = (g, erf) => {
  if (erf.op !== "Erf") return undefined;
  const d = privateProducer(g, erf.inputs[0], ["Div", "Mul"]);
  if (!d) return undefined;
  const x = d.op === "Div" ? (near(scalarConst(g, d.inputs[1]), Math.SQRT2, 1e-5) ? d.inputs[0] : undefined) : timesConst(g, d, Math.SQRT1_2);
  return x ? geluFrom(g, erf, x, [d]) : undefined;
};

/** x^3 as Pow(x, 3), Mul(x, Mul(x, x)) or Mul(Mul(x, x), x): its nodes. */
function cubeOf(g: Graph, v: string, x: string): Node[] | undefined {
  const p = privateProducer(g, v, ["Pow", "Mul"]);
  if (!p) return undefined;
  if (p.op === "Pow") return p.inputs[0] === x && scalarConst(g, p.inputs[1]) === 3 ? [p] : undefined;
  const sq = privateProducer(g, other(p, x), "Mul");
  return sq && sq.inputs[0] === x && sq.inputs[1] === x ? [sq, p] : undefined;
}

const geluTanh: Rule = (g, tanh) => {
  if (tanh.op !== "Tanh") return undefined;
  const s = privateProducer(g, tanh.inputs[0], "Mul");
  const inner = timesConst(g, s, Math.sqrt(2 / Math.PI));
  const add = inner && privateProducer(g, inner, ["Add", "Sum"]);
  if (!s || !add) return undefined;
  for (const x of add.inputs) {
    const c3 = privateProducer(g, other(add, x), "Mul");
    const cube = timesConst(g, c3, 0.044715);
    const cubeNodes = cube && cubeOf(g, cube, x);
    if (cubeNodes) return geluFrom(g, tanh, x, [...cubeNodes, c3!, add, s], "tanh");
  }
  return undefined;
};

/** The axes a ReduceMean reduces (attribute before opset 18, input after), normalized and sorted. */
function meanAxes(g: Graph, n: Node): number[] | undefined {
  if (n.op !== "ReduceMean") return undefined;
  const keep = n.attrs.keepdims;
  if (keep && keep.type === "int" && keep.value !== 1) return undefined;
  const r = shapeOf(g, n.inputs[0]).length;
  const attr = n.attrs.axes;
  const c = n.inputs[1] ? g.values.get(n.inputs[1])?.const : undefined;
  if (n.inputs[1] && !c) return undefined;
  const axes = c ? Array.from(c.data as ArrayLike<number | bigint>, Number) : attr?.type === "ints" ? attr.value : undefined;
  if (!axes || axes.length === 0) return undefined;
  return axes.map((a) => (a < 0 ? a + r : a)).sort((a, b) => a - b);
}

/** d / sqrt(v + eps) as Div(d, s) or Mul(d, Reciprocal(s)), s = Sqrt(v + eps). */
function normalized(g: Graph, sqrt: Node, d: string): { nodes: Node[]; n: Node } | undefined {
  const div = soleConsumer(g, sqrt.outputs[0], ["Div", "Reciprocal"]);
  if (div?.op === "Div") return div.inputs[0] === d && div.inputs[1] === sqrt.outputs[0] ? { nodes: [div], n: div } : undefined;
  const mul = div && soleConsumer(g, div.outputs[0], "Mul");
  return mul && other(mul, div!.outputs[0]) === d ? { nodes: [div!, mul], n: mul } : undefined;
}

const layerNorm: Rule = (g, mean) => {
  const axes = meanAxes(g, mean);
  const x = mean.inputs[0];
  const r = shapeOf(g, x).length;
  if (!axes || !axes.every((a, k) => a === r - axes.length + k) || !isFloat(g, x)) return undefined;
  const sub = soleConsumer(g, mean.outputs[0], "Sub");
  if (!sub || sub.inputs[0] !== x || sub.inputs[1] !== mean.outputs[0]) return undefined;
  const d = sub.outputs[0];
  const users = g.consumers(d);
  if (users.length !== 2 || g.outputs.includes(d)) return undefined;
  const sq = users.find((u) => (u.op === "Pow" && u.inputs[0] === d && scalarConst(g, u.inputs[1]) === 2) || (u.op === "Mul" && u.inputs[0] === d && u.inputs[1] === d));
  const mean2 = sq && soleConsumer(g, sq.outputs[0], "ReduceMean");
  if (!mean2 || meanAxes(g, mean2)?.join() !== axes.join()) return undefined;
  const addEps = soleConsumer(g, mean2.outputs[0], "Add");
  const eps = addEps && scalarConst(g, other(addEps, mean2.outputs[0]));
  const sqrt = eps !== undefined && soleConsumer(g, addEps!.outputs[0], "Sqrt");
  const norm = sqrt ? normalized(g, sqrt, d) : undefined;
  if (!norm || !users.includes(norm.nodes[norm.nodes.length - 1])) return undefined;
  const mulG = soleConsumer(g, norm.n.outputs[0], "Mul");
  const gamma = mulG && other(mulG, norm.n.outputs[0]);
  const fits = (v: string) => shapeOf(g, v).length <= axes.length && isFloat(g, v);
  if (!mulG || !gamma || !fits(gamma) || !sameShape(g, mulG.outputs[0], x)) return undefined;
  const addB = soleConsumer(g, mulG.outputs[0], "Add");
  const beta = addB && other(addB, mulG.outputs[0]);
  const withBias = !!beta && fits(beta) && sameShape(g, addB!.outputs[0], x);
  const last = withBias ? addB! : mulG;
  return {
    remove: [mean, sub, sq!, mean2, addEps!, sqrt as Node, ...norm.nodes, mulG, ...(withBias ? [addB!] : [])],
    replace: {
      name: last.name, op: "LayerNormalization", domain: "", inputs: withBias ? [x, gamma, beta!] : [x, gamma], outputs: [last.outputs[0]],
      attrs: { axis: { type: "int", value: r - axes.length }, epsilon: { type: "float", value: shortestFloat32(eps!) } },
    },
    opset: 17,
  };
};

/** Softmax(x * c) or Softmax(x / c): the fused node has inputs [x, c] (see fused/elementwise-softmax.ts). */
function scaledSoftmax(g: Graph, sm: Node): boolean {
  if (sm.op !== "Softmax" || g.opset("") < 13 || !isFloat(g, sm.inputs[0])) return false;
  const s = privateProducer(g, sm.inputs[0], ["Mul", "Div"]);
  if (!s || s.inputs.length !== 2) return false;
  const k = s.op === "Div" ? 1 : [1, 0].find((j) => scalarConst(g, s.inputs[j]) !== undefined && scalarConst(g, s.inputs[1 - j]) === undefined);
  if (k === undefined || scalarConst(g, s.inputs[k]) === undefined || !sameShape(g, s.inputs[1 - k], s.outputs[0])) return false;
  if (g.values.get(s.inputs[k])!.dtype !== g.values.get(s.inputs[1 - k])!.dtype) return false;
  fuseNodes(g, [s, sm], "scaled-softmax", { inputs: [s.inputs[1 - k], s.inputs[k]] });
  return true;
}

const RULES: Rule[] = [layerNorm, geluErf, geluTanh];

function apply(g: Graph, m: Match): boolean {
  if (m.opset && !ensureOpset(g, m.opset, m.remove)) return false;
  for (const n of m.remove) g.removeNode(n.name);
  g.addNode(m.replace);
  return true;
}

/** Returns the number of rewrites made. */
export function recognizePatterns(graph: Graph): number {
  let made = 0;
  for (const n of graph.topoOrder()) {
    if (!graph.g.hasNode(n.name) || graph.node(n.name) !== n) continue; // removed by an earlier match
    if (scaledSoftmax(graph, n)) { made++; continue; }
    for (const rule of RULES) {
      const m = rule(graph, n);
      if (m && apply(graph, m)) { made++; break; }
    }
  }
  if (made) graph.pruneValues();
  return made;
}

export const fusePatternsPass: Pass = {
  name: "fuse-patterns",
  description: "recognizes the decomposed LayerNorm and the Erf/Tanh forms of GELU as single ops, and Softmax(x * c) as a scaled softmax",
  run: (graph) => ({ rewrites: recognizePatterns(graph) }),
};
