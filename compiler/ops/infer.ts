// Bind dynamic dims, then infer every value's dtype and shape in topological order. Nodes whose
// inputs are all known at compile time are evaluated (through the same kernels the model runs),
// so shape subgraphs such as Shape -> Gather -> Concat -> Reshape resolve to constants.
import { sizeOf } from "../../runtime/dtypes.js";
import { KilnError, listed, type KilnErrorContext } from "../../runtime/errors.js";
import { isCompound, type Dim, type Graph, type Node, type Tensor } from "../ir/graph.js";
import { inferControl } from "./infer-control.js";
import type { ControlHooks } from "./infer-loop.js";
import { bindContainerInputs, flattenContainerOutputs, inferCompound, type InputLayout } from "./infer-sequence.js";
import { inputsBehind } from "../ir/subgraph.js";
import { ShapeCtx, takesDType, type DataDims, type InputInfo, type OutputInfo } from "./registry.js";
import { allOps, hasTrait, opDef } from "./index.js";

/** Computes a node's outputs from constant inputs (see compiler/driver/evaluate.ts). */
export type Evaluator = (graph: Graph, node: Node, inputs: (Tensor | undefined)[], outputs: OutputInfo[]) => Promise<Tensor[]>;

export interface InferOptions {
  /** user-given input shapes, by input name */
  shapes?: Record<string, readonly number[]>;
  /** what the sequence and optional inputs hold (infer-sequence.ts InputLayout), by input name */
  layouts?: Record<string, InputLayout>;
  evaluate?: Evaluator;
  /** evaluate constant nodes whose outputs have at most this many elements in all (default: no limit) */
  foldLimit?: number;
  /** the data-dependent dims' values, or where to record them (registry.ts DataDims) */
  dataDims?: DataDims;
}

export function describeShape(shape: readonly Dim[] | undefined): string {
  return shape ? `[${shape.join(",")}]` : "[?]";
}

/** Give every graph input concrete dims, from user shapes and the model's own static dims. */
export function bindInputShapes(graph: Graph, shapes: Record<string, readonly number[]> = {}): void {
  for (const name of Object.keys(shapes)) {
    if (!graph.inputs.includes(name) && !graph.frozenInputs.some((f) => f.name === name)) {
      throw new KilnError("BAD_INPUT", `--shape names ${JSON.stringify(name)}, which is not a graph input; inputs are ${listed(graph.inputs.map((i) => JSON.stringify(i)))}`);
    }
  }
  const symbols = new Map<string, number>();
  for (const name of graph.inputs) {
    const v = graph.values.get(name)!;
    if (v.unsupportedType) continue;
    const given = shapes[name];
    if (given) {
      if (given.some((d) => !Number.isInteger(d) || d < 0)) {
        throw new KilnError("BAD_INPUT", `shape for ${JSON.stringify(name)} must be non-negative integers, got [${given.join(",")}]`);
      }
      if (v.shape && v.shape.length !== given.length) {
        throw new KilnError("SHAPE_MISMATCH", `input ${JSON.stringify(name)} is declared ${describeShape(v.shape)} (rank ${v.shape.length}) but was given [${given.join(",")}]`);
      }
      (v.shape ?? given).forEach((d, k) => {
        if (typeof d === "number" && d !== given[k]) {
          throw new KilnError("SHAPE_MISMATCH", `input ${JSON.stringify(name)} is declared ${describeShape(v.shape)}; dim ${k} is fixed at ${d} but was given ${given[k]}`);
        }
        if (typeof d === "string") {
          const prev = symbols.get(d);
          if (prev !== undefined && prev !== given[k]) {
            throw new KilnError("SHAPE_MISMATCH", `dim ${JSON.stringify(d)} is bound to ${prev} by one input and to ${given[k]} by ${JSON.stringify(name)}`);
          }
          symbols.set(d, given[k]);
        }
      });
      v.shape = [...given];
    }
  }
  for (const name of graph.inputs) {
    const v = graph.values.get(name)!;
    if (v.unsupportedType) continue;
    if (!v.shape) {
      throw new KilnError("SHAPE_MISMATCH", `input ${JSON.stringify(name)} has no declared shape; give one with --shape ${name}=AxB (API: shapes: { ${JSON.stringify(name)}: [A, B] })`);
    }
    v.shape = v.shape.map((d) => (typeof d === "number" ? d : symbols.get(d) ?? d));
    const free = v.shape.filter((d) => typeof d !== "number");
    if (free.length) {
      throw new KilnError("SHAPE_MISMATCH", `input ${JSON.stringify(name)} has dynamic dims ${describeShape(v.shape)}; bind them with --shape ${name}=${v.shape.map((d) => (typeof d === "number" ? d : "N")).join("x")} (API: shapes)`);
    }
    if (!v.dtype) throw new KilnError("INVALID_MODEL", `input ${JSON.stringify(name)} has no element type`);
  }
}

