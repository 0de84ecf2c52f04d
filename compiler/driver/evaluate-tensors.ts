// The small tensors constant folding computes in JavaScript (evaluate-ints.ts, evaluate-logic.ts,
// evaluate-exact.ts): element indices under numpy broadcasting, and a tensor made of values.
import { dtype, sizeOf, type DTypeName, type TypedArray } from "../../runtime/dtypes.js";
import type { Tensor } from "../ir/graph.js";
import { broadcastStrides } from "../../codegen/fn.js";

/** an element: a number, or a bigint for 64-bit integers */
export type Value = number | bigint;

/** The element index of `t` for each element of `out` (numpy broadcasting), in order. */
export function broadcastIndex(t: Tensor, out: readonly number[]): Int32Array {
  const n = sizeOf(out), s = broadcastStrides(t.dims, out), idx = new Int32Array(n);
  const at = new Array<number>(out.length).fill(0);
  for (let i = 0, p = 0; i < n; i++) {
    idx[i] = p;
    for (let k = out.length - 1; k >= 0; k--) {
      at[k]++;
      p += s[k];
      if (at[k] < out[k]) break;
      p -= s[k] * out[k];
      at[k] = 0;
    }
  }
  return idx;
}

export const makeTensor = (dt: DTypeName, dims: readonly number[], values: ArrayLike<Value> | Iterable<Value>): Tensor => {
  const Arr = dtype(dt).array as unknown as { from(v: ArrayLike<Value> | Iterable<Value>): TypedArray };
  return { dtype: dt, dims: [...dims], data: Arr.from(values) };
};

