import { describe, expect, it } from "vitest";
import { parseGraph } from "../../compiler/ir/parse.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { load } from "../../compiler/driver/api.js";
import { compareTensors } from "../../compiler/driver/testdata.js";
import { fuseTransposedMatmulPass } from "../../passes/fuse-transposed-matmul.js";
import { expectPass, expectUnchanged } from "./util.js";
import { runOrt, tensor } from "../util/ort.js";

const pass = fuseTransposedMatmulPass;

// attention's products as exporters write them: heads split by Reshape + Transpose, merged back
const heads = (s: number, h: number, d: number) => `
input %q : float32[1,${s},${h},${d}]
input %k : float32[1,${s},${h},${d}]
input %v : float32[1,${s},${h},${d}]
%qh : float32[1,${h},${s},${d}] = Transpose[perm=[0, 2, 1, 3]](%q) {name="qh"}
%kt : float32[1,${h},${d},${s}] = Transpose[perm=[0, 2, 3, 1]](%k) {name="kt"}
%vh : float32[1,${h},${s},${d}] = Transpose[perm=[0, 2, 1, 3]](%v) {name="vh"}
%sc : float32[1,${h},${s},${s}] = MatMul(%qh, %kt) {name="scores"}
%p : float32[1,${h},${s},${s}] = Softmax[axis=-1](%sc) {name="probs"}
%ctx : float32[1,${h},${s},${d}] = MatMul(%p, %vh) {name="context"}
%y : float32[1,${s},${h},${d}] = Transpose[perm=[0, 2, 1, 3]](%ctx) {name="merge"}
output %y`;

describe("fuse-transposed-matmul", () => {
  it("takes the Q, K and V head transposes and the merge into the two products", () => expectPass(pass, heads(9, 3, 8), `
input %q : float32[1,9,3,8]
input %k : float32[1,9,3,8]
input %v : float32[1,9,3,8]
%sc : float32[1,3,9,9] = Einsum[equation="acbd,aebd->abce"](%q, %k) {name="scores"}
%p : float32[1,3,9,9] = Softmax[axis=-1](%sc) {name="probs"}
%y : float32[1,9,3,8] = Einsum[equation="abcd,adbe->acbe"](%p, %v) {name="context"}
output %y`));

  it("leaves a Transpose another node reads, a product the packed kernel does not take, and a MatMul with no Transpose", async () => {
    await expectUnchanged(pass, `
input %q : float32[1,9,3,8]
input %k : float32[1,3,8,9]
%qh : float32[1,3,9,8] = Transpose[perm=[0, 2, 1, 3]](%q) {name="qh"}
%sc : float32[1,3,9,9] = MatMul(%qh, %k) {name="scores"}
%z : float32[1,3,9,8] = Relu(%qh) {name="other"}
output %sc
output %z`);
    // 4 columns: fewer than the packed kernel's 8
    await expectUnchanged(pass, `
input %q : float32[1,9,3,8]
input %k : float32[1,3,8,4]
%qh : float32[1,3,9,8] = Transpose[perm=[0, 2, 1, 3]](%q) {name="qh"}
%sc : float32[1,3,9,4] = MatMul(%qh, %k) {name="scores"}
output %sc`);
    // one Transpose read as both operands
    await expectUnchanged(pass, `
input %q : float32[1,9,3,9]
%qh : float32[1,3,9,9] = Transpose[perm=[0, 2, 1, 3]](%q) {name="qh"}
%sc : float32[1,3,9,9] = MatMul(%qh, %qh) {name="square"}
output %sc`);
    await expectUnchanged(pass, `
input %a : float32[2,9,8]
input %b : float32[2,8,12]
%c : float32[2,9,12] = MatMul(%a, %b) {name="mm"}
output %c`);
  });

  // transformers 5: Q and K each scaled by a constant after their head transposes
  const scaled = (s: number, h: number, d: number) => `
input %q : float32[1,${s},${h},${d}]
input %k : float32[1,${s},${h},${d}]
const %c : float32[] = dense<[0.5]>
%qh : float32[1,${h},${s},${d}] = Transpose[perm=[0, 2, 1, 3]](%q) {name="qh"}
%kt : float32[1,${h},${d},${s}] = Transpose[perm=[0, 2, 3, 1]](%k) {name="kt"}
%qs : float32[1,${h},${s},${d}] = Mul(%qh, %c) {name="qs"}
%ks : float32[1,${h},${d},${s}] = Mul(%c, %kt) {name="ks"}
%sc : float32[1,${h},${s},${s}] = MatMul(%qs, %ks) {name="scores"}
output %sc`;

  it("scales by a one-element constant before the head transposes, so they are taken in (the same values: a scalar product commutes with moving elements)", async () => {
    await expectPass(pass, scaled(9, 3, 8), `
input %q : float32[1,9,3,8]
input %k : float32[1,9,3,8]
const %c : float32[] = dense<[0.5]>
%qs/before_transpose : float32[1,9,3,8] = Mul(%q, %c) {name="qs"}
%ks/before_transpose : float32[1,9,3,8] = Mul(%c, %k) {name="ks"}
%sc : float32[1,3,9,9] = Einsum[equation="acbd,aebd->abce"](%qs/before_transpose, %ks/before_transpose) {name="scores"}
output %sc`);
    const bytes = exportModel(parseGraph(`kiln.graph opsets("" = 13)\n${scaled(13, 3, 9)}`), { valueInfo: false });
    const feeds = Object.fromEntries(["q", "k"].map((n, i) => [n, tensor({ dims: [1, 13, 3, 9] }, 3 + i)]));
    const model = await load(bytes, { cache: false });
    expect(model.session!.manifest.layers.map((l) => `${l.op}:${l.kernel}`)).toContain("Einsum:packed");
    const got = await model.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
    const want = await runOrt(bytes, feeds);
    expect(compareTensors(got.sc, want.sc, { rtol: 1e-4, atol: 1e-5 }).message ?? "ok").toBe("ok");
  });

  it("the compiled attention matches onnxruntime-node, with odd sequence, heads and head size", async () => {
    const g = parseGraph(`kiln.graph opsets("" = 13)\n${heads(13, 3, 9)}`);
    const bytes = exportModel(g, { valueInfo: false });
    const feeds = Object.fromEntries(["q", "k", "v"].map((n, i) => [n, tensor({ dims: [1, 13, 3, 9] }, 7 + i)]));
    const model = await load(bytes, { cache: false });
    expect(model.session!.manifest.layers.map((l) => `${l.op}:${l.kernel}`)).toEqual(["Einsum:packed", "Softmax:default", "Einsum:packed"]);
    const got = await model.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
    const want = await runOrt(bytes, feeds);
    expect(compareTensors(got.y, want.y, { rtol: 1e-4, atol: 1e-5 }).message ?? "ok").toBe("ok");
  });
});
