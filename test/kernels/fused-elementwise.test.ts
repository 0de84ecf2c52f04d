// Fused elementwise models vs onnxruntime: small multi-op graphs written as IR text, exported to
// ONNX, run by onnxruntime-node and by kiln at -O2 (where fuse runs), compared; each case also
// checks that the fusion it is about really happened (the compiled layers name the fused op).
import { describe, expect, it } from "vitest";
import { load } from "../../compiler/driver/api.js";
import { parseGraph } from "../../compiler/ir/parse.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { compareTensors } from "../../compiler/driver/testdata.js";
import type { DTypeName } from "../../runtime/dtypes.js";
import type { Graph, Tensor } from "../../compiler/ir/graph.js";
import { optimizeGraph, prepareGraph } from "../../compiler/driver/compile.js";
import { recognizePatterns } from "../../passes/fuse-patterns.js";
import { runOrt, tensor } from "../util/ort.js";

interface Case {
  ir: string;
  /** input ranges by name (default [-1, 1)) */
  ranges?: Record<string, [number, number]>;
  /** explicit input data by name */
  data?: Record<string, number[]>;
  opset?: number;
  /** ops the compiled layers must include (e.g. "Mul_Add_Tanh") */
  layers: string[];
}

export async function expectModelMatchesOrt(c: Case): Promise<void> {
  const g = parseGraph(`kiln.graph opsets("" = ${c.opset ?? 17})\n` + c.ir);
  const feeds: Record<string, Tensor> = {};
  g.inputs.forEach((name, k) => {
    const v = g.values.get(name)!;
    const [lo, hi] = c.ranges?.[name] ?? [-1, 1];
    feeds[name] = tensor({ dtype: v.dtype as DTypeName, dims: v.shape as number[], lo, hi, data: c.data?.[name] }, 7 + k);
  });
  const bytes = exportModel(g, { valueInfo: false });
  const want = await runOrt(bytes, feeds);
  const model = await load(bytes, { shapes: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dims])) });
  const got = await model.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
  for (const o of g.outputs) {
    expect(compareTensors(got[o], want[o], { rtol: 1e-4, atol: 1e-5 }).message ?? "ok", `output ${o}`).toBe("ok");
  }
  const ops = model.session!.manifest.layers.map((l) => l.op);
  for (const op of c.layers) expect(ops, `layers ${ops.join(", ")}`).toContain(op);
}

