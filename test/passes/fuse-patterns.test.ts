import { describe, expect, it } from "vitest";
import { parseGraph } from "../../compiler/ir/parse.js";
import { printGraph } from "../../compiler/ir/print.js";
import { fusePatternsPass, recognizePatterns } from "../../passes/fuse-patterns.js";
import type { Pass } from "../../passes/pass.js";
import { expectUnchanged, runPassOn } from "./util.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { compareTensors } from "../../compiler/driver/testdata.js";
import { runOrt, tensor } from "../util/ort.js";

const pass: Pass = fusePatternsPass;

/** Like util's expectPass, with the expected text's own opsets header. */
async function expectPass(input: string, header: string, expected: string): Promise<void> {
  expect(await runPassOn(pass, input)).toBe(printGraph(parseGraph(header + "\n" + expected)));
}

const LAYER_NORM = (square: string, eps = "1e-05", axes = "[-1]") => `
input %x : float32[2,3,8]
const %gamma : float32[8] = splat<1.5>
const %beta : float32[8] = splat<0.25>
const %two : float32[] = dense<[2]>
const %eps : float32[] = dense<[${eps}]>
%mu : float32[2,3,1] = ReduceMean[axes=${axes}](%x) {name="mean"}
%d : float32[2,3,8] = Sub(%x, %mu) {name="sub"}
${square}
%var : float32[2,3,1] = ReduceMean[axes=${axes}](%sq) {name="var"}
%ve : float32[2,3,1] = Add(%var, %eps) {name="addeps"}
%sd : float32[2,3,1] = Sqrt(%ve) {name="sqrt"}
%n : float32[2,3,8] = Div(%d, %sd) {name="div"}
%s : float32[2,3,8] = Mul(%n, %gamma) {name="gamma"}
%y : float32[2,3,8] = Add(%s, %beta) {name="beta"}
output %y`;

const POW = `%sq : float32[2,3,8] = Pow(%d, %two) {name="pow"}`;

describe("fuse-patterns: LayerNorm", () => {
  it("rewrites the decomposed form (Pow 2) into LayerNormalization, raising opset 13 to 17", () => expectPass(LAYER_NORM(POW), `kiln.graph opsets("" = 17)`, `
input %x : float32[2,3,8]
const %gamma : float32[8] = splat<1.5>
const %beta : float32[8] = splat<0.25>
%y : float32[2,3,8] = LayerNormalization[axis=2, epsilon=1e-05](%x, %gamma, %beta) {name="beta"}
output %y`));

  it("accepts Mul(d, d) as the square", () => expectPass(LAYER_NORM(`%sq : float32[2,3,8] = Mul(%d, %d) {name="sq"}`, "1e-12"), `kiln.graph opsets("" = 17)`, `
input %x : float32[2,3,8]
const %gamma : float32[8] = splat<1.5>
const %beta : float32[8] = splat<0.25>
%y : float32[2,3,8] = LayerNormalization[axis=2, epsilon=1e-12](%x, %gamma, %beta) {name="beta"}
output %y`));

  it("reads opset-18 axes inputs and the Reciprocal + Mul form", async () => {
    const g = parseGraph(`kiln.graph opsets("" = 18)` + LAYER_NORM(POW)
      .replaceAll("ReduceMean[axes=[-1]](%x)", "ReduceMean(%x, %axes)").replaceAll("ReduceMean[axes=[-1]](%sq)", "ReduceMean(%sq, %axes)")
      .replace("const %two", "const %axes : int64[1] = dense<[2]>\nconst %two")
      .replace(`%n : float32[2,3,8] = Div(%d, %sd) {name="div"}`, `%rs : float32[2,3,1] = Reciprocal(%sd) {name="rcp"}\n%n : float32[2,3,8] = Mul(%rs, %d) {name="div"}`));
    expect(recognizePatterns(g)).toBe(1);
    expect(printGraph(g)).toContain(`LayerNormalization[axis=2, epsilon=0.00001](%x, %gamma, %beta) {name="beta"}`);
    expect(g.opset("")).toBe(18);
  });

  it("without the beta Add, LayerNormalization takes no bias", () => expectPass(LAYER_NORM(POW)
    .replace(`%y : float32[2,3,8] = Add(%s, %beta) {name="beta"}`, "").replace("output %y", "output %s"), `kiln.graph opsets("" = 17)`, `
input %x : float32[2,3,8]
const %gamma : float32[8] = splat<1.5>
%s : float32[2,3,8] = LayerNormalization[axis=2, epsilon=0.00001](%x, %gamma) {name="gamma"}
output %s`));

  it("does not fire when the exponent is not 2", () => expectUnchanged(pass, LAYER_NORM(POW).replace("dense<[2]>", "dense<[3]>")));

  it("does not fire when the reduced axes are not trailing", () => expectUnchanged(pass, LAYER_NORM(POW, "1e-05", "[1]")
    .replaceAll("float32[2,3,1]", "float32[2,1,8]")));

  it("does not fire when an intermediate is read elsewhere", () => expectUnchanged(pass, LAYER_NORM(POW) + "\noutput %var"));

  it("does not raise the opset over an op whose meaning changed since (RoiAlign defaults)", () => expectUnchanged(pass, LAYER_NORM(POW)
    .replace("output %y", `%t : float32[2,3,8] = RoiAlign(%x, %x, %x) {name="other"}\noutput %y\noutput %t`)));

  it("raises opset 13 over QuantizeLinear / DequantizeLinear (onnxruntime's quantize_static writes QDQ graphs at 13; their meaning is the same at 17)", async () => {
    const qdq = LAYER_NORM(POW).replace("output %y", `const %qs : float32[] = dense<[0.05]>
const %qz : int8[] = dense<[3]>
%q : int8[2,3,8] = QuantizeLinear(%y, %qs, %qz) {name="q"}
%dq : float32[2,3,8] = DequantizeLinear(%q, %qs, %qz) {name="dq"}
output %dq`);
    const out = await runPassOn(pass, qdq);
    expect(out).toMatch(/^kiln\.graph opsets\("" = 17\)/);
    expect(out).toContain(`LayerNormalization[axis=2, epsilon=0.00001](%x, %gamma, %beta) {name="beta"}`);
  });
});

