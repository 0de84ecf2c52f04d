// Loop and Scan, unrolled during inference: each iteration is a copy of the body, inferred with
// the values it gets (so constants fold through iterations, and a carried value may change shape
// from one iteration to the next) and inlined, its carried values bound to the previous
// iteration's. Static shapes need the iteration count at compile time: a trip count or scan
// length that is known, or a condition that folds; a condition known only at run time guards each
// later iteration (compiler/ir/subgraph.ts) and selects the final carried values; its scan outputs
// (with a trip count bounding them) stack every iteration unrolled, cut to those that ran by
// kiln.control.LoopCount, whose count is a data-dependent dim. A loop runs at
// most MAX_UNROLL iterations and MAX_UNROLLED_NODES nodes in all, so a compile stays bounded.
import { sizeOf } from "../../runtime/dtypes.js";
import { KilnError } from "../../runtime/errors.js";
import { isCompound, type Attr, type Graph, type Node, type Tensor } from "../ir/graph.js";
import { inlineSubgraph, inputsBehind, type Guard } from "../ir/subgraph.js";
import type { ShapeCtx } from "./registry.js";
import { CONTROL_DOMAIN } from "./control.js";

export const MAX_UNROLL = 1024;
export const MAX_UNROLLED_NODES = 50_000;

export interface ControlHooks {
  inferBody(body: Graph): Promise<void>;
  /** infer a node just added to the graph (folding it when its inputs are constants) */
  inferAdded(n: Node): Promise<void>;
}

/** Adds typed nodes and constants to the graph in the place of a Loop, a Scan or a resolved sequence op. */
export class Unroller {
  nodes = 0;
  constructor(readonly graph: Graph, readonly n: Node, readonly ctx: ShapeCtx, readonly hooks: ControlHooks) {}

  fresh(what: string): string {
    const base = `${this.n.name}/${what}`;
    let name = base;
    for (let k = 1; this.inScope(name); k++) name = `${base}_${k}`;
    return name;
  }

  private inScope(name: string): boolean {
    for (let g: Graph | undefined = this.graph; g; g = g.outer) if (g.hasValue(name)) return true;
    return false;
  }

  constant(what: string, t: Tensor): string {
    const name = this.fresh(what);
    Object.assign(this.graph.value(name), { dtype: t.dtype, shape: [...t.dims], const: t });
    return name;
  }

  int64(what: string, values: number[], dims = [values.length]): string {
    return this.constant(what, { dtype: "int64", dims, data: BigInt64Array.from(values, BigInt) });
  }

  async node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, out?: string, domain = ""): Promise<string> {
    const output = out || this.fresh(op.toLowerCase());
    if (domain && !this.graph.opsets.has(domain)) this.graph.opsets.set(domain, 1);
    const node = this.graph.addNode({ name: `${this.n.name}/${op}`, op, domain, inputs, outputs: [output], attrs });
    await this.hooks.inferAdded(node);
    return output;
  }

  /** The output `out` of the unrolled op is `from`. */
  async bind(out: string, from: string): Promise<void> {
    if (out) await this.node("Identity", [from], {}, out);
  }

  /** One iteration: the body copied, its inputs typed and bound to `args`, inferred and inlined. */
  async iteration(body: Graph, k: number, args: string[], guard: Guard): Promise<string[]> {
    const copy = body.cloneUnder(this.graph);
    const bind = new Map<string, string>();
    for (const [i, formal] of body.inputs.entries()) {
      const actual = this.graph.lookup(args[i])!;
      const v = copy.value(formal);
      v.dtype = actual.dtype;
      v.shape = actual.shape ? [...actual.shape] : undefined;
      v.const = actual.const;
      // a carried sequence or empty optional (infer-sequence.ts): its elements stay in the enclosing scope
      v.items = actual.items && await this.unshadowed(actual.items, copy);
      v.none = actual.none;
      bind.set(formal, args[i]);
    }
    await this.hooks.inferBody(copy);
    this.nodes += copy.g.order;
    if (this.nodes > MAX_UNROLLED_NODES) this.ctx.unsupported(`unrolled to iteration ${k}, it has more than ${MAX_UNROLLED_NODES} nodes; kiln unrolls loops and compiles no bigger ones`);
    return inlineSubgraph(this.graph, copy, `${this.n.name}/${k}/`, guard, bind);
  }

  /**
   * A carried sequence's elements as the body copy sees them: an element named like a value the
   * body defines (the previous iteration's copy of it) would be shadowed there, so it gets an alias.
   */
  private async unshadowed(items: readonly string[], copy: Graph): Promise<string[]> {
    const out: string[] = [];
    for (const item of items) {
      if (!copy.values.has(item)) {
        out.push(item);
        continue;
      }
      let alias = this.fresh("element");
      for (let k = 1; copy.values.has(alias); k++) alias = this.fresh(`element_${k}`);
      out.push(await this.node("Identity", [item], {}, alias));
    }
    return out;
  }

  /** Tensors of one shape stacked along a new axis (Reshape each to hold it, then Concat). */
  async stack(parts: string[], axis: number, out: string): Promise<void> {
    const shape = this.graph.lookup(parts[0])!.shape as number[];
    for (const p of parts) {
      const s = this.graph.lookup(p)!.shape as number[];
      if (s.join() !== shape.join()) this.ctx.unsupported(`its scan output changes shape between iterations ([${shape}] then [${s}]); kiln stacks same-shaped values only`);
    }
    const a = axis < 0 ? axis + shape.length + 1 : axis;
    if (a < 0 || a > shape.length) this.ctx.invalid(`scan output axis ${axis} is out of range for rank ${shape.length + 1}`);
    const grown = [...shape.slice(0, a), 1, ...shape.slice(a)];
    const dims = this.int64("stack_shape", grown);
    const rows: string[] = [];
    for (const p of parts) rows.push(await this.node("Reshape", [p, dims], {}, parts.length === 1 ? out : undefined));
    if (parts.length > 1) await this.node("Concat", rows, { axis: { type: "int", value: a } }, out);
  }

  /** A condition as a scalar (Where broadcasts a [1] condition over a scalar to [1]). */
  async scalar(cond: string): Promise<string> {
    const v = this.graph.lookup(cond)!;
    if (!v.shape?.length) return cond;
    return this.node("Reshape", [cond, this.int64("scalar_shape", [], [0])]);
  }

  refuse(why: string, cond: string): never {
    const needsValue = inputsBehind(this.graph, cond).filter((i) => ["bool", "int64", "int32"].includes(this.graph.lookup(i)?.dtype ?? ""));
    const freeze = needsValue.length ? `; freeze ${needsValue.map((x) => JSON.stringify(x)).join(", ")} to compile it for their values` : "";
    throw new KilnError("UNSUPPORTED_OP", `${why}${freeze}`, { ...this.ctx.context(), needsValue });
  }
}

