// Symbolic dims past a tensor's leading one in the padded layout (docs/ARCHITECTURE.md "Symbolic
// dims"): a batch of sequences, [batch, seq] with the batch pinned above 1 or bounded too. The
// kernels this takes: Gather with ids [batch, seq] and from data varying off the gathered axis,
// reshapes between layouts that place the elements differently ([batch, seq, 8] to [batch*seq, 8]
// and back: a copy, not an alias), and the packed MatMul (+ bias + Relu) one block of rows per
// sequence; CumSum, GatherElements, GatherND, ConstantOfShape and Shape as RoBERTa-family
// embeddings, T5's position bias and the dynamo exporter's masks use them. Every run against onnxruntime-node, the arena poisoned with NaN before each.
import { describe, expect, it } from "vitest";
import { ModelBuilder } from "../models/builder.js";
import { exportModel } from "../compiler/onnx/export.js";
import { load } from "../compiler/driver/api.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { runOrt } from "./util/ort.js";
import { loadAt } from "./util/load-threads.js";
import { poisoner } from "./util/poison.js";
import { keepsPaddedLayout } from "../compiler/ir/padded.js";

const [MAX_B, MAX_S] = [3, 20];

/** ids [batch, seq] -> embeddings -> flattened rows -> back -> MatMul + Add + Relu; and each sequence's first row */
function model(): { bytes: Uint8Array; outputs: string[] } {
  const b = new ModelBuilder(11);
  const ids = b.input("ids", [MAX_B, MAX_S]);
  b.graph.values.get(ids)!.dtype = "int64";
  const rows = b.node("Gather", [b.weight("table", [10, 8], { kind: "uniform", lo: -1, hi: 1 }), ids], [MAX_B, MAX_S, 8]);
  const flat = b.node("Flatten", [rows], [MAX_B * MAX_S, 8], { axis: { type: "int", value: 2 } });
  const dims = b.node("Shape", [ids], [2]);
  const shape = b.node("Concat", [dims, b.int64s("eight", [8])], [3], { axis: { type: "int", value: 0 } });
  for (const v of [dims, shape]) b.graph.values.get(v)!.dtype = "int64";
  const back = b.node("Reshape", [b.node("Neg", [flat], [MAX_B * MAX_S, 8]), shape], [MAX_B, MAX_S, 8]);
  const y = b.node("Relu", [b.node("Add", [b.node("MatMul", [back, b.weight("w", [8, 6], { kind: "uniform", lo: -1, hi: 1 })], [MAX_B, MAX_S, 6]), b.weight("bias", [6], { kind: "uniform", lo: -1, hi: 1 })], [MAX_B, MAX_S, 6])], [MAX_B, MAX_S, 6]);
  const first = b.node("Gather", [y, b.int64s("zero", [0])], [MAX_B, 1, 6], { axis: { type: "int", value: 1 } });
  const heads = b.node("Unsqueeze", [y, b.int64s("axis1", [1])], [MAX_B, 1, MAX_S, 6]);
  for (const o of [flat, y, first, heads]) b.output(o);
  const named: Record<string, (string | number)[]> = {
    [ids]: ["batch", "seq"], [flat]: ["rows", 8], [y]: ["batch", "seq", 6], [first]: ["batch", 1, 6], [heads]: ["batch", 1, "seq", 6],
  };
  for (const [v, dims] of Object.entries(named)) b.graph.values.get(v)!.shape = dims;
  return { bytes: exportModel(b.graph, { valueInfo: false }), outputs: [flat, y, first, heads] };
}

const idsOf = (batch: number, seq: number): Tensor => ({ dtype: "int64", dims: [batch, seq], data: BigInt64Array.from({ length: batch * seq }, (_, i) => BigInt((i * 7 + batch) % 10)) });

/**
 * One module for `shapes`, each run's feeds (ids [batch, seq], and the model's other inputs) against
 * onnxruntime-node, the arena filled with NaN before each run; returns the session's layers as op:kernel.
 */