const GELU_ERF = (tail: string) => `
input %x : float32[4,5]
const %sqrt2 : float32[] = dense<[1.4142135]>
const %one : float32[] = dense<[1]>
const %half : float32[] = dense<[0.5]>
%d : float32[4,5] = Div(%x, %sqrt2) {name="div"}
%e : float32[4,5] = Erf(%d) {name="erf"}
%a : float32[4,5] = Add(%e, %one) {name="add"}
${tail}
output %y`;

const GELU_OUT = (approx = "") => `
input %x : float32[4,5]
%y : float32[4,5] = Gelu${approx}(%x) {name="last"}
output %y`;

describe("fuse-patterns: GELU", () => {
  it("x * 0.5 * (1 + erf(x / sqrt 2))", () => expectPass(GELU_ERF(`
%h : float32[4,5] = Mul(%x, %half) {name="half"}
%y : float32[4,5] = Mul(%h, %a) {name="last"}`), `kiln.graph opsets("" = 20)`, GELU_OUT()));

  it("(x * (1 + erf)) * 0.5 and x * ((1 + erf) * 0.5)", async () => {
    await expectPass(GELU_ERF(`
%p : float32[4,5] = Mul(%x, %a) {name="p"}
%y : float32[4,5] = Mul(%p, %half) {name="last"}`), `kiln.graph opsets("" = 20)`, GELU_OUT());
    await expectPass(GELU_ERF(`
%q : float32[4,5] = Mul(%a, %half) {name="q"}
%y : float32[4,5] = Mul(%x, %q) {name="last"}`), `kiln.graph opsets("" = 20)`, GELU_OUT());
  });

  it("x * (1 / sqrt 2) as the Erf argument", () => expectPass(GELU_ERF(`
%h : float32[4,5] = Mul(%half, %x) {name="half"}
%y : float32[4,5] = Mul(%a, %h) {name="last"}`).replace("dense<[1.4142135]>", "dense<[0.70710677]>").replace("Div(%x, %sqrt2)", "Mul(%sqrt2, %x)"),
  `kiln.graph opsets("" = 20)`, GELU_OUT()));

  it("does not fire on a wrong constant (x / 2) or when 1 + erf is read elsewhere", async () => {
    await expectUnchanged(pass, GELU_ERF(`
%h : float32[4,5] = Mul(%x, %half) {name="half"}
%y : float32[4,5] = Mul(%h, %a) {name="last"}`).replace("dense<[1.4142135]>", "dense<[2]>"));
    await expectUnchanged(pass, GELU_ERF(`
%h : float32[4,5] = Mul(%x, %half) {name="half"}
%y : float32[4,5] = Mul(%h, %a) {name="last"}`) + "\noutput %a");
  });

  it("leaves GELU alone when the model's opset cannot be raised to 20 (opset 11)", async () => {
    const text = `kiln.graph opsets("" = 11)` + GELU_ERF(`
%h : float32[4,5] = Mul(%x, %half) {name="half"}
%y : float32[4,5] = Mul(%h, %a) {name="last"}`);
    const g = parseGraph(text);
    expect(recognizePatterns(g)).toBe(0);
    expect(printGraph(g)).toBe(printGraph(parseGraph(text)));
  });

  it("raises opset 17 to 20 over a ReduceMean (T5's and Llama's RMS norm): its axes attribute becomes the input opset 18 reads, the same values as onnxruntime", async () => {
    const text = `kiln.graph opsets("" = 17)` + GELU_ERF(`
%h : float32[4,5] = Mul(%x, %half) {name="half"}
%g : float32[4,5] = Mul(%h, %a) {name="last"}
%sq : float32[4,5] = Mul(%g, %g) {name="sq"}
%ms : float32[4,1] = ReduceMean[axes=[-1]](%sq) {name="ms"}
%all : float32[] = ReduceMean[keepdims=0](%g) {name="all"}
%y : float32[4,5] = Div(%g, %ms) {name="div"}`).replace("output %y", "output %y\noutput %all");
    const g = parseGraph(text);
    expect(recognizePatterns(g)).toBe(1);
    expect(g.opset("")).toBe(20);
    const ms = g.nodeList().find((n) => n.name === "ms")!, all = g.nodeList().find((n) => n.name === "all")!;
    expect(ms.attrs.axes).toBeUndefined();
    expect(Array.from(g.values.get(ms.inputs[1])!.const!.data as BigInt64Array, Number)).toEqual([-1]);
    expect(all.inputs.length).toBe(1);
    expect(all.attrs.keepdims).toEqual({ type: "int", value: 0 });
    const x = tensor({ dtype: "float32", dims: [4, 5], lo: -3, hi: 3 }, 5);
    const [before, after] = [exportModel(parseGraph(text), { valueInfo: false }), exportModel(g, { valueInfo: false })];
    const [want, got] = [await runOrt(before, { x }), await runOrt(after, { x })];
    for (const o of ["y", "all"]) expect(compareTensors(got[o], want[o], { rtol: 1e-5, atol: 1e-6 }).message ?? "ok", o).toBe("ok");
  });

  const tanhForm = (cube: string) => `
input %x : float32[4,5]
const %k : float32[] = dense<[0.7978846]>
const %c : float32[] = dense<[0.044715]>
const %three : float32[] = dense<[3]>
const %one : float32[] = dense<[1]>
const %half : float32[] = dense<[0.5]>
${cube}
%c3 : float32[4,5] = Mul(%c, %x3) {name="c3"}
%in : float32[4,5] = Add(%x, %c3) {name="inner"}
%s : float32[4,5] = Mul(%in, %k) {name="scale"}
%t : float32[4,5] = Tanh(%s) {name="tanh"}
%a : float32[4,5] = Add(%one, %t) {name="add"}
%h : float32[4,5] = Mul(%half, %x) {name="half"}
%y : float32[4,5] = Mul(%h, %a) {name="last"}
output %y`;

  it("0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) with Pow or Mul cubes", async () => {
    const out = GELU_OUT(`[approximate="tanh"]`);
    await expectPass(tanhForm(`%x3 : float32[4,5] = Pow(%x, %three) {name="cube"}`), `kiln.graph opsets("" = 20)`, out);
    await expectPass(tanhForm(`%xx : float32[4,5] = Mul(%x, %x) {name="sq"}\n%x3 : float32[4,5] = Mul(%xx, %x) {name="cube"}`), `kiln.graph opsets("" = 20)`, out);
  });

  it("does not fire when the cubic coefficient is wrong", () => expectUnchanged(pass, tanhForm(`%x3 : float32[4,5] = Pow(%x, %three) {name="cube"}`)
    .replace("dense<[0.044715]>", "dense<[0.05]>")));
});

