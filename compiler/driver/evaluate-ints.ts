// Folding small integer shape arithmetic in JavaScript, as the kernels compute it, instead of
// compiling a module for it (compiler/driver/evaluate-exact.ts calls it first). Exporters compute
// reshape targets and masks from the inputs' dims: Shape -> Gather -> Mul/Div -> Concat ->
// Reshape, Range -> Equal -> Where. Each fold of such a chain compiled, ran and threw away a wasm
// module of a few int64 scalars: a bounded Llama-style decoder (batch, seq and past, nine probes)
// compiled 1,083 of them, about 4 s of a 5 s load. Integer +, -, * wrap as the i32/i64 instructions
// do, division truncates toward zero (a zero divisor, or the one overflowing quotient, is left to
// the module), Gather leaves an index out of range to the module too (its kernel reports it:
// kernels/movement/indexing.ts, an invalid model here), and Concat, Expand, Where, Slice and Cast
// between integer types only move or convert bits; comparisons, logic and clamps are
// evaluate-logic.ts's. Float arithmetic stays in evaluate-exact.ts; anything else goes to the module.
import { dtype, isPacked, sizeOf, type DTypeName } from "../../runtime/dtypes.js";
import type { Node, Tensor } from "../ir/graph.js";
import { externalRef } from "../ir/raw.js";
import { broadcastIndex, makeTensor, type Value } from "./evaluate-tensors.js";
import { Attrs } from "../ir/attrs.js";
import { sliceParams, type ParamSource, type SliceAxis } from "../ops/movement-params.js";
import { evaluateLogic } from "./evaluate-logic.js";

/** Larger results, or results of larger inputs, are computed by the module. */
const MAX_ELEMENTS = 1 << 12;
const MAX_INPUT_ELEMENTS = 1 << 16;

/** the integer types whose arithmetic this file takes (their values as numbers or bigints) */
const INT: ReadonlySet<DTypeName> = new Set(["int32", "int64"]);

const intAttr = (node: Node, name: string, def: number): number => {
  const a = node.attrs[name];
  return a && a.type === "int" ? Number(a.value) : def;
};

/** a + b, a - b, a * b in dt's width, wrapping; a / b truncated, undefined for a zero divisor or overflow */
function arith(op: string, dt: DTypeName, a: Value, b: Value): Value | undefined {
  if (dt === "int64") {
    const [x, y] = [a as bigint, b as bigint];
    if (op === "Div") return y === 0n || (x === -(2n ** 63n) && y === -1n) ? undefined : x / y;
    return BigInt.asIntN(64, op === "Add" ? x + y : op === "Sub" ? x - y : x * y);
  }
  const [x, y] = [a as number, b as number];
  if (op === "Div") return y === 0 || (x === -(2 ** 31) && y === -1) ? undefined : Math.trunc(x / y);
  return op === "Add" ? (x + y) | 0 : op === "Sub" ? (x - y) | 0 : Math.imul(x, y);
}

/** Cast between integer types and bool: the target's bits of the value (bool: nonzero) */
function castInt(v: Value, to: DTypeName): Value {
  if (to === "bool") return v !== 0 && v !== 0n ? 1 : 0;
  const info = dtype(to), big = BigInt(v);
  const bits = info.bytes * 8;
  const wrapped = info.signed ? BigInt.asIntN(bits, big) : BigInt.asUintN(bits, big);
  return info.big ? wrapped : Number(wrapped);
}

