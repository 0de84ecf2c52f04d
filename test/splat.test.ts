// Splat constants (compiler/ir/splat.ts): ConstantOfShape weights and arithmetic over them are
// folded on one value, never on millions; results must be bit for bit those of full tensors.
import { describe, expect, it } from "vitest";
import { load } from "../compiler/driver/api.js";
import { evaluateNode, evaluateNodes } from "../compiler/driver/evaluate.js";
import { evaluateWithSplats, type EvalRequest } from "../compiler/driver/evaluate-splat.js";
import { Graph, type Tensor } from "../compiler/ir/graph.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { printTensor } from "../compiler/ir/print.js";
import { fillRepeated, isLazySplat, splatTensor, splatValue } from "../compiler/ir/splat.js";
import { exportModel } from "../compiler/onnx/export.js";
import { mergeConstants } from "../passes/cse.js";
import { runReference } from "../models/reference.js";
import { values } from "./util/values.js";

describe("splat tensors", () => {
  it("hold one value until data is read, then read as the full array", () => {
    const t = splatTensor("float32", [2, 3], Float32Array.of(1.5));
    expect(isLazySplat(t)).toBe(true);
    expect(values(splatValue(t)!)).toEqual([1.5]);
    expect(printTensor(t)).toBe("splat<1.5>");
    expect(values(t.data)).toEqual([1.5, 1.5, 1.5, 1.5, 1.5, 1.5]);
    const big = splatTensor("int64", [3], BigInt64Array.of(-7n));
    expect(values(big.data)).toEqual([-7n, -7n, -7n]);
  });

  it("a dense tensor is a splat only when it has one element", () => {
    expect(splatValue({ dtype: "float32", dims: [1, 1], data: Float32Array.of(3) })).toEqual(Float32Array.of(3));
    expect(splatValue({ dtype: "float32", dims: [2], data: Float32Array.of(3, 3) })).toBeUndefined();
  });

  it("fillRepeated writes the unit over any length, unaligned", () => {
    for (const n of [0, 1, 4, 5, 12, 1001]) {
      const into = new Uint8Array(n + 2).fill(9);
      fillRepeated(into.subarray(1, n + 1), Uint8Array.of(1, 2, 3, 4));
      const want = [9, ...Array.from({ length: n }, (_, k) => (k % 4) + 1), 9];
      expect(Array.from(into)).toEqual(want);
    }
  });
});

/** One request per node of g, in order; inputs are constants or earlier nodes' outputs. */
function requestsOf(g: Graph): EvalRequest[] {
  return g.topoOrder().map((node) => ({
    graph: g, node,
    inputs: node.inputs.map((i) => g.values.get(i)?.const),
    outputs: node.outputs.map((o) => ({ dtype: g.values.get(o)!.dtype!, shape: g.values.get(o)!.shape as number[] })),
  }));
}

const CHAIN = (weights: string) => `kiln.graph opsets("" = 13)
const %shape : int64[2] = dense<[64, 16]>
const %eps : float32[] = dense<[0.001]>
const %var : float32[64,1] = splat<0.3>
%w : float32[64,16] = ${weights}
%e : float32[64,1] = Add(%var, %eps) {name="e"}
%r : float32[64,1] = Sqrt(%e) {name="r"}
%s : float32[64,1] = Reciprocal(%r) {name="s"}
const %shape2 : int64[2] = dense<[1, 64]>
%t : float32[1,64] = Reshape(%s, %shape2) {name="t"}
%u : float32[16,64] = Transpose[perm=[1, 0]](%w) {name="u"}
%y : float32[16,64] = Mul(%u, %t) {name="y"}
%z : float32[16,64] = Exp(%y) {name="z"}
output %y
output %z`;

