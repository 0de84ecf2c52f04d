// RNN, GRU and LSTM against onnxruntime-node on random inputs: both kernel variants ("packed":
// float32 with constant W and R; "direct": the rest, and forced), every direction, odd hidden
// sizes, batches, mixed sequence lengths, initial states, peepholes, clip, other activations,
// layout 1, long sequences, float64 and float16, and every subset of the outputs.
import * as v8 from "node:v8";
import { describe, expect, it } from "vitest";
import type { Attr, Tensor } from "../../compiler/ir/graph.js";
import { Graph } from "../../compiler/ir/graph.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { load } from "../../compiler/driver/api.js";
import { compareTensors, type Tolerance } from "../../compiler/driver/testdata.js";
import type { DTypeName } from "../../runtime/dtypes.js";
import { halfToNumber, toNumbers } from "../../compiler/ir/values.js";
import { KilnError } from "../../runtime/errors.js";
import { relaxedSimdSupported } from "../../runtime/simd.js";
import { runOrt, tensor, type TensorSpec } from "../util/ort.js";
import { kernelsFor } from "../util/kernels.js";

const int = (value: number): Attr => ({ type: "int", value });
const str = (value: string): Attr => ({ type: "string", value });
const strs = (...value: string[]): Attr => ({ type: "strings", value });
const floats = (...value: number[]): Attr => ({ type: "floats", value });

type Kind = "RNN" | "GRU" | "LSTM";
const GATES: Record<Kind, number> = { RNN: 1, GRU: 3, LSTM: 4 };

interface Case {
  op: Kind;
  seq: number;
  batch: number;
  input: number;
  hidden: number;
  direction?: "forward" | "reverse" | "bidirectional";
  layout?: 0 | 1;
  bias?: boolean;
  /** per batch row; absent: no sequence_lens input */
  lens?: number[];
  initial?: boolean;
  peepholes?: boolean;
  attrs?: Record<string, Attr>;
  /** W, R, B, P constants (initializers); default true */
  constant?: boolean;
  dtype?: DTypeName;
  /** which outputs the node has (default all) */
  outputs?: boolean[];
  /** weights drawn from [-scale, scale] (default 0.6: gates neither saturated nor flat) */
  scale?: number;
  seed?: number;
}

interface Built {
  bytes: Uint8Array;
  feeds: Record<string, Tensor>;
  outputs: string[];
}

/** v rounded to the nearest float16 (the test's values are normal or zero there), as bits */
function halfBits(v: number): number {
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a < 2 ** -14) return sign | Math.round(a / 2 ** -24);
  let e = Math.floor(Math.log2(a));
  let f = Math.round((a / 2 ** e - 1) * 1024);
  if (f === 1024) { f = 0; e++; }
  return sign | ((e + 15) << 10) | f;
}

/**
 * The one-node model of a case, in type `as` (default the case's) and its graph-input feeds. The
 * values are the case's whatever `as` is: a float16 case's values are rounded to float16 first,
 * so onnxruntime's float32 reference of it sees exactly what kiln's float16 model does.
 */
