// Small multi-node models for the low-bit dtype tests: built in code, exported to ONNX, run by
// kiln (and by onnxruntime where its JavaScript API has the types), plus the reference fixtures.
import * as fs from "node:fs";
import * as path from "node:path";
import { dtype, storageLength, type DTypeName, type TypedArray } from "../../runtime/dtypes.js";
import { Graph, type Attr, type Tensor } from "../../compiler/ir/graph.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { load } from "../../compiler/driver/api.js";
import type { OptLevel } from "../../passes/index.js";

export const FIXTURES = path.resolve(import.meta.dirname, "../fixtures/lowbit");

export const int = (value: number): Attr => ({ type: "int", value });
export const str = (value: string): Attr => ({ type: "string", value });

export interface ModelSpec {
  opset?: number;
  inputs: { name: string; dtype: DTypeName; dims: number[] }[];
  /** initializers */
  consts?: Record<string, Tensor>;
  nodes: { op: string; inputs: string[]; outputs: string[]; attrs?: Record<string, Attr> }[];
  outputs: string[];
}

export function modelBytes(spec: ModelSpec): Uint8Array {
  const g = new Graph();
  g.opsets.set("", spec.opset ?? 21);
  for (const i of spec.inputs) {
    const v = g.value(i.name);
    v.dtype = i.dtype;
    v.shape = [...i.dims];
    g.inputs.push(i.name);
  }
  for (const [name, t] of Object.entries(spec.consts ?? {})) {
    const v = g.value(name);
    v.dtype = t.dtype;
    v.shape = [...t.dims];
    v.const = t;
  }
  spec.nodes.forEach((n, k) => g.addNode({ name: `n${k}`, op: n.op, domain: "", inputs: n.inputs, outputs: n.outputs, attrs: n.attrs ?? {} }));
  g.outputs = spec.outputs;
  return exportModel(g, { valueInfo: false });
}

/** Compile for the feeds' dims and run once. */
export async function runModel(spec: ModelSpec, feeds: Record<string, TypedArray>, level?: OptLevel): Promise<Record<string, Tensor>> {
  const dims = Object.fromEntries(spec.inputs.map((i) => [i.name, i.dims]));
  const model = await load(modelBytes(spec), { shapes: dims, level, cache: false });
  return model.run(Object.fromEntries(Object.entries(feeds).map(([k, data]) => [k, { data, dims: dims[k] }])));
}

/** Zero feeds for every input of a spec (to compile and run it for its errors). */
export function zeroFeeds(spec: ModelSpec): Record<string, TypedArray> {
  return Object.fromEntries(spec.inputs.map((i) => [i.name, new (dtype(i.dtype).array)(storageLength(i.dtype, i.dims.reduce((a, b) => a * b, 1)))]));
}

export interface ConversionEntry {
  codes?: number[];
  decode?: number[];
  probes: number[];
  encode: Record<string, number[]>;
}

/** test/fixtures/lowbit/conversions.json: the ONNX reference's values (make_fixtures.py). */
export function conversions(): Record<string, ConversionEntry> {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, "conversions.json"), "utf8"));
}

export const f32 = (bits: readonly number[]): Float32Array => new Float32Array(Uint32Array.from(bits).buffer);
/** The elements of a non-BigInt typed array, as numbers. */
export const nums = (a: TypedArray): number[] => Array.from(a as ArrayLike<number>);
export const bitsOf = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