async function expectRuns(bytes: Uint8Array, outputs: string[], shapes: Record<string, number | [number, number]>, level: 0 | 2,
  runs: [number, number][], feedsAt: (batch: number, seq: number) => Record<string, Tensor>): Promise<string[]> {
  const m = await load(bytes, { shapes, level });
  const poison = poisoner(m);
  for (const [batch, seq] of runs) {
    poison();
    const feeds = feedsAt(batch, seq);
    const got = await m.run(feeds);
    const want = await runOrt(bytes, feeds);
    for (const o of outputs) {
      expect(got[o].dims, `${o} [${batch}, ${seq}]`).toEqual(want[o].dims);
      expect(compareTensors(got[o], want[o], { rtol: 1e-5, atol: 1e-6 }).message ?? "ok", `${o} [${batch}, ${seq}]`).toBe("ok");
    }
  }
  expect(m.modulesCompiled).toBe(1);
  return m.session!.manifest.layers.map((l) => `${l.op}:${l.kernel}`);
}

const CASES: [string, Record<string, number | [number, number]>, [number, number][]][] = [
  ["batch pinned at 3, seq 1..20", { batch: 3, seq: [1, MAX_S] }, [[3, 1], [3, 7], [3, MAX_S], [3, 13]]],
  ["batch 1..3 and seq 1..20", { batch: [1, MAX_B], seq: [1, MAX_S] }, [[1, 1], [3, MAX_S], [2, 9], [1, MAX_S], [3, 2]]],
];

describe("a batch of sequences: symbolic dims past the leading one", () => {
  for (const [what, shapes, runs] of CASES) {
    for (const level of [0, 2] as const) {
      it(`${what}: one module at -O${level}, each run as onnxruntime-node's, the arena poisoned with NaN`, async () => {
        const { bytes, outputs } = model();
        const layers = await expectRuns(bytes, outputs, shapes, level, runs, (batch, seq) => ({ ids: idsOf(batch, seq) }));
        // the layers the test means: the reshapes between layouts run (copies), the product takes the packed kernel
        expect(layers).toEqual(expect.arrayContaining(["Flatten:default", "Reshape:default", level ? "MatMul_Add_Relu:packed" : "MatMul:packed"]));
      });
    }
  }
});

/**
 * What RoBERTa-family embeddings and T5's position bias do with a padded mask: CumSum along the
 * sequence (forward, and reversed exclusive), GatherElements along it (ids from the end too), and
 * ConstantOfShape of the [batch, seq] shape (padded) and of [seq] alone (prefix form).
 */
function maskOps(): { bytes: Uint8Array; outputs: string[] } {
  const b = new ModelBuilder(12, 17);
  const ids = b.input("ids", [MAX_B, MAX_S]);
  const pos = b.input("pos", [MAX_B, MAX_S]);
  for (const v of [ids, pos]) b.graph.values.get(v)!.dtype = "int64";
  const axis = b.int64s("axis1", [1]);
  b.graph.values.get(axis)!.shape = [];
  const sums = b.node("CumSum", [ids, axis], [MAX_B, MAX_S]);
  const back = b.node("CumSum", [ids, axis], [MAX_B, MAX_S], { exclusive: { type: "int", value: 1 }, reverse: { type: "int", value: 1 } });
  const picked = b.node("GatherElements", [b.node("Cast", [ids], [MAX_B, MAX_S], { to: { type: "int", value: 1 } }), pos], [MAX_B, MAX_S], { axis: { type: "int", value: 1 } });
  // each fill plus this run's length: values that differ from one length to the next, computed in
  // the module from the dims (compiler/driver/symbolic-unfold.ts), not folded
  const len = b.node("Shape", [ids], [1], { start: { type: "int", value: 1 } });
  const filled = b.node("Add", [b.node("ConstantOfShape", [b.node("Shape", [ids], [2])], [MAX_B, MAX_S], { value: { type: "tensor", value: { dtype: "float32", dims: [1], data: Float32Array.of(7) } } }),
    b.node("Cast", [len], [1], { to: { type: "int", value: 1 } })], [MAX_B, MAX_S]);
  // the shape as two Shape slices (as the dynamo exporter writes it): one reads only the batch
  const both = b.node("Concat", [b.node("Shape", [ids], [1], { end: { type: "int", value: 1 } }), len], [2], { axis: { type: "int", value: 0 } });
  const filled2 = b.node("Add", [b.node("ConstantOfShape", [both], [MAX_B, MAX_S], { value: { type: "tensor", value: { dtype: "float32", dims: [1], data: Float32Array.of(-2) } } }),
    b.node("Cast", [len], [1], { to: { type: "int", value: 1 } })], [MAX_B, MAX_S]);
  b.graph.values.get(both)!.dtype = "int64";
  // GatherND of (row, position) pairs, as the dynamo exporter builds a padding mask; some from the end
  const nd = b.input("nd", [MAX_B, 1, 1, MAX_S, 2]);
  b.graph.values.get(nd)!.dtype = "int64";
  const gathered = b.node("GatherND", [b.node("Cast", [ids], [MAX_B, MAX_S], { to: { type: "int", value: 1 } }), nd], [MAX_B, 1, 1, MAX_S]);
  const row0 = b.node("ConstantOfShape", [len], [MAX_S], { value: { type: "tensor", value: { dtype: "int64", dims: [1], data: BigInt64Array.of(3n) } } });
  const row = b.node("Add", [row0, len], [MAX_S]);
  for (const v of [sums, back, row0, row]) b.graph.values.get(v)!.dtype = "int64";
  for (const n of b.graph.nodeList().filter((n) => n.op === "Shape")) b.graph.values.get(n.outputs[0])!.dtype = "int64";
  for (const o of [sums, back, picked, filled, row, filled2, gathered]) b.output(o);
  for (const v of [ids, pos, sums, back, picked, filled, filled2]) b.graph.values.get(v)!.shape = ["batch", "seq"];
  b.graph.values.get(row)!.shape = ["seq"];
  b.graph.values.get(nd)!.shape = ["batch", 1, 1, "seq", 2];
  b.graph.values.get(gathered)!.shape = ["batch", 1, 1, "seq"];
  return { bytes: exportModel(b.graph, { valueInfo: false }), outputs: [sums, back, picked, filled, row, filled2, gathered] };
}

