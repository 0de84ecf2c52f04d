import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import { parseGraph } from "../compiler/ir/parse.js";
import { printGraph } from "../compiler/ir/print.js";
import { verifyGraph } from "../compiler/ir/verify.js";
import { verifyTypes } from "../compiler/ops/verify-types.js";
import { runPasses } from "../passes/manager.js";
import { pipelineFor } from "../passes/index.js";
import type { Pass } from "../passes/pass.js";
import { evaluateNode } from "../compiler/driver/evaluate.js";
import { buildZooModel } from "../models/zoo.js";
import { importOnnx, prepareGraph } from "../compiler/driver/compile.js";
import { exportModel } from "../compiler/onnx/export.js";
import { KilnError } from "../runtime/errors.js";

const text = `kiln.graph opsets("" = 13)
input %x : float32[N,3]
input "%weird name" : int64[2]
const %w : float32[3,2] = dense<[1, 2, 3, 4.5, -0, nan]>
const %b : float32[2] = splat<0.25>
%y : float32[N,2] = MatMul(%x, %w) {name="mm"}
%z : float32[N,2] = Add(%y, %b) {name="add", fused="yes"}
%s0 : float32[N,1], _ = Split[axis=1, split=[1, 1]](%z) {name="split"}
%c : float32[] = Constant[value=float32[] dense<[2.5]>]() {name="c"}
%r : float32[N,2] = Relu(%z) {name="r"}
output %r
output %s0
`.replace('input "%weird name"', 'input %"weird name"');

