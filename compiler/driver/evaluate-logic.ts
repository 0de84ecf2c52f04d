// Folding small integer comparisons, logic and clamps in JavaScript (compiler/driver/evaluate-ints.ts
// calls it for the ops it does not take itself; a comparison's or logic op's formula is the
// registry's, OpDef.truth). DeBERTa builds its relative positions from the dims:
// Sign, Abs, Less, Greater, And, LessOrEqual, Clip and Not over int64 and bool, each of which compiled
// and ran a module at every probe of a symbolic build. Comparisons and logic give exact answers;
// Neg and Abs wrap as the i32/i64 instructions do (the least value stays itself), Sign is -1, 0 or
// 1, Min, Max and Clip select one of their inputs. Float inputs are not taken (NaN's rules and
// rounding stay with the kernels).
import { sizeOf, type DTypeName } from "../../runtime/dtypes.js";
import type { Node, Tensor } from "../ir/graph.js";
import { opDef } from "../ops/index.js";
import { broadcastIndex, makeTensor, type Value } from "./evaluate-tensors.js";

const INT: ReadonlySet<DTypeName> = new Set(["int32", "int64"]);

const less = (a: Value, b: Value) => a < b;

/** The value of `node` computed here, or undefined when this file does not take it (inputs held, small: the caller checked). */
export function evaluateLogic(node: Node, ins: (Tensor | undefined)[], out: { dtype: DTypeName; dims: number[] }): Tensor | undefined {
  const n = sizeOf(out.dims);
  const data = (t: Tensor) => t.data as unknown as ArrayLike<Value>;
  const all = ins.filter((t): t is Tensor => t !== undefined);
  const kinds = (ok: (dt: DTypeName) => boolean) => all.length === node.inputs.filter((x) => x).length && all.every((t) => ok(t.dtype) && t.dtype === all[0].dtype);
  /** f over the inputs' broadcast elements */
  const each = (dt: DTypeName, f: (v: Value[]) => Value) => {
    const idx = all.map((t) => broadcastIndex(t, out.dims));
    return makeTensor(dt, out.dims, Array.from({ length: n }, (_, i) => f(all.map((t, k) => data(t)[idx[k][i]]))));
  };
  const big = all[0]?.dtype === "int64";
  const wrap = (v: Value) => (big ? BigInt.asIntN(64, v as bigint) : (v as number) | 0);
  // comparisons of integers and logic on bools: the registry's formula (OpDef.truth)
  const truth = opDef(node.domain, node.op)?.truth;
  if (truth) {
    if (!all.length || !(kinds((dt) => INT.has(dt)) || kinds((dt) => dt === "bool")) || out.dtype !== "bool") return undefined;
    return each("bool", (v) => (truth(...v) ? 1 : 0));
  }
  switch (node.op) {
    case "Neg": case "Abs": case "Sign": {
      if (all.length !== 1 || !kinds((dt) => INT.has(dt)) || out.dtype !== all[0].dtype) return undefined;
      const zero: Value = big ? 0n : 0;
      if (node.op === "Sign") return each(out.dtype, ([a]) => (big ? BigInt(a > zero ? 1 : a < zero ? -1 : 0) : a > zero ? 1 : a < zero ? -1 : 0));
      return each(out.dtype, ([a]) => wrap(node.op === "Neg" || a < zero ? (big ? -(a as bigint) : -(a as number)) : a));
    }
    case "Min": case "Max": {
      if (!all.length || !kinds((dt) => INT.has(dt)) || out.dtype !== all[0].dtype) return undefined;
      const pick = node.op === "Min" ? (a: Value, b: Value) => (less(b, a) ? b : a) : (a: Value, b: Value) => (less(a, b) ? b : a);
      return each(out.dtype, (v) => v.reduce(pick));
    }
    case "Clip": {
      // opset 11+: min and max are inputs (either may be absent); before, float attributes: not taken
      const [x, lo, hi] = ins;
      if (!x || !INT.has(x.dtype) || out.dtype !== x.dtype || [lo, hi].some((t) => t && t.dtype !== x.dtype) || node.inputs.length < 2) return undefined;
      const [l, h] = [lo && data(lo)[0], hi && data(hi)[0]];
      return makeTensor(out.dtype, out.dims, Array.from(data(x), (v) => {
        let r = v;
        if (l !== undefined && less(r, l)) r = l;
        if (h !== undefined && less(h, r)) r = h;
        return r;
      }));
    }
    default:
      return undefined;
  }
}
