import { describe, expect, it } from "vitest";
import { parseGraph } from "../../compiler/ir/parse.js";
import { planMemory, planMemoryPass, printMemoryPlan } from "../../passes/plan-memory.js";
import { evaluateNode } from "../../compiler/driver/evaluate.js";

async function plan(text: string): Promise<string> {
  const g = parseGraph(`kiln.graph opsets("" = 13)\n${text}`);
  await planMemoryPass.run(g, { evaluate: evaluateNode });
  return printMemoryPlan(g);
}

const lines = (s: string) => s.trim().split("\n");

describe("plan-memory", () => {
  it("reuses a dead tensor's memory in a chain (ping-pong)", async () => {
    // a -> b -> c -> d: with in-place Relu everything shares one buffer
    expect(lines(await plan(`
input %x : float32[4]
%a : float32[4] = Neg(%x) {name="a"}
%b : float32[4] = Relu(%a) {name="b"}
%c : float32[4] = Relu(%b) {name="c"}
%y : float32[4] = Relu(%c) {name="y"}
output %y`))).toEqual(["arena 16 bytes (naive 48, lower bound 16)", "%a @0 +16", "%b @0 +16", "%c @0 +16"]);
  });

  it("does not reuse in place when the input is still needed later", async () => {
    expect(lines(await plan(`
input %x : float32[4]
%a : float32[4] = Neg(%x) {name="a"}
%b : float32[4] = Relu(%a) {name="b"}
%y : float32[4] = Add(%a, %b) {name="y"}
output %y`))).toEqual(["arena 32 bytes (naive 32, lower bound 32)", "%a @0 +16", "%b @16 +16"]);
  });

  it("never runs a non-elementwise op in place", async () => {
    expect(lines(await plan(`
input %x : float32[2,2]
%a : float32[2,2] = Neg(%x) {name="a"}
%b : float32[2,2] = Transpose(%a) {name="t"}
%y : float32[2,2] = Neg(%b) {name="y"}
output %y`))).toEqual(["arena 32 bytes (naive 32, lower bound 32)", "%a @0 +16", "%b @16 +16"]);
  });

  it("aliases reshapes to their input, with the union of lifetimes", async () => {
    expect(lines(await plan(`
input %x : float32[2,2]
const %s : int64[1] = dense<[4]>
%a : float32[2,2] = Neg(%x) {name="a"}
%r : float32[4] = Reshape(%a, %s) {name="r"}
%b : float32[2,2] = Neg(%a) {name="b"}
%y : float32[4] = Add(%r, %r) {name="y"}
%z : float32[2,2] = Neg(%b) {name="z"}
output %y
output %z`))).toEqual(["arena 32 bytes (naive 48, lower bound 32)", "%a @0 +16", "%r @0 +16", "%b @16 +16"]);
  });

  it("places big and small tensors without overlap while both live, and reaches the lower bound", async () => {
    const out = await plan(`
input %x : float32[64]
const %s : int64[1] = dense<[16]>
%big : float32[64] = Neg(%x) {name="big"}
%small : float32[16] = Slice(%big, %s, %s) {name="small"}
%t : float32[64] = Transpose(%big) {name="t"}
%y : float32[64] = Add(%t, %small) {name="y"}
output %y`);
    // all three are live at the Transpose: 256 + 64 + 256 bytes, and the plan needs no more
    expect(lines(out)).toEqual(["arena 576 bytes (naive 576, lower bound 576)", "%big @0 +256", "%small @512 +64", "%t @256 +256"]);
  });

  it("keeps graph inputs and outputs out of the arena", async () => {
    expect(lines(await plan(`
input %x : float32[4]
%y : float32[4] = Relu(%x) {name="y"}
output %y`))).toEqual(["arena 0 bytes (naive 0, lower bound 0)"]);
  });

  it("past its buffer limit, a linear scan: values live at once never share bytes, freed bytes are reused", () => {
    // Transposes neither alias nor run in place: every value has its own buffer; five live at once
    const ts = Array.from({ length: 5 }, (_, k) => `%t${k} : float32[2,${k + 2}] = Transpose(%x${k}) {name="t${k}"}`);
    const text = `kiln.graph opsets("" = 13)
${Array.from({ length: 5 }, (_, k) => `input %x${k} : float32[${k + 2},2]`).join("\n")}
${ts.join("\n")}
%u0 : float32[2,2] = Transpose(%x0) {name="u0"}
%u1 : float32[2,2] = Transpose(%u0) {name="u1"}
%u2 : float32[2,2] = Transpose(%u1) {name="u2"}
%y : float32[2,2] = Sum(%u2, %u2) {name="y"}
%c : float32[2,20] = Concat[axis=1](${ts.map((_, k) => `%t${k}`).join(", ")}) {name="c"}
output %y
output %c`;
    const g = parseGraph(text);
    const plan = planMemory(g, 0);
    const order = g.topoOrder();
    const born = new Map<string, number>(), dies = new Map<string, number>();
    order.forEach((n, t) => {
      n.outputs.forEach((o) => born.set(o, t));
      n.inputs.forEach((i) => dies.set(i, t));
    });
    const spans = [...plan.offsets].map(([v, at]) => ({ v, at, end: at + (g.values.get(v)!.shape as number[]).reduce((a, d) => a * d, 4), from: born.get(v)!, to: dies.get(v)! }));
    expect(spans).toHaveLength(8);
    for (const a of spans) for (const b of spans) {
      if (a.v >= b.v || a.to < b.from || b.to < a.from) continue;
      expect(a.end <= b.at || b.end <= a.at, `${a.v} and ${b.v} live together`).toBe(true);
    }
    expect(plan.offsets.get("u2"), "u2 takes the bytes u0 freed").toBe(plan.offsets.get("u0"));
    expect(plan.arenaBytes).toBeLessThanOrEqual(plan.naiveBytes);
    expect(plan.arenaBytes).toBeGreaterThanOrEqual(plan.lowerBoundBytes);
  });
});
