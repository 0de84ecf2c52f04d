// RNN, GRU and LSTM against onnxruntime-node on random inputs, on every kernel variant ("packed":
// float32 with constant weights; "packed-runtime": float32 weights as graph inputs; "direct": the
// rest, and forced): every direction, odd hidden sizes, batches, mixed sequence lengths, initial
// states, peepholes, clip, every activation, layout 1, long sequences, float64 and float16, every
// subset of the outputs, relaxed SIMD, a stacked pair in a graph, and typed errors for bad models.
import * as v8 from "node:v8";
import { describe, expect, it } from "vitest";
import type { Attr } from "../../compiler/ir/graph.js";
import { Graph } from "../../compiler/ir/graph.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { load } from "../../compiler/driver/api.js";
import { compareTensors } from "../../compiler/driver/testdata.js";
import { KilnError } from "../../runtime/errors.js";
import { relaxedSimdSupported } from "../../runtime/simd.js";
import { runOrt, tensor } from "../util/ort.js";
import { kernelsFor } from "../util/kernels.js";
import { importOnnx } from "../../compiler/driver/compile.js";
import type { Tensor } from "../../compiler/ir/graph.js";
import { poisoner } from "../util/poison.js";
import { build, expectBatchFirst, expectVariants, expectCase, floats, int, runKiln, str, strs, TOL, type Built, type Case } from "./recurrent-case.js";

const DIRECTIONS = ["forward", "reverse", "bidirectional"] as const;

describe("recurrent layers: kernel variants", () => {
  it("runs float32 layers with constant weights on packed, with weights at run time on packed-runtime, both falling back to direct", async () => {
    const x = { dims: [5, 2, 6] }, w = { dims: [1, 28, 6], constant: true }, r = { dims: [1, 28, 7], constant: true };
    expect(await kernelsFor("LSTM", [x, w, r], { hidden_size: int(7) })).toEqual({ chosen: "packed", applicable: ["packed", "direct"] });
    expect((await kernelsFor("GRU", [x, { dims: [1, 21, 6], constant: true }, { dims: [1, 21, 7], constant: true }], { hidden_size: int(7) })).chosen).toBe("packed");
    expect(await kernelsFor("RNN", [x, { dims: [1, 7, 6] }, { dims: [1, 7, 7], constant: true }], { hidden_size: int(7) })).toEqual({ chosen: "packed-runtime", applicable: ["packed-runtime", "direct"] });
  });
});

