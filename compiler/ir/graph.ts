// The IR: a graph of operator nodes connected by named, typed values. An edge producer -> consumer
// is not stored: it follows from which node produces a value and which nodes read it, kept in two
// maps, so adding, removing and rewiring a node costs its own inputs and outputs. Every walk over
// the graph is iterative: a 200,000-node chain is as deep as it is long.
import type { DimExpr, SymbolInfo } from "../../runtime/dims.js";
import type { DTypeName, TypedArray } from "../../runtime/dtypes.js";
import type { ContainerSlot, ModelInfo } from "../../runtime/manifest.js";
import { KilnError } from "../../runtime/errors.js";

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
  /** a subgraph (If's branches, Loop's and Scan's body): it may read values of enclosing scopes by name */
  | { type: "graph"; value: Graph }
  | { type: "unsupported"; value: string };

/** A value behind a folded If's condition (Graph.foldedIfs): what it was computed from, its elements when a small integer. */
export interface FoldStep {
  from: string[];
  ints?: number[];
  bool: boolean;
}

export interface Value {
  name: string;
  /** undefined until inferred; `unsupported` holds the ONNX type name kiln cannot handle */
  dtype?: DTypeName;
  unsupportedType?: string;
  shape?: Dim[];
  /** compile-time value (initializer, Constant, or folded) */
  const?: Tensor;
  /**
   * the value at this compile's input shapes, known to shape rules only: its node stays and
   * computes it at run time (Graph.runtimeNodes: a causal mask over symbolic dims)
   */
  known?: Tensor;
  /**
   * A sequence, resolved at compile time to its elements (names of tensor values in scope). No
   * node reads or makes one after inference: the sequence ops become plain nodes or nothing
   * (compiler/ops/infer-sequence.ts).
   */
  items?: string[];
  /** an optional that holds nothing; an optional that holds a value is that value itself */
  none?: boolean;
  /** what the model declares for a value of sequence or optional type (its graph inputs take their shapes from the feeds) */
  container?: ContainerType;
}

/** A declared sequence or optional type: the tensors' dtype, and whether an optional holds a sequence. */
export interface ContainerType {
  kind: "sequence" | "optional";
  dtype?: DTypeName;
  ofSequence?: boolean;
}

/** A value that is a sequence or an empty optional (resolved at compile time; never a tensor). */
export const isCompound = (v: Value | undefined): boolean => Boolean(v && (v.items || v.none));

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

/** A node in the graph, with its insertion order and scratch space for walks. */
interface Entry {
  node: Node;
  /** insertion order: ties in the topological order go to the earlier node */
  seq: number;
  /** topoOrder's scratch: producers not yet emitted, and the last producer that decremented it */
  pending: number;
  stamp: number;
}

/** What passes may ask of the node set directly (the rest goes through Graph's methods). */
export interface NodeSet {
  hasNode(name: string): boolean;
  /** the number of nodes */
  readonly order: number;
}

