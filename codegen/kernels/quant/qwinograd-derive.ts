// qwinograd's transformed weights (quant/qwinograd.ts: U'_e = G' g G'^T per output and input
// channel, packed per element e as the int8 GEMM's rows) derived by the module as a compact
// artifact's weights are placed (codegen/derive.ts), so the artifact ships the 8-bit 3x3 filters
// (9 bytes) rather than U' (16 i16). Integer arithmetic: the same values as the compiler's.
import binaryen from "binaryen";
import { Fn, type Expr } from "../../fn.js";
import type { DeriveCode } from "../kernel.js";
import { QTILE } from "./qgemm.js";

/** G' = 2G, row i applied to three values: 2 x0, x0 + x1 + x2, x0 - x1 + x2, 2 x2 */
export function g2Row(m: binaryen.Module, i: number, x: (() => Expr)[]): Expr {
  if (i === 0) return m.i32.shl(x[0](), m.i32.const(1));
  if (i === 3) return m.i32.shl(x[2](), m.i32.const(1));
  const mid = i === 1 ? m.i32.add(x[0](), x[1]()) : m.i32.sub(x[0](), x[1]());
  return m.i32.add(mid, x[2]());
}

/**
 * Weights [OC, C, 3, 3] (int8 or uint8, less one zero point z) at src -> the 16 packed U'_e at dst:
 * a call of the module's one transform function for the signedness (one for every layer, as
 * conv/winograd-derive.ts does, so V8's optimized code serves the later layers).
 */
export function qwinogradDerive(OC: number, C: number, signed: boolean, z: number): DeriveCode {
  return (fn, src, dst) => {
    const m = fn.m;
    const name = `qwinograd_derive_${signed ? "s" : "u"}`;
    if (!m.getFunction(name)) addTransform(m, name, signed);
    fn.emit(m.call(name, [src, dst, OC, C, z].map((v) => m.i32.const(v)), binaryen.none));
  };
}

function addTransform(m: binaryen.Module, name: string, signed: boolean): void {
  const fn = new Fn(m, name, [binaryen.i32, binaryen.i32, binaryen.i32, binaryen.i32, binaryen.i32]);
  const [src, dst, OC, C, z] = [0, 1, 2, 3, 4].map((k) => fn.param(k));
  const i32 = (v: number) => m.i32.const(v);
  const MR = QTILE.mr;
  const Kp = fn.local(binaryen.i32), per = fn.local(binaryen.i32), from = fn.local(binaryen.i32), at = fn.local(binaryen.i32);
  const g = Array.from({ length: 9 }, () => fn.local(binaryen.i32));
  const tmp = Array.from({ length: 3 }, () => fn.local(binaryen.i32));
  fn.emit(
    Kp.set(m.i32.add(C.get(), m.i32.and(C.get(), i32(1)))),
    // bytes of one element's packed rows: OC rounded up to whole tiles, Kp i16 each
    per.set(m.i32.shl(m.i32.mul(m.i32.mul(m.i32.div_u(m.i32.add(OC.get(), i32(MR - 1)), i32(MR)), i32(MR)), Kp.get()), i32(1))),
    m.memory.fill(dst.get(), i32(0), m.i32.shl(per.get(), i32(4))),
    from.set(src.get()),
  );
  fn.emit(fn.loopDyn(i32(0), OC.get(), (oc) => [fn.loopDyn(i32(0), C.get(), (c) => [
    ...g.map((l, k) => l.set(m.i32.sub(signed ? m.i32.load8_s(k, 1, from.get()) : m.i32.load8_u(k, 1, from.get()), z.get()))),
    // i16 index (oc - oc % MR) * Kp + (c >> 1) * 2 MR + 2 (oc % MR) + (c & 1), as bytes from dst
    at.set(m.i32.add(dst.get(), m.i32.shl(m.i32.add(m.i32.add(
      m.i32.mul(m.i32.sub(oc.get(), m.i32.rem_u(oc.get(), i32(MR))), Kp.get()),
      m.i32.mul(m.i32.shr_u(c.get(), i32(1)), i32(2 * MR))),
      m.i32.add(m.i32.shl(m.i32.rem_u(oc.get(), i32(MR)), i32(1)), m.i32.and(c.get(), i32(1)))), i32(1)))),
    ...Array.from({ length: 4 }, (_, i) => [
      ...tmp.map((l, b) => l.set(g2Row(m, i, [0, 1, 2].map((a) => g[a * 3 + b].get)))),
      ...Array.from({ length: 4 }, (_, j) => [m.i32.store16(0, 2, at.get(), g2Row(m, j, tmp.map((l) => l.get))), at.set(m.i32.add(at.get(), per.get()))]).flat(),
    ]).flat(),
    from.set(m.i32.add(from.get(), i32(9))),
  ])]));
  fn.finish();
}
