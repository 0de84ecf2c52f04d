// select-kernels records the variant the code generator runs for each layer; the code generator
// takes a recorded one. IR text in, CHECK lines on IR text out.
import { describe, expect, it } from "vitest";
import { parseGraph } from "../../compiler/ir/parse.js";
import { generate } from "../../codegen/module.js";
import { createSession } from "../../runtime/session.js";
import { selectKernelsPass, parseKernelSelection } from "../../passes/select-kernels.js";
import { passOptions } from "../../passes/pass.js";
import { evaluateNode } from "../../compiler/driver/evaluate.js";
import { fileCheck } from "./check.js";
import { runPassOn } from "./util.js";

const layers = `
input %x : float32[1,16,14,14]
const %w3 : float32[16,16,3,3] = splat<0.25>
const %w3b : float32[16,32,3,3] = splat<0.25>
const %w1 : float32[16,16,1,1] = splat<0.5>
const %wd : float32[16,1,3,3] = splat<0.5>
const %b : float32[16,8] = splat<0.5>
%c3 : float32[1,16,14,14] = Conv[pads=[1, 1, 1, 1]](%x, %w3) {name="conv3x3"}
%cat : float32[1,32,14,14] = Concat[axis=1](%c3, %c3) {name="cat"}
%c4 : float32[1,16,14,14] = Conv[pads=[1, 1, 1, 1]](%cat, %w3b) {name="conv3x3_32"}
%s2 : float32[1,16,7,7] = Conv[pads=[1, 1, 1, 1], strides=[2, 2]](%c4, %w3) {name="strided"}
%p : float32[1,16,7,7] = Conv(%s2, %w1) {name="pointwise"}
%d : float32[1,16,7,7] = Conv[group=16, pads=[1, 1, 1, 1]](%p, %wd) {name="depthwise"}
%r : float32[1,16,7,7] = Relu(%d) {name="relu"}
%f : float32[1,784] = Flatten(%r) {name="flat"}
%m : float32[1,8] = MatMul(%f2, %b) {name="fc"}
%f2 : float32[1,16] = Slice(%f, %s0, %s1) {name="slice"}
const %s0 : int64[1] = dense<[0]>
const %s1 : int64[1] = dense<[16]>
output %m`;

describe("select-kernels", () => {
  it("records each layer's variant, as the code generator picks it", async () => {
    fileCheck(await runPassOn(selectKernelsPass, layers), `
CHECK: Conv[pads=[1, 1, 1, 1]](%x, %w3)
CHECK-SAME: kernel="winograd-f2x2"
CHECK: Concat
CHECK-SAME: kernel="default"
CHECK: Conv[pads=[1, 1, 1, 1]](%cat, %w3b)
CHECK-SAME: kernel="winograd-f4x4"
CHECK: strides=[2, 2]
CHECK-SAME: kernel="im2col-positions"
CHECK: Conv(%s2, %w1)
CHECK-SAME: kernel="pointwise-positions"
CHECK: group=16
CHECK-SAME: kernel="depthwise-lanes"
CHECK: MatMul
CHECK-SAME: kernel="packed"`);
  });

  it("forbids and forces variants by its option (as KILN_KERNELS does)", async () => {
    const noWinograd = { ...selectKernelsPass, run: (g: Parameters<typeof selectKernelsPass.run>[0]) =>
      selectKernelsPass.run(g, { evaluate: evaluateNode, options: passOptions(selectKernelsPass, { kernels: "-winograd,+direct" }) }) };
    fileCheck(await runPassOn(noWinograd, layers), `
CHECK-NOT: winograd
CHECK: Conv[pads=[1, 1, 1, 1]](%x, %w3)
CHECK-SAME: kernel="direct"
CHECK: Concat
CHECK-SAME: kernel="default"`);
  });

  it("names the anchor's variant for a fused epilogue", async () => {
    fileCheck(await runPassOn(selectKernelsPass, `
input %x : float32[1,16,14,14]
const %w3 : float32[16,16,3,3] = splat<0.25>
%y : float32[1,16,14,14] = kiln.fused::Conv_Relu(%x, %w3) {name="c", kind="epilogue", fused="Conv+Relu"} {
  %c : float32[1,16,14,14] = Conv[pads=[1, 1, 1, 1]](%x, %w3) {name="c"}
  %y : float32[1,16,14,14] = Relu(%c) {name="r"}
}
output %y`.replace("kiln.graph", "")), `
CHECK: kiln.fused::Conv_Relu
CHECK-SAME: kernel="winograd-f2x2"`);
  });

  it("rejects a variant name no family has, naming the ones there are", () => {
    expect(() => parseKernelSelection("-winogrd")).toThrow(/BAD_OPTION.*winograd-f4x4/);
    expect(parseKernelSelection("-winograd,+im2col-gemm,conv/direct")).toEqual({ forbid: ["winograd"], force: ["im2col-gemm", "conv/direct"] });
  });
});

describe("a recorded kernel", () => {
  const conv = (kernel: string) => parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[1,8,9,9]
const %w : float32[8,8,3,3] = splat<0.125>
%y : float32[1,8,9,9] = Conv[pads=[1, 1, 1, 1]](%x, %w) {name="c", kernel="${kernel}"}
output %y`);
  const x = Float32Array.from({ length: 8 * 81 }, (_, i) => Math.sin(i));

  it("is the one the code generator runs, with the same results", async () => {
    const outs: Float32Array[] = [];
    for (const kernel of ["direct", "im2col-gemm", "winograd-f4x4"]) {
      const { wasm, manifest } = generate(conv(kernel));
      expect(manifest.layers.map((l) => l.kernel)).toEqual([kernel]);
      outs.push((await (await createSession(wasm)).run({ x })).y.data as Float32Array);
    }
    for (const o of outs.slice(1)) for (let i = 0; i < o.length; i++) expect(o[i]).toBeCloseTo(outs[0][i], 4);
  });

  it("that cannot run the layer is refused, naming the family's variants", () => {
    expect(() => generate(conv("depthwise-lanes"))).toThrow(/UNSUPPORTED_OP.*depthwise-lanes.*cannot run this layer.*winograd-f4x4/);
  });
});
