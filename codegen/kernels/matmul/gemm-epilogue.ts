// Plugs a fused kernel's Epilogue (codegen/kernels/registry.ts: per value, addressed by the byte
// address the value is stored at) into the packed GEMM's per-vector hook, which names outputs by
// (row, col). Partial vectors at the right edge go lane by lane through the scalar form, so a
// residual read never touches memory past the output's last column.
import binaryen from "binaryen";
import type { Expr, Fn } from "../../fn.js";
import type { PackedEpilogue, RowMajor } from "./gemm-packed-spec.js";
import type { Epilogue } from "../kernel.js";
import { sum } from "./gemm-tile.js";

export function packedEpilogue(fn: Fn, ep: Epilogue, c: RowMajor): PackedEpilogue {
  const m = fn.m;
  const at = fn.local(binaryen.i32);
  const x = fn.local(binaryen.v128);
  return (v, row, col, lanes) => {
    const setAt = at.set(sum(m, [c.base?.(), m.i32.mul(row, m.i32.const(4 * c.rs)), m.i32.shl(col, m.i32.const(2))]));
    if (lanes === 4) return m.block(null, [setAt, ep.vec(v, at.get, c.addr)], binaryen.v128);
    const code: Expr[] = [setAt, x.set(v)];
    for (let q = 0; q < lanes; q++) {
      code.push(x.set(m.f32x4.replace_lane(x.get(), q, ep.scalar(m.f32x4.extract_lane(x.get(), q), at.get, c.addr + 4 * q))));
    }
    return m.block(null, [...code, x.get()], binaryen.v128);
  };
}