export class Graph {
  /** Nodes by name, in insertion order (a Map keeps it: removal deletes, addition appends). */
  private readonly entries = new Map<string, Entry>();
  readonly g: NodeSet;
  readonly values = new Map<string, Value>();
  inputs: string[] = [];
  outputs: string[] = [];
  /** domain ("" = ai.onnx) -> opset version */
  opsets = new Map<string, number>();
  /** the model's own opsets of the domains a rewrite raised (passes/fuse-patterns-match.ts ensureOpset): errors name these */
  raisedFrom = new Map<string, number>();
  /** graph inputs turned into constants at compile time (CompileOptions.freeze), in order */
  frozenInputs: { name: string; value: Tensor }[] = [];
  /** graph inputs and outputs of sequence or optional type, as the tensor inputs and outputs that carry them (runtime/manifest.ts) */
  containers: { inputs: ContainerSlot[]; outputs: ContainerSlot[] } = { inputs: [], outputs: [] };
  /** what the ONNX model says about itself (doc_string, metadata, declared input dims), carried into the manifest */
  info?: ModelInfo;
  /** arena offsets of intermediate values, set by the plan-memory pass and read by codegen */
  memoryPlan?: MemoryPlan;
  /**
   * symbolic dims compiled once (compiler/driver/symbolic.ts): the symbols with their bounds, and
   * the dim expressions of each value with a dim that varies; its `shape` holds the upper bounds'.
   * `values`: small integer values computed in the module from the dims (Graph.runtimeNodes) whose
   * elements are polynomials of the symbols too (a Slice's starts: `past`), by name
   */
  symbolic?: { symbols: SymbolInfo[]; dims: Map<string, DimExpr[]>; values?: Map<string, DimExpr[]> };
  /**
   * nodes that run at run time though their values could be folded at these shapes (symbolic dims:
   * compiler/driver/symbolic-unfold.ts); inference gives their outputs `known`, never `const`
   */
  runtimeNodes?: Set<string>;
  /**
   * the value each data-dependent dim takes in this preparation (compiler/ops/registry.ts
   * ShapeCtx.dataDim), by the node that owns it: what shape inference gives it again after a pass
   */
  dataDims?: ReadonlyMap<string, number>;
  /**
   * compile-time folding's trail (compiler/ops/infer.ts): each value inference folded to a
   * constant, with the values its node read (the node itself is gone)
   */
  foldedFrom?: Map<string, string[]>;
  /**
   * Ifs folded to a branch at compile time (compiler/ops/infer-control.ts), on the outermost graph:
   * node name -> every constant its condition was computed from, through foldedFrom (Shape's dims
   * among them), and the branch taken. Bounded dims compare them between probes
   * (compiler/driver/symbolic.ts). `tree`: each value of the condition's cone (the condition
   * `cond` first) with the values it was computed from and, for a small integer, its elements.
   */
  foldedIfs?: Map<string, { cone: Tensor[]; taken: "then_branch" | "else_branch"; cond: string; tree: Map<string, FoldStep> }>;
  /** for a subgraph: the graph whose node holds it, where names it does not define are looked up */
  outer?: Graph;
  private readonly producers = new Map<string, string>();
  /** value -> names of the nodes that read it */
  private readonly uses = new Map<string, Set<string>>();
  /** node -> the inputs it was linked under (its `inputs` may have changed since, see relink) */
  private readonly linked = new Map<string, string[]>();
  /** base name -> the next suffix uniqueNodeName tries */
  private readonly suffixes = new Map<string, number>();
  private seq = 0;
  /** bumped by every change of the node set or its edges; the topological order is kept per version */
  private version = 0;
  private topo?: { version: number; order: Node[] };
  private pruned?: { version: number; values: number };

  constructor() {
    const entries = this.entries;
    this.g = {
      hasNode: (name) => entries.has(name),
      get order() {
        return entries.size;
      },
    };
  }

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

  /** A value of this graph or, for a subgraph, of the nearest enclosing scope that has it. */
  lookup(name: string): Value | undefined {
    const v = this.values.get(name);
    // a captured name has an empty entry here (addNode records every name a node reads)
    const local = v && (v.dtype || v.const || v.unsupportedType || v.items || v.none || this.producers.has(name) || this.inputs.includes(name));
    return local || !this.outer ? v : this.outer.lookup(name) ?? v;
  }

  opset(domain: string): number {
    return this.opsets.get(domain === "ai.onnx" ? "" : domain) ?? 0;
  }

  /** The opset the model imports for a domain, before any rewrite raised it: the one a message names. */
  modelOpset(domain: string): number {
    return this.raisedFrom.get(domain === "ai.onnx" ? "" : domain) ?? this.opset(domain);
  }

  /**
   * A copy of this graph as imported, before inference or any pass: its own nodes, values, lists
   * and naming state, the constants' tensors shared (no step writes into a tensor: a rewrite puts
   * a new one in Value.const), so a copy decodes nothing and copies no weights (the probes of a
   * symbolic build, compiler/driver/symbolic.ts). With `subgraphs`, its subgraphs (If, Loop, Scan
   * bodies) cloned under the copy; without, undefined for a graph that has some (its callers then
   * leave it unchecked or re-import it), and always for a subgraph; `structure`: a copy of
   * nodes and types only, taken of a planned or symbolic graph too (the plan and the dims' fit
   * stay behind: the IR verifier's type check, compiler/ops/verify-types.ts).
   */
  copy(structure = false, subgraphs = false): Graph | undefined {
    if (this.outer || (!structure && (this.memoryPlan || this.symbolic))) return undefined;
    if (this.nodeList().some((n) => n.body || (!subgraphs && Object.values(n.attrs).some((a) => a.type === "graph")))) return undefined;
    // its subgraphs (If's branches, Loop's and Scan's bodies), where asked for, cloned under the copy
    const g = this.cloneUnder(undefined);
    for (const [base, next] of this.suffixes) g.suffixes.set(base, next);
    g.frozenInputs = this.frozenInputs.map((f) => ({ ...f }));
    g.containers = { inputs: this.containers.inputs.map((c) => ({ ...c })), outputs: this.containers.outputs.map((c) => ({ ...c })) };
    g.info = this.info;
    if (this.runtimeNodes) g.runtimeNodes = new Set(this.runtimeNodes);
    if (this.dataDims) g.dataDims = this.dataDims;
    if (this.foldedIfs) g.foldedIfs = new Map(this.foldedIfs);
    return g;
  }

