import { describe, expect, it } from "vitest";
import type { Attr } from "../../compiler/ir/graph.js";
import type { DTypeName } from "../../runtime/dtypes.js";
import { compareTensors } from "../../compiler/driver/testdata.js";
import { buildCase, expectMatchesOrt, runKiln } from "../util/ort.js";

const int = (value: number): Attr => ({ type: "int", value });
const scalar = (v: number, dtype: DTypeName = "int64") => ({ dims: [], dtype, data: [v], constant: true });

function cumprodReference(x: number[], dims: number[], axis: number, exclusive: number, reverse: number): number[] {
  const a = axis < 0 ? axis + dims.length : axis;
  const post = dims.slice(a + 1).reduce((p, d) => p * d, 1);
  const n = dims[a];
  const out = new Array<number>(x.length);
  for (let base = 0; base < x.length; base++) {
    if (Math.floor(base / post) % n !== 0) continue; // start of a line along the axis
    let acc = 1;
    for (let t = 0; t < n; t++) {
      const i = base + (reverse ? n - 1 - t : t) * post;
      if (exclusive) { out[i] = acc; acc *= x[i]; } else { acc *= x[i]; out[i] = acc; }
    }
  }
  return out;
}

async function expectCumProd(dims: number[], dtype: DTypeName, axis: number, exclusive: number, reverse: number, constAxis: boolean) {
  const float = dtype.startsWith("float");
  const { bytes, feeds } = buildCase({ op: "CumProd", opset: 21, attrs: { exclusive: int(exclusive), reverse: int(reverse) },
    inputs: [{ dims, dtype, lo: float ? 0.5 : -3, hi: float ? 1.5 : 4 }, { ...scalar(axis), constant: constAxis }] });
  const x = feeds.in0;
  const got = (await runKiln(bytes, feeds)).out0;
  const want = cumprodReference(Array.from(x.data as ArrayLike<number | bigint>, Number), dims, axis, exclusive, reverse);
  const data = dtype === "int64" ? BigInt64Array.from(want.map((v) => BigInt(v))) : dtype === "int32" ? Int32Array.from(want) : dtype === "float32" ? Float32Array.from(want) : Float64Array.from(want);
  const cmp = compareTensors(got, { dtype, dims, data } as never, { rtol: 1e-5, atol: 1e-6 });
  expect(cmp.message ?? "ok").toBe("ok");
}

describe("signal operators vs onnxruntime", () => {
  // onnxruntime has no CumProd kernel yet: compare with a direct JS reference of the ONNX definition
  it("CumProd: every axis, exclusive, reverse, float and int types", async () => {
    for (const dims of [[7], [3, 5], [2, 3, 4]]) {
      for (let axis = -dims.length; axis < dims.length; axis++) {
        for (const [exclusive, reverse] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
          await expectCumProd(dims, "float32", axis, exclusive, reverse, true);
        }
      }
    }
    await expectCumProd([3, 5], "int32", 1, 0, 0, true);
    await expectCumProd([5, 2], "int64", 0, 1, 0, true);
    await expectCumProd([4, 3], "float64", -1, 0, 1, true);
  });

  it("CumProd with the axis known only at run time", async () => {
    await expectCumProd([3, 4], "float32", 1, 0, 1, false);
    await expectCumProd([3, 4], "float32", -2, 1, 0, false);
  });

  it("Hann, Hamming and Blackman windows: periodic and symmetric, odd and even sizes, output types", async () => {
    for (const op of ["HannWindow", "HammingWindow", "BlackmanWindow"]) {
      for (const size of [1, 2, 5, 10, 33]) {
        for (const periodic of [0, 1]) {
          if (size === 1 && periodic === 0) continue; // 0/0 in the reference formula
          await expectMatchesOrt({ op, attrs: { periodic: int(periodic) }, inputs: [scalar(size)] });
        }
      }
      await expectMatchesOrt({ op, attrs: { output_datatype: int(11) }, inputs: [scalar(9, "int32")] });
    }
  });

  it("MelWeightMatrix", async () => {
    for (const [bins, dft, rate, lo, hi] of [[8, 16, 8192, 0, 4096], [10, 64, 16000, 20, 8000], [5, 33, 22050, 100, 5000]]) {
      await expectMatchesOrt({ op: "MelWeightMatrix", inputs: [scalar(bins), scalar(dft), scalar(rate), scalar(lo, "float32"), scalar(hi, "float32")] });
    }
  });
});

