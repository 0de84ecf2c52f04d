// The low-bit dtypes' conversions, each on its own, against the ONNX reference implementation's
// values (test/fixtures/lowbit/make_fixtures.py): every code of each float8 type and of float4e2m1
// to float32 and back, float32 probes (midpoints, one ulp either side, overflow, underflow,
// NaN, Inf, -0) to each type with and without saturation, float8e8m0's three rounding modes,
// bfloat16's round to nearest even and NaN, the 4- and 2-bit integers. Twice: the JavaScript
// helpers (runtime/lowbit.ts) and the wasm the kernels run (codegen/lowbit.ts, through Cast).
import { describe, expect, it } from "vitest";
import type { DTypeName, TypedArray } from "../../runtime/dtypes.js";
import { decodeValue, encodeElements, encodeValue, packCodes, unpackCodes, type E8M0Rounding } from "../../runtime/lowbit.js";
import { bitsOf, conversions, f32, int, nums, runModel, str } from "../util/lowbit.js";

const FIXTURE = conversions();
const FLOAT_TYPES: DTypeName[] = ["float8e4m3fn", "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz", "float4e2m1", "float8e8m0", "bfloat16"];
const INT_TYPES: DTypeName[] = ["int4", "uint4", "int2", "uint2"];
const ONNX_CODE: Record<string, number> = {
  bfloat16: 16, float8e4m3fn: 17, float8e4m3fnuz: 18, float8e5m2: 19, float8e5m2fnuz: 20, uint4: 21, int4: 22, float4e2m1: 23, float8e8m0: 24, uint2: 25, int2: 26,
};

/** a fixture mode key ("saturate", "nosaturate", "up-saturate" ...) as Cast attributes */
function modeOf(key: string): { saturate: boolean; round: E8M0Rounding } {
  const [round, sat] = key.includes("-") ? key.split("-") : ["up", key];
  return { saturate: sat === "saturate", round: round as E8M0Rounding };
}

const codesOf = (dt: DTypeName, data: TypedArray, n: number) => unpackCodes(dt, data as Uint8Array, n);
const sameFloat = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

/** Cast float32 `x` to dt in kiln: the output codes. */
async function castFrom32(dt: DTypeName, x: Float32Array, mode: { saturate: boolean; round: E8M0Rounding }, level?: 0 | 2): Promise<number[]> {
  const out = await runModel({
    opset: 25,
    inputs: [{ name: "x", dtype: "float32", dims: [x.length] }],
    nodes: [{ op: "Cast", inputs: ["x"], outputs: ["y"], attrs: { to: int(ONNX_CODE[dt]), saturate: int(mode.saturate ? 1 : 0), round_mode: str(mode.round) } }],
    outputs: ["y"],
  }, { x }, level);
  expect(out.y.dtype).toBe(dt);
  return codesOf(dt, out.y.data, x.length);
}

/** Cast codes of dt to float32 in kiln: the float32 bits. */
async function castTo32(dt: DTypeName, codes: number[]): Promise<number[]> {
  const out = await runModel({
    opset: 25,
    inputs: [{ name: "x", dtype: dt, dims: [codes.length] }],
    nodes: [{ op: "Cast", inputs: ["x"], outputs: ["y"], attrs: { to: int(1) } }],
    outputs: ["y"],
  }, { x: packCodes(dt, codes) });
  return bitsOf(out.y.data as Float32Array);
}