describe("folding over splats", () => {
  it("ConstantOfShape and movement ops give splats without compiling anything", async () => {
    const g = parseGraph(`kiln.graph opsets("" = 13)
const %shape : int64[2] = dense<[300, 200]>
const %flat : int64[1] = dense<[60000]>
%w : float32[300,200] = ConstantOfShape[value=float32[1] dense<[0.25]>](%shape) {name="w"}
%f : float32[60000] = Reshape(%w, %flat) {name="f"}
output %f`);
    let calls = 0;
    const results = await evaluateWithSplats(requestsOf(g), async (rs) => {
      calls += rs.length;
      return [];
    });
    expect(calls).toBe(0);
    const f = results[1][0];
    expect(isLazySplat(f)).toBe(true);
    expect(f.dims).toEqual([60000]);
    expect(values(splatValue(f)!)).toEqual([0.25]);
  });

  it("arithmetic over splats runs its kernels on scalars, and matches full tensors bit for bit", async () => {
    const lazy = parseGraph(CHAIN(`ConstantOfShape[value=float32[1] dense<[0.7]>](%shape) {name="w"}`));
    lazy.values.get("var")!.const = splatTensor("float32", [64, 1], Float32Array.of(0.3));
    // the same chain on ordinary (dense) tensors: no splat path anywhere
    const dense = parseGraph(CHAIN(`Identity(%wd) {name="w"}`).replace("%w : float32[64,16] =", "const %wd : float32[64,16] = splat<0.7>\n%w : float32[64,16] ="));
    const seen: number[][] = [];
    const lazyOut = await evaluateWithSplats(requestsOf(lazy), (rs) => {
      seen.push(rs.map((r) => r.outputs[0].shape.length));
      return evaluateNodes(rs);
    });
    // the splat arithmetic (e, r, s, y) was one module on 0-d values; Exp (not exact across
    // lanes and scalars) ran on the full tensor
    expect(seen).toEqual([[0, 0, 0, 0], [2]]);
    const denseReqs = requestsOf(dense);
    const denseOut: Tensor[][] = [];
    for (const r of denseReqs) {
      const ins = r.inputs.map((t, k) => t ?? dense.values.get(r.node.inputs[k])!.const);
      const out = await evaluateNode(dense, r.node, ins, r.outputs);
      r.node.outputs.forEach((o, k) => (dense.values.get(o)!.const = out[k]));
      denseOut.push(out);
    }
    const byName = (g: Graph, out: Tensor[][], name: string) => out[g.topoOrder().findIndex((n) => n.outputs.includes(name))][0];
    for (const name of ["y", "z"]) {
      const a = byName(lazy, lazyOut, name), b = byName(dense, denseOut, name);
      expect(a.dims).toEqual(b.dims);
      expect(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength)).toEqual(new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength));
    }
    expect(isLazySplat(byName(lazy, lazyOut, "y"))).toBe(true);
    expect(isLazySplat(byName(lazy, lazyOut, "z"))).toBe(false);
  });

  it("the same op on the same splat values is evaluated once per batch", async () => {
    const g = parseGraph(`kiln.graph opsets("" = 13)
const %shape : int64[1] = dense<[100]>
%a : float32[100] = ConstantOfShape[value=float32[1] dense<[2]>](%shape) {name="a"}
%b : float32[100] = ConstantOfShape[value=float32[1] dense<[2]>](%shape) {name="b"}
%c : float32[100] = ConstantOfShape[value=float32[1] dense<[3]>](%shape) {name="c"}
%sa : float32[100] = Sqrt(%a) {name="sa"}
%sb : float32[100] = Sqrt(%b) {name="sb"}
%sc : float32[100] = Sqrt(%c) {name="sc"}
%ma : float32[100] = Mul(%sa, %a) {name="ma"}
%mb : float32[100] = Mul(%sb, %b) {name="mb"}
output %ma
output %mb
output %sc`);
    const asked: string[] = [];
    const out = await evaluateWithSplats(requestsOf(g), (rs) => {
      asked.push(...rs.map((r) => r.node.name));
      return evaluateNodes(rs);
    });
    expect(asked).toEqual(["sa", "sc", "ma"]);
    const value = (name: string) => values(splatValue(out[g.topoOrder().findIndex((n) => n.name === name)][0])!);
    expect(value("mb")).toEqual(value("ma"));
    expect(value("ma")).toEqual([Math.fround(Math.fround(Math.SQRT2) * 2)]);
    expect(value("sc")).toEqual([Math.fround(Math.sqrt(3))]);
  });

  it("cse merges equal splats by value and keeps different ones apart", () => {
    const g = parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[1000]
const %a : float32[1000] = splat<0>
const %b : float32[1000] = splat<0>
const %c : float32[1000] = splat<0>
%p : float32[1000] = Add(%x, %a) {name="p"}
%q : float32[1000] = Add(%p, %b) {name="q"}
%r : float32[1000] = Add(%q, %c) {name="r"}
output %r`);
    const v = (n: string, x: number) => (g.values.get(n)!.const = splatTensor("float32", [1000], Float32Array.of(x)));
    v("a", 0.5);
    v("b", 0.5);
    v("c", -0.5);
    expect(mergeConstants(g)).toBe(1);
    expect(g.node("q").inputs[1]).toBe("a");
    expect(g.node("r").inputs[1]).toBe("c");
  });
});

/**
 * Conv + BN twice (a Winograd layer, a pointwise one), then a Gemm (the packed GEMM, N off its
 * panel width), a pointwise and a strided conv without BN (W pre-packed as A, and as B over few
 * positions): weights as ConstantOfShape, or the same values as initializers.
 */
function convModel(splatWeights: boolean): Uint8Array {
  const C = 8;
  const param = (name: string, dims: number[], value: number) => splatWeights
    ? `const %${name}_shape : int64[${dims.length}] = dense<[${dims.join(", ")}]>\n%${name} : float32[${dims.join(",")}] = ConstantOfShape[value=float32[1] dense<[${value}]>](%${name}_shape) {name="${name}_fill"}`
    : `const %${name} : float32[${dims.join(",")}] = splat<${value}>`;
  return exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[1,${C},12,12]
${param("w1", [C, C, 3, 3], 0.0625)}
${param("b1", [C], 0.1)}
${param("s1", [C], 1.5)}
${param("t1", [C], -0.2)}
${param("m1", [C], 0.05)}
${param("v1", [C], 0.8)}
${param("w2", [C, C, 1, 1], -0.125)}
const %s2 : float32[${C}] = dense<[1, 2, 3, 4, 5, 6, 7, 8]>
const %t2 : float32[${C}] = dense<[0.5, -0.5, 0.25, -0.25, 0, 1, -1, 2]>
${param("m2", [C], 0.01)}
${param("v2", [C], 2)}
%c1 : float32[1,${C},12,12] = Conv[pads=[1, 1, 1, 1]](%x, %w1, %b1) {name="conv1"}
%n1 : float32[1,${C},12,12] = BatchNormalization[epsilon=0.001](%c1, %s1, %t1, %m1, %v1) {name="bn1"}
%r1 : float32[1,${C},12,12] = Relu(%n1) {name="relu1"}
%c2 : float32[1,${C},12,12] = Conv(%r1, %w2) {name="conv2"}
%y : float32[1,${C},12,12] = BatchNormalization(%c2, %s2, %t2, %m2, %v2) {name="bn2"}
${param("wfc", [C * 144, 10], 0.01)}
${param("bfc", [10], 0.5)}
%f : float32[1,${C * 144}] = Flatten(%y) {name="flat"}
%z : float32[1,10] = Gemm(%f, %wfc, %bfc) {name="fc"}
${param("w3", [C, C, 1, 1], 0.375)}
${param("w4", [C, C, 3, 3], -0.0625)}
%p : float32[1,${C},12,12] = Conv(%y, %w3) {name="pointwise"}
%q : float32[1,${C},6,6] = Conv[strides=[2, 2], pads=[1, 1, 1, 1]](%y, %w4) {name="strided"}
output %y
output %z
output %p
output %q`));
}

describe("models with ConstantOfShape weights", () => {
  it("give bit for bit the outputs of the same weights as initializers, and match onnxruntime", async () => {
    const x = Float32Array.from({ length: 8 * 144 }, (_, k) => Math.sin(k) * 2);
    const want = await runReference(convModel(true), { x: { dtype: "float32", dims: [1, 8, 12, 12], data: x } });
    for (const level of [2, 0] as const) {
      const got = await (await load(convModel(true), { level, cache: false })).run({ x });
      const ref = await (await load(convModel(false), { level, cache: false })).run({ x });
      for (const out of ["y", "z", "p", "q"]) {
        expect(values(got[out].data)).toEqual(values(ref[out].data));
        got[out].data.forEach((v, k) => expect(Math.abs((v as number) - (want[out].data[k] as number))).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(want[out].data[k] as number))));
      }
    }
  });
});
