// Inference into If's branches. A condition known at compile time (a constant, or a shape test
// such as Equal(Gather(Shape(x), 0), 1) that inference folded) replaces the If by the branch it
// takes, inferred and inlined; the other branch is never looked at, as onnxruntime never runs it.
// Otherwise both branches are inferred and must agree on every output's dtype and static shape.
import { sizeOf } from "../../runtime/dtypes.js";
import { KilnError } from "../../runtime/errors.js";
import { isCompound, type Dim, type FoldStep, type Graph, type Node, type Tensor } from "../ir/graph.js";
import { inlineSubgraph, inputsBehind } from "../ir/subgraph.js";
import type { ShapeCtx } from "./registry.js";
import { inferLoop, inferScan, type ControlHooks } from "./infer-loop.js";

/**
 * Records on the outermost graph (Graph.foldedIfs) the constants the condition of `n`, an If about
 * to be folded, was computed from: its own value and, back through Graph.foldedFrom, every folded
 * value behind it (a Shape's dims, a Gather's index). Under bounded dims the probes compare them:
 * the branch taken at every probe is not the one every value takes when they differ.
 */
function recordFold(graph: Graph, n: Node, taken: "then_branch" | "else_branch"): void {
  const cone: Tensor[] = [];
  const tree = new Map<string, FoldStep>();
  const stack = [n.inputs[0]];
  while (stack.length) {
    const v = stack.pop()!;
    if (tree.has(v)) continue;
    const val = graph.lookup(v);
    const c = val?.const ?? val?.known;
    if (c) cone.push(c);
    const step: FoldStep = { from: [], bool: val?.dtype === "bool", ...(c && smallInts(c) ? { ints: smallInts(c) } : {}) };
    tree.set(v, step);
    for (let g: Graph | undefined = graph; g; g = g.outer) {
      // a value kept for run time (symbolic dims: known, not folded): its node stays, read through it
      const p = !val?.const && val?.known ? g.producer(v) : undefined;
      const from = g.foldedFrom?.get(v) ?? p?.inputs.filter((i) => i);
      if (from) { step.from = from; stack.push(...from); break; }
    }
  }
  let root = graph;
  while (root.outer) root = root.outer;
  (root.foldedIfs ??= new Map()).set(n.name, { cone, taken, cond: n.inputs[0], tree });
}

/** a tensor's elements when it is a small integer tensor (a dim, a length: at most 16 elements) */
function smallInts(t: Tensor): number[] | undefined {
  if (!/^u?int(8|16|32|64)$/.test(t.dtype) || t.data.length > 16) return undefined;
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

/** Inference for the ops with subgraphs (trait "subgraphs"), by op. */
export async function inferControl(graph: Graph, n: Node, ctx: ShapeCtx, hooks: ControlHooks): Promise<void> {
  const infer = CONTROL[n.op];
  if (!infer) ctx.unsupported(`kiln does not infer into ${n.op}'s subgraphs`);
  return infer(graph, n, ctx, hooks);
}

async function inferIf(graph: Graph, n: Node, ctx: ShapeCtx, { inferBody }: ControlHooks): Promise<void> {
  const cond = ctx.input(0);
  if (cond.dtype !== "bool" || sizeOf(cond.shape) !== 1) ctx.invalid(`the condition must be one bool, got ${cond.dtype}${describeShape(cond.shape)}`);
  const branch = (name: string): Graph => {
    const a = n.attrs[name];
    if (a?.type !== "graph") ctx.invalid(`attribute ${name} must be a graph`);
    if (a.value.inputs.length) ctx.invalid(`${name} takes no inputs, it has ${a.value.inputs.length}`);
    if (a.value.outputs.length !== n.outputs.length) ctx.invalid(`${name} has ${a.value.outputs.length} outputs, the node ${n.outputs.length}`);
    return a.value;
  };
  const thenB = branch("then_branch"), elseB = branch("else_branch");
  if (cond.value) {
    recordFold(graph, n, cond.value.data[0] ? "then_branch" : "else_branch");
    const taken = cond.value.data[0] ? thenB : elseB;
    await inferBody(taken);
    graph.removeNode(n.name);
    const outs = inlineSubgraph(graph, taken, `${n.name}/`);
    outs.forEach((from, k) => bindOutput(graph, n, n.outputs[k], from));
    return;
  }
  // both branches run at these shapes, or the model must say which one it takes: freezing the graph
  // inputs the condition depends on (load() does it at the first run, from the fed values) folds it
  const needsValue = inputsBehind(graph, n.inputs[0]);
  const freeze = needsValue.length ? `freeze ${needsValue.map((x) => JSON.stringify(x)).join(", ")} (the inputs the condition depends on) to compile the branch it takes` : "the condition depends on no graph input kiln can freeze";
  const refuse = (why: string): never => {
    throw new KilnError("UNSUPPORTED_OP", `the condition is known only at run time, so both branches are compiled, but ${why}; ${freeze}`, { ...ctx.context(), needsValue });
  };
  for (const [name, body] of [["then_branch", thenB], ["else_branch", elseB]] as const) {
    try {
      await inferBody(body);
    } catch (e) {
      if (!(e instanceof KilnError) || e.code === "INTERNAL") throw e;
      refuse(`${name} cannot run at these shapes (${e.message.replace(/^[A-Z_]+: /, "")})`);
    }
  }
  n.outputs.forEach((name, k) => {
    if (!name) return;
    const t = thenB.lookup(thenB.outputs[k])!, e = elseB.lookup(elseB.outputs[k])!;
    if (isCompound(t) || isCompound(e)) refuse(`output ${k} is a sequence or optional, which kiln resolves at compile time`);
    const same = t.dtype === e.dtype && t.shape?.length === e.shape?.length && t.shape!.every((d, i) => d === e.shape![i]);
    if (!same) {
      refuse(`output ${k} is ${t.dtype}${describeShape(t.shape)} from then_branch and ${e.dtype}${describeShape(e.shape)} from else_branch, and kiln compiles static shapes`);
    }
    const v = graph.value(name);
    v.dtype = t.dtype;
    v.shape = [...t.shape!];
  });
}

/** The If's output `out` is the branch's value `from`: an Identity, or the constant itself. */
function bindOutput(graph: Graph, n: Node, out: string, from: string): void {
  if (!out) return;
  const src = graph.lookup(from)!;
  const v = graph.value(out);
  if (isCompound(src)) {
    // a sequence or empty optional: the same elements, resolved at compile time (infer-sequence.ts)
    v.items = src.items;
    v.none = src.none;
    return;
  }
  v.dtype = src.dtype;
  v.shape = src.shape ? [...src.shape] : undefined;
  if (src.const) {
    v.const = src.const;
    return;
  }
  graph.addNode({ name: `${n.name}/${out}`, op: "Identity", domain: "", inputs: [from], outputs: [out], attrs: {} });
}

const describeShape = (shape: readonly Dim[] | undefined) => (shape ? `[${shape.join(",")}]` : "[?]");

const CONTROL: Record<string, (graph: Graph, n: Node, ctx: ShapeCtx, hooks: ControlHooks) => Promise<void>> = { If: inferIf, Loop: inferLoop, Scan: inferScan };
