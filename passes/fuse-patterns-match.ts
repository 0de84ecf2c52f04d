// Matching helpers for fuse-patterns: reading constants, walking single-use chains, and the rule
// for raising the model's ai.onnx opset when a recognized op needs a newer one.
import type { Graph, Node } from "../compiler/ir/graph.js";
import { opDef } from "../compiler/ops/index.js";
import { decodeValue, encodeValue } from "../runtime/lowbit.js";
import { addConstant, int64Tensor } from "./rewrite.js";

/** The value of a constant with one element, if `v` is one. */
export function scalarConst(g: Graph, v: string): number | undefined {
  const c = g.values.get(v)?.const;
  if (!c || c.data.length !== 1) return undefined;
  return Number(c.data[0]);
}

/**
 * a is b, within rel, or b rounded to float16: float16 models (and float32 ones converted from
 * them) hold 1.4140625 for sqrt(2); onnxruntime's fusions accept those too.
 */
export const near = (a: number | undefined, b: number, rel = 1e-4) => a !== undefined && (Math.abs(a - b) <= rel * Math.abs(b) || a === toHalf(b));

const toHalf = (x: number) => decodeValue("float16", encodeValue("float16", x));

/** The node that produces v, when v is read by exactly one node and is no graph output (so it may disappear). */
export function privateProducer(g: Graph, v: string, op?: string | string[]): Node | undefined {
  const p = g.producer(v);
  if (!p || g.outputs.includes(v) || g.consumers(v).length !== 1) return undefined;
  if (op && !(Array.isArray(op) ? op : [op]).includes(p.op)) return undefined;
  return p;
}

/** The single node reading v, when v may disappear (one reader, no graph output). */
export function soleConsumer(g: Graph, v: string, op?: string | string[]): Node | undefined {
  const users = g.consumers(v);
  if (users.length !== 1 || g.outputs.includes(v)) return undefined;
  const u = users[0];
  return !op || (Array.isArray(op) ? op : [op]).includes(u.op) ? u : undefined;
}

/** For a two-input node reading `v`, the other input ("" when v is not an input, or both are v). */
export function other(n: Node, v: string): string {
  if (n.inputs.length !== 2) return "";
  if (n.inputs[0] === v) return n.inputs[1] === v ? "" : n.inputs[1];
  return n.inputs[1] === v ? n.inputs[0] : "";
}

export const shapeOf = (g: Graph, v: string) => (g.values.get(v)?.shape ?? []) as number[];
export const sameShape = (g: Graph, a: string, b: string) => shapeOf(g, a).join() === shapeOf(g, b).join();

/**
 * Make the graph's ai.onnx opset at least `need` when that is safe, so a recognized
 * LayerNormalization (17) or Gelu (20) is a valid node of it: every op left in the graph must mean
 * the same at `need` as at the graph's opset (its definition's lastChange is known and outside the
 * raised range). False if not. `leaving` are the nodes the rewrite is about to remove.
 */
export function ensureOpset(g: Graph, need: number, leaving: readonly Node[]): boolean {
  const have = g.opset("");
  if (have >= need) return true;
  if (have < 13) return false;
  const unchanged = (op: string) => {
    const last = opDef("", op)?.lastChange;
    return last !== undefined && (last <= have || last > need);
  };
  // reductions that took their axes as an attribute take them as an input from some opset on
  // (OpDef.axesInput): rewritten so (top-level nodes only; one inside a fused body keeps the opset where it is)
  const converts = (n: Node) => {
    const since = n.domain === "" || n.domain === "ai.onnx" ? opDef("", n.op)?.axesInput : undefined;
    return since !== undefined && have < since && need >= since;
  };
  const ok = (n: Node) => leaving.includes(n) || (n.domain !== "" && n.domain !== "ai.onnx") || unchanged(n.op);
  if (!g.nodeList().every((n) => ok(n) || converts(n)) || !g.nodeList().flatMap((n) => n.body ?? []).every(ok)) return false;
  for (const n of g.nodeList().filter((x) => !leaving.includes(x) && converts(x))) axesToInput(g, n);
  if (!g.raisedFrom.has("")) g.raisedFrom.set("", have);
  g.opsets.set("", need);
  return true;
}

/** A reduction's `axes` attribute as its second input (an int64 constant); no attribute: reduce every axis, as before */
function axesToInput(g: Graph, n: Node): void {
  const axes = n.attrs.axes;
  const { axes: _, ...rest } = n.attrs;
  const inputs = axes && axes.type === "ints" ? [n.inputs[0], addConstant(g, `${n.name}/axes`, int64Tensor(axes.value))] : [n.inputs[0]];
  g.removeNode(n.name);
  g.addNode({ ...n, inputs, attrs: rest });
}

/** A float32 number as the shortest decimal that rounds back to it (attributes are float32 anyway). */
export function shortestFloat32(v: number): number {
  const f = Math.fround(v);
  for (let p = 1; p <= 9; p++) {
    const s = Number(f.toPrecision(p));
    if (Math.fround(s) === f) return s;
  }
  return f;
}
