// Symbolic dims in the padded layout (docs/ARCHITECTURE.md "Symbolic dims"): layers whose tensors
// vary in a dim other than their leading one ([1, 2, seq, 4] heads, [1, 1, seq, 1] masks), and
// Gather whose data varies on the gathered axis (BERT's mask construction). One module at bounds
// 1..32, runs at 1, odd lengths and the bound, each against onnxruntime-node, at -O0 and -O2.
import { describe, expect, it } from "vitest";
import { ModelBuilder } from "../models/builder.js";
import { exportModel } from "../compiler/onnx/export.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { load } from "../compiler/driver/api.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { runOrt } from "./util/ort.js";
import { buildZooGraph } from "../models/zoo.js";

const MAX = 32;
const LENGTHS = [1, 7, MAX, 3, 20];
const ints = (name: string, values: number[]) => ({ [name]: { type: "ints" as const, value: values } });
const feed = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.61 + seed) * 2);

/** the model with `seq` as the dim `at` of the named inputs and outputs */
function exported(b: ModelBuilder, at: Record<string, number>): Uint8Array {
  for (const [name, k] of Object.entries(at)) {
    const v = b.graph.values.get(name)!;
    v.shape = v.shape!.map((d, j) => (j === k ? "seq" : d));
  }
  return exportModel(b.graph, { valueInfo: false });
}

async function expectRuns(bytes: Uint8Array, feedsAt: (s: number) => Record<string, Tensor>, outputs: string[]): Promise<void> {
  for (const level of [0, 2] as const) {
    const model = await load(bytes, { shapes: { seq: [1, MAX] }, level });
    for (const s of LENGTHS) {
      const feeds = feedsAt(s);
      const got = await model.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
      const want = await runOrt(bytes, feeds);
      for (const o of outputs) {
        expect(got[o].dims, `${o} seq ${s} -O${level}`).toEqual(want[o].dims);
        expect(compareTensors(got[o], want[o], { rtol: 1e-5, atol: 1e-6 }).message ?? "ok", `${o} seq ${s} -O${level}`).toBe("ok");
      }
    }
    expect(model.modulesCompiled).toBe(1);
  }
}

