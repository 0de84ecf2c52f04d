import { describe, expect, it } from "vitest";
import type { Attr } from "../../compiler/ir/graph.js";
import { buildCase, expectMatchesOrt, runKiln, runOrt, type OpCase, type TensorSpec } from "../util/ort.js";
import { compile, load } from "../../compiler/index.js";
import { createSession } from "../../runtime/session.js";
import { ModelBuilder } from "../../models/builder.js";
import { exportModel } from "../../compiler/onnx/export.js";

type Plain = number | string | number[];
type Case = Omit<OpCase, "attrs"> & { attrs?: Record<string, Plain> };

/** Plain attribute values (ints, int lists, strings) as IR attributes. */
function withAttrs(c: Case): OpCase {
  const attr = (v: Plain): Attr => (typeof v === "string" ? { type: "string", value: v } : Array.isArray(v) ? { type: "ints", value: v } : { type: "int", value: v });
  return { ...c, attrs: Object.fromEntries(Object.entries(c.attrs ?? {}).map(([k, v]) => [k, attr(v)])) };
}
const check = (c: Case) => expectMatchesOrt(withAttrs(c));

const i64 = (dims: number[], data: number[], constant = true): TensorSpec => ({ dtype: "int64", dims, data, constant });
const f = (dims: number[]): TensorSpec => ({ dims });

describe("shape-only copies vs onnxruntime", () => {
  it("Reshape with 0, -1 and allowzero", async () => {
    await check({ op: "Reshape", inputs: [f([2, 3, 5]), i64([3], [0, -1, 1])] });
    await check({ op: "Reshape", inputs: [{ dtype: "int8", dims: [7, 3] }, i64([1], [-1])] });
    await check({ op: "Reshape", attrs: { allowzero: 1 }, inputs: [f([0, 3]), i64([2], [3, 0])] });
  });
  it("Flatten, Squeeze, Unsqueeze (attribute and input forms)", async () => {
    for (const axis of [0, 2, -1]) await check({ op: "Flatten", attrs: { axis }, inputs: [f([2, 3, 5])] });
    await check({ op: "Squeeze", inputs: [f([1, 3, 1, 5]), i64([1], [-2])] });
    await check({ op: "Squeeze", inputs: [f([1, 3, 1, 5])] });
    await check({ op: "Squeeze", opset: 11, attrs: { axes: [0] }, inputs: [f([1, 3])] });
    await check({ op: "Unsqueeze", inputs: [{ dtype: "bool", dims: [3, 5] }, i64([3], [-1, 0, 2])] });
    await check({ op: "Unsqueeze", opset: 11, attrs: { axes: [1] }, inputs: [f([3])] });
  });
  it("OptionalGetElement of a tensor is the tensor; OptionalHasElement of one is true", async () => {
    await check({ op: "OptionalGetElement", opset: 18, inputs: [f([2, 3])] });
    await check({ op: "OptionalGetElement", opset: 18, inputs: [{ dtype: "int64", dims: [5], lo: -9, hi: 9 }] });
    await check({ op: "OptionalHasElement", opset: 18, inputs: [f([4])] });
  });

  it("Dropout in inference returns the input and an all-true mask", async () => {
    await check({ op: "Dropout", outputs: 2, inputs: [f([3, 7])] });
    await check({ op: "Dropout", outputs: 2, inputs: [f([5]), { dims: [], data: [0.3], constant: true }, { dtype: "bool", dims: [], data: [0], constant: true }] });
    // before opset 10 the mask has the input's type, then bool; before opset 12 onnxruntime leaves it
    // zero in inference, where the spec says nothing: kiln writes ones (every element kept), as 12 defines
    for (const [opset, dtype] of [[9, "float32"], [10, "bool"]] as const) {
      const { bytes, feeds, outputs } = buildCase({ op: "Dropout", opset, outputs: 2, inputs: [f([3, 5])] });
      const mask = (await runKiln(bytes, feeds))[outputs[1]];
      expect(mask.dtype).toBe(dtype);
      expect(Array.from(mask.data as ArrayLike<number>)).toEqual(new Array(15).fill(1));
    }
  });
});

