// 2^y of softmax arguments (y = (x - max) log2(e) <= 0, or NaN), four lanes: what the attention
// kernels' softmax spends its time on besides the two products (1,500 keys: about 8% of a blocked
// Attention layer, docs/TRANSFORMERS.md). Base 2, so the caller folds log2(e) into the multiply it
// does anyway (the scale) and there is no Cody-Waite reduction; 16 vector instructions (the
// base-e exp before took 26):
// - one clamp below: y is raised to EXP2_FLOOR = -127, where k rounds to -127, and 2^-127 built in
//   the exponent bits is all zero bits: exactly 0, so a masked key (-inf) and anything under
//   about -126.5 give 0 without a compare and a select;
// - k = round(y) by adding 1.5 * 2^23 with the exponent bias folded into the constant:
//   t = y + (1.5 * 2^23 + 127) holds k + 127 in its low mantissa bits, so t's bits shifted left by
//   23 are 2^k's bits (the higher bits shift out); f = y - k is exact, |f| <= 1/2;
// - 2^f = 1 + f Q(f), Q of degree 4 fitted (Chebyshev, near minimax) on [-1/2, 1/2].
// Relative error within 3e-7 wherever 2^y is a normal float (test/kernels/softmax-exp.test.ts
// sweeps [-126, 0]: 2.8e-7 at worst), 0 at and under the floor, NaN kept (pmax keeps its first
// operand unless it is less). The rounding of y itself (|y| 2^-24 relative) is the caller's, as
// that of x * scale was with a base-e exp.
import binaryen from "binaryen";
import type { Expr, Fn } from "../../fn.js";
import { madd } from "../matmul/gemm-tile.js";

/** 1.5 * 2^23 + 127: t - ROUNDER is round(y) as a float; t's bits are ROUNDER's plus round(y) */
const ROUNDER = 12582912 + 127;
/** 2^f on [-1/2, 1/2], coefficients of f^0 .. f^5: 1 + f Q(f), Q fitted, so 2^0 is exactly 1 */
const P = [1, 0.6931471805599453, 0.24022348796297843, 0.05550380989882218, 0.009666387854500722, 0.0013381321668874588];
/** lanes at or under this give exactly 0 (k = -127: 2^k's bits are zero) */
export const EXP2_FLOOR = -127;
/** the bound the sweep checks, wherever 2^y is a normal float */
export const SOFTMAX_EXP2_REL_ERROR = 3e-7;

/** a function from an f32x4 expression to its lanes' 2^y (y <= 0 or NaN), using fresh locals of fn */
export function softmaxExp2(m: binaryen.Module, fn: Fn): (a: Expr) => Expr {
  const v = binaryen.v128;
  const [y, t, f] = [0, 1, 2].map(() => fn.local(v));
  // (constants as locals set before the loops, in place of v128.const at each use: no faster, measured)
  const c = (n: number) => m.f32x4.splat(m.f32.const(n));
  return (a) => {
    let poly: Expr = c(P[P.length - 1]);
    // P[j] + f * poly: f32x4.relaxed_madd in the relaxed build (11 instructions then)
    for (let j = P.length - 2; j >= 0; j--) poly = madd(m, f.get(), poly, c(P[j]));
    return m.block(null, [
      y.set(m.f32x4.pmax(a, c(EXP2_FLOOR))),
      t.set(m.f32x4.add(y.get(), c(ROUNDER))),
      f.set(m.f32x4.sub(y.get(), m.f32x4.sub(t.get(), c(ROUNDER)))),
      m.f32x4.mul(poly, m.i32x4.shl(t.get(), m.i32.const(23))),
    ], v);
  };
}
