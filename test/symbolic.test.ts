// Symbolic dims compiled once (docs/ARCHITECTURE.md "Symbolic dims"): bounds in `shapes`, one
// module for every value within them, each run against onnxruntime-node.
import { describe, expect, it } from "vitest";
import { ModelBuilder } from "../models/builder.js";
import { uniform } from "../models/init.js";
import { exportModel } from "../compiler/onnx/export.js";
import { compile, load } from "../compiler/driver/api.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import type { Graph, Tensor } from "../compiler/ir/graph.js";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { onnx } from "../compiler/onnx/proto.js";
import { encodeTensor } from "../compiler/onnx/tensor.js";
import { runOrt } from "./util/ort.js";
import { loadAt } from "./util/load-threads.js";
import { buildZooGraph, symbolicSeqModel } from "../models/zoo.js";
import { kiln } from "./util/cli.js";

/** every non-constant value's dim `at` made the dim_param `name` (the builder makes static dims) */
function symbolize(g: Graph, name: string, at = 0): void {
  for (const v of g.values.values()) if (v.shape && !v.const && v.shape.length > at) v.shape = v.shape.map((d, k) => (k === at ? name : d));
}

/** MatMul + Add + Relu + MatMul + residual Add over [seq, H] */
function mlp(H = 64): { bytes: Uint8Array; out: string } {
  const b = new ModelBuilder(7);
  const x = b.input("x", [1, H]);
  const w1 = b.weight("w1", [H, 96], uniform(-0.3, 0.3));
  const b1 = b.weight("b1", [96], uniform(-0.3, 0.3));
  const w2 = b.weight("w2", [96, H], uniform(-0.3, 0.3));
  const h = b.node("Relu", [b.node("Add", [b.node("MatMul", [x, w1], [1, 96]), b1], [1, 96])], [1, 96]);
  const y = b.node("Add", [b.node("MatMul", [h, w2], [1, H]), x], [1, H]);
  b.output(y);
  symbolize(b.graph, "seq");
  return { bytes: exportModel(b.graph, { valueInfo: false }), out: y };
}

const feed = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));

/**
 * One module per level for the bounds in `shapes`; each run feeds input x of dims `dims` (the data
 * seeded by the run's last dim) to it and to onnxruntime, and `outputs` must agree.
 */
async function runsMatchOrt(bytes: Uint8Array, shapes: Record<string, [number, number]>, runs: number[][], outputs: string[],
  { levels = [2, 0] as const, rtol = 1e-6, atol = 1e-7 }: { levels?: readonly (0 | 2)[]; rtol?: number; atol?: number } = {}): Promise<void> {
  for (const level of levels) {
    const model = await load(bytes, { shapes, level, cache: false });
    for (const dims of runs) {
      const data = feed(dims.reduce((a, d) => a * d, 1), dims[dims.length - 1]);
      const got = await model.run({ x: { data, dims } });
      const want = await runOrt(bytes, { x: { dtype: "float32", dims, data } });
      for (const out of outputs) expect(compareTensors(got[out], want[out], { rtol, atol }).message ?? "ok", `${out} at [${dims.join(",")}] -O${level}`).toBe("ok");
    }
    expect(model.modulesCompiled).toBe(1);
  }
}

