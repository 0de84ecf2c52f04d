// The shared elementwise loop: numpy broadcasting over any rank, with dims coalesced where every
// operand is contiguous, and a 4-lane SIMD inner loop (plus scalar tail) when the op has a SIMD form.
// SIMD lanes are 32 bits wide: float32 as f32x4; 8/16/32-bit ints and bool as i32x4 (widened on
// load by their signedness, wrapped back on store), so one lane form covers every narrow dtype.
import binaryen from "binaryen";
import { dtype, type DTypeName } from "../../runtime/dtypes.js";
import { broadcastStrides, type Expr, type Local } from "../fn.js";
import { load, store } from "../memory.js";
import type { KernelCtx, TensorRef } from "./kernel.js";
import { lastThread, splitNest, stepShare, threadShare } from "../threads.js";
import { prefixDim } from "../symbolic.js";

export interface ElementwiseSpec {
  inputs: TensorRef[];
  output: TensorRef;
  /** compute-type values of the inputs (in their own dtypes) -> compute-type value of the output dtype */
  scalar: (vals: Expr[]) => Expr;
  /** 4-lane form (v128 per operand, see the header); used when every operand is float32 unless simdWhen says otherwise */
  simd?: (vals: Expr[]) => Expr;
  /** the operands' dtypes (inputs then output) for which `simd` is valid; default: all float32 */
  simdWhen?: (dtypes: DTypeName[]) => boolean;
}

/** Merge adjacent dims that are contiguous for every operand. Returns the reduced dims and strides. */
export function coalesce(dims: number[], strides: number[][]): { dims: number[]; strides: number[][] } {
  const d: number[] = [];
  const s: number[][] = strides.map(() => []);
  for (let k = 0; k < dims.length; k++) {
    if (dims[k] === 1) continue;
    const last = d.length - 1;
    if (last >= 0 && strides.every((st, j) => s[j][last] === st[k] * dims[k])) {
      d[last] *= dims[k];
      strides.forEach((st, j) => (s[j][last] = st[k]));
      continue;
    }
    d.push(dims[k]);
    strides.forEach((st, j) => s[j].push(st[k]));
  }
  return { dims: d, strides: s };
}

/**
 * coalesce for the padded layout: a varying dim (vary[k]) is merged with no neighbour, so its loop
 * can run this run's extent; origin[j] is the output dim a varying coalesced dim j comes from.
 */
export function coalesceApart(dims: number[], strides: number[][], vary: boolean[]): { dims: number[]; strides: number[][]; origin: (number | undefined)[] } {
  const d: number[] = [];
  const s: number[][] = strides.map(() => []);
  const origin: (number | undefined)[] = [];
  for (let k = 0; k < dims.length; k++) {
    if (dims[k] === 1 && !vary[k]) continue;
    const last = d.length - 1;
    if (last >= 0 && !vary[k] && origin[last] === undefined && strides.every((st, j) => s[j][last] === st[k] * dims[k])) {
      d[last] *= dims[k];
      strides.forEach((st, j) => (s[j][last] = st[k]));
      continue;
    }
    d.push(dims[k]);
    origin.push(vary[k] ? k : undefined);
    strides.forEach((st, j) => s[j].push(st[k]));
  }
  return { dims: d, strides: s, origin };
}

/** dtypes that load as 4 lanes of 32 bits */
const LANE_DTYPES: ReadonlySet<DTypeName> = new Set(["float32", "int32", "uint32", "int16", "uint16", "int8", "uint8", "bool"]);
const signed = (dt: DTypeName) => dtype(dt).signed;

/** Load 4 consecutive elements at byte address ptr + offset as 32-bit lanes. */
export function loadLanes(m: binaryen.Module, dt: DTypeName, ptr: Expr, offset: number): Expr {
  switch (dtype(dt).bytes) {
    case 4: return m.v128.load(offset, 4, ptr);
    case 2: return signed(dt) ? m.v128.load16x4_s(offset, 2, ptr) : m.v128.load16x4_u(offset, 2, ptr);
    default: {
      const bytes = m.v128.load32_zero(offset, 1, ptr);
      return signed(dt)
        ? m.i32x4.extend_low_i16x8_s(m.i16x8.extend_low_i8x16_s(bytes))
        : m.i32x4.extend_low_i16x8_u(m.i16x8.extend_low_i8x16_u(bytes));
    }
  }
}