/** The inputs' dims are all bound (nothing left to ask the user for). */
export function unboundInputs(graph: Graph, shapes: Record<string, readonly number[]> = {}): string[] {
  return graph.inputs.filter((name) => {
    const v = graph.values.get(name)!;
    return !shapes[name] && (!v.shape || v.shape.some((d) => typeof d !== "number"));
  });
}

export async function inferShapes(graph: Graph, options: InferOptions = {}): Promise<void> {
  bindContainerInputs(graph, options.layouts);
  bindInputShapes(graph, options.shapes);
  await inferNodes(graph, options);
  flattenContainerOutputs(graph);
}

/** Infer every node of a graph (or a subgraph, whose captured values its enclosing scopes typed). */
export async function inferNodes(graph: Graph, options: InferOptions = {}): Promise<void> {
  for (const n of graph.topoOrder()) {
    await inferNode(graph, n, options);
    // a node whose every output is now known has no work left: its values stand as constants
    // (an If folded to its branch is gone already)
    if (graph.g.hasNode(n.name) && n.outputs.every((o) => !o || graph.values.get(o)?.const)) removeFolded(graph, n);
  }
}

/** Removes a node whose outputs are all constants now, keeping what it read (Graph.foldedFrom). */
function removeFolded(graph: Graph, n: Node): void {
  const trail = (graph.foldedFrom ??= new Map());
  for (const o of n.outputs) if (o) trail.set(o, n.inputs.filter((i) => i));
  graph.removeNode(n.name);
}

export async function inferNode(graph: Graph, n: Node, options: InferOptions = {}): Promise<void> {
  const opset = graph.opset(n.domain);
  const context = { node: n.name, op: n.op, domain: n.domain, opset: graph.modelOpset(n.domain) };
  const entry = opDef(n.domain, n.op);
  if (!entry) {
    throw new KilnError("UNSUPPORTED_OP", `operator ${n.domain ? n.domain + "." : ""}${n.op} is not supported by kiln`, context);
  }
  if (n.domain && !graph.opsets.has(n.domain)) {
    throw new KilnError("INVALID_MODEL", `domain ${JSON.stringify(n.domain)} has no opset import`, context);
  }
  const bounds = entry.arity;
  const given = n.inputs.length;
  if (bounds && (given < bounds[0] || given > bounds[1])) {
    const want = bounds[0] === bounds[1] ? `${bounds[0]}` : bounds[1] === Infinity ? `at least ${bounds[0]}` : `${bounds[0]} to ${bounds[1]}`;
    throw new KilnError("INVALID_MODEL", `${n.op} takes ${want} inputs, this node has ${given}`, context);
  }
  // optional inputs come last in every operator: the first `min` are required
  const missing = bounds ? n.inputs.slice(0, bounds[0]).findIndex((i) => !i) : -1;
  if (missing >= 0) throw new KilnError("INVALID_MODEL", `${n.op} input ${missing} is required but absent`, context);
  // sequences and empty optionals: resolved by the op's compound rule; a Loop or If carries them by name
  const compound = n.inputs.some((name) => name && isCompound(graph.lookup(name)));
  if (compound && !entry.compound && !hasTrait(n, "subgraphs")) {
    const which = n.inputs.find((name) => name && isCompound(graph.lookup(name)))!;
    throw new KilnError("UNSUPPORTED_OP", `input ${JSON.stringify(which)} is a ${graph.lookup(which)!.none ? "optional holding nothing" : "sequence"}, which ${n.op} does not take`, context);
  }
  const inputs: (InputInfo | undefined)[] = n.inputs.map((name) => {
    if (!name) return undefined;
    const v = graph.lookup(name) ?? { name };
    if (isCompound(v)) return undefined;
    if (v.unsupportedType) {
      throw new KilnError("UNSUPPORTED_OP", `input ${JSON.stringify(name)} has type ${v.unsupportedType}, which kiln does not support`, context);
    }
    if (!v.dtype || !v.shape) throw new KilnError("INVALID_MODEL", `input ${JSON.stringify(name)} has no type (is it produced by anything?)`, context);
    return { name, dtype: v.dtype, shape: v.shape as number[], value: v.const ?? v.known };
  });
  const kept = graph.runtimeNodes?.has(n.name) ?? false;
  const ctx = new ShapeCtx(n, opset, inputs);
  ctx.shownOpset = graph.modelOpset(n.domain);
  ctx.dataDims = options.dataDims ?? (graph.dataDims && { values: graph.dataDims });
  // ops resolved here add plain nodes in their place, inferred (and folded) as they are added; an
  // added node that is itself resolved (an Identity of a sequence) is gone already
  const hooks: ControlHooks = {
    inferBody: (body) => inferNodes(body, options),
    inferAdded: async (added) => {
      await inferNode(graph, added, options);
      if (graph.g.hasNode(added.name) && added.outputs.every((o) => !o || graph.values.get(o)?.const)) removeFolded(graph, added);
    },
  };
  const resolve = entry.compound && (compound || hasTrait(n, "compile-time-only")) ? entry.compound : undefined;
  if (resolve || hasTrait(n, "subgraphs")) {
    try {
      return await (resolve ? inferCompound(graph, n, resolve, ctx, hooks) : inferControl(graph, n, ctx, hooks));
    } catch (e) {
      throw e instanceof KilnError ? withFreezableInputs(graph, n, e) : e;
    }
  }
  let outs: OutputInfo[];
  try {
    outs = entry.shape(ctx);
  } catch (e) {
    if (e instanceof KilnError) throw withFreezableInputs(graph, n, withNode(e, context, ctx.shapes()));
    throw new KilnError("INTERNAL", `shape inference failed: ${(e as Error).message}`, { ...context, shapes: `inputs ${ctx.shapes()}` });
  }
  const lowBit = [...inputs.map((x) => x?.dtype), ...outs.map((o) => o?.dtype)].find((dt) => dt && !takesDType(entry, dt));
  if (lowBit) {
    const takers = allOps().filter((d) => d.traits.has("low-bit") && !d.traits.has("compile-time-only")).map((d) => d.name);
    ctx.unsupported(`${n.op} does not take ${lowBit} tensors in kiln; ${lowBit} runs through ${takers.join(", ")}${lowBit === "bfloat16" ? ", the float elementwise ops" : ""} and reshapes`);
  }
  n.outputs.forEach((name, k) => {
    if (!name) return;
    const o = outs[k];
    if (!o) ctx.unsupported(`output ${k} (${JSON.stringify(name)}) is not supported`);
    const v = graph.value(name);
    if (v.unsupportedType) ctx.unsupported(`output ${JSON.stringify(name)} has type ${v.unsupportedType}, which kiln does not support`);
    v.dtype = o.dtype;
    v.shape = [...o.shape];
    if (o.value) v[kept ? "known" : "const"] = o.value;
  });
  // a node kept for run time is evaluated for the shape rules after it (inputs known or constant)
  const allConst = inputs.every((x, k) => !x || (kept ? x.value : graph.lookup(n.inputs[k])?.const));
  const needsRun = n.outputs.some((o) => o && !graph.values.get(o)![kept ? "known" : "const"]);
  // a constant DequantizeLinear stays: passes/fuse-qdq.ts reads its 8-bit input (fold-constants folds the rest)
  if (!needsRun || !allConst || hasTrait(n, "impure") || ctx.ownsDataDim || hasTrait(n, "dequantize") || !options.evaluate) return;
  const outElems = outs.reduce((a, o) => a + sizeOf(o.shape), 0);
  if (outElems > (options.foldLimit ?? Infinity)) return;
  const values = await options.evaluate(graph, n, inputs.map((x) => x?.value), outs);
  n.outputs.forEach((name, k) => {
    if (name) graph.values.get(name)![kept ? "known" : "const"] = values[k];
  });
}