  /**
   * This graph's values (tensors shared: no step writes into a tensor), nodes (attribute lists
   * copied, subgraphs cloned under the clone), inputs, outputs and opsets, as a graph whose
   * enclosing scope is `outer`: a loop body to infer and inline once more per iteration
   * (compiler/ops/infer-loop.ts), a branch whose captures the copy renames (symbolic-unfold.ts),
   * a probe's copy of a graph with subgraphs (Graph.copy).
   */
  cloneUnder(outer: Graph | undefined): Graph {
    const c = new Graph();
    c.outer = outer;
    // a subgraph imported shares its enclosing graph's opsets (an opset raised there is raised
    // here); set before the nodes, whose subgraphs take c's
    c.opsets = outer && this.outer && this.opsets === this.outer.opsets ? outer.opsets : new Map(this.opsets);
    c.raisedFrom = outer && this.outer && this.raisedFrom === this.outer.raisedFrom ? outer.raisedFrom : new Map(this.raisedFrom);
    for (const v of this.values.values()) c.values.set(v.name, { ...v, ...(v.shape ? { shape: [...v.shape] } : {}), ...(v.items ? { items: [...v.items] } : {}) });
    for (const n of this.nodeList()) c.addNode({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attrs: cloneAttrs(n.attrs, c), ...(n.meta ? { meta: { ...n.meta } } : {}) });
    c.inputs = [...this.inputs];
    c.outputs = [...this.outputs];
    return c;
  }

  uniqueNodeName(base: string): string {
    if (!this.entries.has(base)) return base;
    // resume where the last search for this base ended: many nodes made from one base stay linear
    let i = this.suffixes.get(base) ?? 1;
    while (this.entries.has(`${base}_${i}`)) i++;
    this.suffixes.set(base, i + 1);
    return `${base}_${i}`;
  }

  /** base, or base_1, base_2 ...: the first name no value of this graph has */
  uniqueValueName(base: string): string {
    let name = base;
    for (let k = 1; this.hasValue(name); k++) name = `${base}_${k}`;
    return name;
  }

  addNode(node: Node): Node {
    if (this.entries.has(node.name)) node.name = this.uniqueNodeName(node.name);
    for (const out of node.outputs) {
      if (!out) continue;
      const prev = this.producers.get(out);
      if (prev !== undefined) {
        throw new KilnError("INVALID_MODEL", `value ${JSON.stringify(out)} is produced by both ${JSON.stringify(prev)} and ${JSON.stringify(node.name)}`, { node: node.name, op: node.op });
      }
    }
    for (const inp of node.inputs) {
      if (inp && node.outputs.includes(inp)) throw new KilnError("INVALID_MODEL", `node ${JSON.stringify(node.name)} consumes its own output`, { node: node.name });
    }
    for (const out of node.outputs) {
      if (!out) continue;
      this.producers.set(out, node.name);
      this.value(out);
    }
    for (const inp of node.inputs) if (inp) this.value(inp);
    this.entries.set(node.name, { node, seq: this.seq++, pending: 0, stamp: -1 });
    // edges are not stored: producer -> consumer follows from `producers` and `uses`, so consumers
    // added before their producer (unsorted ONNX graphs) are linked to it already
    this.link(node);
    return node;
  }

  removeNode(name: string): void {
    const n = this.node(name);
    for (const out of n.outputs) if (this.producers.get(out) === name) this.producers.delete(out);
    this.unlink(n);
    this.entries.delete(name);
    this.version++;
  }

  node(name: string): Node {
    const e = this.entries.get(name);
    if (!e) throw new Error(`the graph has no node ${JSON.stringify(name)}`);
    return e.node;
  }

  producer(value: string): Node | undefined {
    const p = this.producers.get(value);
    return p === undefined ? undefined : this.node(p);
  }