describe("fuse-patterns: scaled Softmax", () => {
  it("Softmax(x / c) becomes a scaled-softmax fused node with inputs [x, c]", () => expectPass(`
input %x : float32[2,4,4]
const %c : float32[] = dense<[8]>
%s : float32[2,4,4] = Div(%x, %c) {name="scale"}
%y : float32[2,4,4] = Softmax[axis=-1](%s) {name="softmax"}
output %y`, `kiln.graph opsets("" = 13, "kiln.fused" = 1)`, `
input %x : float32[2,4,4]
const %c : float32[] = dense<[8]>
%y : float32[2,4,4] = kiln.fused::Div_Softmax(%x, %c) {name="softmax", kind="scaled-softmax", fused="Div+Softmax"} {
  %s : float32[2,4,4] = Div(%x, %c) {name="scale"}
  %y : float32[2,4,4] = Softmax[axis=-1](%s) {name="softmax"}
}
output %y`));

  it("does not fire for a non-constant or non-scalar scale, or a scaled value read elsewhere", async () => {
    await expectUnchanged(pass, `
input %x : float32[2,4]
input %c : float32[]
%s : float32[2,4] = Mul(%c, %x) {name="scale"}
%y : float32[2,4] = Softmax(%s) {name="softmax"}
output %y`);
    await expectUnchanged(pass, `
input %x : float32[2,4]
const %c : float32[4] = splat<2>
%s : float32[2,4] = Mul(%x, %c) {name="scale"}
%y : float32[2,4] = Softmax(%s) {name="softmax"}
output %y`);
    await expectUnchanged(pass, `
input %x : float32[2,4]
const %c : float32[] = dense<[2]>
%s : float32[2,4] = Mul(%x, %c) {name="scale"}
%y : float32[2,4] = Softmax(%s) {name="softmax"}
output %y
output %s`);
  });
});