function build(c: Case, as: DTypeName = c.dtype ?? "float32"): Built {
  const g = new Graph();
  g.opsets.set("", 22);
  const dirs = c.direction === "bidirectional" ? 2 : 1;
  const G = GATES[c.op], H = c.hidden, layout = c.layout ?? 0;
  const scale = c.scale ?? 0.6;
  const constant = c.constant ?? true;
  const state = layout === 0 ? [dirs, c.batch, H] : [c.batch, dirs, H];
  const specs: (TensorSpec | null)[] = [
    { dims: layout === 0 ? [c.seq, c.batch, c.input] : [c.batch, c.seq, c.input], lo: -1, hi: 1 },
    { dims: [dirs, G * H, c.input], lo: -scale, hi: scale, constant },
    { dims: [dirs, G * H, H], lo: -scale, hi: scale, constant },
    c.bias === false ? null : { dims: [dirs, 2 * G * H], lo: -scale, hi: scale, constant },
    c.lens ? { dims: [c.batch], dtype: "int32", data: c.lens } : null,
    c.initial ? { dims: state, lo: -1, hi: 1 } : null,
  ];
  if (c.op === "LSTM") specs.push(c.initial ? { dims: state, lo: -1, hi: 1 } : null, c.peepholes ? { dims: [dirs, 3 * H], lo: -scale, hi: scale, constant } : null);
  while (specs.length && specs[specs.length - 1] === null) specs.pop();
  const feeds: Record<string, Tensor> = {};
  const inputs = specs.map((spec, k) => {
    if (!spec) return "";
    const name = `in${k}`;
    const drawn = tensor({ ...spec, dtype: spec.dtype ?? (c.dtype === "float64" ? "float64" : "float32") }, (c.seed ?? 1) * 1000 + k);
    let t = drawn;
    if (!spec.dtype) {
      const values = Array.from(drawn.data as ArrayLike<number>, (v) => (c.dtype === "float16" ? halfToNumber(halfBits(v)) : v));
      const data = as === "float16" ? Uint16Array.from(values, halfBits) : as === "float64" ? Float64Array.from(values) : Float32Array.from(values);
      t = { dtype: as, dims: drawn.dims, data };
    }
    const v = g.value(name);
    v.dtype = t.dtype;
    v.shape = [...t.dims];
    if (spec.constant) v.const = t;
    else {
      g.inputs.push(name);
      feeds[name] = t;
    }
    return name;
  });
  const count = c.op === "LSTM" ? 3 : 2;
  const outputs = Array.from({ length: count }, (_, k) => ((c.outputs?.[k] ?? true) ? `out${k}` : ""));
  const attrs: Record<string, Attr> = { hidden_size: int(H), ...c.attrs };
  if (c.direction) attrs.direction = str(c.direction);
  if (layout) attrs.layout = int(layout);
  g.addNode({ name: "node", op: c.op, domain: "", inputs, outputs, attrs });
  g.outputs = outputs.filter((o) => o);
  return { bytes: exportModel(g, { valueInfo: false }), feeds, outputs: g.outputs };
}

