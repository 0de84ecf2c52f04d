import { describe, expect, it } from "vitest";
import { fuseQdqLutPass } from "../../passes/fuse-qdq-lut.js";
import { parseGraph } from "../../compiler/ir/parse.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { compile, load } from "../../compiler/driver/api.js";
import { runOrt } from "../util/ort.js";
import { fileCheck } from "./check.js";
import { expectUnchanged, runPassOn } from "./util.js";

// HardSwish between a DequantizeLinear and a QuantizeLinear, a quantize/dequantize step inside,
// as onnxruntime's quantize_static leaves it in PP-OCR
const hardSwish = (x: string, extra = "") => `
input %x : ${x}[2,3,5]
const %s : float32[] = dense<[0.05]>
const %z : ${x}[] = dense<[3]>
const %s2 : float32[] = dense<[0.04]>
const %z2 : ${x}[] = dense<[-1]>
const %three : float32[] = dense<[3]>
const %zero : float32[] = dense<[0]>
const %six : float32[] = dense<[6]>
%f : float32[2,3,5] = DequantizeLinear(%x, %s, %z) {name="dq"}
%a : float32[2,3,5] = Add(%f, %three) {name="add"}
%aq : ${x}[2,3,5] = QuantizeLinear(%a, %s2, %z2) {name="aq"}
%ad : float32[2,3,5] = DequantizeLinear(%aq, %s2, %z2) {name="adq"}
%c : float32[2,3,5] = Clip(%ad, %zero, %six) {name="clip"}
%m : float32[2,3,5] = Mul(%f, %c) {name="mul"}
%d : float32[2,3,5] = Div(%m, %six) {name="div"}
%y : ${x}[2,3,5] = QuantizeLinear(%d, %s, %z) {name="q"}
${extra}output %y`;

describe("fuse-qdq-lut", () => {
  it("turns a float island over one 8-bit tensor into a LookupTable", async () => {
    const out = await runPassOn(fuseQdqLutPass, hardSwish("int8"));
    fileCheck(out, `
CHECK: const %y/table : int8[256] = opaque<256 elements
CHECK: %y : int8[2,3,5] = kiln.quant::LookupTable(%x, %y/table) {name="q"}
CHECK-NOT: DequantizeLinear
CHECK: output %y`);
  });

  it("leaves an island whose float value leaves it otherwise, or that reads a non-scalar tensor", async () => {
    await expectUnchanged(fuseQdqLutPass, hardSwish("int8", "output %d\n"));
    await expectUnchanged(fuseQdqLutPass, `
input %x : uint8[4]
const %s : float32[] = dense<[0.05]>
const %bias : float32[4] = dense<[1, 2, 3, 4]>
%f : float32[4] = DequantizeLinear(%x, %s) {name="dq"}
%a : float32[4] = Add(%f, %bias) {name="add"}
%y : uint8[4] = QuantizeLinear(%a, %s) {name="q"}
output %y`);
  });

  for (const dt of ["int8", "uint8"]) {
    it(`${dt}: the table gives what the nodes compute, for every input byte (-O2 against -O0 and onnxruntime-node)`, async () => {
      const text = `kiln.graph opsets("" = 19)\n${hardSwish(dt).replace(/\[2,3,5\]/g, "[256]")}`;
      const model = exportModel(parseGraph(text));
      const bytes = dt === "int8" ? Int8Array.from({ length: 256 }, (_, b) => b - 128) : Uint8Array.from({ length: 256 }, (_, b) => b);
      const feeds = { x: { data: bytes, dims: [256] } };
      expect((await compile(model, { level: 2 })).manifest.layers.map((l) => l.op)).toEqual(["LookupTable"]);
      const fused = await load(model, { level: 2 }), plain = await load(model, { level: 0 });
      const y2 = (await fused.run(feeds)).y.data, y0 = (await plain.run(feeds)).y.data;
      expect(Array.from(y2, Number)).toEqual(Array.from(y0, Number));
      const ort = (await runOrt(model, { x: { dtype: dt as "int8", dims: [256], data: bytes } })).y.data;
      const worst = Array.from(y2, Number).reduce((w, v, i) => Math.max(w, Math.abs(v - Number(ort[i]))), 0);
      expect(worst, "quantization steps from onnxruntime").toBeLessThanOrEqual(1);
    });
  }
});