describe("views vs onnxruntime", () => {
  it("Transpose every permutation of rank 3 and a rank-4 int8 case", async () => {
    for (const perm of [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]) {
      await check({ op: "Transpose", attrs: { perm }, inputs: [f([3, 5, 7])] });
    }
    await check({ op: "Transpose", attrs: { perm: [0, 2, 3, 1] }, inputs: [{ dtype: "int8", dims: [2, 3, 5, 9] }] });
    await check({ op: "Transpose", inputs: [{ dtype: "int64", dims: [1, 7] }] });
    // 4-byte tiled paths: exact tiles, ragged edges, outer dims
    await check({ op: "Transpose", inputs: [f([8, 12])] });
    await check({ op: "Transpose", attrs: { perm: [0, 3, 1, 2] }, inputs: [{ dtype: "int32", dims: [2, 9, 2, 6] }] });
    await check({ op: "Transpose", attrs: { perm: [2, 0, 1] }, inputs: [{ dtype: "uint32", dims: [5, 4, 13] }] });
  });
  it("Concat along each axis, odd sizes, empty part", async () => {
    for (const axis of [0, 1, -1]) {
      await check({ op: "Concat", attrs: { axis }, inputs: [f([3, 5, 7]), f([3, 5, 7]), f([3, 5, 7])] });
    }
    await check({ op: "Concat", attrs: { axis: 1 }, inputs: [{ dtype: "int64", dims: [2, 1] }, { dtype: "int64", dims: [2, 0] }, { dtype: "int64", dims: [2, 3] }] });
  });
  it("Split: equal, uneven num_outputs, split input", async () => {
    await check({ op: "Split", outputs: 3, attrs: { axis: 1 }, inputs: [f([2, 9])] });
    await check({ op: "Split", opset: 18, outputs: 3, attrs: { axis: 0, num_outputs: 3 }, inputs: [f([7, 2])] });
    await check({ op: "Split", outputs: 3, attrs: { axis: -1 }, inputs: [{ dtype: "uint8", dims: [3, 6] }, i64([3], [1, 0, 5])] });
  });
  it("Slice: negative steps, clamping, INT64 sentinels, axes", async () => {
    const MAX = Number.MAX_SAFE_INTEGER;
    await check({ op: "Slice", inputs: [f([5, 7]), i64([2], [1, -2]), i64([2], [MAX, 100]), i64([2], [0, 1]), i64([2], [2, -1])] });
    await check({ op: "Slice", inputs: [f([5, 7]), i64([1], [-1]), i64([1], [-MAX]), i64([1], [0]), i64([1], [-1])] });
    await check({ op: "Slice", inputs: [{ dtype: "int32", dims: [4, 6, 5] }, i64([1], [1]), i64([1], [4]), i64([1], [-2])] });
    await check({ op: "Slice", inputs: [f([3, 8]), i64([1], [10]), i64([1], [20])] });
  });
  it("Expand and Tile", async () => {
    await check({ op: "Expand", inputs: [f([3, 1]), i64([3], [2, 1, 5])] });
    await check({ op: "Expand", inputs: [{ dtype: "int64", dims: [1, 7] }, i64([2], [3, 1])] });
    await check({ op: "Tile", inputs: [f([2, 3]), i64([2], [3, 2])] });
    // broadcast inner dims: v128 splat runs with scalar tails, each element size
    await check({ op: "Expand", inputs: [f([3, 1]), i64([2], [3, 11])] });
    await check({ op: "Expand", inputs: [{ dtype: "int8", dims: [2, 1] }, i64([2], [2, 37])] });
    await check({ op: "Expand", inputs: [{ dtype: "int16", dims: [1] }, i64([1], [21])] });
    await check({ op: "Expand", inputs: [{ dtype: "int64", dims: [2, 1, 1] }, i64([3], [2, 3, 9])] });
    await check({ op: "Tile", inputs: [{ dtype: "int16", dims: [5] }, i64([1], [0])] });
  });
  it("DepthToSpace (DCR, CRD) and SpaceToDepth", async () => {
    await check({ op: "DepthToSpace", attrs: { blocksize: 2 }, inputs: [f([1, 12, 3, 5])] });
    await check({ op: "DepthToSpace", attrs: { blocksize: 2, mode: "CRD" }, inputs: [f([2, 8, 3, 1])] });
    await check({ op: "SpaceToDepth", attrs: { blocksize: 3 }, inputs: [f([1, 2, 6, 9])] });
  });
  it("Compress with a constant condition", async () => {
    const cond = { dtype: "bool", dims: [5], data: [1, 0, 1, 1, 0], constant: true } as TensorSpec;
    await check({ op: "Compress", attrs: { axis: 1 }, inputs: [f([3, 5, 2]), cond] });
    await check({ op: "Compress", inputs: [f([2, 3]), cond] });
  });
});