describe("RNN, GRU and LSTM vs onnxruntime", () => {
  it("every op and direction, odd hidden sizes, batch > 1, with and without bias", async () => {
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      for (const direction of DIRECTIONS) {
        for (const hidden of [5, 13]) {
          await expectVariants({ op, direction, seq: 6, batch: 3, input: 7, hidden, bias: hidden === 5 });
        }
      }
    }
  });

  it("tiny sizes: hidden 1 and 2, input 1, one step, batch 1", async () => {
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      for (const hidden of [1, 2]) {
        await expectVariants({ op, direction: "bidirectional", seq: 3, batch: 1, input: 1, hidden, initial: true, peepholes: op === "LSTM" });
        await expectVariants({ op, seq: 1, batch: 1, input: 2, hidden, lens: [1] });
      }
    }
    await expectVariants({ op: "GRU", seq: 2, batch: 2, input: 1, hidden: 1, attrs: { linear_before_reset: int(1) } });
  });

  it("an empty sequence ends in a zero state, as a sequence_lens of 0 does (onnxruntime leaves Y_c unwritten there)", async () => {
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      const b = build({ op, direction: "bidirectional", seq: 0, batch: 2, input: 3, hidden: 4, initial: true });
      for (const kernels of [undefined, "+direct"]) {
        const got = await runKiln(b, kernels);
        expect(got.out0.dims).toEqual([0, 2, 2, 4]);
        for (const o of b.outputs.slice(1)) expect(Array.from(got[o].data as Float32Array), `${op} ${o}`).toEqual(new Array(16).fill(0));
      }
    }
  });

  it("GRU with linear_before_reset", async () => {
    for (const direction of DIRECTIONS) {
      for (const hidden of [3, 18]) {
        await expectVariants({ op: "GRU", direction, seq: 5, batch: 2, input: 4, hidden, attrs: { linear_before_reset: int(1) } });
        await expectVariants({ op: "GRU", direction, seq: 5, batch: 2, input: 4, hidden, bias: false, attrs: { linear_before_reset: int(1) } });
      }
    }
  });

  it("sequence_lens with mixed lengths, and initial states", async () => {
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      for (const direction of DIRECTIONS) {
        // onnxruntime's RNN reads before Y for a length of 0 (its Y_h is undefined there): RNN rows run at least one step
        const lens = op === "RNN" ? [6, 2, 1, 4] : [6, 2, 0, 4];
        await expectVariants({ op, direction, seq: 6, batch: 4, input: 5, hidden: 7, lens, initial: true });
        await expectVariants({ op, direction, seq: 6, batch: 4, input: 5, hidden: 7, lens });
      }
    }
    await expectVariants({ op: "GRU", seq: 5, batch: 3, input: 3, hidden: 6, lens: [5, 5, 5], initial: true, attrs: { linear_before_reset: int(1) } });
  });

  it("LSTM peepholes and input_forget", async () => {
    for (const direction of DIRECTIONS) {
      await expectVariants({ op: "LSTM", direction, seq: 5, batch: 3, input: 4, hidden: 9, peepholes: true, initial: true });
      await expectVariants({ op: "LSTM", direction, seq: 5, batch: 2, input: 4, hidden: 6, peepholes: true, attrs: { input_forget: int(1) } });
    }
    await expectVariants({ op: "LSTM", seq: 5, batch: 3, input: 4, hidden: 9, peepholes: true, lens: [5, 0, 3], initial: true });
  });

  it("clip", async () => {
    // weights of 3 push pre-activations past the bound
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      await expectVariants({ op, direction: "bidirectional", seq: 4, batch: 2, input: 5, hidden: 7, scale: 3, attrs: { clip: { type: "float", value: 0.8 } } });
    }
    await expectVariants({ op: "GRU", seq: 4, batch: 2, input: 5, hidden: 7, scale: 3, attrs: { clip: { type: "float", value: 1.5 }, linear_before_reset: int(1) } });
    await expectVariants({ op: "LSTM", seq: 4, batch: 2, input: 5, hidden: 7, scale: 3, peepholes: true, attrs: { clip: { type: "float", value: 1.5 } } });
  });

  it("every activation function, with its alpha and beta", async () => {
    // alphas and betas are given wherever a function reads them (onnxruntime's defaults depart from the spec's for ThresholdedRelu, Affine, ScaledTanh)
    const sets: { acts: string[]; alpha?: number[]; beta?: number[] }[] = [
      { acts: ["Relu"] }, { acts: ["Sigmoid"] }, { acts: ["Softsign"] }, { acts: ["Softplus"] },
      { acts: ["LeakyRelu"], alpha: [0.2] }, { acts: ["ThresholdedRelu"], alpha: [0.1] }, { acts: ["Elu"], alpha: [0.7] },
      { acts: ["Affine"], alpha: [0.5], beta: [0.1] }, { acts: ["ScaledTanh"], alpha: [1.3], beta: [0.8] }, { acts: ["HardSigmoid"], alpha: [0.3], beta: [0.4] },
    ];
    for (const s of sets) {
      const attrs = (acts: string[]): Record<string, Attr> => ({
        activations: strs(...acts),
        ...(s.alpha ? { activation_alpha: floats(...acts.flatMap(() => s.alpha!)) } : {}),
        ...(s.beta ? { activation_beta: floats(...acts.flatMap(() => s.beta!)) } : {}),
      });
      await expectVariants({ op: "RNN", direction: "bidirectional", seq: 4, batch: 2, input: 3, hidden: 6, attrs: attrs([s.acts[0], s.acts[0]]) });
    }
    // per-gate activations of GRU and LSTM, alphas and betas consumed in order
    await expectVariants({ op: "GRU", direction: "bidirectional", seq: 4, batch: 2, input: 3, hidden: 5, attrs: {
      activations: strs("HardSigmoid", "Softsign", "Sigmoid", "LeakyRelu"), activation_alpha: floats(0.25, 0.05), activation_beta: floats(0.45) } });
    await expectVariants({ op: "LSTM", seq: 4, batch: 2, input: 3, hidden: 5, attrs: {
      activations: strs("HardSigmoid", "Elu", "ScaledTanh"), activation_alpha: floats(0.3, 0.9, 1.1), activation_beta: floats(0.5, 0.7) } });
    await expectVariants({ op: "LSTM", direction: "reverse", seq: 4, batch: 2, input: 3, hidden: 5, attrs: { activations: strs("sigmoid", "softplus", "relu") } });
  });

  it("layout 1 (batch first), against onnxruntime's layout 0 on the transposed tensors (it refuses layout 1)", async () => {
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      await expectBatchFirst({ op, direction: "bidirectional", seq: 5, batch: 3, input: 4, hidden: 6, initial: true, lens: [5, 2, 4] });
      await expectBatchFirst({ op, seq: 1, batch: 2, input: 3, hidden: 5, initial: true });
      await expectBatchFirst({ op, direction: "reverse", seq: 7, batch: 2, input: 3, hidden: 9, peepholes: true });
    }
  });

  it("long sequences (200 steps)", async () => {
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      await expectVariants({ op, direction: "bidirectional", seq: 200, batch: 2, input: 8, hidden: 21, scale: 0.3, lens: [200, 137] }, { rtol: 1e-3, atol: 1e-5 });
    }
  });

  it("any subset of the outputs", async () => {
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      const n = op === "LSTM" ? 3 : 2;
      for (let mask = 1; mask < 1 << n; mask++) {
        const outputs = Array.from({ length: n }, (_, k) => ((mask >> k) & 1) === 1);
        await expectVariants({ op, direction: "bidirectional", seq: 4, batch: 3, input: 3, hidden: 5, lens: [4, 1, 3], initial: true, outputs });
      }
    }
  });

  it("float64, against onnxruntime's float32 on the same values (its CPU kernels take float32 only)", async () => {
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      await expectCase({ op, direction: "bidirectional", seq: 6, batch: 3, input: 4, hidden: 7, dtype: "float64", lens: [6, 3, 1], initial: true, peepholes: op === "LSTM" }, { refType: "float32", variant: "direct" });
    }
  });

  it("the relaxed-SIMD build (f32x4.relaxed_madd in the projection GEMM)", async () => {
    // Node 20 validates relaxed SIMD only under this V8 flag (test/relaxed.test.ts checks the detection
    // itself); it is turned off again after, so the other tests keep running the baseline build
    v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
    relaxedSimdSupported(true);
    try {
      for (const op of ["RNN", "GRU", "LSTM"] as const) {
        for (const [constant, variant] of [[true, "packed"], [false, "packed-runtime"]] as const) {
          await expectCase({ op, direction: "bidirectional", seq: 30, batch: 2, input: 5, hidden: 11, lens: [30, 17], initial: true, peepholes: op === "LSTM", constant }, { simd: "relaxed", variant });
        }
      }
    } finally {
      v8.setFlagsFromString("--no-experimental-wasm-relaxed-simd");
      relaxedSimdSupported(true);
    }
  });

  it("float16 against onnxruntime's float32 on the same values (widened: the float32 packed kernel)", async () => {
    const tolerance = { rtol: 1e-2, atol: 3e-3 };
    for (const op of ["RNN", "GRU", "LSTM"] as const) {
      await expectCase({ op, direction: "bidirectional", seq: 5, batch: 2, input: 4, hidden: 6, dtype: "float16", lens: [5, 2], initial: true }, { refType: "float32", tolerance, variant: "packed" });
    }
  });
});

