// Shape rules for indexing operators (Gather/Scatter families, OneHot, TopK, ...) and for the
// data-dependent ones: TopK with k known only at run time, Compress, NonZero and Unique (over
// run-time values a count of their own, ShapeCtx.dataDim; Unique along an axis needs its input's value).
import { toNumbers } from "../ir/values.js";
import type { DTypeName } from "../../runtime/dtypes.js";
import type { Tensor } from "../ir/graph.js";
import { normAxis, OpTable, type ShapeCtx } from "./registry.js";

const ops = new OpTable();

const INDEX_TYPES: DTypeName[] = ["int32", "int64"];
const sizeOfShape = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const i64 = (dims: number[], xs: number[]): Tensor => ({ dtype: "int64", dims, data: BigInt64Array.from(xs.map(BigInt)) });

/** Constant indices must lie in [-dim, dim): out of range the model is invalid (the kernels would read zeros). */
function checkIndices(ctx: ShapeCtx, i: number, dim: number, axis: number): void {
  const t = ctx.input(i).value;
  if (!t) return;
  const bad = toNumbers(t).find((k) => k < -dim || k >= dim);
  if (bad !== undefined) ctx.invalid(`index ${bad} is out of range for axis ${axis} of size ${dim} (indices lie in [${-dim}, ${dim - 1}])`);
}

ops.define("Gather", (ctx) => {
  const x = ctx.input(0);
  ctx.expectDType(1, INDEX_TYPES);
  const axis = normAxis(ctx, ctx.attrs.int("axis", 0), x.shape.length);
  checkIndices(ctx, 1, x.shape[axis], axis);
  return [{ dtype: x.dtype, shape: [...x.shape.slice(0, axis), ...ctx.input(1).shape, ...x.shape.slice(axis + 1)] }];
}, { arity: [2, 2], lastChange: 13 });

ops.define("GatherElements", (ctx) => {
  const x = ctx.input(0);
  ctx.expectDType(1, INDEX_TYPES);
  const idx = ctx.input(1);
  if (idx.shape.length !== x.shape.length) ctx.fail("indices and data differ in rank");
  const axis = normAxis(ctx, ctx.attrs.int("axis", 0), x.shape.length);
  checkIndices(ctx, 1, x.shape[axis], axis);
  return [{ dtype: x.dtype, shape: [...idx.shape] }];
}, { arity: [2, 2], lastChange: 11 });

ops.define("GatherND", (ctx) => {
  const x = ctx.input(0);
  ctx.expectDType(1, ["int64"]);
  const idx = ctx.input(1).shape;
  const b = ctx.attrs.int("batch_dims", 0);
  const q = idx[idx.length - 1];
  if (q === undefined || b + q > x.shape.length) ctx.fail("index tuples are longer than the data rank");
  return [{ dtype: x.dtype, shape: [...idx.slice(0, -1), ...x.shape.slice(b + q)] }];
}, { lastChange: 13, arity: [2, 2] });

ops.define("OneHot", (ctx) => {
  const idx = ctx.input(0);
  const depth = Math.trunc(ctx.requireInts(1)[0]);
  if (!(depth > 0)) ctx.invalid(`OneHot depth must be positive, got ${depth}`);
  const values = ctx.input(2);
  const r = idx.shape.length + 1;
  const axis = normAxis(ctx, ctx.attrs.int("axis", -1), r);
  return [{ dtype: values.dtype, shape: [...idx.shape.slice(0, axis), depth, ...idx.shape.slice(axis)] }];
}, { lastChange: 11, arity: [3, 3] });

