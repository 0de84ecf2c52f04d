// NonZero, Compress, Unique and TopK's k over values known only at run time (docs/ARCHITECTURE.md "Data-dependent
// dims"): the count each gives is a dim its kernel writes, so one module runs every input. Each
// run against onnxruntime-node, the arena poisoned with NaN between runs: several dtypes and
// ranks, zeros, NaN (non-zero), none and all non-zero; `x[mask]` as torch exports it (NonZero ->
// Transpose -> GatherND); Compress along an axis, a negative one and none, with a condition
// shorter than the axis; NonZero over an input of a bounded dim; a constant condition still
// copies slabs known at compile time (compress-slabs). TopK with k fed at run time (largest and
// smallest, along the last and the first axis, k from 0 to the axis's length; a k past it is
// BAD_INPUT), and over a bounded axis. Unique over the flattened input, sorted and in the order of
// first occurrence, its four outputs, integer and float values with repeats (-0 and 0 one value).
import { describe, expect, it } from "vitest";
import { int, ModelBuilder } from "../models/builder.js";
import { exportModel } from "../compiler/onnx/export.js";
import { load } from "../compiler/driver/api.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { dtype, type DTypeName } from "../runtime/dtypes.js";
import { rng } from "../compiler/driver/cli/inputs.js";
import { runOrt } from "./util/ort.js";
import { poisoner } from "./util/poison.js";

type Dim = number | string;

/** a graph input of any dtype */
function input(b: ModelBuilder, name: string, dt: DTypeName, dims: Dim[]): string {
  b.input(name, dims.map((d) => (typeof d === "number" ? d : 1)));
  const v = b.graph.values.get(name)!;
  v.dtype = dt;
  v.shape = dims;
  return name;
}

function typed(b: ModelBuilder, name: string, dt: DTypeName, dims: Dim[]): string {
  const v = b.graph.values.get(name)!;
  v.dtype = dt;
  v.shape = dims;
  return name;
}

