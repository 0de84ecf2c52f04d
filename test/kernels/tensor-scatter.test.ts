// TensorScatter (the KV cache's update) against onnxruntime-node: linear and circular modes, each
// axis, with and without write_indices, odd row sizes, several dtypes; write indices out of range
// at run time (BAD_INPUT, nothing written outside the output, the session still usable) and at
// compile time (INVALID_MODEL).
import { describe, expect, it } from "vitest";
import type { Attr, Tensor } from "../../compiler/ir/graph.js";
import { ModelBuilder } from "../../models/builder.js";
import { exportModel } from "../../compiler/onnx/export.js";
import type { DTypeName } from "../../runtime/dtypes.js";
import { expectKilnError } from "../util/errors.js";
import { load } from "../../compiler/driver/api.js";
import { compareTensors } from "../../compiler/driver/testdata.js";
import { buildCase, expectMatchesOrt, runKiln, runOrt, type OpCase, type TensorSpec } from "../util/ort.js";

const attrs = (mode?: string, axis?: number): Record<string, Attr> => ({
  ...(mode ? { mode: { type: "string", value: mode } } : {}),
  ...(axis !== undefined ? { axis: { type: "int", value: axis } } : {}),
});
const idx = (data: number[], constant = false): TensorSpec => ({ dtype: "int64", dims: [data.length], data, constant });

/** a case: cache dims, the update's length along the axis, the write indices (or none) */
function scatter(dims: number[], axis: number, seq: number, w: number[] | null, mode?: string, dt: DTypeName = "float32", seed = 1): OpCase {
  const a = axis < 0 ? axis + dims.length : axis;
  const upd = dims.map((d, k) => (k === a ? seq : d));
  const inputs: (TensorSpec | null)[] = [{ dtype: dt, dims }, { dtype: dt, dims: upd, lo: 10, hi: 20 }];
  if (w) inputs.push(idx(w));
  return { op: "TensorScatter", opset: 24, attrs: attrs(mode, axis === -2 ? undefined : axis), inputs, seed };
}