function bodyOf(n: Node, ctx: ShapeCtx): Graph {
  const a = n.attrs.body;
  if (a?.type !== "graph") ctx.invalid("attribute body must be a graph");
  return a.value;
}

const truthy = (t: Tensor) => sizeOf(t.dims) > 0 && Boolean(t.data[0]);

export async function inferLoop(graph: Graph, n: Node, ctx: ShapeCtx, hooks: ControlHooks): Promise<void> {
  const body = bodyOf(n, ctx);
  const N = n.inputs.length - 2;
  const K = body.outputs.length - 1 - N;
  if (N < 0 || body.inputs.length !== N + 2 || K < 0) ctx.invalid(`the body takes ${body.inputs.length} inputs and gives ${body.outputs.length} outputs for ${Math.max(N, 0)} carried values (it takes 2 + N and gives 1 + N + K)`);
  if (n.outputs.length > N + K) ctx.invalid(`the node has ${n.outputs.length} outputs, the body gives ${N} carried values and ${K} scan outputs`);
  const trip = n.inputs[0] ? Number(ctx.value(0).data[0]) : undefined;
  if (trip !== undefined && trip > MAX_UNROLL) ctx.unsupported(`it runs ${trip} iterations; kiln unrolls loops of at most ${MAX_UNROLL}`);
  const u = new Unroller(graph, n, ctx, hooks);
  graph.removeNode(n.name);
  let cond = n.inputs[1] || u.constant("cond", { dtype: "bool", dims: [], data: new Uint8Array([1]) });
  let state = n.inputs.slice(2);
  const guard: Guard = [];
  /** where the loop may stop at run time: its condition there, and the carried values it would return */
  const exits: { cond: string; state: string[]; at: number }[] = [];
  const scans: string[][] = Array.from({ length: K }, () => []);
  let k = 0;
  for (; trip === undefined || k < trip; k++) {
    const c = graph.lookup(cond)!;
    if (c.const && !truthy(c.const)) break;
    if (!c.const) {
      if (K > 0 && trip === undefined) u.refuse(`its condition is known only at run time and it has no trip count, so its ${K} scan output(s) have no bound; kiln unrolls a loop with scan outputs and a run-time condition up to its trip count`, cond);
      exits.push({ cond, state: [...state], at: k });
      guard.push([cond, true]);
    }
    if (k === MAX_UNROLL) u.refuse(`it has no trip count and its condition still holds after ${MAX_UNROLL} iterations; kiln unrolls loops of at most ${MAX_UNROLL}`, cond);
    const outs = await u.iteration(body, k, [u.int64("iteration", [k], []), cond, ...state], [...guard]);
    cond = outs[0];
    state = outs.slice(1, N + 1);
    outs.slice(N + 1).forEach((s, j) => scans[j].push(s));
  }
  // the carried values of the iteration the loop stopped after
  const final = [...state];
  for (const exit of [...exits].reverse()) {
    const sel = await u.scalar(exit.cond);
    for (let j = 0; j < N; j++) {
      const a = graph.lookup(final[j])!, b = graph.lookup(exit.state[j])!;
      if (isCompound(a) || isCompound(b)) u.refuse(`carried value ${j} is a sequence or optional and the condition is known only at run time; kiln resolves sequences at compile time`, exit.cond);
      if (a.dtype !== b.dtype || a.shape?.join() !== b.shape?.join()) {
        u.refuse(`carried value ${j} changes shape between iterations ([${b.shape}] then [${a.shape}]) and the condition is known only at run time; kiln compiles static shapes`, exit.cond);
      }
      final[j] = await u.node("Where", [sel, final[j], exit.state[j]]);
    }
  }
  for (let j = 0; j < N; j++) await u.bind(n.outputs[j], final[j]);
  for (let j = 0; j < K; j++) {
    const out = n.outputs[N + j];
    if (!out) continue;
    if (k === 0) ctx.unsupported("it runs no iteration and has scan outputs, whose element shape only the body would give");
    if (!exits.length) {
      await u.stack(scans[j], 0, out);
      continue;
    }
    // a run-time condition: every iteration unrolled stacked, cut to those that ran (a data-dependent count)
    const all = u.fresh(`scan_${j}_unrolled`);
    await u.stack(scans[j], 0, all);
    await u.node("LoopCount", [all, ...exits.map((e) => e.cond)], { always: { type: "int", value: exits[0].at } }, out, CONTROL_DOMAIN);
  }
}

