// Strided copies: every pure data-movement op (Transpose, Slice, Concat, Split, Expand, Tile,
// DepthToSpace, ...) is one or more views "dst[i] = src[i]" where both sides are affine in the
// output index. Dims are coalesced first; contiguous inner runs become memory.copy.
import binaryen from "binaryen";
import { dtype, type DTypeName } from "../../../runtime/dtypes.js";
import { stridesOf, type Expr, type Fn } from "../../fn.js";
import { coalesce, coalesceApart } from "../loops.js";
import { emitTiledTranspose } from "./transpose.js";
import { splitNest } from "../../threads.js";
import type { KernelCtx, TensorRef } from "../kernel.js";

export interface View {
  /** loop dims (outermost first) */
  dims: number[];
  /** byte address of element [0, ..., 0] and element strides, per side */
  src: { addr: number; strides: number[] };
  dst: { addr: number; strides: number[] };
  bytes: number;
}

import { rawLoad, rawStore } from "./raw.js";
export { rawLoad, rawStore, rawZero } from "./raw.js";

export const bytesOf = (dt: DTypeName) => dtype(dt).bytes;

/** Runs up to this many bytes are copied with unrolled v128/i64/... moves; longer ones with memory.copy. */
const UNROLL_BYTES = 64;

/** Copy `bytes` from src to dst (i32 byte addresses). */
export function copyBytes(fn: Fn, dst: Expr, src: Expr, bytes: number): Expr {
  const m = fn.m;
  if (bytes === 0) return m.nop();
  if (bytes > UNROLL_BYTES) return m.memory.copy(dst, src, m.i32.const(bytes));
  const chunks: [number, number][] = [];
  for (let o = 0, left = bytes; left > 0;) {
    const c = [16, 8, 4, 2, 1].find((w) => w <= left)!;
    chunks.push([o, c]);
    o += c;
    left -= c;
  }
  const move = (d: Expr, s: Expr, [o, c]: [number, number]) =>
    c === 16 ? m.v128.store(o, 1, d, m.v128.load(o, 1, s)) : rawStore(m, c, d, rawLoad(m, c, s, o), o);
  if (chunks.length === 1) return move(dst, src, chunks[0]);
  const d = fn.local(binaryen.i32);
  const s = fn.local(binaryen.i32);
  return fn.block([d.set(dst), s.set(src), ...chunks.map((ch) => move(d.get(), s.get(), ch))]);
}

/**
 * `split`: a layer of this one view may share its outermost loop (after coalescing) among
 * ctx.threads (docs/THREADS.md), each output element copied by one thread; a view whose outer loop
 * is a single trip (one memory.copy, a 2-D tiled transpose) stays on thread 0.
 */
export function emitView(ctx: KernelCtx, v: View, split = false, runtime?: (Expr | undefined)[], shift?: Shift): void {
  const { m, fn } = ctx;
  if (v.dims.some((d) => d === 0)) return;
  if (runtime?.some((e) => e !== undefined) || shift) return emitPaddedView(ctx, v, runtime ?? [], shift);
  const c = coalesce([...v.dims], [v.src.strides, v.dst.strides]);
  const dims = c.dims.length ? c.dims : [1];
  const [ss, ds] = c.dims.length ? c.strides : [[0], [0]];
  const r = dims.length;
  const contiguous = ss[r - 1] === 1 && ds[r - 1] === 1;
  const run = dims[r - 1] * v.bytes;
  const addr = (base: number, strides: number[], idx: Parameters<Fn["linear"]>[0]) =>
    m.i32.add(m.i32.const(base), m.i32.mul(fn.linear(idx, strides), m.i32.const(v.bytes)));
  // the threads for a loop nest over `outer`, when it has an outer dim to share
  const among = (outer: readonly number[]) => (split && ctx.threads && outer.length > 0 && outer[0] > 1 ? ctx.splitAmong() : undefined);
  if (contiguous && (run > v.bytes || r === 1)) {
    const outer = dims.slice(0, r - 1);
    fn.emit(splitNest(fn, among(outer), outer, (idx) => [copyBytes(fn, addr(v.dst.addr, ds, idx), addr(v.src.addr, ss, idx), run)]));
    return;
  }
  if (ss[r - 1] === 0 && ds[r - 1] === 1 && dims[r - 1] * v.bytes >= 32) {
    const outer = dims.slice(0, r - 1);
    fn.emit(splitNest(fn, among(outer), outer, (idx) => emitSplatRun(fn, addr(v.dst.addr, ds, idx), addr(v.src.addr, ss, idx), v.bytes, dims[r - 1])));
    return;
  }
  if (v.bytes === 4 && emitTiledTranspose(fn, dims, ss, ds, v.src.addr, v.dst.addr, (outer) => among(outer))) return;
  fn.emit(splitNest(fn, among(dims), dims, (idx) => [rawStore(m, v.bytes, addr(v.dst.addr, ds, idx), rawLoad(m, v.bytes, addr(v.src.addr, ss, idx)))]));
}

