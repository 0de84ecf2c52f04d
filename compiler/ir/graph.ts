// The IR: a graph of operator nodes connected by named, typed values. Adjacency lives in a
// graphology DirectedGraph (edge producer -> consumer); values and their types live beside it.
import Graphology from "graphology";
import type { DTypeName, TypedArray } from "../../runtime/dtypes.js";
import { KilnError } from "../../runtime/errors.js";

const { DirectedGraph } = Graphology as unknown as { DirectedGraph: typeof import("graphology").DirectedGraph };

/** A dimension: a number once bound, a symbol (e.g. "N") until then. */
export type Dim = number | string;

export interface Tensor {
  dtype: DTypeName;
  dims: number[];
  data: TypedArray;
}

export type Attr =
  | { type: "int"; value: number }
  | { type: "float"; value: number }
  | { type: "string"; value: string }
  | { type: "ints"; value: number[] }
  | { type: "floats"; value: number[] }
  | { type: "strings"; value: string[] }
  | { type: "tensor"; value: Tensor }
  | { type: "graph"; value: unknown }
  | { type: "unsupported"; value: string };

export interface Value {
  name: string;
  /** undefined until inferred; `unsupported` holds the ONNX type name kiln cannot handle */
  dtype?: DTypeName;
  unsupportedType?: string;
  shape?: Dim[];
  /** compile-time value (initializer, Constant, or folded) */
  const?: Tensor;
}

export interface Node {
  name: string;
  op: string;
  domain: string;
  /** "" marks an absent optional input */
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
  /** for fused nodes and diagnostics: free-form annotations printed with the node */
  meta?: Record<string, string>;
  /**
   * A fused node (domain "kiln.fused") keeps the nodes it replaced, in execution order: its
   * semantics, the kernel's recipe, and the body of the ONNX function it exports as.
   */
  body?: Node[];
}

/** The domain of fused nodes. */
export const FUSED_DOMAIN = "kiln.fused";

/**
 * What a fused node's body is, which decides its kernel: set by the fusion passes (meta.kind),
 * read by the code generator.
 *   elementwise     a tree of elementwise ops run as one broadcasting loop
 *   epilogue        a Conv/Gemm/MatMul and the bias, activations and residual adds applied as it stores
 *   scaled-softmax  Softmax(x * c) or Softmax(x / c), the scale applied as x is read
 *   qlinear         a QDQ group: DequantizeLinear of 8-bit operands -> Conv | MatMul | Gemm | Add
 *                   (-> Relu | Clip) -> QuantizeLinear, run as one 8-bit kernel
 *   qdynamic        dynamic quantization's MatMulInteger -> Cast -> Mul(scale) (-> bias, activation,
 *                   residual), run as the int8 GEMM with a float32 store
 */
export const FUSED_KINDS = ["elementwise", "epilogue", "scaled-softmax", "qlinear", "qdynamic"] as const;
export type FusedKind = (typeof FUSED_KINDS)[number];

/** A fused node's kind, or undefined for any other node (or a kind this build does not know). */
export function fusedKindOf(n: Node): FusedKind | undefined {
  const k = n.domain === FUSED_DOMAIN ? n.meta?.kind : undefined;
  return (FUSED_KINDS as readonly string[]).includes(k ?? "") ? (k as FusedKind) : undefined;
}

export interface MemoryPlan {
  /** byte offset within the activation arena, per intermediate value */
  offsets: Map<string, number>;
  arenaBytes: number;
  /** sum of all intermediates' sizes (no reuse) */
  naiveBytes: number;
  /** the largest total of intermediates live at one time: no plan can use less */
  lowerBoundBytes: number;
}

interface NodeAttrs {
  node: Node;
  seq: number;
}

