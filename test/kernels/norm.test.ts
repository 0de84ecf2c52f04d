import { describe, it } from "vitest";
import type { Attr } from "../../compiler/ir/graph.js";
import { expectMatchesOrt } from "../util/ort.js";

const int = (value: number): Attr => ({ type: "int", value });
const float = (value: number): Attr => ({ type: "float", value });

describe("normalizations vs onnxruntime", () => {
  it("LayerNormalization: axes, bias or not, Mean and InvStdDev outputs, odd sizes", async () => {
    for (const [dims, axis] of [[[2, 3, 5], -1], [[2, 3, 5], 1], [[4, 7], 0], [[3, 33], -1], [[2, 2, 3, 8], 2]] as [number[], number][]) {
      const norm = dims.slice(axis < 0 ? axis + dims.length : axis);
      await expectMatchesOrt({ op: "LayerNormalization", attrs: { axis: int(axis) }, outputs: 3,
        inputs: [{ dims, lo: -3, hi: 5 }, { dims: norm, constant: true }, { dims: norm, constant: true }] });
      await expectMatchesOrt({ op: "LayerNormalization", attrs: { axis: int(axis), epsilon: float(0.1) }, inputs: [{ dims }, { dims: norm }] });
    }
    await expectMatchesOrt({ op: "LayerNormalization", inputs: [{ dims: [3, 6], dtype: "float64" }, { dims: [6], dtype: "float64" }, { dims: [6], dtype: "float64" }] });
  });

  it("LayerNormalization over a long row stays within 1e-4", async () => {
    await expectMatchesOrt({ op: "LayerNormalization", inputs: [{ dims: [2, 4096], lo: 10, hi: 11 }, { dims: [4096] }, { dims: [4096] }] });
  });

  it("InstanceNormalization", async () => {
    for (const dims of [[2, 3, 5], [1, 4, 3, 3], [2, 5, 17]]) {
      await expectMatchesOrt({ op: "InstanceNormalization", attrs: { epsilon: float(1e-3) }, inputs: [{ dims }, { dims: [dims[1]] }, { dims: [dims[1]] }] });
    }
  });

  it("GroupNormalization (opset 21: per-channel scale)", async () => {
    for (const [dims, g] of [[[2, 4, 5], 2], [[1, 6, 3, 3], 3], [[2, 3, 7], 1], [[1, 4, 9], 4]] as [number[], number][]) {
      await expectMatchesOrt({ op: "GroupNormalization", opset: 21, attrs: { num_groups: int(g) }, inputs: [{ dims }, { dims: [dims[1]] }, { dims: [dims[1]] }] });
    }
  });

  it("BatchNormalization (inference)", async () => {
    for (const dims of [[2, 3, 5], [1, 4, 3, 3], [3, 2], [2, 5, 1, 9]]) {
      const c = dims[1];
      await expectMatchesOrt({ op: "BatchNormalization", attrs: { epsilon: float(1e-2) },
        inputs: [{ dims }, { dims: [c] }, { dims: [c] }, { dims: [c] }, { dims: [c], lo: 0.1, hi: 2 }] });
    }
  });

  it("BatchNormalization training mode: batch statistics and running averages", async () => {
    for (const dims of [[2, 3, 5], [3, 4, 2, 3], [5, 2]]) {
      const c = dims[1];
      await expectMatchesOrt({ op: "BatchNormalization", opset: 15, outputs: 3, attrs: { training_mode: int(1), momentum: float(0.7) },
        inputs: [{ dims }, { dims: [c] }, { dims: [c] }, { dims: [c] }, { dims: [c], lo: 0.1, hi: 2 }] });
    }
  });

  it("LpNormalization p=1 and p=2 along each axis", async () => {
    for (const p of [1, 2]) {
      for (const axis of [0, 1, -1]) {
        await expectMatchesOrt({ op: "LpNormalization", attrs: { p: int(p), axis: int(axis) }, inputs: [{ dims: [3, 5, 6], lo: 0.1, hi: 2 }] });
      }
    }
  });

  it("LpNormalization leaves zero vectors zero", async () => {
    await expectMatchesOrt({ op: "LpNormalization", inputs: [{ dims: [3, 5], data: [0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 0, 0, -1, 0, 0] }] });
    await expectMatchesOrt({ op: "LpNormalization", attrs: { axis: int(0), p: int(1) }, inputs: [{ dims: [2, 6], data: [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6] }] });
  });

  it("GroupNormalization opset 18 (per-group scale)", async () => {
    await expectMatchesOrt({ op: "GroupNormalization", opset: 18, attrs: { num_groups: int(2) }, inputs: [{ dims: [2, 4, 5] }, { dims: [2] }, { dims: [2] }] });
  });

  it("MeanVarianceNormalization with default and custom axes", async () => {
    await expectMatchesOrt({ op: "MeanVarianceNormalization", inputs: [{ dims: [2, 3, 4, 5] }] });
    await expectMatchesOrt({ op: "MeanVarianceNormalization", attrs: { axes: { type: "ints", value: [1] } }, inputs: [{ dims: [3, 7, 2] }] });
  });

  it("float16 inputs compute in f32", async () => {
    const tolerance = { rtol: 2e-3, atol: 2e-3 };
    await expectMatchesOrt({ op: "LayerNormalization", tolerance, inputs: [{ dims: [3, 10], dtype: "float16" }, { dims: [10], dtype: "float16" }, { dims: [10], dtype: "float16" }] });
    await expectMatchesOrt({ op: "BatchNormalization", tolerance, inputs: [{ dims: [2, 3, 5], dtype: "float16" }, ...[0, 1, 2].map(() => ({ dims: [3], dtype: "float16" as const })), { dims: [3], dtype: "float16", lo: 0.5, hi: 1 }] });
  });

  it("LRN windows at the channel edges", async () => {
    for (const size of [1, 3, 5]) { // onnxruntime takes odd sizes only
      await expectMatchesOrt({ op: "LRN", attrs: { size: int(size), alpha: float(0.01), beta: float(0.6), bias: float(2) }, inputs: [{ dims: [2, 6, 3, 2] }] });
    }
  });

  it("LRN with the beta the square-root forms take (0.75, 0.5, 1), more channels than the window, a vector tail", async () => {
    for (const beta of [0.75, 0.5, 1]) {
      for (const [size, C] of [[5, 11], [3, 2], [5, 4]]) {
        await expectMatchesOrt({ op: "LRN", attrs: { size: int(size), alpha: float(0.3), beta: float(beta), bias: float(1) }, inputs: [{ dims: [2, C, 3, 3], lo: -3, hi: 3 }] });
      }
    }
  });
});