export async function inferScan(graph: Graph, n: Node, ctx: ShapeCtx, hooks: ControlHooks): Promise<void> {
  if (ctx.opset < 9) return inferScan8(graph, n, ctx, hooks);
  const body = bodyOf(n, ctx);
  const M = ctx.attrs.int("num_scan_inputs", 0);
  const N = n.inputs.length - M;
  const K = body.outputs.length - N;
  if (M < 1 || N < 0 || K < 0 || body.inputs.length !== N + M) ctx.invalid(`num_scan_inputs ${M} does not fit ${n.inputs.length} inputs and a body of ${body.inputs.length} inputs, ${body.outputs.length} outputs`);
  const inAxes = ctx.attrs.ints("scan_input_axes", new Array(M).fill(0));
  const inDirs = ctx.attrs.ints("scan_input_directions", new Array(M).fill(0));
  const outAxes = ctx.attrs.ints("scan_output_axes", new Array(K).fill(0));
  const outDirs = ctx.attrs.ints("scan_output_directions", new Array(K).fill(0));
  if (inAxes.length !== M || inDirs.length !== M || outAxes.length !== K || outDirs.length !== K) ctx.invalid("scan axes and directions need one entry per scan input and output");
  const scanIn = n.inputs.slice(N).map((_, j) => ctx.input(N + j));
  const axes = scanIn.map((x, j) => (inAxes[j] < 0 ? inAxes[j] + x.shape.length : inAxes[j]));
  axes.forEach((a, j) => a >= 0 && a < scanIn[j].shape.length || ctx.invalid(`scan_input_axes[${j}] = ${inAxes[j]} is out of range for rank ${scanIn[j].shape.length}`));
  const T = scanIn[0].shape[axes[0]];
  if (scanIn.some((x, j) => x.shape[axes[j]] !== T)) ctx.invalid(`the scan inputs differ in length along their scan axes (${scanIn.map((x, j) => x.shape[axes[j]]).join(", ")})`);
  if (T > MAX_UNROLL) ctx.unsupported(`it scans ${T} steps; kiln unrolls scans of at most ${MAX_UNROLL}`);
  if (T === 0 && K > 0) ctx.unsupported("it scans no step and has scan outputs, whose element shape only the body would give");
  const u = new Unroller(graph, n, ctx, hooks);
  graph.removeNode(n.name);
  let state = n.inputs.slice(0, N);
  const scans: string[][] = Array.from({ length: K }, () => []);
  for (let t = 0; t < T; t++) {
    const slices: string[] = [];
    for (let j = 0; j < M; j++) {
      const at = u.int64("step", [inDirs[j] ? T - 1 - t : t], []);
      slices.push(await u.node("Gather", [n.inputs[N + j], at], { axis: { type: "int", value: axes[j] } }));
    }
    const outs = await u.iteration(body, t, [...state, ...slices], []);
    state = outs.slice(0, N);
    outs.slice(N).forEach((s, j) => scans[j].push(s));
  }
  for (let j = 0; j < N; j++) await u.bind(n.outputs[j], state[j]);
  for (let j = 0; j < K; j++) {
    const out = n.outputs[N + j];
    if (!out) continue;
    await u.stack(outDirs[j] ? [...scans[j]].reverse() : scans[j], outAxes[j], out);
  }
}

