// Broadcasting binary/variadic ops, comparisons, logic, Where, PRelu, Pow, Mod and Cast against
// onnxruntime; the few integer cases onnxruntime cannot run (x / 0, INT_MIN / -1 trap in C++) are
// checked against a JavaScript reference of kiln's documented results instead.
import { describe, expect, it } from "vitest";
import type { DTypeName } from "../../runtime/dtypes.js";
import { buildCase, expectMatchesOrt, runKiln, runOrt, type OpCase } from "../util/ort.js";

const SPECIALS = [0, -0, 1, -1, 2.5, -2.5, 3, -3, 0.5, Infinity, -Infinity, NaN, 1e30, -1e-30, 7, 1e-3];
const INT_TYPES: DTypeName[] = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"];

/**
 * For dtypes onnxruntime has no kernel for (Max on int8, Where on uint16, ...): run onnxruntime on
 * the same values in a wider type (inputs from index `from` on), and compare after `wrap` (default:
 * none; values stay in range).
 */
async function expectMatchesWider(c: OpCase, narrow: DTypeName, wide: DTypeName, wrap = (v: number) => v, from = 0): Promise<void> {
  const widen = (c: OpCase): OpCase => ({ ...c, inputs: c.inputs.map((s, k) => (s && k >= from && s.dtype === narrow ? { ...s, dtype: wide } : s)) });
  const n = buildCase(c);
  const w = buildCase(widen(c));
  const got = (await runKiln(n.bytes, n.feeds)).out0;
  const want = (await runOrt(w.bytes, w.feeds)).out0;
  const nums = (a: ArrayLike<number | bigint>) => Array.from(a, Number);
  expect(got.dims).toEqual(want.dims);
  expect(nums(got.data as ArrayLike<number>)).toEqual(nums(want.data as ArrayLike<number>).map(wrap));
}

/** Every pair (a, b) of the special values, as two [n] tensors. */
function pairs(values: number[]): [number[], number[]] {
  const a: number[] = [];
  const b: number[] = [];
  for (const x of values) for (const y of values) { a.push(x); b.push(y); }
  return [a, b];
}

