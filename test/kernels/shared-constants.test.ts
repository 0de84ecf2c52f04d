// Kernel constants derived from one weight tensor by one recipe (Winograd U, packed panels) are
// placed once when several layers read that tensor: the image shrinks by exactly the copies saved,
// and every layer still computes what onnxruntime computes.
import { describe, expect, it } from "vitest";
import { compile } from "../../compiler/driver/api.js";
import { parseGraph } from "../../compiler/ir/parse.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { compareTensors } from "../../compiler/driver/testdata.js";
import { runKiln, runOrt, tensor } from "../util/ort.js";

const dense = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (Math.sin(i * 0.7 + seed) * 0.3).toFixed(5)).join(", ");

/**
 * Two stride-1 3x3 layers (Winograd) and a stride-2 one (im2col, packed A) read %w, two 1x1
 * layers on 7x7 (packed W^T) read %q; with `tied` false the second of each pair reads a distinct tensor.
 */
function model(tied: boolean): Uint8Array {
  const w2 = tied ? "%w" : "%w2";
  return exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[1,16,14,14]
const %w : float32[16,16,3,3] = dense<[${dense(2304, 1)}]>
const %w2 : float32[16,16,3,3] = dense<[${dense(2304, 2)}]>
const %p : float32[32,16,1,1] = dense<[${dense(512, 3)}]>
const %p2 : float32[32,32,1,1] = dense<[${dense(1024, 5)}]>
const %q : float32[32,32,1,1] = dense<[${dense(1024, 4)}]>
%a : float32[1,16,14,14] = Conv[pads=[1,1,1,1]](%x, %w) {name="a"}
%ar : float32[1,16,14,14] = Relu(%a) {name="ar"}
%b : float32[1,16,14,14] = Conv[pads=[1,1,1,1]](%ar, ${w2}) {name="b"}
%c : float32[1,16,7,7] = Conv[pads=[1,1,1,1], strides=[2,2]](%b, %w) {name="c"}
%d : float32[1,32,7,7] = Conv(%c, %p) {name="d"}
%e : float32[1,32,7,7] = Conv(%d, %q) {name="e"}
%f : float32[1,32,7,7] = Conv(%e, ${tied ? "%q" : "%p2"}) {name="f"}
output %b
output %f`));
}

describe("kernel constants shared between layers", () => {
  it("layers reading one weight tensor share its packed forms, and still match onnxruntime", async () => {
    const x = tensor({ dims: [1, 16, 14, 14] }, 5);
    const tied = await compile(model(true), { simd: "baseline", prepack: true });
    const untied = await compile(model(false), { simd: "baseline", prepack: true });
    // the bytes written into memory: untied has one more Winograd U (16x16 F(2x2): 16 * 16 * 16
    // floats) and one more packed 32x32 W^T (the raw weights of both are read by no layer)
    const image = (m: typeof tied) => m.manifest.memory.regions.reduce((a, r) => a + r.bytes, 0);
    expect(image(untied) - image(tied)).toBe(4 * (16 * 16 * 16 + 32 * 32));
    // compact (codegen/derive.ts): the image holds the raw weights once (3x3 w2 more when untied),
    // and the forms derived from them are shared the same way; a 1x1 layer's packed W^T, its
    // weight's only use and as big as it, ships ready (p2's 32x32 more when untied), derived by no one
    const [cTied, cUntied] = [await compile(model(true), { simd: "baseline" }), await compile(model(false), { simd: "baseline" })];
    const derived = (m: typeof tied) => [...new Map(m.manifest.layers.flatMap((l) => (l.derived ?? []).map(([at, n]) => [at, n] as const))).values()].reduce((a, n) => a + n, 0);
    expect(image(cUntied) - image(cTied)).toBe(4 * (16 * 16 * 9 + 32 * 32));
    expect(derived(cUntied) - derived(cTied)).toBe(4 * 16 * 16 * 16);
    for (const c of [cTied, cUntied]) {
      const pointwise = c.manifest.layers.filter((l) => ["d", "e", "f"].includes(l.name));
      expect(pointwise.map((l) => l.name)).toEqual(["d", "e", "f"]);
      expect(pointwise.flatMap((l) => l.derived ?? [])).toEqual([]);
    }
    for (const tie of [true, false]) {
      const bytes = model(tie);
      const [got, want] = [await runKiln(bytes, { x }), await runOrt(bytes, { x })];
      for (const o of ["b", "f"]) {
        const c = compareTensors(got[o], want[o], { rtol: 1e-4, atol: 1e-4 });
        expect(c.ok, `${tie ? "tied" : "untied"} ${o}: ${c.message}`).toBe(true);
      }
    }
  });
});
