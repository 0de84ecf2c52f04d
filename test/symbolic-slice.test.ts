// Slice along a symbolic dim (docs/ARCHITECTURE.md "Symbolic dims"): from the start, the end or
// both ([1:], [-1:], [:-1], [-3:-1]), in the prefix form ([1, seq, 4]) and in the padded layout
// ([2, seq, 4]), one module at bounds 3..20, every run against onnxruntime-node with the arena
// poisoned with NaN; a slice whose clamping changes within the bounds is refused, naming them.
// And a Slice whose starts and ends are computed from the dims (GPT-Neo's and older GPT-2 exports'
// `bias[:, :, total - seq : total, :total]`): one module over two symbols, and the refusal where a
// start leaves the buffer at some values within the bounds.
import { describe, expect, it } from "vitest";
import { ModelBuilder } from "../models/builder.js";
import { exportModel } from "../compiler/onnx/export.js";
import { load } from "../compiler/driver/api.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { runOrt } from "./util/ort.js";
import { poisoner } from "./util/poison.js";

const MAX = 20;
const END = 2 ** 62; // past any length: to the end
const feed = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.61 + seed) * 2);

/** x [1, seq, 4] and xb [2, seq, 4], each output one slice (starts, ends, axes) and its dims (names for the varying ones) */
function model(slices: [string, number[], number[], number[], (number | string)[]][]): Uint8Array {
  const b = new ModelBuilder(3, 13);
  b.input("x", [1, MAX, 4]);
  b.input("xb", [2, MAX, 4]);
  for (const [from, starts, ends, axes, dims] of slices) {
    const k = b.graph.nodeList().length;
    const out = b.node("Slice", [from, b.int64s(`s${k}`, starts), b.int64s(`e${k}`, ends), b.int64s(`a${k}`, axes)], dims.map((d) => (typeof d === "number" ? d : MAX)));
    b.output(out);
    b.graph.values.get(out)!.shape = dims;
  }
  b.graph.values.get("x")!.shape = [1, "seq", 4];
  b.graph.values.get("xb")!.shape = [2, "seq", 4];
  return exportModel(b.graph, { valueInfo: false });
}

describe("Slice along a symbolic dim", () => {
  const bytes = model([
    ["x", [1], [END], [1], [1, "a", 4]],
    ["x", [-1], [END], [1], [1, 1, 4]],
    ["xb", [0], [-1], [1], [2, "c", 4]],
    ["xb", [-3], [-1], [1], [2, 2, 4]],
    ["xb", [1, 1], [2, END], [0, 1], [1, "e", 4]],
    ["x", [0], [3], [1], [1, 3, 4]],
  ]);
  for (const level of [0, 2] as const) {
    it(`[1:], [-1:], [:-1], [-3:-1] and along a static axis too, prefix and padded: one module (seq 3..20) at -O${level}, each run as onnxruntime-node's, the arena poisoned`, async () => {
      const m = await load(bytes, { shapes: { seq: [3, MAX] }, level });
      const session = m.session!;
      const poison = poisoner(m);
      for (const seq of [3, 11, MAX, 4]) {
        poison();
        const feeds: Record<string, Tensor> = {
          x: { dtype: "float32", dims: [1, seq, 4], data: feed(seq * 4, seq) },
          xb: { dtype: "float32", dims: [2, seq, 4], data: feed(2 * seq * 4, 3 * seq) },
        };
        const got = await m.run(feeds);
        const want = await runOrt(bytes, feeds);
        expect(Object.keys(got).length).toBe(6);
        for (const o of Object.keys(want)) {
          expect(got[o].dims, `${o} seq ${seq}`).toEqual(want[o].dims);
          expect(compareTensors(got[o], want[o], { rtol: 0, atol: 0 }).message ?? "ok", `${o} seq ${seq}`).toBe("ok");
        }
      }
      expect(m.modulesCompiled).toBe(1);
      expect(session.manifest.layers.filter((l) => l.op === "Slice").length).toBe(6);
    });
  }

  it("a slice clamped at some lengths within the bounds ([:3] with seq from 1, [-3:] from 2) is UNSUPPORTED_OP naming the bounds", async () => {
    await expect(load(model([["x", [0], [3], [1], [1, 3, 4]]]), { shapes: { seq: [1, MAX] } })).rejects.toMatchObject({ code: "UNSUPPORTED_OP", message: expect.stringMatching(/end is clamped at some lengths.*narrow its bounds/) });
    await expect(load(model([["x", [-3], [END], [1], [1, 3, 4]]]), { shapes: { seq: [2, MAX] } })).rejects.toMatchObject({ code: "UNSUPPORTED_OP", message: expect.stringMatching(/with starts -3, ends INT64_MAX, steps 1: the start is clamped/) });
  });
});