/** values with about a third zeros (and NaN in float ones where `nan`), or all zero / none zero */
function values(dt: DTypeName, dims: number[], seed: number, fill: "mixed" | "zeros" | "ones" = "mixed", nan = false): Tensor {
  const next = rng(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  const pick = () => (fill === "zeros" ? 0 : fill === "ones" ? 1 + Math.floor(next() * 5) : next() < 0.35 ? 0 : 1 + Math.floor(next() * 5));
  const info = dtype(dt);
  const data = new info.array(n);
  for (let i = 0; i < n; i++) {
    const v = pick();
    if (dt === "int64" || dt === "uint64") (data as BigInt64Array)[i] = BigInt(v);
    else if (dt === "bool") (data as Uint8Array)[i] = v ? 1 : 0;
    else (data as Float32Array)[i] = nan && v === 2 ? NaN : dt.startsWith("float") ? v * (next() < 0.5 ? -0.5 : 0.25) : v;
  }
  return { dtype: dt, dims, data } as Tensor;
}

async function expectOrt(got: Record<string, Tensor>, bytes: Uint8Array, f: Record<string, Tensor>, what: string): Promise<number[]> {
  const want = await runOrt(bytes, f);
  for (const o of Object.keys(want)) {
    expect(got[o].dims, `${o} ${what}`).toEqual(want[o].dims);
    expect(compareTensors(got[o], want[o], { rtol: 0, atol: 0 }).message ?? "ok", `${o} ${what}`).toBe("ok");
  }
  return want[Object.keys(want)[0]].dims;
}

describe("NonZero at run time", () => {
  for (const [dt, dims] of [["float32", [7]], ["int32", [3, 5]], ["int64", [2, 3, 4]], ["bool", [2, 2, 3, 2]], ["uint8", [4, 6]]] as [DTypeName, number[]][]) {
    it(`${dt}[${dims.join(",")}]: one module, each run as onnxruntime-node's (mixed, none and all non-zero${dt === "float32" ? ", NaN" : ""})`, async () => {
      const b = new ModelBuilder(1, 13);
      input(b, "x", dt, dims);
      const out = typed(b, b.node("NonZero", ["x"], [dims.length, 1], {}, "nz"), "int64", [dims.length, "n"]);
      b.output(out);
      const bytes = exportModel(b.graph, { valueInfo: false });
      const m = await load(bytes);
      // the arena from a run that keeps every element (an empty output is no view into it)
      const poison = poisoner(m, { x: values(dt, dims, 99, "ones") });
      const counts: number[] = [];
      for (const [seed, fill] of [[1, "mixed"], [2, "zeros"], [3, "ones"], [4, "mixed"]] as const) {
        poison();
        const f = { x: values(dt, dims, seed, fill, dt === "float32") };
        counts.push((await expectOrt(await m.run(f), bytes, f, `${fill} seed ${seed}`))[1]);
      }
      const size = dims.reduce((a, c) => a * c, 1);
      expect(counts[1]).toBe(0);
      expect(counts[2]).toBe(size);
      expect(m.modulesCompiled).toBe(1);
    });
  }

  it("x[mask] as torch exports it (NonZero -> Transpose -> GatherND), and the count of kept values (Shape -> Gather): as onnxruntime-node's, one module", async () => {
    const b = new ModelBuilder(2, 15);
    input(b, "x", "float32", [3, 5, 4]);
    input(b, "mask", "bool", [3, 5]);
    const nz = typed(b, b.node("NonZero", ["mask"], [2, 15]), "int64", [2, "n"]);
    const idx = typed(b, b.node("Transpose", [nz], [15, 2], { perm: { type: "ints", value: [1, 0] } }), "int64", ["n", 2]);
    const picked = b.node("GatherND", ["x", idx], [15, 4], {}, "picked");
    b.graph.values.get(picked)!.shape = ["n", 4];
    const count = typed(b, b.node("Shape", [picked], [2], { end: int(1) }, "count"), "int64", [1]);
    b.output(picked);
    b.output(count);
    const bytes = exportModel(b.graph, { valueInfo: false });
    const m = await load(bytes);
    const poison = poisoner(m);
    for (const seed of [5, 6, 7]) {
      poison();
      const f = { x: values("float32", [3, 5, 4], seed), mask: values("bool", [3, 5], seed + 10, seed === 7 ? "zeros" : "mixed") };
      await expectOrt(await m.run(f), bytes, f, `seed ${seed}`);
    }
    expect(m.modulesCompiled).toBe(1);
  });

  it("over an input of a bounded dim (x [2, n], n 3..40): one module for every n", async () => {
    const b = new ModelBuilder(3, 13);
    input(b, "x", "float32", [2, "n"]);
    b.output(typed(b, b.node("NonZero", ["x"], [2, 80], {}, "nz"), "int64", [2, "k"]));
    const bytes = exportModel(b.graph, { valueInfo: false });
    const m = await load(bytes, { shapes: { n: [3, 40] } });
    const poison = poisoner(m, { x: values("float32", [2, 40], 99, "ones") });
    for (const n of [3, 40, 17, 9]) {
      poison();
      const f = { x: values("float32", [2, n], n) };
      await expectOrt(await m.run(f), bytes, f, `n ${n}`);
    }
    expect(m.modulesCompiled).toBe(1);
  });
});

describe("Slice cutting a count (slice-count: its length a count of its own)", () => {
  const INT64_MAX = 2n ** 63n - 1n;
  const cut = (start: bigint, end: bigint, axis: number, level: 0 | 2) => it(`[${start}:${end === INT64_MAX ? "" : end}] along the count's axis ${axis} at -O${level}: one module, each count (none, fewer, as many, more) as onnxruntime-node's, the arena poisoned`, async () => {
    const b = new ModelBuilder(5, 13);
    input(b, "x", "float32", [3, 8]);
    input(b, "cond", "bool", [8]);
    // x's columns kept (Compress along axis 1), or its rows of non-zero coordinates (NonZero: [2, k])
    const kept = axis === 1
      ? typed(b, b.node("Compress", ["x", "cond"], [3, 8], { axis: int(1) }, "kept"), "float32", [3, "k"])
      : typed(b, b.node("Transpose", [typed(b, b.node("NonZero", ["cond"], [1, 8], {}, "nz"), "int64", [1, "k"])], [8, 1], { perm: { type: "ints", value: [1, 0] } }), "int64", ["k", 1]);
    const ints = (name: string, v: bigint) => {
      const c = b.int64s(name, [0]);
      (b.graph.values.get(c)!.const!.data as BigInt64Array)[0] = v;
      return c;
    };
    const sliced = b.node("Slice", [kept, ints("s", start), ints("e", end), b.int64s("a", [axis])], axis === 1 ? [3, 8] : [8, 1], {}, "cut");
    Object.assign(b.graph.values.get(sliced)!, { shape: axis === 1 ? [3, "j"] : ["j", 1], dtype: axis === 1 ? "float32" : "int64" });
    // a layer after it, over the cut rows
    b.output(b.node("Mul", [sliced, axis === 1 ? b.scalar("two", 2) : b.int64s("three", [3])], axis === 1 ? [3, 8] : [8, 1], {}, "after"));
    Object.assign(b.graph.values.get("after_out")!, { shape: axis === 1 ? [3, "j"] : ["j", 1], dtype: axis === 1 ? "float32" : "int64" });
    const bytes = exportModel(b.graph, { valueInfo: false });
    const m = await load(bytes, { level });
    expect(m.session!.manifest.layers.find((l) => l.name === "cut")?.kernel).toBe("slice-count");
    const poison = poisoner(m, { x: values("float32", [3, 8], 99, "ones"), cond: values("bool", [8], 99, "ones") });
    const seen = new Set<number>();
    for (const kept of [0, 1, 2, 3, 5, 8]) {
      poison();
      const f = { x: values("float32", [3, 8], kept + 1, "ones"), cond: { dtype: "bool", dims: [8], data: Uint8Array.from({ length: 8 }, (_, i) => ((i * 5) % 8 < kept ? 1 : 0)) } as Tensor };
      const dims = await expectOrt(await m.run(f), bytes, f, `${kept} kept`);
      seen.add(dims[axis]);
    }
    expect(seen.size).toBeGreaterThan(2);
    expect(m.modulesCompiled).toBe(1);
  });
  for (const level of [0, 2] as const) {
    cut(0n, 3n, 1, level);
    cut(2n, INT64_MAX, 0, level);
  }
  cut(1n, 4n, 0, 2);
  cut(3n, 6n, 1, 2);

  it("a cut of a cut ([0:6] then [1:4], a Mul between: the second's count is one only once the first's is): as onnxruntime-node's, one module", async () => {
    const b = new ModelBuilder(6, 13);
    input(b, "x", "float32", [8]);
    input(b, "cond", "bool", [8]);
    const kept = typed(b, b.node("Compress", ["x", "cond"], [8], {}, "kept"), "float32", ["k"]);
    const first = b.node("Slice", [kept, b.int64s("s0", [0]), b.int64s("e0", [6]), b.int64s("a", [0])], [6], {}, "first");
    const twice = b.node("Mul", [first, b.scalar("two", 2)], [6], {}, "twice");
    const second = b.node("Slice", [twice, b.int64s("s1", [1]), b.int64s("e1", [4]), b.int64s("a", [0])], [3], {}, "second");
    for (const [v, d] of [[first, "j"], [twice, "j"], [second, "i"]]) b.graph.values.get(v)!.shape = [d];
    b.output(second);
    const bytes = exportModel(b.graph, { valueInfo: false });
    const m = await load(bytes);
    expect(m.session!.manifest.symbols!.map((s) => [s.name, s.max])).toEqual([["kept.count", 8], ["first.count", 6], ["second.count", 3]]);
    const poison = poisoner(m, { x: values("float32", [8], 99, "ones"), cond: values("bool", [8], 99, "ones") });
    for (const kept of [0, 1, 2, 3, 4, 6, 8]) {
      poison();
      const f = { x: values("float32", [8], kept + 1, "ones"), cond: { dtype: "bool", dims: [8], data: Uint8Array.from({ length: 8 }, (_, i) => ((i * 3) % 8 < kept ? 1 : 0)) } as Tensor };
      await expectOrt(await m.run(f), bytes, f, `${kept} kept`);
    }
    expect(m.modulesCompiled).toBe(1);
  });
});

describe("Compress", () => {
  const x = (seed: number) => values("float32", [3, 4, 5], seed, "ones");
  for (const [label, axis, condLength] of [["axis 1", 1, 4], ["axis -1, a condition shorter than it", -1, 3], ["no axis (flattened)", undefined, 60], ["axis 0", 0, 3]] as [string, number | undefined, number][]) {
    it(`over a run-time condition, ${label}: one module, each run as onnxruntime-node's (none and all kept)`, async () => {
      const b = new ModelBuilder(4, 13);
      input(b, "x", "float32", [3, 4, 5]);
      input(b, "cond", "bool", [condLength]);
      const dims: Dim[] = axis === undefined ? ["k"] : [3, 4, 5].map((d, a) => (a === (axis + 3) % 3 ? "k" : d));
      b.output(typed(b, b.node("Compress", ["x", "cond"], [60], axis === undefined ? {} : { axis: int(axis) }, "compress"), "float32", dims));
      const bytes = exportModel(b.graph, { valueInfo: false });
      const m = await load(bytes);
      expect(m.session!.manifest.layers.map((l) => l.kernel)).toEqual(["compress-scan"]);
      const poison = poisoner(m, { x: x(99), cond: values("bool", [condLength], 99, "ones") });
      for (const [seed, fill] of [[1, "mixed"], [2, "zeros"], [3, "ones"], [4, "mixed"]] as const) {
        poison();
        const f = { x: x(seed), cond: values("bool", [condLength], seed + 20, fill) };
        await expectOrt(await m.run(f), bytes, f, `${fill} seed ${seed}`);
      }
      expect(m.modulesCompiled).toBe(1);
    });
  }

  it("over a constant condition: the slabs copied to places known at compile time, as onnxruntime-node's", async () => {
    const b = new ModelBuilder(5, 13);
    input(b, "x", "float32", [3, 4, 5]);
    const cond = b.graph.value("cond");
    Object.assign(cond, { dtype: "bool", shape: [4], const: { dtype: "bool", dims: [4], data: Uint8Array.of(1, 0, 1, 1) } });
    b.output(b.node("Compress", ["x", "cond"], [3, 3, 5], { axis: int(1) }, "compress"));
    const bytes = exportModel(b.graph, { valueInfo: false });
    const m = await load(bytes);
    expect(m.session!.manifest.layers.map((l) => l.kernel)).toEqual(["compress-slabs"]);
    expect(m.session!.manifest.symbols).toBeUndefined();
    const f = { x: x(9) };
    await expectOrt(await m.run(f), bytes, f, "constant condition");
  });
});

describe("TopK with k known only at run time", () => {
  for (const [axis, largest] of [[-1, 1], [0, 0]] as const) {
    it(`axis ${axis}, ${largest ? "largest" : "smallest"}: one module, every k from 0 to the axis's length as onnxruntime-node's; k past it is BAD_INPUT`, async () => {
      const b = new ModelBuilder(6, 13);
      input(b, "x", "float32", [4, 9]);
      input(b, "k", "int64", [1]);
      const dims: Dim[] = axis === -1 ? [4, "k"] : ["k", 9];
      const vals = typed(b, b.node("TopK", ["x", "k"], [4, 9], { axis: int(axis), largest: int(largest) }, "top"), "float32", dims);
      b.graph.nodeList()[0].outputs.push("top_indices");
      typed(b, b.graph.value("top_indices").name, "int64", dims);
      b.output(vals);
      b.output("top_indices");
      const bytes = exportModel(b.graph, { valueInfo: false });
      const m = await load(bytes);
      const n = axis === -1 ? 9 : 4;
      const poison = poisoner(m, { x: values("float32", [4, 9], 99, "ones"), k: { dtype: "int64", dims: [1], data: BigInt64Array.of(BigInt(n)) } as Tensor });
      for (const k of [3, 0, n, 1, 2]) {
        poison();
        // ties among values too: a third of them zero
        const f = { x: values("float32", [4, 9], k + 40), k: { dtype: "int64", dims: [1], data: BigInt64Array.of(BigInt(k)) } as Tensor };
        await expectOrt(await m.run(f), bytes, f, `k ${k}`);
      }
      expect(m.modulesCompiled).toBe(1);
      const bad = { x: values("float32", [4, 9], 1), k: { dtype: "int64", dims: [1], data: BigInt64Array.of(BigInt(n + 1)) } as Tensor };
      await expect(m.run(bad)).rejects.toMatchObject({ code: "BAD_INPUT", context: { node: "top" } });
    });
  }

  it("over a bounded axis (x [1, n]): k fed at run time or constant, one module for every n and k; k past this run's length is BAD_INPUT", async () => {
    const model = (k?: number) => {
      const b = new ModelBuilder(7, 13);
      input(b, "x", "float32", [1, "n"]);
      if (k === undefined) input(b, "k", "int64", [1]);
      b.output(typed(b, b.node("TopK", ["x", k === undefined ? "k" : b.int64s("k", [k])], [1, 5], { axis: int(1) }, "top"), "float32", [1, "t"]));
      b.graph.nodeList()[0].outputs.push("top_indices");
      return exportModel(b.graph, { valueInfo: false });
    };
    const bytes = model();
    const m = await load(bytes, { shapes: { n: [2, 30] } });
    for (const [len, k] of [[2, 2], [30, 7], [5, 0], [11, 11], [17, 3]]) {
      const f = { x: values("float32", [1, len], len), k: { dtype: "int64", dims: [1], data: BigInt64Array.of(BigInt(k)) } as Tensor };
      expect(await expectOrt(await m.run(f), bytes, f, `n ${len} k ${k}`)).toEqual([1, k]);
    }
    expect(m.modulesCompiled).toBe(1);
    await expect(m.run({ x: values("float32", [1, 4], 4), k: { dtype: "int64", dims: [1], data: BigInt64Array.of(5n) } as Tensor })).rejects.toMatchObject({ code: "BAD_INPUT", message: expect.stringMatching(/k=5 is past an axis of length 4/) });
    // a constant k over the bounded axis: as onnxruntime where the run's length has it, BAD_INPUT where not
    const fixed = model(5);
    const five = await load(fixed, { shapes: { n: [2, 30] } });
    for (const len of [5, 30, 12]) {
      const f = { x: values("float32", [1, len], len + 1) };
      await expectOrt(await five.run(f), fixed, f, `n ${len}`);
    }
    await expect(five.run({ x: values("float32", [1, 4], 4) })).rejects.toMatchObject({ code: "BAD_INPUT", message: expect.stringMatching(/^BAD_INPUT: k=5 is past an axis of length 4 \[node "top", TopK\]$/) });
    expect(five.modulesCompiled).toBe(1);
  });
});

describe("Unique over values known only at run time", () => {
  // (the dtypes onnxruntime runs Unique in)
  for (const [dt, sorted] of [["int64", 1], ["float32", 1], ["int8", 0], ["float32", 0], ["int64", 0]] as [DTypeName, number][]) {
    it(`${dt}[3,7], sorted=${sorted}: one module, its four outputs as onnxruntime-node's (repeats, all equal, all distinct)`, async () => {
      const b = new ModelBuilder(8, 11);
      input(b, "x", dt, [3, 7]);
      const node = b.graph.addNode({ name: "uniq", op: "Unique", domain: "", inputs: ["x"], outputs: ["y", "first", "inverse", "counts"], attrs: { sorted: int(sorted) } });
      typed(b, "y", dt, ["u"]);
      for (const o of ["first", "counts"]) typed(b, o, "int64", ["u"]);
      typed(b, "inverse", "int64", [21]);
      for (const o of node.outputs) b.output(o);
      const bytes = exportModel(b.graph, { valueInfo: false });
      const m = await load(bytes);
      const poison = poisoner(m, { x: distinct(dt, 0) });
      const sizes: number[] = [];
      for (const [seed, kind] of [[1, "repeats"], [2, "same"], [3, "distinct"], [4, "repeats"]] as const) {
        poison();
        const f = { x: kind === "repeats" ? repeats(dt, seed) : kind === "same" ? constantOf(dt, 4) : distinct(dt, seed) };
        sizes.push((await expectOrt(await m.run(f), bytes, f, `${kind} seed ${seed}`))[0]);
      }
      expect(sizes[1]).toBe(1);
      expect(sizes[2]).toBe(21);
      expect(m.modulesCompiled).toBe(1);
    });
  }
});

describe("Unique's NaN", () => {
  it("the NaNs are one group, after every number (numpy's unique), at run time as when folded at compile time", async () => {
    const b = new ModelBuilder(9, 11);
    input(b, "x", "float32", [6]);
    b.graph.addNode({ name: "uniq", op: "Unique", domain: "", inputs: ["x"], outputs: ["y", "first", "inverse", "counts"], attrs: {} });
    typed(b, "y", "float32", ["u"]);
    for (const o of ["first", "counts"]) typed(b, o, "int64", ["u"]);
    typed(b, "inverse", "int64", [6]);
    for (const o of ["y", "first", "inverse", "counts"]) b.output(o);
    const data = Float32Array.of(NaN, 1, NaN, -0, 1, 0);
    const got = await (await load(exportModel(b.graph, { valueInfo: false }))).run({ x: { data, dims: [6] } });
    const want = { y: [-0, 1, NaN], first: [3, 1, 0], inverse: [2, 1, 2, 0, 1, 0], counts: [2, 2, 2] };
    expect(Array.from(got.y.data as Float32Array)).toEqual(want.y);
    for (const o of ["first", "inverse", "counts"] as const) expect(Array.from(got[o].data as BigInt64Array, Number), o).toEqual(want[o]);
    // the same input a constant: inference folds it (its rule in JavaScript) to the same
    const c = b.graph.values.get("x")!;
    c.const = { dtype: "float32", dims: [6], data };
    b.graph.inputs = [];
    const folded = await (await load(exportModel(b.graph, { valueInfo: false }))).run({});
    expect(Array.from(folded.y.data as Float32Array)).toEqual(want.y);
    for (const o of ["first", "inverse", "counts"] as const) expect(Array.from(folded[o].data as BigInt64Array, Number), `folded ${o}`).toEqual(want[o]);
  });
});

/** 21 values drawn from a few (negative ones and -0 beside 0 in float) */
function repeats(dt: DTypeName, seed: number): Tensor {
  const next = rng(seed);
  const pool = dt.startsWith("float") ? [-2.5, -0, 0, 1, 3.25, 7] : [-3, 0, 1, 5, 9];
  const data = new (dtype(dt).array)(21);
  for (let i = 0; i < 21; i++) {
    const v = pool[Math.floor(next() * pool.length)];
    (data as Float32Array)[i] = dt === "int64" ? (BigInt(v) as never) : v;
  }
  return { dtype: dt, dims: [3, 7], data } as Tensor;
}

function distinct(dt: DTypeName, seed: number): Tensor {
  const data = new (dtype(dt).array)(21);
  for (let i = 0; i < 21; i++) {
    const v = ((i * 5 + seed) % 21 - 10) * (dt.startsWith("float") ? 0.5 : 1);
    (data as Float32Array)[i] = dt === "int64" ? (BigInt(v) as never) : v;
  }
  return { dtype: dt, dims: [3, 7], data } as Tensor;
}

function constantOf(dt: DTypeName, v: number): Tensor {
  const data = new (dtype(dt).array)(21);
  for (let i = 0; i < 21; i++) (data as Float32Array)[i] = dt === "int64" ? (BigInt(v) as never) : v;
  return { dtype: dt, dims: [3, 7], data } as Tensor;
}
