// ai.onnx.ml's ArrayFeatureExtractor, resolved into Reshape + Gather (+ Unsqueeze for a vector),
// against onnxruntime-node: the last axis of a 3-D, 2-D and 1-D X, indices of rank 1 and 2 with
// repeats, several dtypes; an index out of range is BAD_INPUT naming the node.
import { describe, expect, it } from "vitest";
import { Graph } from "../../compiler/ir/graph.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { load } from "../../compiler/driver/api.js";
import { compareTensors } from "../../compiler/driver/testdata.js";
import type { Tensor } from "../../compiler/ir/graph.js";
import { dtype, type DTypeName } from "../../runtime/dtypes.js";
import { runOrt } from "../util/ort.js";

function model(dt: DTypeName, xDims: number[], idxDims: number[], outDims: number[]): Uint8Array {
  const g = new Graph();
  g.opsets.set("", 13);
  g.opsets.set("ai.onnx.ml", 1);
  Object.assign(g.value("x"), { dtype: dt, shape: xDims });
  Object.assign(g.value("i"), { dtype: "int64", shape: idxDims });
  Object.assign(g.value("z"), { dtype: dt, shape: outDims });
  g.inputs.push("x", "i");
  g.addNode({ name: "afe", op: "ArrayFeatureExtractor", domain: "ai.onnx.ml", inputs: ["x", "i"], outputs: ["z"], attrs: {} });
  g.outputs.push("z");
  return exportModel(g, { valueInfo: false });
}

const tensorOf = (dt: DTypeName, dims: number[]): Tensor => {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new (dtype(dt).array)(n);
  for (let i = 0; i < n; i++) (data as Float64Array)[i] = dt === "int64" ? (BigInt(i * 3 - 7) as never) : i * 1.5 - 7;
  return { dtype: dt, dims, data } as Tensor;
};
const indices = (values: number[], dims: number[]): Tensor => ({ dtype: "int64", dims, data: BigInt64Array.from(values, BigInt) });

describe("ArrayFeatureExtractor", () => {
  for (const [dt, xDims, idx, idxDims, outDims] of [
    ["float32", [2, 3, 5], [4, 0, 4], [1, 3], [2, 3, 3]],
    ["float64", [4, 5], [1, 2], [2], [4, 2]],
    ["int64", [6], [2, 5, 0, 5], [4], [1, 4]],
    ["int32", [3, 4], [3, 1, 2, 0], [2, 2], [3, 4]],
  ] as [DTypeName, number[], number[], number[], number[]][]) {
    it(`${dt}[${xDims}] at indices [${idx}] (dims [${idxDims}]): as onnxruntime-node's`, async () => {
      const bytes = model(dt, xDims, idxDims, outDims);
      const feeds = { x: tensorOf(dt, xDims), i: indices(idx, idxDims) };
      const [got, want] = [await (await load(bytes)).run(feeds), await runOrt(bytes, feeds)];
      expect(got.z.dims).toEqual(want.z.dims);
      expect(compareTensors(got.z, want.z, { rtol: 0, atol: 0 }).message ?? "ok").toBe("ok");
    });
  }

  it("an index out of range is BAD_INPUT naming the node", async () => {
    const m = await load(model("float32", [3, 4], [2], [3, 2]));
    await expect(m.run({ x: tensorOf("float32", [3, 4]), i: indices([1, 4], [2]) })).rejects.toMatchObject({ code: "BAD_INPUT", message: expect.stringMatching(/index 4 is out of range for an axis of length 4/) });
  });
});
