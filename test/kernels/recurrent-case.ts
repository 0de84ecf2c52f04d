// Cases of RNN, GRU and LSTM for test/kernels/recurrent.test.ts: a one-node model built from a
// short description (sizes, direction, layout, which optional inputs and outputs, constant or
// run-time weights, type), run in kiln and in onnxruntime-node, outputs compared. onnxruntime's
// CPU kernels take layout 0 and float32 only: layout 1 is compared with its layout-0 run of the
// same values transposed, float64 and float16 with its float32 run of the same values.
import { expect } from "vitest";
import type { Attr, Tensor } from "../../compiler/ir/graph.js";
import { Graph } from "../../compiler/ir/graph.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { load } from "../../compiler/driver/api.js";
import { compareTensors, type Tolerance } from "../../compiler/driver/testdata.js";
import type { DTypeName } from "../../runtime/dtypes.js";
import { halfToNumber, toNumbers } from "../../compiler/ir/values.js";
import { declareTensor, runOrt, tensor, type TensorSpec } from "../util/ort.js";

export const int = (value: number): Attr => ({ type: "int", value });
export const str = (value: string): Attr => ({ type: "string", value });
export const strs = (...value: string[]): Attr => ({ type: "strings", value });
export const floats = (...value: number[]): Attr => ({ type: "floats", value });

export type Kind = "RNN" | "GRU" | "LSTM";
const GATES: Record<Kind, number> = { RNN: 1, GRU: 3, LSTM: 4 };

export interface Case {
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

export interface Built {
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
export function build(c: Case, as: DTypeName = c.dtype ?? "float32"): Built {
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
    return declareTensor(g, name, t, !!spec.constant, feeds);
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

/** The case's model in kiln: its outputs, and the kernel variant its layer ran. */
export async function runKilnWith(b: Built, opts: { kernels?: string; simd?: "relaxed" } = {}): Promise<{ out: Record<string, Tensor>; kernel?: string }> {
  const model = await load(b.bytes, { kernels: opts.kernels, simd: opts.simd, cache: false, shapes: Object.fromEntries(Object.entries(b.feeds).map(([k, t]) => [k, t.dims])) });
  const out = await model.run(Object.fromEntries(Object.entries(b.feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
  return { out, kernel: model.session?.manifest.layers.find((l) => l.name === "node")?.kernel };
}

export const runKiln = async (b: Built, kernels?: string) => (await runKilnWith(b, { kernels })).out;

export const TOL: Tolerance = { rtol: 1e-4, atol: 1e-5 };

/** a tensor's values as float64 (float16 decoded) */
const widened = (t: Tensor): Tensor => ({ dtype: "float64", dims: t.dims, data: Float64Array.from(toNumbers(t)) });

export interface CaseOptions {
  kernels?: string;
  simd?: "relaxed";
  /** onnxruntime runs the case in this type (the values the same) */
  refType?: DTypeName;
  tolerance?: Tolerance;
  /** the kernel variant the layer must run on */
  variant?: string;
}

/** The case in kiln (with the given kernel selection) and in onnxruntime (in `refType`), outputs compared. */
export async function expectCase(c: Case, opts: CaseOptions = {}): Promise<void> {
  const built = build(c);
  const ref = opts.refType ? build(c, opts.refType) : built;
  const want = await runOrt(ref.bytes, ref.feeds);
  const { out: got, kernel } = await runKilnWith(built, opts);
  const what = `${c.op} ${JSON.stringify({ ...c, attrs: undefined })} ${opts.kernels ?? ""}`;
  if (opts.variant) expect(kernel, what).toBe(opts.variant);
  for (const o of built.outputs) {
    const cmp = opts.refType ? compareTensors(widened(got[o]), widened(want[o]), opts.tolerance ?? TOL) : compareTensors(got[o], want[o], opts.tolerance ?? TOL);
    expect(cmp.message ?? "ok", `${what} output ${o}`).toBe("ok");
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

/** float32 cases run on each variant: constant weights ("packed"), weights as graph inputs ("packed-runtime"), "direct" forced */
const VARIANTS: { variant: string; constant: boolean; kernels?: string }[] = [
  { variant: "packed", constant: true }, { variant: "packed-runtime", constant: false }, { variant: "direct", constant: true, kernels: "+direct" },
];

/** The case in layout 1 in kiln, every variant, against onnxruntime's layout 0 run of the same values transposed. */
export async function expectBatchFirst(c: Case): Promise<void> {
  for (const v of VARIANTS) {
    const ref = build({ ...c, layout: 0, constant: v.constant });
    const want = await runOrt(ref.bytes, ref.feeds);
    const mine = build({ ...c, layout: 1, constant: v.constant });
    // the same values: X and the initial states transposed, the rest (W, R, B, P, sequence_lens) as they are
    for (const k of Object.keys(mine.feeds)) mine.feeds[k] = k === "in0" || k === "in5" || k === "in6" ? swap01(ref.feeds[k]) : ref.feeds[k];
    const { out: got, kernel } = await runKilnWith(mine, v);
    const what = `${c.op} layout 1 ${JSON.stringify(c)} ${v.variant}`;
    expect(kernel, what).toBe(v.variant);
    for (const o of mine.outputs) {
      const w = want[o].dims.length === 4 ? batchFirstY(want[o]) : swap01(want[o]);
      expect(compareTensors(got[o], w, TOL).message ?? "ok", `${what} output ${o}`).toBe("ok");
    }
  }
}

/** A float32 case on every variant. */
export async function expectVariants(c: Case, tolerance?: Tolerance): Promise<void> {
  for (const v of VARIANTS) await expectCase({ ...c, constant: v.constant }, { kernels: v.kernels, variant: v.variant, tolerance });
}
