// Border/interior splitting for sliding windows: along one axis, output positions are grouped into
// runs whose in-bounds kernel taps are the same constant range, so no tap needs a bounds check.
// Typically a run per border position and one long interior run.

import type binaryen from "binaryen";
import { minI32, type Expr, type Fn, type Local } from "../../fn.js";

export interface Segment {
  /** first output position of the run, and how many */
  start: number;
  count: number;
  /** in-bounds taps: kLo <= k < kHi (kLo === kHi when none) */
  kLo: number;
  kHi: number;
  /** taps inside the padded extent [-padBegin, len + padEnd) (AveragePool count_include_pad) */
  padTaps: number;
}

/**
 * Runs of positions o in [0, outLen) for taps p = o*stride + k*dilation - padBegin that must fall in
 * [0, len). Also serves ConvTranspose with roles swapped (o = input position, len = output size).
 */
export function segments(outLen: number, len: number, K: number, stride: number, dilation: number, padBegin: number, padEnd = 0): Segment[] {
  const runs: Segment[] = [];
  for (let o = 0; o < outLen; o++) {
    let kLo = -1, kHi = -1, padTaps = 0;
    for (let k = 0; k < K; k++) {
      const p = o * stride + k * dilation - padBegin;
      if (p >= 0 && p < len) { if (kLo < 0) kLo = k; kHi = k + 1; }
      if (p >= -padBegin && p < len + padEnd) padTaps++;
    }
    if (kLo < 0) kLo = kHi = 0;
    const last = runs[runs.length - 1];
    if (last && last.kLo === kLo && last.kHi === kHi && last.padTaps === padTaps) last.count++;
    else runs.push({ start: o, count: 1, kLo, kHi, padTaps });
  }
  return runs;
}

/** Every combination of one run per axis (the cartesian product). */
export function product<T>(lists: T[][]): T[][] {
  return lists.reduce<T[][]>((acc, list) => acc.flatMap((prefix) => list.map((x) => [...prefix, x])), [[]]);
}

/**
 * Loops over the output positions of one run per axis; the last axis goes in blocks of each of
 * `widths` in turn (descending, ending with 1), and `point` emits one block at positions o.
 * With `overlap` (for kernels that store finished values, so recomputing one is harmless) a tail
 * shorter than a vector block becomes one block ending at the run's end instead of scalar steps.
 */
export function runLoops(fn: Fn, segs: Segment[], widths: number[], point: (o: Local[], width: number) => Expr[], overlap = false,
  limits?: readonly ((() => Expr) | undefined)[]): Expr {
  const m = fn.m;
  const o: Local[] = [];
  const last = segs.length - 1;
  // `limits`: this run's output extent along an axis whose length varies (padding.ts): the
  // positions from it on are padding, so each loop stops there (a vector block may still reach
  // past it, within the bound's row) and code for positions wholly past it is skipped
  const upTo = (a: number, end: number): Expr => minI32(m, limits![a]!, () => m.i32.const(end));
  const loop = (a: number, start: number, end: number, step: number, body: (l: Local) => Expr[]): Expr => {
    if (!limits?.[a] || end <= start) return fn.loop(end, body, { start, step });
    return fn.loopDyn(m.i32.const(start), upTo(a, end), body, step);
  };
  const from = (a: number, start: number, code: Expr): Expr => (limits?.[a] ? m.if(m.i32.gt_s(limits[a]!(), m.i32.const(start)), code) : code);
  const nest = (a: number): Expr[] => {
    const g = segs[a];
    const end = g.start + g.count;
    if (a < last) return [loop(a, g.start, end, 1, (l) => { o[a] = l; return nest(a + 1); })];
    let at = g.start;
    return widths.map((w, k) => {
      const start = at;
      at += Math.floor((end - start) / w) * w;
      const code = [loop(a, start, at, w, (l) => { o[a] = l; return point(o, w); })];
      const rest = end - at, next = widths[k + 1] ?? 1;
      if (overlap && w > 1 && rest > 0 && g.count >= w && (next === 1 || rest > w / 2)) {
        code.push(from(a, end - w, fn.loop(end, (l) => { o[a] = l; return point(o, w); }, { start: end - w, step: w })));
        at = end;
      }
      return fn.block(code);
    });
  };
  return fn.block(nest(0));
}

/**
 * float32 lanes at element offsets 0, s, 2s, 3s from byte address ptr + off, for stride s of 1 or
 * 2. Stride 2 shuffles two loads, the second ending exactly at the last element it needs, so
 * nothing past the window is read.
 */
export function strided4(m: binaryen.Module, ptr: () => Expr, off: number, stride: number): Expr {
  if (stride === 1) return m.v128.load(off, 4, ptr());
  return m.i8x16.shuffle(m.v128.load(off, 4, ptr()), m.v128.load(off + 12, 4, ptr()), [0, 1, 2, 3, 8, 9, 10, 11, 20, 21, 22, 23, 28, 29, 30, 31]);
}
