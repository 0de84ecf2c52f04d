// NonMaxSuppression at run time (docs/ARCHITECTURE.md "Data-dependent dims"): its count of boxes
// kept is a dim the input values decide, a symbol its kernel writes as it runs, so one module runs
// every input, and the layers after it (a detector's Gathers of the kept boxes, classes and scores)
// run over that many rows. Every run against onnxruntime-node on random boxes and scores (ties
// among scores included), with the arena poisoned with NaN between runs; none kept (every score
// under the threshold) gives empty outputs; max_output_boxes_per_class, iou_threshold and
// score_threshold as constants and as run-time inputs; boxes of a bounded count; an AOT artifact.
// And a YOLO-style detector exported end to end by torch (test/fixtures/detector/make_end2end.py)
// over images of varying size: one module, whose count of detections is the data-dependent dim.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { int, ModelBuilder } from "../models/builder.js";
import { exportModel } from "../compiler/onnx/export.js";
import { compile, load } from "../compiler/driver/api.js";
import { generateBindings } from "../compiler/driver/bindings.js";
import { createSession } from "../runtime/index.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { rng } from "../compiler/driver/cli/inputs.js";
import { runOrt } from "./util/ort.js";
import { poisoner } from "./util/poison.js";
import { loadAt } from "./util/load-threads.js";

const N = 60;
const C = 3;

interface Options {
  /** max_output_boxes_per_class, iou_threshold, score_threshold: constants, or (undefined) run-time inputs */
  limits?: [number, number, number];
  centre?: boolean;
  /** the boxes' count as a dim named "n" */
  symbolicBoxes?: boolean;
}

/**
 * boxes [1, N, 4] and scores [1, C, N] -> NonMaxSuppression -> `selected` [k, 3], and a detector's
 * post-processing of it: `kept_boxes` (the kept boxes' coordinates, [k, 4]), `kept_class` ([k]) and
 * `kept_score` (each row's score, [k]) by Gather and GatherND.
 */
function detector({ limits, centre = false, symbolicBoxes = false }: Options): Uint8Array {
  const b = new ModelBuilder(5, 13);
  b.input("boxes", [1, N, 4]);
  b.input("scores", [1, C, N]);
  const limitInputs = limits
    ? [b.int64s("max_out", [limits[0]]), scalar(b, "iou", limits[1]), scalar(b, "score_threshold", limits[2])]
    : [intInput(b, "max_out"), floatInput(b, "iou"), floatInput(b, "score_threshold")];
  const selected = b.node("NonMaxSuppression", ["boxes", "scores", ...limitInputs], [N * C, 3], { center_point_box: int(centre ? 1 : 0) }, "nms");
  typed(b, selected, "int64", ["k", 3]);
  const column = (k: number, name: string) => {
    const col = b.int64s(`col${k}`, [k]);
    b.graph.values.get(col)!.shape = [];
    b.graph.values.get(col)!.const!.dims = [];
    const out = b.node("Gather", [selected, col], [N * C], { axis: int(1) }, name);
    typed(b, out, "int64", ["k"]);
    return out;
  };
  const box = column(2, "box_index");
  const cls = column(1, "kept_class");
  const flat = b.node("Reshape", ["boxes", b.int64s("flat", [N, 4])], [N, 4]);
  const keptBoxes = b.node("Gather", [flat, box], [N * C, 4], { axis: int(0) }, "kept_boxes");
  b.graph.values.get(keptBoxes)!.shape = ["k", 4];
  // scores[b, c, i] for each row: GatherND over the rows as they are
  const keptScore = b.node("GatherND", ["scores", selected], [N * C], {}, "kept_score");
  b.graph.values.get(keptScore)!.shape = ["k"];
  for (const o of [selected, keptBoxes, cls, keptScore]) b.output(o);
  if (symbolicBoxes) {
    b.graph.values.get("boxes")!.shape = [1, "n", 4];
    b.graph.values.get("scores")!.shape = [1, C, "n"];
    // the flat boxes follow the count: [-1, 4]
    b.graph.values.get(flat)!.shape = ["n", 4];
    b.graph.nodeList().find((n) => n.op === "Reshape")!.inputs[1] = b.int64s("flat_any", [-1, 4]);
  }
  return exportModel(b.graph, { valueInfo: false });
}

