// The low-bit dtypes as kiln dtypes: decoded from TensorProtos (raw_data and int32_data), read and
// written by the runtime in their stored form, printed and parsed as IR text, refused with a
// reason by the ops that do not take them, and computed as float32 rounded once by the ops that
// say they take bfloat16.
import { describe, expect, it } from "vitest";
import { sizeOf, storageLength, type DTypeName } from "../runtime/dtypes.js";
import { isKilnError } from "../runtime/errors.js";
import { decodeElements, decodeValue, encodeElements, encodeValue } from "../runtime/lowbit.js";
import { decodeTensor } from "../compiler/onnx/tensor.js";
import { onnx } from "../compiler/onnx/proto.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { printGraph } from "../compiler/ir/print.js";
import { Graph } from "../compiler/ir/graph.js";
import { allOps } from "../compiler/ops/index.js";
import { makeInput } from "../compiler/driver/cli/inputs.js";
import { int, nums, runModel, type ModelSpec } from "./util/lowbit.js";

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (isKilnError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error("expected a KilnError");
}

describe("TensorProto decoding", () => {
  it("packed types from int32_data (one byte per entry) and raw_data (ceil(n / per) bytes)", () => {
    const fromInts = decodeTensor(onnx.TensorProto.create({ dataType: 22, dims: [3], int32Data: [0x21, 0x0d] }));
    expect(decodeElements("int4", fromInts.data, 3)).toEqual([1, 2, -3]);
    const raw = decodeTensor(onnx.TensorProto.create({ dataType: 26, dims: [5], rawData: Uint8Array.of(0b11100100, 0b01) }));
    expect(decodeElements("int2", raw.data, 5)).toEqual([0, 1, -2, -1, 1]);
    expect(() => decodeTensor(onnx.TensorProto.create({ dataType: 21, dims: [5], rawData: Uint8Array.of(1, 2) })))
      .toThrow(/2 bytes of data, expected 3 for uint4\[5\]/);
    expect(() => decodeTensor(onnx.TensorProto.create({ dataType: 21, dims: [5], int32Data: [1, 2] })))
      .toThrow(/2 packed bytes, expected 3/);
  });

  it("float8 codes and bfloat16 bits from int32_data, one per element", () => {
    const f8 = decodeTensor(onnx.TensorProto.create({ dataType: 17, dims: [3], int32Data: [0x38, 0xb8, 0x7e] }));
    expect(decodeElements("float8e4m3fn", f8.data)).toEqual([1, -1, 448]);
    const bf = decodeTensor(onnx.TensorProto.create({ dataType: 16, dims: [2], int32Data: [0x3fc0, 0xc040] }));
    expect(bf.data).toBeInstanceOf(Uint16Array);
    expect(decodeElements("bfloat16", bf.data)).toEqual([1.5, -3]);
  });
});

describe("runtime inputs and outputs", () => {
  const cast = (from: DTypeName, to: number, n: number): ModelSpec => ({
    inputs: [{ name: "x", dtype: from, dims: [n] }],
    nodes: [{ op: "Cast", inputs: ["x"], outputs: ["y"], attrs: { to: int(to) } }],
    outputs: ["y"],
  });

  it("take and give packed bytes, float8 codes and bfloat16 bits; encodeElements / decodeElements convert", async () => {
    const vals = [3, -8, 7, 0, -1];
    const out = await runModel(cast("int4", 26, 5), { x: encodeElements("int4", vals) });
    expect(out.y.dtype).toBe("int2");
    expect(out.y.data.length).toBe(storageLength("int2", 5));
    expect(decodeElements("int2", out.y.data, 5)).toEqual([-1, 0, -1, 0, -1]);
    const f = await runModel(cast("float32", 19, 3), { x: Float32Array.of(1.3, -96, 1e9) });
    expect(decodeElements("float8e5m2", f.y.data)).toEqual([1.25, -96, 57344]);
  });

  it("refuse a packed input of the wrong byte length with BAD_INPUT", async () => {
    const e = await failure(runModel(cast("uint4", 1, 5), { x: Uint8Array.of(1, 2, 3, 4, 5) }));
    expect(e.code).toBe("BAD_INPUT");
    expect(e.message).toMatch(/has 5 elements but uint4\[5\] needs 3 \(bytes, 2 values each\)/);
  });
});

