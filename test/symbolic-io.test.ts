// Symbolic graph inputs and outputs in the padded layout (docs/ARCHITECTURE.md "Symbolic dims"):
// a feed varying in a dim after its leading ones ([1, 2, past, 4], as GPT-2's past key/values) is
// written block by block at the slot's strides and an output read back compacted; a dim given as
// the sum of others (`total: "past+seq"`) is checked against it; a symbol may take 0 (an empty past).
// Each run against onnxruntime-node, the arena filled with NaN between runs.
import { describe, expect, it } from "vitest";
import { ModelBuilder } from "../models/builder.js";
import { exportModel } from "../compiler/onnx/export.js";
import { load } from "../compiler/driver/api.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { KilnError } from "../runtime/errors.js";
import { runOrt } from "./util/ort.js";
import { poisoner } from "./util/poison.js";
import { kiln } from "./util/cli.js";
import { parseShapeOption, parseShapes } from "../compiler/driver/cli/args.js";
import { createSession } from "../runtime/index.js";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const feed = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.61 + seed) * 2);

/** the model with the named dims of its inputs and outputs (by name: dim index -> dim name) */
function exported(b: ModelBuilder, names: Record<string, Record<number, string>>): Uint8Array {
  for (const [name, at] of Object.entries(names)) {
    const v = b.graph.values.get(name)!;
    v.shape = v.shape!.map((d, j) => at[j] ?? d);
  }
  return exportModel(b.graph, { valueInfo: false });
}