describe("CumSum, GatherElements, GatherND, ConstantOfShape and Shape over a batch of sequences", () => {
  const feedsAt = (batch: number, seq: number): Record<string, Tensor> => ({
    ids: { dtype: "int64", dims: [batch, seq], data: BigInt64Array.from({ length: batch * seq }, (_, i) => BigInt(i % seq < seq - (i % 3) ? 1 : 0)) },
    // along the sequence, from the start and from the end ([-seq, seq): onnxruntime refuses others)
    pos: { dtype: "int64", dims: [batch, seq], data: BigInt64Array.from({ length: batch * seq }, (_, i) => BigInt(((i * 5 + 2) % (2 * seq)) - seq)) },
    // (row, position) pairs: the row's own position, another row's, one from the end ([-d, d): onnxruntime refuses others)
    nd: { dtype: "int64", dims: [batch, 1, 1, seq, 2], data: BigInt64Array.from({ length: batch * seq * 2 }, (_, i) => {
      const [r, p] = [Math.floor(i / 2 / seq), Math.floor(i / 2) % seq];
      return BigInt(i % 2 === 0 ? (p % 3 === 0 ? batch - 1 - r : r) : p % 4 === 1 ? -1 - p : (p * 7) % seq);
    }) },
  });
  for (const [what, shapes, runs] of CASES) {
    for (const level of [0, 2] as const) {
      it(`${what}: one module at -O${level}, each run as onnxruntime-node's, the arena poisoned with NaN`, async () => {
        const { bytes, outputs } = maskOps();
        const layers = await expectRuns(bytes, outputs, shapes, level, runs, feedsAt);
        expect(layers).toEqual(expect.arrayContaining(["CumSum:default", "GatherElements:default", "ConstantOfShape:default", "GatherND:default", "Shape:default"]));
      });
    }
  }
});

/**
 * The index searches over a batch of sequences: CLIP's text pooler (ArgMax of the ids along the
 * sequence, keepdims 0), ArgMin along the batch (keepdims 1, the last of equal values), Hardmax
 * along the sequence of [batch, seq, 3] scores.
 */