export class Graph {
  readonly g: import("graphology").DirectedGraph<NodeAttrs> = new DirectedGraph<NodeAttrs>();
  readonly values = new Map<string, Value>();
  inputs: string[] = [];
  outputs: string[] = [];
  /** domain ("" = ai.onnx) -> opset version */
  opsets = new Map<string, number>();
  /** graph inputs turned into constants at compile time (CompileOptions.freeze), in order */
  frozenInputs: { name: string; value: Tensor }[] = [];
  /** arena offsets of intermediate values, set by the plan-memory pass and read by codegen */
  memoryPlan?: MemoryPlan;
  private readonly producers = new Map<string, string>();
  /** value -> names of the nodes that read it */
  private readonly uses = new Map<string, Set<string>>();
  /** node -> the inputs it was linked under (its `inputs` may have changed since, see relink) */
  private readonly linked = new Map<string, string[]>();
  private seq = 0;

  value(name: string): Value {
    let v = this.values.get(name);
    if (!v) {
      v = { name };
      this.values.set(name, v);
    }
    return v;
  }

  hasValue(name: string): boolean {
    return this.values.has(name);
  }

  opset(domain: string): number {
    return this.opsets.get(domain === "ai.onnx" ? "" : domain) ?? 0;
  }

  uniqueNodeName(base: string): string {
    let name = base;
    for (let i = 1; this.g.hasNode(name); i++) name = `${base}_${i}`;
    return name;
  }

  addNode(node: Node): Node {
    if (this.g.hasNode(node.name)) node.name = this.uniqueNodeName(node.name);
    for (const out of node.outputs) {
      if (!out) continue;
      const prev = this.producers.get(out);
      if (prev !== undefined) {
        throw new KilnError("INVALID_MODEL", `value ${JSON.stringify(out)} is produced by both ${JSON.stringify(prev)} and ${JSON.stringify(node.name)}`, { node: node.name, op: node.op });
      }
      this.producers.set(out, node.name);
      this.value(out);
    }
    for (const inp of node.inputs) if (inp) this.value(inp);
    this.g.addNode(node.name, { node, seq: this.seq++ });
    this.link(node);
    // consumers added earlier than their producer (unsorted ONNX graphs) get their edge now
    for (const out of node.outputs) {
      for (const user of this.uses.get(out) ?? []) if (user !== node.name) this.addEdge(node.name, user);
    }
    return node;
  }

  removeNode(name: string): void {
    const n = this.node(name);
    for (const out of n.outputs) if (this.producers.get(out) === name) this.producers.delete(out);
    this.unlink(n);
    this.g.dropNode(name);
  }

  node(name: string): Node {
    return this.g.getNodeAttribute(name, "node");
  }

  producer(value: string): Node | undefined {
    const p = this.producers.get(value);
    return p === undefined ? undefined : this.node(p);
  }

  consumers(value: string): Node[] {
    const users = [...(this.uses.get(value) ?? [])].map((k) => this.g.getNodeAttributes(k));
    return users.sort((a, b) => a.seq - b.seq).map((a) => a.node);
  }

  /** Rewire node input `index` to `value`, keeping edges right. */
  setInput(node: Node, index: number, value: string): void {
    node.inputs[index] = value;
    if (value) this.value(value);
    this.relink(node);
  }

  /**
   * Point every use of `from` (including graph outputs) at `to`. A fused node's body reads its
   * inputs by name, so it follows the rename too (fuse-qdq makes fused nodes before CSE).
   */
  replaceAllUses(from: string, to: string): void {
    for (const n of this.consumers(from)) {
      n.inputs = n.inputs.map((x) => (x === from ? to : x));
      renameInBody(n, from, to);
      this.relink(n);
    }
    this.outputs = this.outputs.map((x) => (x === from ? to : x));
  }

  /** Nodes in insertion order (not necessarily topological). */
  nodeList(): Node[] {
    const out: { node: Node; seq: number }[] = [];
    this.g.forEachNode((_k, a) => out.push(a));
    return out.sort((a, b) => a.seq - b.seq).map((a) => a.node);
  }

