// The Winograd filter transform U = G g G^T as wasm, run when a compact artifact's weights are
// placed (codegen/derive.ts): the artifact ships the 3x3 filters (9 floats) instead of U (a*a
// floats, 16 for F2 and 36 for F4). Bit for bit winograd-math.ts's transformF2 / transformF4 /
// transformAny: the same float64 products and sums in the same order, each rounded to float32 once
// as it is stored (f32.demote_f64 and a Float32Array store both round to nearest even), so the
// checksum the compiler computes from the JS form holds for the bytes the runtime derives.
import binaryen from "binaryen";
import { Fn, type Expr } from "../../fn.js";
import type { DeriveCode } from "../kernel.js";
import { F2, F4, type WinogradTile } from "./winograd-math.js";

/** f64 arithmetic on one filter (f64) or on two filters at once (f64x2: lane k, filter k; each lane the same IEEE operation) */
interface Arith {
  type: binaryen.Type;
  mul(a: Expr, b: Expr): Expr;
  add(a: Expr, b: Expr): Expr;
  c(v: number): Expr;
}

const scalar = (m: binaryen.Module): Arith => ({ type: binaryen.f64, mul: (a, b) => m.f64.mul(a, b), add: (a, b) => m.f64.add(a, b), c: (v) => m.f64.const(v) });
const pair = (m: binaryen.Module): Arith => ({
  type: binaryen.v128, mul: (a, b) => m.f64x2.mul(a, b), add: (a, b) => m.f64x2.add(a, b),
  c: (v) => m.v128.const([...new Uint8Array(Float64Array.of(v, v).buffer)]),
});

/** row i of G (or of G^T) applied to three values: one stage of the transform */
type Combine = (o: Arith, row: number, x: (() => Expr)[]) => Expr;

/** transformF4 / transformAny: q0*x0 + q1*x1 + q2*x2 with G's row as given (zeros and ones multiplied, as there) */
const generic = (t: WinogradTile, left: boolean): Combine => (o, i, x) => {
  const term = (k: number) => (left ? o.mul(o.c(t.G[i][k]), x[k]()) : o.mul(x[k](), o.c(t.G[i][k])));
  return o.add(o.add(term(0), term(1)), term(2));
};

/** transformF2's spelled-out rows: x0, .5x0 + .5x1 + .5x2, .5x0 + -.5x1 + .5x2, x2 */
const spelledF2: Combine = (o, i, x) => {
  if (i === 0) return x[0]();
  if (i === 3) return x[2]();
  const half = (v: number, k: number) => o.mul(o.c(v), x[k]());
  return o.add(o.add(half(0.5, 0), half(i === 1 ? 0.5 : -0.5, 1)), half(0.5, 2));
};

/**
 * Weights [M, C, 3, 3] float32 at src -> U[xi][Mp/4][C][4] at dst (winograd-math.ts
 * transformedConstant's layout and its zero padding channels when M % 4): a call of the module's
 * one transform function for the tile (added with the first layer that needs it), whose bounds are
 * its parameters. One function for every layer: V8 optimizes a hot function in the background, and
 * a function per layer, each run once, had it compile code it never ran (measured: a third more
 * CPU than running the baseline code alone); shared, the optimized code serves the later layers.
 */
export function winogradDerive(t: WinogradTile, M: number, C: number): DeriveCode {
  return (fn, src, dst) => {
    const m = fn.m;
    const name = `winograd_derive_F${t.m}${t === F2 || t === F4 ? "" : `_${t.a}`}`;
    if (!m.getFunction(name)) addTransform(m, name, t);
    fn.emit(m.call(name, [src, dst, M, C].map((v) => m.i32.const(v)), binaryen.none));
  };
}

/**
 * The transform as a function (src, dst, M, C). Filters go two at a time (f64x2; filters 2k and
 * 2k+1 are neighbours in U's blocks of 4), an odd last one alone; each row of G g is used at once
 * for its row of U, so few values are live (V8's baseline compiler keeps them in registers).
 */