describe("fused elementwise kernel", () => {
  for (const n of [1, 3, 5, 7, 8, 37]) {
    it(`Mul+Add+Tanh on [2,${n}] with a broadcast row`, () => expectModelMatchesOrt({
      ir: `
input %x : float32[2,${n}]
input %b : float32[${n}]
%m : float32[2,${n}] = Mul(%x, %x) {name="m"}
%a : float32[2,${n}] = Add(%m, %b) {name="a"}
%t : float32[2,${n}] = Tanh(%a) {name="t"}
output %t`,
      layers: ["Mul_Add_Tanh"],
    }));
  }

  it("broadcasts a column, a scalar constant and a row into one loop", () => expectModelMatchesOrt({
    ir: `
input %x : float32[3,5,6]
input %col : float32[5,1]
const %k : float32[] = dense<[0.5]>
input %row : float32[1,6]
%a : float32[3,5,6] = Sub(%x, %col) {name="a"}
%b : float32[3,5,6] = Mul(%a, %k) {name="b"}
%c : float32[3,5,6] = Div(%b, %row) {name="c"}
%d : float32[3,5,6] = Sigmoid(%c) {name="d"}
output %d`,
    ranges: { row: [0.5, 2] },
    layers: ["Sub_Mul_Div_Sigmoid"],
  }));

  // HardSwish as exporters write it (paddle2onnx, older PyTorch): x * Clip(x + 3, 0, 6) / 6, a diamond
  // on x; Clip's bounds are attributes before opset 11 and constant inputs from 11 on
  const hardSwishData = [-8, -3.5, -3, -2.9, -1, -0, 0, 0.5, 2.9, 3, 3.1, 8, NaN, Infinity, -Infinity, 1e-40, 6, -6];
  it("HardSwish decomposed with Clip attributes (opset 9) is one loop", () => expectModelMatchesOrt({
    opset: 9,
    ir: `
input %x : float32[18]
const %three : float32[] = dense<[3]>
const %six : float32[] = dense<[6]>
%a : float32[18] = Add(%x, %three) {name="a"}
%c : float32[18] = Clip(%a) {name="c", min=0.0, max=6.0}
%m : float32[18] = Mul(%x, %c) {name="m"}
%y : float32[18] = Div(%m, %six) {name="y"}
output %y`,
    data: { x: hardSwishData },
    layers: ["Add_Clip_Mul_Div"],
  }));
  for (const opset of [11, 13]) {
    it(`HardSwish decomposed with Clip bound inputs (opset ${opset}) is one loop`, () => expectModelMatchesOrt({
      opset,
      ir: `
input %x : float32[3,18]
const %three : float32[] = dense<[3]>
const %zero : float32[] = dense<[0]>
const %six : float32[] = dense<[6]>
%a : float32[3,18] = Add(%three, %x) {name="a"}
%c : float32[3,18] = Clip(%a, %zero, %six) {name="c"}
%m : float32[3,18] = Mul(%c, %x) {name="m"}
%y : float32[3,18] = Div(%m, %six) {name="y"}
output %y`,
      data: { x: [...hardSwishData, ...hardSwishData.map((v) => v / 2), ...hardSwishData.map((v) => v * 3)] },
      layers: ["Add_Clip_Mul_Div"],
    }));
  }
  it("Clip with one bound input only (no max) in a loop", () => expectModelMatchesOrt({
    opset: 13,
    ir: `
input %x : float32[2,7]
const %lo : float32[] = dense<[-0.25]>
%a : float32[2,7] = Mul(%x, %x) {name="a"}
%c : float32[2,7] = Clip(%x, %lo) {name="c"}
%y : float32[2,7] = Sub(%a, %c) {name="y"}
output %y`,
    layers: ["Mul_Clip_Sub"],
  }));

  it("Where with a comparison condition, scalar-only ops (Atan) and NaN/inf edge values", () => expectModelMatchesOrt({
    ir: `
input %x : float32[11]
input %y : float32[11]
%c : bool[11] = Greater(%x, %y) {name="c"}
%e : float32[11] = Exp(%x) {name="e"}
%s : float32[11] = Atan(%y) {name="s"}
%w : float32[11] = Where(%c, %e, %s) {name="w"}
%r : float32[11] = Relu(%w) {name="r"}
output %r`,
    data: { x: [0, -1, 2, NaN, Infinity, -Infinity, 100, -100, 0.5, 3, -0], y: [1, -2, 2, 0, 1, NaN, 50, -50, 0.25, -3, 0] },
    layers: ["Greater_Exp_Atan_Where_Relu"],
  }));

  it("variadic and attribute-carrying ops (Sum, Max, LeakyRelu, Gelu) keep their attributes", () => expectModelMatchesOrt({
    ir: `
input %x : float32[4,9]
input %y : float32[9]
input %z : float32[4,1]
%s : float32[4,9] = Sum(%x, %y, %z) {name="s"}
%l : float32[4,9] = LeakyRelu[alpha=0.3](%s) {name="l"}
%m : float32[4,9] = Max(%l, %y) {name="m"}
%g : float32[4,9] = Gelu[approximate="tanh"](%m) {name="g"}
output %g`,
    opset: 20,
    layers: ["Sum_LeakyRelu_Max_Gelu"],
  }));

  it("float64 chains fuse (scalar loop)", () => expectModelMatchesOrt({
    ir: `
input %x : float64[3,7]
input %y : float64[7]
%a : float64[3,7] = Mul(%x, %y) {name="a"}
%b : float64[3,7] = Exp(%a) {name="b"}
%c : float64[3,7] = Sub(%b, %x) {name="c"}
output %c`,
    layers: ["Mul_Exp_Sub"],
  }));

  it("an intermediate read outside stays materialized and the rest still fuses", () => expectModelMatchesOrt({
    ir: `
input %x : float32[2,13]
%a : float32[2,13] = Neg(%x) {name="a"}
%b : float32[2,13] = Exp(%a) {name="b"}
%c : float32[2,13] = Sin(%b) {name="c"}
%d : float32[2,13] = Cos(%b) {name="d"}
%e : float32[2,13] = Add(%c, %d) {name="e"}
%f : float32[2,13] = Abs(%e) {name="f"}
output %f
output %b`,
    layers: ["Neg_Exp", "Sin_Cos_Add_Abs"],
  }));

  it("Pow joins the loop (scalar): constant and run-time exponents, negative bases", () => expectModelMatchesOrt({
    ir: `
input %x : float32[3,5]
input %e : float32[5]
const %three : float32[] = dense<[3]>
%c : float32[3,5] = Pow(%x, %three) {name="c"}
%s : float32[3,5] = Add(%x, %c) {name="s"}
%p : float32[3,5] = Pow(%s, %e) {name="p"}
%t : float32[3,5] = Tanh(%p) {name="t"}
output %t`,
    data: { e: [2, 0.5, -1, 0, 3] },
    ranges: { x: [-2, 2] },
    layers: ["Pow_Add_Pow_Tanh"],
  }));

  it("Pow by a constant 3 joins the loop with its SIMD form (GELU's tanh form where the graph's opset keeps it from becoming Gelu)", () => expectModelMatchesOrt({
    ir: `
input %x : float32[4,37]
const %three : float32[] = dense<[3]>
const %c : float32[] = dense<[0.044715]>
const %k : float32[] = dense<[0.7978846]>
const %one : float32[] = dense<[1]>
%p : float32[4,37] = Pow(%x, %three) {name="p"}
%m : float32[4,37] = Mul(%p, %c) {name="m"}
%a : float32[4,37] = Add(%x, %m) {name="a"}
%s : float32[4,37] = Mul(%a, %k) {name="s"}
%t : float32[4,37] = Tanh(%s) {name="t"}
%o : float32[4,37] = Add(%t, %one) {name="o"}
%y : float32[4,37] = Mul(%x, %o) {name="y"}
output %y`,
    ranges: { x: [-5, 5] },
    layers: ["Pow_Mul_Add_Mul_Tanh_Add_Mul"],
  }));

  it("Pow by a constant 2 or 3 is the products onnxruntime computes, bit for bit (x^3 rounded after each product), alone and fused", async () => {
    for (const level of [0, 2] as const) {
      const g = parseGraph(`kiln.graph opsets("" = 17)
input %x : float32[4099]
const %two : float32[] = dense<[2]>
const %three : float32[1] = dense<[3]>
%sq : float32[4099] = Pow(%x, %two) {name="sq"}
%cube : float32[4099] = Pow(%x, %three) {name="cube"}
%n : float32[4099] = Neg(%cube) {name="n"}
output %sq
output %n`);
      const x = tensor({ dtype: "float32", dims: [4099], lo: -7, hi: 7 }, 3);
      const bytes = exportModel(g, { valueInfo: false });
      const want = await runOrt(bytes, { x });
      const got = await (await load(bytes, { level })).run({ x: { data: x.data, dims: x.dims } });
      for (const o of ["sq", "n"]) expect(compareTensors(got[o], want[o], { rtol: 0, atol: 0 }).message ?? "ok", `${o} -O${level}`).toBe("ok");
    }
  });

  it("Cast between float types joins the loop (float16 in, float64 math, float32 out)", () => expectModelMatchesOrt({
    ir: `
input %x : float16[3,6]
input %y : float64[6]
%a : float32[3,6] = Cast[to=1](%x) {name="a"}
%b : float64[3,6] = Cast[to=11](%a) {name="b"}
%c : float64[3,6] = Mul(%b, %y) {name="c"}
%d : float32[3,6] = Cast[to=1](%c) {name="d"}
%e : float32[3,6] = Exp(%d) {name="e"}
output %e`,
    ranges: { x: [-3, 3] },
    layers: ["Cast_Cast_Mul_Cast_Exp"],
  }));

  it("empty tensors", () => expectModelMatchesOrt({
    ir: `
input %x : float32[0,4]
input %y : float32[4]
%a : float32[0,4] = Add(%x, %y) {name="a"}
%b : float32[0,4] = Relu(%a) {name="b"}
output %b`,
    layers: [],
  }));
});

