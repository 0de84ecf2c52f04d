// Fused epilogues against onnxruntime-node: small models of an anchor (Conv, ConvTranspose, Gemm,
// MatMul) followed by bias, activation and residual nodes, which kiln must compile to one layer.
import { describe, expect, it } from "vitest";
import { Graph, type Attr } from "../../compiler/ir/graph.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { compile } from "../../compiler/driver/api.js";
import { compareTensors } from "../../compiler/driver/testdata.js";
import { runKiln, runOrt, tensor, type TensorSpec } from "../util/ort.js";

interface Step {
  op: string;
  inputs: string[];
  out: string;
  attrs?: Record<string, Attr>;
}

interface FusedCase {
  values: Record<string, TensorSpec>;
  nodes: Step[];
  /** the fused layer kiln must make, e.g. "Conv_Add_Relu" (or the layers, when a step stays out) */
  fused: string | string[];
  opset?: number;
}

const ints = (...v: number[]): Attr => ({ type: "ints", value: v });
const float = (v: number): Attr => ({ type: "float", value: v });
const int = (v: number): Attr => ({ type: "int", value: v });

async function expectFusedMatchesOrt(c: FusedCase): Promise<void> {
  const g = new Graph();
  g.opsets.set("", c.opset ?? 17);
  const feeds: Record<string, ReturnType<typeof tensor>> = {};
  Object.entries(c.values).forEach(([name, spec], k) => {
    const t = tensor(spec, 100 + k);
    const v = g.value(name);
    v.dtype = t.dtype;
    v.shape = [...t.dims];
    if (spec.constant) v.const = t;
    else { g.inputs.push(name); feeds[name] = t; }
  });
  c.nodes.forEach((n, k) => g.addNode({ name: `n${k}`, op: n.op, domain: "", inputs: n.inputs, outputs: [n.out], attrs: n.attrs ?? {} }));
  const out = c.nodes[c.nodes.length - 1].out;
  g.outputs = [out];
  const bytes = exportModel(g, { valueInfo: false });
  const { manifest } = await compile(bytes, { shapes: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dims])) });
  expect(manifest.layers.map((l) => l.op)).toEqual(Array.isArray(c.fused) ? c.fused : [c.fused]);
  const want = await runOrt(bytes, feeds);
  const got = await runKiln(bytes, feeds);
  const cmp = compareTensors(got[out], want[out], { rtol: 1e-4, atol: 1e-5 });
  expect(cmp.message ?? "ok").toBe("ok");
}

const x = (...dims: number[]): TensorSpec => ({ dims });
const k = (...dims: number[]): TensorSpec => ({ dims, constant: true });

