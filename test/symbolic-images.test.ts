// Symbolic dims through layers HF vision and speech exports use (codegen/kernels/movement/index.ts):
// Tile (a varying dim repeated once: WavLM's position bias); Pad, a batch of images padded along
// their spatial dims (MobileNetV2's explicit Pad before a strided Conv), constant, reflect and edge,
// and a sequence padded at its ends ([batch, seq, 4], the padded layout); Resize to sizes built from
// the input's dims (SegFormer's decode head: Concat(Shape(x)[:2], [H, W]), its batch element
// varying). Each run against onnxruntime-node with the arena poisoned with NaN. A Tile or Pad that
// would place a varying dim's elements at other than the bounds' strides is refused naming the dim.
// TopK, DepthToSpace, SpaceToDepth, GridSample, Einsum and ReduceMean over a bounded batch (RT-DETR,
// pixel shuffles, Mask2Former's deformable attention, MaskFormer, OWL-ViT, a matting model's mean).
import { describe, expect, it } from "vitest";
import { ModelBuilder } from "../models/builder.js";
import { exportModel } from "../compiler/onnx/export.js";
import { compile, load } from "../compiler/driver/api.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import { KilnError } from "../runtime/errors.js";
import { runOrt } from "./util/ort.js";
import { poisoner } from "./util/poison.js";

const feed = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.61 + seed) * 2);

/**
 * x [dims] -> op (its other inputs made by `more`) -> Add 1 -> Relu, so the op is a layer of its
 * own, not an output copy; the dims `names` gives named in x, the op's output and y
 */
function through(op: string, dims: number[], out: number[], names: Record<number, string>, more: (b: ModelBuilder) => string[], attrs = {}, edit?: (b: ModelBuilder) => void): Uint8Array {
  const b = new ModelBuilder(3);
  const x = b.input("x", dims);
  const p = b.node(op, [x, ...more(b)], out, attrs);
  edit?.(b);
  const y = b.node("Relu", [b.node("Add", [p, b.scalar("one", 1)], out)], out);
  b.output(y);
  for (const v of [x, p, y]) {
    const val = b.graph.values.get(v)!;
    val.shape = val.shape!.map((d, k) => names[k] ?? d);
  }
  return exportModel(b.graph, { valueInfo: false });
}

/** x [dims] -> Pad(pads, mode, value) -> Add 1 -> Relu */
const padded = (dims: number[], pads: number[], mode: string, names: Record<number, string>, value?: number) =>
  through("Pad", dims, dims.map((d, k) => d + pads[k] + pads[k + dims.length]), names,
    (b) => [b.int64s("pads", pads), ...(value !== undefined ? [b.scalar("value", value)] : [])], { mode: { type: "string", value: mode } });

/** x [dims] -> Tile(reps) -> Add 1 -> Relu */
const tiled = (dims: number[], reps: number[], names: Record<number, string>) =>
  through("Tile", dims, dims.map((d, k) => d * reps[k]), names, (b) => [b.int64s("reps", reps)]);

/** x [batch, 3, 5, 6] -> Resize (linear) to Concat(Shape(x)[:2], [8, 9]) -> Relu */
function resizedToShape(): Uint8Array {
  const b = new ModelBuilder(4);
  const x = b.input("x", [4, 3, 5, 6]);
  const shape = b.node("Shape", [x], [4]);
  const head = b.node("Slice", [shape, b.int64s("s0", [0]), b.int64s("s1", [2])], [2]);
  const sizes = b.node("Concat", [head, b.int64s("hw", [8, 9])], [4], { axis: { type: "int", value: 0 } });
  for (const v of [shape, head, sizes]) b.graph.values.get(v)!.dtype = "int64";
  const r = b.node("Resize", [x, "", "", sizes], [4, 3, 8, 9], { mode: { type: "string", value: "linear" } });
  const y = b.node("Relu", [r], [4, 3, 8, 9]);
  b.output(y);
  for (const v of [x, r, y]) {
    const val = b.graph.values.get(v)!;
    val.shape = val.shape!.map((d, k) => (k === 0 ? "batch" : d));
  }
  return exportModel(b.graph, { valueInfo: false });
}