async function runKiln(b: Built, kernels?: string, simd?: "relaxed"): Promise<Record<string, Tensor>> {
  const model = await load(b.bytes, { kernels, simd, cache: false, shapes: Object.fromEntries(Object.entries(b.feeds).map(([k, t]) => [k, t.dims])) });
  return model.run(Object.fromEntries(Object.entries(b.feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
}

const TOL: Tolerance = { rtol: 1e-4, atol: 1e-5 };

/** a tensor's values as float64 (float16 decoded) */
const widened = (t: Tensor): Tensor => ({ dtype: "float64", dims: t.dims, data: Float64Array.from(toNumbers(t)) });

/** The case in kiln (with the given kernel selection) and in onnxruntime (in `refType`), outputs compared. */
async function expectCase(c: Case, opts: { kernels?: string; refType?: DTypeName; tolerance?: Tolerance; simd?: "relaxed" } = {}): Promise<void> {
  const built = build(c);
  const ref = opts.refType ? build(c, opts.refType) : built;
  const want = await runOrt(ref.bytes, ref.feeds);
  const got = await runKiln(built, opts.kernels, opts.simd);
  for (const o of built.outputs) {
    const cmp = opts.refType ? compareTensors(widened(got[o]), widened(want[o]), opts.tolerance ?? TOL) : compareTensors(got[o], want[o], opts.tolerance ?? TOL);
    expect(cmp.message ?? "ok", `${c.op} ${JSON.stringify({ ...c, attrs: undefined })} ${opts.kernels ?? ""} output ${o}`).toBe("ok");
  }
}

/** t with its first two dims swapped */
function swap01(t: Tensor): Tensor {
  const [a, b, ...rest] = t.dims;
  const inner = rest.reduce((x, y) => x * y, 1);
  const src = t.data as unknown as ArrayLike<number>;
  const out = new (t.data.constructor as new (n: number) => Float32Array)(src.length);
  for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) for (let k = 0; k < inner; k++) out[(j * a + i) * inner + k] = src[(i * b + j) * inner + k];
  return { dtype: t.dtype, dims: [b, a, ...rest], data: out as never };
}

/** Y of layout 0 [seq, dirs, batch, hidden] as layout 1's [batch, seq, dirs, hidden] */
function batchFirstY(t: Tensor): Tensor {
  const [S, D, B, H] = t.dims;
  const src = t.data as Float32Array, out = new Float32Array(src.length);
  for (let s = 0; s < S; s++) for (let d = 0; d < D; d++) for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) out[((b * S + s) * D + d) * H + h] = src[((s * D + d) * B + b) * H + h];
  return { dtype: t.dtype, dims: [B, S, D, H], data: out };
}

/** The case in layout 1 in kiln, both variants, against onnxruntime's layout 0 run of the same values transposed. */
async function expectBatchFirst(c: Case): Promise<void> {
  const ref = build({ ...c, layout: 0 });
  const want = await runOrt(ref.bytes, ref.feeds);
  const mine = build({ ...c, layout: 1 });
  // the same values: X and the initial states transposed, the rest (W, R, B, P, sequence_lens) as they are
  for (const k of Object.keys(mine.feeds)) mine.feeds[k] = ref.feeds[k].dims.length === 3 ? swap01(ref.feeds[k]) : ref.feeds[k];
  for (const kernels of [undefined, "+direct"]) {
    const got = await runKiln(mine, kernels);
    for (const o of mine.outputs) {
      const w = want[o].dims.length === 4 ? batchFirstY(want[o]) : swap01(want[o]);
      const cmp = compareTensors(got[o], w, TOL);
      expect(cmp.message ?? "ok", `${c.op} layout 1 ${JSON.stringify(c)} ${kernels ?? ""} output ${o}`).toBe("ok");
    }
  }
}

/** both variants: packed (constant weights, float32) and direct (forced) */
async function expectBoth(c: Case, tolerance?: Tolerance): Promise<void> {
  await expectCase(c, { tolerance });
  await expectCase(c, { kernels: "+direct", tolerance });
}

const DIRECTIONS = ["forward", "reverse", "bidirectional"] as const;

describe("recurrent layers: kernel variants", () => {
  it("runs float32 layers with constant weights on the packed variant, the rest on direct", async () => {
    const x = { dims: [5, 2, 6] }, w = { dims: [1, 28, 6], constant: true }, r = { dims: [1, 28, 7], constant: true };
    expect((await kernelsFor("LSTM", [x, w, r], { hidden_size: int(7) })).chosen).toBe("packed");
    expect((await kernelsFor("GRU", [x, { dims: [1, 21, 6], constant: true }, { dims: [1, 21, 7], constant: true }], { hidden_size: int(7) })).chosen).toBe("packed");
    expect((await kernelsFor("RNN", [x, { dims: [1, 7, 6] }, { dims: [1, 7, 7] }], { hidden_size: int(7) })).chosen).toBe("direct");
  });
});

describe("RNN, GRU and LSTM vs onnxruntime", () => {
  it("every op and direction, odd hidden sizes, batch > 1, with and without bias", async () => {
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      for (const direction of DIRECTIONS) {
        for (const hidden of [5, 13]) {
          await expectBoth({ op, direction, seq: 6, batch: 3, input: 7, hidden, bias: hidden === 5 });
        }
      }
    }
  });

  it("tiny sizes: hidden 1 and 2, input 1, one step, batch 1", async () => {
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      for (const hidden of [1, 2]) {
        await expectBoth({ op, direction: "bidirectional", seq: 3, batch: 1, input: 1, hidden, initial: true, peepholes: op === "LSTM" });
        await expectBoth({ op, seq: 1, batch: 1, input: 2, hidden, lens: [1] });
      }
    }
    await expectBoth({ op: "GRU", seq: 2, batch: 2, input: 1, hidden: 1, attrs: { linear_before_reset: int(1) } });
  });

  it("an empty sequence ends in a zero state, as a sequence_lens of 0 does (onnxruntime leaves Y_c unwritten there)", async () => {
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      const b = build({ op, direction: "bidirectional", seq: 0, batch: 2, input: 3, hidden: 4, initial: true });
      for (const kernels of [undefined, "+direct"]) {
        const got = await runKiln(b, kernels);
        expect(got.out0.dims).toEqual([0, 2, 2, 4]);
        for (const o of b.outputs.slice(1)) expect(Array.from(got[o].data as Float32Array), `${op} ${o}`).toEqual(new Array(16).fill(0));
      }
    }
  });

  it("GRU with linear_before_reset", async () => {
    for (const direction of DIRECTIONS) {
      for (const hidden of [3, 18]) {
        await expectBoth({ op: "GRU", direction, seq: 5, batch: 2, input: 4, hidden, attrs: { linear_before_reset: int(1) } });
        await expectBoth({ op: "GRU", direction, seq: 5, batch: 2, input: 4, hidden, bias: false, attrs: { linear_before_reset: int(1) } });
      }
    }
  });

  it("sequence_lens with mixed lengths, and initial states", async () => {
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      for (const direction of DIRECTIONS) {
        // onnxruntime's RNN reads before Y for a length of 0 (its Y_h is undefined there): RNN rows run at least one step
        const lens = op === "RNN" ? [6, 2, 1, 4] : [6, 2, 0, 4];
        await expectBoth({ op, direction, seq: 6, batch: 4, input: 5, hidden: 7, lens, initial: true });
        await expectBoth({ op, direction, seq: 6, batch: 4, input: 5, hidden: 7, lens });
      }
    }
    await expectBoth({ op: "GRU", seq: 5, batch: 3, input: 3, hidden: 6, lens: [5, 5, 5], initial: true, attrs: { linear_before_reset: int(1) } });
  });

  it("LSTM peepholes and input_forget", async () => {
    for (const direction of DIRECTIONS) {
      await expectBoth({ op: "LSTM", direction, seq: 5, batch: 3, input: 4, hidden: 9, peepholes: true, initial: true });
      await expectBoth({ op: "LSTM", direction, seq: 5, batch: 2, input: 4, hidden: 6, peepholes: true, attrs: { input_forget: int(1) } });
    }
    await expectBoth({ op: "LSTM", seq: 5, batch: 3, input: 4, hidden: 9, peepholes: true, lens: [5, 0, 3], initial: true });
  });

  it("clip", async () => {
    // weights of 3 push pre-activations past the bound
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      await expectBoth({ op, direction: "bidirectional", seq: 4, batch: 2, input: 5, hidden: 7, scale: 3, attrs: { clip: { type: "float", value: 0.8 } } });
    }
    await expectBoth({ op: "GRU", seq: 4, batch: 2, input: 5, hidden: 7, scale: 3, attrs: { clip: { type: "float", value: 1.5 }, linear_before_reset: int(1) } });
    await expectBoth({ op: "LSTM", seq: 4, batch: 2, input: 5, hidden: 7, scale: 3, peepholes: true, attrs: { clip: { type: "float", value: 1.5 } } });
  });

  it("every activation function, with its alpha and beta", async () => {
    // alphas and betas are given wherever a function reads them (onnxruntime's defaults depart from the spec's for ThresholdedRelu, Affine, ScaledTanh)
    const sets: { acts: string[]; alpha?: number[]; beta?: number[] }[] = [
      { acts: ["Relu"] }, { acts: ["Sigmoid"] }, { acts: ["Softsign"] }, { acts: ["Softplus"] },
      { acts: ["LeakyRelu"], alpha: [0.2] }, { acts: ["ThresholdedRelu"], alpha: [0.1] }, { acts: ["Elu"], alpha: [0.7] },
      { acts: ["Affine"], alpha: [0.5], beta: [0.1] }, { acts: ["ScaledTanh"], alpha: [1.3], beta: [0.8] }, { acts: ["HardSigmoid"], alpha: [0.3], beta: [0.4] },
    ];
    for (const s of sets) {
      const attrs = (acts: string[]): Record<string, Attr> => ({
        activations: strs(...acts),
        ...(s.alpha ? { activation_alpha: floats(...acts.flatMap(() => s.alpha!)) } : {}),
        ...(s.beta ? { activation_beta: floats(...acts.flatMap(() => s.beta!)) } : {}),
      });
      await expectBoth({ op: "RNN", direction: "bidirectional", seq: 4, batch: 2, input: 3, hidden: 6, attrs: attrs([s.acts[0], s.acts[0]]) });
    }
    // per-gate activations of GRU and LSTM, alphas and betas consumed in order
    await expectBoth({ op: "GRU", direction: "bidirectional", seq: 4, batch: 2, input: 3, hidden: 5, attrs: {
      activations: strs("HardSigmoid", "Softsign", "Sigmoid", "LeakyRelu"), activation_alpha: floats(0.25, 0.05), activation_beta: floats(0.45) } });
    await expectBoth({ op: "LSTM", seq: 4, batch: 2, input: 3, hidden: 5, attrs: {
      activations: strs("HardSigmoid", "Elu", "ScaledTanh"), activation_alpha: floats(0.3, 0.9, 1.1), activation_beta: floats(0.5, 0.7) } });
    await expectBoth({ op: "LSTM", direction: "reverse", seq: 4, batch: 2, input: 3, hidden: 5, attrs: { activations: strs("sigmoid", "softplus", "relu") } });
  });

  it("layout 1 (batch first), against onnxruntime's layout 0 on the transposed tensors (it refuses layout 1)", async () => {
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      await expectBatchFirst({ op, direction: "bidirectional", seq: 5, batch: 3, input: 4, hidden: 6, initial: true, lens: [5, 2, 4] });
      await expectBatchFirst({ op, seq: 1, batch: 2, input: 3, hidden: 5, initial: true });
      await expectBatchFirst({ op, direction: "reverse", seq: 7, batch: 2, input: 3, hidden: 9, peepholes: true });
    }
  });

  it("long sequences (200 steps)", async () => {
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      await expectBoth({ op, direction: "bidirectional", seq: 200, batch: 2, input: 8, hidden: 21, scale: 0.3, lens: [200, 137] }, { rtol: 1e-3, atol: 1e-5 });
    }
  });

  it("any subset of the outputs", async () => {
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      const n = op === "LSTM" ? 3 : 2;
      for (let mask = 1; mask < 1 << n; mask++) {
        const outputs = Array.from({ length: n }, (_, k) => ((mask >> k) & 1) === 1);
        await expectBoth({ op, direction: "bidirectional", seq: 4, batch: 3, input: 3, hidden: 5, lens: [4, 1, 3], initial: true, outputs });
      }
    }
  });

  it("weights known only at run time (the direct variant)", async () => {
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      await expectCase({ op, direction: "bidirectional", seq: 5, batch: 2, input: 4, hidden: 7, constant: false, peepholes: op === "LSTM", initial: true });
    }
  });

  it("float64, against onnxruntime's float32 on the same values (its CPU kernels take float32 only)", async () => {
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      await expectCase({ op, direction: "bidirectional", seq: 6, batch: 3, input: 4, hidden: 7, dtype: "float64", lens: [6, 3, 1], initial: true, peepholes: op === "LSTM" }, { refType: "float32" });
    }
  });

  it("the relaxed-SIMD build (f32x4.relaxed_madd in the projection and the recurrent GEMV)", async () => {
    // Node 20 validates relaxed SIMD only under this V8 flag (test/relaxed.test.ts checks the detection
    // itself); it is turned off again after, so the other tests keep running the baseline build
    v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
    relaxedSimdSupported(true);
    try {
      for (const op of ["RNN", "GRU", "LSTM"] as const) {
        await expectCase({ op, direction: "bidirectional", seq: 30, batch: 2, input: 5, hidden: 11, lens: [30, 17], initial: true, peepholes: op === "LSTM" }, { simd: "relaxed" });
      }
    } finally {
      v8.setFlagsFromString("--no-experimental-wasm-relaxed-simd");
      relaxedSimdSupported(true);
    }
  });

  it("float16 against onnxruntime's float32 on the same values", async () => {
    const tolerance = { rtol: 1e-2, atol: 3e-3 };
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      await expectCase({ op, direction: "bidirectional", seq: 5, batch: 2, input: 4, hidden: 6, dtype: "float16", lens: [5, 2], initial: true }, { refType: "float32", tolerance });
    }
  });
});