describe("TensorScatter vs onnxruntime", () => {
  it("linear: [batch, seq, hidden] and [batch, heads, seq, head] caches, default axis, indices given or not", async () => {
    await expectMatchesOrt(scatter([2, 7, 5], -2, 3, null));
    await expectMatchesOrt(scatter([3, 7, 5], -2, 3, [0, 4, 2]));
    await expectMatchesOrt(scatter([2, 3, 9, 8], -2, 1, [8, 0]));
    await expectMatchesOrt(scatter([2, 3, 9, 8], -2, 9, [0, 0])); // the whole cache
    await expectMatchesOrt(scatter([1, 4, 6, 3], -2, 2, [4], "linear", "float32", 3));
  });
  it("circular: wrapping past the end, indices past the cache's length, every row", async () => {
    await expectMatchesOrt(scatter([3, 5, 4], -2, 3, [3, 4, 1], "circular"));
    await expectMatchesOrt(scatter([2, 2, 6, 3], -2, 4, [17, 6], "circular"));
    await expectMatchesOrt(scatter([2, 2, 6, 3], -2, 6, [2, 5], "circular"));
    await expectMatchesOrt(scatter([2, 5, 3], -2, 2, null, "circular"));
  });
  it("other axes: the last (rows of one element), axis 1 of a 4-D cache, negative axes", async () => {
    await expectMatchesOrt(scatter([2, 3, 7], -1, 3, [4, 1]));
    await expectMatchesOrt(scatter([2, 3, 7], 2, 5, [5, 3], "circular"));
    await expectMatchesOrt(scatter([2, 6, 3, 5], 1, 2, [1, 4]));
    await expectMatchesOrt(scatter([2, 6, 3, 5], -3, 4, [5, 0], "circular"));
  });
  it("dtypes: int64, uint8, int32, float16, float64, bool", async () => {
    await expectMatchesOrt(scatter([2, 5, 3], -2, 2, [3, 0], "linear", "int64"));
    await expectMatchesOrt(scatter([2, 5, 3], -2, 3, [4, 1], "circular", "uint8"));
    await expectMatchesOrt(scatter([3, 4, 1], -2, 1, [3, 2, 0], "linear", "int32"));
    await expectMatchesOrt(scatter([2, 5, 6], -2, 2, [1, 3], "linear", "float16"));
    await expectMatchesOrt(scatter([2, 5, 6], -2, 2, [4, 0], "circular", "float64"));
    await expectMatchesOrt(scatter([2, 4, 3], -2, 2, [2, 1], "linear", "bool"));
  });
  it("packed int4 rows of whole bytes: the bytes onnxruntime's uint8 scatter gives on the packed bytes", async () => {
    // int4 [2, 5, 4]: each row two bytes, so the packed cache is a uint8 [2, 5, 2] one
    const bytesOf = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 37 + seed * 11) & 255);
    const [past, upd] = [bytesOf(20, 1), bytesOf(8, 2)];
    for (const mode of ["linear", "circular"]) {
      const w = mode === "linear" ? [3, 1] : [4, 7];
      const spec = (dt: DTypeName, row: number): OpCase => ({
        op: "TensorScatter", opset: 24, attrs: attrs(mode),
        inputs: [{ dtype: dt, dims: [2, 5, row], data: [] }, { dtype: dt, dims: [2, 2, row], data: [] }, idx(w)],
      });
      const { bytes, feeds } = buildCase(spec("uint8", 2));
      Object.assign(feeds.in0, { data: past }), Object.assign(feeds.in1, { data: upd });
      const want = (await runOrt(bytes, feeds)).out0.data;
      const packed = buildCase(spec("int4", 4));
      Object.assign(packed.feeds.in0, { data: past }), Object.assign(packed.feeds.in1, { data: upd });
      const got = (await runKiln(packed.bytes, packed.feeds)).out0;
      expect(got.dtype).toBe("int4");
      expect(Array.from(got.data as Uint8Array), mode).toEqual(Array.from(want as Uint8Array));
    }
  });

  it("compile-time inputs (folded) and an empty update", async () => {
    const c = scatter([2, 5, 3], -2, 2, null, "circular");
    c.inputs[0]!.constant = true;
    c.inputs.push(idx([4, 2], true));
    await expectMatchesOrt(c);
    await expectMatchesOrt(scatter([2, 5, 3], -2, 0, [5, 1]));
  });
});

describe("TensorScatter with a symbolic update length (one module for a prompt and each step)", () => {
  it("linear and circular, the update computed by another layer, lengths 0 to the bound", async () => {
    const MAX = 6;
    for (const mode of ["linear", "circular"]) {
      const b = new ModelBuilder(7, 24);
      const past = b.input("past", [2, 3, 8, 5]);
      const upd = b.input("upd", [2, 3, MAX, 5]);
      const w = b.input("w", [2]);
      b.graph.values.get(w)!.dtype = "int64";
      const doubled = b.node("Mul", [upd, b.scalar("two", 2)], [2, 3, MAX, 5]);
      b.output(b.node("TensorScatter", [past, doubled, w], [2, 3, 8, 5], { mode: { type: "string", value: mode } }));
      b.graph.values.get(upd)!.shape = [2, 3, "seq", 5];
      const bytes = exportModel(b.graph, { valueInfo: false });
      for (const level of [0, 2] as const) {
        const model = await load(bytes, { shapes: { seq: [0, MAX] }, level, cache: false });
        for (const [s, at] of [[1, [7, 2]], [4, [0, 3]], [0, [8, 1]], [MAX, [2, 0]], [3, [5, 6]]] as [number, number[]][]) {
          const idx = mode === "linear" ? at.map((v) => Math.min(v, 8 - s)) : at;
          const feeds: Record<string, Tensor> = {
            past: { dtype: "float32", dims: [2, 3, 8, 5], data: Float32Array.from({ length: 240 }, (_, i) => i) },
            upd: { dtype: "float32", dims: [2, 3, s, 5], data: Float32Array.from({ length: 30 * s }, (_, i) => -1 - i) },
            w: { dtype: "int64", dims: [2], data: BigInt64Array.from(idx.map(BigInt)) },
          };
          const out = b.graph.outputs[0];
          const want = (await runOrt(bytes, feeds))[out];
          const got = (await model.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])) as never))[out];
          expect(compareTensors(got, want, { rtol: 0, atol: 0 }).message ?? "ok", `${mode} seq ${s} at ${idx} -O${level}`).toBe("ok");
        }
        await expectKilnError(model.run({ past: new Float32Array(240), upd: { data: new Float32Array(60), dims: [2, 3, 2, 5] }, w: { data: BigInt64Array.of(mode === "linear" ? 7n : -1n, 0n), dims: [2] } } as never),
          "BAD_INPUT", mode === "linear" ? /index 8 is out of range for an axis of length 8/ : /index -1 is out of range/);
        expect(model.modulesCompiled).toBe(1);
      }
    }
  });
});

