// The sequence ops. kiln resolves a sequence at compile time to the list of its elements (tensor
// values), so these ops never run: each becomes the plain nodes that make its tensors (Slice for
// SplitToSequence, Concat for ConcatFromSequence) or nothing at all (Construct, Insert, At ...).
// A position or split that is known only at run time is unsupported (freeze the input that gives
// it); see docs/ARCHITECTURE.md, "Sequences and optionals".
import { normAxis, OpTable, passOn, resolvedOnly, type CompoundCtx, type Operand, type Resolved } from "./registry.js";

const ops = new OpTable();


/** Input i as a sequence's elements (INVALID_MODEL when it is a tensor or absent). */
function sequence(s: CompoundCtx, i: number): readonly string[] {
  const o = s.operands[i];
  if (!o || !("items" in o)) s.ctx.invalid(`input ${i} must be a sequence, it is ${o ? ("none" in o ? "an optional holding nothing" : "a tensor") : "absent"}`);
  return o.items;
}

/** Input i as a tensor's name (INVALID_MODEL when it is a sequence or absent). */
function tensor(s: CompoundCtx, i: number): string {
  const o = s.operands[i];
  if (!o || !("tensor" in o)) s.ctx.invalid(`input ${i} must be a tensor`);
  return o.tensor.name;
}

/** A position input (a scalar known at compile time), default `dflt`, checked against [lo, hi] and made non-negative. */
function position(s: CompoundCtx, i: number, length: number, dflt: number, insert: boolean): number {
  const given = s.ctx.ints(i);
  if (given && given.length !== 1) s.ctx.invalid(`the position must be a scalar, it has ${given.length} elements`);
  const p = given ? given[0] : dflt;
  const hi = insert ? length : length - 1;
  if (p < -length || p > hi) s.ctx.invalid(`position ${p} is out of range for a sequence of ${length} (${-length} to ${hi})`);
  return p < 0 ? p + length : p;
}

const resolve = (rule: (s: CompoundCtx) => Promise<Resolved[]> | Resolved[]) => ({ traits: ["compile-time-only"] as const, compound: rule });

ops.define("SequenceEmpty", resolvedOnly, { lastChange: 11, arity: [0, 0], ...resolve(() => [{ items: [] }]) });

ops.define("SequenceConstruct", resolvedOnly, { lastChange: 11, arity: [1, Infinity], ...resolve((s) => {
  const items = s.operands.map((_, i) => tensor(s, i));
  const dts = new Set(s.ctx.inputs.map((x) => x!.dtype));
  if (dts.size > 1) s.ctx.invalid(`a sequence holds tensors of one dtype; the inputs are ${[...dts].join(", ")}`);
  return [{ items }];
}) });

ops.define("SequenceAt", resolvedOnly, { lastChange: 11, arity: [2, 2], ...resolve((s) => {
  const items = sequence(s, 0);
  return [{ tensor: items[position(s, 1, items.length, 0, false)] }];
}) });

ops.define("SequenceInsert", resolvedOnly, { lastChange: 11, arity: [2, 3], ...resolve((s) => {
  const items = [...sequence(s, 0)];
  const t = tensor(s, 1);
  items.splice(position(s, 2, items.length, items.length, true), 0, t);
  return [{ items }];
}) });

ops.define("SequenceErase", resolvedOnly, { lastChange: 11, arity: [1, 2], ...resolve((s) => {
  const items = [...sequence(s, 0)];
  if (items.length === 0) s.ctx.invalid("the sequence is empty: there is nothing to erase");
  items.splice(position(s, 1, items.length, items.length - 1, false), 1);
  return [{ items }];
}) });

ops.define("SequenceLength", resolvedOnly, { lastChange: 11, arity: [1, 1], ...resolve((s) => [{ tensor: s.build.int64("length", [sequence(s, 0).length], []) }]) });