/**
 * The end-to-end form detectors export (YOLO's "end2end", SSD's post-processing): NonMaxSuppression,
 * then the kept rows' batch, class and box columns, the boxes by GatherND on [batch, box], and
 * `detections` [k, 6] = x1 y1 x2 y2 (as given), score, class as float.
 */
function endToEnd(cut?: number): Uint8Array {
  const b = new ModelBuilder(6, 13);
  b.input("boxes", [1, N, 4]);
  b.input("scores", [1, C, N]);
  const sel = b.node("NonMaxSuppression", ["boxes", "scores", b.int64s("max_out", [N]), scalar(b, "iou", 0.45), scalar(b, "score_threshold", 0.3)], [N * C, 3], {}, "nms");
  typed(b, sel, "int64", ["k", 3]);
  const col = (k: number) => {
    const at = b.int64s(`c${k}`, [k]);
    const out = b.node("Slice", [sel, at, b.int64s(`e${k}`, [k + 1]), b.int64s("axis1", [1])], [N * C, 1]);
    typed(b, out, "int64", ["k", 1]);
    return out;
  };
  const [batch, cls, box] = [col(0), col(1), col(2)];
  const where = b.node("Concat", [batch, box], [N * C, 2], { axis: int(1) });
  typed(b, where, "int64", ["k", 2]);
  const kept = b.node("GatherND", ["boxes", where], [N * C, 4]);
  const score = b.node("GatherND", ["scores", sel], [N * C]);
  const score1 = b.node("Unsqueeze", [score, b.int64s("last", [1])], [N * C, 1]);
  const clsF = b.node("Cast", [cls], [N * C, 1], { to: int(1) });
  const det = b.node("Concat", [kept, score1, clsF], [N * C, 6], { axis: int(1) }, cut === undefined ? "detections" : "all");
  b.graph.values.get(det)!.shape = ["k", 6];
  // torchvision's `keep[:detections_per_img]`: the first `cut` rows, fewer where fewer were kept
  const top = cut === undefined ? det : b.node("Slice", [det, b.int64s("zero", [0]), b.int64s("cut", [cut]), b.int64s("axis0", [0])], [cut, 6], {}, "detections");
  b.graph.values.get(top)!.shape = ["j", 6];
  b.output(top);
  return exportModel(b.graph, { valueInfo: false });
}

function scalar(b: ModelBuilder, name: string, v: number): string {
  b.scalar(name, v);
  b.graph.values.get(name)!.shape = [1];
  b.graph.values.get(name)!.const!.dims = [1];
  return name;
}
function intInput(b: ModelBuilder, name: string): string {
  b.input(name, [1]);
  b.graph.values.get(name)!.dtype = "int64";
  return name;
}
function floatInput(b: ModelBuilder, name: string): string {
  return b.input(name, [1]);
}
function typed(b: ModelBuilder, name: string, dt: "int64", dims: (number | string)[]): string {
  const v = b.graph.values.get(name)!;
  v.dtype = dt;
  v.shape = dims;
  return name;
}

/** boxes as corners in either order (or centres and sizes), overlapping in clusters; scores rounded to tenths where `ties` */
function feeds(seed: number, n = N, { ties = false, scale = 1 } = {}): Record<string, Tensor> {
  const next = rng(seed);
  const boxes = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    // nine clusters, each box shifted a little and sized 2..3: many overlap over the IoU thresholds
    const [cx, cy] = [Math.floor(next() * 3) * 5 + next() * 0.8, Math.floor(next() * 3) * 5 + next() * 0.8];
    const [w, h] = [2 + next(), 2 + next()];
    const flip = next() < 0.3;
    boxes.set(flip ? [cy + h / 2, cx + w / 2, cy - h / 2, cx - w / 2] : [cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], i * 4);
  }
  const scores = Float32Array.from({ length: C * n }, () => (ties ? Math.round(next() * 10) / 10 : next()) * scale);
  return { boxes: { dtype: "float32", dims: [1, n, 4], data: boxes }, scores: { dtype: "float32", dims: [1, C, n], data: scores } };
}

