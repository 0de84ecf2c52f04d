// Symbolic dims past a tensor's leading one in the padded layout (docs/ARCHITECTURE.md "Symbolic
// dims"): a batch of sequences, [batch, seq] with the batch pinned above 1 or bounded too. The
// kernels this takes: Gather with ids [batch, seq] and from data varying off the gathered axis,
// reshapes between layouts that place the elements differently ([batch, seq, 8] to [batch*seq, 8]
// and back: a copy, not an alias), and the packed MatMul (+ bias + Relu) one block of rows per
// sequence. Every run against onnxruntime-node, the arena poisoned with NaN before each.
import { describe, expect, it } from "vitest";
import { ModelBuilder } from "../models/builder.js";
import { exportModel } from "../compiler/onnx/export.js";
import { load } from "../compiler/driver/api.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { runOrt } from "./util/ort.js";
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

describe("a batch of sequences: symbolic dims past the leading one", () => {
  const cases: [string, Record<string, number | [number, number]>, [number, number][]][] = [
    ["batch pinned at 3, seq 1..20", { batch: 3, seq: [1, MAX_S] }, [[3, 1], [3, 7], [3, MAX_S], [3, 13]]],
    ["batch 1..3 and seq 1..20", { batch: [1, MAX_B], seq: [1, MAX_S] }, [[1, 1], [3, MAX_S], [2, 9], [1, MAX_S], [3, 2]]],
  ];
  for (const [what, shapes, runs] of cases) {
    for (const level of [0, 2] as const) {
      it(`${what}: one module at -O${level}, each run as onnxruntime-node's, the arena poisoned with NaN`, async () => {
        const { bytes, outputs } = model();
        const m = await load(bytes, { shapes, level });
        const session = m.session!;
        // a run at the bounds gives a view of the memory; the arena lies between the I/O slots and the weights
        const full = session.runInPlace({ ids: { data: new BigInt64Array(MAX_B * MAX_S), dims: [MAX_B, MAX_S] } });
        const { memory } = session.manifest;
        const arena = new Float32Array(full[outputs[1]].data.buffer, memory.regions[0].offset + memory.regions[0].bytes, ((memory.regions[1]?.offset ?? memory.bytes) - memory.regions[0].offset - memory.regions[0].bytes) / 4);
        for (const [batch, seq] of runs) {
          arena.fill(NaN);
          const feeds = { ids: idsOf(batch, seq) };
          const got = await m.run(feeds);
          const want = await runOrt(bytes, feeds);
          for (const o of outputs) {
            expect(got[o].dims, `${o} [${batch}, ${seq}]`).toEqual(want[o].dims);
            expect(compareTensors(got[o], want[o], { rtol: 1e-5, atol: 1e-6 }).message ?? "ok", `${o} [${batch}, ${seq}]`).toBe("ok");
          }
        }
        expect(m.modulesCompiled).toBe(1);
        // the reshapes between layouts copy; the MatMul's epilogue and the Unsqueeze keep the padded layout
        // the layers the test means: the reshapes between layouts run (copies), the product takes the packed kernel
        const layers = session.manifest.layers.map((l) => `${l.op}:${l.kernel}`);
        expect(layers).toEqual(expect.arrayContaining(["Flatten:default", "Reshape:default", level ? "MatMul_Add_Relu:packed" : "MatMul:packed"]));
      });
    }
  }
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