describe("scaled-softmax kernel", () => {
  for (const [dims, axis, op, c] of [
    [[3, 5, 7], -1, "Div", "8"], [[2, 9], 1, "Mul", "0.125"], [[3, 5, 7], 1, "Mul", "-2.5"], [[1, 1, 3], -1, "Div", "0.5"], [[4, 33], -1, "Mul", "30"],
  ] as const) {
    const shape = `float32[${dims.join(",")}]`;
    const scaled = op === "Mul" ? `Mul(%c, %x)` : `Div(%x, %c)`;
    it(`Softmax[axis=${axis}](${scaled}) on [${dims}], c = ${c}`, () => expectModelMatchesOrt({
      ir: `
input %x : ${shape}
const %c : float32[] = dense<[${c}]>
%s : ${shape} = ${scaled} {name="s"}
%y : ${shape} = Softmax[axis=${axis}](%s) {name="y"}
output %y`,
      ranges: { x: [-4, 4] },
      layers: [`${op}_Softmax`],
    }));
  }

  it("float64 and -inf inputs", () => expectModelMatchesOrt({
    ir: `
input %x : float64[2,6]
const %c : float64[] = dense<[4]>
%s : float64[2,6] = Div(%x, %c) {name="s"}
%y : float64[2,6] = Softmax(%s) {name="y"}
output %y`,
    data: { x: [1, 2, 3, -Infinity, 5, 6, -1, -2, 100, 0, 0, 1] },
    layers: ["Div_Softmax"],
  }));
});