function searches(): { bytes: Uint8Array; outputs: string[] } {
  const b = new ModelBuilder(14, 17);
  const ids = b.input("ids", [MAX_B, MAX_S]);
  b.graph.values.get(ids)!.dtype = "int64";
  const eos = b.node("ArgMax", [b.node("Cast", [ids], [MAX_B, MAX_S], { to: { type: "int", value: 6 } })], [MAX_B], { axis: { type: "int", value: -1 }, keepdims: { type: "int", value: 0 } });
  const least = b.node("ArgMin", [ids], [1, MAX_S], { axis: { type: "int", value: 0 }, select_last_index: { type: "int", value: 1 } });
  const scores = b.node("Gather", [b.weight("table", [10, 3], { kind: "uniform", lo: -1, hi: 1 }), ids], [MAX_B, MAX_S, 3]);
  const hard = b.node("Hardmax", [scores], [MAX_B, MAX_S, 3], { axis: { type: "int", value: 1 } });
  const cast = b.graph.nodeList().find((n) => n.op === "Cast")!.outputs[0];
  b.graph.values.get(cast)!.dtype = "int32";
  for (const v of [eos, least]) b.graph.values.get(v)!.dtype = "int64";
  for (const o of [eos, least, hard]) b.output(o);
  const named: Record<string, (string | number)[]> = { [ids]: ["batch", "seq"], [cast]: ["batch", "seq"], [eos]: ["batch"], [least]: [1, "seq"], [scores]: ["batch", "seq", 3], [hard]: ["batch", "seq", 3] };
  for (const [v, dims] of Object.entries(named)) b.graph.values.get(v)!.shape = dims;
  return { bytes: exportModel(b.graph, { valueInfo: false }), outputs: [eos, least, hard] };
}