  /** Nodes in a stable topological order (ties broken by insertion order); throws on a cycle. */
  topoOrder(): Node[] {
    // the ready nodes in a min-heap on insertion seq: a light model starts with hundreds of
    // ConstantOfShape nodes ready, and sorting them again at every pop was quadratic
    const seq = new Map<string, number>();
    const indeg = new Map<string, number>();
    this.g.forEachNode((k, a) => {
      seq.set(k, a.seq);
      indeg.set(k, this.g.inDegree(k));
    });
    const ready = new SeqHeap(seq);
    for (const [k, d] of indeg) if (d === 0) ready.push(k);
    const order: Node[] = [];
    while (ready.size) {
      const k = ready.pop();
      order.push(this.node(k));
      for (const next of this.g.outNeighbors(k)) {
        const d = indeg.get(next)! - 1;
        indeg.set(next, d);
        if (d === 0) ready.push(next);
      }
    }
    if (order.length !== this.g.order) {
      const stuck = [...indeg].filter(([, d]) => d > 0).map(([k]) => k);
      throw new KilnError("INVALID_MODEL", `the graph has a cycle through nodes ${stuck.slice(0, 5).map((s) => JSON.stringify(s)).join(", ")}`);
    }
    return order;
  }

  /** Values that are constants (initializers, folded) and are used by some node or output. */
  liveConstants(): Value[] {
    const used = new Set<string>(this.outputs);
    this.g.forEachNode((_k, a) => a.node.inputs.forEach((i) => i && used.add(i)));
    return [...this.values.values()].filter((v) => v.const && used.has(v.name));
  }

  /** Drop values nothing refers to. */
  pruneValues(): void {
    const used = new Set<string>([...this.inputs, ...this.outputs]);
    const visit = (n: Node) => {
      n.inputs.forEach((i) => i && used.add(i));
      n.outputs.forEach((o) => o && used.add(o));
      n.body?.forEach(visit);
    };
    this.g.forEachNode((_k, a) => visit(a.node));
    for (const k of [...this.values.keys()]) if (!used.has(k)) this.values.delete(k);
  }

  private addEdge(from: string, to: string): void {
    if (from !== to && !this.g.hasEdge(from, to)) this.g.addEdge(from, to);
    if (from === to) throw new KilnError("INVALID_MODEL", `node ${JSON.stringify(from)} consumes its own output`, { node: from });
  }

  private link(node: Node): void {
    this.linked.set(node.name, [...node.inputs]);
    for (const inp of node.inputs) {
      if (!inp) continue;
      let u = this.uses.get(inp);
      if (!u) this.uses.set(inp, (u = new Set()));
      u.add(node.name);
      const p = this.producers.get(inp);
      if (p !== undefined) this.addEdge(p, node.name);
    }
  }

  private unlink(node: Node): void {
    // only the values this node was linked under: a scan of every value made rewrites quadratic
    for (const inp of this.linked.get(node.name) ?? []) this.uses.get(inp)?.delete(node.name);
    this.linked.delete(node.name);
    for (const e of this.g.inEdges(node.name)) this.g.dropEdge(e);
  }

  private relink(node: Node): void {
    this.unlink(node);
    this.link(node);
  }
}

/** Renames reads of `from` in a fused node's body (nested bodies too). */
function renameInBody(n: Node, from: string, to: string): void {
  for (const b of n.body ?? []) {
    b.inputs = b.inputs.map((x) => (x === from ? to : x));
    renameInBody(b, from, to);
  }
}

/** A binary min-heap of node names ordered by their (distinct) insertion seq. */
class SeqHeap {
  private readonly a: string[] = [];
  constructor(private readonly seq: Map<string, number>) {}

  get size(): number {
    return this.a.length;
  }

  push(k: string): void {
    const { a, seq } = this;
    let i = a.length;
    a.push(k);
    const s = seq.get(k)!;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (seq.get(a[up])! <= s) break;
      a[i] = a[up];
      i = up;
    }
    a[i] = k;
  }

  pop(): string {
    const { a, seq } = this;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      const s = seq.get(last)!;
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= a.length) break;
        if (c + 1 < a.length && seq.get(a[c + 1])! < seq.get(a[c])!) c++;
        if (seq.get(a[c])! >= s) break;
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}
