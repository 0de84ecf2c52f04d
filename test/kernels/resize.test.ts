import { describe, it } from "vitest";
import type { Attr } from "../../compiler/ir/graph.js";
import { expectMatchesOrt } from "../util/ort.js";

const str = (value: string): Attr => ({ type: "string", value });
const ints = (value: number[]): Attr => ({ type: "ints", value });
const int = (value: number): Attr => ({ type: "int", value });
const float = (value: number): Attr => ({ type: "float", value });
const sizes = (data: number[]) => ({ dtype: "int64" as const, dims: [data.length], data, constant: true });
const scales = (data: number[]) => ({ dims: [data.length], data, constant: true });

describe("Resize vs onnxruntime", () => {
  it("nearest: every nearest_mode and coordinate mode, up and down", async () => {
    for (const nearest of ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]) {
      for (const coord of ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"]) {
        await expectMatchesOrt({ op: "Resize", opset: 13, attrs: { mode: str("nearest"), nearest_mode: str(nearest), coordinate_transformation_mode: str(coord) },
          inputs: [{ dims: [1, 2, 3, 5] }, null, null, sizes([1, 2, 7, 3])] });
      }
    }
  });
  it("nearest with integer scales, int8 data, axes and keep_aspect_ratio_policy", async () => {
    await expectMatchesOrt({ op: "Resize", opset: 13, attrs: { mode: str("nearest") }, inputs: [{ dims: [2, 3, 4, 5] }, null, scales([1, 1, 2, 3])] });
    // repeated slabs (upsampled rows, planes) are copies of the previous one; a downsampled axis has none
    await expectMatchesOrt({ op: "Resize", opset: 13, attrs: { mode: str("nearest") }, inputs: [{ dims: [1, 2, 3, 4, 5] }, null, scales([1, 1, 2, 3, 0.6])] });
    await expectMatchesOrt({ op: "Resize", opset: 13, attrs: { mode: str("nearest"), coordinate_transformation_mode: str("asymmetric") },
      inputs: [{ dims: [1, 1, 3, 3], dtype: "int8", lo: -100, hi: 100 }, null, scales([1, 1, 2, 2])] });
    await expectMatchesOrt({ op: "Resize", opset: 18, attrs: { mode: str("nearest"), axes: ints([3, 2]) }, inputs: [{ dims: [1, 2, 4, 6] }, null, null, sizes([3, 8])] });
    for (const policy of ["not_larger", "not_smaller"]) {
      await expectMatchesOrt({ op: "Resize", opset: 18, attrs: { mode: str("nearest"), keep_aspect_ratio_policy: str(policy), axes: ints([2, 3]) },
        inputs: [{ dims: [1, 1, 4, 6] }, null, null, sizes([8, 9])] });
    }
  });
  it("linear (bilinear and trilinear) in the coordinate modes", async () => {
    for (const coord of ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"]) {
      await expectMatchesOrt({ op: "Resize", opset: 13, attrs: { mode: str("linear"), coordinate_transformation_mode: str(coord) },
        inputs: [{ dims: [1, 3, 5, 7] }, null, null, sizes([1, 3, 9, 4])] });
    }
    await expectMatchesOrt({ op: "Resize", opset: 13, attrs: { mode: str("linear") }, inputs: [{ dims: [1, 1, 3, 4, 5] }, null, scales([1, 1, 2, 2, 2])] });
    // the innermost axis' taps come from a table computed once per run: rows resized along the
    // innermost axis alone, along the others alone (no table), and to one column (no table)
    for (const out of [[1, 3, 5, 13], [1, 3, 9, 7], [1, 3, 9, 1]]) {
      await expectMatchesOrt({ op: "Resize", opset: 13, attrs: { mode: str("linear"), coordinate_transformation_mode: str("align_corners") },
        inputs: [{ dims: [1, 3, 5, 7] }, null, null, sizes(out)] });
    }
  });
  it("cubic with cubic_coeff_a and exclude_outside; tf_crop_and_resize with extrapolation", async () => {
    for (const exclude of [0, 1]) {
      await expectMatchesOrt({ op: "Resize", opset: 13, attrs: { mode: str("cubic"), exclude_outside: int(exclude), cubic_coeff_a: float(-0.5) },
        inputs: [{ dims: [1, 2, 5, 6] }, null, null, sizes([1, 2, 9, 4])] });
    }
    await expectMatchesOrt({ op: "Resize", opset: 13, attrs: { mode: str("cubic"), coordinate_transformation_mode: str("align_corners") },
      inputs: [{ dims: [1, 1, 4, 7] }, null, null, sizes([1, 1, 7, 11])] });
    await expectMatchesOrt({ op: "Resize", opset: 13, attrs: { mode: str("linear"), coordinate_transformation_mode: str("tf_crop_and_resize"), extrapolation_value: float(7) },
      inputs: [{ dims: [1, 1, 5, 5] }, { dims: [8], data: [0, 0, 0.2, -0.3, 1, 1, 0.9, 1.4], constant: true }, null, sizes([1, 1, 4, 6])] });
  });
  it("antialias when downsampling (linear and cubic)", async () => {
    for (const mode of ["linear", "cubic"]) {
      await expectMatchesOrt({ op: "Resize", opset: 18, attrs: { mode: str(mode), antialias: int(1) }, inputs: [{ dims: [1, 2, 11, 9] }, null, null, sizes([1, 2, 4, 6])] });
    }
  });
  it("Resize-10 and Upsample-7 (asymmetric, legacy nearest rounding)", async () => {
    await expectMatchesOrt({ op: "Resize", opset: 10, attrs: { mode: str("nearest") }, inputs: [{ dims: [1, 1, 3, 4] }, scales([1, 1, 2, 3])] });
    await expectMatchesOrt({ op: "Resize", opset: 10, attrs: { mode: str("nearest") }, inputs: [{ dims: [1, 1, 6, 9] }, scales([1, 1, 0.5, 0.4])] });
    await expectMatchesOrt({ op: "Resize", opset: 10, attrs: { mode: str("linear") }, inputs: [{ dims: [1, 1, 3, 4] }, scales([1, 1, 2, 1.5])] });
    await expectMatchesOrt({ op: "Upsample", opset: 7, attrs: { mode: str("nearest"), scales: { type: "floats", value: [1, 1, 2, 2] } }, inputs: [{ dims: [1, 2, 3, 3] }] });
  });
  it("Upsample (opset 9) nearest and linear", async () => {
    await expectMatchesOrt({ op: "Upsample", opset: 9, attrs: { mode: str("nearest") }, inputs: [{ dims: [1, 2, 3, 3] }, scales([1, 1, 2, 3])] });
    await expectMatchesOrt({ op: "Upsample", opset: 9, attrs: { mode: str("linear") }, inputs: [{ dims: [1, 2, 3, 3] }, scales([1, 1, 2, 2])] });
  });
});

describe("float16 Resize vs onnxruntime", () => {
  it("linear and nearest, at -O0 too (the kernel's own float16 path: -O2 widens the layer to float32)", async () => {
    await expectMatchesOrt({ op: "Resize", opset: 13, tolerance: { rtol: 1e-2, atol: 1e-2 }, attrs: { mode: str("linear") }, levels: [2, 0],
      inputs: [{ dims: [1, 1, 3, 4], dtype: "float16" }, null, scales([1, 1, 2, 2])] });
    await expectMatchesOrt({ op: "Resize", opset: 13, tolerance: { rtol: 0, atol: 0 }, attrs: { mode: str("nearest") }, levels: [2, 0],
      inputs: [{ dims: [1, 2, 3, 5], dtype: "float16" }, null, scales([1, 1, 2, 3])] });
  });
});
