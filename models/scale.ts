// Graphs that are big in node count, not in data: a long chain of elementwise ops and a wide Sum
// over many small ops, on a tiny tensor, with the output computed here in float32 (Math.fround),
// so a test or the scale benchmark (bench/scale.ts) checks a compiled model without a reference
// runtime. Written for issue 19: compile time, memory and the generated module's shape (locals,
// function size, exports) must hold up at 200,000 nodes.
import { exportModel } from "../compiler/onnx/export.js";
import type { Graph } from "../compiler/ir/graph.js";
import { ModelBuilder } from "./builder.js";

/** The tensor every scale model reads and writes: small, with an odd length so SIMD loops have a tail. */
export const SCALE_DIMS = [1, 7];

export type ScaleKind = "chain" | "sum-same" | "sum-distinct";

export interface ScaleModel {
  graph: Graph;
  /** the output for input `x`, computed in float32 */
  expected: (x: Float32Array) => Float32Array;
}

const f = Math.fround;

/**
 * x -> Add(0.5) -> Neg -> Abs -> Relu -> Add(0.5) -> ... (n nodes): four kernels, every value
 * depends on x, and after the first round each round adds exactly 0.5.
 */
export function chainModel(n: number): ScaleModel {
  const b = new ModelBuilder(1);
  let v = b.input("x", SCALE_DIMS);
  const half = b.scalar("half", 0.5);
  for (let k = 0; k < n; k++) v = b.node(chainOp(k), chainOp(k) === "Add" ? [v, half] : [v], SCALE_DIMS, {}, `n${k}`);
  b.output(v);
  const expected = (x: Float32Array) => x.map((xi) => {
    let y = xi;
    for (let k = 0; k < n; k++) y = chainStep(k, y);
    return y;
  });
  return { graph: b.graph, expected };
}

function chainOp(k: number): string {
  switch (k % 4) {
    case 0: return "Add";
    case 1: return "Neg";
    case 2: return "Abs";
    default: return "Relu";
  }
}

function chainStep(k: number, y: number): number {
  switch (k % 4) {
    case 0: return f(y + 0.5);
    case 1: return -y;
    case 2: return Math.abs(y);
    default: return Math.max(y, 0);
  }
}

/**
 * One Sum over n small ops of x: "sum-same" n copies of Add(x, x) (cse merges them into one),
 * "sum-distinct" Mul(x, c_k) with n distinct scalar constants (nothing merges).
 */
export function sumModel(n: number, kind: "sum-same" | "sum-distinct"): ScaleModel {
  const b = new ModelBuilder(1);
  const x = b.input("x", SCALE_DIMS);
  const terms: string[] = [];
  for (let k = 0; k < n; k++) {
    terms.push(kind === "sum-same" ? b.node("Add", [x, x], SCALE_DIMS, {}, `a${k}`) : b.node("Mul", [x, b.scalar(`c${k}`, sumConstant(k))], SCALE_DIMS, {}, `m${k}`));
  }
  b.output(b.node("Sum", terms, SCALE_DIMS, {}, "sum"));
  // float64 sums: kiln may add the terms in any order, so the check's tolerance covers the rounding
  const expected = (x: Float32Array) => x.map((xi) => {
    let s = 0;
    for (let k = 0; k < n; k++) s += kind === "sum-same" ? f(xi + xi) : f(xi * f(sumConstant(k)));
    return s;
  });
  return { graph: b.graph, expected };
}

/**
 * Distinct constants, exact in float32, all positive: every term of a row has the sign of x, so
 * float32 partial sums in any order stay within n * 2^-24 of the exact sum relative to it.
 */
const sumConstant = (k: number) => 1 + (k % 65536) / 65536;

export function scaleModel(kind: ScaleKind, n: number): ScaleModel {
  return kind === "chain" ? chainModel(n) : sumModel(n, kind);
}

/** The model as ONNX bytes (no value_info: a real exporter's big graph carries none either). */
export function scaleModelBytes(model: ScaleModel): Uint8Array {
  return exportModel(model.graph, { valueInfo: false });
}

/** The input the checks feed: seeded-free, spread over [-1, 1]. */
export function scaleInput(): Float32Array {
  const size = SCALE_DIMS.reduce((a, d) => a * d, 1);
  return Float32Array.from({ length: size }, (_, i) => -1 + (2 * i + 1) / size);
}

/** The largest |got - want| relative to max(1, |want|) over the output. */
export function scaleError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let worst = got.length === want.length ? 0 : Infinity;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
  return Number.isNaN(worst) ? Infinity : worst;
}