ops.define("TopK", (ctx) => {
  const x = ctx.input(0);
  const axis = normAxis(ctx, ctx.attrs.int("axis", -1), x.shape.length);
  // k known only at run time: the output's length along the axis is a data-dependent dim, at most the axis's
  const runtimeK = ctx.opset >= 10 && !ctx.input(1).value;
  if (runtimeK && ctx.input(1).shape.reduce((a, d) => a * d, 1) !== 1) ctx.fail(`k must hold one value, got [${ctx.input(1).shape.join(",")}]`);
  const k = ctx.opset < 10 ? ctx.attrs.int("k") : runtimeK ? ctx.dataDim(x.shape[axis]) : ctx.requireInts(1)[0];
  // (a run-time k is checked as it runs: a probe may give it any value within its bound)
  if (!runtimeK && (k < 0 || k > x.shape[axis])) ctx.fail(`k=${k} is out of range for axis of size ${x.shape[axis]}`);
  const shape = x.shape.map((d, a) => (a === axis ? k : d));
  return [{ dtype: x.dtype, shape }, { dtype: "int64", shape: [...shape] }];
}, { lastChange: 11, arity: [1, 2], traits: ["data-dependent"] });

ops.define("Range", (ctx) => {
  const [start, limit, delta] = [0, 1, 2].map((i) => toNumbers(ctx.value(i))[0]);
  const n = Math.max(Math.ceil((limit - start) / delta), 0);
  if (!Number.isFinite(n)) ctx.invalid("Range with delta 0");
  return [{ dtype: ctx.input(0).dtype, shape: [n] }];
}, { arity: [3, 3], lastChange: 13, traits: ["bfloat16"] });

function spaceDepthShape(ctx: ShapeCtx, toSpace: boolean) {
  const x = ctx.input(0);
  const b = ctx.attrs.int("blocksize");
  if (x.shape.length !== 4) ctx.fail("needs a 4-D NCHW input");
  const [n, c, h, w] = x.shape;
  if (toSpace && c % (b * b)) ctx.fail(`channels ${c} not divisible by blocksize^2`);
  if (!toSpace && (h % b || w % b)) ctx.fail(`spatial dims not divisible by blocksize ${b}`);
  const shape = toSpace ? [n, c / (b * b), h * b, w * b] : [n, c * b * b, h / b, w / b];
  return [{ dtype: x.dtype, shape }];
}
ops.define("DepthToSpace", (ctx) => spaceDepthShape(ctx, true), { lastChange: 13, arity: [1, 1] });
ops.define("SpaceToDepth", (ctx) => spaceDepthShape(ctx, false), { lastChange: 13, arity: [1, 1] });

ops.define("Compress", (ctx) => {
  const [x, c] = [ctx.input(0), ctx.input(1)];
  if (c.shape.length !== 1) ctx.fail(`condition must be 1-D, got [${c.shape.join(",")}]`);
  const hasAxis = ctx.attrs.has("axis");
  const axis = hasAxis ? normAxis(ctx, ctx.attrs.int("axis"), x.shape.length) : 0;
  const len = hasAxis ? x.shape[axis] : sizeOfShape(x.shape);
  // a condition known only at run time: the count kept is a data-dependent dim (at most the
  // condition's length, entries past the axis's end ignored)
  const kept = c.value ? toNumbers(c.value).slice(0, len).filter((v) => v !== 0).length : ctx.dataDim(Math.min(c.shape[0], len));
  return [{ dtype: x.dtype, shape: hasAxis ? x.shape.map((d, a) => (a === axis ? kept : d)) : [kept] }];
}, { lastChange: 11, traits: ["data-dependent"] });

ops.define("NonZero", (ctx) => {
  const x = ctx.input(0);
  const r = x.shape.length;
  // known only at run time: the count of non-zeros is a data-dependent dim (at most every element)
  if (!x.value) {
    if (r === 0) ctx.unsupported("NonZero of a scalar known only at run time is not supported");
    return [{ dtype: "int64", shape: [r, ctx.dataDim(sizeOfShape(x.shape))] }];
  }
  const data = Array.from(x.value.data as ArrayLike<number | bigint>, (v) => Number(v) !== 0);
  const coords: number[][] = Array.from({ length: r }, () => []);
  data.forEach((nz, flat) => {
    if (!nz) return;
    for (let a = r - 1, rest = flat; a >= 0; a--) {
      coords[a].push(rest % x.shape[a]);
      rest = Math.floor(rest / x.shape[a]);
    }
  });
  const n = data.filter(Boolean).length;
  return [{ dtype: "int64", shape: [r, n], value: i64([r, n], coords.flat()) }];
}, { lastChange: 13, arity: [1, 1], traits: ["data-dependent"] });

