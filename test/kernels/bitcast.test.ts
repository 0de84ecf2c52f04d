// BitCast: the input's bytes as another type of the same width. Checked byte for byte (a NaN's
// payload and -0 included) against onnxruntime-node where it runs the pair of types, and against
// the input's own bytes (the spec's definition) for the low-bit types it does not run.
import { describe, expect, it } from "vitest";
import { dtype, type DTypeName, type TypedArray } from "../../runtime/dtypes.js";
import { encodeElements } from "../../runtime/lowbit.js";
import type { Tensor } from "../../compiler/ir/graph.js";
import { runOrt } from "../util/ort.js";
import { int, modelBytes, runModel, zeroFeeds, type ModelSpec } from "../util/lowbit.js";
import { expectKilnError } from "../util/errors.js";

const bytesOf = (a: TypedArray) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
const onnxCode = (dt: DTypeName) => dtype(dt).onnx;

/** n elements of dt with every bit pattern likely: random bytes, then the edge values' bytes */
function randomBits(dt: DTypeName, n: number, seed: number, edges: ArrayLike<number> = []): TypedArray {
  const info = dtype(dt);
  const a = new info.array(n);
  const b = new Uint8Array(a.buffer);
  let s = seed;
  for (let i = 0; i < b.length; i++) b[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 16;
  b.set(new Uint8Array(new (edgeArray(dt))(Array.from(edges) as never).buffer), 0);
  return a;
}

/** the typed array edge values are written with (float ones for float types, their codes else) */
function edgeArray(dt: DTypeName): new (xs: never) => TypedArray {
  if (dt === "float32") return Float32Array as never;
  if (dt === "float64") return Float64Array as never;
  return dtype(dt).array as never;
}

const FLOAT_EDGES = [0, -0, Infinity, -Infinity, NaN, 1e-40, -1e-40, 3.4e38, 1, -1];

const chain = (from: DTypeName, to: DTypeName, dims: number[]): ModelSpec => ({
  opset: 26,
  inputs: [{ name: "x", dtype: from, dims }],
  nodes: [{ op: "BitCast", inputs: ["x"], outputs: ["y"], attrs: { to: int(onnxCode(to)) } }],
  outputs: ["y"],
});

async function expectSameBits(spec: ModelSpec, to: DTypeName, x: TypedArray, want: TypedArray): Promise<void> {
  for (const level of [0, 2] as const) {
    const got = (await runModel(spec, { x }, level)).y;
    expect(got.dtype, `-O${level}`).toBe(to);
    expect(bytesOf(got.data), `-O${level} bytes`).toEqual(bytesOf(want));
  }
}

describe("BitCast vs onnxruntime (byte for byte)", () => {
  const pairs: [DTypeName, DTypeName, number[]][] = [
    ["float32", "int32", [3, 7]], ["int32", "float32", [37]], ["float32", "uint32", [2, 3, 5]], ["uint32", "float32", []],
    ["float64", "int64", [9]], ["int64", "float64", [4, 5]], ["uint64", "float64", [3]], ["float64", "uint64", [1, 6]],
    ["int8", "uint8", [33]], ["uint8", "int8", [2, 17]], ["uint16", "int16", [19]], ["int16", "uint16", [5, 3]],
    ["float16", "int16", [21]], ["int16", "float16", [3, 11]], ["float16", "uint16", [8]], ["uint16", "float16", [2, 9]],
  ];
  for (const [from, to, dims] of pairs) {
    it(`${from} -> ${to} [${dims}]`, async () => {
      const n = dims.reduce((a, b) => a * b, 1);
      let x = randomBits(from, n, n * 31 + from.length, from.startsWith("float") && from !== "float16" ? FLOAT_EDGES.slice(0, n) : []);
      if (from === "bool") x = Uint8Array.from(x as Uint8Array, (v) => v & 1);
      const spec = chain(from, to, dims);
      const want = (await runOrt(modelBytes(spec), { x: { dtype: from, dims, data: x } as Tensor })).y;
      expect(bytesOf(want.data)).toEqual(bytesOf(x)); // onnxruntime keeps the bytes too
      await expectSameBits(spec, to, x, want.data);
    });
  }
});

describe("BitCast of the types onnxruntime does not run (low-bit, bool): the input's bytes", () => {
  const pairs: [DTypeName, DTypeName, number][] = [
    ["int4", "uint4", 7], ["uint4", "float4e2m1", 9], ["int2", "uint2", 11], ["uint8", "float8e4m3fn", 13], ["float8e5m2", "int8", 6],
    ["bfloat16", "float16", 10], ["float16", "bfloat16", 5], ["bfloat16", "int16", 3], ["bool", "int8", 4], ["bool", "uint8", 15],
  ];
  for (const [from, to, n] of pairs) {
    it(`${from} -> ${to} [${n}]`, async () => {
      const packed = dtype(from).bits < 8;
      const x = packed ? encodeElements(from, Array.from({ length: n }, (_, i) => (i * 5) % (1 << dtype(from).bits) - (dtype(from).signed && from !== "float4e2m1" ? 1 << (dtype(from).bits - 1) : 0)).map((v) => (from === "float4e2m1" ? v / 4 : v))) : randomBits(from, n, n);
      const data = from === "bool" ? Uint8Array.from(x as Uint8Array, (v) => v & 1) : x;
      await expectSameBits(chain(from, to, [n]), to, data, data);
    });
  }
});

describe("BitCast in graphs", () => {
  it("float16 bits between float16 arithmetic (widened to float32 around them), and a constant input folded", async () => {
    // int16 bits -> float16 -> Neg -> bits again, and the bits of a float16 graph input
    const spec: ModelSpec = {
      opset: 26,
      inputs: [{ name: "x", dtype: "int16", dims: [2, 9] }, { name: "h", dtype: "float16", dims: [5] }],
      consts: { c: { dtype: "float32", dims: [3], data: Float32Array.of(-0, NaN, 1.5) } },
      nodes: [
        { op: "BitCast", inputs: ["x"], outputs: ["f"], attrs: { to: int(10) } },
        { op: "Neg", inputs: ["f"], outputs: ["g"] },
        { op: "BitCast", inputs: ["g"], outputs: ["y"], attrs: { to: int(5) } },
        { op: "BitCast", inputs: ["h"], outputs: ["hb"], attrs: { to: int(4) } },
        { op: "Abs", inputs: ["h"], outputs: ["ha"] },
        { op: "BitCast", inputs: ["c"], outputs: ["cb"], attrs: { to: int(6) } },
        { op: "BitCast", inputs: ["x"], outputs: ["xf"], attrs: { to: int(10) } },
      ],
      outputs: ["y", "hb", "ha", "cb", "xf", "f"],
    };
    // finite float16 bits only: Neg of a NaN keeps no particular payload in either runtime
    const x = Int16Array.from({ length: 18 }, (_, i) => ((i * 2731) & 0x7bff) * (i % 2 ? -1 : 1));
    const h = Uint16Array.from([0x3c00, 0x8000, 0x7c00, 0x0001, 0xfbff]);
    const want = await runOrt(modelBytes(spec), { x: { dtype: "int16", dims: [2, 9], data: x }, h: { dtype: "float16", dims: [5], data: h } });
    for (const level of [0, 2] as const) {
      const got = await runModel(spec, { x, h }, level);
      for (const o of spec.outputs) expect(bytesOf(got[o].data), `-O${level} ${o}`).toEqual(bytesOf(want[o].data));
      expect(got.y.dtype).toBe("int16");
      expect(got.xf.dtype).toBe("float16");
    }
  });

  it("a float16 constant's bits, NaN payloads and -0 included (it is widened for other readers)", async () => {
    const codes = Uint16Array.of(0x7c01, 0xfe12, 0x8000, 0x7bff, 0x0001, 0xfc00);
    const spec: ModelSpec = {
      opset: 26,
      inputs: [{ name: "x", dtype: "float16", dims: [6] }],
      consts: { c: { dtype: "float16", dims: [6], data: codes } },
      nodes: [
        { op: "BitCast", inputs: ["c"], outputs: ["y"], attrs: { to: int(5) } },
        { op: "Add", inputs: ["x", "c"], outputs: ["s"] },
      ],
      outputs: ["y", "s"],
    };
    for (const level of [0, 2] as const) {
      const got = await runModel(spec, { x: new Uint16Array(6) }, level);
      expect(bytesOf(got.y.data), `-O${level}`).toEqual(bytesOf(codes));
    }
  });

  it("refuses what the spec or kiln's bools do not allow, naming the node", async () => {
    const refused = (from: DTypeName, to: number, code: string, message: RegExp) => {
      const spec: ModelSpec = { opset: 26, inputs: [{ name: "x", dtype: from, dims: [4] }], nodes: [{ op: "BitCast", inputs: ["x"], outputs: ["y"], attrs: { to: int(to) } }], outputs: ["y"] };
      return expectKilnError(runModel(spec, zeroFeeds(spec)), code, message, /node "n0"/);
    };
    await refused("float32", 7, "INVALID_MODEL", /from float32 \(32 bits\) to int64 \(64 bits\): the widths must be equal/);
    await refused("int4", 3, "INVALID_MODEL", /from int4 \(4 bits\) to int8 \(8 bits\)/);
    await refused("uint8", 9, "UNSUPPORTED_OP", /from uint8 to bool/);
    await refused("float32", 8, "UNSUPPORTED_OP", /BitCast to string is not supported/);
    await refused("float64", 14, "UNSUPPORTED_OP", /BitCast to complex64 is not supported/);
  });
});
