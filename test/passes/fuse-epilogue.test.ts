import { describe, expect, it } from "vitest";
import { parseGraph } from "../../compiler/ir/parse.js";
import { printGraph } from "../../compiler/ir/print.js";
import { fuseEpiloguePass } from "../../passes/fuse-epilogue.js";
import type { Pass } from "../../passes/pass.js";
import { expectUnchanged, runPassOn } from "./util.js";

const pass: Pass = fuseEpiloguePass;

/** expected text of a graph the pass fused (its header gains the kiln.fused opset) */
async function expectFused(input: string, expected: string): Promise<void> {
  const want = printGraph(parseGraph(`kiln.graph opsets("" = 13, "kiln.fused" = 1)\n${expected}`));
  expect(await runPassOn(pass, input)).toBe(want);
}

const conv = `
input %x : float32[1,2,5,5]
const %w : float32[3,2,3,3] = splat<0.5>
%c : float32[1,3,5,5] = Conv[pads=[1, 1, 1, 1]](%x, %w) {name="conv"}`;

describe("fuse-epilogue", () => {
  it("fuses Conv + channel bias + residual Add + Relu, in graph order", () => expectFused(`${conv}
input %r : float32[1,3,5,5]
const %b : float32[3,1,1] = splat<0.25>
%d : float32[1,3,5,5] = Add(%c, %b) {name="bias"}
%e : float32[1,3,5,5] = Add(%r, %d) {name="res"}
%y : float32[1,3,5,5] = Relu(%e) {name="relu"}
output %y`, `${conv.replace(/\n%c.*/, "")}
input %r : float32[1,3,5,5]
const %b : float32[3,1,1] = splat<0.25>
%y : float32[1,3,5,5] = kiln.fused::Conv_Add_Add_Relu(%x, %w, %b, %r) {name="conv", kind="epilogue", fused="Conv+Add+Add+Relu"} {
  %c : float32[1,3,5,5] = Conv[pads=[1, 1, 1, 1]](%x, %w) {name="conv"}
  %d : float32[1,3,5,5] = Add(%c, %b) {name="bias"}
  %e : float32[1,3,5,5] = Add(%r, %d) {name="res"}
  %y : float32[1,3,5,5] = Relu(%e) {name="relu"}
}
output %y`));

  it("fuses Gemm + Clip with constant bounds, which become operands", () => expectFused(`
input %a : float32[3,5]
const %b : float32[5,7] = splat<0.5>
const %lo : float32[] = splat<0>
const %hi : float32[] = splat<6>
%g : float32[3,7] = Gemm(%a, %b) {name="gemm"}
%y : float32[3,7] = Clip(%g, %lo, %hi) {name="clip"}
output %y`, `
input %a : float32[3,5]
const %b : float32[5,7] = splat<0.5>
const %lo : float32[] = splat<0>
const %hi : float32[] = splat<6>
%y : float32[3,7] = kiln.fused::Gemm_Clip(%a, %b, %lo, %hi) {name="gemm", kind="epilogue", fused="Gemm+Clip"} {
  %g : float32[3,7] = Gemm(%a, %b) {name="gemm"}
  %y : float32[3,7] = Clip(%g, %lo, %hi) {name="clip"}
}
output %y`));

  it("stops before a value that is also a graph output", () => expectFused(`${conv}
input %r : float32[1,3,5,5]
%a : float32[1,3,5,5] = Relu(%c) {name="relu"}
%y : float32[1,3,5,5] = Add(%a, %r) {name="res"}
output %a
output %y`, `${conv.replace(/\n%c.*/, "")}
input %r : float32[1,3,5,5]
%a : float32[1,3,5,5] = kiln.fused::Conv_Relu(%x, %w) {name="conv", kind="epilogue", fused="Conv+Relu"} {
  %c : float32[1,3,5,5] = Conv[pads=[1, 1, 1, 1]](%x, %w) {name="conv"}
  %a : float32[1,3,5,5] = Relu(%c) {name="relu"}
}
%y : float32[1,3,5,5] = Add(%a, %r) {name="res"}
output %a
output %y`));

  it("leaves a Conv whose output has two consumers", () => expectUnchanged(pass, `${conv}
%a : float32[1,3,5,5] = Relu(%c) {name="relu"}
%y : float32[1,3,5,5] = Add(%a, %c) {name="res"}
output %y`));

  it("leaves a graph output in the middle of the chain", () => expectUnchanged(pass, `${conv}
%y : float32[1,3,5,5] = Relu(%c) {name="relu"}
output %c
output %y`));

  it("leaves an Add of a run-time per-channel operand (not a bias, not the output's shape)", () => expectUnchanged(pass, `${conv}
input %b : float32[3,1,1]
%y : float32[1,3,5,5] = Add(%c, %b) {name="bias"}
output %y`));

  it("leaves a bias that varies along another axis than the channels", () => expectUnchanged(pass, `${conv}
const %b : float32[5] = splat<1>
%y : float32[1,3,5,5] = Add(%c, %b) {name="bias"}
output %y`));

  it("stops at a constant bias when the Conv's own bias is a run-time value (nothing to fold it into)", () => expectFused(`
input %x : float32[1,2,5,5]
input %own : float32[3]
const %w : float32[3,2,1,1] = splat<0.5>
const %b : float32[1,3,1,1] = splat<1>
%c : float32[1,3,5,5] = Conv(%x, %w, %own) {name="conv"}
%a : float32[1,3,5,5] = Relu(%c) {name="relu"}
%y : float32[1,3,5,5] = Add(%a, %b) {name="bias"}
output %y`, `
input %x : float32[1,2,5,5]
input %own : float32[3]
const %w : float32[3,2,1,1] = splat<0.5>
const %b : float32[1,3,1,1] = splat<1>
%a : float32[1,3,5,5] = kiln.fused::Conv_Relu(%x, %w, %own) {name="conv", kind="epilogue", fused="Conv+Relu"} {
  %c : float32[1,3,5,5] = Conv(%x, %w, %own) {name="conv"}
  %a : float32[1,3,5,5] = Relu(%c) {name="relu"}
}
%y : float32[1,3,5,5] = Add(%a, %b) {name="bias"}
output %y`));

  it("leaves a run-time own bias followed by a constant bias Add", () => expectUnchanged(pass, `
input %x : float32[1,2,5,5]
input %own : float32[3]
const %w : float32[3,2,1,1] = splat<0.5>
const %b : float32[1,3,1,1] = splat<1>
%c : float32[1,3,5,5] = Conv(%x, %w, %own) {name="conv"}
%y : float32[1,3,5,5] = Add(%c, %b) {name="bias"}
output %y`));

  it("leaves integer products alone", () => expectUnchanged(pass, `
input %a : int32[3,4]
input %b : int32[4,5]
%p : int32[3,5] = MatMul(%a, %b) {name="mm"}
%y : int32[3,5] = Relu(%p) {name="relu"}
output %y`));

  it("leaves activations without an epilogue form", () => expectUnchanged(pass, `${conv}
%y : float32[1,3,5,5] = Softmax[axis=1](%c) {name="softmax"}
output %y`));

  it("leaves Clip with run-time bounds", () => expectUnchanged(pass, `${conv}
input %hi : float32[]
%y : float32[1,3,5,5] = Clip(%c, %hi) {name="clip"}
output %y`));

  it("fuses MatMul + column bias + Gelu and stops at a bias after the activation", () => expectFused(`
input %a : float32[2,3,5]
const %b : float32[5,7] = splat<0.5>
const %bias : float32[7] = splat<0.1>
%p : float32[2,3,7] = MatMul(%a, %b) {name="mm"}
%q : float32[2,3,7] = Add(%p, %bias) {name="bias"}
%g : float32[2,3,7] = Gelu(%q) {name="gelu"}
%y : float32[2,3,7] = Add(%g, %bias) {name="late"}
output %y`, `
input %a : float32[2,3,5]
const %b : float32[5,7] = splat<0.5>
const %bias : float32[7] = splat<0.1>
%g : float32[2,3,7] = kiln.fused::MatMul_Add_Gelu(%a, %b, %bias) {name="mm", kind="epilogue", fused="MatMul+Add+Gelu"} {
  %p : float32[2,3,7] = MatMul(%a, %b) {name="mm"}
  %q : float32[2,3,7] = Add(%p, %bias) {name="bias"}
  %g : float32[2,3,7] = Gelu(%q) {name="gelu"}
}
%y : float32[2,3,7] = Add(%g, %bias) {name="late"}
output %y`));
});