describe("Pad vs onnxruntime", () => {
  for (const mode of ["constant", "reflect", "edge", "wrap"]) {
    it(`mode ${mode}`, async () => {
      await check({ op: "Pad", opset: 19, attrs: { mode }, inputs: [f([3, 5]), i64([4], [1, 2, 2, 1])] });
      await check({ op: "Pad", opset: 19, attrs: { mode }, inputs: [{ dtype: "int32", dims: [2, 4, 5] }, i64([6], [0, 1, -1, 1, 2, 0])] });
    });
  }
  it("constant value input, axes input", async () => {
    await check({ op: "Pad", opset: 19, inputs: [f([3, 5]), i64([2], [2, 3]), { dims: [], data: [2.5], constant: true }, i64([1], [-1])] });
    await check({ op: "Pad", opset: 19, inputs: [f([3, 5]), i64([4], [1, 0, 0, 1]), { dims: [], data: [-1.5] }] });
    await check({ op: "Pad", opset: 19, inputs: [{ dtype: "int64", dims: [3] }, i64([2], [1, 1]), { dtype: "int64", dims: [], data: [7], constant: true }] });
  });
});

describe("generators vs onnxruntime", () => {
  it("ConstantOfShape, EyeLike, Range", async () => {
    await check({ op: "ConstantOfShape", attrs: {}, inputs: [i64([2], [3, 5])] });
    await check({ op: "EyeLike", attrs: { k: 2 }, inputs: [f([4, 7])] });
    await check({ op: "EyeLike", attrs: { k: -1, dtype: 7 }, inputs: [f([5, 3])] });
    await check({ op: "Range", inputs: [{ dims: [], data: [1], constant: true }, { dims: [], data: [7.5], constant: true }, { dims: [], data: [0.75], constant: true }] });
    await check({ op: "Range", inputs: [{ dtype: "int32", dims: [], data: [10], constant: true }, { dtype: "int32", dims: [], data: [-3], constant: true }, { dtype: "int32", dims: [], data: [-4], constant: true }] });
  });
  it("Trilu upper/lower with k, batched, runtime k", async () => {
    for (const upper of [0, 1]) {
      for (const k of [-2, 0, 3]) await check({ op: "Trilu", attrs: { upper }, inputs: [f([2, 4, 5]), i64([], [k])] });
      await check({ op: "Trilu", attrs: { upper }, inputs: [{ dtype: "int64", dims: [3, 3] }, i64([], [1], false)] });
    }
  });
  it("OneHot with axes, negative and out-of-range indices, float indices", async () => {
    const values = { dims: [2], data: [-1, 3], constant: false } as TensorSpec;
    for (const axis of [-1, 0, 1]) {
      await check({ op: "OneHot", attrs: { axis }, inputs: [i64([2, 3], [0, -1, 4, 7, -6, 2], false), i64([], [5]), values] });
    }
    await check({ op: "OneHot", inputs: [{ dims: [4], data: [1.7, 0, 2, -1] }, { dims: [], data: [3], constant: true }, { dims: [2], data: [0, 1] }] });
  });
});

