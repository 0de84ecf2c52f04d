// Small expression helpers of the packed GEMM (codegen/kernels/matmul/gemm-packed.ts), and the f32x4
// multiply-add every kernel's hot loop uses (relaxed or not, as the module targets).
import binaryen from "binaryen";
import type { Expr, Local } from "../../fn.js";

/** a row, column or k index: a loop counter or a compile-time constant */
export type Idx = Local | number;

/** index * scale as an i32 expression */
export function idx(m: binaryen.Module, i: Idx, scale: number): Expr {
  if (typeof i === "number") return m.i32.const(i * scale);
  return scale === 1 ? i.get() : m.i32.mul(i.get(), m.i32.const(scale));
}

/** the i32 sum of the parts (undefined ones skipped, constant zeros dropped) */
export function sum(m: binaryen.Module, parts: (Expr | undefined)[]): Expr {
  const live = parts.filter((e): e is Expr => e !== undefined && !isZero(e));
  return live.length === 0 ? m.i32.const(0) : live.reduce((x, y) => m.i32.add(x, y));
}

function isZero(e: Expr): boolean {
  return binaryen.getExpressionId(e) === binaryen.ConstId && binaryen.getExpressionType(e) === binaryen.i32
    && (binaryen.getExpressionInfo(e) as binaryen.ConstInfo).value === 0;
}

/**
 * Whether kernels emit relaxed SIMD into m: the module's feature set is the target (generate()
 * enables RelaxedSIMD only for options.simd "relaxed"), so every kernel of a module agrees with
 * what the module declares, however deep the KernelCtx it was handed.
 */
export function relaxedTarget(m: binaryen.Module): boolean {
  sensitive.add(m);
  return (m.getFeatures() & binaryen.Features.RelaxedSIMD) !== 0;
}

/** modules some kernel emitted code into that differs between the baseline and relaxed builds */
const sensitive = new WeakSet<binaryen.Module>();

/**
 * Whether any kernel asked, while emitting into m, which SIMD build m is (or emitted a madd): if
 * none did, m's relaxed build would be the same code (generate() reports it, and the "auto"
 * artifact then carries no second build: compiling a 200,000-layer model twice bought nothing).
 */
export function relaxedSensitive(m: binaryen.Module): boolean {
  return sensitive.has(m);
}

/**
 * a * b + c on f32x4. relaxed (default: the module's target): f32x4.relaxed_madd (fused or not, as
 * the engine likes; binaryen.js has no wrapper for it, so it is built through the C API's SIMDTernary).
 */
export function madd(m: binaryen.Module, a: Expr, b: Expr, c: Expr, relaxed = relaxedTarget(m)): Expr {
  sensitive.add(m);
  if (!relaxed) return m.f32x4.add(c, m.f32x4.mul(a, b));
  const api = binaryen as unknown as { _BinaryenSIMDTernary(mod: number, op: number, a: Expr, b: Expr, c: Expr): Expr; RelaxedMaddVecF32x4: number };
  return api._BinaryenSIMDTernary((m as unknown as { ptr: number }).ptr, api.RelaxedMaddVecF32x4, a, b, c);
}
