// Shape rules for the recurrent layers RNN, GRU and LSTM, and what their kernels need to know
// about a node before code generation: gates, sizes, directions, layout and the activation
// functions (with their alpha and beta) of each direction.
import type { DTypeName } from "../../runtime/dtypes.js";
import type { Attrs } from "../ir/attrs.js";
import { OpTable, type ShapeCtx } from "./registry.js";

const ops = new OpTable();

const FLOATS: readonly DTypeName[] = ["float32", "float64", "float16"];

export type RecurrentKind = "RNN" | "GRU" | "LSTM";

interface KindInfo {
  /** gates stacked in W and R (W is [dirs, gates * hidden, input]) */
  gates: number;
  /** activation functions per direction, and their defaults */
  activations: readonly string[];
  arity: readonly [number, number];
}

const KINDS: Record<RecurrentKind, KindInfo> = {
  RNN: { gates: 1, activations: ["tanh"], arity: [3, 6] },
  GRU: { gates: 3, activations: ["sigmoid", "tanh"], arity: [3, 6] },
  LSTM: { gates: 4, activations: ["sigmoid", "tanh", "tanh"], arity: [3, 8] },
};

/**
 * The activation functions the recurrent ops take (spec names, compared case-insensitively as
 * onnxruntime does), whether each reads alpha and beta, and the defaults: those of the ONNX
 * operator of that name (LeakyRelu 0.01, ThresholdedRelu 1, HardSigmoid 0.2/0.5, Elu 1, the old
 * experimental Affine 1/0). ScaledTanh's operator had no defaults; 1/1 keeps it a tanh.
 * onnxruntime departs here (0 for every alpha or beta it has no default for: ThresholdedRelu,
 * Affine, ScaledTanh); kiln follows the spec, and its tests pass these values explicitly.
 */
const ACTIVATION_PARAMS: Record<string, { alpha?: number; beta?: number }> = {
  relu: {}, tanh: {}, sigmoid: {}, softsign: {}, softplus: {},
  affine: { alpha: 1, beta: 0 },
  leakyrelu: { alpha: 0.01 },
  thresholdedrelu: { alpha: 1 },
  scaledtanh: { alpha: 1, beta: 1 },
  hardsigmoid: { alpha: 0.2, beta: 0.5 },
  elu: { alpha: 1 },
};

export interface Activation {
  /** lower-case name, a key of ACTIVATION_PARAMS */
  name: string;
  alpha: number;
  beta: number;
}

export interface RecurrentGeometry {
  kind: RecurrentKind;
  gates: number;
  seq: number;
  batch: number;
  input: number;
  hidden: number;
  /** 1 or 2 */
  dirs: number;
  /** per direction: whether it runs from the last step to the first */
  reverse: boolean[];
  /** 0: X [seq, batch, input]; 1: X [batch, seq, input] (and the outputs batch-first) */
  layout: 0 | 1;
  /** bound on the inputs of every activation, when given */
  clip?: number;
  /** GRU: the reset gate multiplies H R_h^T + Rb_h instead of H */
  linearBeforeReset: boolean;
  /** LSTM: the forget gate is 1 - the input gate */
  inputForget: boolean;
  /** per direction: f (RNN); f, g (GRU); f, g, h (LSTM) */
  activations: Activation[][];
}

export function isRecurrent(op: string): op is RecurrentKind {
  return Object.hasOwn(KINDS, op);
}

/** The activations of each direction, alphas and betas taken in order by the functions that read them. */
export function recurrentActivations(kind: RecurrentKind, attrs: Attrs, dirs: number, invalid: (m: string) => never): Activation[][] {
  const per = KINDS[kind].activations.length;
  const given = attrs.strings("activations", []);
  let names: string[];
  if (given.length === 0) names = Array.from({ length: dirs }, () => KINDS[kind].activations).flat();
  else if (given.length === per * dirs) names = given;
  else invalid(`${kind} takes ${per * dirs} activations (${per} per direction), got ${given.length}: ${given.join(", ")}`);
  const alphas = attrs.floats("activation_alpha", []), betas = attrs.floats("activation_beta", []);
  let a = 0, b = 0;
  const all = names.map((raw) => {
    const name = raw.toLowerCase();
    const p = ACTIVATION_PARAMS[name];
    if (!p) invalid(`activation ${JSON.stringify(raw)} is not one of Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus`);
    const alpha = p.alpha === undefined ? 0 : a < alphas.length ? alphas[a++] : p.alpha;
    const beta = p.beta === undefined ? 0 : b < betas.length ? betas[b++] : p.beta;
    return { name, alpha, beta };
  });
  return Array.from({ length: dirs }, (_, d) => all.slice(d * per, (d + 1) * per));
}