/**
 * Scan-8: inputs (sequence_lens?, state..., scan...), the states [B, ...] and scan inputs
 * [B, T, ...] batched on axis 0, each batch row scanned on its own (inputs `directions`; outputs
 * always forward) and the results stacked back on axis 0. Each row must run all T steps:
 * sequence_lens, when given, must be known at compile time and all T (shorter rows would leave
 * outputs padded as onnxruntime pads them, which kiln does not do).
 */
async function inferScan8(graph: Graph, n: Node, ctx: ShapeCtx, hooks: ControlHooks): Promise<void> {
  const body = bodyOf(n, ctx);
  const M = ctx.attrs.int("num_scan_inputs", 0);
  const N = n.inputs.length - 1 - M;
  const K = body.outputs.length - N;
  if (M < 1 || N < 0 || K < 0 || body.inputs.length !== N + M) ctx.invalid(`num_scan_inputs ${M} does not fit ${n.inputs.length} inputs (sequence_lens first) and a body of ${body.inputs.length} inputs, ${body.outputs.length} outputs`);
  const dirs = ctx.attrs.ints("directions", new Array(M).fill(0));
  if (dirs.length !== M) ctx.invalid(`directions has ${dirs.length} entries for ${M} scan inputs`);
  const scanIn = n.inputs.slice(1 + N).map((_, j) => ctx.input(1 + N + j));
  if (scanIn.some((x) => x.shape.length < 2)) ctx.invalid("every scan input is [batch, sequence, ...]: rank 2 at least");
  const [B, T] = scanIn[0].shape;
  if (scanIn.some((x) => x.shape[0] !== B || x.shape[1] !== T)) ctx.invalid(`the scan inputs differ in batch or sequence length (${scanIn.map((x) => `[${x.shape.slice(0, 2)}]`).join(", ")})`);
  for (let j = 0; j < N; j++) if (ctx.input(1 + j).shape[0] !== B) ctx.invalid(`state ${j} has batch ${ctx.input(1 + j).shape[0]}, the scan inputs ${B}`);
  const lens = ctx.ints(0);
  if (lens && (lens.length !== B || lens.some((l) => l !== T))) {
    ctx.unsupported(`sequence_lens [${lens}] has rows shorter than the sequence (${T}); kiln runs Scan-8 on full-length rows only`);
  }
  if (B * T > MAX_UNROLL) ctx.unsupported(`it scans ${B} x ${T} steps; kiln unrolls scans of at most ${MAX_UNROLL}`);
  if (B === 0 || (T === 0 && K > 0)) ctx.unsupported("it scans an empty batch or no step, and its outputs' shapes would come from no iteration");
  const u = new Unroller(graph, n, ctx, hooks);
  graph.removeNode(n.name);
  const axis0 = { axis: { type: "int" as const, value: 0 } };
  const finals: string[][] = Array.from({ length: N }, () => []);
  const rows: string[][] = Array.from({ length: K }, () => []);
  for (let b = 0; b < B; b++) {
    const row = u.int64("batch", [b], []);
    let state: string[] = [];
    for (const s of n.inputs.slice(1, 1 + N)) state.push(await u.node("Gather", [s, row], axis0));
    const seqs: string[] = [];
    for (const x of n.inputs.slice(1 + N)) seqs.push(await u.node("Gather", [x, row], axis0));
    const scans: string[][] = Array.from({ length: K }, () => []);
    for (let t = 0; t < T; t++) {
      const slices: string[] = [];
      for (let j = 0; j < M; j++) slices.push(await u.node("Gather", [seqs[j], u.int64("step", [dirs[j] ? T - 1 - t : t], [])], axis0));
      const outs = await u.iteration(body, b * T + t, [...state, ...slices], []);
      state = outs.slice(0, N);
      outs.slice(N).forEach((o, j) => scans[j].push(o));
    }
    state.forEach((s, j) => finals[j].push(s));
    for (let j = 0; j < K; j++) {
      const stacked = u.fresh("scan_row");
      await u.stack(scans[j], 0, stacked);
      rows[j].push(stacked);
    }
  }
  for (let j = 0; j < N; j++) if (n.outputs[j]) await u.stack(finals[j], 0, n.outputs[j]);
  for (let j = 0; j < K; j++) if (n.outputs[N + j]) await u.stack(rows[j], 0, n.outputs[N + j]);
}
