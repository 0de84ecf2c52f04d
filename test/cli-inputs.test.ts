// The inputs kiln run and kiln bench make (compiler/driver/cli/inputs.ts makeInput): each kind's
// values per dtype, stated here element by element, and the seeded random stream they draw.
import { describe, expect, it } from "vitest";
import { makeInput, rng } from "../compiler/driver/cli/inputs.js";
import { decodeElements } from "../runtime/lowbit.js";

type Made = ArrayLike<number | bigint> & Uint8Array;
const values = (kind: string, dt: Parameters<typeof makeInput>[1], dims: number[], seed = 0, intRange?: [number, number]) =>
  makeInput(kind, dt, dims, seed, intRange ? { intRange } : {}).data as unknown as Made;

describe("makeInput", () => {
  it("arange: i / n for floats, i for integers, i % 2 for bool, in the dtype's array", () => {
    const f = values("arange", "float32", [3, 7]);
    expect(f).toBeInstanceOf(Float32Array);
    expect(Array.from(f)).toEqual(Array.from({ length: 21 }, (_, i) => Math.fround(i / 21)));
    expect(Array.from(values("arange", "float64", [5]))).toEqual([0, 0.2, 0.4, 0.6, 0.8]);
    expect(Array.from(values("arange", "int32", [2, 3]))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Array.from(values("arange", "uint8", [300]))).toEqual(Array.from({ length: 300 }, (_, i) => i % 256));
    expect(Array.from(values("arange", "bool", [5]))).toEqual([0, 1, 0, 1, 0]);
    const big = values("arange", "int64", [4]);
    expect(big).toBeInstanceOf(BigInt64Array);
    expect(Array.from(big)).toEqual([0n, 1n, 2n, 3n]);
    expect(decodeElements("float16", values("arange", "float16", [4]))).toEqual([0, 0.25, 0.5, 0.75]);
    expect(values("arange", "float32", [0, 4]).length).toBe(0);
  });

  it("random: mulberry32 from the seed, one draw an element: [-1, 1) for floats, the integer range, bool at 0.5", () => {
    const draws = (seed: number, n: number) => { const r = rng(seed); return Array.from({ length: n }, () => r()); };
    expect(Array.from(values("random", "float64", [6], 7))).toEqual(draws(7, 6).map((u) => u * 2 - 1));
    expect(Array.from(values("random", "int32", [6], 7))).toEqual(draws(7, 6).map((u) => Math.floor(u * 10)));
    expect(Array.from(values("random", "int64", [6], 7, [-3, 3]))).toEqual(draws(7, 6).map((u) => BigInt(-3 + Math.floor(u * 7))));
    expect(Array.from(values("random", "bool", [6], 2))).toEqual(draws(2, 6).map((u) => (u < 0.5 ? 0 : 1)));
    expect(Array.from(values("random", "float32", [9], 3))).toEqual(Array.from(values("random", "float32", [9], 3)));
    expect(Array.from(values("random", "float32", [9], 3))).not.toEqual(Array.from(values("random", "float32", [9], 4)));
  });

  it("ones and zeros; an unknown kind and a range the dtype cannot hold are typed errors", () => {
    expect(Array.from(values("ones", "float32", [3]))).toEqual([1, 1, 1]);
    expect(Array.from(values("ones", "uint64", [2]))).toEqual([1n, 1n]);
    expect(Array.from(values("zeros", "int16", [3]))).toEqual([0, 0, 0]);
    expect(() => values("linspace", "float32", [3])).toThrow(/BAD_INPUT: "linspace" is not an input kiln makes/);
    expect(() => values("arange", "uint8", [3], 0, [0, 300])).toThrow(/BAD_OPTION: integer range 0..300 does not fit uint8/);
  });
});