/** A decomposed LayerNorm of %in over the last axis of [2,7,16], as PyTorch exports it at opset 13. */
const layerNormIR = (p: string, input: string, square: string) => `
%${p}mu : float32[2,7,1] = ReduceMean[axes=[-1]](%${input}) {name="${p}mean"}
%${p}d : float32[2,7,16] = Sub(%${input}, %${p}mu) {name="${p}sub"}
${square.replaceAll("$", p)}
%${p}var : float32[2,7,1] = ReduceMean[axes=[-1]](%${p}sq) {name="${p}var"}
%${p}ve : float32[2,7,1] = Add(%${p}var, %eps) {name="${p}addeps"}
%${p}sd : float32[2,7,1] = Sqrt(%${p}ve) {name="${p}sqrt"}
%${p}n : float32[2,7,16] = Div(%${p}d, %${p}sd) {name="${p}div"}
%${p}s : float32[2,7,16] = Mul(%${p}n, %${p}gamma) {name="${p}gamma"}
%${p}out : float32[2,7,16] = Add(%${p}s, %${p}beta) {name="${p}beta"}`;

/** One MiniLM-like encoder block: LN, single-head attention with a scaled Softmax, residual, LN, GELU MLP, residual. */
const MINI_LM = `
input %x : float32[2,7,16]
const %l1gamma : float32[16] = splat<0>
const %l1beta : float32[16] = splat<0>
const %l2gamma : float32[16] = splat<0>
const %l2beta : float32[16] = splat<0>
const %wq : float32[16,16] = splat<0>
const %wk : float32[16,16] = splat<0>
const %wv : float32[16,16] = splat<0>
const %w1 : float32[16,24] = splat<0>
const %b1 : float32[24] = splat<0>
const %w2 : float32[24,16] = splat<0>
const %two : float32[] = dense<[2]>
const %eps : float32[] = dense<[1e-12]>
const %scale : float32[] = dense<[4]>
const %sqrt2 : float32[] = dense<[1.4142135]>
const %one : float32[] = dense<[1]>
const %half : float32[] = dense<[0.5]>
${layerNormIR("l1", "x", `%$sq : float32[2,7,16] = Pow(%$d, %two) {name="$pow"}`)}
%q : float32[2,7,16] = MatMul(%l1out, %wq) {name="q"}
%k : float32[2,7,16] = MatMul(%l1out, %wk) {name="k"}
%v : float32[2,7,16] = MatMul(%l1out, %wv) {name="v"}
%kt : float32[2,16,7] = Transpose[perm=[0, 2, 1]](%k) {name="kt"}
%sc : float32[2,7,7] = MatMul(%q, %kt) {name="scores"}
%ss : float32[2,7,7] = Div(%sc, %scale) {name="scaled"}
%p : float32[2,7,7] = Softmax[axis=-1](%ss) {name="softmax"}
%a : float32[2,7,16] = MatMul(%p, %v) {name="attn"}
%r : float32[2,7,16] = Add(%a, %x) {name="residual1"}
${layerNormIR("l2", "r", `%$sq : float32[2,7,16] = Mul(%$d, %$d) {name="$square"}`)}
%f : float32[2,7,24] = MatMul(%l2out, %w1) {name="fc1"}
%fb : float32[2,7,24] = Add(%f, %b1) {name="fc1bias"}
%gd : float32[2,7,24] = Div(%fb, %sqrt2) {name="gdiv"}
%ge : float32[2,7,24] = Erf(%gd) {name="gerf"}
%ga : float32[2,7,24] = Add(%ge, %one) {name="gadd"}
%gh : float32[2,7,24] = Mul(%fb, %half) {name="ghalf"}
%g : float32[2,7,24] = Mul(%gh, %ga) {name="gelu"}
%o : float32[2,7,16] = MatMul(%g, %w2) {name="fc2"}
%y : float32[2,7,16] = Add(%o, %r) {name="residual2"}
output %y`;

