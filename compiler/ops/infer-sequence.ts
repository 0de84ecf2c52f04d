// Sequences and optionals, resolved during inference. A sequence value is the list of its
// elements (Value.items), an optional holding nothing is Value.none, and an optional holding a
// value is that value. An op with a compound rule (compiler/ops/sequence.ts, optional.ts,
// Identity) is replaced by what its rule gives: a tensor already in scope, new plain nodes, or a
// sequence. The graph's own inputs and outputs of these types become tensor inputs and outputs,
// and graph.containers records which (the manifest carries it; runtime/containers.ts reads it).
import { KilnError } from "../../runtime/errors.js";
import type { Graph, Node, Value } from "../ir/graph.js";
import { Unroller, type ControlHooks } from "./infer-loop.js";
import type { CompoundRule, Operand, ShapeCtx } from "./registry.js";

/**
 * What a graph input of sequence or optional type holds, fixed at compile time: null for an
 * optional holding nothing, else a sequence's elements' dims (CompileOptions.layouts). An optional
 * tensor that holds a value is a plain input (its dims from `shapes`).
 */
export type InputLayout = null | readonly (readonly number[])[];

export function operandOf(v: Value | undefined, name: string): Operand | undefined {
  if (!name || !v) return undefined;
  if (v.items) return { items: v.items };
  if (v.none) return { none: true };
  return { tensor: { name, dtype: v.dtype!, shape: v.shape as number[], value: v.const } };
}

/** Replace node n by what its compound rule resolves it to. */
export async function inferCompound(graph: Graph, n: Node, rule: CompoundRule, ctx: ShapeCtx, hooks: ControlHooks): Promise<void> {
  const operands = n.inputs.map((name) => operandOf(name ? graph.lookup(name) : undefined, name));
  const build = new Unroller(graph, n, ctx, hooks);
  graph.removeNode(n.name);
  const lookup = (name: string) => {
    const v = graph.lookup(name);
    if (!v?.dtype || !v.shape) throw new KilnError("INTERNAL", `sequence element ${JSON.stringify(name)} has no type`, ctx.context());
    return { dtype: v.dtype, shape: v.shape as number[] };
  };
  const results = await rule({ ctx, operands, build, lookup });
  for (const [k, out] of n.outputs.entries()) {
    if (!out) continue;
    const r = results[k];
    if (!r) ctx.unsupported(`output ${k} (${JSON.stringify(out)}) is not supported`);
    if ("tensor" in r) await build.bind(out, r.tensor);
    else if ("items" in r) graph.value(out).items = [...r.items];
    else graph.value(out).none = true;
  }
}

/**
 * The graph inputs of sequence or optional type as tensor inputs: a sequence `x` of n becomes
 * inputs `x[0]` ... `x[n-1]` (dims from its layout, dtype the declared one), an optional holding
 * nothing no input at all, an optional tensor a plain input under its own name.
 */
export function bindContainerInputs(graph: Graph, layouts: Record<string, InputLayout> = {}): void {
  for (const name of Object.keys(layouts)) {
    if (!graph.values.get(name)?.container || !graph.inputs.includes(name)) {
      throw new KilnError("BAD_INPUT", `layouts names ${JSON.stringify(name)}, which is not a graph input of sequence or optional type`);
    }
  }
  const inputs: string[] = [];
  for (const name of graph.inputs) {
    const v = graph.values.get(name)!;
    const c = v.container;
    if (!c) {
      inputs.push(name);
      continue;
    }
    const layout = layouts[name];
    if (layout === null) {
      if (c.kind !== "optional") throw new KilnError("BAD_INPUT", `input ${JSON.stringify(name)} is a sequence, not an optional: it cannot be absent (feed an empty array for an empty sequence)`);
      v.none = true;
      graph.containers.inputs.push({ name, items: null });
      continue;
    }
    if (c.kind === "optional" && !c.ofSequence) {
      v.dtype = c.dtype; // a present optional tensor: a plain input (shapes binds it)
      inputs.push(name);
      continue;
    }
    if (layout === undefined) {
      throw new KilnError("SHAPE_MISMATCH", `input ${JSON.stringify(name)} is a sequence; kiln compiles for its length and its elements' dims: give them (API: layouts: { ${JSON.stringify(name)}: [[2, 3], [2, 3]] }, or feed it to load())`);
    }
    if (!Array.isArray(layout) || layout.some((d) => !Array.isArray(d) || d.some((x) => !Number.isSafeInteger(x) || x < 0))) {
      throw new KilnError("BAD_INPUT", `layout of ${JSON.stringify(name)} must be a list of dims (one per element), or null for an absent optional`);
    }
    const items = layout.map((dims, k) => {
      const item = fresh(graph, `${name}[${k}]`);
      Object.assign(graph.value(item), { dtype: c.dtype, shape: [...dims] });
      return item;
    });
    v.items = items;
    inputs.push(...items);
    graph.containers.inputs.push({ name, items });
  }
  graph.inputs = inputs;
}

/** The graph outputs that are sequences or empty optionals, as tensor outputs `y[0]` ... (after inference). */
export function flattenContainerOutputs(graph: Graph): void {
  const outputs: string[] = [];
  for (const name of graph.outputs) {
    const v = graph.values.get(name);
    if (v?.none) {
      graph.containers.outputs.push({ name, items: null });
      continue;
    }
    if (!v?.items) {
      outputs.push(name);
      continue;
    }
    // an element may be a graph input, a constant, or in the sequence twice: each gets its own output
    const items = v.items.map((from, k) => {
      const item = fresh(graph, `${name}[${k}]`);
      const src = graph.lookup(from)!;
      Object.assign(graph.value(item), { dtype: src.dtype, shape: [...src.shape!], ...(src.const ? { const: src.const } : {}) });
      if (!src.const) graph.addNode({ name: `${name}/${k}`, op: "Identity", domain: "", inputs: [from], outputs: [item], attrs: {} });
      return item;
    });
    outputs.push(...items);
    graph.containers.outputs.push({ name, items });
  }
  graph.outputs = outputs;
}

function fresh(graph: Graph, base: string): string {
  let name = base;
  for (let k = 1; graph.values.has(name); k++) name = `${base}_${k}`;
  return name;
}
