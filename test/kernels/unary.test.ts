// Unary operators against onnxruntime: odd sizes (so both the f32x4 loop and the scalar tail run),
// edge values, every attribute that changes the result, float64/float16 and integer types.
import { describe, expect, it } from "vitest";
import type { DTypeName } from "../../runtime/dtypes.js";
import type { Attr } from "../../compiler/ir/graph.js";
import { buildCase, expectMatchesOrt, runKiln, type TensorSpec } from "../util/ort.js";

const EDGES = [0, -0, 1, -1, 0.5, -0.5, 1e-30, -1e-30, 3.4e38, -3.4e38, 88, -88, 100, -100, 1e-40, 20, -20, 7.5, -7.5];
// long enough to pass through the f32x4 loop, not just the scalar tail
const INF_NAN = [Infinity, -Infinity, NaN, 0, NaN, 1, -Infinity, Infinity, 2];

/** Random data in [lo, hi) on shapes 1, 7 and [3,5] plus the edge values in range, as float32 */
function floatCases(lo: number, hi: number, dtype: DTypeName = "float32"): TensorSpec[] {
  const edges = EDGES.filter((v) => v >= lo && v <= hi);
  return [
    { dims: [1], lo, hi, dtype },
    { dims: [7], lo, hi, dtype },
    { dims: [3, 5], lo, hi, dtype },
    { dims: [edges.length], data: edges, dtype },
  ];
}

const INT_ATTRS = new Set(["detect_positive", "detect_negative"]);
/** plain values -> typed attributes (numbers are floats unless the attribute is an int) */
function attrsOf(plain: Record<string, number | string>): Record<string, Attr> {
  return Object.fromEntries(Object.entries(plain).map(([k, v]): [string, Attr] => [k,
    typeof v === "string" ? { type: "string", value: v } : INT_ATTRS.has(k) ? { type: "int", value: v } : { type: "float", value: v }]));
}

/** one row per op: the input range, attribute sets, opset (and domain, when not ai.onnx), and whether to feed inf and NaN */
interface OpTest { lo?: number; hi?: number; attrs?: Record<string, number>[]; opset?: number; domain?: string; nanInf?: boolean }

const FLOAT_OPS: Record<string, OpTest> = {
  Abs: { nanInf: true }, Neg: { nanInf: true }, Exp: { lo: -100, hi: 100, nanInf: true }, Log: { lo: 1e-30, hi: 1e30, nanInf: true },
  Sqrt: { lo: 0, hi: 1e30, nanInf: true }, Reciprocal: { lo: 0.1, hi: 100 }, Floor: { lo: -10, hi: 10, nanInf: true },
  Ceil: { lo: -10, hi: 10, nanInf: true }, Sign: { lo: -3, hi: 3, nanInf: true }, Relu: { lo: -3, hi: 3 },
  Sigmoid: { lo: -100, hi: 100, nanInf: true }, Tanh: { lo: -20, hi: 20, nanInf: true }, Erf: { lo: -5, hi: 5, nanInf: true },
  Sin: { lo: -100, hi: 100 }, Cos: { lo: -100, hi: 100 }, Tan: { lo: -1.5, hi: 1.5 },
  Asin: { lo: -1, hi: 1 }, Acos: { lo: -1, hi: 1 }, Atan: { lo: -1e6, hi: 1e6, nanInf: true },
  Sinh: { lo: -80, hi: 80 }, Cosh: { lo: -80, hi: 80 }, Asinh: { lo: -1e6, hi: 1e6 }, Acosh: { lo: 1, hi: 1e6 },
  Atanh: { lo: -0.999, hi: 0.999 },
  LeakyRelu: { lo: -5, hi: 5, attrs: [{}, { alpha: 0.3 }] },
  HardSigmoid: { lo: -6, hi: 6, attrs: [{}, { alpha: 0.1, beta: 0.6 }] },
  HardSwish: { lo: -6, hi: 6 },
  Elu: { lo: -20, hi: 5, attrs: [{}, { alpha: 0.5 }] },
  Selu: { lo: -20, hi: 5, attrs: [{}, { alpha: 2, gamma: 3 }] },
  Celu: { lo: -20, hi: 5, attrs: [{}, { alpha: 2 }] },
  Softplus: { lo: -100, hi: 100 }, Softsign: { lo: -100, hi: 100, nanInf: true },
  ThresholdedRelu: { lo: -3, hi: 3, attrs: [{}, { alpha: 0.5 }] },
  Shrink: { lo: -3, hi: 3, attrs: [{}, { lambd: 1.5, bias: 0.5 }] },
  Mish: { lo: -20, hi: 20, opset: 18 },
  IsNaN: { nanInf: true }, IsInf: { nanInf: true, attrs: [{}, { detect_positive: 0 }, { detect_negative: 0 }] },
  // threshold always given: onnxruntime's default is 1, the spec's 0 (kiln's); onnxruntime refuses NaN inputs
  Binarizer: { lo: -3, hi: 3, attrs: [{ threshold: 0 }, { threshold: 0.5 }], domain: "ai.onnx.ml", opset: 1 },
};

