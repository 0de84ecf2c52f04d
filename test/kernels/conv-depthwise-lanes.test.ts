// The channels-in-lanes depthwise kernel (conv/depthwise-lanes.ts) against onnxruntime-node: which
// layers take it, then odd images (pixel counts off multiples of 4, so blocks wrap rows and tails
// run), batches, strides, asymmetric and wide pads, dilations, 5x5 kernels, no bias, and the fused
// epilogues (Clip as ReLU6, residual Add + Relu) applied after the transpose back to NCHW.
import { describe, expect, it } from "vitest";
import type { Attr, Node } from "../../compiler/ir/graph.js";
import { parseGraph } from "../../compiler/ir/parse.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { compareTensors } from "../../compiler/driver/testdata.js";
import { kernelsFor } from "../util/kernels.js";
import { expectMatchesOrt, runKiln, runOrt, tensor } from "../util/ort.js";

const ints = (value: number[]): Attr => ({ type: "ints", value });
const int = (value: number): Attr => ({ type: "int", value });
const tol = { rtol: 1e-4, atol: 1e-4 };

/** whether a depthwise Conv of these shapes takes the lanes kernel */
async function takesLanes(x: number[], w: number[], attrs: Record<string, Attr>, constant = true): Promise<boolean> {
  const { chosen } = await kernelsFor("Conv", [{ dims: x }, { dims: w, constant }], { group: int(x[1]), ...attrs });
  return chosen === "depthwise-lanes";
}

/** [x dims, kernel, attrs] of layers that take the kernel */
const CASES: [number[], number[], Record<string, Attr>][] = [
  [[2, 8, 7, 7], [3, 3], { pads: ints([1, 1, 1, 1]) }],
  [[1, 12, 14, 9], [3, 3], { pads: ints([1, 0, 0, 1]), strides: ints([2, 2]) }],
  [[1, 4, 10, 11], [5, 5], { pads: ints([4, 2, 4, 2]), dilations: ints([2, 1]) }],
  [[1, 8, 6, 5], [3, 3], { strides: ints([1, 2]) }],
  [[1, 4, 1, 1], [3, 3], { pads: ints([1, 1, 1, 1]) }],
  [[1, 16, 28, 28], [3, 3], { pads: ints([1, 2, 1, 0]) }],
];

describe("depthwise conv, channels in lanes, vs onnxruntime", () => {
  it("takes constant-weight depthwise layers of 4k channels on images up to 28x28 outputs, and no others", async () => {
    for (const [x, k, attrs] of CASES) expect(await takesLanes(x, [x[1], 1, ...k], attrs), x.join("x")).toBe(true);
    expect(await takesLanes([1, 6, 7, 7], [6, 1, 3, 3], { pads: ints([1, 1, 1, 1]) })).toBe(false); // 6 channels
    expect(await takesLanes([1, 8, 7, 7], [8, 1, 3, 3], { pads: ints([1, 1, 1, 1]) }, false)).toBe(false); // weights at run time
    expect(await takesLanes([1, 8, 56, 56], [8, 1, 3, 3], { pads: ints([1, 1, 1, 1]) })).toBe(false); // a long-row image
    expect(await takesLanes([1, 8, 7, 7], [8, 1, 7, 7], { pads: ints([3, 3, 3, 3]) })).toBe(false); // 49 taps
  });

  it("matches over odd images, batches, strides, pads, dilations and 5x5 kernels, with and without bias", async () => {
    for (const [[N, C, H, W], k, attrs] of CASES) {
      for (const bias of [true, false]) {
        await expectMatchesOrt({ op: "Conv", attrs: { group: int(C), ...attrs }, tolerance: tol,
          inputs: [{ dims: [N, C, H, W] }, { dims: [C, 1, ...k], constant: true }, bias ? { dims: [C], constant: true } : null] });
      }
    }
  });

  it("runs the fused epilogues on the output's own positions (Clip as ReLU6, residual Add + Relu); zeroes borders another layer dirtied", async () => {
    const dense = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (Math.sin(i * 0.9 + seed) * 2).toFixed(4)).join(", ");
    const bytes = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[1,12,7,7]
input %r : float32[1,12,7,7]
input %big : float32[1,12,14,14]
const %w : float32[12,1,3,3] = dense<[${dense(108, 1)}]>
const %w5 : float32[12,1,5,5] = dense<[${dense(300, 3)}]>
const %b : float32[12] = dense<[${dense(12, 2)}]>
const %lo : float32 = dense<[0]>
const %hi : float32 = dense<[6]>
%a : float32[1,12,7,7] = Conv[group=12, pads=[1,1,1,1]](%x, %w, %b) {name="a"}
%c : float32[1,12,7,7] = Clip(%a, %lo, %hi) {name="clip"}
%d : float32[1,12,7,7] = Conv[group=12, pads=[1,1,1,1]](%c, %w) {name="d"}
%e : float32[1,12,7,7] = Add(%d, %r) {name="res"}
%f : float32[1,12,7,7] = Relu(%e) {name="relu"}
%h : float32[1,12,14,14] = Conv[group=12, pads=[1,1,1,1]](%big, %w) {name="h"}
%g : float32[1,12,7,7] = Conv[group=12, pads=[2,2,2,2]](%f, %w5) {name="g"}
output %c
output %h
output %g`));
    // h (a 16x16 padded image) runs before g (11x11) and leaves data over all of g's scratch
    const feeds = { x: tensor({ dims: [1, 12, 7, 7], lo: -3, hi: 3 }, 5), r: tensor({ dims: [1, 12, 7, 7] }, 6), big: tensor({ dims: [1, 12, 14, 14] }, 7) };
    const [got, want] = [await runKiln(bytes, feeds), await runOrt(bytes, feeds)];
    for (const o of ["c", "h", "g"]) {
      const cmp = compareTensors(got[o], want[o], tol);
      expect(cmp.message ?? "ok", o).toBe("ok");
    }
    // the clip bites: some outputs are 0 and some 6
    const c = Array.from(got.c.data as Float32Array);
    expect(c.some((v) => v === 0) && c.some((v) => v === 6)).toBe(true);
  });
});
