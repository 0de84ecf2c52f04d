import { describe, it } from "vitest";
import type { Pass } from "../../passes/pass.js";
import { fuseElementwise, fuseElementwisePass } from "../../passes/fuse-elementwise.js";
import { expect } from "vitest";
import { parseGraph } from "../../compiler/ir/parse.js";
import { printGraph } from "../../compiler/ir/print.js";
import { planMemory } from "../../passes/plan-memory.js";
import { expectUnchanged, runPassOn } from "./util.js";

const pass: Pass = fuseElementwisePass;

/** Like util's expectPass, with the fused domain's opset in the expected header. */
async function expectPass(p: Pass, input: string, expected: string): Promise<void> {
  const want = printGraph(parseGraph(`kiln.graph opsets("" = 13, "kiln.fused" = 1)\n` + expected));
  expect(await runPassOn(p, input)).toBe(want);
}

describe("fuse-elementwise", () => {
  it("fuses a chain into one node whose body keeps the original nodes", () => expectPass(pass, `
input %x : float32[2,5]
input %b : float32[5]
%m : float32[2,5] = Mul(%x, %x) {name="m"}
%a : float32[2,5] = Add(%m, %b) {name="a"}
%t : float32[2,5] = Tanh(%a) {name="t"}
output %t`, `
input %x : float32[2,5]
input %b : float32[5]
%t : float32[2,5] = kiln.fused::Mul_Add_Tanh(%x, %b) {name="t", kind="elementwise", fused="Mul+Add+Tanh"} {
  %m : float32[2,5] = Mul(%x, %x) {name="m"}
  %a : float32[2,5] = Add(%m, %b) {name="a"}
  %t : float32[2,5] = Tanh(%a) {name="t"}
}
output %t`));

  it("fuses a tree: both operands of an Add, and a comparison feeding Where", () => expectPass(pass, `
input %x : float32[3]
input %y : float32[3]
%e : float32[3] = Exp(%x) {name="e"}
%s : float32[3] = Sigmoid(%y) {name="s"}
%c : bool[3] = Less(%x, %y) {name="c"}
%w : float32[3] = Where(%c, %e, %s) {name="w"}
output %w`, `
input %x : float32[3]
input %y : float32[3]
%w : float32[3] = kiln.fused::Exp_Sigmoid_Less_Where(%x, %y) {name="w", kind="elementwise", fused="Exp+Sigmoid+Less+Where"} {
  %e : float32[3] = Exp(%x) {name="e"}
  %s : float32[3] = Sigmoid(%y) {name="s"}
  %c : bool[3] = Less(%x, %y) {name="c"}
  %w : float32[3] = Where(%c, %e, %s) {name="w"}
}
output %w`));

  it("does not fuse an intermediate read outside the group, nor a graph output", () => expectUnchanged(pass, `
input %x : float32[4]
%a : float32[4] = Relu(%x) {name="a"}
%b : float32[4] = Exp(%a) {name="b"}
%c : float32[4] = Neg(%x) {name="c"}
%d : float32[4] = Sigmoid(%c) {name="d"}
%e : float32[4] = Sin(%c) {name="e"}
output %a
output %b
output %d
output %e`));

  it("never fuses across a node that is not elementwise", () => expectUnchanged(pass, `
input %x : float32[2,3]
const %w : float32[3,3] = splat<0.5>
%a : float32[2,3] = Relu(%x) {name="a"}
%m : float32[2,3] = MatMul(%a, %w) {name="m"}
%t : float32[2,3] = Tanh(%m) {name="t"}
output %t`));

  it("leaves integer ops and an intermediate smaller than the result unfused", () => expectUnchanged(pass, `
input %x : int32[4]
input %y : float32[4]
input %z : float32[3,4]
%a : int32[4] = Add(%x, %x) {name="a"}
%b : int32[4] = Mul(%a, %x) {name="b"}
%e : float32[4] = Exp(%y) {name="e"}
%f : float32[3,4] = Mul(%e, %z) {name="f"}
output %b
output %f`));

  it("a Cast from float16 starts a group; a Cast to float16 or from ints stays out", () => expectPass(pass, `
input %x : float16[4]
input %i : int32[4]
%a : float32[4] = Cast[to=1](%x) {name="a"}
%j : float32[4] = Cast[to=1](%i) {name="j"}
%b : float32[4] = Add(%a, %j) {name="b"}
%c : float32[4] = Relu(%b) {name="c"}
%h : float16[4] = Cast[to=10](%c) {name="h"}
output %h`, `
input %x : float16[4]
input %i : int32[4]
%j : float32[4] = Cast[to=1](%i) {name="j"}
%c : float32[4] = kiln.fused::Cast_Add_Relu(%x, %j) {name="c", kind="elementwise", fused="Cast+Add+Relu"} {
  %a : float32[4] = Cast[to=1](%x) {name="a"}
  %b : float32[4] = Add(%a, %j) {name="b"}
  %c : float32[4] = Relu(%b) {name="c"}
}
%h : float16[4] = Cast[to=10](%c) {name="h"}
output %h`));

  it("a node read by several consumers roots its own group", () => expectPass(pass, `
input %x : float32[4]
%a : float32[4] = Neg(%x) {name="a"}
%b : float32[4] = Exp(%a) {name="b"}
%c : float32[4] = Sin(%b) {name="c"}
%d : float32[4] = Cos(%b) {name="d"}
output %c
output %d`, `
input %x : float32[4]
%b : float32[4] = kiln.fused::Neg_Exp(%x) {name="b", kind="elementwise", fused="Neg+Exp"} {
  %a : float32[4] = Neg(%x) {name="a"}
  %b : float32[4] = Exp(%a) {name="b"}
}
%c : float32[4] = Sin(%b) {name="c"}
%d : float32[4] = Cos(%b) {name="d"}
output %c
output %d`));

  it("stops a group at maxValues (nodes plus values read from outside): a long chain becomes several loops", () => {
    const n = 20;
    const g = parseGraph(`kiln.graph opsets("" = 13)\ninput %x : float32[4]\n` +
      Array.from({ length: n }, (_, k) => `%v${k + 1} : float32[4] = ${k % 2 ? "Neg" : "Exp"}(%v${k}) {name="n${k}"}`).join("\n").replace("(%v0)", "(%x)") + `\noutput %v${n}`);
    expect(fuseElementwise(g, 6)).toEqual({ groups: 4, nodes: n });
    for (const f of g.nodeList()) expect(f.body!.length + f.inputs.length, f.name).toBeLessThanOrEqual(6);
    expect(g.topoOrder().map((f) => f.body!.length)).toEqual([5, 5, 5, 5]);
  });

  it("a node whose inputs alone pass maxValues roots no group; with room, its producers join", () => {
    const g = parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[4]
%a : float32[4] = Exp(%x) {name="a"}
%b : float32[4] = Neg(%x) {name="b"}
%c : float32[4] = Relu(%x) {name="c"}
%s : float32[4] = Sum(%a, %b, %c) {name="s"}
output %s`);
    expect(fuseElementwise(g, 3)).toEqual({ groups: 0, nodes: 0 }); // Sum and its three inputs: 4
    // with room for 5, the three producers join one by one: their outputs become locals, %x is read once
    expect(fuseElementwise(g, 5)).toEqual({ groups: 1, nodes: 4 });
  });

  it("a fused node may write over an input that dies there (plan-memory runs it in place)", () => {
    const g = parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[4,6]
%a : float32[6,4] = Transpose[perm=[1, 0]](%x) {name="a"}
%b : float32[6,4] = Exp(%a) {name="b"}
%c : float32[6,4] = Neg(%b) {name="c"}
%d : float32[4,6] = Transpose[perm=[1, 0]](%c) {name="d"}
output %d`);
    expect(fuseElementwise(g).groups).toBe(1);
    const plan = planMemory(g);
    expect(plan.offsets.get("c")).toBe(plan.offsets.get("a"));
    expect(plan.arenaBytes).toBe(96);
  });
});