/** run-time byte offsets added to a view's source or destination address (a Concat part after parts of symbolic length) */
export interface Shift {
  src?: Expr;
  dst?: Expr;
}

/**
 * A view in the padded layout (strides at the upper bounds) whose dims k with runtime[k] set vary:
 * those loops run this run's extent and are coalesced with no neighbour; one thread. `shift` moves
 * the source or destination by a run-time number of bytes.
 */
function emitPaddedView(ctx: KernelCtx, v: View, runtime: (Expr | undefined)[], shift: Shift = {}): void {
  const { m, fn } = ctx;
  const c = coalesceApart([...v.dims], [v.src.strides, v.dst.strides], v.dims.map((_, k) => runtime[k] !== undefined));
  const [ss, ds] = c.strides;
  const r = c.dims.length;
  const ext = c.origin.map((k) => (k === undefined ? undefined : { l: fn.local(binaryen.i32), v: runtime[k]! }));
  const sets: Expr[] = [];
  const [srcShift, dstShift] = [shift.src, shift.dst].map((e) => {
    if (!e) return undefined;
    const l = fn.local(binaryen.i32);
    sets.push(l.set(e));
    return l;
  });
  const at = (base: number, strides: number[], idx: Parameters<Fn["linear"]>[0]) =>
    m.i32.add(m.i32.const(base), m.i32.mul(fn.linear(idx, strides), m.i32.const(v.bytes)));
  const addr = (base: number, strides: number[], idx: Parameters<Fn["linear"]>[0]) => {
    const l = strides === ss ? srcShift : dstShift;
    return l ? m.i32.add(at(base, strides, idx), l.get()) : at(base, strides, idx);
  };
  // a static contiguous innermost dim: one run per row
  const run = ext[r - 1] === undefined && ss[r - 1] === 1 && ds[r - 1] === 1;
  const depth = run ? r - 1 : r;
  const nest = (k: number, idx: Parameters<Fn["linear"]>[0]): Expr => {
    if (k === depth) {
      return run ? copyBytes(fn, addr(v.dst.addr, ds, idx), addr(v.src.addr, ss, idx), c.dims[r - 1] * v.bytes)
        : rawStore(m, v.bytes, addr(v.dst.addr, ds, idx), rawLoad(m, v.bytes, addr(v.src.addr, ss, idx)));
    }
    const e = ext[k];
    const inner = (i: Parameters<Fn["linear"]>[0][number]) => [nest(k + 1, [...idx, i])];
    return e ? fn.loopDyn(m.i32.const(0), e.l.get(), inner) : fn.loop(c.dims[k], inner);
  };
  fn.emit(fn.block([...sets, ...ext.flatMap((e) => (e ? [e.l.set(e.v)] : [])), nest(0, [])]));
}

/** Statements writing `count` copies of the element at src to dst..: v128 splats, then a scalar tail. */
function emitSplatRun(fn: Fn, dst: Expr, src: Expr, bytes: number, count: number): Expr[] {
  const m = fn.m;
  const d = fn.local(binaryen.i32);
  const x = fn.local(bytes === 8 ? binaryen.i64 : binaryen.i32);
  const vec = fn.local(binaryen.v128);
  const splat = { 1: m.i8x16, 2: m.i16x8, 4: m.i32x4, 8: m.i64x2 }[bytes as 1 | 2 | 4 | 8].splat(x.get());
  const perVec = 16 / bytes;
  const whole = count - (count % perVec);
  return [
    d.set(dst), x.set(rawLoad(m, bytes, src)), vec.set(splat),
    fn.loop(whole * bytes, (i) => [m.v128.store(0, 1, m.i32.add(d.get(), i.get()), vec.get())], { step: 16 }),
    fn.loop(count * bytes, (i) => [rawStore(m, bytes, m.i32.add(d.get(), i.get()), x.get())], { start: whole * bytes, step: bytes }),
  ];
}

/** A view writing all of `out` (row-major) from `src` laid out with `srcStrides` per output dim. */
export function viewInto(out: TensorRef, srcAddr: number, srcStrides: number[], dims = out.dims): View {
  return { dims, src: { addr: srcAddr, strides: srcStrides }, dst: { addr: out.addr, strides: stridesOf(dims) }, bytes: bytesOf(out.dtype) };
}

/** Output of transposing a tensor of `dims` (at srcAddr) by `perm`, written contiguously to out. */
export function transposeView(out: TensorRef, srcAddr: number, dims: number[], perm: number[]): View {
  const st = stridesOf(dims);
  return viewInto(out, srcAddr, perm.map((p) => st[p]), perm.map((p) => dims[p]));
}