describe("fused epilogues vs onnxruntime", () => {
  it("Conv (own bias) + channel bias + Relu, 5 output channels, odd spatial size", () => expectFusedMatchesOrt({
    values: { x: x(1, 3, 7, 7), w: k(5, 3, 3, 3), b: k(5), b2: k(1, 5, 1, 1) },
    nodes: [
      { op: "Conv", inputs: ["x", "w", "b"], out: "c", attrs: { pads: ints(1, 1, 1, 1) } },
      { op: "Add", inputs: ["b2", "c"], out: "d" },
      { op: "Relu", inputs: ["d"], out: "y" },
    ],
    fused: "Conv_Add_Relu",
  }));

  it("Conv in blocks of 4 channels, stride 2, bias + Add(residual) + Relu", () => expectFusedMatchesOrt({
    values: { x: x(2, 3, 11, 13), w: k(8, 3, 3, 3), b: k(8, 1, 1), r: x(2, 8, 6, 7) },
    nodes: [
      { op: "Conv", inputs: ["x", "w"], out: "c", attrs: { pads: ints(1, 1, 1, 1), strides: ints(2, 2) } },
      { op: "Add", inputs: ["c", "b"], out: "d" },
      { op: "Add", inputs: ["d", "r"], out: "e" },
      { op: "Relu", inputs: ["e"], out: "y" },
    ],
    fused: "Conv_Add_Add_Relu",
  }));

  it("1x1 Conv (GEMM path) + Relu, then a residual Sum after the activation", () => expectFusedMatchesOrt({
    values: { x: x(1, 6, 5, 5), w: k(7, 6, 1, 1), b: k(7), r: x(1, 7, 5, 5) },
    nodes: [
      { op: "Conv", inputs: ["x", "w", "b"], out: "c" },
      { op: "Relu", inputs: ["c"], out: "d" },
      { op: "Sum", inputs: ["r", "d"], out: "y" },
    ],
    fused: "Conv_Relu_Sum",
  }));

  it("few positions (GEMM over positions, transposed store): 1x1 and strided 3x3 with bias + residual Add + Relu, batch 2", async () => {
    // 7x7 and 5x5 images with >= 16 output channels take conv/small.ts's positionsGemm
    await expectFusedMatchesOrt({
      values: { x: x(2, 40, 7, 7), w: k(37, 40, 1, 1), b: k(37), r: x(2, 37, 7, 7) },
      nodes: [
        { op: "Conv", inputs: ["x", "w", "b"], out: "c" },
        { op: "Add", inputs: ["c", "r"], out: "d" },
        { op: "Relu", inputs: ["d"], out: "y" },
      ],
      fused: "Conv_Add_Relu",
    });
    await expectFusedMatchesOrt({
      values: { x: x(1, 24, 10, 9), w: k(48, 24, 3, 3), b: k(48), r: x(1, 48, 5, 5) },
      nodes: [
        { op: "Conv", inputs: ["x", "w", "b"], out: "c", attrs: { pads: ints(1, 1, 1, 1), strides: ints(2, 2) } },
        { op: "Relu", inputs: ["c"], out: "d" },
        { op: "Sum", inputs: ["r", "d"], out: "y" },
      ],
      fused: "Conv_Relu_Sum",
    });
  });

  it("depthwise Conv + HardSwish + residual", () => expectFusedMatchesOrt({
    values: { x: x(1, 4, 9, 9), w: k(4, 1, 3, 3), b: k(4), r: x(1, 4, 9, 9) },
    nodes: [
      { op: "Conv", inputs: ["x", "w", "b"], out: "c", attrs: { pads: ints(1, 1, 1, 1), group: int(4) } },
      { op: "HardSwish", inputs: ["c"], out: "d" },
      { op: "Add", inputs: ["d", "r"], out: "y" },
    ],
    fused: "Conv_HardSwish_Add",
  }));

  it("Conv + LeakyRelu, HardSigmoid and Tanh attributes on large values", () => expectFusedMatchesOrt({
    values: { x: { dims: [1, 2, 5, 6], lo: -20, hi: 20 }, w: k(3, 2, 2, 2) },
    nodes: [
      { op: "Conv", inputs: ["x", "w"], out: "c" },
      { op: "LeakyRelu", inputs: ["c"], out: "d", attrs: { alpha: float(0.3) } },
      { op: "HardSigmoid", inputs: ["d"], out: "e", attrs: { alpha: float(0.1), beta: float(0.4) } },
      { op: "Tanh", inputs: ["e"], out: "y" },
    ],
    // Tanh is left to its own loop after a convolution (fused/epilogue-rules.ts worthFusing)
    fused: ["Conv_LeakyRelu_HardSigmoid", "Tanh"],
  }));

  it("MatMul + Tanh and Gemm + Gelu (tanh) on large values: long activations stay fused after a matrix product", async () => {
    await expectFusedMatchesOrt({
      values: { a: { dims: [3, 6, 5], lo: -20, hi: 20 }, b: k(5, 11) },
      nodes: [
        { op: "MatMul", inputs: ["a", "b"], out: "g" },
        { op: "Tanh", inputs: ["g"], out: "y" },
      ],
      fused: "MatMul_Tanh",
    });
    await expectFusedMatchesOrt({
      values: { a: { dims: [4, 9], lo: -6, hi: 6 }, b: k(9, 7) },
      nodes: [
        { op: "Gemm", inputs: ["a", "b"], out: "g" },
        { op: "Gelu", inputs: ["g"], out: "y", attrs: { approximate: { type: "string", value: "tanh" } } },
      ],
      fused: "Gemm_Gelu",
      opset: 20,
    });
  });

  it("Gemm (transB, K >= 4, dot path) + Sigmoid on odd shapes", () => expectFusedMatchesOrt({
    values: { a: { dims: [3, 5], lo: -4, hi: 4 }, b: k(7, 5), c: k(7) },
    nodes: [
      { op: "Gemm", inputs: ["a", "b", "c"], out: "g", attrs: { transB: int(1), alpha: float(1.5) } },
      { op: "Sigmoid", inputs: ["g"], out: "y" },
    ],
    fused: "Gemm_Sigmoid",
  }));

  it("Gemm with a row-varying C and beta, plus a column bias Add and Relu (tile path)", () => expectFusedMatchesOrt({
    values: { a: x(5, 3), b: k(3, 9), c: k(5, 1), bias: k(1, 9) },
    nodes: [
      { op: "Gemm", inputs: ["a", "b", "c"], out: "g", attrs: { beta: float(0.5) } },
      { op: "Add", inputs: ["g", "bias"], out: "h" },
      { op: "Relu", inputs: ["h"], out: "y" },
    ],
    fused: "Gemm_Add_Relu",
  }));

  // the property test's minimal graph: the packed GEMM reads its own copy of B, and the fused
  // layer's one input for both left the tensor out of memory, so the residual added zeros
  it("Gemm whose B is also its residual (Gemm(x, c) + c, one tensor read twice)", () => expectFusedMatchesOrt({
    values: { a: x(3, 3), c: k(3, 1) },
    nodes: [
      { op: "Gemm", inputs: ["a", "c"], out: "g" },
      { op: "Add", inputs: ["g", "c"], out: "y" },
    ],
    fused: "Gemm_Add",
  }));

  it("Gemm transB with K < 4 (scalar path) + Clip", () => expectFusedMatchesOrt({
    values: { a: x(2, 3), b: k(5, 3), lo: { dims: [], data: [-0.2], constant: true }, hi: { dims: [], data: [0.3], constant: true } },
    nodes: [
      { op: "Gemm", inputs: ["a", "b"], out: "g", attrs: { transB: int(1) } },
      { op: "Clip", inputs: ["g", "lo", "hi"], out: "y" },
    ],
    fused: "Gemm_Clip",
  }));

  it("batched MatMul + column bias + Gelu (erf and tanh)", async () => {
    for (const approximate of ["none", "tanh"]) {
      await expectFusedMatchesOrt({
        values: { a: x(2, 3, 5), b: k(5, 9), bias: k(9) },
        nodes: [
          { op: "MatMul", inputs: ["a", "b"], out: "p" },
          { op: "Add", inputs: ["p", "bias"], out: "q" },
          { op: "Gelu", inputs: ["q"], out: "y", attrs: { approximate: { type: "string", value: approximate } } },
        ],
        fused: "MatMul_Add_Gelu",
        opset: 20,
      });
    }
  });

  it("batched MatMul with B at run time + column bias + residual + Relu (the packed GEMM over B's panels copied to scratch)", () => expectFusedMatchesOrt({
    values: { a: x(2, 7, 20), b: x(2, 20, 18), bias: k(18), r: x(2, 7, 18) },
    nodes: [
      { op: "MatMul", inputs: ["a", "b"], out: "p" },
      { op: "Add", inputs: ["p", "bias"], out: "q" },
      { op: "Add", inputs: ["q", "r"], out: "s" },
      { op: "Relu", inputs: ["s"], out: "y" },
    ],
    fused: "MatMul_Add_Add_Relu",
  }));

  it("MatMul + residual + Relu with an empty inner dimension", () => expectFusedMatchesOrt({
    values: { a: x(3, 0), b: x(0, 5), r: x(3, 5) },
    nodes: [
      { op: "MatMul", inputs: ["a", "b"], out: "p" },
      { op: "Add", inputs: ["p", "r"], out: "q" },
      { op: "Relu", inputs: ["q"], out: "y" },
    ],
    fused: "MatMul_Add_Relu",
  }));

  it("ConvTranspose (stride 2) + bias + Clip", () => expectFusedMatchesOrt({
    values: { x: x(1, 2, 5, 5), w: k(2, 3, 3, 3), b: k(3), b2: k(3, 1, 1), lo: { dims: [], data: [0], constant: true }, hi: { dims: [], data: [0.5], constant: true } },
    nodes: [
      { op: "ConvTranspose", inputs: ["x", "w", "b"], out: "c", attrs: { strides: ints(2, 2) } },
      { op: "Add", inputs: ["c", "b2"], out: "d" },
      { op: "Clip", inputs: ["d", "lo", "hi"], out: "y" },
    ],
    fused: "ConvTranspose_Add_Clip",
  }));

  it("ConvTranspose + Clip with only an upper bound (opset 6 attributes)", () => expectFusedMatchesOrt({
    values: { x: x(1, 3, 4, 3), w: k(3, 2, 2, 2) },
    nodes: [
      { op: "ConvTranspose", inputs: ["x", "w"], out: "c" },
      { op: "Clip", inputs: ["c"], out: "y", attrs: { max: float(0.1) } },
    ],
    fused: "ConvTranspose_Clip",
    opset: 10,
  }));
});