describe("broadcasting arithmetic", () => {
  for (const op of ["Add", "Sub", "Mul", "Div", "Max", "Min"]) {
    it(`${op} float32: odd shapes, rank 0..5 broadcasting, empty`, async () => {
      await expectMatchesOrt({ op, inputs: [{ dims: [3, 1, 5] }, { dims: [4, 1], lo: 0.5, hi: 2 }] });
      await expectMatchesOrt({ op, inputs: [{ dims: [2, 3, 7] }, { dims: [7], lo: 0.5, hi: 2, constant: true }] });
      await expectMatchesOrt({ op, inputs: [{ dims: [] }, { dims: [2, 1, 3, 1, 9] }] });
      await expectMatchesOrt({ op, inputs: [{ dims: [2, 3, 1, 5, 8] }, { dims: [3, 4, 1, 1], lo: 0.5, hi: 2 }] });
      await expectMatchesOrt({ op, inputs: [{ dims: [1, 13] }, { dims: [6, 1] }] });
      await expectMatchesOrt({ op, inputs: [{ dims: [] }, { dims: [0, 3] }] });
      await expectMatchesOrt({ op, inputs: [{ dims: [] }, { dims: [] }] });
    });
    it(`${op} float32 and float64 special values (NaN, inf, -0)`, async () => {
      const [a, b] = pairs(SPECIALS);
      for (const dtype of ["float32", "float64"] as DTypeName[]) {
        await expectMatchesOrt({ op, inputs: [{ dtype, dims: [a.length], data: a }, { dtype, dims: [b.length], data: b }] });
      }
    });
  }
  for (const op of ["Add", "Sub", "Mul", "Max", "Min"]) {
    it(`${op} every int type, with wrap-around`, async () => {
      for (const dtype of INT_TYPES) {
        const big = dtype === "uint64" || dtype === "int64" ? 2 ** 40 : dtype.endsWith("32") ? 2 ** 31 : dtype.endsWith("16") ? 2 ** 15 : 2 ** 7;
        const lo = dtype.startsWith("u") ? 0 : -big;
        const cases: OpCase[] = [
          { op, inputs: [{ dtype, dims: [3, 9], lo, hi: big }, { dtype, dims: [9], lo, hi: big }] },
          { op, inputs: [{ dtype, dims: [2, 1, 6] }, { dtype, dims: [] }] },
        ];
        // onnxruntime has Max/Min for 32/64-bit ints only
        const narrow = (op === "Max" || op === "Min") && /8|16/.test(dtype);
        for (const c of cases) await (narrow ? expectMatchesWider(c, dtype, dtype.startsWith("u") ? "uint32" : "int32") : expectMatchesOrt(c));
      }
    });
  }
  it("Div on ints truncates toward zero", async () => {
    for (const dtype of INT_TYPES) {
      await expectMatchesOrt({ op: "Div", inputs: [{ dtype, dims: [4, 7], lo: -100, hi: 100 }, { dtype, dims: [7], lo: 1, hi: 9 }] });
    }
    await expectMatchesOrt({ op: "Div", inputs: [{ dtype: "int32", dims: [6], data: [7, -7, 7, -7, 0, 1] }, { dtype: "int32", dims: [6], data: [2, 2, -2, -2, 5, -1] }] });
    await expectMatchesOrt({ op: "Div", inputs: [{ dtype: "int8", dims: [2], data: [-128, 127] }, { dtype: "int8", dims: [2], data: [-1, -1] }] });
  });
  it("integer x / 0, x % 0 give 0 and INT_MIN / -1 wraps (no trap)", async () => {
    const run = async (c: OpCase) => {
      const { bytes, feeds } = buildCase(c);
      return Array.from((await runKiln(bytes, feeds)).out0.data as ArrayLike<number | bigint>, Number);
    };
    const a = [5, -5, -(2 ** 31), -(2 ** 31), 0, 7];
    const b = [0, 0, -1, 0, 0, -1];
    expect(await run({ op: "Div", inputs: [{ dtype: "int32", dims: [6], data: a }, { dtype: "int32", dims: [6], data: b }] }))
      .toEqual(a.map((x, i) => (b[i] === 0 ? 0 : (x / b[i]) | 0)));
    expect(await run({ op: "Div", inputs: [{ dtype: "int64", dims: [6], data: a.map(BigInt) }, { dtype: "int64", dims: [6], data: b.map(BigInt) }] }))
      .toEqual(a.map((x, i) => (b[i] === 0 ? 0 : Math.trunc(x / b[i]))));
    expect(await run({ op: "Mod", inputs: [{ dtype: "uint32", dims: [3], data: [5, 9, 0] }, { dtype: "uint32", dims: [3], data: [0, 4, 0] }] }))
      .toEqual([0, 1, 0]);
    expect(await run({ op: "Mod", attrs: { fmod: { type: "int", value: 1 } }, inputs: [{ dtype: "int32", dims: [3], data: [-(2 ** 31), 5, -5] }, { dtype: "int32", dims: [3], data: [-1, 0, 3] }] }))
      .toEqual([0, 0, -2]);
  });
});

describe("variadic Max Min Sum Mean", () => {
  for (const op of ["Max", "Min", "Sum", "Mean"]) {
    it(`${op} with 1, 2 and 3 broadcasting inputs`, async () => {
      await expectMatchesOrt({ op, inputs: [{ dims: [3, 5] }] });
      await expectMatchesOrt({ op, inputs: [{ dims: [3, 5] }, { dims: [5] }] });
      await expectMatchesOrt({ op, inputs: [{ dims: [2, 1, 7] }, { dims: [3, 1] }, { dims: [] }] });
      if (op !== "Mean") { // onnxruntime's Mean is float32 only
        await expectMatchesOrt({ op, inputs: [{ dtype: "float64", dims: [4] }, { dtype: "float64", dims: [3, 1] }, { dtype: "float64", dims: [1] }] });
      }
    });
  }
  it("Max and Min propagate NaN", async () => {
    for (const op of ["Max", "Min"]) {
      await expectMatchesOrt({ op, inputs: [{ dims: [5], data: [NaN, 1, NaN, -0, 0] }, { dims: [5], data: [1, NaN, NaN, 0, -0] }, { dims: [1], data: [0.5] }] });
    }
  });
  it("Max and Min on ints", async () => {
    for (const dtype of ["int32", "int64", "uint32", "uint64"] as DTypeName[]) {
      for (const op of ["Max", "Min"]) await expectMatchesOrt({ op, inputs: [{ dtype, dims: [2, 6] }, { dtype, dims: [6] }, { dtype, dims: [2, 1] }] });
    }
  });
});