/** The value of `node` (one output, `out` its type and dims) computed here, or undefined when this file does not take it. */
export function evaluateInts(node: Node, inputs: (Tensor | undefined)[], out: { dtype: DTypeName; dims: number[] }): Tensor | undefined {
  if (node.domain !== "" && node.domain !== "ai.onnx") return undefined;
  const n = sizeOf(out.dims);
  if (n > MAX_ELEMENTS) return undefined;
  const ins = inputs.slice(0, node.inputs.length);
  // inputs held in memory (a model's raw initializers decode on demand; external data is not read
  // here), small, one element per value
  const held = (t: Tensor | undefined) => t && externalRef(t) === undefined && sizeOf(t.dims) <= MAX_INPUT_ELEMENTS && !isPacked(t.dtype);
  if (ins.some((t, k) => node.inputs[k] && !held(t)) || isPacked(out.dtype)) return undefined;
  const data = (t: Tensor) => t.data as unknown as ArrayLike<Value>;
  const [x] = ins as Tensor[];
  switch (node.op) {
    case "Add": case "Sub": case "Mul": case "Div": {
      if (!INT.has(out.dtype) || ins.length !== 2 || ins.some((t) => t!.dtype !== out.dtype)) return undefined;
      const [ia, ib] = [broadcastIndex(ins[0]!, out.dims), broadcastIndex(ins[1]!, out.dims)];
      const values: Value[] = [];
      for (let i = 0; i < n; i++) {
        const v = arith(node.op, out.dtype, data(ins[0]!)[ia[i]], data(ins[1]!)[ib[i]]);
        if (v === undefined) return undefined;
        values.push(v);
      }
      return makeTensor(out.dtype, out.dims, values);
    }
    case "Equal": {
      if (ins.length !== 2 || ins[0]!.dtype !== ins[1]!.dtype || !(INT.has(ins[0]!.dtype) || ins[0]!.dtype === "bool")) return undefined;
      const [ia, ib] = [broadcastIndex(ins[0]!, out.dims), broadcastIndex(ins[1]!, out.dims)];
      return makeTensor("bool", out.dims, Array.from({ length: n }, (_, i) => (data(ins[0]!)[ia[i]] === data(ins[1]!)[ib[i]] ? 1 : 0)));
    }
    case "Where": {
      const [c, a, b] = ins as Tensor[];
      if (ins.length !== 3 || c.dtype !== "bool" || a.dtype !== b.dtype || a.dtype !== out.dtype) return undefined;
      const [ic, ia, ib] = [c, a, b].map((t) => broadcastIndex(t, out.dims));
      return makeTensor(out.dtype, out.dims, Array.from({ length: n }, (_, i) => (data(c)[ic[i]] ? data(a)[ia[i]] : data(b)[ib[i]])));
    }
    case "Expand": {
      if (x.dtype !== out.dtype) return undefined;
      const ix = broadcastIndex(x, out.dims);
      return makeTensor(out.dtype, out.dims, Array.from({ length: n }, (_, i) => data(x)[ix[i]]));
    }
    case "Cast": {
      const from = x.dtype;
      if (from === out.dtype) return makeTensor(out.dtype, out.dims, data(x) as ArrayLike<Value>);
      // an integer below 2^53 is a double exactly, so float32 rounds it once, as f32.convert does
      if ((INT.has(from) || from === "bool") && (out.dtype === "float32" || out.dtype === "float64")) {
        const v = Array.from(data(x), Number);
        if (v.some((e) => Math.abs(e) >= 2 ** 53)) return undefined;
        return makeTensor(out.dtype, out.dims, out.dtype === "float32" ? v.map(Math.fround) : v);
      }
      // float -> int32/int64 truncates toward zero, saturating, NaN -> 0, as the kernel's trunc_sat
      if ((from === "float32" || from === "float64") && INT.has(out.dtype)) {
        const big = out.dtype === "int64", lim = big ? 2 ** 63 : 2 ** 31;
        return makeTensor(out.dtype, out.dims, Array.from(data(x) as ArrayLike<number>, (v) => {
          const t = Number.isNaN(v) ? 0 : v >= lim ? lim - 1 : v < -lim ? -lim : Math.trunc(v);
          return big ? (t === lim - 1 ? 2n ** 63n - 1n : BigInt(t)) : t;
        }));
      }
      if (dtype(from).float || dtype(out.dtype).float) return undefined;
      return makeTensor(out.dtype, out.dims, Array.from(data(x), (v) => castInt(v, out.dtype)));
    }
    case "Range": {
      if (!INT.has(out.dtype) || ins.length !== 3) return undefined;
      const [start, , delta] = [data(ins[0]!)[0], undefined, data(ins[2]!)[0]];
      return makeTensor(out.dtype, out.dims, Array.from({ length: n }, (_, i) => (out.dtype === "int64"
        ? BigInt.asIntN(64, (start as bigint) + BigInt(i) * (delta as bigint)) : ((start as number) + Math.imul(i, delta as number)) | 0)));
    }
    case "Gather": {
      const idx = ins[1];
      if (!idx || !INT.has(idx.dtype) || x.dtype !== out.dtype) return undefined;
      const axis = ((a) => (a < 0 ? a + x.dims.length : a))(intAttr(node, "axis", 0));
      const d = x.dims[axis];
      const pre = sizeOf(x.dims.slice(0, axis)), post = sizeOf(x.dims.slice(axis + 1)), m = idx.data.length;
      const values: Value[] = [];
      for (let p = 0; p < pre; p++) {
        for (let j = 0; j < m; j++) {
          const raw = Number(data(idx)[j]);
          const k = raw < 0 ? raw + d : raw;
          if (!(k >= 0 && k < d)) return undefined;
          for (let q = 0; q < post; q++) values.push(data(x)[(p * d + k) * post + q]);
        }
      }
      return values.length === n ? makeTensor(out.dtype, out.dims, values) : undefined;
    }
    case "Concat": {
      if (ins.some((t) => t!.dtype !== out.dtype || t!.dims.length !== out.dims.length)) return undefined;
      const axis = ((a) => (a < 0 ? a + out.dims.length : a))(intAttr(node, "axis", 0));
      const pre = sizeOf(out.dims.slice(0, axis)), post = sizeOf(out.dims.slice(axis + 1));
      const values: Value[] = [];
      for (let p = 0; p < pre; p++) {
        for (const t of ins as Tensor[]) {
          const run = t.dims[axis] * post;
          for (let q = 0; q < run; q++) values.push(data(t)[p * run + q]);
        }
      }
      return values.length === n ? makeTensor(out.dtype, out.dims, values) : undefined;
    }
    case "Slice": {
      // the spec's clamped ranges (the shape rule's own helper), over integers and bools
      if (!(INT.has(x.dtype) || x.dtype === "bool") || x.dtype !== out.dtype) return undefined;
      const ints = (i: number) => (ins[i] ? Array.from(data(ins[i]!), Number) : undefined);
      if (node.inputs.length > 1 && [1, 2].some((i) => !ints(i))) return undefined;
      const src: ParamSource = { attrs: new Attrs(node), opset: node.inputs.length > 1 ? 10 : 1, ints, invalid: () => { throw new Error("invalid"); } };
      let axes: SliceAxis[];
      try {
        axes = sliceParams(src, x.dims);
      } catch {
        return undefined;
      }
      if (axes.some((a, k) => a.count !== out.dims[k])) return undefined;
      const st = x.dims.map((_, k) => sizeOf(x.dims.slice(k + 1)));
      const values: Value[] = [];
      const at = new Array<number>(out.dims.length).fill(0);
      for (let i = 0; i < n; i++) {
        values.push(data(x)[at.reduce((a, j, k) => a + (axes[k].start + j * axes[k].step) * st[k], 0)]);
        for (let k = at.length - 1; k >= 0 && ++at[k] === out.dims[k]; k--) at[k] = 0;
      }
      return makeTensor(out.dtype, out.dims, values);
    }
    case "Tile": {
      if (!(INT.has(x.dtype) || x.dtype === "bool") || x.dtype !== out.dtype || out.dims.length !== x.dims.length) return undefined;
      const st = x.dims.map((_, k) => sizeOf(x.dims.slice(k + 1)));
      const at = new Array<number>(out.dims.length).fill(0);
      const values: Value[] = [];
      for (let i = 0; i < n; i++) {
        values.push(data(x)[at.reduce((a, j, k) => a + (j % x.dims[k]) * st[k], 0)]);
        for (let k = at.length - 1; k >= 0 && ++at[k] === out.dims[k]; k--) at[k] = 0;
      }
      return makeTensor(out.dtype, out.dims, values);
    }
    default:
      return evaluateLogic(node, ins, out);
  }
}