describe("low-bit conversions in JavaScript (runtime/lowbit.ts) against the ONNX reference", () => {
  for (const dt of FLOAT_TYPES) {
    it(`${dt}: every code to a number, and float32 probes to codes`, () => {
      const e = FIXTURE[dt];
      const codes = e.codes ?? e.decode!.map((_, i) => i);
      const want = f32(e.decode!);
      codes.forEach((c, i) => expect(sameFloat(decodeValue(dt, c), want[i]), `${dt} code ${c}`).toBe(true));
      const probes = f32(e.probes);
      for (const [key, expected] of Object.entries(e.encode)) {
        const mode = modeOf(key);
        // a JavaScript NaN has no dependable sign bit: negative NaNs are checked in wasm below
        const got = Array.from(probes, (v, i) => (Number.isNaN(v) && e.probes[i] >>> 31 ? expected[i] : encodeValue(dt, v, mode)));
        expect(got, `${dt} ${key}`).toEqual(expected);
      }
    });
  }

  for (const dt of INT_TYPES) {
    it(`${dt}: codes to numbers, and float32 to codes (truncated, low bits kept)`, () => {
      const bits = dt.endsWith("2") ? 2 : 4;
      const signed = dt.startsWith("int");
      for (let c = 0; c < 2 ** bits; c++) expect(decodeValue(dt, c)).toBe(signed && c >= 2 ** (bits - 1) ? c - 2 ** bits : c);
      const e = FIXTURE[dt];
      const mask = 2 ** bits - 1;
      expect(Array.from(f32(e.probes), (v) => encodeValue(dt, v))).toEqual(e.encode.saturate.map((v) => v & mask));
    });
  }

  it("packs 4- and 2-bit elements low bits first, odd counts padded with zero bits", () => {
    expect(nums(encodeElements("int4", [1, -2, 7]))).toEqual([0xe1, 0x07]);
    expect(nums(encodeElements("uint2", [1, 2, 3, 0, 3]))).toEqual([0b00111001, 0b11]);
    expect(nums(encodeElements("float4e2m1", [0.5, -6, 3]))).toEqual([0xf1, 0x05]);
    for (const dt of INT_TYPES) {
      for (let n = 0; n <= 9; n++) {
        const codes = Array.from({ length: n }, (_, i) => (i * 7 + 3) % (dt.endsWith("2") ? 4 : 16));
        const packed = packCodes(dt, codes);
        expect(packed.length).toBe(Math.ceil((n * (dt.endsWith("2") ? 2 : 4)) / 8));
        expect(unpackCodes(dt, packed as Uint8Array, n)).toEqual(codes);
      }
    }
  });
});

describe("low-bit conversions in wasm (codegen/lowbit.ts, through Cast) against the ONNX reference", () => {
  for (const dt of FLOAT_TYPES) {
    it(`${dt}: every code to float32, bit for bit`, async () => {
      const e = FIXTURE[dt];
      const codes = e.codes ?? e.decode!.map((_, i) => i);
      expect(await castTo32(dt, codes)).toEqual(e.decode);
    });

    it(`${dt}: float32 probes to codes, bit for bit (negative NaNs included), each rounding mode`, async () => {
      const e = FIXTURE[dt];
      for (const [key, expected] of Object.entries(e.encode)) {
        expect(await castFrom32(dt, f32(e.probes), modeOf(key)), `${dt} ${key}`).toEqual(expected);
      }
    });
  }

  for (const dt of INT_TYPES) {
    it(`${dt}: every code to float32, and float32 probes to codes`, async () => {
      const bits = dt.endsWith("2") ? 2 : 4;
      const all = Array.from({ length: 2 ** bits }, (_, c) => c);
      expect(Array.from(f32(await castTo32(dt, all)))).toEqual(all.map((c) => decodeValue(dt, c)));
      const e = FIXTURE[dt];
      expect(await castFrom32(dt, f32(e.probes), { saturate: true, round: "up" })).toEqual(e.encode.saturate.map((v) => v & (2 ** bits - 1)));
    });
  }

  it("the same codes at -O0", async () => {
    for (const dt of ["float8e4m3fn", "float4e2m1", "float8e8m0"] as DTypeName[]) {
      const e = FIXTURE[dt];
      const key = Object.keys(e.encode)[0];
      expect(await castFrom32(dt, f32(e.probes), modeOf(key), 0)).toEqual(e.encode[key]);
    }
  });
});

