import { describe, expect, it } from "vitest";
import type { Attr } from "../../compiler/ir/graph.js";
import { buildCase, expectMatchesOrt, runKiln } from "../util/ort.js";

const ints = (value: number[]): Attr => ({ type: "ints", value });
const int = (value: number): Attr => ({ type: "int", value });
const str = (value: string): Attr => ({ type: "string", value });

describe("pools vs onnxruntime", () => {
  it("MaxPool: pads, strides, ceil_mode, dilations, 1-D and 3-D", async () => {
    await expectMatchesOrt({ op: "MaxPool", attrs: { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), strides: ints([2, 2]) }, inputs: [{ dims: [2, 3, 9, 7] }] });
    await expectMatchesOrt({ op: "MaxPool", attrs: { kernel_shape: ints([3, 2]), strides: ints([2, 2]), ceil_mode: int(1) }, inputs: [{ dims: [1, 2, 8, 7] }] });
    await expectMatchesOrt({ op: "MaxPool", attrs: { kernel_shape: ints([2, 2]), dilations: ints([2, 3]) }, inputs: [{ dims: [1, 1, 7, 9] }] });
    await expectMatchesOrt({ op: "MaxPool", attrs: { kernel_shape: ints([3]), auto_pad: str("SAME_UPPER"), strides: ints([2]) }, inputs: [{ dims: [1, 2, 11] }] });
    await expectMatchesOrt({ op: "MaxPool", attrs: { kernel_shape: ints([2, 3, 2]) }, inputs: [{ dims: [1, 2, 4, 5, 3] }] });
  });
  it("4-wide runs along the last axis at strides 1 and 2", async () => {
    for (const op of ["MaxPool", "AveragePool"]) {
      for (const s of [1, 2]) {
        await expectMatchesOrt({ op, attrs: { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 2]), strides: ints([s, s]) }, inputs: [{ dims: [1, 2, 6, 23] }] });
        await expectMatchesOrt({ op, opset: 19, attrs: { kernel_shape: ints([2, 3]), dilations: ints([1, 2]), strides: ints([1, s]) }, inputs: [{ dims: [1, 1, 4, 30] }] });
      }
    }
  });
  it("MaxPool's 4-wide runs keep NaN (a NaN anywhere in the window gives NaN) and -inf windows, strides 1 and 2", async () => {
    const H = 6, W = 13;
    const data = Array.from({ length: H * W }, (_, i) => Math.sin(i * 1.7) * 10);
    data[2 * W + 5] = NaN;
    data[4 * W + 10] = -Infinity;
    data[0] = Infinity;
    for (const stride of [1, 2]) {
      const { bytes, feeds } = buildCase({ op: "MaxPool", attrs: { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), strides: ints([stride, stride]) }, inputs: [{ dims: [1, 1, H, W], data }] });
      const got = (await runKiln(bytes, feeds)).out0;
      const [OH, OW] = got.dims.slice(2);
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let want = -Infinity;
          let nan = false;
          for (let i = oh * stride - 1; i <= oh * stride + 1; i++) {
            for (let j = ow * stride - 1; j <= ow * stride + 1; j++) {
              if (i < 0 || j < 0 || i >= H || j >= W) continue;
              const v = Math.fround(data[i * W + j]);
              if (Number.isNaN(v)) nan = true;
              else want = Math.max(want, v);
            }
          }
          const at = `stride ${stride} (${oh}, ${ow})`;
          if (nan) expect(got.data[oh * OW + ow], at).toBeNaN();
          else expect(got.data[oh * OW + ow], at).toBe(want);
        }
      }
    }
  });

  it("MaxPool on 8-bit tensors, 16 outputs a vector along the last axis: strides 1 and 2, pads, dilation, full ranges", async () => {
    for (const [dtype, lo, hi] of [["uint8", 0, 256], ["int8", -128, 128]] as const) {
      for (const s of [1, 2]) {
        await expectMatchesOrt({ op: "MaxPool", attrs: { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 2]), strides: ints([s, s]) }, inputs: [{ dims: [2, 3, 7, 45], dtype, lo, hi }] });
        // all-lowest windows (the start value) and a run of exactly 16
        await expectMatchesOrt({ op: "MaxPool", attrs: { kernel_shape: ints([2, 2]), strides: ints([s, s]) }, inputs: [{ dims: [1, 2, 4, 16 * s + 1], dtype, data: new Array(2 * 4 * (16 * s + 1)).fill(lo) }] });
      }
      await expectMatchesOrt({ op: "MaxPool", attrs: { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), strides: ints([2, 2]) }, inputs: [{ dims: [1, 4, 112, 112], dtype, lo, hi }] });
      await expectMatchesOrt({ op: "MaxPool", attrs: { kernel_shape: ints([2, 3]), dilations: ints([2, 2]), pads: ints([0, 2, 1, 1]) }, inputs: [{ dims: [1, 2, 9, 37], dtype, lo, hi }] });
    }
  });

  it("MaxPool Indices in both storage orders, and uint8", async () => {
    for (const order of [0, 1]) {
      await expectMatchesOrt({ op: "MaxPool", outputs: 2, attrs: { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), strides: ints([2, 2]), storage_order: int(order) },
        inputs: [{ dims: [2, 3, 7, 5] }] });
    }
    await expectMatchesOrt({ op: "MaxPool", attrs: { kernel_shape: ints([2, 2]) }, inputs: [{ dims: [1, 2, 5, 5], dtype: "uint8", lo: 0, hi: 255 }] });
  });
  it("AveragePool with and without count_include_pad, ceil_mode", async () => {
    for (const include of [0, 1]) {
      await expectMatchesOrt({ op: "AveragePool", attrs: { kernel_shape: ints([3, 3]), pads: ints([1, 2, 1, 0]), count_include_pad: int(include) }, inputs: [{ dims: [1, 3, 6, 7] }] });
      await expectMatchesOrt({ op: "AveragePool", attrs: { kernel_shape: ints([2, 3]), strides: ints([2, 2]), ceil_mode: int(1), count_include_pad: int(include) }, inputs: [{ dims: [2, 1, 7, 8] }] });
    }
    await expectMatchesOrt({ op: "AveragePool", attrs: { kernel_shape: ints([3]), auto_pad: str("SAME_LOWER") }, inputs: [{ dims: [1, 2, 5] }] });
  });
  it("dilated ceil_mode MaxPool with Indices; ceil_mode AveragePool counting pads", async () => {
    await expectMatchesOrt({ op: "MaxPool", outputs: 2, attrs: { kernel_shape: ints([2, 2]), dilations: ints([2, 2]), ceil_mode: int(1), strides: ints([2, 2]) }, inputs: [{ dims: [1, 2, 7, 8] }] });
    await expectMatchesOrt({ op: "AveragePool", attrs: { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), ceil_mode: int(1), strides: ints([2, 2]), count_include_pad: int(1) }, inputs: [{ dims: [1, 2, 8, 8] }] });
  });
  it("ceil_mode windows larger than the padded input (EfficientNet's pooler: AvgPool2d(320, ceil_mode=True) on a 2x2 plane)", async () => {
    for (const include of [0, 1]) {
      await expectMatchesOrt({ op: "AveragePool", attrs: { kernel_shape: ints([7, 7]), strides: ints([7, 7]), ceil_mode: int(1), count_include_pad: int(include) }, inputs: [{ dims: [1, 5, 2, 3] }] });
      await expectMatchesOrt({ op: "AveragePool", attrs: { kernel_shape: ints([5, 4]), strides: ints([3, 3]), pads: ints([1, 0, 0, 1]), ceil_mode: int(1), count_include_pad: int(include) }, inputs: [{ dims: [1, 2, 2, 2] }] });
    }
    await expectMatchesOrt({ op: "MaxPool", attrs: { kernel_shape: ints([6, 6]), strides: ints([6, 6]), ceil_mode: int(1) }, inputs: [{ dims: [2, 3, 3, 4] }] });
    await expectMatchesOrt({ op: "MaxPool", attrs: { kernel_shape: ints([7]), strides: ints([4]), ceil_mode: int(1) }, inputs: [{ dims: [1, 2, 5] }] });
  });
  it("LpPool p = 1, 2, 3", async () => {
    for (const p of [1, 2, 3]) {
      await expectMatchesOrt({ op: "LpPool", attrs: { kernel_shape: ints([2, 2]), p: int(p), pads: ints([1, 0, 0, 1]) }, inputs: [{ dims: [1, 2, 5, 6] }] });
    }
  });
  it("global pools over odd and multiple-of-4 planes", async () => {
    for (const op of ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"]) {
      await expectMatchesOrt({ op, inputs: [{ dims: [2, 3, 5, 7] }] });
      await expectMatchesOrt({ op, inputs: [{ dims: [1, 4, 8] }] });
      await expectMatchesOrt({ op, inputs: [{ dims: [1, 2, 1, 1, 3] }] });
    }
  });
});

describe("float16 and float64 pools vs onnxruntime", () => {
  const half = { rtol: 1e-2, atol: 1e-2 };
  it("MaxPool, AveragePool, GlobalAveragePool", async () => {
    await expectMatchesOrt({ op: "MaxPool", tolerance: half, attrs: { kernel_shape: ints([2, 2]) }, inputs: [{ dims: [1, 2, 5, 6], dtype: "float16" }] });
    await expectMatchesOrt({ op: "AveragePool", tolerance: half, attrs: { kernel_shape: ints([2, 2]) }, inputs: [{ dims: [1, 2, 5, 6], dtype: "float16" }] });
    await expectMatchesOrt({ op: "GlobalAveragePool", tolerance: half, inputs: [{ dims: [1, 2, 5, 6], dtype: "float16" }] });
    await expectMatchesOrt({ op: "MaxPool", attrs: { kernel_shape: ints([3, 2]), pads: ints([1, 1, 1, 1]) }, inputs: [{ dims: [1, 2, 5, 6], dtype: "float64" }] });
  });
});
