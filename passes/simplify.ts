// simplify: local rewrites that remove work without changing results. Each rule looks at one
// node; the pass applies rules until none fires.
import type { Graph, Node } from "../compiler/ir/graph.js";
import { hasTrait } from "../compiler/ops/index.js";
import { KilnError } from "../runtime/errors.js";
import { addConstant, forward, int64Tensor, sameShape, shapeOf } from "./rewrite.js";
import type { Pass } from "./pass.js";

type Rule = { name: string; apply: (graph: Graph, n: Node) => boolean };

const constInts = (graph: Graph, name: string | undefined): number[] | undefined => {
  if (!name) return undefined;
  const c = graph.values.get(name)?.const;
  return c ? Array.from(c.data as ArrayLike<number | bigint>, Number) : undefined;
};

const isConstFalse = (graph: Graph, name: string | undefined) => {
  if (!name) return true;
  const c = graph.values.get(name)?.const;
  return c !== undefined && c.data.length === 1 && Number(c.data[0]) === 0;
};

/** A node whose single output equals its first input. */
const passThrough = (graph: Graph, n: Node) => forward(graph, n, n.outputs[0], n.inputs[0]);

/** the output has the input's shape and dtype, so the op moved nothing */
const sameAsInput = (graph: Graph, n: Node) => {
  const i = graph.values.get(n.inputs[0])!;
  const o = graph.values.get(n.outputs[0])!;
  return i.dtype === o.dtype && sameShape(i.shape as number[], o.shape as number[]);
};

export const rules: Rule[] = [
  { name: "identity", apply: (g, n) => n.op === "Identity" && passThrough(g, n) },
  {
    name: "inference-dropout",
    apply: (g, n) => n.op === "Dropout" && isConstFalse(g, n.inputs[2]) &&
      (!n.outputs[1] || (g.consumers(n.outputs[1]).length === 0 && !g.outputs.includes(n.outputs[1]))) && passThrough(g, n),
  },
  {
    // Reshape-like after Reshape-like: one Reshape from the first input to the final shape
    name: "reshape-chain",
    apply: (g, n) => {
      if (!hasTrait(n, "reshape")) return false;
      const p = g.producer(n.inputs[0]);
      if (!p || !hasTrait(p, "reshape")) return false;
      const shape = addConstant(g, `${n.name}_shape`, int64Tensor(shapeOf(g, n.outputs[0])));
      const merged: Node = { name: n.name, op: "Reshape", domain: "", inputs: [p.inputs[0], shape], outputs: [...n.outputs], attrs: {} };
      g.removeNode(n.name);
      g.addNode(merged);
      if (g.consumers(p.outputs[0]).length === 0 && !g.outputs.includes(p.outputs[0])) g.removeNode(p.name);
      return true;
    },
  },
  { name: "noop-reshape", apply: (g, n) => hasTrait(n, "reshape") && sameAsInput(g, n) && passThrough(g, n) },
  {
    // Transpose(Transpose(x, p), q) = Transpose(x, p∘q); the identity permutation disappears
    name: "transpose-pair",
    apply: (g, n) => {
      if (n.op !== "Transpose") return false;
      const p = g.producer(n.inputs[0]);
      if (!p || p.op !== "Transpose") return false;
      const rank = shapeOf(g, n.outputs[0]).length;
      const rev = (k: number) => Array.from({ length: k }, (_, i) => k - 1 - i);
      const inner = p.attrs.perm?.type === "ints" ? p.attrs.perm.value : rev(rank);
      const outer = n.attrs.perm?.type === "ints" ? n.attrs.perm.value : rev(rank);
      const perm = outer.map((k) => inner[k]);
      const merged: Node = { name: n.name, op: "Transpose", domain: "", inputs: [p.inputs[0]], outputs: [...n.outputs], attrs: { perm: { type: "ints", value: perm } } };
      g.removeNode(n.name);
      g.addNode(merged);
      if (g.consumers(p.outputs[0]).length === 0 && !g.outputs.includes(p.outputs[0])) g.removeNode(p.name);
      return true;
    },
  },
  {
    name: "identity-transpose",
    apply: (g, n) => n.op === "Transpose" && n.attrs.perm?.type === "ints" && n.attrs.perm.value.every((p, k) => p === k) && passThrough(g, n),
  },
  { name: "noop-cast", apply: (g, n) => (n.op === "Cast" || n.op === "CastLike") && sameAsInput(g, n) && passThrough(g, n) },
  { name: "noop-expand", apply: (g, n) => (n.op === "Expand" || n.op === "Tile") && sameAsInput(g, n) && passThrough(g, n) },
  {
    name: "noop-pad",
    apply: (g, n) => {
      if (n.op !== "Pad" || !sameAsInput(g, n)) return false;
      const pads = n.attrs.pads?.type === "ints" ? n.attrs.pads.value : constInts(g, n.inputs[1]);
      return pads !== undefined && pads.every((p) => p === 0) && passThrough(g, n);
    },
  },
  {
    name: "noop-slice",
    apply: (g, n) => {
      if (n.op !== "Slice" || !sameAsInput(g, n)) return false;
      const steps = n.inputs[4] ? constInts(g, n.inputs[4]) : [];
      return steps !== undefined && steps.every((s) => s === 1) && passThrough(g, n);
    },
  },
  { name: "single-concat", apply: (g, n) => n.op === "Concat" && n.inputs.filter((i) => i).length === 1 && passThrough(g, n) },
];

/** Applies the rules until none fires; returns how often each fired. */
export function simplifyGraph(graph: Graph, only?: readonly string[]): Record<string, number> {
  const active = only ? rules.filter((r) => only.includes(r.name)) : rules;
  const fired: Record<string, number> = {};
  for (let changed = true; changed;) {
    changed = false;
    for (const n of graph.topoOrder()) {
      if (!graph.g.hasNode(n.name)) continue;
      for (const r of active) {
        if (r.apply(graph, n)) {
          fired[r.name] = (fired[r.name] ?? 0) + 1;
          changed = true;
          break;
        }
      }
    }
  }
  graph.pruneValues();
  return fired;
}

export const simplify: Pass = {
  name: "simplify",
  description: "removes Identity and inference Dropout, merges Reshape chains, cancels inverse Transposes, drops no-op Cast/Pad/Slice/Expand",
  options: { rules: { default: "", description: `the rules to apply, comma-separated (default all: ${rules.map((r) => r.name).join(", ")})` } },
  run(graph, ctx) {
    const only = String(ctx.options?.rules ?? "").split(",").map((s) => s.trim()).filter((s) => s);
    for (const r of only) if (!rules.some((x) => x.name === r)) throw new KilnError("BAD_OPTION", `simplify has no rule ${JSON.stringify(r)} (rules: ${rules.map((x) => x.name).join(", ")})`);
    const fired = simplifyGraph(graph, only.length ? only : undefined);
    return { rewrites: Object.values(fired).reduce((a, b) => a + b, 0), ...fired };
  },
};
