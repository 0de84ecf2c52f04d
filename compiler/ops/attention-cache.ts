// TensorScatter (opset 24): a KV cache's update. present = past with the update's rows written along
// `axis` from each batch entry's write index (linear), or from it modulo the cache's length
// (circular). The geometry is shared with the kernel through tensorScatterGeometry.
import { dtype } from "../../runtime/dtypes.js";
import { toNumbers } from "../ir/values.js";
import { OpTable } from "./registry.js";

const ops = new OpTable();

export interface TensorScatterGeometry {
  /** the sequence axis, normalized */
  axis: number;
  batch: number;
  /** rows of the cache before the axis in each batch entry (the dims between batch and axis) */
  perBatch: number;
  /** the cache's length along the axis (max_sequence_length) and the update's (sequence_length) */
  maxSeq: number;
  seq: number;
  /** elements after the axis: one row */
  row: number;
  circular: boolean;
}

export function tensorScatterGeometry(mode: string, axisAttr: number, past: readonly number[], update: readonly number[],
  indices: readonly number[] | undefined, bad: (message: string) => never): TensorScatterGeometry {
  if (mode !== "linear" && mode !== "circular") bad(`mode must be linear or circular, not ${JSON.stringify(mode)}`);
  const r = past.length;
  if (update.length !== r) bad(`past_cache and update differ in rank (${r}, ${update.length})`);
  const axis = axisAttr < 0 ? axisAttr + r : axisAttr;
  if (axis <= 0 || axis >= r) bad(`axis ${axisAttr} must name a dim of rank ${r} other than the batch (0)`);
  past.forEach((d, k) => {
    if (k !== axis && update[k] !== d) bad(`update [${update.join(",")}] differs from past_cache [${past.join(",")}] in dim ${k}`);
  });
  if (update[axis] > past[axis]) bad(`update's sequence length ${update[axis]} exceeds past_cache's ${past[axis]} (axis ${axis})`);
  if (indices && (indices.length !== 1 || indices[0] !== past[0])) bad(`write_indices must be [batch] = [${past[0]}], not [${indices.join(",")}]`);
  const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);
  return { axis, batch: past[0], perBatch: prod(past.slice(1, axis)), maxSeq: past[axis], seq: update[axis], row: prod(past.slice(axis + 1)), circular: mode === "circular" };
}

ops.define("TensorScatter", (ctx) => {
  const [past, update, wi] = [ctx.input(0), ctx.input(1), ctx.optional(2)];
  if (update.dtype !== past.dtype) ctx.invalid(`update's type ${update.dtype} differs from past_cache's ${past.dtype}`);
  if (wi && wi.dtype !== "int64") ctx.invalid(`write_indices must be int64, not ${wi.dtype}`);
  // what the spec forbids is an invalid model; the shapes that do not go together, a mismatch
  const [mode, axis] = [ctx.attrs.string("mode", "linear"), ctx.attrs.int("axis", -2)];
  tensorScatterGeometry(mode, axis, past.shape, past.shape, undefined, (msg) => ctx.invalid(msg));
  const g = tensorScatterGeometry(mode, axis, past.shape, update.shape, wi?.shape, (msg) => ctx.fail(msg));
  // the kernel moves whole rows of bytes: a packed type's row must fill whole bytes
  const bits = dtype(past.dtype).bits;
  if ((g.row * bits) % 8) ctx.unsupported(`TensorScatter of ${past.dtype} rows of ${g.row} elements (not whole bytes) has no kernel`);
  // write indices known at compile time are checked here (the kernel checks those it reads)
  if (wi?.value) {
    const bad = toNumbers(wi.value).find((w) => w < 0 || (!g.circular && w + g.seq > g.maxSeq));
    if (bad !== undefined) ctx.invalid(`write index ${bad} is out of range: ${g.circular ? "indices are non-negative" : `indices lie in [0, ${g.maxSeq - g.seq}] for ${g.seq} rows in a cache of ${g.maxSeq}`}`);
  }
  return [{ dtype: past.dtype, shape: [...past.shape] }];
}, { arity: [2, 3], traits: ["low-bit"], lastChange: 24 });

export const CACHE_OPS = ops.defs;