ops.define("SplitToSequence", resolvedOnly, { lastChange: 11, arity: [1, 2], ...resolve(async (s) => {
  const x = s.ctx.input(0);
  const axis = normAxis(s.ctx, s.ctx.attrs.int("axis", 0), x.shape.length);
  const dim = x.shape[axis];
  const split = s.ctx.ints(1);
  const rank = s.ctx.optional(1)?.shape.length;
  let sizes: number[];
  if (!split) sizes = new Array(dim).fill(1);
  else if (rank === 0) {
    if (split[0] <= 0) s.ctx.invalid(`split ${split[0]} must be positive`);
    sizes = Array.from({ length: Math.ceil(dim / split[0]) }, (_, k) => Math.min(split[0], dim - k * split[0]));
  } else {
    if (split.some((n) => n < 0) || split.reduce((a, b) => a + b, 0) !== dim) s.ctx.invalid(`split [${split}] does not add up to dim ${axis} of [${x.shape}] (${dim})`);
    sizes = split;
  }
  // keepdims only counts when no split is given (each piece is one slice of the axis)
  const squeeze = !split && s.ctx.attrs.int("keepdims", 1) === 0;
  const axes = s.build.int64("axes", [axis]);
  const items: string[] = [];
  let start = 0;
  for (const n of sizes) {
    const piece = await s.build.node("Slice", [x.name, s.build.int64("starts", [start]), s.build.int64("ends", [start + n]), axes]);
    items.push(squeeze ? await s.build.node("Squeeze", [piece, axes]) : piece);
    start += n;
  }
  return [{ items }];
}) });

ops.define("ConcatFromSequence", resolvedOnly, { lastChange: 11, arity: [1, 1], ...resolve(async (s) => {
  const items = sequence(s, 0);
  if (items.length === 0) s.ctx.unsupported("the sequence is empty, and the result's shape would come from no tensor");
  const newAxis = s.ctx.attrs.int("new_axis", 0) === 1;
  const rank = s.lookup(items[0]).shape.length + (newAxis ? 1 : 0);
  const axis = normAxis(s.ctx, s.ctx.attrs.int("axis", 0), rank);
  const parts = newAxis ? await Promise.all(items.map((e) => s.build.node("Unsqueeze", [e, s.build.int64("axes", [axis])]))) : [...items];
  if (parts.length === 1) return [{ tensor: parts[0] }];
  return [{ tensor: await s.build.node("Concat", parts, { axis: { type: "int", value: axis } }) }];
}) });

// Optional's `type` attribute (a TypeProto) only matters to a run-time optional; kiln's is resolved
ops.define("Optional", resolvedOnly, { arity: [0, 1], ...resolve((s) => [s.operands[0] ? passOn(s.operands[0]) : { none: true }]) });

/** SequenceMap: the body once per element, the sequence inputs giving their k-th element, the tensors themselves. */
ops.define("SequenceMap", resolvedOnly, { lastChange: 17, arity: [1, Infinity], traits: ["subgraphs"], compound: async (s) => {
  const attr = s.ctx.node.attrs.body;
  if (attr?.type !== "graph") return s.ctx.invalid("attribute body must be a graph");
  const body = attr.value;
  const n = sequence(s, 0).length;
  s.operands.forEach((o: Operand | undefined, i) => {
    if (!o || "none" in o) return s.ctx.invalid(`input ${i} must be a sequence or a tensor`);
    if ("items" in o && o.items.length !== n) s.ctx.invalid(`the sequences differ in length (${n} and ${o.items.length})`);
  });
  if (body.inputs.length !== s.operands.length) s.ctx.invalid(`the body takes ${body.inputs.length} inputs, the node gives ${s.operands.length}`);
  const outs: string[][] = body.outputs.map(() => []);
  for (let k = 0; k < n; k++) {
    const args = s.operands.map((o, i) => ("items" in o! ? o.items[k] : tensor(s, i)));
    const got = await s.build.iteration(body, k, args, []);
    got.forEach((g, j) => outs[j].push(g));
  }
  return outs.map((items) => ({ items }));
} });

export const SEQUENCE_OPS = ops.defs;