const BUFFER = 32;

/**
 * x [1, seq, 4], p [1, past, 4] and a constant buffer [1, 32, 4] of 0..127: outputs `cut_out` =
 * x + buffer[:, past : past + seq] and `head_out` = buffer[:, :past + seq], their bounds read from
 * the inputs' dims (Shape -> Gather -> Add); with `late`, only x and `cut_out` = buffer[:, seq - 3 : seq].
 */
function cutModel(late = false): Uint8Array {
  const b = new ModelBuilder(3, 13);
  b.input("x", [1, MAX, 4]);
  if (!late) b.input("p", [1, MAX, 4]);
  const buf = b.graph.value("buf");
  buf.dtype = "float32";
  buf.shape = [1, BUFFER, 4];
  buf.const = { dtype: "float32", dims: [1, BUFFER, 4], data: Float32Array.from({ length: BUFFER * 4 }, (_, i) => i) };
  const one = b.int64s("one", [1]), axis = b.int64s("axis", [1]);
  const seq = b.node("Gather", [b.node("Shape", ["x"], [3]), one], [1]);
  if (late) {
    b.output(b.node("Slice", [buf.name, b.node("Sub", [seq, b.int64s("three", [3])], [1]), seq, axis], [1, 3, 4], {}, "cut"));
  } else {
    const past = b.node("Gather", [b.node("Shape", ["p"], [3]), one], [1]);
    const total = b.node("Add", [past, seq], [1]);
    b.output(b.node("Add", ["x", b.node("Slice", [buf.name, past, total, axis], [1, MAX, 4])], [1, MAX, 4], {}, "cut"));
    b.output(b.node("Slice", [buf.name, b.int64s("zero", [0]), total, axis], [1, MAX, 4], {}, "head"));
  }
  b.graph.values.get("x")!.shape = [1, "seq", 4];
  if (!late) b.graph.values.get("p")!.shape = [1, "past", 4];
  return exportModel(b.graph, { valueInfo: false });
}

describe("Slice with starts and ends computed from the dims", () => {
  const bytes = cutModel();
  for (const level of [0, 2] as const) {
    it(`buffer[:, past : past + seq] and buffer[:, :past + seq]: one module (seq 1..8, past 0..16) at -O${level}, each run as onnxruntime-node's, the arena poisoned`, async () => {
      const m = await load(bytes, { shapes: { seq: [1, 8], past: [0, 16] }, level });
      const poison = poisoner(m);
      for (const [seq, past] of [[1, 0], [8, 16], [3, 7], [8, 0], [1, 16], [5, 2]]) {
        poison();
        const feeds: Record<string, Tensor> = {
          x: { dtype: "float32", dims: [1, seq, 4], data: feed(seq * 4, seq) },
          p: { dtype: "float32", dims: [1, past, 4], data: feed(past * 4, past) },
        };
        const got = await m.run(feeds);
        const want = await runOrt(bytes, feeds);
        for (const o of ["cut_out", "head_out"]) {
          expect(got[o].dims, `${o} seq ${seq} past ${past}`).toEqual(want[o].dims);
          expect(compareTensors(got[o], want[o], { rtol: 0, atol: 0 }).message ?? "ok", `${o} seq ${seq} past ${past}`).toBe("ok");
        }
      }
      expect(m.modulesCompiled).toBe(1);
    });
  }

  it("a start that leaves the buffer at some values within the bounds (seq - 3 with seq from 1) is UNSUPPORTED_OP naming the value at the lower bound; from 3 it runs", async () => {
    const late = cutModel(true);
    await expect(load(late, { shapes: { seq: [1, MAX] } })).rejects.toMatchObject({ code: "UNSUPPORTED_OP", message: expect.stringMatching(/dim 1 of "cut_out" \(0 at seq=1, where the polynomial fitted at the probes near the bounds gives 3\).*raise the lower bound of seq/) });
    const m = await load(late, { shapes: { seq: [3, MAX] } });
    for (const seq of [3, 11, MAX]) {
      const feeds: Record<string, Tensor> = { x: { dtype: "float32", dims: [1, seq, 4], data: feed(seq * 4, seq) } };
      const got = await m.run(feeds);
      expect(compareTensors(got.cut_out, (await runOrt(late, feeds)).cut_out, { rtol: 0, atol: 0 }).message ?? "ok", `seq ${seq}`).toBe("ok");
    }
    expect(m.modulesCompiled).toBe(1);
  });
});