describe("symbolic dims in the padded layout", () => {
  it("Transposes with the varying dim inside or last, and elementwise ops broadcasting a [1, 1, seq, 1] mask over [1, 2, seq, 4]", async () => {
    const b = new ModelBuilder(5);
    const x = b.input("x", [1, MAX, 2, 4]);
    const y = b.input("y", [MAX, 1]);
    const heads = b.node("Transpose", [x], [1, 2, MAX, 4], ints("perm", [0, 2, 1, 3]));
    const keys = b.node("Transpose", [x], [1, 2, 4, MAX], ints("perm", [0, 2, 3, 1]));
    const mask = b.node("Greater", [b.node("Unsqueeze", [y, b.int64s("axes", [0, 1])], [1, 1, MAX, 1]), b.scalar("zero", 0)], [1, 1, MAX, 1]);
    b.graph.values.get(mask)!.dtype = "bool";
    const picked = b.node("Where", [mask, b.node("Mul", [heads, b.scalar("two", 2)], [1, 2, MAX, 4]), b.node("Neg", [heads], [1, 2, MAX, 4])], [1, 2, MAX, 4]);
    const back = b.node("Transpose", [picked], [1, MAX, 2, 4], ints("perm", [0, 2, 1, 3]));
    const keysBack = b.node("Transpose", [b.node("Add", [keys, b.scalar("three", 3)], [1, 2, 4, MAX])], [1, MAX, 2, 4], ints("perm", [0, 3, 1, 2]));
    b.output(back);
    b.output(keysBack);
    const bytes = exported(b, { x: 1, y: 0, [back]: 1, [keysBack]: 1 });
    await expectRuns(bytes, (s) => ({
      x: { dtype: "float32", dims: [1, s, 2, 4], data: feed(s * 8, s) },
      y: { dtype: "float32", dims: [s, 1], data: feed(s, 7 * s) },
    }), [back, keysBack]);
  });

  it("Softmax, ReduceMax and ReduceMean over a static axis of [1, 16, 4, seq] (four positions of the varying last dim a vector: YOLOv8's box distribution over anchors)", async () => {
    const b = new ModelBuilder(6);
    const x = b.input("x", [1, 16, 4, MAX]);
    const soft = b.node("Softmax", [x], [1, 16, 4, MAX], { axis: { type: "int", value: 1 } });
    const most = b.node("ReduceMax", [x], [1, 1, 4, MAX], ints("axes", [1]));
    const mean = b.node("ReduceMean", [x], [1, 16, 1, MAX], ints("axes", [2]));
    for (const o of [soft, most, mean]) b.output(o);
    const bytes = exported(b, { x: 3, [soft]: 3, [most]: 3, [mean]: 3 });
    await expectRuns(bytes, (s) => ({ x: { dtype: "float32", dims: [1, 16, 4, s], data: feed(64 * s, s) } }), [soft, most, mean]);
  });

  it("Trilu over [2, seq, seq] and [seq, 3], upper and lower, k from a constant; a causal mask made from the dims (Whisper's first decoder step, TorchScript)", async () => {
    const bytes = exportModel(parseGraph(`kiln.graph opsets("" = 17)
input %x : float32[2,seq,seq]
input %v : float32[seq,3]
const %k : int64[] = dense<[-1]>
const %k1 : int64[] = dense<[1]>
const %e1 : int64[1] = dense<[1]>
const %i0 : int64[1] = dense<[0]>
const %ones : float32[] = dense<[1]>
%u : float32[2,seq,seq] = Trilu[upper=1](%x, %k) {name="upper"}
%l : float32[seq,3] = Trilu[upper=0](%v, %k1) {name="lower"}
%sh : int64[2] = Shape(%v) {name="shape"}
%n : int64[1] = Slice(%sh, %i0, %e1) {name="len"}
%nn : int64[2] = Concat[axis=0](%n, %n) {name="square"}
%full : float32[seq,seq] = ConstantOfShape[value=float32[1] dense<[1]>](%nn) {name="full"}
%causal : float32[seq,seq] = Trilu[upper=0](%full) {name="causal"}
%masked : float32[2,seq,seq] = Mul(%u, %causal) {name="mask"}
output %masked
output %l`), { valueInfo: false });
    await expectRuns(bytes, (s) => ({
      x: { dtype: "float32", dims: [2, s, s], data: feed(2 * s * s, s) },
      v: { dtype: "float32", dims: [s, 3], data: feed(3 * s, 5 * s) },
    }), ["masked", "l"]);
  });

  it("Gather from data that varies on the gathered axis (float and bool, negative ids), ids in the prefix form", async () => {
    const b = new ModelBuilder(6);
    const d = b.input("d", [MAX, 3]);
    const ids = b.input("ids", [1, MAX]);
    b.graph.values.get(ids)!.dtype = "int64";
    const rows = b.node("Gather", [d, ids], [1, MAX, 3], { axis: { type: "int", value: 0 } });
    const flags = b.node("Cast", [d], [MAX, 3], { to: { type: "int", value: 9 } });
    b.graph.values.get(flags)!.dtype = "bool";
    const picked = b.node("Gather", [flags, ids], [1, MAX, 3]);
    b.graph.values.get(picked)!.dtype = "bool";
    b.output(rows);
    b.output(picked);
    const bytes = exported(b, { d: 0, ids: 1, [rows]: 1, [picked]: 1 });
    // ids in [-s, s): onnxruntime refuses others
    const idsAt = (s: number) => BigInt64Array.from({ length: s }, (_, i) => BigInt(((i * 5 + 3) % (2 * s)) - s));
    const feedsAt = (s: number): Record<string, Tensor> => ({
      d: { dtype: "float32", dims: [s, 3], data: feed(s * 3, s).map((v, i) => (i % 4 === 0 ? 0 : v)) },
      ids: { dtype: "int64", dims: [1, s], data: idsAt(s) },
    });
    await expectRuns(bytes, feedsAt, [rows, picked]);
    // an id past this run's length but within the bound is out of range for this run (BAD_INPUT,
    // naming this run's length), though a longer run left rows in the data's slot
    const model = await load(bytes, { shapes: { seq: [1, MAX] } });
    const long = feedsAt(MAX);
    await model.run({ d: { data: long.d.data, dims: long.d.dims }, ids: { data: long.ids.data, dims: long.ids.dims } });
    const short = feed(12, 1).map((v) => v + 5);
    await expect(model.run({ d: { data: short, dims: [4, 3] }, ids: { data: BigInt64Array.of(1n, 9n, 0n, -5n), dims: [1, 4] } }))
      .rejects.toThrow(/^BAD_INPUT: index 9 is out of range for an axis of length 4 \[node "gather_0", Gather\]/);
    const got = await model.run({ d: { data: short, dims: [4, 3] }, ids: { data: BigInt64Array.of(3n, 1n, -4n, 2n), dims: [1, 4] } });
    expect(Array.from(got[rows].data as Float32Array)).toEqual([...short.slice(9, 12), ...short.slice(3, 6), ...short.slice(0, 3), ...short.slice(6, 9)]);
  });

  it("ScatterND and ScatterElements over [2, seq, 3] (this run's index tuples only: the slot's padding holds a longer run's)", async () => {
    const b = new ModelBuilder(7);
    const d = b.input("d", [2, MAX, 3]);
    const u = b.input("u", [2, MAX, 3]);
    const tuples = b.input("tuples", [2, MAX, 2]);
    const along = b.input("along", [2, MAX, 3]);
    for (const v of [tuples, along]) b.graph.values.get(v)!.dtype = "int64";
    const nd = b.node("ScatterND", [d, tuples, u], [2, MAX, 3], {}, "nd");
    const el = b.node("ScatterElements", [d, along, u], [2, MAX, 3], { axis: { type: "int", value: 1 } }, "el");
    b.output(nd);
    b.output(el);
    const bytes = exported(b, { d: 1, u: 1, tuples: 1, along: 1, [nd]: 1, [el]: 1 });
    // a cyclic shift along seq: every position written once (from the end every third)
    const shift = (j: number, s: number) => { const t = (j + 1) % s; return j % 3 === 0 ? t - s : t; };
    await expectRuns(bytes, (s) => ({
      d: { dtype: "float32", dims: [2, s, 3], data: feed(6 * s, s) },
      u: { dtype: "float32", dims: [2, s, 3], data: feed(6 * s, 3 * s + 1) },
      tuples: { dtype: "int64", dims: [2, s, 2], data: BigInt64Array.from({ length: 4 * s }, (_, i) => BigInt(i % 2 === 0 ? Math.floor(i / (2 * s)) : shift(Math.floor(i / 2) % s, s))) },
      along: { dtype: "int64", dims: [2, s, 3], data: BigInt64Array.from({ length: 6 * s }, (_, i) => BigInt(shift(Math.floor(i / 3) % s, s))) },
    }), [nd, el]);
  });

  it("-O0 attention (head Transposes, Q K^T and P V as MatMuls of two activations) runs every length in one module, padding poisoned with NaN", async () => {
    // the zoo's MiniLM-like encoder, its head reshapes [1, -1, h, d] as exporters write them
    const g = buildZooGraph("encoder");
    for (const v of g.values.values()) if (v.const && /split_shape|merge_shape/.test(v.name)) (v.const.data as BigInt64Array)[1] = -1n;
    for (const n of [...g.inputs, ...g.outputs]) g.values.get(n)!.shape = [1, "seq", 64];
    const bytes = exportModel(g, { valueInfo: false });
    const [input, output] = [g.inputs[0], g.outputs[0]];
    const model = await load(bytes, { shapes: { seq: [1, 57] }, level: 0 });
    const session = model.session!;
    expect(session.manifest.layers.filter((l) => l.op === "MatMul" && l.kernel === "packed-runtime").length).toBe(4);
    const { memory } = session.manifest;
    const arena = [memory.regions[0].offset + memory.regions[0].bytes, memory.regions[1]?.offset ?? memory.bytes] as const;
    for (const s of [57, 1, 33, 2, 7, 49, 16]) {
      const data = feed(s * 64, s);
      const first = session.runInPlace({ [input]: { data, dims: [1, s, 64] } })[output];
      // NaN over the activations before each run: a kernel reading past this run's extents shows
      new Float32Array(first.data.buffer, arena[0], (arena[1] - arena[0]) / 4).fill(NaN);
      const got = await model.run({ [input]: { data, dims: [1, s, 64] } });
      const want = await runOrt(bytes, { [input]: { dtype: "float32", dims: [1, s, 64], data } });
      expect(compareTensors(got[output], want[output], { rtol: 1e-3, atol: 1e-5 }).message ?? "ok", `seq ${s}`).toBe("ok");
    }
    expect(model.modulesCompiled).toBe(1);
  });
});
