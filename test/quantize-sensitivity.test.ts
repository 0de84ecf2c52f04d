// w8a8's choice of float layers by their cost to the model's output (passes/quantize-sensitivity.ts):
// the switched graph computes the float layer or the quantized one as its switch says (run by
// onnxruntime-node against a reference computed here), and the search keeps float the fewest most
// costly layers that bring the output within the target.
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { rng } from "../compiler/driver/cli/inputs.js";
import { fakeQuant, quantizePerChannel } from "../passes/quantize-math.js";
import { chooseFloatLayers, switchedGraph, switches, type SwitchedLayer, type SwitchedRun } from "../passes/quantize-sensitivity.js";

const layer = (name: string, x: (i: number) => { scale: number; zero: number }): SwitchedLayer => ({ node: { name, op: "MatMul", domain: "", inputs: [], outputs: [], attrs: {} }, x, deq: new Float32Array() });

describe("chooseFloatLayers", () => {
  // a model whose output error is the layers' own costs added in quadrature (as independent errors add)
  const COSTS = [0.01, 0.04, 0.002, 0.03, 0.02];
  const layers = COSTS.map((_, k) => layer(`l${k}`, (i) => ({ scale: 0.1 + i, zero: k })));
  const model = (calls: { on: number[]; inputs: number[] }[]): SwitchedRun => async (feeds, inputs) => {
    const f = feeds(inputs[0]);
    const on = COSTS.map((_, k) => (f[`kiln.quantize_switch.${k}`].data as Float32Array)[0]).flatMap((v, k) => (v === 1 ? [k] : []));
    // each input's feeds carry the parameters left out for that input
    for (const i of inputs) expect((feeds(i)["kiln.quantize_scale.0"].data as Float32Array)[0]).toBeCloseTo(0.1 + i);
    calls.push({ on, inputs: [...inputs] });
    return Math.hypot(...on.map((k) => COSTS[k]));
  };

  it("keeps float the fewest most costly layers that bring the output within the target", async () => {
    const calls: { on: number[]; inputs: number[] }[] = [];
    const s = await chooseFloatLayers(model(calls), layers, 8, 2, 0.03);
    // without layer 1 (0.04) the output is at 0.0375; without 1 and 3 (0.03) at 0.0224
    expect([...s.float].sort()).toEqual([1, 3]);
    expect(s.error).toBeCloseTo(Math.hypot(0.01, 0.002, 0.02), 6);
    expect(s.cost).toEqual(COSTS);
    // each layer's cost alone on the first two inputs, the whole model on all eight
    expect(calls.filter((c) => c.on.length === 1).every((c) => c.inputs.join() === "0,1")).toBe(true);
    expect(calls.filter((c) => c.on.length !== 1).every((c) => c.inputs.length === 8)).toBe(true);
  });

  it("keeps every layer quantized, measuring no single layer, when the output is within the target already", async () => {
    const calls: { on: number[]; inputs: number[] }[] = [];
    const s = await chooseFloatLayers(model(calls), layers, 4, 2, 0.06);
    expect(s.float.size).toBe(0);
    expect(calls).toEqual([{ on: [0, 1, 2, 3, 4], inputs: [0, 1, 2, 3] }]);
  });

  it("keeps every layer float when the target is below what the least costly layer alone costs", async () => {
    const s = await chooseFloatLayers(model([]), layers, 2, 2, 0.001);
    expect(s.float.size).toBe(COSTS.length);
    expect(s.error).toBe(0);
  });

  // the int8 build loses more than the switched model says (its kernels round where float does
  // not): here 1.6x each layer's cost
  const built = (sets: number[][]) => async (float: Set<number>) => {
    sets.push([...float].sort());
    return 1.6 * Math.hypot(...COSTS.filter((_, k) => !float.has(k)));
  };

  it("with the int8 build measured, keeps more layers float until the build is within the target, from the switched model's count up", async () => {
    const sets: number[][] = [];
    const s = await chooseFloatLayers(model([]), layers, 8, 2, 0.03, built(sets));
    // switched: 1 and 3 float (0.0224); built, that is 0.0359: 1, 3 and 4 give 1.6 x 0.0102
    expect([...s.float].sort()).toEqual([1, 3, 4]);
    expect(s.verified).toBe(true);
    expect(s.error).toBeCloseTo(1.6 * Math.hypot(0.01, 0.002), 6);
    // from the switched model's two up, the most costly first (the switched model is over the
    // target with every layer quantized, so the build is not measured so)
    expect(sets).toEqual([[1, 3], [1, 3, 4]]);
  });

  it("with the int8 build measured, looks no further when the build is within the target with every layer quantized", async () => {
    const calls: { on: number[]; inputs: number[] }[] = [], sets: number[][] = [];
    const s = await chooseFloatLayers(model(calls), layers, 4, 2, 0.09, built(sets));
    expect(s.float.size).toBe(0);
    expect(s.verified).toBe(true);
    expect(sets).toEqual([[]]);
    expect(calls).toHaveLength(1);
  });

  it("measures the int8 build even where the switched model is within the target", async () => {
    const sets: number[][] = [];
    // switched, every layer quantized: 0.0548 (within 0.058); built: 0.0877
    const s = await chooseFloatLayers(model([]), layers, 4, 2, 0.058, built(sets));
    // built: without 1, 0.05995 (1.6 x 0.0375) is over; without 1, 3 and 4 within, then without 1 and 3 (0.0359) too
    expect([...s.float].sort()).toEqual([1, 3]);
    expect(sets).toEqual([[], [1], [1, 3, 4], [1, 3]]);
  });
});