  /** How many nodes read `value` (consumers(value).length, without building the list). */
  consumerCount(value: string): number {
    return this.uses.get(value)?.size ?? 0;
  }

  consumers(value: string): Node[] {
    const users = [...(this.uses.get(value) ?? [])].map((k) => this.entries.get(k)!);
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
    this.replaceUses(new Map([[from, to]]));
  }

  /**
   * Point every use of each key of `renames` (including graph outputs) at its value, rewriting
   * each reader once: a node reading 30,000 merged values is relinked once, not 30,000 times.
   */
  replaceUses(renames: ReadonlyMap<string, string>): void {
    const readers = new Set<string>();
    for (const from of renames.keys()) for (const k of this.uses.get(from) ?? []) readers.add(k);
    for (const k of readers) {
      const n = this.node(k);
      n.inputs = n.inputs.map((x) => renames.get(x) ?? x);
      // a subgraph that reads a renamed value from this scope reads its new name
      for (const body of subgraphsOf(n)) {
        const free = freeNames(body);
        const inner = new Map([...renames].filter(([from]) => free.has(from)));
        if (inner.size) body.replaceUses(inner);
      }
      renameInBody(n, renames);
      this.relink(n);
    }
    this.outputs = this.outputs.map((x) => renames.get(x) ?? x);
  }

  /** Nodes in insertion order (not necessarily topological). */
  nodeList(): Node[] {
    return Array.from(this.entries.values(), (e) => e.node);
  }

  /**
   * Nodes in a stable topological order (ties broken by insertion order); throws on a cycle.
   * Kahn's algorithm, iterative (no recursion follows the graph's depth), linear in nodes and
   * edges; the order is kept until the graph changes, as most passes leave it as it was.
   */
  topoOrder(): Node[] {
    if (this.topo?.version === this.version) return [...this.topo.order];
    // the ready nodes in a min-heap on insertion seq: a light model starts with hundreds of
    // ConstantOfShape nodes ready, and sorting them again at every pop was quadratic
    for (const e of this.entries.values()) {
      e.pending = 0;
      e.stamp = -1;
    }
    for (const e of this.entries.values()) this.forEachConsumer(e, (c) => c.pending++);
    const ready = new SeqHeap();
    for (const e of this.entries.values()) {
      e.stamp = -1;
      if (e.pending === 0) ready.push(e);
    }
    const order: Node[] = [];
    while (ready.size) {
      const e = ready.pop();
      order.push(e.node);
      this.forEachConsumer(e, (c) => {
        if (--c.pending === 0) ready.push(c);
      });
    }
    if (order.length !== this.entries.size) {
      const stuck: string[] = [];
      for (const [k, e] of this.entries) if (e.pending > 0 && stuck.length < 5) stuck.push(k);
      throw new KilnError("INVALID_MODEL", `the graph has a cycle through nodes ${stuck.map((s) => JSON.stringify(s)).join(", ")}`);
    }
    this.topo = { version: this.version, order };
    return [...order];
  }

  /**
   * Calls `f` once for each node reading an output of `e` (an edge), however many of its outputs
   * that node reads; marks the consumers with e's seq to tell (callers reset the marks between walks).
   */
  private forEachConsumer(e: Entry, f: (c: Entry) => void): void {
    for (const out of e.node.outputs) {
      const users = out ? this.uses.get(out) : undefined;
      if (!users) continue;
      for (const k of users) {
        const c = this.entries.get(k);
        if (!c || c.stamp === e.seq) continue;
        c.stamp = e.seq;
        f(c);
      }
    }
  }

  /** Values that are constants (initializers, folded) and are used by some node or output. */
  liveConstants(): Value[] {
    const used = new Set<string>(this.outputs);
    for (const e of this.entries.values()) {
      for (const i of e.node.inputs) if (i) used.add(i);
      for (const c of capturesOf(e.node)) used.add(c);
    }
    return [...this.values.values()].filter((v) => v.const && used.has(v.name));
  }

  /** Drop values nothing refers to. */
  pruneValues(): void {
    // nothing to drop when no node changed and no value came since the last time (most passes
    // change nothing, and each ends here: a walk of every node and body)
    if (this.pruned?.version === this.version && this.pruned.values === this.values.size) return;
    this.prune();
    this.pruned = { version: this.version, values: this.values.size };
  }