describe("TensorScatter's write indices out of range", () => {
  async function model(c: OpCase) {
    const { bytes, feeds } = buildCase(c);
    return { bytes, feeds, kiln: await load(bytes, { cache: false, shapes: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dims])) }) };
  }
  const feedsOf = (f: Record<string, { data: unknown; dims: number[] }>) => Object.fromEntries(Object.entries(f).map(([k, t]) => [k, { data: t.data, dims: t.dims }])) as never;

  for (const [mode, bad, message] of [
    ["linear", [2, 4], /index 5 is out of range for an axis of length 5/], // rows 4, 5 of a 5-row cache
    ["linear", [-1, 0], /index -1 is out of range/],
    ["linear", [0, 9], /index 9 is out of range/],
    ["circular", [0, -3], /index -3 is out of range/],
  ] as const) {
    it(`${mode} ${JSON.stringify(bad)}: BAD_INPUT naming the node, then the session runs good feeds`, async () => {
      const c = scatter([2, 5, 3], -2, 2, [...bad], mode);
      const { bytes, feeds, kiln } = await model(c);
      await expectKilnError(kiln.run(feedsOf(feeds)), "BAD_INPUT", message, /node "node"/);
      // good indices on the same session: the right answer
      const good = { ...feeds, in2: { dtype: "int64" as const, dims: [2], data: BigInt64Array.of(1n, 3n) } };
      const want = (await runOrt(bytes, good)).out0;
      const got = (await kiln.run(feedsOf(good))).out0;
      expect(compareTensors(got, want, { rtol: 0, atol: 0 }).message ?? "ok").toBe("ok");
    });
  }

  it("constant indices out of range are INVALID_MODEL at compile time; bad shapes are named", async () => {
    const fails = (c: OpCase, code: string, message: RegExp) => {
      const { bytes, feeds } = buildCase(c);
      return expectKilnError(runKiln(bytes, feeds), code, message, /node "node"/);
    };
    const withConst = (c: OpCase, w: number[]) => ({ ...c, inputs: [...c.inputs.slice(0, 2), idx(w, true)] });
    await fails(withConst(scatter([2, 5, 3], -2, 2, null), [0, 4]), "INVALID_MODEL", /write index 4 is out of range: indices lie in \[0, 3\]/);
    await fails(withConst(scatter([2, 5, 3], -2, 2, null, "circular"), [-1, 4]), "INVALID_MODEL", /write index -1 is out of range: indices are non-negative/);
    await fails(scatter([2, 5, 3], 0, 2, null), "INVALID_MODEL", /axis 0 must name a dim of rank 3 other than the batch/);
    await fails(scatter([2, 5, 3], -2, 6, null), "SHAPE_MISMATCH", /update's sequence length 6 exceeds past_cache's 5/);
    await fails({ ...scatter([2, 5, 3], -2, 2, null), inputs: [{ dims: [2, 5, 3] }, { dims: [2, 2, 4] }] }, "SHAPE_MISMATCH", /differs from past_cache \[2,5,3\] in dim 2/);
    await fails({ ...scatter([2, 5, 3], -2, 2, [0, 0, 0]) }, "SHAPE_MISMATCH", /write_indices must be \[batch\] = \[2\], not \[3\]/);
    await fails(scatter([2, 5, 3], -2, 2, null, "ring"), "INVALID_MODEL", /mode must be linear or circular/);
    await fails(scatter([2, 5, 3], -2, 2, null, "linear", "int4"), "UNSUPPORTED_OP", /TensorScatter of int4 rows of 3 elements \(not whole bytes\)/);
  });
});