describe("recurrent layers in a graph", () => {
  it("two stacked LSTMs (bidirectional, then forward) with a Transpose and Reshape between, at -O0 and -O2", async () => {
    const g = new Graph();
    g.opsets.set("", 17);
    const [S, B, I, H1, H2] = [9, 2, 5, 6, 7];
    const weight = (name: string, dims: number[], seed: number) => {
      const t = tensor({ dims, lo: -0.5, hi: 0.5 }, seed);
      Object.assign(g.value(name), { dtype: "float32", shape: dims, const: t });
    };
    weight("W1", [2, 4 * H1, I], 1); weight("R1", [2, 4 * H1, H1], 2); weight("B1", [2, 8 * H1], 3);
    weight("W2", [1, 4 * H2, 2 * H1], 4); weight("R2", [1, 4 * H2, H2], 5); weight("B2", [1, 8 * H2], 6);
    Object.assign(g.value("shape"), { dtype: "int64", shape: [3], const: { dtype: "int64", dims: [3], data: BigInt64Array.from([BigInt(S), BigInt(B), BigInt(2 * H1)]) } });
    Object.assign(g.value("X"), { dtype: "float32", shape: [S, B, I] });
    g.inputs = ["X"];
    const hs = (v: number): Attr => int(v);
    g.addNode({ name: "l1", op: "LSTM", domain: "", inputs: ["X", "W1", "R1", "B1"], outputs: ["Y1", "", ""], attrs: { hidden_size: hs(H1), direction: str("bidirectional") } });
    g.addNode({ name: "t", op: "Transpose", domain: "", inputs: ["Y1"], outputs: ["T1"], attrs: { perm: { type: "ints", value: [0, 2, 1, 3] } } });
    g.addNode({ name: "r", op: "Reshape", domain: "", inputs: ["T1", "shape"], outputs: ["X2"], attrs: {} });
    g.addNode({ name: "l2", op: "LSTM", domain: "", inputs: ["X2", "W2", "R2", "B2"], outputs: ["Y2", "H2", "C2"], attrs: { hidden_size: hs(H2) } });
    g.outputs = ["Y2", "H2", "C2"];
    const bytes = exportModel(g, { valueInfo: false });
    const feeds = { X: tensor({ dims: [S, B, I] }, 7) };
    const want = await runOrt(bytes, feeds);
    for (const level of [0, 2] as const) {
      const got = await (await load(bytes, { level, cache: false, shapes: { X: [S, B, I] } })).run({ X: { data: feeds.X.data, dims: feeds.X.dims } });
      for (const o of g.outputs) expect(compareTensors(got[o], want[o], TOL).message ?? "ok", `-O${level} ${o}`).toBe("ok");
    }
  });
});