function addTransform(m: binaryen.Module, name: string, t: WinogradTile): void {
  const rowStage = t === F2 ? spelledF2 : generic(t, true);
  const colStage = t === F2 ? spelledF2 : generic(t, false);
  const a = t.a;
  const fn = new Fn(m, name, [binaryen.i32, binaryen.i32, binaryen.i32, binaryen.i32]);
  const [src, dst, M, C] = [0, 1, 2, 3].map((k) => fn.param(k));
  const i32 = (v: number) => m.i32.const(v);
  const { add, mul, shl } = { add: m.i32.add, mul: m.i32.mul, shl: m.i32.shl };
  const from = fn.local(binaryen.i32), next = fn.local(binaryen.i32), to = fn.local(binaryen.i32), at = fn.local(binaryen.i32);
  // bytes between xi planes: (Mp / 4) * C * 16, Mp = M rounded up to 4; one filter's 9 floats: 36
  const plane = fn.local(binaryen.i32), filterBytes = fn.local(binaryen.i32);
  fn.emit(
    plane.set(mul(m.i32.shr_u(add(M.get(), i32(3)), i32(2)), shl(C.get(), i32(4)))),
    filterBytes.set(mul(C.get(), i32(36))),
    m.if(m.i32.and(M.get(), i32(3)), m.memory.fill(dst.get(), i32(0), mul(plane.get(), i32(a * a)))),
  );
  /** the filter channel's transform: g loaded, then row by row tmp = G g and U = tmp G^T, each value stored a plane after the last */
  const body = (o: Arith, load: (k: number) => Expr, store: (v: Expr) => Expr): Expr[] => {
    const g = Array.from({ length: 9 }, () => fn.local(o.type));
    const tmp = Array.from({ length: 3 }, () => fn.local(o.type));
    return [
      ...g.map((l, k) => l.set(load(k))),
      at.set(to.get()),
      ...Array.from({ length: a }, (_, i) => [
        ...tmp.map((l, c) => l.set(rowStage(o, i, [0, 1, 2].map((r) => g[r * 3 + c].get)))),
        ...Array.from({ length: a }, (_, j) => [store(colStage(o, j, tmp.map((l) => l.get))), at.set(add(at.get(), plane.get()))]).flat(),
      ]).flat(),
    ];
  };
  // U's element of (filter mi, channel ci) at xi = 0: ((mi >> 2) * C + ci) * 4 + (mi & 3), as bytes from dst
  const uAt = (mi: Expr, ci: Expr) => add(dst.get(), shl(add(shl(add(mul(m.i32.shr_u(mi, i32(2)), C.get()), ci), i32(2)), m.i32.and(mi, i32(3))), i32(2)));
  const o2 = pair(m);
  fn.emit(fn.loopDyn(i32(0), m.i32.shr_u(M.get(), i32(1)), (p) => [
    from.set(add(src.get(), mul(p.get(), shl(filterBytes.get(), i32(1))))),
    fn.loopDyn(i32(0), C.get(), (ci) => [
      to.set(uAt(shl(p.get(), i32(1)), ci.get())),
      next.set(add(from.get(), filterBytes.get())),
      // lane 0 filter 2p, lane 1 filter 2p + 1 (C * 36 bytes further)
      ...body(o2, (k) => m.f64x2.promote_low_f32x4(m.v128.load32_lane(k * 4, 4, 1, next.get(), m.v128.load32_zero(k * 4, 4, from.get()))),
        (v) => m.v128.store64_lane(0, 4, 0, at.get(), m.f32x4.demote_f64x2_zero(v))),
      from.set(add(from.get(), i32(36))),
    ]),
  ]));
  // an odd last filter alone
  const o1 = scalar(m);
  fn.emit(m.if(m.i32.and(M.get(), i32(1)), fn.block([
    from.set(add(src.get(), mul(m.i32.sub(M.get(), i32(1)), filterBytes.get()))),
    fn.loopDyn(i32(0), C.get(), (ci) => [
      to.set(uAt(m.i32.sub(M.get(), i32(1)), ci.get())),
      ...body(o1, (k) => m.f64.promote(m.f32.load(k * 4, 4, from.get())), (v) => m.f32.store(0, 4, at.get(), m.f32.demote(v))),
      from.set(add(from.get(), i32(36))),
    ]),
  ])));
  fn.finish();
}