describe("Mod", () => {
  it("fmod=0 on signed ints takes the divisor's sign; fmod=1 the dividend's", async () => {
    for (const dtype of ["int8", "int16", "int32", "int64"] as DTypeName[]) {
      for (const fmod of [0, 1]) {
        await expectMatchesOrt({ op: "Mod", attrs: { fmod: { type: "int", value: fmod } }, inputs: [{ dtype, dims: [3, 7], lo: -50, hi: 50 }, { dtype, dims: [7], data: [3, -3, 7, -7, 1, -1, 10] }] });
      }
    }
    for (const dtype of ["uint8", "uint16", "uint32", "uint64"] as DTypeName[]) {
      await expectMatchesOrt({ op: "Mod", inputs: [{ dtype, dims: [9], lo: 0, hi: 200 }, { dtype, dims: [1], data: [7] }] });
    }
  });
  it("fmod=1 on floats is exact C fmod", async () => {
    const [a, b] = pairs([5.5, -5.5, 3, -3, 0.1, 1e20, -1e-20, 0, Infinity, NaN, 2 ** 60, 1e-38]);
    for (const dtype of ["float32", "float64"] as DTypeName[]) {
      await expectMatchesOrt({ op: "Mod", attrs: { fmod: { type: "int", value: 1 } }, inputs: [{ dtype, dims: [a.length], data: a }, { dtype, dims: [b.length], data: b }], tolerance: { rtol: 0, atol: 0 } });
    }
  });
});

describe("Pow", () => {
  it("float^float special values as C pow", async () => {
    const [a, b] = pairs([0, -0, 1, -1, 2, -2, 0.5, -0.5, 3, -3, Infinity, -Infinity, NaN, 10]);
    for (const dtype of ["float32", "float64"] as DTypeName[]) {
      await expectMatchesOrt({ op: "Pow", inputs: [{ dtype, dims: [a.length], data: a }, { dtype, dims: [b.length], data: b }], tolerance: { rtol: 1e-6, atol: 0 } });
    }
  });
  it("broadcasting and random values", async () => {
    await expectMatchesOrt({ op: "Pow", inputs: [{ dims: [3, 5], lo: 0, hi: 4 }, { dims: [5], lo: -3, hi: 3 }] });
    await expectMatchesOrt({ op: "Pow", inputs: [{ dims: [2, 7], lo: -4, hi: 4 }, { dims: [], data: [3] }] });
    await expectMatchesOrt({ op: "Pow", inputs: [{ dtype: "float64", dims: [11], lo: 0, hi: 100 }, { dtype: "float64", dims: [11], lo: -20, hi: 20 }], tolerance: { rtol: 1e-12, atol: 0 } });
  });
  it("mixed types: float^int, int^float, int^int", async () => {
    await expectMatchesOrt({ op: "Pow", inputs: [{ dims: [6], lo: -3, hi: 3 }, { dtype: "int32", dims: [6], data: [0, 1, 2, 3, -1, -2] }] });
    await expectMatchesOrt({ op: "Pow", inputs: [{ dims: [6], lo: -3, hi: 3 }, { dtype: "int64", dims: [6], data: [0, 1, 2, 3, -1, 5] }] });
    await expectMatchesOrt({ op: "Pow", inputs: [{ dtype: "int32", dims: [5], data: [1, 2, 3, -4, 5] }, { dims: [5], data: [0, 1.5, 2, 3, 0.5] }] });
    await expectMatchesOrt({ op: "Pow", inputs: [{ dtype: "int32", dims: [6], data: [2, -3, 5, 7, -1, 1] }, { dtype: "int32", dims: [6], data: [10, 3, 0, 4, 7, 9] }] });
    await expectMatchesOrt({ op: "Pow", inputs: [{ dtype: "int64", dims: [4], data: [2, -3, 3, 10] }, { dtype: "int64", dims: [4], data: [40, 21, 33, 15] }] });
  });
});