describe("ArgMax, ArgMin and Hardmax over a batch of sequences", () => {
  // ids with ties and an end-of-text id larger than the rest at a different place in each row
  const feedsAt = (batch: number, seq: number): Record<string, Tensor> => ({
    ids: { dtype: "int64", dims: [batch, seq], data: BigInt64Array.from({ length: batch * seq }, (_, i) => BigInt(i % seq === (seq - 1 - Math.floor(i / seq)) % seq ? 9 : (i * 3) % 5)) },
  });
  for (const [what, shapes, runs] of CASES) {
    for (const level of [0, 2] as const) {
      it(`${what}: one module at -O${level}, each run as onnxruntime-node's, the arena poisoned with NaN`, async () => {
        const { bytes, outputs } = searches();
        const layers = await expectRuns(bytes, outputs, shapes, level, runs, feedsAt);
        expect(layers).toEqual(expect.arrayContaining(["ArgMax:default", "ArgMin:default", "Hardmax:default"]));
      });
    }
  }

  it("a search over a dim whose bounds start at 0 is refused: an empty axis has no answer", async () => {
    const { bytes } = searches();
    await expect(load(bytes, { shapes: { batch: [1, 3], seq: [0, 20] } })).rejects.toThrow(/ArgMax over the varying dim 1 .* empty at the bounds' lower end/);
  });
});

describe("Einsum with a varying batch label (SpeechT5's relative positions: \"bac,acd->bad\", one product per position)", () => {
  it("seq 1..64: one module, at 1 and 2 threads (the threads take whole products), each run as onnxruntime-node's, the arena poisoned with NaN", async () => {
    const b = new ModelBuilder(15, 17);
    // 4 MFLOP at the bounds: split among threads
    const x = b.input("x", [16, 64, 32]);
    const y = b.input("y", [64, 32, 64]);
    const shifted = b.node("Add", [x, b.weight("shift", [32], { kind: "uniform", lo: -1, hi: 1 })], [16, 64, 32]);
    const out = b.node("Einsum", [shifted, y], [16, 64, 64], { equation: { type: "string", value: "bac,acd->bad" } });
    b.output(out);
    const named: Record<string, (string | number)[]> = { [x]: [16, "seq", 32], [shifted]: [16, "seq", 32], [y]: ["seq", 32, "seq"], [out]: [16, "seq", "seq"] };
    for (const [v, dims] of Object.entries(named)) b.graph.values.get(v)!.shape = dims;
    const bytes = exportModel(b.graph, { valueInfo: false });
    const f = (dims: number[], seed: number) => ({ dtype: "float32" as const, dims, data: Float32Array.from({ length: dims.reduce((p, d) => p * d, 1) }, (_, i) => Math.sin(i * 0.37 + seed)) });
    for (const threads of [1, 2]) {
      const m = await (await loadAt(threads))(bytes, { shapes: { seq: [1, 64] }, threads, cache: false });
      const poison = poisoner(m);
      for (const s of [64, 1, 7, 33]) {
        const feeds = { x: f([16, s, 32], s), y: f([s, 32, s], -s) };
        poison();
        const got = await m.run(feeds);
        const want = await runOrt(bytes, feeds);
        expect(got[out].dims).toEqual(want[out].dims);
        expect(compareTensors(got[out], want[out], { rtol: 1e-5, atol: 1e-6 }).message ?? "ok", `seq ${s}, ${threads} threads`).toBe("ok");
      }
      expect(m.modulesCompiled).toBe(1);
      const einsum = m.session!.manifest.layers.find((l) => l.op === "Einsum")!;
      expect(einsum.kernel).toBe("packed");
      expect(Boolean(einsum.split)).toBe(threads > 1);
      m.session?.terminate?.();
    }
  });
});

describe("keepsPaddedLayout (whether a reshape may share its input's bytes)", () => {
  const seq = [[1, 0]], batch = [[1, 1]];
  it("static dims regrouped around the varying ones keep it; a varying dim merged or moved does not", () => {
    expect(keepsPaddedLayout([2, 64, 128], [2, seq, 128], [2, 64, 2, 64], [2, seq, 2, 64])).toBe(true);
    expect(keepsPaddedLayout([2, 64], [2, seq], [2, 1, 1, 64], [2, 1, 1, seq])).toBe(true);
    expect(keepsPaddedLayout([4, 64, 8], [batch, seq, 8], [4, 64 * 8], [batch, [[8, 0]]])).toBe(false);
    expect(keepsPaddedLayout([2, 64, 8], [2, seq, 8], [128, 8], [[[2, 0]], 8])).toBe(false);
    expect(keepsPaddedLayout([2, 64], [2, seq], [2, 64], [2, [[1, 1]]])).toBe(false);
    // both in the prefix form (the run's elements first): the same bytes whatever the grouping
    expect(keepsPaddedLayout([1, 64, 8], [1, seq, 8], [512], [[[8, 0]]])).toBe(true);
    expect(keepsPaddedLayout([6], undefined, [2, 3], undefined)).toBe(true);
  });
});

describe("an output computed from the dims alone", () => {
  it("is this run's (Shape -> Cast, and Shape -> Range), not the bounds' folded constant", async () => {
    const b = new ModelBuilder(13, 17);
    const x = b.input("x", [1, MAX_S, 4]);
    const len = b.node("Shape", [x], [1], { start: { type: "int", value: 1 }, end: { type: "int", value: 2 } });
    const asFloat = b.node("Cast", [len], [1], { to: { type: "int", value: 1 } });
    const steps = b.node("Range", [b.int64s("zero0", [0]), b.node("Squeeze", [len], []), b.int64s("one1", [1])], [MAX_S]);
    b.graph.values.get(len)!.dtype = "int64";
    b.graph.values.get(steps)!.dtype = "int64";
    for (const v of ["zero0", "one1"]) { b.graph.values.get(v)!.shape = []; (b.graph.values.get(v)!.const!).dims = []; }
    b.graph.values.get(b.graph.nodeList().find((n) => n.op === "Squeeze")!.outputs[0])!.dtype = "int64";
    b.output(asFloat);
    b.output(steps);
    b.graph.values.get(x)!.shape = [1, "seq", 4];
    b.graph.values.get(steps)!.shape = ["seq"];
    const bytes = exportModel(b.graph, { valueInfo: false });
    for (const level of [0, 2] as const) {
      const m = await load(bytes, { shapes: { seq: [1, MAX_S] }, level });
      for (const seq of [1, 7, MAX_S]) {
        const got = await m.run({ x: { data: new Float32Array(seq * 4), dims: [1, seq, 4] } });
        expect(Array.from(got[asFloat].data as Float32Array), `-O${level} seq ${seq}`).toEqual([seq]);
        expect(Array.from(got[steps].data as BigInt64Array, Number), `-O${level} seq ${seq}`).toEqual([...Array(seq).keys()]);
      }
      expect(m.modulesCompiled).toBe(1);
    }
  });
});