describe("IR text", () => {
  it("prints what it parses (round trip is stable)", () => {
    const g = parseGraph(text);
    const once = printGraph(g);
    const twice = printGraph(parseGraph(once));
    expect(twice).toBe(once);
    expect(once).toContain('%"weird name" : int64[2]');
    expect(once).toContain("dense<[1, 2, 3, 4.5, -0, nan]>");
    expect(once).toContain('%z : float32[N,2] = Add(%y, %b) {name="add", fused="yes"}');
    expect(once).toContain('Split[axis=1, split=[1, 2]]'.replace("2]", "1]"));
  });

  it("keeps attribute kinds (int vs float vs list)", () => {
    const g = parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[2]
%y : float32[2] = LeakyRelu[alpha=1.0](%x) {name="n"}
%z : float32[2] = Foo[a=f[1, 2.5], b=[1, 2], c="s", d=3](%y) {name="m"}
output %z`);
    const n = g.node("n");
    expect(n.attrs.alpha).toEqual({ type: "float", value: 1 });
    const m = g.node("m");
    expect(m.attrs.a).toEqual({ type: "floats", value: [1, 2.5] });
    expect(m.attrs.b).toEqual({ type: "ints", value: [1, 2] });
    expect(m.attrs.c).toEqual({ type: "string", value: "s" });
    expect(m.attrs.d).toEqual({ type: "int", value: 3 });
  });

  it("refuses a negative or fractional dim in a type", () => {
    expect(() => parseGraph(`input %x : float32[-2]\noutput %x`)).toThrow(/IR text line 1: a dim is a non-negative integer or a name, got -2/);
    expect(() => parseGraph(`input %x : float32[2.5]\noutput %x`)).toThrow(/got 2\.5/);
  });

  it("reports a parse error with its line", () => {
    expect(() => parseGraph("kiln.graph opsets(\"\" = 13)\n%y = Relu(%x\n")).toThrow(/line 2/);
  });

  it("refuses a value defined twice (a node writing a const or an input; a const or input given twice)", () => {
    const head = `input %x : float32[2]\nconst %s : float32[] = dense<[2]>\n`;
    expect(() => parseGraph(`${head}%s : float32[2] = Relu(%x) {name="a"}\noutput %s`)).toThrow(/line 3: %s is defined twice, as a const and as a node's output/);
    expect(() => parseGraph(`${head}%x : float32[2] = Relu(%s) {name="a"}\noutput %x`)).toThrow(/%x is defined twice, as an input and as a node's output/);
    expect(() => parseGraph(`${head}input %s : float32[]\n`)).toThrow(/%s is defined twice, as a const and as an input/);
  });

  it("verifier rejects dangling values, double producers and cycles", () => {
    const dangling = parseGraph(`input %x : float32[2]\n%y : float32[2] = Add(%x, %nope) {name="a"}\noutput %y`);
    expect(() => verifyGraph(dangling)).toThrow(/"nope".*not a graph input/);
    expect(() => parseGraph(`input %x : float32[2]\n%y : float32[2] = Relu(%x) {name="a"}\n%y : float32[2] = Relu(%x) {name="b"}\noutput %y`))
      .toThrow(/produced by both/);
    const cyclic = parseGraph(`input %x : float32[2]\n%a : float32[2] = Add(%x, %b) {name="p"}\n%b : float32[2] = Relu(%a) {name="q"}\noutput %b`);
    expect(() => verifyGraph(cyclic)).toThrow(KilnError);
    expect(() => verifyGraph(cyclic)).toThrow(/cycle/);
  });

  it("the type check refuses declared types the ops do not give (Relu float32[2] -> [3], a Transpose's perm past its rank, an op kiln does not know), naming the node; kiln's passes keep it", async () => {
    const typed = (body: string) => parseGraph(`kiln.graph opsets("" = 13)\ninput %x : float32[2,4]\n${body}`);
    await expect(verifyTypes(typed(`%y : float32[2,5] = Relu(%x) {name="r"}\noutput %y`))).rejects.toThrow(/INVALID_MODEL: value "y" is declared float32\[2,5\], but Relu gives float32\[2,4\] for its inputs \[node "r", Relu\]/);
    await expect(verifyTypes(typed(`%y : int64[2,4] = Relu(%x) {name="r"}\noutput %y`))).rejects.toThrow(/declared int64\[2,4\], but Relu gives float32\[2,4\]/);
    await expect(verifyTypes(typed(`%y : float32[4,2] = Transpose[perm=[5, 0]](%x) {name="t"}\noutput %y`))).rejects.toThrow(/\[node "t", Transpose/);
    await expect(verifyTypes(typed(`%y : float32[2,4] = Frobnicate(%x) {name="f"}\noutput %y`))).rejects.toThrow(/UNSUPPORTED_OP: operator Frobnicate is not supported/);
    await verifyTypes(typed(`%y : float32[2,4] = Relu(%x) {name="r"}\n%z : float32[4,2] = Transpose[perm=[1, 0]](%y) {name="t"}\noutput %z`));
    // after every pass of a real pipeline (fused nodes keep their declared types), and a pass that breaks types is named
    const g = await prepareGraph(importOnnx(buildZooModel("mobilenet")));
    await runPasses(g, pipelineFor(2), { evaluate: evaluateNode }, { verifyEach: true });
    const breaks: Pass = { name: "breaks-types", description: "declares a wrong shape", run: (graph) => { const n = graph.nodeList().find((x) => x.op === "Relu" || x.domain.startsWith("kiln."))!; graph.values.get(n.outputs[0])!.shape = [7]; return {}; } };
    const h = await prepareGraph(importOnnx(buildZooModel("mlp")));
    await expect(runPasses(h, [breaks], { evaluate: evaluateNode }, { verifyEach: true })).rejects.toThrow(/INTERNAL: the graph is invalid after pass breaks-types: INVALID_MODEL: value .* is declared float32\[7\]/);
  });

  it("topological order is stable and follows data, not text order", () => {
    const g = parseGraph(`input %x : float32[2]
%b : float32[2] = Relu(%a) {name="second"}
%a : float32[2] = Relu(%x) {name="first"}
output %b`);
    expect(g.topoOrder().map((n) => n.name)).toEqual(["first", "second"]);
  });
});

describe("Graph.copy (a symbolic build's probes)", () => {
  it("copies nodes, values and lists, shares constant tensors, and leaves the original as it was", () => {
    const g = parseGraph(text);
    const before = printGraph(g);
    const c = g.copy()!;
    expect(printGraph(c)).toBe(before);
    expect(c.values.get("w")!.const).toBe(g.values.get("w")!.const);
    // the copy's changes stay in the copy: shapes, attribute lists, nodes, inputs
    c.values.get("y")!.shape![0] = 7;
    (c.node("split").attrs.split.value as number[])[0] = 2;
    c.removeNode("r");
    c.inputs.pop();
    expect(printGraph(g)).toBe(before);
    expect(g.values.get("y")!.shape).toEqual(["N", 2]);
    expect(g.node("split").attrs.split.value).toEqual([1, 1]);
    expect(g.nodeList().map((n) => n.name)).toContain("r");
    expect(g.inputs).toEqual(["x", "weird name"]);
    // a new node named as an existing one gets the name the original would give it
    const add = (h: typeof g) => h.addNode({ name: "mm", op: "Relu", domain: "", inputs: ["x"], outputs: [h.uniqueValueName("extra")], attrs: {} }).name;
    expect(add(g.copy()!)).toBe(add(g));
  });

  it("is undefined for a graph with subgraphs unless they are asked for: then cloned under the copy, opsets and tensors shared as imported", () => {
    const g = importOnnx(exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %c : bool[]
input %x : float32[2]
const %w : float32[2] = dense<[1, 2]>
%y : float32[2] = If[else_branch=graph, then_branch=graph](%c) {name="if"}
  graph else_branch {
    %n : float32[2] = Neg(%x) {name="neg"}
    output %n
  }
  graph then_branch {
    %m : float32[2] = Add(%x, %w) {name="add"}
    output %m
  }
output %y
`)));
    expect(g.copy()).toBeUndefined();
    const c = g.copy(false, true)!;
    expect(printGraph(c)).toBe(printGraph(g));
    const branch = (h: typeof g) => h.node("if").attrs.then_branch.value as typeof g;
    expect(branch(c)).not.toBe(branch(g));
    expect(branch(c).outer).toBe(c);
    // an imported branch shares its enclosing graph's opsets: the copy's branch shares the copy's
    expect(branch(g).opsets).toBe(g.opsets);
    expect(branch(c).opsets).toBe(c.opsets);
    expect(c.values.get("w")!.const).toBe(g.values.get("w")!.const);
    // the copy's branch changes in the copy only
    branch(c).removeNode("add");
    expect(branch(g).nodeList().map((n) => n.name)).toEqual(["add"]);
  });
});