describe("bfloat16 and rounding once", () => {
  it("rounds to nearest even, gives NaN the quiet NaN of its sign, overflows to Inf", async () => {
    const cases: [number, number][] = [
      [0x3f808000, 0x3f80], // tie, even below
      [0x3f818000, 0x3f82], // tie, odd below: up
      [0x3f808001, 0x3f81], // just above the tie
      [0x7f7fffff, 0x7f80], // float32 max rounds to Inf
      [0x7f800001, 0x7fc0], // any NaN: the quiet NaN of its sign
      [0xffc00001, 0xffc0],
      [0x80000000, 0x8000],
      [0x00008000, 0x0000], // subnormal tie to even zero
    ];
    const out = await runModel({
      inputs: [{ name: "x", dtype: "float32", dims: [cases.length] }],
      nodes: [{ op: "Cast", inputs: ["x"], outputs: ["y"], attrs: { to: int(16) } }],
      outputs: ["y"],
    }, { x: f32(cases.map(([b]) => b)) });
    expect(Array.from(out.y.data as Uint16Array)).toEqual(cases.map(([, c]) => c));
  });

  // onnx's reference (ml_dtypes) goes int32 -> float32 -> bfloat16 and rounds twice: 33685505 =
  // 2^25 + 2^17 + 1 becomes the tie 2^25 + 2^17 in float32, then 2^25. The nearest bfloat16 is
  // 2^25 + 2^18; kiln rounds once, from the exact value (so does float64 -> float8 below).
  it("int32 and float64 round once to bfloat16 and float8 (no double rounding through float32)", async () => {
    const ints = Int32Array.of(33685505, -33685505, 16777217, 2147483647);
    const a = await runModel({
      inputs: [{ name: "x", dtype: "int32", dims: [4] }],
      nodes: [{ op: "Cast", inputs: ["x"], outputs: ["y"], attrs: { to: int(16) } }],
      outputs: ["y"],
    }, { x: ints });
    expect(Array.from(a.y.data as Uint16Array)).toEqual([0x4c01, 0xcc01, 0x4b80, 0x4f00]);
    // 0.5 + 2^-5 + 2^-40: the float32 nearest is the e4m3fn midpoint 0.53125 (a tie that rounds to
    // even 0.5); the exact value is above it, so e4m3fn 0.5625
    const d = await runModel({
      inputs: [{ name: "x", dtype: "float64", dims: [2] }],
      nodes: [{ op: "Cast", inputs: ["x"], outputs: ["y"], attrs: { to: int(17) } }],
      outputs: ["y"],
    }, { x: Float64Array.of(0.5 + 2 ** -5 + 2 ** -40, -(0.5 + 2 ** -5 + 2 ** -40)) });
    expect(Array.from(d.y.data as Uint8Array).map((c) => decodeValue("float8e4m3fn", c))).toEqual([0.5625, -0.5625]);
  });

  it("packed outputs of odd length carry zero padding bits, in place or not", async () => {
    for (const n of [1, 3, 5, 7]) {
      const x = Int8Array.from({ length: n }, (_, i) => i * 5 - 9);
      const out = await runModel({
        inputs: [{ name: "x", dtype: "int8", dims: [n] }],
        nodes: [
          { op: "Cast", inputs: ["x"], outputs: ["a"], attrs: { to: int(22) } },
          { op: "Cast", inputs: ["a"], outputs: ["b"], attrs: { to: int(21) } },
          { op: "Cast", inputs: ["b"], outputs: ["c"], attrs: { to: int(25) } },
          { op: "Cast", inputs: ["c"], outputs: ["y"], attrs: { to: int(3) } },
        ],
        outputs: ["b", "c", "y"],
      }, { x });
      // int8 -> int4 -> uint4 keeps the low 4 bits; -> uint2 the low 2
      expect(nums(out.b.data)).toEqual(nums(packCodes("uint4", Array.from(x, (v) => v & 15))));
      expect(nums(out.c.data)).toEqual(nums(packCodes("uint2", Array.from(x, (v) => v & 3))));
      expect(nums(out.y.data)).toEqual(Array.from(x, (v) => v & 3));
    }
  });
});