/** Everything about a recurrent node that its inputs' dims and its attributes decide, checked against the spec. */
export function recurrentGeometry(kind: RecurrentKind, opset: number, attrs: Attrs, dims: (readonly number[] | undefined)[], invalid: (m: string) => never): RecurrentGeometry {
  const { gates } = KINDS[kind];
  const direction = attrs.string("direction", "forward");
  if (direction !== "forward" && direction !== "reverse" && direction !== "bidirectional") invalid(`direction ${JSON.stringify(direction)} is not forward, reverse or bidirectional`);
  const dirs = direction === "bidirectional" ? 2 : 1;
  const layout = opset >= 14 ? attrs.int("layout", 0) : 0;
  if (layout !== 0 && layout !== 1) invalid(`layout ${layout} is not 0 or 1`);
  const [x, w, r] = dims;
  if (!x || x.length !== 3) invalid(`X must be 3-D ([seq, batch, input], or [batch, seq, input] with layout 1); got [${x ?? ""}]`);
  if (!w || w.length !== 3 || !r || r.length !== 3) invalid(`W and R must be 3-D; got W [${w ?? ""}], R [${r ?? ""}]`);
  const [seq, batch] = layout === 0 ? [x[0], x[1]] : [x[1], x[0]];
  const input = x[2];
  const hidden = attrs.has("hidden_size") ? attrs.int("hidden_size") : r[2];
  if (hidden < 1) invalid(`hidden_size ${hidden} must be positive`);
  const expect = (name: string, got: readonly number[] | undefined, want: number[]) => {
    if (got && (got.length !== want.length || got.some((d, k) => d !== want[k]))) invalid(`${name} must be [${want}] (hidden_size ${hidden}, ${dirs} direction(s)); got [${got}]`);
  };
  expect("W", w, [dirs, gates * hidden, input]);
  expect("R", r, [dirs, gates * hidden, hidden]);
  expect("B", dims[3], [dirs, 2 * gates * hidden]);
  expect("sequence_lens", dims[4], [batch]);
  const state = layout === 0 ? [dirs, batch, hidden] : [batch, dirs, hidden];
  expect("initial_h", dims[5], state);
  if (kind === "LSTM") {
    expect("initial_c", dims[6], state);
    expect("P", dims[7], [dirs, 3 * hidden]);
  }
  const clip = attrs.has("clip") ? attrs.float("clip") : undefined;
  if (clip !== undefined && !(clip > 0)) invalid(`clip ${clip} must be positive`);
  return {
    kind, gates, seq, batch, input, hidden, dirs, layout, clip,
    reverse: dirs === 2 ? [false, true] : [direction === "reverse"],
    linearBeforeReset: kind === "GRU" && attrs.int("linear_before_reset", 0) !== 0,
    inputForget: kind === "LSTM" && attrs.int("input_forget", 0) !== 0,
    activations: recurrentActivations(kind, attrs, dirs, invalid),
  };
}

/** Y [seq, dirs, batch, hidden] (layout 1: [batch, seq, dirs, hidden]); Y_h and Y_c [dirs, batch, hidden] ([batch, dirs, hidden]). */
export function recurrentOutputDims(g: RecurrentGeometry): { y: number[]; state: number[] } {
  return g.layout === 0
    ? { y: [g.seq, g.dirs, g.batch, g.hidden], state: [g.dirs, g.batch, g.hidden] }
    : { y: [g.batch, g.seq, g.dirs, g.hidden], state: [g.batch, g.dirs, g.hidden] };
}

function recurrentShape(ctx: ShapeCtx) {
  const kind = ctx.node.op as RecurrentKind;
  const dt = ctx.expectDType(0, FLOATS);
  const floatInputs = kind === "LSTM" ? [1, 2, 3, 5, 6, 7] : [1, 2, 3, 5];
  for (const i of floatInputs) {
    const t = ctx.optional(i);
    if (t && t.dtype !== dt) ctx.invalid(`input ${i} has type ${t.dtype}; X is ${dt}, and every float input must match it`);
  }
  const lens = ctx.optional(4);
  if (lens && lens.dtype !== "int32") ctx.invalid(`sequence_lens must be int32; got ${lens.dtype}`);
  if (ctx.opset < 7 && ctx.attrs.has("output_sequence")) ctx.unsupported(`${kind} opset ${ctx.opset}'s output_sequence attribute is not supported (opset 7 made Y an optional output)`);
  const g = recurrentGeometry(kind, ctx.opset, ctx.attrs, ctx.inputs.map((t) => t?.shape), (m) => ctx.invalid(m));
  if (lens?.value) {
    const bad = Array.from(lens.value.data as Int32Array).find((n) => n < 0 || n > g.seq);
    if (bad !== undefined) ctx.invalid(`sequence_lens holds ${bad}, outside 0..${g.seq} (the sequence length)`);
  }
  const { y, state } = recurrentOutputDims(g);
  const outs = [{ dtype: dt, shape: y }, { dtype: dt, shape: state }];
  if (kind === "LSTM") outs.push({ dtype: dt, shape: [...state] });
  return outs;
}

for (const kind of Object.keys(KINDS) as RecurrentKind[]) {
  ops.define(kind, recurrentShape, { arity: KINDS[kind].arity, lastChange: 14 });
}

export const RECURRENT_OPS = ops.defs;