  private prune(): void {
    const used = new Set<string>([...this.inputs, ...this.outputs]);
    // fused nodes' bodies, and bodies in them, walked with a stack: no recursion
    const stack = Array.from(this.entries.values(), (e) => e.node);
    while (stack.length) {
      const n = stack.pop()!;
      for (const i of n.inputs) if (i) used.add(i);
      for (const c of capturesOf(n)) used.add(c);
      for (const o of n.outputs) if (o) used.add(o);
      if (n.body) for (const b of n.body) stack.push(b);
    }
    for (const k of [...this.values.keys()]) if (!used.has(k)) this.values.delete(k);
  }

  private link(node: Node): void {
    // values a node's subgraphs read from this scope are inputs too: edges, uses, liveness
    const reads = [...node.inputs, ...capturesOf(node)];
    this.linked.set(node.name, reads);
    for (const inp of reads) {
      if (!inp) continue;
      let u = this.uses.get(inp);
      if (!u) this.uses.set(inp, (u = new Set()));
      u.add(node.name);
    }
    this.version++;
  }

  private unlink(node: Node): void {
    // only the values this node was linked under: a scan of every value made rewrites quadratic
    for (const inp of this.linked.get(node.name) ?? []) this.uses.get(inp)?.delete(node.name);
    this.linked.delete(node.name);
    this.version++;
  }

  private relink(node: Node): void {
    for (const inp of node.inputs) {
      if (inp && this.producers.get(inp) === node.name) throw new KilnError("INVALID_MODEL", `node ${JSON.stringify(node.name)} consumes its own output`, { node: node.name });
    }
    this.unlink(node);
    this.link(node);
  }
}

/** The subgraphs a node holds in its attributes (If's branches, Loop's body ...), by attribute name order. */
export function subgraphsOf(n: Node): Graph[] {
  const out: Graph[] = [];
  for (const k of Object.keys(n.attrs).sort()) {
    const a = n.attrs[k];
    if (a.type === "graph") out.push(a.value);
  }
  return out;
}

/**
 * The names a subgraph reads but does not define (its inputs, its nodes' outputs and its own
 * constants are defined in it): the values it captures from enclosing scopes, nested bodies' included.
 */
export function freeNames(g: Graph): Set<string> {
  const defined = new Set<string>(g.inputs);
  const read = new Set<string>(g.outputs);
  for (const n of g.nodeList()) {
    for (const o of n.outputs) if (o) defined.add(o);
    for (const i of n.inputs) if (i) read.add(i);
    for (const body of subgraphsOf(n)) for (const f of freeNames(body)) read.add(f);
  }
  for (const v of g.values.values()) if (v.const && !g.producer(v.name)) defined.add(v.name);
  return new Set([...read].filter((r) => !defined.has(r)));
}

/** The names a node's subgraphs capture from the scope the node is in (none for most nodes). */
export function capturesOf(n: Node): string[] {
  const bodies = subgraphsOf(n);
  if (bodies.length === 0) return [];
  const out = new Set<string>();
  for (const b of bodies) for (const f of freeNames(b)) if (!n.inputs.includes(f)) out.add(f);
  return [...out];
}

/** Renames reads in a fused node's body (nested bodies too): a body reads its inputs by name. */
function renameInBody(n: Node, renames: ReadonlyMap<string, string>): void {
  for (const b of n.body ?? []) {
    b.inputs = b.inputs.map((x) => renames.get(x) ?? x);
    renameInBody(b, renames);
  }
}

/** A binary min-heap of entries ordered by their (distinct) insertion seq. */
class SeqHeap {
  private readonly a: Entry[] = [];

  get size(): number {
    return this.a.length;
  }

  push(e: Entry): void {
    const { a } = this;
    let i = a.length;
    a.push(e);
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (a[up].seq <= e.seq) break;
      a[i] = a[up];
      i = up;
    }
    a[i] = e;
  }

  pop(): Entry {
    const { a } = this;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= a.length) break;
        if (c + 1 < a.length && a[c + 1].seq < a[c].seq) c++;
        if (a[c].seq >= last.seq) break;
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

/** A node's attributes for a copy of it in `scope`: lists copied, subgraphs cloned under `scope`. */
export function cloneAttrs(attrs: Node["attrs"], scope: Graph): Node["attrs"] {
  return Object.fromEntries(Object.entries(attrs).map(([k, a]) => [k,
    (a.type === "graph" ? { ...a, value: a.value.cloneUnder(scope) } : Array.isArray(a.value) ? { ...a, value: [...a.value] } : { ...a }) as Attr]));
}
