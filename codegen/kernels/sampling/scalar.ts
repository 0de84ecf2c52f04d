// The scalar vocabulary the sampling kernels share: one precision (f64 for float64 tensors, f32
// for float32 and float16 ones), its float ops, conversions to and from i32, and loads and stores
// of compute-type values in their own tables.
import binaryen from "binaryen";
import type { DTypeName } from "../../../runtime/dtypes.js";
import type { Expr } from "../../fn.js";
import type { Precision } from "../../math.js";
import { scalarOps } from "../../math/ops.js";

export function samplingScalars(m: binaryen.Module, dt: DTypeName) {
  const p: Precision = dt === "float64" ? "f64" : "f32";
  const f64 = p === "f64";
  return {
    p,
    F: scalarOps(m, p),
    /** the compute type */
    T: f64 ? binaryen.f64 : binaryen.f32,
    /** bytes of a compute-type value in a table */
    tb: f64 ? 8 : 4,
    i32: (v: number) => m.i32.const(v),
    add: (...e: Expr[]) => e.reduce((a, b) => m.i32.add(a, b)),
    /** toward zero, saturating (NaN is 0) */
    trunc: scalarOps(m, p).truncI32,
    toF: scalarOps(m, p).fromI32,
    loadT: (at: Expr, off: number) => (f64 ? m.f64.load(off, 8, at) : m.f32.load(off, 4, at)),
    storeT: (at: Expr, off: number, v: Expr) => (f64 ? m.f64.store(off, 8, at, v) : m.f32.store(off, 4, at, v)),
  };
}