describe("recurrent layers: bad models get typed errors", () => {
  async function errorOf(c: Case, patch: (b: Built) => Promise<unknown>): Promise<KilnError> {
    try {
      await patch(build(c));
    } catch (e) {
      expect(e).toBeInstanceOf(KilnError);
      return e as KilnError;
    }
    throw new Error("expected a KilnError");
  }
  const compileIt = (b: Built) => runKiln(b);

  it("names the node and what is wrong", async () => {
    const bad = await errorOf({ op: "LSTM", seq: 3, batch: 2, input: 4, hidden: 5, attrs: { activations: strs("Sigmoid", "Tanh") } }, compileIt);
    expect(bad.code).toBe("INVALID_MODEL");
    expect(bad.message).toMatch(/LSTM takes 3 activations/);
    expect(bad.message).toMatch(/node "node"/);
    const unknown = await errorOf({ op: "RNN", seq: 3, batch: 2, input: 4, hidden: 5, attrs: { activations: strs("Gelu") } }, compileIt);
    expect(unknown.code).toBe("INVALID_MODEL");
    expect(unknown.message).toMatch(/activation "Gelu" is not one of/);
    const size = await errorOf({ op: "GRU", seq: 3, batch: 2, input: 4, hidden: 5, attrs: { hidden_size: int(6) } }, compileIt);
    expect(size.code).toBe("INVALID_MODEL");
    expect(size.message).toMatch(/W must be \[1,18,4\]/);
    const lens = await errorOf({ op: "GRU", seq: 3, batch: 2, input: 4, hidden: 5, lens: [3, 4] }, (b) => load(b.bytes, { freeze: { in4: b.feeds.in4 }, shapes: { in0: b.feeds.in0.dims } }).then((m) => m.run({ in0: b.feeds.in0 })));
    expect(lens.code).toBe("INVALID_MODEL");
    expect(lens.message).toMatch(/sequence_lens holds 4, outside 0..3/);
  });
});
