// cse: merge structurally identical nodes (same op, attributes and inputs) and constants that are
// equal by content (hashed, then compared byte for byte). Impure ops (random numbers) never merge.
import type { Attr, Graph, Tensor } from "../compiler/ir/graph.js";
import { digest } from "../compiler/ir/print.js";
import { hasTrait, opDef } from "../compiler/ops/index.js";
import { sameBytes } from "./rewrite.js";
import { isLazySplat, splatBytes, splatValue } from "../compiler/ir/splat.js";
import { tensorBytes } from "../compiler/ir/raw.js";
import { isDeferred } from "../compiler/ir/scaled.js";
import type { Pass } from "./pass.js";

function attrKey(a: Attr): string {
  if (a.type === "tensor") return `tensor:${a.value.dtype}[${a.value.dims}]#${digest(a.value)}`;
  if (a.type === "graph") return `graph:${Math.random()}`; // subgraphs never compare equal
  return `${a.type}:${JSON.stringify(a.value)}`;
}

/**
 * A bucket key for constants: type, dims and an FNV-1a hash of at most SAMPLES evenly spaced
 * bytes. Hashing every byte of 100 MB of weights cost most of cse's time; twins are still
 * confirmed byte for byte, and distinct weights differ within the first bytes compared.
 */
const SAMPLES = 4096;
let deferredSerial = 0;
function sampledKey(t: Tensor): string {
  // a splat's key is its one element: its full array is never built for hashing
  if (isLazySplat(t)) return `${t.dtype}[${t.dims.join(",")}]=splat${splatBytes(splatValue(t)!).join(".")}`;
  // a deferred constant (a scaled or transposed weight) is not computed for hashing: it merges with nothing
  if (isDeferred(t)) return `${t.dtype}[${t.dims.join(",")}]@deferred${deferredSerial++}`;
  const b = tensorBytes(t);
  const step = Math.max(1, Math.floor(b.length / SAMPLES));
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i += step) h = Math.imul(h ^ b[i], 0x01000193);
  return `${t.dtype}[${t.dims.join(",")}]#${(h >>> 0).toString(16)}`;
}

export function mergeConstants(graph: Graph): number {
  const seen = new Map<string, string[]>();
  let merged = 0;
  for (const v of graph.liveConstants()) {
    if (graph.producer(v.name) || graph.outputs.includes(v.name)) continue;
    const key = sampledKey(v.const!);
    const same = seen.get(key) ?? [];
    const twin = same.find((n) => sameBytes(graph.values.get(n)!.const!, v.const!));
    if (twin) {
      graph.replaceAllUses(v.name, twin);
      merged++;
    } else {
      seen.set(key, [...same, v.name]);
    }
  }
  graph.pruneValues();
  return merged;
}

export function mergeNodes(graph: Graph): number {
  const seen = new Map<string, string>();
  let merged = 0;
  for (const n of graph.topoOrder()) {
    if (!graph.g.hasNode(n.name)) continue;
    if (!opDef(n.domain, n.op) || hasTrait(n, "impure")) continue;
    const attrs = Object.keys(n.attrs).sort().map((k) => `${k}=${attrKey(n.attrs[k])}`).join(";");
    // nodes of different If branches (guards, see compiler/ir/subgraph.ts) never merge: one runs without the other
    const key = `${n.domain}::${n.op}(${n.inputs.join(",")})[${attrs}]/${n.outputs.length}${n.meta?.guard ? `@${n.meta.guard}` : ""}`;
    const prevName = seen.get(key);
    if (prevName === undefined || !graph.g.hasNode(prevName)) {
      seen.set(key, n.name);
      continue;
    }
    const prev = graph.node(prevName);
    // graph output names are the model's interface: a node producing one is never folded away;
    // and every used output of the later node needs a counterpart in the earlier one
    const ok = n.outputs.every((o, k) => !o || (!graph.outputs.includes(o) && (prev.outputs[k] || graph.consumers(o).length === 0)));
    if (!ok) continue;
    n.outputs.forEach((o, k) => {
      if (o && prev.outputs[k]) graph.replaceAllUses(o, prev.outputs[k]);
    });
    if (n.outputs.every((o) => !o || (graph.consumers(o).length === 0 && !graph.outputs.includes(o)))) {
      graph.removeNode(n.name);
      merged++;
    }
  }
  graph.pruneValues();
  return merged;
}

export const cse: Pass = {
  name: "cse",
  description: "merges identical nodes and constants equal by content",
  run(graph) {
    return { constantsMerged: mergeConstants(graph), nodesMerged: mergeNodes(graph) };
  },
};