/** A shape rule's error without a node (shared geometry helpers throw those) named with the node and its input shapes. */
function withNode(e: KilnError, context: KilnErrorContext, shapes: string): KilnError {
  if (e.context.node !== undefined || e.context.op !== undefined) return e;
  const named = new KilnError(e.code, e.message.slice(e.code.length + 2), { ...e.context, ...context, shapes: `inputs ${shapes}` });
  named.stack = e.stack;
  return named;
}

/**
 * An unsupported node that reads run-time graph inputs of integer type (axes, shapes, pads,
 * repeats, ...) may compile once those are frozen to values: say which, so callers that know
 * the values (the JIT at first run, the test runner) can retry.
 */
function withFreezableInputs(graph: Graph, n: Node, e: KilnError): KilnError {
  // an empty needsValue: the refusal is not about values (a type kiln does not compute)
  if (e.code !== "UNSUPPORTED_OP" || e.context.needsValue?.length === 0) return e;
  const isFreezable = (name: string) => graph.inputs.includes(name) && !graph.values.get(name)?.const;
  // a value computed from graph inputs (a branch's shape from the model's `size` input) names them
  let top = graph;
  while (top.outer) top = top.outer;
  // small inputs only (scalars, shapes, bounds): a big data tensor frozen would compile per value
  const small = (name: string) => sizeOf((top.values.get(name)?.shape ?? [Infinity]) as number[]) <= 64;
  const named = (e.context.needsValue ?? []).flatMap((v) => (isFreezable(v) ? [v] : inputsBehind(graph, v).filter(small)));
  const ints = n.inputs.filter((i) => i && isFreezable(i) && ["int64", "int32"].includes(graph.values.get(i)?.dtype ?? ""));
  const needsValue = [...new Set([...named, ...ints])];
  if (needsValue.length === 0) return e;
  const copy = new KilnError(e.code, e.message.replace(/^UNSUPPORTED_OP: /, "").replace(/ \[node .*$/s, ""), { ...e.context, needsValue });
  copy.stack = e.stack;
  return copy;
}
