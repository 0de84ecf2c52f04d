// Differential testing against onnxruntime-node: build a one-node (or small) ONNX model in code,
// run it in kiln and in onnxruntime, compare.
import * as ort from "onnxruntime-node";
import { expect } from "vitest";
import { dtype, sizeOf, type DTypeName, type TypedArray } from "../../runtime/dtypes.js";
import { encodeElements, isCoded } from "../../runtime/lowbit.js";
import { Graph, type Attr, type Tensor } from "../../compiler/ir/graph.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { load } from "../../compiler/driver/api.js";
import { compareTensors, type Tolerance } from "../../compiler/driver/testdata.js";
import { rng } from "../../compiler/driver/cli/inputs.js";

export interface TensorSpec {
  dtype?: DTypeName;
  dims: number[];
  /** explicit data; otherwise random in [lo, hi) (ints: integers) with the seed */
  data?: ArrayLike<number | bigint>;
  lo?: number;
  hi?: number;
  /** an initializer (compile-time constant) rather than a graph input */
  constant?: boolean;
}

export interface OpCase {
  op: string;
  domain?: string;
  opset?: number;
  attrs?: Record<string, Attr>;
  /** null marks an absent optional input */
  inputs: (TensorSpec | null)[];
  /** number of outputs (default 1) */
  outputs?: number;
  seed?: number;
  tolerance?: Tolerance;
  /**
   * the optimization levels kiln runs the case at (default [2]); -O2 widens float16 layers to
   * float32, so a kernel's own float16 path runs at -O0 only
   */
  levels?: (0 | 1 | 2)[];
}

export function tensor(spec: TensorSpec, seed: number): Tensor {
  const dt = spec.dtype ?? "float32";
  const info = dtype(dt);
  const n = sizeOf(spec.dims);
  if (isCoded(dt)) {
    // bfloat16, float8, float4e2m1, 4- and 2-bit ints: values (given, or random in [lo, hi)) as codes
    const r = rng(seed);
    const lo = spec.lo ?? (info.float ? -1 : info.signed ? -(2 ** (info.bits - 1)) : 0);
    const hi = spec.hi ?? (info.float ? 1 : info.signed ? 2 ** (info.bits - 1) : 2 ** info.bits);
    const vals = Array.from({ length: n }, (_, i) => (spec.data ? Number(spec.data[i]) : info.float ? lo + r() * (hi - lo) : Math.floor(lo + r() * (hi - lo))));
    return { dtype: dt, dims: [...spec.dims], data: encodeElements(dt, vals) };
  }
  const data = new info.array(n) as unknown as (number | bigint)[];
  const r = rng(seed);
  const lo = spec.lo ?? (info.float ? -1 : info.signed ? -10 : 0);
  const hi = spec.hi ?? (info.float ? 1 : 10);
  for (let i = 0; i < n; i++) {
    let v = spec.data ? Number(spec.data[i]) : lo + r() * (hi - lo);
    if (!info.float && !spec.data) v = Math.floor(v);
    if (dt === "bool" && !spec.data) v = r() < 0.5 ? 0 : 1;
    data[i] = info.big ? BigInt(spec.data ? spec.data[i] : v) : v;
  }
  return { dtype: dt, dims: [...spec.dims], data: data as unknown as TypedArray };
}

/** Adds `t` to the graph as a constant, or as a graph input fed with it; returns its name. */
export function declareTensor(g: Graph, name: string, t: Tensor, constant: boolean, feeds: Record<string, Tensor>): string {
  const v = g.value(name);
  v.dtype = t.dtype;
  v.shape = [...t.dims];
  if (constant) v.const = t;
  else {
    g.inputs.push(name);
    feeds[name] = t;
  }
  return name;
}

/** Build the ONNX model for a case; returns bytes and the graph-input feeds. */
export function buildCase(c: OpCase): { bytes: Uint8Array; feeds: Record<string, Tensor>; outputs: string[] } {
  const g = new Graph();
  g.opsets.set(c.domain ?? "", c.opset ?? 17);
  if (c.domain) g.opsets.set("", 17);
  const feeds: Record<string, Tensor> = {};
  const inputs = c.inputs.map((spec, k) => {
    if (!spec) return "";
    const name = `in${k}`;
    return declareTensor(g, name, tensor(spec, (c.seed ?? 1) * 1000 + k), !!spec.constant, feeds);
  });
  const outputs = Array.from({ length: c.outputs ?? 1 }, (_, k) => `out${k}`);
  g.addNode({ name: "node", op: c.op, domain: c.domain ?? "", inputs, outputs, attrs: c.attrs ?? {} });
  g.outputs = outputs;
  return { bytes: exportModel(g, { valueInfo: false }), feeds, outputs };
}

const ortType: Partial<Record<DTypeName, ort.Tensor.Type>> = {
  float32: "float32", float64: "float64", int8: "int8", uint8: "uint8", int16: "int16", uint16: "uint16",
  int32: "int32", uint32: "uint32", int64: "int64", uint64: "uint64", bool: "bool", float16: "float16",
};

export async function runOrt(bytes: Uint8Array, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const session = await ort.InferenceSession.create(bytes);
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(feeds)) ortFeeds[k] = new ort.Tensor(ortType[t.dtype]!, t.data as never, t.dims);
  const out = await session.run(ortFeeds);
  const res: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(out)) {
    const dt = (Object.entries(ortType).find(([, v]) => v === t.type)?.[0] ?? "float32") as DTypeName;
    res[k] = { dtype: dt, dims: [...t.dims], data: t.data as TypedArray };
  }
  return res;
}

export async function runKiln(bytes: Uint8Array, feeds: Record<string, Tensor>, level?: 0 | 1 | 2): Promise<Record<string, Tensor>> {
  const model = await load(bytes, { shapes: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dims])), ...(level === undefined ? {} : { level }) });
  return model.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
}

/** Run the case in both runtimes and expect equal outputs. */
export async function expectMatchesOrt(c: OpCase): Promise<void> {
  const { bytes, feeds, outputs } = buildCase(c);
  const want = await runOrt(bytes, feeds);
  for (const level of c.levels ?? [undefined]) {
    const got = await runKiln(bytes, feeds, level);
    for (const o of outputs) {
      const cmp = compareTensors(got[o], want[o], c.tolerance ?? { rtol: 1e-4, atol: 1e-5 });
      expect(cmp.message ?? "ok", `${c.op} output ${o}${level === undefined ? "" : ` at -O${level}`}`).toBe("ok");
    }
  }
}
