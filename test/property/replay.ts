// Run a graph written as IR text (compiler/ir/print.ts, as the property test prints a failing
// graph) on given data, in kiln at -O0 and -O2 and in onnxruntime-node: the regression tests of
// the bugs the property test found keep their minimal graphs this way.
import * as ort from "onnxruntime-node";
import { expect } from "vitest";
import { dtype as dtypeInfo, type TypedArray } from "../../runtime/dtypes.js";
import type { Tensor } from "../../compiler/ir/graph.js";
import { parseGraph } from "../../compiler/ir/parse.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { load } from "../../compiler/driver/api.js";
import { compareOutput, type Tolerance } from "./compare.js";
import { LEVELS } from "./run.js";
import type { OptLevel } from "../../passes/index.js";

/** Feeds as plain numbers, typed by the graph's input declarations. */
function feedsFor(text: string, data: Record<string, number[]>): Record<string, Tensor> {
  const g = parseGraph(text);
  return Object.fromEntries(g.inputs.map((name) => {
    const v = g.values.get(name)!;
    const info = dtypeInfo(v.dtype!);
    const xs = data[name];
    const arr = info.big ? (new info.array(xs.length) as BigInt64Array).map((_, i) => BigInt(xs[i])) : (info.array as unknown as { from(x: number[]): TypedArray }).from(xs);
    return [name, { dtype: v.dtype!, dims: v.shape as number[], data: arr as TypedArray }];
  }));
}

/** kiln's outputs for the graph at an optimization level. */
export async function runIr(text: string, data: Record<string, number[]>, level: OptLevel): Promise<Record<string, Tensor>> {
  const bytes = exportModel(parseGraph(text), { valueInfo: false });
  const feeds = feedsFor(text, data);
  const model = await load(bytes, { level, cache: false, shapes: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dims])) });
  return model.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
}

export async function expectIrMatchesOrt(text: string, data: Record<string, number[]>, tol?: Tolerance): Promise<void> {
  const g = parseGraph(text);
  const bytes = exportModel(g, { valueInfo: false });
  const feeds = feedsFor(text, data);
  const session = await ort.InferenceSession.create(bytes);
  const raw = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor(t.dtype as "float32", t.data as never, t.dims)])));
  await session.release();
  for (const level of LEVELS) {
    const got = await runIr(text, data, level);
    for (const o of g.outputs) {
      const want: Tensor = { dtype: got[o].dtype, dims: [...raw[o].dims], data: raw[o].data as TypedArray };
      expect(compareOutput(got[o], want, [], tol).message ?? "ok", `-O${level} output ${o}`).toBe("ok");
    }
  }
}