describe("which ops take the low-bit types", () => {
  it("refuses them where the op has no word for them, naming the op and the type", async () => {
    const transpose = await failure(runModel({
      inputs: [{ name: "x", dtype: "int4", dims: [2, 3] }],
      nodes: [{ op: "Transpose", inputs: ["x"], outputs: ["y"] }],
      outputs: ["y"],
    }, { x: encodeElements("int4", [1, 2, 3, 4, 5, 6]) }));
    expect(transpose.code).toBe("UNSUPPORTED_OP");
    expect(transpose.message).toMatch(/Transpose does not take int4 tensors.*Cast.*QuantizeLinear/);
    const add = await failure(runModel({
      inputs: [{ name: "a", dtype: "float8e4m3fn", dims: [2] }, { name: "b", dtype: "float8e4m3fn", dims: [2] }],
      nodes: [{ op: "Add", inputs: ["a", "b"], outputs: ["y"] }],
      outputs: ["y"],
    }, { a: Uint8Array.of(0x38, 0x38), b: Uint8Array.of(0x38, 0x38) }));
    expect(add.code).toBe("UNSUPPORTED_OP");
    expect(add.message).toMatch(/float8e4m3fn/);
  });

  it("moves byte-wide ones bit for bit (Transpose of float8), and reshapes packed ones", async () => {
    const codes = Uint8Array.from({ length: 6 }, (_, i) => 0x30 + i * 9);
    const t = await runModel({
      inputs: [{ name: "x", dtype: "float8e4m3fnuz", dims: [2, 3] }],
      nodes: [{ op: "Transpose", inputs: ["x"], outputs: ["y"] }],
      outputs: ["y"],
    }, { x: codes });
    expect(nums(t.y.data)).toEqual([0, 3, 1, 4, 2, 5].map((i) => codes[i]));
    // an int4 weight reshaped before its DequantizeLinear, as exporters write it
    const w = [1, -2, 3, -4, 5, -6, 7];
    for (const level of [0, 2] as const) {
      const r = await runModel({
        inputs: [{ name: "s", dtype: "float32", dims: [] }],
        consts: { w: { dtype: "int4", dims: [7, 1], data: encodeElements("int4", w) }, shape: { dtype: "int64", dims: [1], data: BigInt64Array.of(7n) } },
        nodes: [
          { op: "Reshape", inputs: ["w", "shape"], outputs: ["w7"] },
          { op: "Identity", inputs: ["w7"], outputs: ["wi"] },
          { op: "DequantizeLinear", inputs: ["wi", "s"], outputs: ["y"] },
        ],
        outputs: ["y", "wi"],
      }, { s: Float32Array.of(0.5) }, level);
      expect(Array.from(r.y.data as Float32Array)).toEqual(w.map((v) => v / 2));
      expect(decodeElements("int4", r.wi.data, 7)).toEqual(w);
    }
  });

  // the promise of the `bfloat16` trait: computed in float32, rounded once to bfloat16
  const bf16Ops = allOps().filter((d) => d.traits.has("bfloat16") && !d.domain);
  it(`every op with the bfloat16 trait (${bf16Ops.length}) gives float32's result rounded to bfloat16`, async () => {
    expect(bf16Ops.length).toBeGreaterThan(30);
    const values = [-2.5, -1.03125, -0.5, -0.0078125, 0, 0.25, 0.6875, 1, 1.5, 3.25, 10.5];
    const n = values.length;
    // the ops that are not elementwise: their inputs' dims (the values taken in order)
    const shaped: Record<string, number[][]> = { Det: [[3, 3]], CausalConvWithState: [[1, 1, 11], [1, 1, 3]] };
    for (const def of bf16Ops) {
      const dimsOf = (k: number) => shaped[def.name]?.[k] ?? [n];
      const arity = def.name === "Range" ? 3 : shaped[def.name]?.length ?? (def.traits.has("unary") ? 1 : 2);
      const inputs = Array.from({ length: arity }, (_, k) => `x${k}`);
      const feedsOf = (dt: DTypeName) => Object.fromEntries(inputs.map((name, k) => {
        const size = dimsOf(k).reduce((a, b) => a * b, 1);
        const v = def.name === "Range" ? [[0.5], [9], [1.25]][k] : values.map((x, i) => (k === 0 ? x : values[(i + 3) % n] || 0.75)).slice(0, size);
        return [name, dt === "bfloat16" ? encodeElements("bfloat16", v) : Float32Array.from(v)];
      }));
      const spec = (dt: DTypeName): ModelSpec => ({
        opset: 21,
        inputs: def.name === "Range" ? [] : inputs.map((name, k) => ({ name, dtype: dt, dims: dimsOf(k) })),
        consts: def.name === "Range" ? Object.fromEntries(Object.entries(feedsOf(dt)).map(([k, d]) => [k, { dtype: dt, dims: [], data: d }])) : undefined,
        nodes: [{ op: def.name, inputs, outputs: ["y"] }],
        outputs: ["y"],
      });
      const feeds = (dt: DTypeName) => (def.name === "Range" ? {} : feedsOf(dt));
      const want = (await runModel(spec("float32"), feeds("float32"))).y;
      const got = (await runModel(spec("bfloat16"), feeds("bfloat16"))).y;
      expect(got.dtype, def.name).toBe("bfloat16");
      // by value, any NaN matching any NaN (a NaN's sign bit is the engine's choice)
      const key = (v: number) => (Number.isNaN(v) ? "NaN" : Object.is(v, -0) ? "-0" : v);
      const rounded = Array.from(want.data as Float32Array, (v) => key(decodeValue("bfloat16", encodeValue("bfloat16", v))));
      expect(decodeElements("bfloat16", got.data).map(key), def.name).toEqual(rounded);
    }
  });
});