describe("DFT and STFT vs onnxruntime", () => {
  const tol = { rtol: 1e-4, atol: 1e-4 };
  it("DFT opset 17: real and complex input, each signal axis, inverse, onesided, dft_length padding and truncation", async () => {
    for (const [dims, axis] of [[[2, 7, 1], 1], [[1, 8, 2], 1], [[2, 5, 6, 2], 2], [[1, 4, 9, 1], 1]] as [number[], number][]) {
      for (const inverse of [0, 1]) {
        await expectMatchesOrt({ op: "DFT", opset: 17, tolerance: tol, attrs: { axis: int(axis), inverse: int(inverse) }, inputs: [{ dims }] });
      }
      if (dims[dims.length - 1] === 1) await expectMatchesOrt({ op: "DFT", opset: 17, tolerance: tol, attrs: { axis: int(axis), onesided: int(1) }, inputs: [{ dims }] });
    }
    for (const n of [5, 12, 4, 16]) {
      await expectMatchesOrt({ op: "DFT", opset: 17, tolerance: tol, inputs: [{ dims: [2, 8, 2] }, scalar(n)] });
    }
  });

  it("power-of-two lengths (the FFT path): forward, inverse, onesided, padded, every axis, irfft", async () => {
    for (const [dims, axis] of [[[2, 16, 1], 1], [[1, 32, 2], 1], [[2, 3, 8, 2], 2], [[1, 2, 5, 1], 1]] as [number[], number][]) {
      for (const inverse of [0, 1]) {
        await expectMatchesOrt({ op: "DFT", opset: 17, tolerance: tol, attrs: { axis: int(axis), inverse: int(inverse) }, inputs: [{ dims }] });
      }
      if (dims[dims.length - 1] === 1) await expectMatchesOrt({ op: "DFT", opset: 17, tolerance: tol, attrs: { axis: int(axis), onesided: int(1) }, inputs: [{ dims }] });
    }
    await expectMatchesOrt({ op: "DFT", opset: 20, tolerance: tol, attrs: { inverse: int(1), onesided: int(1) }, inputs: [{ dims: [2, 9, 2] }, null, scalar(-2)] });
    await expectMatchesOrt({ op: "DFT", opset: 20, tolerance: tol, attrs: { inverse: int(1), onesided: int(1) }, inputs: [{ dims: [1, 5, 3, 2] }, scalar(8), scalar(1)] });
    // Bluestein lengths: an irfft of 100 samples, and 70 samples padded to 90
    await expectMatchesOrt({ op: "DFT", opset: 20, tolerance: { rtol: 1e-3, atol: 1e-4 }, attrs: { inverse: int(1), onesided: int(1) }, inputs: [{ dims: [1, 51, 2] }, null, scalar(1)] });
    await expectMatchesOrt({ op: "DFT", opset: 17, tolerance: { rtol: 1e-3, atol: 1e-3 }, attrs: { inverse: int(1) }, inputs: [{ dims: [2, 70, 2] }, scalar(90)] });
  });

  // onnxruntime sums in float32 (errors near 4e-3 at N = 600); kiln sums in f64, so the bound is onnxruntime's
  it("DFT of a long, non-power-of-two signal", async () => {
    await expectMatchesOrt({ op: "DFT", opset: 17, tolerance: { rtol: 1e-2, atol: 1e-2 }, inputs: [{ dims: [1, 600, 1] }] });
  });

  it("DFT of 1000 (Bluestein) and 1024 (radix-2) samples matches an f64 reference to 1e-5 of the signal scale", async () => {
    for (const N of [1000, 1024]) {
      const { bytes, feeds } = buildCase({ op: "DFT", opset: 17, inputs: [{ dims: [1, N, 1] }] });
      const x = Array.from(feeds.in0.data as Float32Array);
      const got = (await runKiln(bytes, feeds)).out0.data as Float32Array;
      let worst = 0;
      for (const k of [0, 1, 7, 333, N / 2, N - 1]) {
        let re = 0, im = 0;
        x.forEach((v, j) => { re += v * Math.cos((-2 * Math.PI * ((j * k) % N)) / N); im += v * Math.sin((-2 * Math.PI * ((j * k) % N)) / N); });
        worst = Math.max(worst, Math.abs(got[2 * k] - re), Math.abs(got[2 * k + 1] - im));
      }
      expect(worst).toBeLessThan(1e-5 * Math.sqrt(N));
    }
  });

  it("STFT: frame_length or window, onesided or not, steps that leave a tail", async () => {
    await expectMatchesOrt({ op: "STFT", opset: 17, tolerance: tol, inputs: [{ dims: [2, 50, 1] }, scalar(7), null, scalar(12)] });
    await expectMatchesOrt({ op: "STFT", opset: 17, tolerance: tol, attrs: { onesided: int(0) }, inputs: [{ dims: [1, 33, 2] }, scalar(4), null, scalar(9)] });
    await expectMatchesOrt({ op: "STFT", opset: 17, tolerance: tol, inputs: [{ dims: [1, 40, 1] }, scalar(5), { dims: [16], lo: 0, hi: 1, constant: true }] });
    // a 100-sample frame takes Bluestein's path (onnxruntime sums in float32, hence the bound)
    await expectMatchesOrt({ op: "STFT", opset: 17, tolerance: { rtol: 1e-3, atol: 1e-3 }, inputs: [{ dims: [2, 500, 1] }, scalar(50), { dims: [100], lo: 0, hi: 1 }] });
  });
});