const limitFeeds = (maxOut: number, iou: number, score: number): Record<string, Tensor> => ({
  max_out: { dtype: "int64", dims: [1], data: BigInt64Array.of(BigInt(maxOut)) },
  iou: { dtype: "float32", dims: [1], data: Float32Array.of(iou) },
  score_threshold: { dtype: "float32", dims: [1], data: Float32Array.of(score) },
});

async function expectOrt(got: Record<string, Tensor>, bytes: Uint8Array, f: Record<string, Tensor>, what: string): Promise<number> {
  const want = await runOrt(bytes, f);
  for (const o of Object.keys(want)) {
    expect(got[o].dims, `${o} ${what}`).toEqual(want[o].dims);
    expect(compareTensors(got[o], want[o], { rtol: 0, atol: 0 }).message ?? "ok", `${o} ${what}`).toBe("ok");
  }
  return want[Object.keys(want)[0]].dims[0];
}

describe("NonMaxSuppression at run time: one module, any count of boxes kept", () => {
  for (const level of [0, 2] as const) {
    it(`constant limits, corners: every run as onnxruntime-node's (ties, none kept, many kept), one module, arena poisoned (-O${level})`, async () => {
      const bytes = detector({ limits: [20, 0.4, 0.25] });
      const m = await load(bytes, { level });
      const poison = poisoner(m);
      const counts: number[] = [];
      for (const [seed, opts] of [[1, {}], [2, { ties: true }], [3, { scale: 0.2 }], [4, {}], [5, { ties: true }]] as const) {
        poison();
        const f = feeds(seed, N, opts);
        counts.push(await expectOrt(await m.run(f), bytes, f, `seed ${seed}`));
      }
      expect(counts[2]).toBe(0); // every score under 0.25
      expect(new Set(counts).size).toBeGreaterThan(2);
      expect(m.modulesCompiled).toBe(1);
      const manifest = m.session!.manifest;
      expect(manifest.symbols).toEqual([{ name: "nms.count", min: 0, max: 60, layer: manifest.layers.findIndex((l) => l.op === "NonMaxSuppression") }]);
    });
  }

  it("limits fed at run time (negative, zero and large max_output_boxes_per_class; iou 0 and 1) and centre-size boxes: as onnxruntime-node's", async () => {
    for (const centre of [false, true]) {
      const bytes = detector({ centre });
      const m = await load(bytes);
      const poison = poisoner(m, { ...feeds(9), ...limitFeeds(N, 0.5, 0) });
      const counts: number[] = [];
      for (const [seed, limits] of [[1, [3, 0.5, 0.5]], [2, [-2, 0.5, 0.1]], [3, [0, 0.5, 0.1]], [4, [1000, 0.3, 0.2]], [5, [N, 0, 0]], [6, [N, 1, -1]]] as const) {
        poison();
        const f = { ...feeds(seed, N, { ties: seed % 2 === 0 }), ...limitFeeds(limits[0], limits[1], limits[2]) };
        counts.push(await expectOrt(await m.run(f), bytes, f, `centre ${centre} seed ${seed} limits ${limits}`));
      }
      expect(counts[1]).toBe(0);
      expect(counts[2]).toBe(0);
      expect(counts[5]).toBe(N * C); // iou 1 suppresses nothing, every score over -1
      expect(m.modulesCompiled).toBe(1);
    }
  });

  it("boxes of a bounded count (n 8..60): one module for every count, each run as onnxruntime-node's", async () => {
    const bytes = detector({ limits: [4, 0.5, 0.2], symbolicBoxes: true });
    const m = await load(bytes, { shapes: { n: [8, N] } });
    const poison = poisoner(m);
    for (const n of [8, 33, N, 17]) {
      poison();
      const f = feeds(n, n);
      await expectOrt(await m.run(f), bytes, f, `n ${n}`);
    }
    expect(m.modulesCompiled).toBe(1);
    expect(m.session!.manifest.symbols!.map((s) => s.name)).toEqual(["n", "nms.count"]);
  });

  it("a detector's end-to-end output ([k, 6]: box, score, class by Slice, Concat, GatherND, Unsqueeze, Cast): as onnxruntime-node's, one module", async () => {
    const bytes = endToEnd();
    for (const level of [0, 2] as const) {
      const m = await load(bytes, { level });
      const poison = poisoner(m);
      for (const seed of [11, 12, 13]) {
        poison();
        const f = feeds(seed, N, { ties: seed === 12 });
        await expectOrt(await m.run(f), bytes, f, `-O${level} seed ${seed}`);
      }
      expect(m.modulesCompiled).toBe(1);
    }
    // two threads: the count the kernel writes is every thread's, the outputs bit for bit one thread's
    const [one, two] = [await load(bytes), await (await loadAt(2))(bytes, { threads: 2 })];
    try {
      for (const seed of [14, 15]) {
        const f = feeds(seed);
        const [a, b] = [(await one.run(f)).detections_out, (await two.run(f)).detections_out];
        expect(b.dims).toEqual(a.dims);
        expect(a.dims[0]).toBeGreaterThan(0);
        expect(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength).equals(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength))).toBe(true);
      }
    } finally {
      two.session?.terminate?.();
    }
  });

  it("the detections cut to the first 7 (torchvision's keep[:detections_per_img], a count of its own: min(kept, 7)): as onnxruntime-node's whether more or fewer were kept, one module, AOT too, at 2 threads bit for bit 1 thread's", async () => {
    const bytes = endToEnd(7);
    const m = await load(bytes);
    const poison = poisoner(m);
    const rows: number[] = [];
    for (const [seed, opts] of [[11, {}], [12, { ties: true }], [13, { scale: 0.3 }], [16, { scale: 0.33 }]] as const) {
      poison();
      const f = feeds(seed, N, opts);
      rows.push(await expectOrt(await m.run(f), bytes, f, `seed ${seed}`));
    }
    expect(rows[0]).toBe(7);
    expect(rows.some((r) => r < 7)).toBe(true);
    expect(m.modulesCompiled).toBe(1);
    const manifest = m.session!.manifest;
    expect(manifest.symbols!.map((s) => [s.name, s.min, s.max])).toEqual([["nms.count", 0, N * C], ["detections.count", 0, 7]]);
    expect(manifest.layers.find((l) => l.name === "detections")?.kernel).toBe("slice-count");
    // AOT: the runtime alone reads both counts back
    const session = await createSession((await compile(bytes)).wasm);
    for (const seed of [11, 13]) {
      const f = feeds(seed, N, { scale: seed === 13 ? 0.3 : 1 });
      await expectOrt(await session.run(f), bytes, f, `AOT seed ${seed}`);
    }
    const [one, two] = [await load(bytes), await (await loadAt(2))(bytes, { threads: 2 })];
    try {
      for (const seed of [14, 13]) {
        const f = feeds(seed, N, { scale: seed === 13 ? 0.3 : 1 });
        const [a, b] = [(await one.run(f)).detections_out, (await two.run(f)).detections_out];
        expect(b.dims).toEqual(a.dims);
        expect(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength).equals(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength))).toBe(true);
      }
    } finally {
      two.session?.terminate?.();
    }
  });

  it("layers over the count: Range up to a second one's (that NonMaxSuppression read for its count alone: Shape -> Gather -> Squeeze), ReduceMax and ReduceSum over the kept rows, Where on them; as onnxruntime-node's", async () => {
    const b = new ModelBuilder(9, 13);
    b.input("boxes", [1, N, 4]);
    b.input("scores", [1, C, N]);
    const sel = typed(b, b.node("NonMaxSuppression", ["boxes", "scores", b.int64s("max_out", [N]), scalar(b, "iou", 0.5), scalar(b, "score", 0.3)], [N * C, 3], {}, "nms"), "int64", ["k", 3]);
    // a second NonMaxSuppression (IoU 0.4) whose rows nothing reads: only its count, by Shape
    const sel2 = typed(b, b.node("NonMaxSuppression", ["boxes", "scores", "max_out", scalar(b, "iou2", 0.4), "score"], [N * C, 3], {}, "nms2"), "int64", ["k2", 3]);
    const count = typed(b, b.node("Gather", [typed(b, b.node("Shape", [sel2], [2]), "int64", [2]), b.int64s("zero", [0])], [1]), "int64", [1]);
    const scalarOf = (name: string, v: number) => {
      const t = b.graph.value(name);
      Object.assign(t, { dtype: "int64", shape: [], const: { dtype: "int64", dims: [], data: BigInt64Array.of(BigInt(v)) } });
      return name;
    };
    const limit = typed(b, b.node("Squeeze", [count, b.int64s("axis0", [0])], []), "int64", []);
    b.output(typed(b, b.node("Range", [scalarOf("start", 0), limit, scalarOf("delta", 1)], [N * C], {}, "range"), "int64", ["k2"]));
    const boxIndex = b.node("Cast", [typed(b, b.node("Gather", [sel, b.int64s("col2", [2])], [N * C, 1], { axis: int(1) }), "int64", ["k", 1])], [N * C, 1], { to: int(1) });
    b.graph.values.get(boxIndex)!.shape = ["k", 1];
    b.output(b.node("ReduceMax", [boxIndex], [1, 1], {}, "most"));
    b.output(b.node("ReduceSum", [boxIndex], [1, 1], {}, "sum"));
    const over = b.node("Greater", [boxIndex, b.scalar("half", N / 2)], [N * C, 1]);
    Object.assign(b.graph.values.get(over)!, { dtype: "bool", shape: ["k", 1] });
    b.output(b.node("Where", [over, boxIndex, b.scalar("none", -1)], [N * C, 1], {}, "where"));
    b.graph.values.get("where_out")!.shape = ["k", 1];
    const bytes = exportModel(b.graph, { valueInfo: false });
    const m = await load(bytes);
    for (const seed of [21, 22, 23]) {
      const f = feeds(seed, N, { ties: seed === 22 });
      await expectOrt(await m.run(f), bytes, f, `seed ${seed}`);
    }
    expect(m.modulesCompiled).toBe(1);
    expect(m.session!.manifest.symbols!.map((x) => x.name)).toEqual(["nms.count", "nms2.count"]);
  });

  it("a two-stage detector's second stage over the kept boxes (RoiAlign, Conv, Relu, GlobalAveragePool, Gemm over [k, ...]): as onnxruntime-node's, one module", async () => {
    const KEPT = 30;
    const b = new ModelBuilder(10, 16);
    b.input("feat", [1, 8, 16, 16]);
    b.input("boxes", [1, N, 4]);
    b.input("scores", [1, 1, N]);
    const sel = typed(b, b.node("NonMaxSuppression", ["boxes", "scores", b.int64s("max_out", [KEPT]), scalar(b, "iou", 0.5), scalar(b, "score", 0.2)], [KEPT, 3], {}, "nms"), "int64", ["k", 3]);
    const column = (k: number) => {
      const at = b.int64s(`c${k}`, [k]);
      Object.assign(b.graph.values.get(at)!, { shape: [] });
      b.graph.values.get(at)!.const!.dims = [];
      return typed(b, b.node("Gather", [sel, at], [KEPT], { axis: int(1) }), "int64", ["k"]);
    };
    const rois = b.node("Gather", [b.node("Reshape", ["boxes", b.int64s("flat", [N, 4])], [N, 4]), column(2)], [KEPT, 4], { axis: int(0) });
    b.graph.values.get(rois)!.shape = ["k", 4];
    const pooled = b.node("RoiAlign", ["feat", rois, column(0)], [KEPT, 8, 4, 4], { output_height: int(4), output_width: int(4), sampling_ratio: int(2), spatial_scale: { type: "float", value: 1 } });
    b.graph.values.get(pooled)!.shape = ["k", 8, 4, 4];
    const conv = b.node("Relu", [b.node("Conv", [pooled, b.weight("w", [6, 8, 3, 3], { kind: "uniform", lo: -0.3, hi: 0.3 })], [KEPT, 6, 4, 4], { pads: { type: "ints", value: [1, 1, 1, 1] } })], [KEPT, 6, 4, 4]);
    const flat = b.node("Flatten", [b.node("GlobalAveragePool", [conv], [KEPT, 6, 1, 1])], [KEPT, 6]);
    const logits = b.node("Gemm", [flat, b.weight("fc", [6, 3], { kind: "uniform", lo: -1, hi: 1 })], [KEPT, 3], {}, "logits");
    for (const v of b.graph.values.values()) if (v.shape && typeof v.shape[0] === "number" && v.shape[0] === KEPT && !v.const && v.name !== sel) v.shape = ["k", ...v.shape.slice(1)];
    b.output(logits);
    const bytes = exportModel(b.graph, { valueInfo: false });
    const m = await load(bytes);
    const counts = new Set<number>();
    for (const seed of [31, 32, 33]) {
      const next = rng(seed);
      const boxes = new Float32Array(N * 4);
      for (let i = 0; i < N; i++) {
        const [x, y] = [Math.floor(next() * 3) * 5 + next(), Math.floor(next() * 3) * 5 + next()];
        boxes.set([x, y, x + 2 + next() * 2, y + 2 + next() * 2], i * 4);
      }
      const f: Record<string, Tensor> = {
        feat: { dtype: "float32", dims: [1, 8, 16, 16], data: Float32Array.from({ length: 8 * 256 }, () => next() * 2 - 1) },
        boxes: { dtype: "float32", dims: [1, N, 4], data: boxes },
        scores: { dtype: "float32", dims: [1, 1, N], data: Float32Array.from({ length: N }, () => next()) },
      };
      const [got, want] = [await m.run(f), await runOrt(bytes, f)];
      expect(got.logits_out.dims, `seed ${seed}`).toEqual(want.logits_out.dims);
      expect(compareTensors(got.logits_out, want.logits_out, { rtol: 1e-4, atol: 1e-5 }).message ?? "ok", `seed ${seed}`).toBe("ok");
      counts.add(got.logits_out.dims[0]);
    }
    expect(counts.size, [...counts].join()).toBeGreaterThan(1);
    expect(m.modulesCompiled).toBe(1);
  });

  it("two identical NonMaxSuppressions are not merged (each writes its own count): as onnxruntime-node's", async () => {
    const b = new ModelBuilder(12, 13);
    b.input("boxes", [1, N, 4]);
    b.input("scores", [1, C, N]);
    const limits = [b.int64s("max_out", [N]), scalar(b, "iou", 0.5), scalar(b, "score", 0.3)];
    for (const name of ["first", "second"]) b.output(typed(b, b.node("NonMaxSuppression", ["boxes", "scores", ...limits], [N * C, 3], {}, name), "int64", [`${name}_k`, 3]));
    const bytes = exportModel(b.graph, { valueInfo: false });
    const m = await load(bytes);
    expect(m.session!.manifest.symbols!.map((x) => x.name)).toEqual(["first.count", "second.count"]);
    const f = feeds(41);
    await expectOrt(await m.run(f), bytes, f, "seed 41");
  });

  it("a layer after it with no form over the count (Tile repeating the kept rows) is UNSUPPORTED_OP naming that count, with no advice to pin it", async () => {
    const b = new ModelBuilder(7, 13);
    b.input("boxes", [1, N, 4]);
    b.input("scores", [1, C, N]);
    const sel = b.node("NonMaxSuppression", ["boxes", "scores", b.int64s("max_out", [N])], [N * C, 3], {}, "nms");
    typed(b, sel, "int64", ["k", 3]);
    const twice = b.node("Tile", [sel, b.int64s("reps", [2, 1])], [2 * N * C, 3], {}, "twice");
    typed(b, twice, "int64", ["k2", 3]);
    b.output(twice);
    const err = await load(exportModel(b.graph, { valueInfo: false })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "UNSUPPORTED_OP", context: { node: "twice" } });
    expect((err as Error).message).toMatch(/nms\.count/);
    expect((err as Error).message).toMatch(/nms.count is the count node "nms" gives at run time, which kiln cannot pin/);
    expect((err as Error).message).not.toMatch(/--shape nms/);
  });

  it("an AOT artifact: the runtime alone reads the count back and gives outputs that many rows; its typed bindings say the count is the model's", async () => {
    const bytes = detector({ limits: [20, 0.4, 0.25] });
    const { wasm, manifest } = await compile(bytes);
    const ts = await generateBindings(manifest, { name: "Detector", artifact: "detector.wasm" });
    expect(ts).toContain('export const dims = { "nms.count": [0, 60] } as const;');
    expect(ts).toContain("nms.count: [0, most], a count the model's layers give as it runs");
    const session = await createSession(wasm);
    for (const seed of [7, 8]) {
      const f = feeds(seed);
      await expectOrt(await session.run(f), bytes, f, `seed ${seed}`);
    }
  });
});

