// Compile-time evaluation modules (compiler/driver/evaluate.ts) write elementwise results over a constant
// operand of the result's shape that nothing else reads (GenerateOptions.inPlaceConstants): the
// memory holds a folded weight once. Results must match the module that keeps both, and a
// constant read twice, or one that is itself a result, must not be overwritten.
import { describe, expect, it } from "vitest";
import { parseGraph } from "../../compiler/ir/parse.js";
import { generate } from "../../codegen/module.js";
import { createSession } from "../../runtime/session.js";

const w = Array.from({ length: 24 }, (_, i) => (i * 7) % 11 - 4.5);

function evaluate(text: string, inPlaceConstants: boolean) {
  const g = parseGraph(text);
  const gen = generate(g, { weights: "external", inPlaceConstants });
  return createSession(new WebAssembly.Module(gen.wasm as Uint8Array<ArrayBuffer>), { weights: gen.weights }).then((s) => ({
    out: s.runInPlace({}),
    bytes: s.manifest.memory.bytes,
    offsets: Object.fromEntries(s.manifest.outputs.map((o) => [o.name, o.offset])),
  }));
}

describe("in-place constants in evaluation modules", () => {
  it("folds a per-channel scale into a weight over the weight, with the values of the two-buffer module", async () => {
    const text = `kiln.graph opsets("" = 13)
const %w : float32[4,2,3,1] = dense<[${w.join(", ")}]>
const %s : float32[4,1,1,1] = dense<[0.5, -2, 3, 0.25]>
%y : float32[4,2,3,1] = Mul(%w, %s) {name="fold"}
output %y`;
    const [inPlace, apart] = [await evaluate(text, true), await evaluate(text, false)];
    expect(Array.from(inPlace.out.y.data as Float32Array)).toEqual(w.map((v, i) => Math.fround(v * [0.5, -2, 3, 0.25][Math.floor(i / 6)])));
    expect(Array.from(inPlace.out.y.data as Float32Array)).toEqual(Array.from(apart.out.y.data as Float32Array));
    expect(inPlace.offsets.y).toBeLessThan(apart.offsets.y); // the result sits where w was
  });

  it("leaves a constant read twice, and one that is also a result, where it is", async () => {
    const text = `kiln.graph opsets("" = 13)
const %w : float32[4,6] = dense<[${w.join(", ")}]>
const %b : float32[6] = dense<[1, 2, 3, 4, 5, 6]>
%a : float32[4,6] = Mul(%w, %w) {name="sq"}
%c : float32[4,6] = Add(%w, %b) {name="shift"}
%d : float32[6] = Sub(%b, %b) {name="zero"}
const %v : float32[6] = dense<[6, 5, 4, 3, 2, 1]>
const %k : float32[1] = dense<[-1]>
%e : float32[6] = Mul(%v, %k) {name="neg"}
output %a
output %c
output %d
output %v
output %e`;
    const { out } = await evaluate(text, true);
    expect(Array.from(out.a.data as Float32Array)).toEqual(w.map((v) => Math.fround(v * v)));
    expect(Array.from(out.c.data as Float32Array)).toEqual(w.map((v, i) => v + (i % 6) + 1));
    expect(Array.from(out.d.data as Float32Array)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(out.v.data as Float32Array)).toEqual([6, 5, 4, 3, 2, 1]);
    expect(Array.from(out.e.data as Float32Array)).toEqual([-6, -5, -4, -3, -2, -1]);
  });
});