type Scalar = number | bigint;

/** Lexicographic order of equal-length rows; NaN after every number and equal to NaN (numpy's unique, and the run-time kernel's) */
function compareRows(a: Scalar[], b: Scalar[]): number {
  for (let k = 0; k < a.length; k++) {
    const [x, y] = [a[k], b[k]];
    if (x === y || (x !== x && y !== y)) continue;
    if (x !== x) return 1;
    if (y !== y) return -1;
    return x < y ? -1 : 1;
  }
  return 0;
}

ops.define("Unique", (ctx) => {
  // A constant input: the whole result is computed here. Known only at run time and flattened (no
  // axis): the count of distinct values is a data-dependent dim (its kernel sorts and counts);
  // along an axis, its value is needed (load() freezes it).
  const x = ctx.input(0);
  if (!x.value && !ctx.attrs.has("axis")) {
    const n = sizeOfShape(x.shape);
    if (n === 0) ctx.unsupported("Unique of an empty tensor known only at run time is not supported");
    const k = ctx.dataDim(n);
    return [{ dtype: x.dtype, shape: [k] }, { dtype: "int64", shape: [k] }, { dtype: "int64", shape: [n] }, { dtype: "int64", shape: [k] }];
  }
  const t = ctx.value(0);
  const vals = Array.from(t.data as ArrayLike<Scalar>);
  const hasAxis = ctx.attrs.has("axis");
  const axis = hasAxis ? normAxis(ctx, ctx.attrs.int("axis"), x.shape.length) : 0;
  const dims = hasAxis ? x.shape : [vals.length];
  const [pre, d, post] = [sizeOfShape(dims.slice(0, axis)), dims[axis], sizeOfShape(dims.slice(axis + 1))];
  // row r = the slice at index r along the axis, flattened
  const rows = Array.from({ length: d }, (_, r) => Array.from({ length: pre * post }, (_, e) => vals[(Math.floor(e / post) * d + r) * post + (e % post)]));
  const firsts: number[] = [];
  const seen = new Map<string, number>();
  const keyOf = (row: Scalar[]) => row.map(String).join(",");
  rows.forEach((row, r) => { if (!seen.has(keyOf(row))) { seen.set(keyOf(row), firsts.length); firsts.push(r); } });
  const order = firsts.map((_, u) => u);
  if (ctx.attrs.int("sorted", 1)) order.sort((a, b) => compareRows(rows[firsts[a]], rows[firsts[b]]));
  const rank = new Map(order.map((u, k) => [u, k]));
  const n = order.length;
  const yDims = dims.map((v, a) => (a === axis ? n : v));
  const y = new (t.data.constructor as { new (n: number): typeof t.data })(pre * n * post) as unknown as Scalar[];
  order.forEach((u, k) => rows[firsts[u]].forEach((v, e) => (y[(Math.floor(e / post) * n + k) * post + (e % post)] = v)));
  const inverse = rows.map((row) => rank.get(seen.get(keyOf(row))!)!);
  const counts = new Array<number>(n).fill(0);
  inverse.forEach((k) => counts[k]++);
  return [
    { dtype: t.dtype, shape: yDims, value: { dtype: t.dtype, dims: yDims, data: y as unknown as typeof t.data } },
    { dtype: "int64", shape: [n], value: i64([n], order.map((u) => firsts[u])) },
    { dtype: "int64", shape: [d], value: i64([d], inverse) },
    { dtype: "int64", shape: [n], value: i64([n], counts) },
  ];
}, { lastChange: 11, traits: ["data-dependent"] });

export const INDEXING_OPS = ops.defs;