async function expectRuns(bytes: Uint8Array, shapes: Record<string, [number, number]>, runs: number[][], tolerance = { rtol: 0, atol: 0 }): Promise<void> {
  for (const level of [0, 2] as const) {
    const model = await load(bytes, { shapes, level, cache: false });
    const poison = poisoner(model);
    for (const dims of runs) {
      const data = feed(dims.reduce((a, b) => a * b, 1), dims[0] + dims[1]);
      poison();
      const got = await model.run({ x: { data, dims } });
      const want = await runOrt(bytes, { x: { dtype: "float32", dims, data } });
      for (const [name, w] of Object.entries(want)) {
        expect(got[name].dims, `${name} at [${dims}] -O${level}`).toEqual(w.dims);
        expect(compareTensors(got[name], w, tolerance).message ?? "ok", `${name} at [${dims}] -O${level}`).toBe("ok");
      }
    }
    expect(model.modulesCompiled).toBe(1);
  }
}

describe("a batch of images through Resize to sizes built from its dims", () => {
  it("one module for batch 1..4, the sizes' batch element varying (a compile-time input: the output's dims)", async () => {
    await expectRuns(resizedToShape(), { batch: [1, 4] }, [[1, 3, 5, 6], [4, 3, 5, 6], [3, 3, 5, 6]], { rtol: 1e-6, atol: 1e-6 });
  });

  it("a batch not leading: [1, batch, H, W] (DETR's pixel mask, unsqueezed, resized along H and W)", async () => {
    const bytes = through("Resize", [1, 4, 5, 6], [1, 4, 8, 9], { 1: "batch" }, (b) => ["", b.weight("scales", [4], { kind: "uniform", lo: 1, hi: 1 })], { mode: { type: "string", value: "linear" } }, (b) => {
      b.graph.values.get("scales")!.const!.data = Float32Array.of(1, 1, 1.6, 1.5);
    });
    await expectRuns(bytes, { batch: [1, 4] }, [[1, 4, 5, 6], [1, 1, 5, 6], [1, 3, 5, 6]], { rtol: 1e-6, atol: 1e-6 });
  });
});

describe("Tile over symbolic dims", () => {
  it("a varying batch, and a varying sequence, each repeated once while static dims repeat (WavLM's position bias)", async () => {
    await expectRuns(tiled([3, 5, 1], [1, 2, 4], { 0: "batch" }), { batch: [1, 3] }, [[3, 5, 1], [1, 5, 1], [2, 5, 1]]);
    await expectRuns(tiled([2, 9, 3], [1, 1, 3], { 0: "batch", 1: "seq" }), { batch: [1, 2], seq: [1, 9] }, [[2, 9, 3], [1, 1, 3], [2, 4, 3]]);
  });

  it("repeats computed from the dims: Mask2Former's queries [8, 1, 32] tiled by the batch, [1, batch, 1]", async () => {
    const b = new ModelBuilder(3);
    const x = b.input("x", [3, 32]);
    const shape = b.node("Shape", [x], [2]);
    const batch = b.node("Slice", [shape, b.int64s("s0", [0]), b.int64s("s1", [1])], [1]);
    const reps = b.node("Concat", [b.int64s("one", [1]), batch, b.int64s("one1", [1])], [3], { axis: { type: "int", value: 0 } });
    for (const v of [shape, batch, reps]) b.graph.values.get(v)!.dtype = "int64";
    const queries = b.node("Tile", [b.weight("q", [8, 1, 32], { kind: "uniform", lo: -1, hi: 1 }), reps], [8, 3, 32]);
    const y = b.node("Add", [queries, x], [8, 3, 32]);
    b.output(y);
    b.graph.values.get(x)!.shape = ["batch", 32];
    for (const v of [queries, y]) b.graph.values.get(v)!.shape = [8, "batch", 32];
    const bytes = exportModel(b.graph, { valueInfo: false });
    for (const level of [0, 2] as const) {
      const model = await load(bytes, { shapes: { batch: [1, 3] }, level, cache: false });
      const poison = poisoner(model);
      for (const n of [3, 1, 2]) {
        const data = feed(n * 32, n);
        poison();
        const got = await model.run({ x: { data, dims: [n, 32] } });
        const want = await runOrt(bytes, { x: { dtype: "float32", dims: [n, 32], data } });
        expect(compareTensors(got[y], want[y], { rtol: 0, atol: 0 }).message ?? "ok", `batch ${n} -O${level}`).toBe("ok");
      }
      expect(model.modulesCompiled).toBe(1);
    }
  });

  it("a varying dim repeated more than once is UNSUPPORTED_OP naming it", async () => {
    const e = await load(tiled([2, 9, 3], [1, 2, 1], { 1: "seq" }), { shapes: { seq: [1, 9] }, cache: false }).catch((x: unknown) => x);
    expect((e as KilnError).code).toBe("UNSUPPORTED_OP");
    expect((e as KilnError).message).toMatch(/Tile repeating the varying dim 1 of .* 2 times/);
  });
});

