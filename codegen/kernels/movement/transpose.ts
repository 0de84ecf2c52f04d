// 4-byte transposes in 4x4 tiles: when the output's inner dim is strided in the source but some
// other dim is contiguous there, load four v128 source rows, transpose them with shuffles, and
// store four v128 output rows. Edges that do not fill a tile fall back to element moves.
import binaryen from "binaryen";
import type { Expr, Fn, Local } from "../../fn.js";
import { rawLoad, rawStore } from "./raw.js";
import { lastThread, splitNest, stepShare, type ThreadCtx } from "../../threads.js";

const lanes = (ls: number[]) => ls.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]);
const LO = lanes([0, 4, 1, 5]);
const HI = lanes([2, 6, 3, 7]);
const LO64 = lanes([0, 1, 4, 5]);
const HI64 = lanes([2, 3, 6, 7]);

/** Statements that leave the transposed 4x4 tile of rows r (v128 locals, four 32-bit lanes each) in out. */
export function transpose4(m: binaryen.Module, r: Local[], t: Local[], out: Local[]): Expr[] {
  const sh = (a: Local, b: Local, mask: number[]) => m.i8x16.shuffle(a.get(), b.get(), mask);
  return [
    t[0].set(sh(r[0], r[1], LO)), t[1].set(sh(r[2], r[3], LO)),
    t[2].set(sh(r[0], r[1], HI)), t[3].set(sh(r[2], r[3], HI)),
    out[0].set(sh(t[0], t[1], LO64)), out[1].set(sh(t[0], t[1], HI64)),
    out[2].set(sh(t[2], t[3], LO64)), out[3].set(sh(t[2], t[3], HI64)),
  ];
}

/**
 * dst[idx] = src[idx] over `dims` for 4-byte elements, with element strides `S` (source) and
 * `T` (destination, T[last] = 1). Returns false when the tiled form does not apply. `threads`: the
 * threads to share the outermost of the dims outside the tiles among (given those dims), if any.
 */
export function emitTiledTranspose(fn: Fn, dims: number[], S: number[], T: number[], srcAddr: number, dstAddr: number, threads?: (outer: number[]) => ThreadCtx | undefined): boolean {
  const m = fn.m;
  const last = dims.length - 1;
  const c = S.indexOf(1);
  if (c < 0 || c === last || T[last] !== 1 || dims[c] < 4 || dims[last] < 4) return false;
  const others = dims.map((_, k) => k).filter((k) => k !== c && k !== last);
  const [Dc, Dl] = [dims[c], dims[last]];
  const [Dc4, Dl4] = [Dc - (Dc % 4), Dl - (Dl % 4)];
  const v128s = () => [0, 1, 2, 3].map(() => fn.local(binaryen.v128));
  const [rows, tmp, outs] = [v128s(), v128s(), v128s()];
  const [sb, db] = [fn.local(binaryen.i32), fn.local(binaryen.i32)];
  const at = (o: Local[], strides: number[], i: Expr, j: Expr, base: number) => m.i32.add(m.i32.const(base), m.i32.mul(m.i32.const(4),
    m.i32.add(fn.linear(o, others.map((k) => strides[k])), m.i32.add(m.i32.mul(i, m.i32.const(strides[c])), m.i32.mul(j, m.i32.const(strides[last]))))));
  const scalar = (o: Local[], i: Local, j: Local) => rawStore(m, 4, at(o, T, i.get(), j.get(), dstAddr), rawLoad(m, 4, at(o, S, i.get(), j.get(), srcAddr)));
  const outer = others.map((k) => dims[k]);
  // the tiles of rows [i0, i1) (multiples of 4), with their column tail
  const tileRows = (o: Local[], i0: Expr, i1: Expr) => [
    fn.loopDyn(i0, i1, (i) => [
      fn.loop(Dl4, (j) => [
        sb.set(at(o, S, i.get(), j.get(), srcAddr)),
        db.set(at(o, T, i.get(), j.get(), dstAddr)),
        ...rows.map((r, jj) => r.set(m.v128.load(4 * jj * S[last], 4, sb.get()))),
        ...transpose4(m, rows, tmp, outs),
        ...outs.map((v, ii) => m.v128.store(4 * ii * T[c], 4, db.get(), v.get())),
      ], { step: 4 }),
      // the last Dl % 4 columns of these four rows
      fn.loop(4, (ii) => [fn.loop(Dl, (j) => {
        const row = fn.local(binaryen.i32);
        return [row.set(m.i32.add(i.get(), ii.get())), scalar(o, row, j)];
      }, { start: Dl4 })]),
    ], 4),
  ];
  // the last Dc % 4 rows
  const tailRows = (o: Local[]) => fn.loop(Dc, (i) => [fn.loop(Dl, (j) => [scalar(o, i, j)])], { start: Dc4 });
  // threads: the dims outside the tiles shared out, or (a 2-D transpose: K^T of attention's keys)
  // the rows of tiles, the row tail the last thread's
  const th = threads?.(outer.length ? outer : [Dc4 / 4]);
  if (th && outer.length === 0) {
    const share = stepShare(m, th, Dc4 / 4, 4);
    fn.emit(fn.block([...tileRows([], share.lo, share.hi), m.if(lastThread(m, th), tailRows([]))]));
    return true;
  }
  fn.emit(splitNest(fn, th, outer, (o) => [...tileRows(o, m.i32.const(0), m.i32.const(Dc4)), tailRows(o)]));
  return true;
}