describe("recurrent layers in a graph", () => {
  it("two stacked LSTMs (bidirectional, then forward) with a Transpose and Reshape between, at -O0 and -O2", async () => {
    const g = new Graph();
    g.opsets.set("", 17);
    const [S, B, I, H1, H2] = [9, 2, 5, 6, 7];
    const weight = (name: string, dims: number[], seed: number) => {
      const t = tensor({ dims, lo: -0.5, hi: 0.5 }, seed);
      Object.assign(g.value(name), { dtype: "float32", shape: dims, const: t });
    };
    weight("W1", [2, 4 * H1, I], 1); weight("R1", [2, 4 * H1, H1], 2); weight("B1", [2, 8 * H1], 3);
    weight("W2", [1, 4 * H2, 2 * H1], 4); weight("R2", [1, 4 * H2, H2], 5); weight("B2", [1, 8 * H2], 6);
    Object.assign(g.value("shape"), { dtype: "int64", shape: [3], const: { dtype: "int64", dims: [3], data: BigInt64Array.from([BigInt(S), BigInt(B), BigInt(2 * H1)]) } });
    Object.assign(g.value("X"), { dtype: "float32", shape: [S, B, I] });
    g.inputs = ["X"];
    const hs = (v: number): Attr => int(v);
    g.addNode({ name: "l1", op: "LSTM", domain: "", inputs: ["X", "W1", "R1", "B1"], outputs: ["Y1", "", ""], attrs: { hidden_size: hs(H1), direction: str("bidirectional") } });
    g.addNode({ name: "t", op: "Transpose", domain: "", inputs: ["Y1"], outputs: ["T1"], attrs: { perm: { type: "ints", value: [0, 2, 1, 3] } } });
    g.addNode({ name: "r", op: "Reshape", domain: "", inputs: ["T1", "shape"], outputs: ["X2"], attrs: {} });
    g.addNode({ name: "l2", op: "LSTM", domain: "", inputs: ["X2", "W2", "R2", "B2"], outputs: ["Y2", "H2", "C2"], attrs: { hidden_size: hs(H2) } });
    g.outputs = ["Y2", "H2", "C2"];
    const bytes = exportModel(g, { valueInfo: false });
    const feeds = { X: tensor({ dims: [S, B, I] }, 7) };
    const want = await runOrt(bytes, feeds);
    for (const level of [0, 2] as const) {
      const got = await (await load(bytes, { level, cache: false, shapes: { X: [S, B, I] } })).run({ X: { data: feeds.X.data, dims: feeds.X.dims } });
      for (const o of g.outputs) expect(compareTensors(got[o], want[o], TOL).message ?? "ok", `-O${level} ${o}`).toBe("ok");
    }
  });
});