function miniLm(): Graph {
  const g = parseGraph(`kiln.graph opsets("" = 13)\n` + MINI_LM);
  let seed = 100;
  for (const v of g.values.values()) {
    if (!v.const || v.const.dims.length === 0) continue;
    const gain = v.name.includes("gamma") ? [0.5, 1.5] : [-0.5, 0.5];
    v.const = tensor({ dims: v.const.dims, lo: gain[0], hi: gain[1] }, seed++);
  }
  return g;
}

describe("recognized patterns on a MiniLM-like block", () => {
  it("matches onnxruntime and runs LayerNormalization, Gelu and the scaled Softmax as single kernels", async () => {
    const bytes = exportModel(miniLm(), { valueInfo: false });
    const feeds = { x: tensor({ dims: [2, 7, 16], lo: -2, hi: 2 }, 5) };
    const want = await runOrt(bytes, feeds);
    const model = await load(bytes, { shapes: { x: [2, 7, 16] } });
    const got = await model.run({ x: { data: feeds.x.data, dims: feeds.x.dims } });
    expect(compareTensors(got.y, want.y, { rtol: 1e-4, atol: 1e-4 }).message ?? "ok").toBe("ok");
    const ops = model.session!.manifest.layers.map((l) => l.op);
    expect(ops.filter((o) => o === "LayerNormalization")).toHaveLength(2);
    // Gelu may run alone or in the epilogue of fc1 (fuse-epilogue): either way one op, no erf chain
    expect(ops.filter((o) => o.split("_").includes("Gelu")), ops.join(" ")).toHaveLength(1);
    expect(ops.filter((o) => o.includes("Erf")), ops.join(" ")).toHaveLength(0);
    expect(ops).toContain("Div_Softmax");
    expect(ops).not.toContain("ReduceMean");
  });

  it("LayerNorm over two trailing axes without bias, then the tanh GELU, at opset 13", () => expectModelMatchesOrt({
    ir: `
input %x : float32[3,4,5]
input %gamma : float32[4,5]
const %two : float32[] = dense<[2]>
const %three : float32[] = dense<[3]>
const %eps : float32[] = dense<[0.001]>
const %k : float32[] = dense<[0.7978846]>
const %c : float32[] = dense<[0.044715]>
const %one : float32[] = dense<[1]>
const %half : float32[] = dense<[0.5]>
%mu : float32[3,1,1] = ReduceMean[axes=[1, 2]](%x) {name="mean"}
%d : float32[3,4,5] = Sub(%x, %mu) {name="sub"}
%sq : float32[3,4,5] = Pow(%d, %two) {name="pow"}
%var : float32[3,1,1] = ReduceMean[axes=[-2, -1]](%sq) {name="var"}
%ve : float32[3,1,1] = Add(%eps, %var) {name="addeps"}
%sd : float32[3,1,1] = Sqrt(%ve) {name="sqrt"}
%rs : float32[3,1,1] = Reciprocal(%sd) {name="rcp"}
%n : float32[3,4,5] = Mul(%d, %rs) {name="norm"}
%ln : float32[3,4,5] = Mul(%gamma, %n) {name="ln"}
%x3 : float32[3,4,5] = Pow(%ln, %three) {name="cube"}
%c3 : float32[3,4,5] = Mul(%x3, %c) {name="c3"}
%in : float32[3,4,5] = Add(%ln, %c3) {name="inner"}
%s : float32[3,4,5] = Mul(%k, %in) {name="scale"}
%t : float32[3,4,5] = Tanh(%s) {name="tanh"}
%a : float32[3,4,5] = Add(%t, %one) {name="add"}
%h : float32[3,4,5] = Mul(%ln, %half) {name="half"}
%y : float32[3,4,5] = Mul(%h, %a) {name="gelu"}
output %y`,
    opset: 13,
    ranges: { x: [-3, 3] },
    layers: ["LayerNormalization", "Gelu"],
  }));

  it("the graph after fuse-patterns exports as a model onnxruntime runs (opset raised to 20)", async () => {
    const g = miniLm();
    const feeds = { x: tensor({ dims: [2, 7, 16], lo: -2, hi: 2 }, 6) };
    const want = await runOrt(exportModel(g, { valueInfo: false }), feeds);
    await prepareGraph(g);
    expect(recognizePatterns(g)).toBe(4);
    expect(g.opset("")).toBe(20);
    const got = await runOrt(exportModel(g), feeds);
    expect(compareTensors(got.y, want.y, { rtol: 1e-4, atol: 1e-4 }).message ?? "ok").toBe("ok");
  });

  it("the -O2 graph (fused nodes export as ONNX functions) still runs in onnxruntime", async () => {
    const g = miniLm();
    const feeds = { x: tensor({ dims: [2, 7, 16], lo: -2, hi: 2 }, 8) };
    const want = await runOrt(exportModel(g, { valueInfo: false }), feeds);
    await prepareGraph(g);
    await optimizeGraph(g);
    expect(g.nodeList().some((n) => n.meta?.kind === "scaled-softmax")).toBe(true);
    const got = await runOrt(exportModel(g), feeds);
    expect(compareTensors(got.y, want.y, { rtol: 1e-4, atol: 1e-4 }).message ?? "ok").toBe("ok");
  });
});