describe("comparisons and logic", () => {
  for (const op of ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"]) {
    it(`${op} over float, int types and broadcasting`, async () => {
      const [a, b] = pairs([0, -0, 1, -1, NaN, Infinity, -Infinity]);
      await expectMatchesOrt({ op, inputs: [{ dims: [a.length], data: a }, { dims: [b.length], data: b }] });
      await expectMatchesOrt({ op, inputs: [{ dims: [3, 1, 9], lo: -2, hi: 2 }, { dims: [4, 1], lo: -2, hi: 2 }] });
      for (const dtype of ["float64", ...INT_TYPES] as DTypeName[]) {
        await expectMatchesOrt({ op, inputs: [{ dtype, dims: [2, 7], lo: 0, hi: 4 }, { dtype, dims: [7], lo: 0, hi: 4 }] });
      }
    });
  }
  it("Equal on bool; And Or Xor with broadcasting", async () => {
    await expectMatchesOrt({ op: "Equal", inputs: [{ dtype: "bool", dims: [3, 6] }, { dtype: "bool", dims: [6] }] });
    for (const op of ["And", "Or", "Xor"]) {
      await expectMatchesOrt({ op, inputs: [{ dtype: "bool", dims: [2, 3, 9] }, { dtype: "bool", dims: [3, 1] }] });
      await expectMatchesOrt({ op, inputs: [{ dtype: "bool", dims: [] }, { dtype: "bool", dims: [5] }] });
    }
  });
  it("BitwiseAnd Or Xor over int types", async () => {
    for (const op of ["BitwiseAnd", "BitwiseOr", "BitwiseXor"]) {
      for (const dtype of INT_TYPES) await expectMatchesOrt({ op, opset: 18, inputs: [{ dtype, dims: [3, 5], lo: 0, hi: 120 }, { dtype, dims: [5], lo: 0, hi: 120 }] });
    }
  });
  it("BitShift LEFT and RIGHT on unsigned types", async () => {
    for (const direction of ["LEFT", "RIGHT"]) {
      for (const dtype of ["uint8", "uint16", "uint32", "uint64"] as DTypeName[]) {
        const c: OpCase = { op: "BitShift", attrs: { direction: { type: "string", value: direction } }, inputs: [{ dtype, dims: [2, 5], lo: 0, hi: 250 }, { dtype, dims: [5], data: [0, 1, 3, 5, 9] }] };
        // onnxruntime has no uint16 BitShift: shift in uint32 and keep the low 16 bits
        await (dtype === "uint16" ? expectMatchesWider(c, dtype, "uint32", (v) => v & 0xffff) : expectMatchesOrt(c));
      }
      // shifts by the bit width or more give 0
      await expectMatchesWider({ op: "BitShift", attrs: { direction: { type: "string", value: direction } }, inputs: [{ dtype: "uint8", dims: [4], data: [255, 1, 128, 7] }, { dtype: "uint8", dims: [4], data: [8, 9, 31, 200] }] }, "uint8", "uint32", () => 0);
    }
  });
});