describe("compile-time values and generated inputs", () => {
  it("folds QuantizeLinear to int4 and its DequantizeLinear at -O2 to what -O0 computes at run time", async () => {
    const w = [0.3, -1.7, 2.5, 3.5, -9, 14, 0.25];
    const spec: ModelSpec = {
      inputs: [{ name: "x", dtype: "float32", dims: [7] }],
      consts: {
        w: { dtype: "float32", dims: [7], data: Float32Array.from(w) },
        s: { dtype: "float32", dims: [], data: Float32Array.of(0.5) },
        zp: { dtype: "int4", dims: [], data: encodeElements("int4", [-1]) },
      },
      nodes: [
        { op: "QuantizeLinear", inputs: ["w", "s", "zp"], outputs: ["q"] },
        { op: "DequantizeLinear", inputs: ["q", "s", "zp"], outputs: ["d"] },
        { op: "Add", inputs: ["x", "d"], outputs: ["y"] },
      ],
      outputs: ["y", "q"],
    };
    // round half to even of w / 0.5, minus 1, saturated to [-8, 7]; back: (q + 1) * 0.5
    const rne = (v: number) => {
      const f = Math.floor(v);
      return v - f > 0.5 || (v - f === 0.5 && f % 2 !== 0) ? f + 1 : f;
    };
    const q = w.map((v) => Math.min(7, Math.max(-8, rne(v / 0.5) - 1)));
    for (const level of [0, 2] as const) {
      const out = await runModel(spec, { x: new Float32Array(7) }, level);
      expect(decodeElements("int4", out.q.data, 7), `-O${level}`).toEqual(q);
      expect(nums(out.y.data), `-O${level}`).toEqual(q.map((v) => (v + 1) * 0.5));
    }
  });

  it("kiln run's generated inputs of the low-bit types are encoded values in range", () => {
    const r = makeInput("random", "int2", [9], 3);
    expect(r.data.length).toBe(3);
    expect(decodeElements("int2", r.data, 9).every((v) => v === 0 || v === 1)).toBe(true);
    expect(decodeElements("bfloat16", makeInput("arange", "bfloat16", [4]).data)).toEqual([0, 0.25, 0.5, 0.75]);
    expect(decodeElements("float8e4m3fn", makeInput("ones", "float8e4m3fn", [2]).data)).toEqual([1, 1]);
  });
});

describe("IR text", () => {
  it("prints a packed constant one value per element and parses it back to the same bytes", () => {
    const g = new Graph();
    g.opsets.set("", 21);
    const w = g.value("w");
    w.dtype = "int4";
    w.shape = [5];
    w.const = { dtype: "int4", dims: [5], data: encodeElements("int4", [1, -2, 3, -4, 5]) };
    const x = g.value("x");
    x.dtype = "float32";
    x.shape = [];
    g.inputs.push("x");
    g.addNode({ name: "dq", op: "DequantizeLinear", domain: "", inputs: ["w", "x"], outputs: ["y"], attrs: {} });
    const y = g.value("y");
    y.dtype = "float32";
    y.shape = [5];
    g.outputs = ["y"];
    const text = printGraph(g);
    expect(text).toContain("dense<[1, -2, 3, -4, 5]>");
    const back = parseGraph(text).values.get("w")!.const!;
    expect(nums(back.data)).toEqual(nums(w.const.data));
    expect(sizeOf(back.dims)).toBe(5);
  });
});