describe("indexing vs onnxruntime", () => {
  it("Gather with negative indices, axes, int32 indices", async () => {
    await check({ op: "Gather", attrs: { axis: 1 }, inputs: [f([3, 5, 7]), i64([2, 2], [0, -1, 4, -5], false)] });
    await check({ op: "Gather", inputs: [{ dtype: "int64", dims: [5, 3] }, { dtype: "int32", dims: [4], data: [4, 0, -2, 1] }] });
    await check({ op: "Gather", attrs: { axis: -1 }, inputs: [f([3, 5]), i64([], [2], false)] });
  });
  it("GatherElements and GatherND (batch_dims)", async () => {
    await check({ op: "GatherElements", attrs: { axis: 1 }, inputs: [f([3, 4]), i64([3, 2], [0, -1, 3, 1, 2, -4], false)] });
    await check({ op: "GatherElements", attrs: { axis: 0 }, inputs: [{ dtype: "int8", dims: [3, 3] }, { dtype: "int32", dims: [2, 3], data: [1, 2, 0, 2, 0, 0] }] });
    await check({ op: "GatherND", inputs: [f([3, 4, 5]), i64([2, 2], [0, 1, 2, -1], false)] });
    await check({ op: "GatherND", attrs: { batch_dims: 1 }, inputs: [f([2, 3, 5]), i64([2, 2, 1], [0, 2, 1, -1], false)] });
  });
  for (const reduction of ["none", "add", "mul", "max", "min"]) {
    it(`ScatterND and ScatterElements reduction=${reduction}`, async () => {
      const attrs: Record<string, string> = reduction === "none" ? {} : { reduction };
      await check({ op: "ScatterND", opset: 18, attrs, inputs: [f([4, 3, 5]), i64([2, 1], [0, -2], false), f([2, 3, 5])] });
      await check({ op: "ScatterND", opset: 18, attrs, inputs: [{ dtype: "int32", dims: [6] }, i64([2, 1], [1, 5], false), { dtype: "int32", dims: [2] }] });
      await check({ op: "ScatterElements", opset: 18, attrs: { ...attrs, axis: 1 }, inputs: [f([3, 5]), i64([3, 2], [0, 4, -1, 2, 1, 3], false), f([3, 2])] });
    });
  }
  it("CumSum exclusive/reverse, int32, runtime axis", async () => {
    for (const [exclusive, reverse] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
      await check({ op: "CumSum", attrs: { exclusive, reverse }, inputs: [f([3, 5]), i64([], [1])] });
    }
    await check({ op: "CumSum", inputs: [{ dtype: "int32", dims: [4, 3] }, { dtype: "int32", dims: [], data: [-2], constant: false }] });
  });
  it("ReverseSequence batch and time axes", async () => {
    await check({ op: "ReverseSequence", attrs: { batch_axis: 1, time_axis: 0 }, inputs: [f([4, 3, 2]), i64([3], [4, 1, 2], false)] });
    await check({ op: "ReverseSequence", attrs: { batch_axis: 0, time_axis: 1 }, inputs: [{ dtype: "int64", dims: [2, 5] }, i64([2], [3, 5], false)] });
  });
  it("TopK largest/smallest, ties by lower index, axes", async () => {
    await check({ op: "TopK", outputs: 2, inputs: [f([3, 7]), i64([1], [3])] });
    await check({ op: "TopK", outputs: 2, attrs: { largest: 0, axis: 0 }, inputs: [f([5, 3]), i64([1], [2])] });
    await check({ op: "TopK", outputs: 2, inputs: [{ dtype: "int32", dims: [2, 6], data: [1, 3, 3, 2, 3, 1, 5, 5, 5, 5, 5, 5] }, i64([1], [4])] });
    await check({ op: "TopK", outputs: 2, attrs: { largest: 0 }, inputs: [{ dtype: "int64", dims: [5], data: [3, -9, 7, -9, 1] }, i64([1], [5])] });
    await check({ op: "TopK", outputs: 2, attrs: { axis: 1 }, inputs: [{ dtype: "float64", dims: [2, 37, 3] }, i64([1], [5])] });
    await check({ op: "TopK", outputs: 2, inputs: [f([4, 0]), i64([1], [0])] });
  });
  it("NonZero and Unique on constant inputs", async () => {
    await check({ op: "NonZero", inputs: [{ dtype: "int32", dims: [3, 4], data: [0, 1, 0, 2, 3, 0, 0, 0, 1, 1, 0, 5], constant: true }] });
    await check({ op: "Unique", outputs: 4, inputs: [{ dims: [7], data: [2, 1, 1, 3, 4, 3, 2], constant: true }] });
    await check({ op: "Unique", outputs: 4, attrs: { axis: 1 }, inputs: [{ dims: [2, 4], data: [1, 0, 1, 0, 2, 3, 2, 3], constant: true }] });
    await check({ op: "Unique", outputs: 4, attrs: { axis: -1 }, inputs: [{ dtype: "int64", dims: [2, 5, 2], data: [1, 1, 0, 2, 1, 1, 0, 2, 3, 3, 4, 4, 5, 5, 4, 4, 5, 5, 6, 6], constant: true }] });
    await check({ op: "Unique", outputs: 4, attrs: { sorted: 0 }, inputs: [{ dtype: "int64", dims: [6], data: [5, 1, 5, 0, 1, 9], constant: true }] });
  });
});

