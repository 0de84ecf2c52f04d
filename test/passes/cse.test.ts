import { describe, expect, it } from "vitest";
import { cse } from "../../passes/cse.js";
import { expectPass, expectUnchanged, runPassOn } from "./util.js";

describe("cse", () => {
  it("merges identical nodes", () => expectPass(cse, `
input %x : float32[4]
%a : float32[4] = Relu(%x) {name="a"}
%b : float32[4] = Relu(%x) {name="b"}
%c : float32[4] = Add(%a, %b) {name="c"}
output %c`, `
input %x : float32[4]
%a : float32[4] = Relu(%x) {name="a"}
%c : float32[4] = Add(%a, %a) {name="c"}
output %c`));

  it("merges constants equal by content, then the nodes that become identical", () => expectPass(cse, `
input %x : float32[3]
const %k1 : float32[3] = dense<[1, 2, 3]>
const %k2 : float32[3] = dense<[1, 2, 3]>
%a : float32[3] = Mul(%x, %k1) {name="a"}
%b : float32[3] = Mul(%x, %k2) {name="b"}
%c : float32[3] = Sub(%a, %b) {name="c"}
output %c`, `
input %x : float32[3]
const %k1 : float32[3] = dense<[1, 2, 3]>
%a : float32[3] = Mul(%x, %k1) {name="a"}
%c : float32[3] = Sub(%a, %a) {name="c"}
output %c`));

  it("does not merge nodes whose attributes differ", () => expectUnchanged(cse, `
input %x : float32[4]
%a : float32[4] = LeakyRelu[alpha=0.1](%x) {name="a"}
%b : float32[4] = LeakyRelu[alpha=0.2](%x) {name="b"}
%c : float32[4] = Add(%a, %b) {name="c"}
output %c`));

  it("does not merge constants of different dtype or shape with the same bytes", () => expectUnchanged(cse, `
input %x : float32[2,2]
const %k1 : float32[2,2] = splat<0>
const %k2 : float32[4] = splat<0>
%a : float32[2,2] = Add(%x, %k1) {name="a"}
%b : float32[2,2] = Add(%x, %k2) {name="b"}
output %a
output %b`));

  it("does not merge random-number ops", () => expectUnchanged(cse, `
input %x : float32[4]
%a : float32[4] = RandomUniformLike(%x) {name="a"}
%b : float32[4] = RandomUniformLike(%x) {name="b"}
%c : float32[4] = Add(%a, %b) {name="c"}
output %c`));

  it("tells input lists apart whatever the names hold (a comma in a name is no separator)", () => expectUnchanged(cse, `
input %"a,b" : float32[4]
input %a : float32[4]
input %b : float32[4]
%s : float32[4] = Sum(%"a,b") {name="s"}
%t : float32[4] = Sum(%a, %b) {name="t"}
%y : float32[4] = Add(%s, %t) {name="y"}
output %y`));

  it("merges thousands of identical nodes feeding one node, which then reads the survivor", async () => {
    const n = 3000;
    const lines = Array.from({ length: n }, (_, k) => `%a${k} : float32[4] = Add(%x, %x) {name="a${k}"}`);
    const out = await runPassOn(cse, `input %x : float32[4]\n${lines.join("\n")}\n%s : float32[4] = Sum(${lines.map((_, k) => `%a${k}`).join(", ")}) {name="s"}\noutput %s`);
    expect(out).toContain(`%s : float32[4] = Sum(${new Array(n).fill("%a0").join(", ")})`);
    expect(out.match(/= Add\(/g)).toHaveLength(1);
  });

  it("keeps both nodes when each produces a graph output", () => expectUnchanged(cse, `
input %x : float32[4]
%a : float32[4] = Relu(%x) {name="a"}
%b : float32[4] = Relu(%x) {name="b"}
output %a
output %b`));
});