describe("recurrent layers: bad models get typed errors", () => {
  async function errorOf(c: Case, patch: (b: Built) => Promise<unknown>): Promise<KilnError> {
    try {
      await patch(build(c));
    } catch (e) {
      expect(e).toBeInstanceOf(KilnError);
      return e as KilnError;
    }
    throw new Error("expected a KilnError");
  }
  const compileIt = (b: Built) => runKiln(b);

  it("names the node and what is wrong", async () => {
    const bad = await errorOf({ op: "LSTM", seq: 3, batch: 2, input: 4, hidden: 5, attrs: { activations: strs("Sigmoid", "Tanh") } }, compileIt);
    expect(bad.code).toBe("INVALID_MODEL");
    expect(bad.message).toMatch(/LSTM takes 3 activations/);
    expect(bad.message).toMatch(/node "node"/);
    const unknown = await errorOf({ op: "RNN", seq: 3, batch: 2, input: 4, hidden: 5, attrs: { activations: strs("Gelu") } }, compileIt);
    expect(unknown.code).toBe("INVALID_MODEL");
    expect(unknown.message).toMatch(/activation "Gelu" is not one of/);
    const size = await errorOf({ op: "GRU", seq: 3, batch: 2, input: 4, hidden: 5, attrs: { hidden_size: int(6) } }, compileIt);
    expect(size.code).toBe("INVALID_MODEL");
    expect(size.message).toMatch(/W must be \[1,18,4\]/);
    const lens = await errorOf({ op: "GRU", seq: 3, batch: 2, input: 4, hidden: 5, lens: [3, 4] }, (b) => load(b.bytes, { freeze: { in4: b.feeds.in4 }, shapes: { in0: b.feeds.in0.dims } }).then((m) => m.run({ in0: b.feeds.in0 })));
    expect(lens.code).toBe("INVALID_MODEL");
    expect(lens.message).toMatch(/sequence_lens holds 4, outside 0..3/);
  });
});