describe("unary float32 vs onnxruntime", () => {
  for (const [op, t] of Object.entries(FLOAT_OPS)) {
    it(op, async () => {
      const specs = floatCases(t.lo ?? -1e30, t.hi ?? 1e30);
      if (t.nanInf) specs.push({ dims: [INF_NAN.length], data: INF_NAN });
      for (const attrs of t.attrs ?? [{}]) {
        for (const spec of specs) await expectMatchesOrt({ op, domain: t.domain, attrs: attrsOf(attrs), inputs: [spec], opset: t.opset, tolerance: { rtol: 2e-6, atol: 1e-6 } });
      }
    });
  }
  it("empty, scalar and long tensors", async () => {
    for (const op of ["Exp", "Sigmoid", "Tanh", "Erf", "Log", "Softplus", "Elu"]) {
      await expectMatchesOrt({ op, inputs: [{ dims: [0, 3] }] });
      await expectMatchesOrt({ op, inputs: [{ dims: [], lo: 0.1, hi: 2 }] });
      await expectMatchesOrt({ op, inputs: [{ dims: [4, 257], lo: op === "Log" ? 1e-6 : -30, hi: 30 }], tolerance: { rtol: 2e-6, atol: 1e-6 } });
    }
  });
  it("Relu and constant-bound Clip keep NaN on the f32x4 path (pmax/pmin with the bound second) and clamp infinities", async () => {
    const data = [NaN, -Infinity, Infinity, -1, 2, 7, -0.5, NaN, 3, 100, -100, NaN, 0.25];
    const cases: [string, Record<string, number>, (x: number) => number][] = [
      ["Relu", {}, (x) => (Number.isNaN(x) ? NaN : Math.max(x, 0))],
      ["Clip", { min: 0, max: 6 }, (x) => (Number.isNaN(x) ? NaN : Math.min(Math.max(x, 0), 6))],
    ];
    for (const [op, attrs, ref] of cases) {
      const { bytes, feeds } = buildCase({ op, opset: 6, attrs: attrsOf(attrs), inputs: [{ dims: [data.length], data }] });
      const got = Array.from((await runKiln(bytes, feeds)).out0.data as Float32Array);
      got.forEach((v, i) => {
        const want = ref(data[i]);
        if (Number.isNaN(want)) expect(v, `${op}(${data[i]})`).toBeNaN();
        else expect(v, `${op}(${data[i]})`).toBe(want);
      });
    }
  });

  it("Round halves to even", async () => {
    await expectMatchesOrt({ op: "Round", inputs: [{ dims: [11], data: [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 0.4999, -3.7, 1e20, 7.5] }] });
  });
});

describe("unary float64 and float16", () => {
  for (const op of ["Exp", "Log", "Tanh", "Sigmoid", "Sqrt", "Abs", "Neg", "Sin", "Floor"]) {
    it(`${op} float64`, async () => {
      const lo = ["Log", "Sqrt"].includes(op) ? 0.001 : -5;
      await expectMatchesOrt({ op, inputs: [{ dims: [3, 7], lo, hi: 5, dtype: "float64" }], tolerance: { rtol: 1e-12, atol: 1e-13 } });
    });
  }
  for (const op of ["Relu", "Sigmoid", "Tanh", "Abs", "Neg", "Exp", "IsNaN"]) {
    it(`${op} float16`, async () => {
      await expectMatchesOrt({ op, inputs: [{ dims: [9], lo: -4, hi: 4, dtype: "float16" }], tolerance: { rtol: 1e-3, atol: 1e-3 } });
    });
  }
});

