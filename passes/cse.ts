// cse: merge structurally identical nodes (same op, attributes and inputs) and constants that are
// equal by content (hashed, then compared byte for byte). Impure ops (random numbers) never merge.
import type { Attr, Graph, Node, Tensor } from "../compiler/ir/graph.js";
import { digest } from "../compiler/ir/print.js";
import { hasTrait, opDef } from "../compiler/ops/index.js";
import { sameBytes } from "./rewrite.js";
import { isLazySplat, splatBytes, splatValue } from "../compiler/ir/splat.js";
import { externalRef, tensorBytes } from "../compiler/ir/raw.js";
import { hashBytes } from "../compiler/ir/hash.js";
import { isDeferred } from "../compiler/ir/scaled.js";
import type { Pass } from "./pass.js";

function attrKey(a: Attr): string {
  if (a.type === "tensor") return `tensor:${a.value.dtype}[${a.value.dims}]#${digest(a.value)}`;
  if (a.type === "graph") return `graph:${Math.random()}`; // subgraphs never compare equal
  return `${a.type}:${JSON.stringify(a.value)}`;
}

/**
 * A bucket key for constants: type, dims and a hash of at most SAMPLES evenly spaced words
 * (compiler/ir/hash.ts). Hashing every byte of 100 MB of weights cost most of cse's time; twins are still
 * confirmed byte for byte, and distinct weights differ within the first bytes compared.
 */
const SAMPLES = 4096;
let deferredSerial = 0;
function sampledKey(t: Tensor): string {
  // a splat's key is its one element: its full array is never built for hashing
  if (isLazySplat(t)) return `${t.dtype}[${t.dims.join(",")}]=splat${splatBytes(splatValue(t)!).join(".")}`;
  // a deferred constant (a scaled or transposed weight) is not computed for hashing: it merges with nothing
  if (isDeferred(t)) return `${t.dtype}[${t.dims.join(",")}]@deferred${deferredSerial++}`;
  // a tensor left in its external data file is not read for hashing: its place in the file names it
  const ref = externalRef(t);
  if (ref !== undefined) return `${t.dtype}[${t.dims.join(",")}]@${ref}`;
  let key = sampledKeys.get(t);
  if (key === undefined) {
    key = `${t.dtype}[${t.dims.join(",")}]#${hashBytes(tensorBytes(t), 0, SAMPLES).toString(16)}`;
    sampledKeys.set(t, key);
  }
  return key;
}

/**
 * sampledKey's hashes by tensor: the probes of a symbolic build share the model's tensors with
 * the graph compiled (Graph.copy), and 4,096 bytes sampled across each of MiniLM's weights are as
 * many cache misses (5 ms a run). No step writes into a tensor (a rewrite makes a new one), and a
 * key only buckets: twins are still compared byte for byte.
 */
const sampledKeys = new WeakMap<Tensor, string>();

export function mergeConstants(graph: Graph): number {
  const seen = new Map<string, string[]>();
  const outputs = new Set(graph.outputs);
  const renames = new Map<string, string>();
  for (const v of graph.liveConstants()) {
    if (graph.producer(v.name) || outputs.has(v.name)) continue;
    const key = sampledKey(v.const!);
    const same = seen.get(key);
    const twin = same?.find((n) => sameBytes(graph.values.get(n)!.const!, v.const!));
    if (twin) renames.set(v.name, twin);
    else if (same) same.push(v.name);
    else seen.set(key, [v.name]);
  }
  graph.replaceUses(renames);
  graph.pruneValues();
  return renames.size;
}

/**
 * One pass in topological order, a hash map from each node's key (op, attributes, inputs after
 * the merges so far) to the first node with that key: linear in the graph, where comparing nodes
 * pairwise or rewiring readers once per merge was quadratic (10,000 Adds into one Sum: 109 s).
 * Readers are rewired once at the end, to the surviving nodes' outputs.
 */
export function mergeNodes(graph: Graph): number {
  const seen = new Map<string, Node>();
  const outputs = new Set(graph.outputs);
  /** output of a merged node -> the same output of the node it merged into */
  const renames = new Map<string, string>();
  const merged: Node[] = [];
  for (const n of graph.topoOrder()) {
    // a node owning a data-dependent dim stays its own: its layer writes that dim
    if (!opDef(n.domain, n.op) || hasTrait(n, "impure") || graph.dataDims?.has(n.name)) continue;
    const attrs = Object.keys(n.attrs).sort().map((k) => `${k}=${attrKey(n.attrs[k])}`).join(";");
    const inputs = JSON.stringify(n.inputs.map((i) => renames.get(i) ?? i));
    // nodes of different If branches (guards, see compiler/ir/subgraph.ts) never merge: one runs without the other
    const guard = n.meta?.guard ? `@${JSON.stringify(n.meta.guard)}` : "";
    const key = `${n.domain}::${n.op}${inputs}[${attrs}]/${n.outputs.length}${guard}`;
    const prev = seen.get(key);
    if (prev === undefined) {
      seen.set(key, n);
      continue;
    }
    // graph output names are the model's interface: a node producing one is never folded away;
    // and every used output of the later node needs a counterpart in the earlier one
    const ok = n.outputs.every((o, k) => !o || (!outputs.has(o) && (prev.outputs[k] || graph.consumerCount(o) === 0)));
    if (!ok) continue;
    n.outputs.forEach((o, k) => {
      if (o && prev.outputs[k]) renames.set(o, prev.outputs[k]);
    });
    merged.push(n);
  }
  graph.replaceUses(renames);
  for (const n of merged) graph.removeNode(n.name);
  graph.pruneValues();
  return merged.length;
}

export const cse: Pass = {
  name: "cse",
  description: "merges identical nodes and constants equal by content",
  run(graph) {
    return { constantsMerged: mergeConstants(graph), nodesMerged: mergeNodes(graph) };
  },
};