describe("recurrent layers over a symbolic sequence length", () => {
  // X [seq, batch, input] and Y [seq, dirs, batch, hidden] in the prefix form: one module at seq
  // 1..MAX runs each length, the projection over its rows and its steps only (arena poisoned between
  // runs), as onnxruntime-node runs the same model with that length
  const MAX = 19;
  const symbolic = (c: Case) => {
    const b = build({ ...c, seq: MAX });
    const g = importOnnx(b.bytes);
    const x = g.values.get(g.inputs[0])!;
    x.shape = ["seq", ...x.shape!.slice(1)];
    for (const o of b.outputs) g.values.get(o)!.shape = undefined;
    return { bytes: exportModel(g, { valueInfo: false }), feeds: b.feeds, outputs: b.outputs };
  };
  const cases: Case[] = [
    { op: "LSTM", seq: MAX, batch: 3, input: 5, hidden: 7, direction: "bidirectional", initial: true, peepholes: true },
    { op: "GRU", seq: MAX, batch: 2, input: 4, hidden: 9, direction: "reverse", attrs: { linear_before_reset: int(1) } },
    { op: "RNN", seq: MAX, batch: 1, input: 3, hidden: 6, lens: [MAX] },
  ];
  for (const c of cases) {
    it(`${c.op} ${c.direction ?? "forward"}: lengths 1, 2, 8 and ${MAX} in one module`, async () => {
      const s = symbolic(c);
      const model = await load(s.bytes, { shapes: { seq: [1, MAX] }, cache: false });
      expect(model.session!.manifest.layers.find((l) => l.name === "node")!.kernel).toBe("packed");
      const poison = poisoner(model, Object.fromEntries(Object.entries(s.feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
      for (const n of [8, 1, MAX, 2]) {
        const x = s.feeds.in0;
        const rowElems = x.dims[1] * x.dims[2];
        const feeds: Record<string, Tensor> = { ...s.feeds, in0: { ...x, dims: [n, x.dims[1], x.dims[2]], data: (x.data as Float32Array).slice(0, n * rowElems) } };
        if (c.lens) feeds.in4 = { ...feeds.in4, data: Int32Array.from(c.lens, (l) => Math.min(l, n)) };
        poison();
        const got = await model.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
        const want = await runOrt(s.bytes, feeds);
        for (const o of s.outputs) {
          expect(got[o].dims, `${o} at ${n}`).toEqual(want[o].dims);
          expect(compareTensors(got[o], want[o], TOL).message ?? "ok", `${o} at ${n}`).toBe("ok");
        }
      }
      expect(model.modulesCompiled).toBe(1);
    });
  }

  it("a length of 0 within the bounds ends in a zero state (as sequence_lens 0 does)", async () => {
    const s = symbolic(cases[0]);
    const model = await load(s.bytes, { shapes: { seq: [0, MAX] }, cache: false });
    const x = s.feeds.in0;
    const got = await model.run(Object.fromEntries(Object.entries(s.feeds).map(([k, t]) => [k, k === "in0" ? { data: new Float32Array(0), dims: [0, x.dims[1], x.dims[2]] } : { data: t.data, dims: t.dims }])));
    expect(got.out0.dims).toEqual([0, 2, 3, 7]);
    for (const o of ["out1", "out2"]) expect(Array.from(got[o].data as Float32Array).every((v) => v === 0), o).toBe(true);
    // and a run of length 3 after it is onnxruntime's
    const feeds: Record<string, Tensor> = { ...s.feeds, in0: { ...x, dims: [3, x.dims[1], x.dims[2]], data: (x.data as Float32Array).slice(0, 3 * x.dims[1] * x.dims[2]) } };
    const again = await model.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
    const want = await runOrt(s.bytes, feeds);
    for (const o of s.outputs) expect(compareTensors(again[o], want[o], TOL).message ?? "ok", o).toBe("ok");
  });

  it("a varying batch, alone and with the length (the padded layout; sequence_lens and initial states per row): each shape as onnxruntime-node", async () => {
    const MAXB = 4;
    const c: Case = { op: "LSTM", seq: MAX, batch: MAXB, input: 5, hidden: 7, direction: "bidirectional", initial: true, lens: [MAX, 3, MAX - 2, 1] };
    const b = build(c);
    const g = importOnnx(b.bytes);
    const named = (name: string, dims: (number | string)[]) => { g.values.get(name)!.shape = dims; };
    named("in0", ["seq", "batch", 5]);
    named("in4", ["batch"]);
    for (const i of ["in5", "in6"]) named(i, [2, "batch", 7]);
    for (const o of b.outputs) g.values.get(o)!.shape = undefined;
    const bytes = exportModel(g, { valueInfo: false });
    // the first n blocks of t (each MAXB rows of `inner` elements), each cut to `batch` rows
    const rowsOf = (t: Tensor, n: number, batch: number, inner: number) => {
      const src = t.data as Float32Array;
      const out = new Float32Array(n * batch * inner);
      for (let o = 0; o < n; o++) out.set(src.subarray(o * MAXB * inner, o * MAXB * inner + batch * inner), o * batch * inner);
      return out;
    };
    for (const shapes of [{ seq: MAX, batch: [1, MAXB] }, { seq: [1, MAX], batch: [1, MAXB] }] as const) {
      const model = await load(bytes, { shapes: shapes as never, cache: false });
      const poison = poisoner(model, Object.fromEntries(Object.entries(b.feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
      for (const [n, batch] of shapes.seq === MAX ? [[MAX, 1], [MAX, 3], [MAX, MAXB]] : [[7, 2], [1, 1], [MAX, MAXB], [2, 3]]) {
        const feeds: Record<string, Tensor> = {
          in0: { dtype: "float32", dims: [n, batch, 5], data: rowsOf(b.feeds.in0, n, batch, 5) },
          in4: { dtype: "int32", dims: [batch], data: Int32Array.from(c.lens!.slice(0, batch), (l) => Math.min(l, n)) },
          in5: { dtype: "float32", dims: [2, batch, 7], data: rowsOf(b.feeds.in5, 2, batch, 7) },
          in6: { dtype: "float32", dims: [2, batch, 7], data: rowsOf(b.feeds.in6, 2, batch, 7) },
        };
        poison();
        const got = await model.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
        const want = await runOrt(bytes, feeds);
        for (const o of b.outputs) {
          expect(got[o].dims, `${o} at seq ${n} batch ${batch}`).toEqual(want[o].dims);
          expect(compareTensors(got[o], want[o], TOL).message ?? "ok", `${o} at seq ${n} batch ${batch}`).toBe("ok");
        }
      }
      expect(model.modulesCompiled).toBe(1);
    }
  });
});
