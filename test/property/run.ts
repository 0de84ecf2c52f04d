// Run a batch of random graphs in kiln (at -O0 and -O2) and in onnxruntime-node, and compare.
// The batch compiles as one model (graphs side by side, each with its own inputs and outputs):
// compiling dominates the time, and one compile of eight small graphs costs about as much as
// two of one. onnxruntime runs a copy with the perturbation inputs (graph.ts assemble), once
// with all factors 1 (the reference) and perturbed some times more (data.ts perturbedModes: the
// tolerance, compare.ts).
import * as ort from "onnxruntime-node";
import type { DTypeName, TypedArray } from "../../runtime/dtypes.js";
import type { Tensor } from "../../compiler/ir/graph.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { printGraph } from "../../compiler/ir/print.js";
import { load } from "../../compiler/driver/api.js";
import type { OptLevel } from "../../passes/index.js";
import { assemble, type Builder } from "./graph.js";
import { inputData, perturbationData, perturbedModes } from "./data.js";
import { compareOutput } from "./compare.js";

export const LEVELS: readonly OptLevel[] = [0, 2];

export interface BatchResult {
  graphs: number;
  /** output elements compared, and left out as unstable */
  compared: number;
  unstable: number;
}

/** A difference between kiln and onnxruntime (or a failure of either), with the graph to reproduce it. */
export class Mismatch extends Error {}

const ORT_TYPES: Partial<Record<DTypeName, ort.Tensor.Type>> = {
  float32: "float32", float64: "float64", float16: "float16", int8: "int8", uint8: "uint8", int16: "int16", uint16: "uint16",
  int32: "int32", uint32: "uint32", int64: "int64", uint64: "uint64", bool: "bool",
};
// a graph onnxruntime refuses is reported with its message; its log would repeat it while shrinking
ort.env.logLevel = "fatal";

const fromOrtType = (t: string): DTypeName => (Object.entries(ORT_TYPES).find(([, v]) => v === t)?.[0] ?? "float32") as DTypeName;

async function runOrt(session: ort.InferenceSession, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const f: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(feeds)) f[k] = new ort.Tensor(ORT_TYPES[t.dtype]!, t.data as never, t.dims);
  const out = await session.run(f);
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { dtype: fromOrtType(t.type), dims: [...t.dims], data: t.data as TypedArray }]));
}

/** The feeds of a batch: every builder's inputs, drawn from its seed. */
export function feedsOf(builders: readonly Builder[]): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const b of builders) b.inputs.forEach((i, k) => { feeds[i.name] = inputData(i, b.seed * 7919 + k); });
  return feeds;
}

function describe(builders: readonly Builder[], feeds: Record<string, Tensor>): string {
  const { graph } = assemble(builders, false);
  const show = (x: number | bigint) => (Object.is(x, -0) ? "-0" : String(x));
  const data = Object.entries(feeds).map(([k, t]) => {
    const xs = Array.from(t.data as ArrayLike<number | bigint>);
    return `  ${k} = [${xs.slice(0, 48).map(show).join(", ")}${xs.length > 48 ? `, ... ${xs.length - 48} more` : ""}]`;
  });
  return `${printGraph(graph)}\nfeeds:\n${data.join("\n")}`;
}

/**
 * Compare a batch; `kernels` forces kernel variants at -O2 (as KILN_KERNELS does; -O0 keeps
 * kiln's own choice), so every variant meets graphs its heuristics would not pick it for.
 */
export async function checkBatch(builders: readonly Builder[], seed: number, kernels = "", levels: readonly OptLevel[] = LEVELS): Promise<BatchResult> {
  const plain = assemble(builders, false);
  const perturbed = assemble(builders, true);
  const feeds = feedsOf(builders);
  const fail = (what: string): never => {
    throw new Mismatch(`${what}${kernels ? ` (kernels ${kernels} at -O2)` : ""}\n--- graph (kiln's, without the perturbation inputs) ---\n${describe(builders, feeds)}`);
  };
  let session: ort.InferenceSession;
  const runs: Record<string, Tensor>[] = [];
  try {
    session = await ort.InferenceSession.create(exportModel(perturbed.graph, { valueInfo: false }), { logSeverityLevel: 3 });
    const firsts: number[] = [];
    let total = 0;
    for (const p of perturbed.perturbations) {
      firsts.push(total);
      total += p.shape.reduce((a, d) => a * d, 1);
    }
    for (const mode of [0, ...perturbedModes(total)]) {
      const extra = Object.fromEntries(perturbed.perturbations.map((p, k) => [p.name, perturbationData(p, mode, seed * 31 + k * 1009 + mode, firsts[k])]));
      runs.push(await runOrt(session, { ...feeds, ...extra }));
    }
    await session.release();
  } catch (e) {
    return fail(`onnxruntime refused the graph (a generator bug): ${(e as Error).message}`);
  }
  const bytes = exportModel(plain.graph, { valueInfo: false });
  const shapes = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dims]));
  const result: BatchResult = { graphs: builders.length, compared: 0, unstable: 0 };
  for (const level of levels) {
    let got: Record<string, Tensor>;
    try {
      const model = await load(bytes, { shapes, level, cache: false, kernels: level === 0 ? "" : kernels });
      got = await model.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
    } catch (e) {
      return fail(`kiln -O${level} failed: ${(e as Error).message}`);
    }
    for (const o of plain.outputs) {
      const cmp = compareOutput(got[o], runs[0][o], runs.slice(1).map((r) => r[o]));
      if (cmp.message) fail(`kiln -O${level} output ${o}: ${cmp.message}`);
      result.compared += cmp.compared;
      result.unstable += cmp.unstable;
    }
  }
  return result;
}
