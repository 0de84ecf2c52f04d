import { describe, expect, it } from "vitest";
import { widenFloat16, widenFloat16Pass } from "../../passes/widen-float16.js";
import { parseGraph } from "../../compiler/ir/parse.js";
import { halfSourceOf } from "../../compiler/ir/values.js";
import { fileCheck } from "./check.js";
import { expectUnchanged, runPassOn } from "./util.js";

describe("widen-float16", () => {
  it("computes in float32 between a Cast in after each float16 input and a Cast out before each output; constants widen exactly", async () => {
    const out = await runPassOn(widenFloat16Pass, `
input %x : float16[4]
const %c : float16[4] = dense<[0.1, -2, 65504, 0.5]>
%r : float16[4] = Relu(%x) {name="r"}
%y : float16[4] = Add(%r, %c) {name="add"}
output %y`);
    fileCheck(out, `
CHECK: input %x : float16[4]
CHECK: const %c : float32[4] = dense<[0.099975586, -2, 65504, 0.5]>
CHECK: %x/float32 : float32[4] = Cast[to=1](%x)
CHECK: %r : float32[4] = Relu(%x/float32)
CHECK: %y/float32 : float32[4] = Add(%r, %c)
CHECK: %y : float16[4] = Cast[to=10](%y/float32)
CHECK: output %y`);
  });

  it("a widened constant remembers its float16 codes (a compact artifact stores them, codegen/derive.ts)", () => {
    const g = parseGraph(`
input %x : float16[4]
const %c : float16[4] = dense<[0.1, -2, 65504, 0.5]>
%y : float16[4] = Add(%x, %c) {name="add"}
output %y`);
    const codes = Uint16Array.from(g.values.get("c")!.const!.data as Uint16Array);
    widenFloat16(g);
    const c = g.values.get("c")!.const!;
    expect(c.dtype).toBe("float32");
    expect(halfSourceOf(c)).toEqual({ codes });
  });

  it("rounds to float16 where the graph converts into it (Cast to float16 from float32), and not after arithmetic", async () => {
    const out = await runPassOn(widenFloat16Pass, `
input %x : float32[4]
%h : float16[4] = Cast[to=10](%x) {name="narrow"}
%s : float16[4] = Mul(%h, %h) {name="square"}
%y : float32[4] = Cast[to=1](%s) {name="wide"}
output %y`);
    fileCheck(out, `
CHECK: %h/unrounded : float32[4] = Cast[to=1](%x)
CHECK: %h/float16 : float16[4] = Cast[to=10](%h/unrounded)
CHECK: %h : float32[4] = Cast[to=1](%h/float16)
CHECK: %s : float32[4] = Mul(%h, %h)
CHECK-NOT: float16
CHECK: %y : float32[4] = Cast[to=1](%s)`);
  });

  it("keeps a BitCast's float16 operands float16: its result widened for other readers, a widened value narrowed back for it", async () => {
    const out = await runPassOn(widenFloat16Pass, `
input %i : int16[4]
input %x : float16[4]
%h : float16[4] = BitCast[to=10](%i) {name="in"}
%n : float16[4] = Neg(%h) {name="neg"}
%b : int16[4] = BitCast[to=5](%n) {name="out"}
%xb : uint16[4] = BitCast[to=4](%x) {name="input"}
%a : float16[4] = Abs(%x) {name="abs"}
%hb : int16[4] = BitCast[to=5](%h) {name="again"}
output %b
output %xb
output %a
output %h
output %hb`);
    for (const line of [
      "%h : float16[4] = BitCast[to=10](%i)", // the bits stay float16, as a graph input's would
      "%h/float32 : float32[4] = Cast[to=1](%h)", // widened for Neg
      "%n : float32[4] = Neg(%h/float32)",
      "%n/float16 : float16[4] = Cast[to=10](%n)", // narrowed back (exactly) for the BitCast
      "%b : int16[4] = BitCast[to=5](%n/float16)",
      "%xb : uint16[4] = BitCast[to=4](%x)", // a float16 input read as it is
      "%hb : int16[4] = BitCast[to=5](%h)",
    ]) expect(out).toContain(line);
    expect(out).not.toMatch(/BitCast\[to=1\]/);
  });

  it("rounds only the float16 outputs of a node that gives float32 ones too", async () => {
    const out = await runPassOn(widenFloat16Pass, `
input %q : float32[1,1,4]
input %p : float16[1,1,4,4]
%o : float32[1,1,4], %s : float16[1,1,4,4] = LinearAttention[q_num_heads=1, kv_num_heads=1, update_rule="linear"](%q, %q, %q, %p) {name="la"}
%y : float32[1,1,4] = Neg(%o) {name="neg"}
%z : float32[1,1,4,4] = Cast[to=1](%s) {name="wide"}
output %y
output %z`);
    expect(out).toContain("%o : float32[1,1,4], %s/unrounded : float32[1,1,4,4] = LinearAttention");
    expect(out).toContain("%s/float16 : float16[1,1,4,4] = Cast[to=10](%s/unrounded)");
    expect(out).toContain("%y : float32[1,1,4] = Neg(%o)");
    expect(out).not.toContain("%o/unrounded");
  });

  it("lets nodes inside read an output through its float32 value", async () => {
    const out = await runPassOn(widenFloat16Pass, `
input %x : float16[4]
%a : float16[4] = Neg(%x) {name="a"}
%b : float16[4] = Exp(%a) {name="b"}
output %a
output %b`);
    expect(out).toContain("%a/float32 : float32[4] = Neg(%x/float32)");
    expect(out).toContain("%b/float32 : float32[4] = Exp(%a/float32)");
    expect(out).toContain("%a : float16[4] = Cast[to=10](%a/float32)");
    expect(out).not.toMatch(/Exp\(%a\)/);
  });

  it("keeps a constant output float16, and the nodes reading it read a float32 copy", async () => {
    const out = await runPassOn(widenFloat16Pass, `
input %x : float16[2]
const %c : float16[2] = dense<[1.5, -0.25]>
%y : float16[2] = Mul(%x, %c) {name="mul"}
output %c
output %y`);
    expect(out).toContain("const %c : float16[2] = dense<[1.5, -0.25]>");
    expect(out).toContain("const %c/float32 : float32[2] = dense<[1.5, -0.25]>");
    expect(out).toContain("%y/float32 : float32[2] = Mul(%x/float32, %c/float32)");
  });

  it("lets nodes inside read a converted output rounded, as the output holds it", async () => {
    const out = await runPassOn(widenFloat16Pass, `
input %x : float32[1]
%h : float16[1] = Cast[to=10](%x) {name="narrow"}
%w : float32[1] = Cast[to=1](%h) {name="wide"}
%y : float32[1] = Abs(%w) {name="abs"}
output %y
output %h`);
    expect(out).toContain("%h : float16[1] = Cast[to=10](%h/float32)");
    expect(out).toContain("%h/rounded : float32[1] = Cast[to=1](%h)");
    expect(out).toContain("%w : float32[1] = Cast[to=1](%h/rounded)");
  });

  it("leaves a float32 graph as it is", () => expectUnchanged(widenFloat16Pass, `
input %x : float32[4]
%y : float32[4] = Relu(%x) {name="r"}
output %y`));
});