describe("ONNX import/export", () => {
  it("exported IR re-imports to the same text", async () => {
    const g = parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[2,3]
const %w : float32[3] = dense<[1, 2, 3]>
%y : float32[2,3] = Add(%x, %w) {name="add"}
output %y`);
    const back = importOnnx(exportModel(g));
    expect(printGraph(back)).toBe(printGraph(g));
  });

  it("infers shapes and folds shape subgraphs to constants", async () => {
    const g = parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[N,3]
%s : int64[2] = Shape(%x) {name="shape"}
%y : float32[N,3] = Add(%x, %x) {name="add"}
output %y
output %s`);
    await prepareGraph(g, { shapes: { x: [4, 3] } });
    expect(g.values.get("s")!.const!.data).toEqual(BigInt64Array.from([4n, 3n]));
    expect(g.values.get("y")!.shape).toEqual([4, 3]);
  });

  it("reads initializers stored in typed fields and raw_data alike", () => {
    const bytes = fs.readFileSync("../shared/onnx/node/test_add/model.onnx");
    const g = importOnnx(new Uint8Array(bytes));
    expect(g.inputs).toEqual(["x", "y"]);
    expect(g.values.get("x")!.shape).toEqual([3, 4, 5]);
  });
});

describe("fused nodes in IR text", () => {
  it("print their body and parse back", () => {
    const text = `kiln.graph opsets("" = 13, "kiln.fused" = 1)
input %x : float32[1,2,4,4]
const %w : float32[3,2,1,1] = splat<0.5>
%y : float32[1,3,4,4] = kiln.fused::Conv_Relu(%x, %w) {name="conv", fused="Conv+Relu"} {
  %c : float32[1,3,4,4] = Conv(%x, %w) {name="conv"}
  %y : float32[1,3,4,4] = Relu(%c) {name="relu"}
}
output %y
`;
    const g = parseGraph(text);
    const n = g.node("conv");
    expect(n.body?.map((b) => b.op)).toEqual(["Conv", "Relu"]);
    expect(printGraph(g)).toBe(text);
  });
});