describe("symbolic graph inputs and outputs in the padded layout", () => {
  it("a [1, 2, past, 4] feed and output (past 0..9), runs at 0, 1, odd values and the bound", async () => {
    const b = new ModelBuilder(3);
    const x = b.input("x", [1, 2, 9, 4]);
    const y = b.node("Add", [b.node("Mul", [x, b.scalar("two", 2)], [1, 2, 9, 4]), b.scalar("one", 1)], [1, 2, 9, 4]);
    b.output(y);
    const bytes = exported(b, { x: { 2: "past" }, [y]: { 2: "past" } });
    for (const level of [0, 2] as const) {
      const model = await load(bytes, { shapes: { past: [0, 9] }, level });
      const poison = poisoner(model, { x: { data: feed(72, 1), dims: [1, 2, 9, 4] } });
      for (const p of [9, 0, 1, 5, 9, 2, 0, 7]) {
        const data = feed(8 * p, p);
        poison();
        const got = await model.run({ x: { data, dims: [1, 2, p, 4] } });
        const want = await runOrt(bytes, { x: { dtype: "float32", dims: [1, 2, p, 4], data } });
        expect(got[y].dims).toEqual([1, 2, p, 4]);
        expect(compareTensors(got[y], want[y], { rtol: 1e-6, atol: 1e-6 }).message ?? "ok", `past ${p} -O${level}`).toBe("ok");
      }
      expect(model.modulesCompiled).toBe(1);
    }
  });

  it("an input no node reads (a mask the model ignores) takes any dims within the bounds, not only the bounds' own", async () => {
    const b = new ModelBuilder(3);
    const x = b.input("x", [2, 16]);
    b.input("mask", [2, 16]);
    const y = b.node("Mul", [x, b.scalar("two", 2)], [2, 16]);
    b.output(y);
    const bytes = exported(b, { x: { 0: "batch", 1: "seq" }, mask: { 0: "batch", 1: "seq" }, [y]: { 0: "batch", 1: "seq" } });
    const model = await load(bytes, { shapes: { batch: [1, 2], seq: [1, 16] } });
    for (const [batch, seq] of [[1, 1], [2, 7], [2, 16]]) {
      const data = feed(batch * seq, seq);
      const got = await model.run({ x: { data, dims: [batch, seq] }, mask: { data: new Float32Array(batch * seq), dims: [batch, seq] } });
      expect(got[y].dims).toEqual([batch, seq]);
      expect(Array.from(got[y].data as Float32Array)).toEqual(Array.from(data, (v) => Math.fround(v * 2)));
    }
    expect(model.modulesCompiled).toBe(1);
  });

  it("a dim given as the sum of others (total: \"past+seq\") is checked against the feeds; BAD_OPTION for a sum over a dim not given", async () => {
    const b = new ModelBuilder(4);
    const a = b.input("a", [1, 2, 5, 3]);
    const m = b.input("m", [1, 9]);
    const ids = b.input("ids", [1, 4]);
    const ya = b.node("Neg", [a], [1, 2, 5, 3]);
    const ym = b.node("Mul", [m, b.scalar("three", 3)], [1, 9]);
    const yi = b.node("Neg", [ids], [1, 4]);
    for (const o of [ya, ym, yi]) b.output(o);
    const bytes = exported(b, { a: { 2: "past" }, m: { 1: "total" }, ids: { 1: "seq" }, [ya]: { 2: "past" }, [ym]: { 1: "total" }, [yi]: { 1: "seq" } });
    const model = await load(bytes, { shapes: { past: [0, 5], seq: [1, 4], total: "past+seq" } });
    for (const [p, s] of [[5, 4], [0, 1], [0, 3], [2, 1], [5, 1], [3, 4]]) {
      const feeds: Record<string, Tensor> = {
        a: { dtype: "float32", dims: [1, 2, p, 3], data: feed(6 * p, p) },
        m: { dtype: "float32", dims: [1, p + s], data: feed(p + s, 3 * s) },
        ids: { dtype: "float32", dims: [1, s], data: feed(s, 5 + s) },
      };
      const got = await model.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
      const want = await runOrt(bytes, feeds);
      for (const o of [ya, ym, yi]) {
        expect(got[o].dims, `${o} past ${p} seq ${s}`).toEqual(want[o].dims);
        expect(compareTensors(got[o], want[o], { rtol: 1e-6, atol: 1e-6 }).message ?? "ok", `${o} past ${p} seq ${s}`).toBe("ok");
      }
    }
    expect(model.modulesCompiled).toBe(1);
    // a mask whose length is not past + seq
    const bad = model.run({ a: { data: feed(12, 1), dims: [1, 2, 2, 3] }, m: { data: feed(4, 1), dims: [1, 4] }, ids: { data: feed(3, 1), dims: [1, 3] } });
    await expect(bad).rejects.toThrow(KilnError);
    await expect(bad).rejects.toThrow(/BAD_INPUT: input "m" has dims \[1,4\] but the model takes float32\[1,past\+seq\] \(past 0\.\.5, seq 1\.\.4\): here past 2, seq 3, so float32\[1,5\] /);
    await expect(load(bytes, { shapes: { past: [0, 5], total: "past+seq" } })).rejects.toThrow(/BAD_OPTION.*shapes\.total.*"seq"/);
    // the sum left out: the free dim is named, and a sum suggested
    await expect(load(bytes, { shapes: { past: [0, 5], seq: [1, 4] } })).rejects.toThrow(/BAD_OPTION: .*input "m" \[1,total\] still has free dims \(total\): .*the sum: total: "past\+seq"/);
    await expect(load(bytes, { shapes: { past: [0, 5], seq: [1, 4], total: "past-seq" } })).rejects.toThrow(/BAD_OPTION/);
    // the command line: --shape total=past+seq (kiln compile and run; kiln bench takes no sums)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-sum-"));
    fs.writeFileSync(path.join(dir, "m.onnx"), bytes);
    const c = kiln(["compile", path.join(dir, "m.onnx"), "-o", path.join(dir, "m.wasm"), "--shape", "past=0..5", "--shape", "seq=1..4", "--shape", "total=past+seq"]);
    expect(c.stderr).toBe("");
    expect(c.code).toBe(0);
    const session = await createSession(new Uint8Array(fs.readFileSync(path.join(dir, "m.wasm"))));
    expect(session.manifest.symbols!.map((x) => [x.name, x.min, x.max])).toEqual([["past", 0, 5], ["seq", 1, 4]]);
    expect(session.inputs.find((i) => i.name === "m")!.expr).toEqual([1, [[1, 0], [1, 1]]]);
    // load() of the artifact describes a symbolic dim by its expression, not its bound
    const art = await load(path.join(dir, "m.wasm"));
    expect(art.inputs.find((i) => i.name === "m")!.dims).toEqual([1, "past+seq"]);
    expect(art.inputs.find((i) => i.name === "ids")!.dims).toEqual([1, "seq"]);
    expect(() => parseShapes(["total=past+seq"])).toThrow(/a dim given as a sum of others is taken by kiln compile and kiln run only/);
    expect(parseShapeOption(["total=past+seq", "seq=1..4"])).toEqual({ total: "past+seq", seq: [1, 4] });
  });

  it("Concat along a symbolic axis (past ++ new ++ past: parts after one of symbolic length start where it ends in this run) and Split in the padded layout", async () => {
    const b = new ModelBuilder(5);
    const p = b.input("p", [1, 2, 5, 4]);
    const n = b.input("n", [1, 2, 3, 4]);
    const w = b.input("w", [1, 3, 12]);
    const cat = b.node("Concat", [p, n], [1, 2, 8, 4], { axis: { type: "int", value: 2 } });
    const cat3 = b.node("Concat", [p, b.node("Neg", [n], [1, 2, 3, 4]), p], [1, 2, 13, 4], { axis: { type: "int", value: -2 } });
    const split = b.graph.addNode({ name: "split", op: "Split", domain: "", inputs: [w, b.int64s("sizes", [5, 7])], outputs: ["w0", "w1"], attrs: { axis: { type: "int", value: 2 } } });
    for (const [o, dims] of [["w0", [1, 3, 5]], ["w1", [1, 3, 7]]] as const) Object.assign(b.graph.value(o), { dtype: "float32", shape: [...dims] });
    for (const o of [cat, cat3, ...split.outputs]) b.output(o);
    const bytes = exported(b, { p: { 2: "past" }, n: { 2: "seq" }, w: { 1: "seq" }, [cat]: { 2: "total" }, [cat3]: { 2: "both" }, w0: { 1: "seq" }, w1: { 1: "seq" } });
    const outputs = [cat, cat3, "w0", "w1"];
    for (const level of [0, 2] as const) {
      const model = await load(bytes, { shapes: { past: [0, 5], seq: [1, 3] }, level });
      const poison = poisoner(model, { p: { data: feed(40, 1), dims: [1, 2, 5, 4] }, n: { data: feed(24, 2), dims: [1, 2, 3, 4] }, w: { data: feed(36, 3), dims: [1, 3, 12] } });
      for (const [pl, sl] of [[5, 3], [0, 1], [2, 3], [0, 3], [3, 1], [5, 2], [1, 1]]) {
        const feeds: Record<string, Tensor> = {
          p: { dtype: "float32", dims: [1, 2, pl, 4], data: feed(8 * pl, pl) },
          n: { dtype: "float32", dims: [1, 2, sl, 4], data: feed(8 * sl, 10 + sl) },
          w: { dtype: "float32", dims: [1, sl, 12], data: feed(12 * sl, 20 + sl) },
        };
        poison();
        const got = await model.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
        const want = await runOrt(bytes, feeds);
        for (const o of outputs) {
          expect(got[o].dims, `${o} past ${pl} seq ${sl} -O${level}`).toEqual(want[o].dims);
          expect(compareTensors(got[o], want[o], { rtol: 1e-6, atol: 1e-6 }).message ?? "ok", `${o} past ${pl} seq ${sl} -O${level}`).toBe("ok");
        }
      }
      expect(model.modulesCompiled).toBe(1);
    }
  });
});