describe("an index out of range is BAD_INPUT naming the layer, as onnxruntime refuses it", () => {
  const bad = async (c: Case, message: RegExp) => {
    const { bytes, feeds } = buildCase(withAttrs(c));
    await expect(runOrt(bytes, feeds), "onnxruntime-node refuses it too").rejects.toThrow();
    await expect(runKiln(bytes, feeds)).rejects.toThrow(message);
  };
  it("Gather/GatherElements/GatherND: the index as given, the axis's length, the node and operator", async () => {
    const data = [1, 2, 3, 4, 5, 6];
    await bad({ op: "Gather", inputs: [{ dims: [3, 2], data }, i64([3], [2, 7, -4], false)] }, /^BAD_INPUT: index 7 is out of range for an axis of length 3 \[node "node", Gather\]$/);
    await bad({ op: "Gather", inputs: [{ dims: [3, 2], data }, i64([2], [0, -4], false)] }, /index -4 is out of range for an axis of length 3 .*Gather/);
    // an index past i32 is named saturated, not wrapped into range
    await bad({ op: "Gather", inputs: [{ dims: [3, 2], data }, i64([1], [2 ** 40], false)] }, /index 2147483647 is out of range for an axis of length 3/);
    await bad({ op: "GatherElements", inputs: [{ dims: [3, 2], data }, i64([1, 2], [3, 2], false)] }, /index 3 is out of range for an axis of length 3 .*GatherElements/);
    await bad({ op: "GatherND", inputs: [{ dims: [3, 2], data }, i64([2, 2], [0, 2, 2, 1], false)] }, /index 2 is out of range for an axis of length 2 .*GatherND/);
  });
  it("ScatterND/ScatterElements", async () => {
    const data = [1, 2, 3, 4];
    await bad({ op: "ScatterND", inputs: [{ dims: [4], data }, i64([2, 1], [9, 1], false), { dims: [2], data: [10, 20] }] }, /index 9 is out of range for an axis of length 4 .*ScatterND/);
    await bad({ op: "ScatterElements", inputs: [{ dims: [4], data }, i64([2], [-5, -1], false), { dims: [2], data: [10, 20] }] }, /index -5 is out of range for an axis of length 4 .*ScatterElements/);
  });
  it("names the layer that met it among layers that run no code (a reshape is an alias of its input)", async () => {
    const b = new ModelBuilder(3);
    const x = b.input("x", [6]);
    const ids = b.input("ids", [2]);
    b.graph.values.get(ids)!.dtype = "int64";
    const rows = b.node("Reshape", [b.node("Relu", [x], [6], {}, "relu"), b.int64s("shape", [3, 2])], [3, 2], {}, "rows");
    b.output(b.node("Gather", [rows, ids], [2, 2], {}, "pick"));
    const model = await load(exportModel(b.graph), {});
    expect(model.session!.manifest.layers.map((l) => l.op)).toEqual(["Relu", "Gather"]);
    await expect(model.run({ x: new Float32Array(6), ids: { data: BigInt64Array.of(0n, 3n), dims: [2] } })).rejects.toThrow(/^BAD_INPUT: index 3 is out of range for an axis of length 3 \[node "pick", Gather\]$/);
  });
  it("the session stays usable: the next run with good indices gives the right values; the first bad index of a run is named", async () => {
    const { bytes, feeds } = buildCase(withAttrs({ op: "Gather", inputs: [{ dims: [3, 2], data: [1, 2, 3, 4, 5, 6] }, i64([3], [1, 5, 9], false)] }));
    const model = await load(bytes, { shapes: { in1: [3] } });
    const x = feeds.in0;
    await expect(model.run({ in0: x, in1: { dims: [3], data: BigInt64Array.of(1n, 5n, 9n) } })).rejects.toThrow(/index 5 is out of range/);
    const out = await model.run({ in0: x, in1: { dims: [3], data: BigInt64Array.of(2n, -3n, 1n) } });
    expect(Array.from(out.out0.data as Float32Array)).toEqual([x.data[4], x.data[5], x.data[0], x.data[1], x.data[2], x.data[3]]);
    // the same in the AOT path: a compiled artifact's session says the same
    const session = await createSession((await compile(bytes, { shapes: { in1: [3] } })).wasm);
    await expect(session.run({ in0: x, in1: { dims: [3], data: BigInt64Array.of(-4n, 0n, 0n) } })).rejects.toThrow(/^BAD_INPUT: index -4 is out of range for an axis of length 3/);
    expect(Array.from((await session.run({ in0: x, in1: { dims: [3], data: BigInt64Array.of(0n, 0n, 0n) } })).out0.data as Float32Array)).toEqual([0, 1, 0, 1, 0, 1].map((k) => x.data[k]));
  });
});