describe("Pad over symbolic dims", () => {
  const batches = [[1, 3, 5, 6], [4, 3, 5, 6], [2, 3, 5, 6]];
  for (const [mode, value] of [["constant", 0.5], ["constant", undefined], ["reflect", undefined], ["edge", undefined]] as const) {
    it(`a batch of images padded ${mode}${value !== undefined ? ` with ${value}` : ""} along H and W (batch 1..4)`, async () => {
      await expectRuns(padded([4, 3, 5, 6], [0, 0, 1, 2, 0, 0, 2, 1], mode, { 0: "batch" }, value), { batch: [1, 4] }, batches);
    });
  }

  it("a sequence padded at both ends, its batch bounded too ([batch, seq, 4]: the padded layout)", async () => {
    await expectRuns(padded([3, 9, 4], [0, 2, 1, 0, 3, 0], "constant", { 0: "batch", 1: "seq" }, -1), { batch: [1, 3], seq: [1, 9] }, [[3, 9, 4], [1, 1, 4], [2, 5, 4], [3, 2, 4]]);
  });

  it("reflect, edge and wrap along the varying dim fold over this run's length (an image padded by reflection before a Conv)", async () => {
    for (const mode of ["reflect", "edge", "wrap"]) {
      await expectRuns(padded([2, 9, 4], [0, 2, 1, 0, 1, 0], mode, { 1: "seq" }), { seq: [3, 9] }, [[2, 9, 4], [2, 3, 4], [2, 5, 4]]);
    }
  });

  it("constant mode cropping the varying dim is UNSUPPORTED_OP naming the dim", async () => {
    for (const [mode, pads] of [["constant", [0, -1, 0, 0, 0, 0]]] as const) {
      const bytes = padded([2, 9, 4], [...pads], mode, { 1: "seq" });
      const e = await load(bytes, { shapes: { seq: [2, 9] }, cache: false }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(KilnError);
      expect((e as KilnError).code).toBe("UNSUPPORTED_OP");
      expect((e as KilnError).message).toMatch(/varying dim 1 of .*--shape/);
    }
  });
});

describe("a batch through TopK, DepthToSpace, SpaceToDepth and GridSample (RT-DETR's query selection, pixel shuffles, deformable attention)", () => {
  /** one module for `shapes`, run at each of `runs` (feeds by batch) against onnxruntime-node, the arena poisoned */
  async function runsLikeOrt(bytes: Uint8Array, shapes: Record<string, [number, number]>, runs: Record<string, { dtype: "float32"; dims: number[]; data: Float32Array }>[], tolerance = { rtol: 0, atol: 0 }) {
    for (const level of [0, 2] as const) {
      const model = await load(bytes, { shapes, level, cache: false });
      const poison = poisoner(model);
      for (const feeds of runs) {
        poison();
        const got = await model.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
        const want = await runOrt(bytes, feeds);
        for (const [name, w] of Object.entries(want)) {
          const at = `${name} at [${Object.values(feeds)[0].dims}] -O${level}`;
          expect(got[name].dims, at).toEqual(w.dims);
          expect(compareTensors(got[name], w, tolerance).message ?? "ok", at).toBe("ok");
        }
      }
      expect(model.modulesCompiled).toBe(1);
    }
  }
  const x = (dims: number[]) => ({ x: { dtype: "float32" as const, dims, data: feed(dims.reduce((a, b) => a * b, 1), dims[0] * 3 + 1) } });

  it("TopK of each row of [batch, 6, 10] (values and indices)", async () => {
    const b = new ModelBuilder(3);
    const input = b.input("x", [3, 6, 10]);
    b.graph.addNode({ name: "topk", op: "TopK", domain: "", inputs: [input, b.int64s("k", [3])], outputs: ["v", "i"], attrs: {} });
    b.graph.values.set("v", { name: "v", dtype: "float32", shape: ["batch", 6, 3] });
    b.graph.values.set("i", { name: "i", dtype: "int64", shape: ["batch", 6, 3] });
    b.output("v");
    b.output("i");
    b.graph.values.get(input)!.shape = ["batch", 6, 10];
    await runsLikeOrt(exportModel(b.graph, { valueInfo: false }), { batch: [1, 3] }, [x([3, 6, 10]), x([1, 6, 10]), x([2, 6, 10])]);
  });

  it("DepthToSpace (DCR and CRD) and SpaceToDepth of [batch, 8, 4, 6]", async () => {
    for (const [op, out, attrs] of [
      ["DepthToSpace", [4, 2, 8, 12], { blocksize: { type: "int", value: 2 } }],
      ["DepthToSpace", [4, 2, 8, 12], { blocksize: { type: "int", value: 2 }, mode: { type: "string", value: "CRD" } }],
      ["SpaceToDepth", [4, 32, 2, 3], { blocksize: { type: "int", value: 2 } }],
    ] as const) {
      const bytes = through(op, [4, 8, 4, 6], [...out], { 0: "batch" }, () => [], attrs);
      await runsLikeOrt(bytes, { batch: [1, 4] }, [x([4, 8, 4, 6]), x([1, 8, 4, 6]), x([3, 8, 4, 6])]);
    }
  });

  it("MaskFormer's mask embedding, Einsum bqc,bchw->bqhw (h and w run as one N); a varying h too (the loop nest over this run's extents)", async () => {
    const make = (names: Record<number, string>) => {
      const b = new ModelBuilder(3);
      const q = b.input("q", [3, 8, 32]);
      const m = b.input("x", [3, 32, 4, 5]);
      const y = b.node("Einsum", [q, m], [3, 8, 4, 5], { equation: { type: "string", value: "bqc,bchw->bqhw" } });
      const z = b.node("Add", [y, b.weight("bias", [1, 8, 1, 1], { kind: "uniform", lo: -1, hi: 1 })], [3, 8, 4, 5]);
      b.output(z);
      // a named plane dim is dim 2 of x [batch, 32, h, w] and of y and z [batch, 8, h, w]
      for (const v of [q, m, y, z]) b.graph.values.get(v)!.shape = b.graph.values.get(v)!.shape!.map((d, k) => (k === 0 ? "batch" : v !== q && names[k] ? names[k] : d));
      return exportModel(b.graph, { valueInfo: false });
    };
    const feeds = (n: number) => ({ ...x([n, 32, 4, 5]), q: { dtype: "float32" as const, dims: [n, 8, 32], data: feed(n * 256, n) } });
    await runsLikeOrt(make({}), { batch: [1, 3] }, [feeds(3), feeds(1), feeds(2)], { rtol: 1e-5, atol: 1e-5 });
    const plane = (n: number, h: number) => ({ x: { dtype: "float32" as const, dims: [n, 32, h, 5], data: feed(n * 160 * h, h) }, q: { dtype: "float32" as const, dims: [n, 8, 32], data: feed(n * 256, n) } });
    await runsLikeOrt(make({ 2: "h" }), { batch: [1, 3], h: [1, 4] }, [plane(3, 4), plane(1, 1), plane(2, 3)], { rtol: 1e-5, atol: 1e-5 });
  });

  it("Einsum's loop nest over a varying summed label and a varying output label (OWL-ViT's class head, ...pd,...qd->...pq, queries bounded)", async () => {
    const b = new ModelBuilder(3);
    const p = b.input("x", [1, 16, 32]);
    const q = b.input("q", [1, 3, 32]);
    const y = b.node("Einsum", [p, q], [1, 16, 3], { equation: { type: "string", value: "...pd,...qd->...pq" } });
    const z = b.node("Add", [y, b.weight("bias", [1, 1, 1], { kind: "uniform", lo: -1, hi: 1 })], [1, 16, 3]);
    b.output(z);
    for (const v of [q, y, z]) b.graph.values.get(v)!.shape = b.graph.values.get(v)!.shape!.map((d, k) => (k === (v === q ? 1 : 2) ? "nq" : d));
    const feeds = (n: number) => ({ ...x([1, 16, 32]), q: { dtype: "float32" as const, dims: [1, n, 32], data: feed(n * 32, n) } });
    await runsLikeOrt(exportModel(b.graph, { valueInfo: false }), { nq: [1, 3] }, [feeds(3), feeds(1), feeds(2)], { rtol: 1e-5, atol: 1e-5 });
    // a summed label varying: "bsd,bsd->bd" over a bounded sequence
    const c = new ModelBuilder(4);
    const u = c.input("x", [2, 9, 4]);
    const v = c.input("q", [2, 9, 4]);
    const w = c.node("Einsum", [u, v], [2, 4], { equation: { type: "string", value: "bsd,bsd->bd" } });
    c.output(c.node("Add", [w, c.weight("bias", [1, 4], { kind: "uniform", lo: -1, hi: 1 })], [2, 4]));
    for (const t of [u, v]) c.graph.values.get(t)!.shape = [2, "seq", 4];
    const seqs = (n: number) => ({ ...x([2, n, 4]), q: { dtype: "float32" as const, dims: [2, n, 4], data: feed(8 * n, n + 1) } });
    await runsLikeOrt(exportModel(c.graph, { valueInfo: false }), { seq: [1, 9] }, [seqs(9), seqs(1), seqs(5)], { rtol: 1e-5, atol: 1e-5 });
  });

  it("SAM's relative positions, Einsum bhwc,wkc->bhwk over [batch * heads, 8, 8, 16]: the varying b a batch label, h the rows (not run as one with b)", async () => {
    const b = new ModelBuilder(3);
    const q = b.input("x", [6, 8, 8, 16]);
    const y = b.node("Einsum", [q, b.weight("rel", [8, 8, 16], { kind: "uniform", lo: -1, hi: 1 })], [6, 8, 8, 8], { equation: { type: "string", value: "bhwc,wkc->bhwk" } });
    b.output(y);
    for (const v of [q, y]) b.graph.values.get(v)!.shape = b.graph.values.get(v)!.shape!.map((d, k) => (k === 0 ? "batch" : d));
    const bytes = exportModel(b.graph, { valueInfo: false });
    await runsLikeOrt(bytes, { batch: [1, 6] }, [x([6, 8, 8, 16]), x([1, 8, 8, 16]), x([4, 8, 8, 16])], { rtol: 1e-5, atol: 1e-5 });
    expect((await compile(bytes, { shapes: { batch: [1, 6] } })).manifest.layers.map((l) => l.kernel)).toEqual(["packed"]);
  });

  it("ReduceMean over a varying batch divides by this run's count (a matting model's mean over its whole batch; ReduceSum beside it)", async () => {
    for (const [op, axes, keep, out] of [["ReduceMean", [0, 1, 2, 3], 0, []], ["ReduceMean", [0, 2], 1, [1, 3, 1, 6]], ["ReduceMean", [0], 0, [3, 5, 6]], ["ReduceSum", [0, 3], 0, [3, 5]]] as const) {
      const b = new ModelBuilder(3, 18); // axes as an input
      const input = b.input("x", [4, 3, 5, 6]);
      const r = b.node(op, [input, b.int64s("axes", [...axes])], [...out], { keepdims: { type: "int", value: keep } });
      const y = b.node("Add", [r, b.weight("bias", [1], { kind: "uniform", lo: -1, hi: 1 })], out.length ? [...out] : [1]);
      b.output(y);
      b.graph.values.get(input)!.shape = ["batch", 3, 5, 6];
      await runsLikeOrt(exportModel(b.graph, { valueInfo: false }), { batch: [1, 4] }, [x([4, 3, 5, 6]), x([1, 3, 5, 6]), x([3, 3, 5, 6])], { rtol: 1e-5, atol: 1e-6 });
    }
  });

  it("GridSample of [batch, 3, 5, 6] at a [batch, 4, 3, 2] grid (bilinear, zeros outside)", async () => {
    const b = new ModelBuilder(3);
    const input = b.input("x", [3, 3, 5, 6]);
    const grid = b.input("grid", [3, 4, 3, 2]);
    const g = b.node("GridSample", [input, grid], [3, 3, 4, 3], { align_corners: { type: "int", value: 0 } });
    // a weight after it: the poisoner finds the arena after the weights
    const y = b.node("Add", [g, b.weight("bias", [1, 3, 1, 1], { kind: "uniform", lo: -1, hi: 1 })], [3, 3, 4, 3]);
    b.output(y);
    for (const v of [input, grid, g, y]) b.graph.values.get(v)!.shape = b.graph.values.get(v)!.shape!.map((d, k) => (k === 0 ? "batch" : d));
    const feeds = (n: number) => ({ ...x([n, 3, 5, 6]), grid: { dtype: "float32" as const, dims: [n, 4, 3, 2], data: Float32Array.from({ length: n * 24 }, (_, i) => Math.sin(i * 1.3 + n) * 1.1) } });
    await runsLikeOrt(exportModel(b.graph, { valueInfo: false }), { batch: [1, 3] }, [feeds(3), feeds(1), feeds(2)], { rtol: 1e-6, atol: 1e-6 });
  });
});