describe("switchedGraph", () => {
  // two MatMuls in a row, [3, 7] x [7, 5] x [5, 4]: each quantized behind its own switch
  const r = rng(3);
  const values = (n: number) => Float32Array.from({ length: n }, () => r() * 2 - 1);
  const w1 = values(35), w2 = values(20), x = values(21);
  const ir = `kiln.graph opsets("" = 13)
input %x : float32[3,7]
const %w1 : float32[7,5] = dense<[${Array.from(w1).join(", ")}]>
const %w2 : float32[5,4] = dense<[${Array.from(w2).join(", ")}]>
%h : float32[3,5] = MatMul(%x, %w1) {name="mm1"}
%y : float32[3,4] = MatMul(%h, %w2) {name="mm2"}
output %y`;
  const matmul = (a: Float32Array, b: Float32Array, M: number, K: number, N: number) => Float32Array.from({ length: M * N }, (_, i) => {
    let s = 0;
    for (let k = 0; k < K; k++) s += a[Math.floor(i / N) * K + k] * b[k * N + (i % N)];
    return s;
  });
  const q1 = quantizePerChannel(w1, [7, 5], 1), q2 = quantizePerChannel(w2, [5, 4], 1);
  const p1 = { scale: 0.009, zero: -3 }, p2 = { scale: 0.02, zero: 5 };

  it("computes each layer float with its switch off and quantized (input and weights) with it on, as onnxruntime runs it", async () => {
    const g = parseGraph(ir);
    const layers: SwitchedLayer[] = [{ node: g.node("mm1"), x: () => p1, deq: q1.deq }, { node: g.node("mm2"), x: () => p2, deq: q2.deq }];
    const s = switchedGraph(g, layers)!;
    const session = await ort.InferenceSession.create(exportModel(s), { graphOptimizationLevel: "disabled" });
    const run = async (on: (k: number) => boolean) => {
      const feeds: Record<string, Tensor> = { x: { dtype: "float32", dims: [3, 7], data: x }, ...switches(layers, on)(0) };
      const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor(t.dtype as "float32", t.data as Float32Array, t.dims)])));
      return out.y.data as Float32Array;
    };
    const cases: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];
    for (const [a, b] of cases) {
      const h = matmul(a ? fakeQuant(x, p1.scale, p1.zero) : x, a ? q1.deq : w1, 3, 7, 5);
      const want = matmul(b ? fakeQuant(Float32Array.from(h), p2.scale, p2.zero) : h, b ? q2.deq : w2, 3, 5, 4);
      const got = await run((k) => (k === 0 ? a : b));
      for (let i = 0; i < want.length; i++) expect(got[i], `switches ${a} ${b}, output ${i}`).toBeCloseTo(want[i], 4);
    }
    // the switches do something: quantized, the output moves
    const [off, on] = [await run(() => false), await run(() => true)];
    expect(off.some((v, i) => Math.abs(v - on[i]) > 1e-3)).toBe(true);
  });
});