describe("image geometry vs onnxruntime", () => {
  const ints = (value: number[]): Attr => ({ type: "ints", value });
  const shape = (v: number[]) => ({ dims: [v.length], dtype: "int64" as DTypeName, data: v, constant: true });

  it("CenterCropPad: crop, pad, both, odd excess, axes subsets, int types", async () => {
    for (const [dims, target, axes] of [[[5, 8], [3, 11], undefined], [[3, 20, 7], [10, 8], [1, 2]], [[4, 6, 3], [7, 1], [-3, 1]], [[1, 1], [4, 5], undefined]] as [number[], number[], number[] | undefined][]) {
      await expectMatchesOrt({ op: "CenterCropPad", opset: 18, attrs: axes ? { axes: ints(axes) } : {}, inputs: [{ dims }, shape(target)] });
    }
    await expectMatchesOrt({ op: "CenterCropPad", opset: 18, inputs: [{ dims: [5, 4], dtype: "int32" }, shape([2, 7])] });
  });

  it("Col2Im: overlaps, strides, dilations, pads, 1-D and 3-D images", async () => {
    const cases: [number[], number[], number[], Record<string, Attr>][] = [
      [[1, 4, 16], [5, 5], [2, 2], {}],
      [[2, 6, 9], [5, 7], [1, 3], { strides: ints([2, 2]), pads: ints([1, 0, 0, 1]) }],
      [[1, 8, 9], [6, 6], [2, 2], { dilations: ints([2, 2]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) }],
      [[1, 6, 4], [4, 3, 5], [1, 2, 3], { strides: ints([2, 2, 2]) }],
    ];
    for (const [dims, image, block, attrs] of cases) {
      await expectMatchesOrt({ op: "Col2Im", opset: 18, attrs, inputs: [{ dims }, shape(image), shape(block)] });
    }
  });
});

describe("GridSample vs onnxruntime", () => {
  const str = (value: string): Attr => ({ type: "string", value });
  // bicubic + border is left out: onnxruntime's answers differ from the ONNX reference there (the
  // reference, like PyTorch and kiln, clamps each out-of-border axis on its own before taking taps)
  it("2-D: every mode, padding mode and align_corners, grid reaching past the border", async () => {
    for (const mode of ["bilinear", "nearest", "bicubic"]) {
      for (const padding of ["zeros", "border", "reflection"]) {
        if (mode === "bicubic" && padding === "border") continue;
        for (const align of [0, 1]) {
          await expectMatchesOrt({ op: "GridSample", opset: 16, tolerance: { rtol: 1e-4, atol: 1e-4 },
            attrs: { mode: str(mode), padding_mode: str(padding), align_corners: int(align) },
            inputs: [{ dims: [2, 3, 5, 7] }, { dims: [2, 4, 6, 2], lo: -1.7, hi: 1.7 }] });
        }
      }
    }
  });

  it("3-D (opset 20) linear and nearest", async () => {
    for (const mode of ["linear", "nearest"]) {
      for (const padding of ["zeros", "border"]) {
        await expectMatchesOrt({ op: "GridSample", opset: 20, tolerance: { rtol: 1e-4, atol: 1e-4 },
          attrs: { mode: str(mode), padding_mode: str(padding) }, inputs: [{ dims: [1, 2, 3, 4, 5] }, { dims: [1, 2, 3, 4, 3], lo: -1.3, hi: 1.3 }] });
      }
    }
  });
});
