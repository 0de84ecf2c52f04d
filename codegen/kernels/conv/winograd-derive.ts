// The Winograd filter transform U = G g G^T as wasm, run when a compact artifact's weights are
// placed (codegen/derive.ts): the artifact ships the 3x3 filters (9 floats) instead of U (a*a
// floats, 16 for F2 and 36 for F4). Bit for bit winograd-math.ts's transformF2 / transformF4 /
// transformAny: the same float64 products and sums in the same order, each rounded to float32 once
// as it is stored (f32.demote_f64 and a Float32Array store both round to nearest even), so the
// checksum the compiler computes from the JS form holds for the bytes the runtime derives.
import binaryen from "binaryen";
import type { Expr } from "../../fn.js";
import type { DeriveCode } from "../kernel.js";
import { F2, type WinogradTile } from "./winograd-math.js";

/** f64 expression getters of one filter row or column, and the row of G (or G^T) that combines them */
type Combine = (m: binaryen.Module, row: number, x: (() => Expr)[]) => Expr;

/** transformF4 / transformAny: q0*x0 + q1*x1 + q2*x2 with G's row as given (zeros and ones multiplied, as there) */
const generic = (t: WinogradTile, left: boolean): Combine => (m, i, x) => {
  const q = t.G[i].map((v) => m.f64.const(v));
  const term = (k: number) => (left ? m.f64.mul(q[k], x[k]()) : m.f64.mul(x[k](), q[k]));
  return m.f64.add(m.f64.add(term(0), term(1)), term(2));
};

/** transformF2's spelled-out rows: x0, .5x0 + .5x1 + .5x2, .5x0 + -.5x1 + .5x2, x2 */
const spelledF2: Combine = (m, i, x) => {
  if (i === 0) return x[0]();
  if (i === 3) return x[2]();
  const half = (v: number, k: number) => m.f64.mul(m.f64.const(v), x[k]());
  return m.f64.add(m.f64.add(half(0.5, 0), half(i === 1 ? 0.5 : -0.5, 1)), half(0.5, 2));
};

/**
 * Weights [M, C, 3, 3] float32 at src -> U[xi][Mp/4][C][4] at dst (winograd-math.ts
 * transformedConstant's layout and its zero padding channels when M % 4).
 */
export function winogradDerive(t: WinogradTile, M: number, C: number): DeriveCode {
  const rowStage = t === F2 ? spelledF2 : generic(t, true);
  const colStage = t === F2 ? spelledF2 : generic(t, false);
  const a = t.a, Mp = Math.ceil(M / 4) * 4, xs = (Mp / 4) * C * 4;
  return (fn, src, dst) => {
    const m = fn.m;
    if (M % 4) fn.emit(m.memory.fill(m.i32.const(dst), m.i32.const(0), m.i32.const(a * a * xs * 4)));
    const from = fn.local(binaryen.i32), to = fn.local(binaryen.i32);
    const g = Array.from({ length: 9 }, () => fn.local(binaryen.f64));
    const tmp = Array.from({ length: a * 3 }, () => fn.local(binaryen.f64));
    // one call, in V8's baseline code (Liftoff): outlining the filter loop's body (Fn.outline) to
    // have it optimized measured no faster here, the optimizing compile competing for the cores
    fn.emit(fn.loop(M, (mi) => [
      from.set(m.i32.add(m.i32.const(src), m.i32.mul(mi.get(), m.i32.const(C * 36)))),
      fn.loop(C, (ci) => [
        // U's element of (filter mi, channel ci) at xi = 0: ((mi >> 2) * C + ci) * 4 + (mi & 3)
        to.set(m.i32.add(m.i32.const(dst), m.i32.shl(m.i32.add(m.i32.shl(m.i32.add(m.i32.mul(m.i32.shr_u(mi.get(), m.i32.const(2)), m.i32.const(C)), ci.get()), m.i32.const(2)),
          m.i32.and(mi.get(), m.i32.const(3))), m.i32.const(2)))),
        ...g.map((l, k) => l.set(m.f64.promote(m.f32.load(k * 4, 4, from.get())))),
        // tmp = G g: row i, column l
        ...tmp.map((l, k) => l.set(rowStage(m, Math.floor(k / 3), [0, 1, 2].map((r) => g[r * 3 + (k % 3)].get)))),
        // U = tmp G^T: element (i, j) at xi = i * a + j
        ...Array.from({ length: a * a }, (_, xi) => m.f32.store(xi * xs * 4, 4, to.get(),
          m.f32.demote(colStage(m, xi % a, [0, 1, 2].map((l) => tmp[Math.floor(xi / a) * 3 + l].get))))),
        from.set(m.i32.add(from.get(), m.i32.const(36))),
      ]),
    ]));
  };
}