/** Store 4 lanes of 32 bits as consecutive elements of dt (narrow dtypes keep the low bits: wrap-around). */
export function storeLanes(m: binaryen.Module, dt: DTypeName, ptr: Expr, offset: number, v: Expr): Expr {
  switch (dtype(dt).bytes) {
    case 4: return m.v128.store(offset, 4, ptr, v);
    case 2: return m.v128.store64_lane(offset, 2, 0, ptr, m.i8x16.shuffle(v, v, [0, 1, 4, 5, 8, 9, 12, 13, 0, 1, 4, 5, 8, 9, 12, 13]));
    default: return m.v128.store32_lane(offset, 1, 0, ptr, m.i8x16.shuffle(v, v, [0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12]));
  }
}

/** One element broadcast to 4 lanes. */
function splatLanes(m: binaryen.Module, dt: DTypeName, scalar: Expr): Expr {
  return dt === "float32" ? m.f32x4.splat(scalar) : m.i32x4.splat(scalar);
}

/** operands past this many keep no local of their own (see emitElementwise) */
const MAX_OPERAND_LOCALS = 256;

export function emitElementwise(ctx: KernelCtx, spec: ElementwiseSpec): void {
  const { m, fn } = ctx;
  const out = spec.output;
  if (out.size === 0) return;
  const outDims = out.dims;
  const all = [...spec.inputs, out];
  const raw = all.map((t) => broadcastStrides(t.dims, outDims));
  // the padded layout with varying dims not in the prefix form ([1, 1, seq, seq] masks): each
  // varying dim its own loop of this run's extent, never coalesced with a neighbour
  const outExpr = ctx.symbolic?.dims.get(out.name);
  const padded = outExpr !== undefined && prefixDim(outDims, outExpr) === undefined;
  const { dims, strides, origin } = padded ? coalesceApart([...outDims], raw, outExpr.map((e) => typeof e !== "number")) : { ...coalesce([...outDims], raw), origin: undefined };
  if (dims.length === 0) { dims.push(1); strides.forEach((s) => s.push(0)); }
  const rank = dims.length;
  const inner = dims[rank - 1];
  const outer = dims.slice(0, rank - 1);
  const dts = all.map((t) => t.dtype);
  const simdOk = spec.simdWhen ? spec.simdWhen(dts) && dts.every((d) => LANE_DTYPES.has(d)) : dts.every((d) => d === "float32");
  const useSimd = spec.simd !== undefined && simdOk &&
    strides.every((s) => s[rank - 1] === 0 || s[rank - 1] === 1) && inner >= 4;
  // a symbolic leading dim: the extent of the outermost coalesced dim (it starts at that dim) at run time
  const rows0 = padded ? undefined : ctx.runtimeExtent(out, dims[0]);
  // padded: this run's extent of each varying coalesced dim, in a local
  const extents = origin?.map((k) => (k === undefined ? undefined : { l: fn.local(binaryen.i32), v: ctx.runtimeDim(out, k)! }));
  const rows = rows0 === undefined ? extents?.[rank - 1]?.l : fn.local(binaryen.i32);
  const innerRt = padded ? rows : rows && rank === 1;
  const rtVecEnd = innerRt && useSimd ? fn.local(binaryen.i32) : undefined;
  const loopTo = (end: number, rt: Local | undefined, f: (i: Local) => Expr[], step: number) =>
    (rt ? fn.loopDyn(m.i32.const(0), rt.get(), f, step) : fn.loop(end, f, { step }));
  const loopFrom = (start: number, end: number, f: (i: Local) => Expr[]) =>
    (rtVecEnd ? fn.loopDyn(rtVecEnd.get(), rows!.get(), f) : innerRt ? fn.loopDyn(m.i32.const(0), rows!.get(), f) : fn.loop(end, f, { start }));
  // threads on a one-dim loop: this thread's share of its vectors (or, scalar only, of its
  // elements), the scalar tail on the last thread: each element through the path it takes on one
  const oneDim = outer.length === 0 && !rows && !extents ? ctx.splitAmong() : undefined;
  let share: { vec?: { lo: Expr; hi: Expr }; scalar?: { lo: Expr; hi: Expr }; tail?: Expr } | undefined;
  if (oneDim) {
    if (!useSimd) share = { scalar: threadShare(m, oneDim, inner) };
    else share = { vec: stepShare(m, oneDim, Math.floor(inner / 4), 4), tail: lastThread(m, oneDim) };
  }

  // byte offset of the row start per operand, in a local each; a variadic op with thousands of
  // operands computes them where it reads instead (V8 takes at most 50,000 locals per function)
  const rowStrides = all.map((t, j) => strides[j].slice(0, rank - 1).map((st) => st * dtype(t.dtype).bytes));
  const inline = all.length > MAX_OPERAND_LOCALS;
  const bases = inline ? [] : all.map(() => fn.local(binaryen.i32));
  const body = (idx: Local[]): Expr[] => {
    const base = (j: number) => (inline ? fn.linear(idx, rowStrides[j]) : bases[j].get());
    const stmts: Expr[] = inline ? [] : all.map((_, j) => bases[j].set(fn.linear(idx, rowStrides[j])));
    let start = 0;
    if (useSimd) {
      const vecEnd = inner - (inner % 4);
      const splat = (t: TensorRef, j: number) => splatLanes(m, t.dtype, load(m, t.dtype, base(j), t.addr));
      const splats = spec.inputs.map((t, j) => {
        if (strides[j][rank - 1] !== 0 || inline) return undefined;
        const l = fn.local(binaryen.v128);
        stmts.push(l.set(splat(t, j)));
        return l;
      });
      const o = all.length - 1;
      const vecLoop = (f: (i: Local) => Expr[]) => (share?.vec ? fn.loopDyn(share.vec.lo, share.vec.hi, f, 4) : loopTo(vecEnd, rtVecEnd, f, 4));
      stmts.push(vecLoop((i) => {
        const at = (j: number) => m.i32.add(base(j), m.i32.mul(i.get(), m.i32.const(dtype(all[j].dtype).bytes)));
        const vals = spec.inputs.map((t, j) => splats[j] ? splats[j]!.get() : strides[j][rank - 1] === 0 ? splat(t, j) : loadLanes(m, t.dtype, at(j), t.addr));
        return [storeLanes(m, out.dtype, at(o), out.addr, spec.simd!(vals))];
      }));
      start = vecEnd;
    }
    const scalarLoop = (f: (i: Local) => Expr[]) => (share?.scalar ? fn.loopDyn(share.scalar.lo, share.scalar.hi, f) : loopFrom(start, inner, f));
    const tail = scalarLoop((i) => {
      const vals = spec.inputs.map((t, j) => load(m, t.dtype, m.i32.add(base(j), m.i32.mul(i.get(), m.i32.const(strides[j][rank - 1] * dtype(t.dtype).bytes))), t.addr));
      const o = all.length - 1;
      return [store(m, out.dtype, m.i32.add(base(o), m.i32.mul(i.get(), m.i32.const(strides[o][rank - 1] * dtype(out.dtype).bytes))), spec.scalar(vals), out.addr)];
    });
    stmts.push(share?.tail && start < inner ? m.if(share.tail, tail) : tail);
    return stmts;
  };
  if (extents) {
    const nest = (k: number, idx: Local[]): Expr => {
      if (k === rank - 1) return fn.block(body(idx));
      const e = extents[k];
      return e ? fn.loopDyn(m.i32.const(0), e.l.get(), (i) => [nest(k + 1, [...idx, i])]) : fn.loop(dims[k], (i) => [nest(k + 1, [...idx, i])]);
    };
    const sets = extents.flatMap((e) => (e ? [e.l.set(e.v)] : []));
    return fn.emit(fn.block([...sets, ...(rtVecEnd ? [rtVecEnd.set(m.i32.and(rows!.get(), m.i32.const(~3)))] : []), nest(0, [])]));
  }
  if (rows) {
    // a symbolic leading dim: the outermost loop runs this run's extent (ctx.runtimeExtent), the
    // rest as compiled; strides are the upper bounds' (the padded layout). Threads share out that
    // loop as below (a one-dim loop stays on one thread)
    if (rank === 1) return fn.emit(fn.block([rows.set(rows0!), ...(rtVecEnd ? [rtVecEnd.set(m.i32.and(rows.get(), m.i32.const(~3)))] : []), ...body([])]));
    const threads = ctx.splitAmong();
    const share = threads ? threadShare(m, threads, rows.get) : { lo: m.i32.const(0), hi: rows.get() };
    return fn.emit(fn.block([rows.set(rows0!), fn.loopDyn(share.lo, share.hi, (i) => [fn.nest(outer.slice(1), (rest) => body([i, ...rest]))])]));
  }
  // threads: the outermost of the outer dims shared out (each element by one thread, through the
  // same vector or scalar path as on one thread); a one-dim loop as `share` says
  fn.emit(outer.length ? splitNest(fn, ctx.splitAmong(), outer, body) : fn.block(body([])));
}