describe("symbolic dims", () => {
  it("an MLP over [seq, 64] runs seq 1, 7, 32, 64 on one module, matching onnxruntime", async () => {
    const { bytes, out } = mlp();
    for (const level of [2, 0] as const) {
      const model = await load(bytes, { shapes: { seq: [1, 64] }, level });
      const m = model.session!.manifest;
      expect(m.symbols).toEqual([{ name: "seq", min: 1, max: 64, at: [0, 0] }]);
      expect(m.inputs[0].expr).toEqual([[[1, 0]], 64]);
      for (const s of [1, 7, 32, 64, 3]) {
        const data = feed(s * 64, s);
        const got = await model.run({ x: { data, dims: [s, 64] } });
        const want = await runOrt(bytes, { x: { dtype: "float32", dims: [s, 64], data } });
        expect(got[out].dims).toEqual([s, 64]);
        expect(compareTensors(got[out], want[out], { rtol: 1e-4, atol: 1e-5 }).message ?? "ok", `seq ${s} -O${level}`).toBe("ok");
      }
      expect(model.modulesCompiled).toBe(1);
    }
  });

  it("runs only this run's rows, or the GEMM's last row tile reaching into the padding: rows past them keep what was there", async () => {
    const { bytes, out } = mlp();
    // bound 63 (odd): the GEMMs compile their row tails, and run exactly the 7 rows; bound 64 (a
    // whole number of 2-row tiles): an odd run's last tile takes one padding row (row 7) with it
    for (const [max, kept] of [[63, 7], [64, 8]]) {
      const model = await load(bytes, { shapes: { seq: [1, max] } });
      const session = model.session!;
      const full = session.runInPlace({ x: { data: feed(max * 64, 1), dims: [max, 64] } })[out];
      const slot = new Float32Array(full.data.buffer, full.data.byteOffset, max * 64);
      slot.fill(NaN, 7 * 64);
      const small = session.runInPlace({ x: { data: feed(7 * 64, 2), dims: [7, 64] } })[out];
      expect(small.dims).toEqual([7, 64]);
      expect(Array.from(small.data as Float32Array).every(Number.isFinite)).toBe(true);
      expect(slot.subarray(kept * 64).every(Number.isNaN), `bound ${max}`).toBe(true);
    }
  });

  it("pinning a dim is today's fully specialized module", async () => {
    const { bytes } = mlp();
    const pinned = await compile(bytes, { shapes: { seq: 7 } });
    const byInput = await compile(bytes, { shapes: { x: [7, 64] } });
    expect(pinned.manifest.symbols).toBeUndefined();
    expect(Buffer.from(pinned.wasm).equals(Buffer.from(byInput.wasm))).toBe(true);
    // bounds of one value pin it too
    expect(Buffer.from((await compile(bytes, { shapes: { seq: [7, 7] } })).wasm).equals(Buffer.from(byInput.wasm))).toBe(true);
  });

  it("bad bounds are BAD_OPTION naming the dim", async () => {
    const { bytes } = mlp();
    await expect(load(bytes, { shapes: { seq: [9, 4] } })).rejects.toThrow(/BAD_OPTION: shapes.seq: bounds \[9, 4\] have min over max/);
    // a lower bound of 0 is taken: an empty run (test/symbolic-io.test.ts runs such feeds)
    const empty = await load(bytes, { shapes: { seq: [0, 4] } });
    expect((await empty.run({ x: { data: new Float32Array(0), dims: [0, 64] } }))[empty.outputs[0].name].dims).toEqual([0, 64]);
    await expect(load(bytes, { shapes: { tokens: [1, 4] } })).rejects.toThrow(/BAD_OPTION: shapes.tokens: the model has no input and no dim named "tokens"; inputs are "x", dims "seq"/);
    await expect(load(bytes, { shapes: { seq: [1, 2, 3, 4] } })).rejects.toThrow(/BAD_OPTION: shapes.seq: a dim takes a number \(pinned\), bounds \[min, max\] or bounds with a step \[min, max, step\]/);
    await expect(load(bytes, { shapes: { seq: [1, 2, 3] } })).rejects.toThrow(/BAD_OPTION: shapes.seq: bounds \[1, 2, 3\]: the step must be at least 1 and divide both bounds/);
    await expect(load(bytes, { shapes: { seq: [4, 8, 0] } })).rejects.toThrow(/BAD_OPTION: shapes.seq: bounds \[4, 8, 0\]: the step must be at least 1/);
    await expect(load(bytes, { shapes: { seq: [1, 2.5] } })).rejects.toThrow(/BAD_OPTION/);
  });

  it("feeds outside the bounds or disagreeing are BAD_INPUT naming the input, the dim and the bounds", async () => {
    const { bytes } = mlp();
    const model = await load(bytes, { shapes: { seq: [2, 16] } });
    await expect(model.run({ x: { data: feed(17 * 64, 0), dims: [17, 64] } })).rejects.toThrow(/BAD_INPUT: input "x" has dims \[17,64\] but the model takes float32\[seq,64\] \(seq 2\.\.16\)/);
    await expect(model.run({ x: { data: feed(64, 0), dims: [1, 64] } })).rejects.toThrow(/has dims \[1,64\] but the model takes float32\[seq,64\] \(seq 2\.\.16\)/);
    await expect(model.run({ x: { data: feed(3 * 64, 0), dims: [3, 63] } })).rejects.toThrow(/BAD_INPUT: input "x" has dims \[3,63\] but the model takes float32\[seq,64\] \(seq 2\.\.16\): here seq 3, so float32\[3,64\]/);
    // a feed of another rank: its dim at the symbol's place is not the symbol (it read seq 64 from [3,64,1])
    await expect(model.run({ x: { data: feed(3 * 64, 0), dims: [3, 64, 1] } })).rejects.toThrow(/BAD_INPUT: input "x" has dims \[3,64,1\] but the model takes float32\[seq,64\] \(seq 2\.\.16\)$/);
    await expect(model.run({})).rejects.toThrow(/BAD_INPUT: missing input "x" \(float32\[seq,64\] \(seq 2\.\.16\)\)/);
  });

  it("two symbols, each read from its own input; a reshape's dim fitted as 8*s", async () => {
    const b = new ModelBuilder(5);
    const a = b.input("a", [1, 8]);
    const c = b.input("c", [1, 8]);
    b.output(b.node("Reshape", [b.node("Relu", [a], [1, 8]), b.int64s("flat", [-1])], [8], {}, "flat"));
    b.output(b.node("Mul", [c, b.weight("w", [8], uniform(-1, 1))], [1, 8], {}, "scaled"));
    symbolize(b.graph, "s");
    b.graph.values.get("c")!.shape = ["t", 8];
    b.graph.values.get("scaled_out")!.shape = ["t", 8];
    b.graph.values.get("flat_out")!.shape = ["n"];
    const bytes = exportModel(b.graph, { valueInfo: false });
    const model = await load(bytes, { shapes: { s: [1, 20], t: [2, 9] } });
    const m = model.session!.manifest;
    expect(m.symbols!.map((x) => [x.name, x.min, x.max])).toEqual([["s", 1, 20], ["t", 2, 9]]);
    expect(m.outputs.find((o) => o.name === "flat_out")!.expr).toEqual([[[8, 0]]]);
    for (const [s, t] of [[1, 9], [13, 2], [20, 5]]) {
      const f = { a: { dtype: "float32" as const, dims: [s, 8], data: feed(s * 8, s) }, c: { dtype: "float32" as const, dims: [t, 8], data: feed(t * 8, t) } };
      const got = await model.run({ a: { data: f.a.data, dims: f.a.dims }, c: { data: f.c.data, dims: f.c.dims } });
      const want = await runOrt(bytes, f);
      for (const o of ["flat_out", "scaled_out"]) expect(compareTensors(got[o], want[o], { rtol: 1e-5, atol: 1e-6 }).message ?? "ok", `${o} at s=${s}, t=${t}`).toBe("ok");
    }
    expect(model.modulesCompiled).toBe(1);
  });

  it("bounds with another dim still free are BAD_OPTION naming the input", async () => {
    const b = new ModelBuilder(5);
    b.output(b.node("Relu", [b.input("x", [1, 8])], [1, 8]));
    for (const v of b.graph.values.values()) if (v.shape && !v.const) v.shape = ["batch", "seq"];
    const bytes = exportModel(b.graph, { valueInfo: false });
    await expect(load(bytes, { shapes: { seq: [1, 8] } })).rejects.toThrow(/BAD_OPTION: shapes gives bounds for seq, so the model compiles once, now, but input "x" \[batch,seq\] still has free dims \(batch\): pin them or give them bounds in shapes too \(--shape batch=N or batch=A\.\.B/);
    // compile (kiln compile) says the same, not an error of its first probe
    await expect(compile(bytes, { shapes: { seq: [1, 8] } })).rejects.toThrow(/BAD_OPTION: shapes gives bounds for seq, so the model compiles once, now, but input "x" \[batch,seq\] still has free dims \(batch\)/);
    // both given bounds: the feed is written, and the output read, row by row at the padded strides
    const both = await load(bytes, { shapes: { batch: [1, 4], seq: [1, 8] } });
    const rows = await both.run({ x: { data: Float32Array.of(-1, 2, -3, 4, -5, 6), dims: [2, 3] } });
    expect(rows[b.graph.outputs[0]].dims).toEqual([2, 3]);
    expect(Array.from(rows[b.graph.outputs[0]].data as Float32Array)).toEqual([0, 2, 0, 4, 0, 6]);
    // batch pinned: seq leads after a 1
    const model = await load(bytes, { shapes: { batch: 1, seq: [1, 8] } });
    const got = await model.run({ x: { data: Float32Array.of(-1, 2, -3), dims: [1, 3] } });
    expect(Array.from(got[b.graph.outputs[0]].data as Float32Array)).toEqual([0, 2, 0]);
  });

  it("a layer with no symbolic form is UNSUPPORTED_OP naming the node, the op and the dim", async () => {
    const b = new ModelBuilder(3);
    const x = b.input("x", [1, 8]);
    const y = b.node("EyeLike", [x], [1, 8], {}, "eye");
    b.output(y);
    symbolize(b.graph, "seq");
    const bytes = exportModel(b.graph, { valueInfo: false });
    await expect(load(bytes, { shapes: { seq: [1, 32] } })).rejects.toThrow(/UNSUPPORTED_OP: EyeLike \(kernel \w+\) has no symbolic form yet: "x" is \[seq,8\] \(at most \[32,8\]\), dim 0 varying; pin it with --shape seq=N.*\[node "eye", EyeLike/);
    // pinned, the same model compiles
    expect((await load(bytes, { shapes: { seq: 5 } })).modulesCompiled).toBe(1);
  });

  it("a mean over the symbolic dim divides by this run's count", async () => {
    const r = new ModelBuilder(3);
    r.output(r.node("ReduceMean", [r.input("x", [1, 8])], [1, 8], { axes: { type: "ints", value: [0] } }, "mean"));
    symbolize(r.graph, "seq");
    r.graph.values.get(r.graph.outputs[0])!.shape = [1, 8];
    await runsMatchOrt(exportModel(r.graph, { valueInfo: false }), { seq: [1, 32] }, [[32, 8], [1, 8], [5, 8]], ["mean_out"]);
  });

  it("a dim that is no polynomial of the symbols (a strided convolution's length, floor((L - 2) / 2) + 1) is refused naming the symbol it varies with, not the others", async () => {
    const b = new ModelBuilder(3);
    const x = b.input("x", [3, 1, 32]);
    const y = b.node("Conv", [x, b.weight("w", [4, 1, 2], uniform(-1, 1))], [3, 4, 16], { strides: { type: "ints", value: [2] } }, "conv");
    b.output(y);
    b.graph.values.get(x)!.shape = ["batch", 1, "samples"];
    b.graph.values.get(y)!.shape = ["batch", 4, "frames"];
    const bytes = exportModel(b.graph, { valueInfo: false });
    const e = await load(bytes, { shapes: { batch: [1, 3], samples: [8, 32] } }).then(() => new Error("compiled"), (err: Error) => err);
    expect(e.message).toMatch(/UNSUPPORTED_OP: dim 2 of .* is not a polynomial of the symbols that kiln takes, so it depends on the value of "?samples"?, so one module cannot serve the bounds; pin it with --shape samples=N \[node "conv"/);
    // the length pinned, the batch stays bounded
    expect((await load(bytes, { shapes: { batch: [1, 3], samples: 32 } })).modulesCompiled).toBe(1);
  });

  it("a value computed from the dim's value runs in the module (symbolic-unfold.ts), each length as onnxruntime-node", async () => {
    // x / seq: the divisor folds to a different constant at each probe; its Shape -> Gather -> Cast
    // are copied to run in the module, the Shape reading this run's seq
    const b = new ModelBuilder(3);
    const x = b.input("x", [1, 8]);
    const shape = b.node("Shape", [x], [2]);
    const n = b.node("Gather", [shape, b.int64s("zero", [0])], [1]);
    const f = b.node("Cast", [n], [1], { to: { type: "int", value: 1 } });
    for (const v of [shape, n]) b.graph.values.get(v)!.dtype = "int64";
    const y = b.node("Div", [x, f], [1, 8], {}, "div");
    b.output(y);
    symbolize(b.graph, "seq");
    for (const v of [shape, n, f]) b.graph.values.get(v)!.shape = [v === shape ? 2 : 1];
    const bytes = exportModel(b.graph, { valueInfo: false });
    await runsMatchOrt(bytes, { seq: [1, 32] }, [32, 1, 7, 20].map((s) => [s, 8]), ["div_out"]);
  });

  it("products whose bounds are small (seq 1..4: [seq, seq] scores) take the packed kernels, not the generic one, which has no symbolic form", async () => {
    // x [seq, 8]: s = x x^T [seq, seq] (a column count of at most 4), o = s x [seq, 8]
    const b = new ModelBuilder(13);
    const x = b.input("x", [1, 8]);
    const t = b.node("Transpose", [x], [8, 1], { perm: { type: "ints", value: [1, 0] } });
    const s = b.node("MatMul", [x, t], [1, 1], {}, "scores");
    const o = b.node("MatMul", [s, x], [1, 8], {}, "context");
    b.output(o);
    symbolize(b.graph, "seq");
    const bytes = exportModel(b.graph, { valueInfo: false });
    await runsMatchOrt(bytes, { seq: [1, 4] }, [4, 1, 3, 2].map((n) => [n, 8]), [o]);
    const { manifest } = await compile(bytes, { shapes: { seq: [1, 4] } });
    expect(manifest.layers.filter((l) => l.op === "MatMul").map((l) => l.kernel)).toEqual(["packed-runtime", "packed-runtime"]);
    // the IR records it too (select-kernels ran at the bounds, before the dims were known to vary)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-sym-small-"));
    fs.writeFileSync(path.join(dir, "m.onnx"), bytes);
    const ir = kiln(["inspect", path.join(dir, "m.onnx"), "--shape", "seq=1..4"]).stdout;
    expect(ir).toMatch(/MatMul\([^)]*\) \{name="scores", kernel="packed-runtime"\}/);
    // the same product with a fused epilogue (+ 0.5, Relu): its anchor is chosen the same way
    const f = new ModelBuilder(13);
    const fx = f.input("x", [1, 8]);
    const fs2 = f.node("MatMul", [fx, f.node("Transpose", [fx], [8, 1], { perm: { type: "ints", value: [1, 0] } })], [1, 1], {}, "scores");
    const shifted = f.node("Relu", [f.node("Add", [fs2, f.weight("shift", [1], uniform(0.4, 0.6))], [1, 1], {}, "shift")], [1, 1], {}, "relu");
    const fo = f.node("MatMul", [shifted, fx], [1, 8], {}, "context");
    f.output(fo);
    symbolize(f.graph, "seq");
    const fused = exportModel(f.graph, { valueInfo: false });
    await runsMatchOrt(fused, { seq: [1, 4] }, [4, 1, 3].map((n) => [n, 8]), [fo]);
    const layers = (await compile(fused, { shapes: { seq: [1, 4] } })).manifest.layers;
    expect(layers.map((l) => `${l.op}:${l.kernel}`)).toContain("MatMul_Add_Relu:packed-runtime");
  });

  it("a constant in the prefix form probed past the bounds (the bounds' values all static dims of the model): the compiled one is the first elements of the probes'", async () => {
    // x + Range(0, seq): every value of the bounds 1..3 is a dim of the model, so both probes lie
    // past them (4 and 5), where the Range holds more elements than the one compiled at 3
    const b = new ModelBuilder(5);
    const x = b.input("x", [1, 3]);
    const shape = b.node("Shape", [x], [2]);
    const n = b.node("Gather", [shape, b.int64s("zero", [0])], [1]);
    const r = b.node("Range", [b.int64s("start", [0]), n, b.int64s("one", [1])], [1]);
    const col = b.node("Unsqueeze", [b.node("Cast", [r], [1], { to: { type: "int", value: 1 } }), b.int64s("axis", [1])], [1, 1]);
    const y = b.node("Add", [x, col], [1, 3], {}, "add");
    b.output(y);
    symbolize(b.graph, "seq");
    for (const v of [shape, n, r]) b.graph.values.get(v)!.dtype = "int64";
    b.graph.values.get(shape)!.shape = [2];
    for (const v of ["zero", "start", "one"]) { const c = b.graph.values.get(v)!; c.shape = []; c.const!.dims = []; }
    b.graph.values.get(n)!.shape = [];
    const bytes = exportModel(b.graph, { valueInfo: false });
    await runsMatchOrt(bytes, { seq: [1, 3] }, [3, 1, 2].map((s) => [s, 3]), ["add_out"]);
  });

  it("a probe past narrow bounds that fails says why kiln probed there (the values within are the model's own dims) and what to do", async () => {
    // x + table[Range(0, seq)], a position table of 3 rows: with seq 1..3 and a static dim 2, the
    // probes lie past the bounds (4, 5), where the positions run off the table
    const b = new ModelBuilder(5);
    const x = b.input("x", [1, 3, 2]);
    const shape = b.node("Shape", [x], [3]);
    const n = b.node("Gather", [shape, b.int64s("at", [1])], [1]);
    const r = b.node("Range", [b.int64s("start", [0]), n, b.int64s("one", [1])], [3]);
    const emb = b.node("Gather", [b.weight("table", [3, 2], uniform(-1, 1)), r], [3, 2]);
    b.output(b.node("Add", [x, emb], [1, 3, 2], {}, "add"));
    for (const v of [shape, n, r]) b.graph.values.get(v)!.dtype = "int64";
    for (const v of ["at", "start", "one"]) { const c = b.graph.values.get(v)!; c.shape = []; c.const!.dims = []; }
    b.graph.values.get(n)!.shape = [];
    b.graph.values.get(x)!.shape = [1, "seq", 2];
    const bytes = exportModel(b.graph, { valueInfo: false });
    await expect(load(bytes, { shapes: { seq: [1, 3] } })).rejects.toThrow(/^INVALID_MODEL: at seq=[45] \(a value kiln probes past the bounds seq 1\.\.3, where too few values lie apart from 1, the bound and dims the model has already \(2\) to fit the dims from; widen them if the model takes such values, else the dims may not follow the symbols there\): index 3 is out of range.*pin it/);
    // pinned, each length runs
    for (const seq of [1, 2, 3]) expect((await load(bytes, { shapes: { seq } })).modulesCompiled).toBe(1);
  });

  it("an operator kiln does not define is refused under bounds as when pinned (no probe values, no advice to pin)", async () => {
    const b = new ModelBuilder(5);
    const boxes = b.input("boxes", [1, 6, 4]);
    const scores = b.input("scores", [1, 1, 6]);
    b.graph.addNode({ name: "nms", op: "NoSuchOperator", domain: "", inputs: [boxes, scores], outputs: ["picked"], attrs: {} });
    b.graph.values.set("picked", { name: "picked", dtype: "int64", shape: [3, 3] });
    b.output("picked");
    for (const v of [boxes, scores]) b.graph.values.get(v)!.shape = b.graph.values.get(v)!.shape!.map((d, k) => (k === 0 ? "batch" : d));
    const bytes = exportModel(b.graph, { valueInfo: false });
    const pinned = await load(bytes, { shapes: { batch: 1 } }).catch((e: Error) => e.message);
    expect(pinned).toBe('UNSUPPORTED_OP: operator NoSuchOperator is not supported by kiln [node "nms", NoSuchOperator opset 17]');
    for (const batch of [[1, 3], [1, 8]] as [number, number][]) await expect(load(bytes, { shapes: { batch } })).rejects.toThrow(pinned);
  });

  it("a constant with several varying dims is not taken as a prefix of the one compiled (its padded layout holds other values): it runs in the module", async () => {
    // x + (Range(batch)[:, None] * seq + Range(seq)[None, :]), as transformers 5 indexes a
    // flattened attention mask: element (b, j) is b*seq + j, the first elements of the constant
    // at the bounds in compact order, but not where a run's (b, j) sits at the bounds' strides
    const b = new ModelBuilder(6);
    const x = b.input("x", [3, 8]);
    const int64 = (v: string) => ((b.graph.values.get(v)!.dtype = "int64"), v);
    const shape = int64(b.node("Shape", [x], [2]));
    const dim = (k: number) => int64(b.node("Gather", [shape, b.int64s(`at${k}`, [k])], []));
    const range = (n: string) => int64(b.node("Range", [b.int64s("start", [0]), n, b.int64s("one", [1])], [8]));
    const [batch, seq] = [dim(0), dim(1)];
    const rows = int64(b.node("Mul", [int64(b.node("Unsqueeze", [range(batch), b.int64s("ax1", [1])], [8, 1])), seq], [8, 1]));
    const grid = int64(b.node("Add", [rows, int64(b.node("Unsqueeze", [range(seq), b.int64s("ax0", [0])], [1, 8]))], [8, 8]));
    const y = b.node("Add", [x, b.node("Cast", [grid], [8, 8], { to: { type: "int", value: 1 } })], [3, 8], {}, "add");
    b.output(y);
    for (const v of ["start", "one", "at0", "at1"]) { const c = b.graph.values.get(v)!; c.shape = []; c.const!.dims = []; }
    for (const v of b.graph.values.values()) if (!v.const && v.dtype !== "int64") v.shape = ["batch", "seq"];
    const bytes = exportModel(b.graph, { valueInfo: false });
    await runsMatchOrt(bytes, { batch: [1, 3], seq: [1, 8] }, [[3, 8], [2, 5], [1, 7], [3, 2]], ["add_out"], { levels: [2] });
  });

  it("kiln compile --shape seq=1..64, then kiln run with feeds of different lengths; kiln run on the .onnx with the bounds and a feed's dims", async () => {
    const { bytes, out } = mlp();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-sym-"));
    fs.writeFileSync(path.join(dir, "mlp.onnx"), bytes);
    const c = kiln(["compile", path.join(dir, "mlp.onnx"), "-o", path.join(dir, "mlp.wasm"), "--shape", "seq=1..64"]);
    expect(c.stderr).toBe("");
    expect(c.code).toBe(0);
    for (const s of [1, 7, 64]) {
      const data = feed(s * 64, s);
      const want = await runOrt(bytes, { x: { dtype: "float32", dims: [s, 64], data } });
      const set = path.join(dir, `set_${s}`);
      fs.mkdirSync(set);
      const pb = (name: string, t: { dtype: "float32"; dims: number[]; data: Float32Array }) => onnx.TensorProto.encode(onnx.TensorProto.create(encodeTensor(name, t))).finish();
      fs.writeFileSync(path.join(set, "input_0.pb"), pb("x", { dtype: "float32", dims: [s, 64], data }));
      fs.writeFileSync(path.join(set, "output_0.pb"), pb(out, want[out] as never));
      const r = kiln(["run", path.join(dir, "mlp.wasm"), "--data", set, "--json"]);
      expect(r.stderr).toBe("");
      const res = JSON.parse(r.stdout);
      expect(res.outputs[0].dims).toEqual([s, 64]);
      expect(res.outputs[0].ok, `seq ${s}: max error ${res.outputs[0].maxAbsErr}`).toBe(true);
    }
    const bad = kiln(["run", path.join(dir, "mlp.wasm"), "--input", "x=random"]);
    expect(bad.code).toBe(0); // random input at the slot's dims: the upper bounds
    // this run's dims by the dim's name or the input's, within the bounds
    for (const shape of ["seq=7", "x=7x64"]) {
      const r = kiln(["run", path.join(dir, "mlp.wasm"), "--shape", shape, "--json"]);
      expect(r.stderr, shape).toBe("");
      expect(JSON.parse(r.stdout).outputs[0].dims, shape).toEqual([7, 64]);
    }
    expect(kiln(["run", path.join(dir, "mlp.wasm"), "--shape", "seq=65"]).stderr).toMatch(/BAD_INPUT: input "x" has dims \[65,64\] but the model takes float32\[seq,64\] \(seq 1\.\.64\)/);
    expect(kiln(["run", path.join(dir, "mlp.wasm"), "--shape", "seq=1..8"]).stderr).toMatch(/BAD_OPTION: --shape seq=1\.\.8: this module is compiled already for seq 1\.\.64; give this run's value/);
    // kiln inspect names the bounds and each slot's dims as their expressions
    const shown = kiln(["inspect", path.join(dir, "mlp.wasm")]).stdout;
    expect(shown).toContain("symbolic dims (one module for every value in the bounds): seq 1..64");
    expect(shown).toContain("  x: float32[seq,64] (at most [64,64])");
    // kiln run on the .onnx with the bounds: a data set's dims, or an input's --shape, are the run's feed, not a pin
    const fromData = kiln(["run", path.join(dir, "mlp.onnx"), "--shape", "seq=1..64", "--data", path.join(dir, "set_7"), "--json", "--threads", "2"]);
    expect(fromData.stderr).toBe("");
    expect(JSON.parse(fromData.stdout).outputs[0]).toMatchObject({ dims: [7, 64], ok: true });
    const fromShape = kiln(["run", path.join(dir, "mlp.onnx"), "--shape", "seq=1..64", "--shape", "x=5x64", "--json"]);
    expect(fromShape.stderr).toBe("");
    expect(JSON.parse(fromShape.stdout).outputs[0].dims).toEqual([5, 64]);
    // the feed's dims pin the input's other named dims: [b, h] with b=1..4 and x=3x5 pins h at 5
    const named = new ModelBuilder(9);
    named.output(named.node("Relu", [named.input("x", [1, 1])], [1, 1]));
    for (const v of named.graph.values.values()) if (v.shape && !v.const) v.shape = ["b", "h"];
    fs.writeFileSync(path.join(dir, "named.onnx"), exportModel(named.graph, { valueInfo: false }));
    const pinnedByFeed = kiln(["run", path.join(dir, "named.onnx"), "--shape", "b=1..4", "--shape", "x=3x5", "--json"]);
    expect(pinnedByFeed.stderr).toBe("");
    expect(JSON.parse(pinnedByFeed.stdout).outputs[0].dims).toEqual([3, 5]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe("kernels with a run-time row count, at several values within the bounds against onnxruntime", () => {
    const SEQS = [1, 2, 3, 5, 17, 40];
    /** one module (-O0: each op its own kernel; -O2: fused), every seq of SEQS */
    async function across(bytes: Uint8Array, feeds: (s: number) => Record<string, { dtype: "float32" | "int64"; dims: number[]; data: Float32Array | BigInt64Array }>) {
      for (const level of [0, 2] as const) {
        const model = await load(bytes, { shapes: { seq: [1, 40] }, level, cache: false });
        for (const s of SEQS) {
          const f = feeds(s);
          const got = await model.run(Object.fromEntries(Object.entries(f).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
          const want = await runOrt(bytes, f);
          for (const [name, w] of Object.entries(want)) {
            expect(got[name].dims, `${name} at seq ${s}, -O${level}`).toEqual(w.dims);
            expect(compareTensors(got[name], w, { rtol: 1e-4, atol: 1e-5 }).message ?? "ok", `${name} at seq ${s}, -O${level}`).toBe("ok");
          }
        }
        expect(model.modulesCompiled).toBe(1);
      }
    }
    const f32 = (dims: number[], seed: number) => ({ dtype: "float32" as const, dims, data: feed(dims.reduce((a, b) => a * b, 1), seed) });
    const build = (make: (b: ModelBuilder) => void, at = 0) => {
      const b = new ModelBuilder(11);
      make(b);
      symbolize(b.graph, "seq", at);
      return exportModel(b.graph, { valueInfo: false });
    };

    it("elementwise: broadcasting operands without the dim, a one-dim loop with its SIMD tail, a middle broadcast dim", async () => {
      const bytes = build((b) => {
        const x = b.input("x", [1, 7]);
        const v = b.input("v", [1]);
        const m = b.input("m", [1, 1, 8]);
        b.output(b.node("Mul", [b.node("Add", [x, b.weight("c", [7], uniform(-1, 1))], [1, 7]), b.scalar("two", 2)], [1, 7]));
        b.output(b.node("Sigmoid", [b.node("Sub", [v, b.scalar("half", 0.5)], [1])], [1]));
        b.output(b.node("Add", [m, b.weight("w", [5, 8], uniform(-1, 1))], [1, 5, 8]));
      });
      await across(bytes, (s) => ({ x: f32([s, 7], 1), v: f32([s], 2), m: f32([s, 1, 8], 3) }));
    });

    it("MatMul and Gemm on the packed GEMM: row tails, column tails, a bias, transB, a residual", async () => {
      const bytes = build((b) => {
        const x = b.input("x", [1, 37]);
        const mm = b.node("MatMul", [x, b.weight("w", [37, 19], uniform(-0.5, 0.5))], [1, 19]);
        b.output(b.node("Relu", [b.node("Add", [mm, b.weight("bias", [19], uniform(-0.5, 0.5))], [1, 19])], [1, 19]));
        const g = b.node("Gemm", [x, b.weight("wt", [40, 37], uniform(-0.5, 0.5)), b.weight("gc", [40], uniform(-0.5, 0.5))], [1, 40], { transB: { type: "int", value: 1 } });
        b.output(g);
      });
      await across(bytes, (s) => ({ x: f32([s, 37], 4) }));
      // [1, seq, 24]: the symbolic dim after a leading 1, a residual Add fused into the epilogue
      const second = build((b) => {
        const y = b.input("y", [1, 1, 24]);
        b.output(b.node("Add", [b.node("MatMul", [y, b.weight("w3", [24, 24], uniform(-0.5, 0.5))], [1, 1, 24]), y], [1, 1, 24]));
      }, 1);
      await across(second, (s) => ({ y: f32([1, s, 24], 5) }));
    });

    it("LayerNormalization, Softmax and reductions over a static last axis: long rows and short ones (vectors across rows)", async () => {
      const bytes = build((b) => {
        const x = b.input("x", [1, 48]);
        b.output(b.node("LayerNormalization", [x, b.weight("g", [48], uniform(0.5, 1.5)), b.weight("beta", [48], uniform(-1, 1))], [1, 48], { axis: { type: "int", value: -1 } }));
        const z = b.input("z", [1, 5]);
        b.output(b.node("LayerNormalization", [z, b.weight("g5", [5], uniform(0.5, 1.5))], [1, 5], { axis: { type: "int", value: -1 } }));
        b.output(b.node("Softmax", [x], [1, 48], { axis: { type: "int", value: -1 } }));
        b.output(b.node("Softmax", [b.node("Mul", [z, b.scalar("k", 0.125)], [1, 5])], [1, 5], { axis: { type: "int", value: -1 } }));
        // opset 17: ReduceSum takes its axes as an input, the others as an attribute
        b.output(b.node("ReduceSum", [x, b.int64s("last", [-1])], [1, 1]));
        b.output(b.node("ReduceMean", [x], [1, 1], { axes: { type: "ints", value: [-1] } }));
        b.output(b.node("ReduceMax", [z], [1, 1], { axes: { type: "ints", value: [-1] } }));
      });
      await across(bytes, (s) => ({ x: f32([s, 48], 6), z: f32([s, 5], 7) }));
    });

    it("Gather: token ids [seq] and [1, seq] into a static embedding table, ids from the end too", async () => {
      const bytes = build((b) => {
        const table = b.weight("table", [50, 24], uniform(-1, 1));
        const ids = b.input("ids", [1]);
        b.graph.values.get(ids)!.dtype = "int64";
        b.output(b.node("Gather", [table, ids], [1, 24], { axis: { type: "int", value: 0 } }));
      });
      const ids = (s: number) => ({ dtype: "int64" as const, dims: [s], data: BigInt64Array.from({ length: s }, (_, i) => BigInt((i * 7) % 50 - (i % 3 === 0 ? 50 : 0))) });
      await across(bytes, (s) => ({ ids: ids(s) }));
    });
  });

  describe("a symbolic batch of images: convolutions, pooling, LRN, Resize and ConvTranspose run this run's images", () => {
    const ints = (value: number[]) => ({ type: "ints" as const, value });
    const int = (value: number) => ({ type: "int" as const, value });
    // [batch, 3, 12, 12]: a strided stem, a 3x3 (Winograd's), a BatchNormalization, a 1x1, a depthwise 3x3, a grouped
    // 3x3, max, average, LRN, a nearest Resize, a ConvTranspose, a global pool
    const bytes = (() => {
      const b = new ModelBuilder(21);
      const w = (name: string, dims: number[]) => b.weight(name, dims, uniform(-0.4, 0.4));
      const x = b.input("x", [1, 3, 12, 12]);
      const stem = b.node("Relu", [b.node("Conv", [x, w("w0", [8, 3, 3, 3]), w("b0", [8])], [1, 8, 6, 6], { strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) })], [1, 8, 6, 6]);
      const c3 = b.node("Conv", [stem, w("w1", [16, 8, 3, 3]), w("b1", [16])], [1, 16, 6, 6], { pads: ints([1, 1, 1, 1]) });
      // folded into c3's weights at -O2 (fold-constants names the folded values per graph: the probes' graphs agree)
      const bn = b.node("BatchNormalization", [c3, b.weight("bs", [16], uniform(0.5, 1.5)), w("bb", [16]), w("bm", [16]), b.weight("bv", [16], uniform(0.5, 1.5))], [1, 16, 6, 6]);
      const c1 = b.node("Conv", [bn, w("w2", [16, 16, 1, 1])], [1, 16, 6, 6]);
      const dw = b.node("Conv", [c1, w("w3", [16, 1, 3, 3]), w("b3", [16])], [1, 16, 6, 6], { group: int(16), pads: ints([1, 1, 1, 1]) });
      const grouped = b.node("Conv", [dw, w("w4", [16, 8, 3, 3])], [1, 16, 4, 4], { group: int(2) });
      const pooled = b.node("MaxPool", [grouped], [1, 16, 3, 3], { kernel_shape: ints([2, 2]), strides: ints([1, 1]) });
      const avg = b.node("AveragePool", [pooled], [1, 16, 3, 3], { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) });
      const lrn = b.node("LRN", [avg], [1, 16, 3, 3], { size: int(3), alpha: { type: "float", value: 1e-3 }, beta: { type: "float", value: 0.75 } });
      const up = b.node("Resize", [lrn, "", b.weight("scales", [4], uniform(1, 1))], [1, 16, 6, 6], { mode: { type: "string", value: "nearest" } });
      b.graph.values.get("scales")!.const!.data = Float32Array.of(1, 1, 2, 2);
      const tr = b.node("ConvTranspose", [up, w("w5", [16, 4, 2, 2]), w("b5", [4])], [1, 4, 12, 12], { strides: ints([2, 2]) });
      b.output(tr);
      b.output(b.node("GlobalAveragePool", [c1], [1, 16, 1, 1]));
      symbolize(b.graph, "batch");
      return exportModel(b.graph, { valueInfo: false });
    })();
    // each run's variants: -O2 takes the depthwise layer and the 1x1 to NHWC (layout-nhwc), -O0 keeps them
    // (and the variants each must have run)
    const runs: [0 | 2, string, string[]][] = [
      [2, "", ["im2col-gemm", "winograd-f2x2", "nhwc-lanes", "stride-gemm"]],
      [2, "+direct", ["direct"]],
      [0, "", ["pointwise-positions", "depthwise-lanes"]],
      [0, "+im2col-positions,+pointwise-positions,+depthwise-rows", ["im2col-positions", "depthwise-rows"]],
      [0, "-winograd-f4x4,-winograd-f2x2,+grouped-gemm,-stride-gemm", ["grouped-gemm", "scatter"]],
      [0, "+winograd-f4x4,+pointwise-gemm", ["winograd-f4x4", "pointwise-gemm"]],
    ];
    for (const [level, selection, variants] of runs) {
      it(`-O${level}, kernels "${selection || "kiln's choice"}": one module for batch 1..5, each batch as onnxruntime, at 1 and 2 threads`, async () => {
        const want = new Map<number, Record<string, Tensor>>();
        for (const threads of [1, 2]) {
          const model = await (await loadAt(threads))(bytes, { shapes: { batch: [1, 5] }, kernels: selection, level, cache: false, threads });
          for (const n of [1, 2, 5, 3]) {
            const data = feed(n * 3 * 144, n);
            const f = { x: { dtype: "float32" as const, dims: [n, 3, 12, 12], data } };
            if (!want.has(n)) want.set(n, await runOrt(bytes, f));
            const got = await model.run({ x: { data, dims: [n, 3, 12, 12] } });
            for (const [name, w] of Object.entries(want.get(n)!)) {
              expect(got[name].dims, `${name} at batch ${n}`).toEqual(w.dims);
              expect(compareTensors(got[name], w, { rtol: 1e-4, atol: 1e-5 }).message ?? "ok", `${name} at batch ${n}, ${threads} threads`).toBe("ok");
            }
          }
          expect(model.modulesCompiled).toBe(1);
          expect(model.session!.manifest.layers.map((l) => l.kernel)).toEqual(expect.arrayContaining(variants));
          model.session?.terminate?.();
        }
      });
    }
  });

  it("a symbolic batch of matrices: Slice along static axes (a varying one whole) and products of two run-time operands; Slice along the varying axis where no length in the bounds clamps it", async () => {
    const ints = (value: number[]) => ({ type: "ints" as const, value });
    const b = new ModelBuilder(23);
    // [batch, 3, 8, 16] -> Q, K as [batch, 1, 8, 16] slices of axis 1 (a padded layout: the batch after a 3 in [3, batch, ...] too)
    const x = b.input("x", [1, 3, 8, 16]);
    const q = b.node("Slice", [x, b.int64s("s0", [0]), b.int64s("e0", [1]), b.int64s("ax", [1])], [1, 1, 8, 16]);
    const k = b.node("Slice", [x, b.int64s("s1", [1]), b.int64s("e1", [2]), b.int64s("ax", [1])], [1, 1, 8, 16]);
    const v = b.node("Slice", [x, b.int64s("s2", [2]), b.int64s("e2", [3]), b.int64s("ax", [1])], [1, 1, 8, 16]);
    const scores = b.node("MatMul", [q, b.node("Transpose", [k], [1, 1, 16, 8], { perm: ints([0, 1, 3, 2]) })], [1, 1, 8, 8]);
    b.output(b.node("MatMul", [b.node("Softmax", [scores], [1, 1, 8, 8], { axis: { type: "int", value: -1 } }), v], [1, 1, 8, 16], {}, "context"));
    // [3, batch, 8, 16] sliced along its static axis 0: the padded layout (the batch after a 3)
    const t = b.node("Transpose", [x], [3, 1, 8, 16], { perm: ints([1, 0, 2, 3]) });
    const third = b.node("Slice", [t, b.int64s("s3", [2]), b.int64s("e3", [3]), b.int64s("ax0", [0])], [1, 1, 8, 16], {}, "third");
    b.output(b.node("Relu", [third], [1, 1, 8, 16], {}, "third_relu"));
    symbolize(b.graph, "batch");
    for (const name of [t, third]) b.graph.values.get(name)!.shape = [name === t ? 3 : 1, "batch", 8, 16];
    b.graph.values.get("third_relu_out")!.shape = [1, "batch", 8, 16];
    const bytes = exportModel(b.graph, { valueInfo: false });
    await runsMatchOrt(bytes, { batch: [1, 6] }, [1, 4, 6, 3].map((n) => [n, 3, 8, 16]), ["context_out", "third_relu_out"], { rtol: 1e-4, atol: 1e-5 });
    // along the varying axis (test/symbolic-slice.test.ts has the forms): the first two rows, where
    // every length in the bounds has two; refused where a shorter one would be clamped
    const along = new ModelBuilder(24);
    const y = along.input("x", [1, 5]);
    along.output(along.node("Slice", [y, along.int64s("s", [0]), along.int64s("e", [2]), along.int64s("a", [0])], [2, 5]));
    symbolize(along.graph, "n");
    along.graph.values.get(along.graph.outputs[0])!.shape = [2, 5];
    const alongBytes = exportModel(along.graph, { valueInfo: false });
    await runsMatchOrt(alongBytes, { n: [2, 8] }, [[2, 5], [7, 5], [8, 5]], along.graph.outputs, { rtol: 0, atol: 0 });
    await expect(load(alongBytes, { shapes: { n: [1, 8] }, cache: false })).rejects.toThrow(/UNSUPPORTED_OP.*end is clamped/);
  });

  describe("attention", () => {
    /** the zoo's MiniLM-like encoder (2 layers, hidden 64, 4 heads) with its head reshapes made [1, -1, h, d], as exporters write them */
    function encoder(): { bytes: Uint8Array; input: string; output: string } {
      const g = buildZooGraph("encoder");
      for (const v of g.values.values()) if (v.const && /split_shape|merge_shape/.test(v.name)) (v.const.data as BigInt64Array)[1] = -1n;
      for (const n of [...g.inputs, ...g.outputs]) g.values.get(n)!.shape = [1, "seq", 64];
      return { bytes: exportModel(g, { valueInfo: false }), input: g.inputs[0], output: g.outputs[0] };
    }

    it("an encoder's attention ([heads, seq, seq] scores, softmax over seq, P V summing over seq) runs every length in one module, padding poisoned with NaN", async () => {
      const { bytes, input, output } = encoder();
      // 57: three whole 16-column panels of scores and a tail panel of 9, and odd: the GEMMs'
      // row tails compiled; 56: even, an odd run's last row tile reaches into the padding rows
      for (const max of [57, 56]) {
        const model = await load(bytes, { shapes: { seq: [1, max] } });
        const session = model.session!;
        const { memory } = session.manifest;
        // the activations live past the model's weights and before the kernels' constants: NaN
        // everywhere there before each run, so a kernel reading past this run's extents shows
        const arena = [memory.regions[0].offset + memory.regions[0].bytes, memory.regions[1]?.offset ?? memory.bytes] as const;
        for (const s of [max, 1, 33, 2, 7, 49, max, 16, 48]) {
          const data = feed(s * 64, s);
          const first = session.runInPlace({ [input]: { data, dims: [1, s, 64] } })[output];
          new Float32Array(first.data.buffer, arena[0], (arena[1] - arena[0]) / 4).fill(NaN);
          const got = await model.run({ [input]: { data, dims: [1, s, 64] } });
          const want = await runOrt(bytes, { [input]: { dtype: "float32", dims: [1, s, 64], data } });
          expect(got[output].dims).toEqual([1, s, 64]);
          expect(compareTensors(got[output], want[output], { rtol: 1e-3, atol: 1e-5 }).message ?? "ok", `seq ${s} of 1..${max}`).toBe("ok");
        }
        expect(model.modulesCompiled).toBe(1);
        // each layer's attention one blocked Attention with run-time query rows and keys
        expect(session.manifest.layers.filter((l) => l.op === "Attention" && l.kernel === "blocked").length).toBe(2);
        expect(session.manifest.layers.filter((l) => l.op === "Einsum" || l.op.includes("Softmax"))).toEqual([]);
      }
    });

    /** the encoder loaded with seq in 1..max: its attention blocked, and its output onnxruntime's at each length */
    async function encoderAt(max: number, lengths: number[]): Promise<void> {
      const { bytes, input, output } = encoder();
      const model = await load(bytes, { shapes: { seq: [1, max] } });
      expect(model.session!.manifest.layers.filter((l) => l.op === "Attention" && l.kernel === "blocked").length).toBe(2);
      for (const s of lengths) {
        const data = feed(s * 64, s);
        const got = await model.run({ [input]: { data, dims: [1, s, 64] } });
        const want = await runOrt(bytes, { [input]: { dtype: "float32", dims: [1, s, 64], data } });
        expect(compareTensors(got[output], want[output], { rtol: 1e-3, atol: 1e-5 }).message ?? "ok", `seq ${s} of 1..${max}`).toBe("ok");
      }
    }

    it("P V sums over more than the packed GEMM's K block (384) as one run-time block", async () => {
      await encoderAt(400, [399, 3, 385]);
    });

    it("the zoo MiniLM with seq symbolic (the bench row's model) compiles once for 1..512 and matches onnxruntime at 1, 77 and 128; at 128 bit for bit the build pinned there", async () => {
      const bytes = symbolicSeqModel("minilm");
      const model = await load(bytes, { shapes: { seq: [1, 512] }, cache: false });
      // both builds run attention blocked, the bounded one with run-time rows and keys: bit for bit the same
      const pinned = await load(bytes, { shapes: { seq: 128 }, cache: false });
      expect(model.session!.manifest.layers.filter((l) => l.kernel === "blocked").length).toBe(6);
      expect(model.session!.manifest.symbols!.map((x) => [x.name, x.min, x.max])).toEqual([["seq", 1, 512]]);
      expect(pinned.session!.manifest.symbols).toBeUndefined();
      for (const s of [1, 77, 128]) {
        const data = feed(s * 384, s);
        const got = await model.run({ hidden_states: { data, dims: [1, s, 384] } });
        const out = Object.keys(got)[0];
        const want = await runOrt(bytes, { hidden_states: { dtype: "float32", dims: [1, s, 384], data } });
        expect(got[out].dims).toEqual([1, s, 384]);
        expect(compareTensors(got[out], want[out], { rtol: 1e-3, atol: 1e-5 }).message ?? "ok", `seq ${s}`).toBe("ok");
        const bits = (t: { data: unknown }) => Buffer.from((t.data as Float32Array).buffer, (t.data as Float32Array).byteOffset, (t.data as Float32Array).byteLength);
        if (s === 128) expect(bits(got[out]).equals(bits((await pinned.run({ hidden_states: { data, dims: [1, s, 384] } }))[out]))).toBe(true);
      }
      expect(model.modulesCompiled).toBe(1);
    });

    it("narrow bounds under the blocked kernel's own 16-row threshold (MiniLM seq 1..8) fuse attention as any bounds do, and run every length", async () => {
      const bytes = symbolicSeqModel("minilm");
      for (const bounds of [[1, 8], [2, 8]]) {
        const model = await load(bytes, { shapes: { seq: bounds }, cache: false });
        expect(model.session!.manifest.layers.filter((l) => l.op === "Attention" && l.kernel === "blocked").length, `${bounds}: attention blocked`).toBe(6);
        for (let s = bounds[0]; s <= bounds[1]; s++) {
          const data = feed(s * 384, s);
          const got = await model.run({ hidden_states: { data, dims: [1, s, 384] } });
          const out = Object.keys(got)[0];
          const want = await runOrt(bytes, { hidden_states: { dtype: "float32", dims: [1, s, 384], data } });
          expect(compareTensors(got[out], want[out], { rtol: 1e-3, atol: 1e-5 }).message ?? "ok", `seq ${s} of ${bounds}`).toBe("ok");
        }
        expect(model.modulesCompiled).toBe(1);
      }
    });

    it("long bounds (1..2100): blocked attention's P V sums over every key of the run in one K block; its scratch fits 2100 keys", async () => {
      await encoderAt(2100, [2100, 1, 1025]);
    });

    it("bounds past what a block of scores holds (3,072 keys) keep attention as its layers, and past the packed kernel's longest run-time K, UNSUPPORTED_OP says why", async () => {
      const { bytes } = encoder();
      await expect(load(bytes, { shapes: { seq: [1, 4000] } })).rejects.toThrow(/UNSUPPORTED_OP: Einsum sums over a symbolic dim of at most 4000; the packed kernel takes a run-time K up to 2048 so far/);
    });
  });
});