describe("unary integer ops vs onnxruntime", () => {
  const ints: DTypeName[] = ["int8", "int16", "int32", "int64"];
  for (const dtype of ints) {
    it(`Abs, Neg, Sign, Relu ${dtype}`, async () => {
      for (const op of ["Abs", "Neg", "Sign"]) await expectMatchesOrt({ op, inputs: [{ dims: [13], lo: -100, hi: 100, dtype }] });
      if (dtype === "int8" || dtype === "int32") await expectMatchesOrt({ op: "Relu", inputs: [{ dims: [13], lo: -100, hi: 100, dtype }] });
    });
  }
  it("BitwiseNot on signed and unsigned", async () => {
    for (const dtype of ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"] as DTypeName[]) {
      await expectMatchesOrt({ op: "BitwiseNot", opset: 18, inputs: [{ dims: [2, 5], lo: 0, hi: 100, dtype }] });
    }
  });
  it("Not on bool", async () => {
    await expectMatchesOrt({ op: "Not", inputs: [{ dims: [3, 7], dtype: "bool" }] });
  });
  it("Abs and Sign on unsigned", async () => {
    await expectMatchesOrt({ op: "Abs", inputs: [{ dims: [9], dtype: "uint8", lo: 0, hi: 255 }] });
    await expectMatchesOrt({ op: "Sign", inputs: [{ dims: [9], dtype: "uint32", lo: 0, hi: 3 }] });
  });
  it("Shrink on int32", async () => {
    await expectMatchesOrt({ op: "Shrink", attrs: attrsOf({ lambd: 2, bias: 1 }), inputs: [{ dims: [11], dtype: "int32", lo: -6, hi: 6 }] });
  });
});

describe("Clip", () => {
  const x = { dims: [3, 7], lo: -5, hi: 5 };
  it("opset 6 attributes", async () => {
    await expectMatchesOrt({ op: "Clip", opset: 6, attrs: attrsOf({ min: -1, max: 2 }), inputs: [x] });
    await expectMatchesOrt({ op: "Clip", opset: 6, attrs: attrsOf({ min: -1 }), inputs: [x] });
    await expectMatchesOrt({ op: "Clip", opset: 6, inputs: [x] });
  });
  it("opset 13 bounds as constants, run-time inputs, or absent", async () => {
    const lo = { dims: [], data: [-1.5] };
    const hi = { dims: [], data: [2.25] };
    await expectMatchesOrt({ op: "Clip", inputs: [x, { ...lo, constant: true }, { ...hi, constant: true }] });
    await expectMatchesOrt({ op: "Clip", inputs: [x, lo, hi] });
    await expectMatchesOrt({ op: "Clip", inputs: [x, null, hi] });
    await expectMatchesOrt({ op: "Clip", inputs: [x, lo] });
    await expectMatchesOrt({ op: "Clip", inputs: [{ dims: [5] }, { dims: [], data: [2] }, { dims: [], data: [-2] }] });
  });
  it("integer types", async () => {
    for (const dtype of ["int8", "uint8", "int32", "int64", "uint64"] as DTypeName[]) {
      await expectMatchesOrt({ op: "Clip", inputs: [{ dims: [11], dtype, lo: 0, hi: 100 }, { dims: [], dtype, data: [10] }, { dims: [], dtype, data: [60] }] });
    }
    await expectMatchesOrt({ op: "Clip", inputs: [{ dims: [11], dtype: "int32", lo: -50, hi: 50 }, { dims: [], dtype: "int32", data: [-7] }, null] });
  });
  it("float64", async () => {
    await expectMatchesOrt({ op: "Clip", inputs: [{ ...x, dtype: "float64" }, { dims: [], dtype: "float64", data: [-1] }, { dims: [], dtype: "float64", data: [1] }] });
  });
});

describe("opset-20+ activations", () => {
  for (const approximate of ["none", "tanh"]) {
    it(`Gelu approximate=${approximate}`, async () => {
      for (const spec of floatCases(-10, 10)) {
        await expectMatchesOrt({ op: "Gelu", opset: 20, attrs: attrsOf({ approximate }), inputs: [spec], tolerance: { rtol: 2e-6, atol: 1e-6 } });
      }
    });
  }
});
