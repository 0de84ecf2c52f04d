// exp of softmax arguments (x - max <= 0, or NaN), four lanes: what the attention kernels' softmax
// spends its time on besides the two products (1,500 keys: about an eighth of a blocked Attention
// layer, measured with bench/attention.ts). The math library's exp minus what this range does not
// need, in 20 vector instructions (the version before this took 26):
// - no upper clamp (x <= 0) and one clamp below: x is raised to EXP_FLOOR = -88, where k, the
//   power of two, rounds to -127, and 2^-127 built in the exponent bits is all zero bits: exactly 0,
//   so a masked key (-inf) and anything under about -87.3 (where exp leaves f32's normal range)
//   give 0 without a compare and a select;
// - k from the "round by adding 1.5 * 2^23" trick with the exponent bias folded into the rounding
//   constant: t = x log2(e) + (1.5 * 2^23 + 127) holds round(x log2 e) + 127 in its low mantissa
//   bits, so t's bits shifted left by 23 are 2^k's bits (the higher bits shift out);
// - r = x - k ln2 in two steps (k * LN2_HI exact), |r| <= ln2 / 2, and exp(r) = 1 + r + r^2 P(r)
//   with P of degree 3 fitted (Chebyshev, near minimax) on [-ln2/2, ln2/2].
// Relative error within 5e-7 wherever exp(x) is a normal float (test/kernels/softmax-exp.test.ts
// sweeps [-88, 0]: 4.6e-7 at worst), 0 below, NaN kept (pmax keeps its first operand unless it is
// less).
import binaryen from "binaryen";
import type { Expr, Fn } from "../../fn.js";

const LOG2E = 1.44269504088896341;
/** 1.5 * 2^23 + 127: t - ROUNDER is round(t) as a float; t's bits are ROUNDER's plus round(t) */
const ROUNDER = 12582912 + 127;
const LN2_HI = 0.693359375; // 9 significant bits: k * LN2_HI is exact for |k| <= 127
const LN2_LO = Math.LN2 - LN2_HI;
/** (exp(r) - 1 - r) / r^2 on [-ln2/2, ln2/2], coefficients of r^0 .. r^3 */
const P = [0.49999746077269847, 0.16666630409376715, 0.04183477180718329, 0.008357338279875632];
/** lanes at or under this give exactly 0 (k = -127: 2^k's bits are zero) */
export const EXP_FLOOR = -88;
/** the bound the sweep checks, wherever exp(x) is a normal float */
export const SOFTMAX_EXP_REL_ERROR = 5e-7;

/** a function from an f32x4 expression to its lanes' exp (x <= 0 or NaN), using fresh locals of fn */
export function softmaxExp(m: binaryen.Module, fn: Fn): (a: Expr) => Expr {
  const v = binaryen.v128;
  const [x, t, k, r] = [0, 1, 2, 3].map(() => fn.local(v));
  // (constants as locals set before the loops, in place of v128.const at each use: no faster, measured)
  const c = (n: number) => m.f32x4.splat(m.f32.const(n));
  return (a) => {
    let poly: Expr = c(P[P.length - 1]);
    for (let j = P.length - 2; j >= 0; j--) poly = m.f32x4.add(c(P[j]), m.f32x4.mul(r.get(), poly));
    return m.block(null, [
      x.set(m.f32x4.pmax(a, c(EXP_FLOOR))),
      t.set(m.f32x4.add(m.f32x4.mul(x.get(), c(LOG2E)), c(ROUNDER))),
      k.set(m.f32x4.sub(t.get(), c(ROUNDER))),
      r.set(m.f32x4.sub(m.f32x4.sub(x.get(), m.f32x4.mul(k.get(), c(LN2_HI))), m.f32x4.mul(k.get(), c(LN2_LO)))),
      m.f32x4.mul(
        m.f32x4.add(c(1), m.f32x4.add(r.get(), m.f32x4.mul(m.f32x4.mul(r.get(), r.get()), poly))),
        m.i32x4.shl(t.get(), m.i32.const(23))),
    ], v);
  };
}
