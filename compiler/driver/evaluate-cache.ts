// Constant folding's compiled evaluations kept while a symbolic build runs (compiler/driver/
// evaluate.ts; evaluationCache). It prepares the model at several probe values of its dims
// (compiler/driver/symbolic.ts), and every probe folds the constants that do not depend on the dims again: DeBERTa's
// relative-position embeddings, normalized and projected per layer, compiled and ran a module per
// probe, 1.4 s of a 2.4 s load. Each request is looked up by its node (op, attributes), its inputs'
// types and their bytes (an input another request of the group computes: that one's results): a
// hash finds the candidates, and a hit is taken only when every input byte equals the stored ones
// (no hash is trusted). Results are shared as they are (no step writes into a tensor). Bounded:
// requests whose inputs hold at most 4 MiB, 64 MiB of inputs and outputs held in all, the oldest
// dropped first.
import type { Node, Tensor } from "../ir/graph.js";
import { externalRef, tensorBytes } from "../ir/raw.js";
import { equalBytes, hashBytes } from "../ir/hash.js";
import type { OutputInfo } from "../ops/registry.js";

interface Request {
  node: Node;
  inputs: (Tensor | undefined)[];
  outputs: OutputInfo[];
}

interface Entry {
  inputs: Uint8Array[];
  outputs: Tensor[];
  bytes: number;
}

const MAX_INPUT_BYTES = 4 << 20;
const MAX_HELD_BYTES = 64 << 20;
/** the words of each input a key hashes */
const KEY_SAMPLE = 1024;

const entries = new Map<string, Entry[]>();
let held = 0;
/** symbolic builds running (evaluationCache): the cache lives while one does, and is emptied after */
let builds = 0;

/** `f` with evaluations kept for its duration (a symbolic build's probes), dropped when the last such run ends. */
export async function evaluationCache<T>(f: () => Promise<T>): Promise<T> {
  builds++;
  try {
    return await f();
  } finally {
    if (--builds === 0) {
      entries.clear();
      held = 0;
    }
  }
}

/** A request's key without its inputs' bytes, or undefined when it is not cached (an attribute holding a tensor or a graph, external data). */
function structureKey({ node, outputs }: Request, inputs: readonly (Tensor | undefined)[]): string | undefined {
  if (Object.values(node.attrs).some((a) => a.type === "tensor" || a.type === "graph" || a.type === "unsupported")) return undefined;
  if (inputs.some((t) => t && externalRef(t) !== undefined)) return undefined;
  const attrs = Object.keys(node.attrs).sort().map((k) => [k, node.attrs[k].type, node.attrs[k].value]);
  return JSON.stringify([node.domain, node.op, attrs, node.inputs.map((n) => n !== ""), node.outputs.map((n) => n !== ""),
    inputs.map((t) => (t ? [t.dtype, t.dims] : null)), outputs.map((o) => (o ? [o.dtype, o.shape] : null))]);
}


/**
 * An output as kept: a view into a much larger buffer (one of the outputs a module's memory holds
 * together, evaluate.ts) copied out, so that each entry holds its own bytes, not the whole memory
 * (held once per output, that made a group of 70 small results over a 4.8 MB memory evict itself).
 */
const compact = (t: Tensor): Tensor => (t && t.data.byteLength * 2 < t.data.buffer.byteLength ? { ...t, data: t.data.slice() } : t);

/** what holding t keeps alive: its array's whole buffer */
const tensorHeld = (t: Tensor) => t.data.buffer.byteLength;

/** A request with every input known, as a key and its inputs' bytes; undefined when it is not cached. */
function keyed(r: Request, inputs: readonly (Tensor | undefined)[]): { key: string; bytes: Uint8Array[] } | undefined {
  if (r.node.inputs.some((name, k) => name && !inputs[k])) return undefined;
  const structure = structureKey(r, inputs);
  if (structure === undefined) return undefined;
  const bytes = inputs.filter((t): t is Tensor => t !== undefined).map(tensorBytes);
  if (bytes.reduce((a, b) => a + b.length, 0) > MAX_INPUT_BYTES) return undefined;
  // the hash only finds candidates (a hit compares every byte): a sample of each input's words
  return { key: `${bytes.reduce((h, b) => hashBytes(b, h % 2 ** 31, KEY_SAMPLE), 0)}:${structure}`, bytes };
}

function store(k: { key: string; bytes: Uint8Array[] }, results: Tensor[]): void {
  const outputs = results.map(compact);
  const bytes = k.bytes.reduce((a, b) => a + b.length, 0) + outputs.reduce((a, t) => a + (t ? tensorHeld(t) : 0), 0);
  if (bytes > MAX_HELD_BYTES / 4) return;
  // the inputs' bytes copied: a caller's array (a probe's constants) is not held alive through them
  entries.set(k.key, [...(entries.get(k.key) ?? []), { inputs: k.bytes.map((b) => b.slice()), outputs, bytes }]);
  held += bytes;
  for (const [key, list] of entries) {
    if (held <= MAX_HELD_BYTES) break;
    for (const e of list) held -= e.bytes;
    entries.delete(key);
  }
}

/**
 * `evaluate` of the requests not folded before: each request whose inputs (constants, or outputs
 * of requests found before it) equal an earlier one's in every byte takes that one's results; the
 * rest are evaluated together (`evaluate`, one module), and each kept with its inputs.
 */
export async function cachedEvaluation<R extends Request>(requests: readonly R[], evaluate: (rest: R[]) => Promise<Tensor[][]>): Promise<Tensor[][]> {
  if (builds === 0) return evaluate([...requests]);
  const results: Tensor[][] = new Array(requests.length);
  const known = new Map<string, Tensor>();
  const inputsOf = (r: Request) => r.node.inputs.map((name, k) => r.inputs[k] ?? (name ? known.get(name) : undefined));
  const rest: number[] = [];
  // a miss's key, where its inputs were all known before the evaluation (not hashed again to store it)
  const keys = new Map<number, ReturnType<typeof keyed>>();
  requests.forEach((r, i) => {
    const k = keyed(r, inputsOf(r));
    const hit = k && entries.get(k.key)?.find((e) => e.inputs.every((b, j) => equalBytes(b, k.bytes[j])));
    if (!hit) {
      if (k) keys.set(i, k);
      return rest.push(i);
    }
    results[i] = hit.outputs;
    r.node.outputs.forEach((o, j) => o && known.set(o, hit.outputs[j]));
  });
  if (rest.length === 0) return results;
  const misses = rest.map((i) => ({ ...requests[i], inputs: inputsOf(requests[i]) }));
  const got = await evaluate(misses);
  rest.forEach((i, j) => {
    results[i] = got[j];
    requests[i].node.outputs.forEach((o, n) => o && got[j][n] && known.set(o, got[j][n]));
  });
  for (const i of rest) {
    const k = keys.get(i) ?? keyed(requests[i], inputsOf(requests[i]));
    if (k) store(k, results[i]);
  }
  return results;
}
