import { describe, it } from "vitest";
import type { Attr } from "../../compiler/ir/graph.js";
import type { DTypeName } from "../../runtime/dtypes.js";
import { expectMatchesOrt } from "../util/ort.js";

const int = (value: number): Attr => ({ type: "int", value });
const ints = (value: number[]): Attr => ({ type: "ints", value });
// integer outputs are compared exactly (compareTensors), so every quantized result must match bit for bit
const RANGE: Record<string, [number, number]> = { int8: [-128, 128], uint8: [0, 256], int16: [-32768, 32768], uint16: [0, 65536], int32: [-1e6, 1e6] };

describe("quantization vs onnxruntime", () => {
  it("QuantizeLinear per tensor: round half to even, saturation, every target type", async () => {
    // x / 0.5 lands exactly on halves (and far outside every 8-bit range)
    const halves = [-300.25, -2.75, -1.25, -0.75, -0.25, 0, 0.25, 0.75, 1.25, 2.75, 63.75, 300.25, 1e9, -1e9];
    for (const dt of ["int8", "uint8", "int16", "uint16"] as DTypeName[]) {
      const [lo, hi] = RANGE[dt];
      await expectMatchesOrt({ op: "QuantizeLinear", opset: 21,
        inputs: [{ dims: [halves.length], data: halves }, { dims: [], data: [0.5] }, { dims: [], dtype: dt, data: [Math.floor((lo + hi) / 3)] }] });
      await expectMatchesOrt({ op: "QuantizeLinear", opset: 21,
        inputs: [{ dims: [3, 7], lo: -500, hi: 500 }, { dims: [], data: [0.37] }, { dims: [], dtype: dt, data: [lo === 0 ? 3 : -3] }] });
    }
  });

  it("QuantizeLinear / DequantizeLinear per axis and blocked", async () => {
    for (const axis of [0, 1, 2]) {
      const dims = [3, 5, 4];
      await expectMatchesOrt({ op: "QuantizeLinear", opset: 21, attrs: { axis: int(axis) },
        inputs: [{ dims, lo: -20, hi: 20 }, { dims: [dims[axis]], lo: 0.05, hi: 0.5 }, { dims: [dims[axis]], dtype: "int8" }] });
      await expectMatchesOrt({ op: "DequantizeLinear", opset: 21, attrs: { axis: int(axis) },
        inputs: [{ dims, dtype: "uint8", lo: 0, hi: 256 }, { dims: [dims[axis]], lo: 0.05, hi: 0.5 }, { dims: [dims[axis]], dtype: "uint8" }] });
    }
    await expectMatchesOrt({ op: "QuantizeLinear", opset: 21, attrs: { axis: int(1), block_size: int(2) },
      inputs: [{ dims: [3, 5], lo: -20, hi: 20 }, { dims: [3, 3], lo: 0.05, hi: 0.5 }, { dims: [3, 3], dtype: "int8" }] });
    await expectMatchesOrt({ op: "DequantizeLinear", opset: 21, attrs: { axis: int(0), block_size: int(3) },
      inputs: [{ dims: [7, 2], dtype: "int8", lo: -128, hi: 128 }, { dims: [3, 2], lo: 0.05, hi: 0.5 }, { dims: [3, 2], dtype: "int8" }] });
  });

  it("DequantizeLinear per tensor for each input type, with and without zero point", async () => {
    for (const dt of ["int8", "uint8", "int16", "uint16", "int32"] as DTypeName[]) {
      const [lo, hi] = RANGE[dt];
      await expectMatchesOrt({ op: "DequantizeLinear", opset: 21, inputs: [{ dims: [2, 9], dtype: dt, lo, hi }, { dims: [], data: [0.125] }, { dims: [], dtype: dt, data: [lo === 0 ? 7 : -7] }] });
      await expectMatchesOrt({ op: "DequantizeLinear", opset: 21, inputs: [{ dims: [5], dtype: dt, lo, hi }, { dims: [], data: [0.3] }] });
    }
  });

  it("DynamicQuantizeLinear: mixed signs, all positive, all zero", async () => {
    await expectMatchesOrt({ op: "DynamicQuantizeLinear", outputs: 3, inputs: [{ dims: [3, 7], lo: -3, hi: 5 }] });
    await expectMatchesOrt({ op: "DynamicQuantizeLinear", outputs: 3, inputs: [{ dims: [5], lo: 1, hi: 5 }] });
    await expectMatchesOrt({ op: "DynamicQuantizeLinear", outputs: 3, inputs: [{ dims: [4], data: [0, 0, 0, 0] }] });
    // long enough for the 4- and 16-lane loops, with tails
    await expectMatchesOrt({ op: "DynamicQuantizeLinear", outputs: 3, inputs: [{ dims: [3, 1013], lo: -7, hi: 2 }] });
    await expectMatchesOrt({ op: "DynamicQuantizeLinear", outputs: 3, inputs: [{ dims: [2, 128, 48], lo: 0.5, hi: 9 }] });
    // NaN (the spec leaves it open): onnxruntime leaves it out of the range and quantizes it to 0;
    // in the 4-lane loop, in the scalar tail, and everywhere
    const nans = [1, -2, NaN, 3, 0.5, 4, 5, 6, -1, 2, 0, 7, NaN, 9.5, -3];
    await expectMatchesOrt({ op: "DynamicQuantizeLinear", outputs: 3, inputs: [{ dims: [nans.length], data: nans }] });
    await expectMatchesOrt({ op: "DynamicQuantizeLinear", outputs: 3, inputs: [{ dims: [6], data: [NaN, NaN, NaN, NaN, NaN, NaN] }] });
    // the 16-lane loop's rounding (quant/common.ts nearestPlusZp): scale 1 and zero point 0, so x / scale
    // is x: halves round to even; NaN among them
    const halves = Array.from({ length: 48 }, (_, i) => (i === 0 ? 0 : i === 1 ? 255 : i % 11 === 5 ? NaN : ((i * 37) % 254) + 0.5));
    await expectMatchesOrt({ op: "DynamicQuantizeLinear", outputs: 3, inputs: [{ dims: [halves.length], data: halves }] });
  });

  // onnxruntime takes only per-tensor zero points for MatMulInteger
  it("MatMulInteger: 2-D, 1-D, batched with broadcasting", async () => {
    await expectMatchesOrt({ op: "MatMulInteger",
      inputs: [{ dims: [3, 5], dtype: "uint8", lo: 0, hi: 256 }, { dims: [5, 7], dtype: "uint8", lo: 0, hi: 256 }, { dims: [], dtype: "uint8", data: [12] }, { dims: [], dtype: "uint8", data: [200] }] });
    await expectMatchesOrt({ op: "MatMulInteger",
      inputs: [{ dims: [2, 3, 5], dtype: "uint8", lo: 0, hi: 256 }, { dims: [5, 6], dtype: "int8", lo: -128, hi: 128 }] });
    await expectMatchesOrt({ op: "MatMulInteger",
      inputs: [{ dims: [3], dtype: "uint8", lo: 0, hi: 256 }, { dims: [2, 3, 5], dtype: "uint8", lo: 0, hi: 256 }, { dims: [1], dtype: "uint8" }, { dims: [1], dtype: "uint8" }] });
    await expectMatchesOrt({ op: "MatMulInteger",
      inputs: [{ dims: [1, 4, 7], dtype: "int8", lo: -128, hi: 128 }, { dims: [3, 7, 1], dtype: "int8", lo: -128, hi: 128 }, { dims: [], dtype: "int8", data: [-9] }] });
  });

  it("QLinearMatMul: uint8 and int8, 2-D and batched", async () => {
    for (const dt of ["uint8", "int8"] as DTypeName[]) {
      const [lo, hi] = RANGE[dt];
      for (const [ad, bd] of [[[3, 5], [5, 7]], [[2, 4, 3], [2, 3, 5]]]) {
        await expectMatchesOrt({ op: "QLinearMatMul", inputs: [
          { dims: ad, dtype: dt, lo, hi }, { dims: [], data: [0.02] }, { dims: [], dtype: dt, data: [lo === 0 ? 113 : 3] },
          { dims: bd, dtype: dt, lo, hi }, { dims: [], data: [0.03] }, { dims: [], dtype: dt, data: [lo === 0 ? 98 : -5] },
          { dims: [], data: [0.6] }, { dims: [], dtype: dt, data: [lo === 0 ? 120 : 2] }] });
      }
    }
  });

  it("QLinearMatMul with per-column b scale and zero point, long K", async () => {
    await expectMatchesOrt({ op: "QLinearMatMul", inputs: [
      { dims: [5, 300], dtype: "uint8", lo: 0, hi: 256 }, { dims: [], data: [0.01] }, { dims: [], dtype: "uint8", data: [128] },
      { dims: [300, 11], dtype: "uint8", lo: 0, hi: 256 }, { dims: [11], lo: 0.001, hi: 0.004 }, { dims: [11], dtype: "uint8", lo: 100, hi: 150 },
      { dims: [], data: [0.5] }, { dims: [], dtype: "uint8", data: [128] }] });
  });

  it("ConvInteger and QLinearConv: padding, strides, dilations, groups, per-channel weights", async () => {
    const cases: [number[], number[], Record<string, Attr>][] = [
      [[1, 2, 5, 5], [3, 2, 3, 3], { pads: ints([1, 1, 1, 1]) }],
      [[2, 4, 7, 6], [4, 2, 3, 2], { group: int(2), strides: ints([2, 1]), dilations: ints([1, 2]) }],
      [[1, 3, 9], [2, 3, 4], { pads: ints([2, 1]), strides: ints([3]) }],
      [[1, 5, 6, 7], [9, 5, 3, 3], { pads: ints([1, 0, 2, 1]) }],
      [[1, 6, 5, 5], [6, 2, 2, 2], { group: int(3), auto_pad: { type: "string", value: "SAME_UPPER" } }],
    ];
    // constant weights take the packed four-channel lane path; graph-input weights the scalar one
    for (const [xd, wd, attrs] of cases) {
      for (const constant of [false, true]) {
        await expectMatchesOrt({ op: "ConvInteger", attrs,
          inputs: [{ dims: xd, dtype: "uint8", lo: 0, hi: 256 }, { dims: wd, dtype: "uint8", lo: 0, hi: 256, constant }, { dims: [], dtype: "uint8", data: [17] }, { dims: [], dtype: "uint8", data: [130], constant }] });
        await expectMatchesOrt({ op: "QLinearConv", attrs, inputs: [
          { dims: xd, dtype: "uint8", lo: 0, hi: 256 }, { dims: [], data: [0.05] }, { dims: [], dtype: "uint8", data: [128] },
          { dims: wd, dtype: "int8", lo: -128, hi: 128, constant }, { dims: [wd[0]], lo: 0.001, hi: 0.01 }, { dims: [wd[0]], dtype: "int8", data: new Array(wd[0]).fill(0), constant },
          { dims: [], data: [0.2] }, { dims: [], dtype: "uint8", data: [100] }, { dims: [wd[0]], dtype: "int32", lo: -500, hi: 500 }] });
      }
    }
  });
});