describe("Where and PRelu", () => {
  it("Where broadcasting three ways, every value type", async () => {
    for (const dtype of ["float32", "float64", "int8", "int32", "int64", "uint16", "uint8", "bool"] as DTypeName[]) {
      // explicit bool data: random bools draw differently from random uint8s
      const values = (data: number[]) => (dtype === "bool" ? { data } : { lo: 0, hi: 100 });
      const c: OpCase = { op: "Where", inputs: [{ dtype: "bool", dims: [3, 1, 6] }, { dtype, dims: [4, 1], ...values([1, 0, 0, 1]) }, { dtype, dims: [6], ...values([0, 1, 1, 0, 1, 0]) }] };
      // onnxruntime's Where lacks some value types: compare with a wider one
      const wide = ({ int8: "int32", uint16: "int32", bool: "uint8" } as Partial<Record<DTypeName, DTypeName>>)[dtype];
      await (wide ? expectMatchesWider(c, dtype, wide, undefined, 1) : expectMatchesOrt(c));
    }
    await expectMatchesOrt({ op: "Where", inputs: [{ dtype: "bool", dims: [2, 9] }, { dims: [2, 9] }, { dims: [] }] });
    await expectMatchesOrt({ op: "Where", inputs: [{ dtype: "bool", dims: [] }, { dims: [3, 5] }, { dims: [5] }] });
    await expectMatchesOrt({ op: "Where", inputs: [{ dtype: "bool", dims: [0, 4] }, { dims: [4] }, { dims: [4] }] });
  });
  it("PRelu with slopes broadcast to X", async () => {
    await expectMatchesOrt({ op: "PRelu", inputs: [{ dims: [2, 3, 4, 5] }, { dims: [3, 1, 1] }] });
    await expectMatchesOrt({ op: "PRelu", inputs: [{ dims: [2, 3, 7] }, { dims: [7] }] });
    await expectMatchesOrt({ op: "PRelu", inputs: [{ dims: [9] }, { dims: [], constant: true }] });
    await expectMatchesOrt({ op: "PRelu", inputs: [{ dims: [5], data: [-0, 0, NaN, -Infinity, Infinity] }, { dims: [1], data: [0.25] }] });
    await expectMatchesOrt({ op: "PRelu", inputs: [{ dtype: "float64", dims: [3, 4] }, { dtype: "float64", dims: [4] }] });
    await expectMatchesOrt({ op: "PRelu", opset: 16, inputs: [{ dtype: "int32", dims: [3, 4] }, { dtype: "int32", dims: [4] }] });
  });
});

describe("Cast", () => {
  const cast = (from: DTypeName, to: DTypeName, data: number[]) =>
    expectMatchesOrt({ op: "Cast", attrs: { to: { type: "int", value: ONNX[to]! } }, inputs: [{ dtype: from, dims: [data.length], data }] });
  // the dtypes onnxruntime's JavaScript API has (the low-bit ones: test/kernels/lowbit-*.test.ts)
  const ONNX: Partial<Record<DTypeName, number>> = { float32: 1, uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11, uint32: 12, uint64: 13 };
  const ALL = Object.keys(ONNX) as DTypeName[];
  it("every pair of dtypes on in-range values", async () => {
    for (const from of ALL) {
      for (const to of ALL) await cast(from, to, from === "bool" ? [0, 1, 1, 0, 1] : [0, 1, 7, 100, 3]);
    }
  });
  it("float -> int truncates toward zero; -> bool is != 0; ints wrap", async () => {
    for (const to of ["int8", "int16", "int32", "int64", "bool"] as DTypeName[]) {
      await cast("float32", to, [0, -0, 0.5, -0.5, 1.9, -1.9, 100.7, -100.7]);
      await cast("float64", to, [0, -0, 0.5, -0.5, 1.9, -1.9, 100.7, -100.7]);
    }
    await cast("float32", "bool", [NaN, Infinity, -Infinity, 1e-40]);
    await cast("int32", "int8", [127, 128, 255, 256, -129, -1, 70000]);
    await cast("int64", "uint16", [65535, 65536, -1, 2 ** 40 + 3]);
    await cast("uint8", "int8", [0, 127, 128, 255]);
    await cast("float64", "float32", [1e-50, 1e50, NaN, -Infinity, 0.1]);
  });
  it("float16: rounding to nearest even, overflow to inf, subnormals", async () => {
    const values = [0.1, 65504, 65519, 65520, 1e6, -1e6, 6e-8, 3e-5, 1 + 2 ** -11, 1 + 3 * 2 ** -11, NaN, -Infinity, 1 + 2 ** -11 + 2 ** -40];
    await cast("float32", "float16", values);
    await cast("float64", "float16", values);
    await cast("float16", "float64", [0.1, 65504, -2.5, 6e-8]);
  });
  it("CastLike takes the target from its second input", async () => {
    await expectMatchesOrt({ op: "CastLike", opset: 19, inputs: [{ dims: [3, 4], lo: -50, hi: 50 }, { dtype: "int16", dims: [1] }] });
    await expectMatchesOrt({ op: "CastLike", opset: 19, inputs: [{ dtype: "int64", dims: [5] }, { dtype: "float64", dims: [] }] });
  });
});