/** NonMaxSuppression alone, center_point_box 1, with the end-to-end fixture's limits (20 per class, IoU 0.45, score 0.25) */
function nmsOnly(): Uint8Array {
  const b = new ModelBuilder(8, 13);
  b.input("boxes", [1, 1, 4]);
  b.input("scores", [1, 1, 1]);
  b.graph.values.get("boxes")!.shape = [1, "a", 4];
  b.graph.values.get("scores")!.shape = [1, "c", "a"];
  const sel = b.node("NonMaxSuppression", ["boxes", "scores", b.int64s("max_out", [20]), scalar(b, "iou", 0.45), scalar(b, "score", 0.25)], [1, 3], { center_point_box: int(1) }, "nms");
  typed(b, sel, "int64", ["k", 3]);
  b.output(sel);
  return exportModel(b.graph, { valueInfo: false });
}

describe("a YOLO-style detector exported end to end by torch, over images of varying size", () => {
  const bytes = new Uint8Array(fs.readFileSync(path.join(import.meta.dirname, "fixtures/detector/detector-end2end.onnx")));
  const image = (h: number, w: number, seed: number) => {
    const next = rng(seed);
    return { images: { dtype: "float32", dims: [1, 3, h, w], data: Float32Array.from({ length: 3 * h * w }, () => next()) } as Tensor };
  };

  it("one module (height and width 64..320 in steps of 32): its boxes and scores as onnxruntime-node's, its detections those onnxruntime's NonMaxSuppression keeps of them, the first 50 of them cut (keep[:50])", async () => {
    const m = await load(bytes, { shapes: { height: [64, 320, 32], width: [64, 320, 32] } });
    expect(m.session!.manifest.symbols!.map((s) => s.name)).toEqual(["height", "width", "/NonMaxSuppression.count", "/Slice_2.count"]);
    const nms = nmsOnly();
    const counts = new Set<number>();
    for (const [h, w] of [[64, 64], [160, 224], [320, 320], [96, 288]]) {
      const f = image(h, w, h * 7 + w);
      const got = await m.run(f);
      const want = await runOrt(bytes, f);
      for (const o of ["boxes", "scores"]) expect(compareTensors(got[o], want[o], { rtol: 1e-3, atol: 1e-4 }).message ?? "ok", `${o} ${h}x${w}`).toBe("ok");
      // the rows onnxruntime keeps of kiln's own boxes and scores, gathered as the model does
      const sel = Object.values(await runOrt(nms, { boxes: got.boxes, scores: got.scores }))[0];
      const anchors = got.boxes.dims[1];
      const rows = Array.from({ length: sel.dims[0] }, (_, r) => {
        const [cls, idx] = [Number((sel.data as BigInt64Array)[r * 3 + 1]), Number((sel.data as BigInt64Array)[r * 3 + 2])];
        return [...Array.from((got.boxes.data as Float32Array).subarray(idx * 4, idx * 4 + 4)), (got.scores.data as Float32Array)[cls * anchors + idx], cls];
      });
      expect(got.detections.dims, `${h}x${w}`).toEqual([rows.length, 6]);
      expect(Array.from(got.detections.data as Float32Array), `${h}x${w}`).toEqual(rows.flat().map((v) => Math.fround(v)));
      // `top`, detections[:50] (a Slice cutting the count: min(k, 50) rows)
      expect(got.top.dims, `top ${h}x${w}`).toEqual([Math.min(rows.length, 50), 6]);
      expect(Array.from(got.top.data as Float32Array), `top ${h}x${w}`).toEqual(rows.slice(0, 50).flat().map((v) => Math.fround(v)));
      counts.add(rows.length);
    }
    expect(counts.size).toBeGreaterThan(1);
    expect([...counts].some((k) => k < 50) && [...counts].some((k) => k > 50), `counts ${[...counts]}`).toBe(true);
    expect(m.modulesCompiled).toBe(1);
  });
});
