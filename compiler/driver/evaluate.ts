// Evaluate nodes on constant inputs by compiling them with the model's own kernels and running
// them: constant folding has no second implementation of an operator to drift (the one exception,
// compiler/driver/evaluate-exact.ts, is arithmetic IEEE 754 rounds exactly, where JavaScript gives the
// kernels' bits by construction).
//
// Compiling a wasm module costs milliseconds however small it is, so requests that arrive in the
// same tick share ONE module (fold-constants asks for a whole region at once; a request may read
// another's output, given as an undefined input). The constant inputs are not baked into data segments: they are written into the
// instance's memory after instantiation, so binaryen and WebAssembly.compile never see them.
// Splat constants (ConstantOfShape weights, and arithmetic over them) are evaluated on their one
// value first (compiler/driver/evaluate-splat.ts): millions of equal elements are never computed. A large
// constant times a vector along one axis (BatchNormalization folded into weights) is kept as its
// factors until the weights image is written (compiler/driver/evaluate-scaled.ts). Small arithmetic that
// IEEE rounds exactly (BatchNormalization's parameters) is computed in JavaScript with the same
// results, no module compiled (compiler/driver/evaluate-exact.ts). A group folded before in this
// process (another probe of a symbolic build) takes the earlier results (compiler/driver/evaluate-cache.ts).
import { createSession } from "../../runtime/session.js";
import { KilnError } from "../../runtime/errors.js";
import { Graph, type Node, type Tensor } from "../ir/graph.js";
import type { OutputInfo } from "../ops/registry.js";
import { compileGenerated, generate } from "../../codegen/module.js";
import { evaluateWithSplats } from "./evaluate-splat.js";
import { evaluateWithScaling } from "./evaluate-scaled.js";
import { evaluateExact } from "./evaluate-exact.js";
import { cachedEvaluation } from "./evaluate-cache.js";

interface Request {
  graph: Graph;
  node: Node;
  inputs: (Tensor | undefined)[];
  outputs: OutputInfo[];
  resolve(t: Tensor[]): void;
  reject(e: unknown): void;
}

let pending: Request[] = [];

export function evaluateNode(graph: Graph, node: Node, inputs: (Tensor | undefined)[], outputs: OutputInfo[]): Promise<Tensor[]> {
  return new Promise((resolve, reject) => {
    if (pending.length === 0) queueMicrotask(flush);
    pending.push({ graph, node, inputs, outputs, resolve, reject });
  });
}

function flush(): void {
  const batch = pending;
  pending = [];
  const byGraph = new Map<Graph, Request[]>();
  for (const r of batch) byGraph.set(r.graph, [...(byGraph.get(r.graph) ?? []), r]);
  for (const group of byGraph.values()) void runGroup(group);
}

async function runGroup(group: Request[]): Promise<void> {
  if (group.length > 1) {
    try {
      const results = await evaluateWithSplats(group, evaluateScaledOrNodes);
      group.forEach((r, k) => r.resolve(results[k]));
      return;
    } catch {
      // one node's failure must reach that node's caller with its own error: retry alone
    }
  }
  for (const r of group) {
    try {
      r.resolve((await evaluateWithSplats([r], evaluateScaledOrNodes))[0]);
    } catch (e) {
      r.reject(e);
    }
  }
}

const evaluateScaledOrNodes = (requests: Omit<Request, "resolve" | "reject">[]) =>
  evaluateWithScaling(requests, (rest) => evaluateExact(rest, (modules) => cachedEvaluation(modules, evaluateNodes)));

/** Compile the given nodes into one module and run it: every input is a constant or another request's output. */
export async function evaluateNodes(requests: Omit<Request, "resolve" | "reject">[]): Promise<Tensor[][]> {
  const g = new Graph();
  g.opsets = new Map(requests[0].graph.opsets);
  for (const { node, inputs, outputs } of requests) {
    node.inputs.forEach((name, k) => {
      const t = inputs[k];
      if (!name || !t) return;
      const v = g.value(name);
      v.const = t;
      v.dtype = t.dtype;
      v.shape = [...t.dims];
    });
    g.addNode({ ...node, inputs: [...node.inputs], outputs: [...node.outputs], attrs: node.attrs });
    node.outputs.forEach((name, k) => {
      if (!name) return;
      const v = g.value(name);
      v.dtype = outputs[k].dtype;
      v.shape = [...outputs[k].shape];
    });
  }
  g.outputs = [...new Set(requests.flatMap((r) => r.node.outputs.filter((o) => o)))];
  const { wasm, weights } = generate(g, { weights: "external", validate: false, inPlaceConstants: true, mergeFunctions: false });
  const session = await createSession(await compileGenerated(wasm), { weights });
  let result: Record<string, Tensor>;
  try {
    result = session.runInPlace({});
  } catch (e) {
    // an index out of range among constants: the model's own values, not a caller's feed
    if (e instanceof KilnError && e.code === "BAD_INPUT") throw new KilnError("INVALID_MODEL", `${e.message.replace(/^BAD_INPUT: | \[node .*$/g, "")}, in values computed at compile time`, e.context);
    throw e;
  }
  // When the outputs fill a good part of the memory they stay views into it (no copy; the memory
  // is never grown nor run again); else they are copied, so they do not pin a memory much larger.
  const outBytes = Object.values(result).reduce((a, t) => a + t.data.byteLength, 0);
  const keepViews = outBytes >= session.manifest.memory.bytes / 4;
  return requests.map(({ node }) => node.outputs.map((name) => {
    if (!name) return undefined;
    const t = result[name];
    if (!t) throw new KilnError("INTERNAL", `evaluating ${node.op} gave no value for ${JSON.stringify(name)}`);
    return keepViews ? t : { ...t, data: t.data.slice() };
  }) as Tensor[]);
}
