// Einsum's "packed" variant (codegen/kernels/attention/einsum-packed.ts): a batched matrix product
// through the packed GEMM with strided operands and output, as attention uses it without its head
// transposes. Odd sizes everywhere: a 13-column tail panel, an odd row (the 2-row tile's tail),
// several K blocks, batch labels broadcast from one operand, labels that run as one M, N or K, and
// equations the variant must leave to the loop-nest kernel.
import { describe, expect, it } from "vitest";
import type { Attr } from "../../compiler/ir/graph.js";
import { buildCase, runOrt } from "../util/ort.js";
import { load } from "../../compiler/driver/api.js";
import { compareTensors } from "../../compiler/driver/testdata.js";
import { packedEinsumPlan } from "../../codegen/kernels/attention/einsum-packed.js";

const str = (value: string): Attr => ({ type: "string", value });

/** The Einsum compiled by kiln: the kernel variant it ran, and its outputs against onnxruntime-node's. */
async function einsum(equation: string, dims: number[][], kernel: "packed" | "default"): Promise<void> {
  const { bytes, feeds, outputs } = buildCase({ op: "Einsum", opset: 12, attrs: { equation: str(equation) }, inputs: dims.map((d) => ({ dims: d, lo: -2, hi: 2 })) });
  const model = await load(bytes, { cache: false, shapes: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dims])) });
  expect(model.session!.manifest.layers.find((l) => l.name === "node")?.kernel, equation).toBe(kernel);
  const got = await model.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
  const want = await runOrt(bytes, feeds);
  for (const o of outputs) expect(compareTensors(got[o], want[o], { rtol: 1e-4, atol: 1e-4 }).message ?? "ok", equation).toBe("ok");
}

describe("Einsum packed vs onnxruntime", () => {
  it("attention's Q K^T with Q read in [b, s, h, d]", () => einsum("bshd,bhdt->bhst", [[1, 7, 3, 5], [1, 3, 5, 29]], "packed"));
  it("Q K^T with K read in [b, t, h, d] too: B's panels gathered lane by lane, odd rows and a tail panel", () => einsum("bshd,bthd->bhst", [[2, 9, 3, 7], [2, 29, 3, 7]], "packed"));
  it("a transposed A and a transposed B, several K blocks", async () => {
    await einsum("ji,jk->ik", [[500, 11], [500, 19]], "packed");
    await einsum("ij,kj->ik", [[11, 500], [19, 500]], "packed");
    await einsum("ji,kj->ik", [[9, 7], [21, 9]], "packed");
  });
  it("attention's P V written in [b, s, h, d], two images", () => einsum("bhst,bthd->bshd", [[2, 3, 9, 11], [2, 11, 3, 21]], "packed"));
  it("a plain matrix product: odd rows, a 13-column tail panel, three K blocks", () => einsum("ij,jk->ik", [[37, 700], [700, 45]], "packed"));
  it("ellipsis batches", () => einsum("...ij,...jk->...ik", [[2, 3, 5, 6], [2, 3, 6, 17]], "packed"));
  it("labels of size 1 and an implicit output", () => einsum("aij,jk", [[1, 4, 3], [3, 8]], "packed"));
  it("labels that run as one M, N or K: MaskFormer's masks (N = h w), a batch one operand broadcasts (M = b i), K = x y c", async () => {
    await einsum("bqc,bchw->bqhw", [[2, 7, 5], [2, 5, 3, 6]], "packed");
    await einsum("bij,jk->bik", [[3, 5, 6], [6, 17]], "packed");
    await einsum("bxyc,xycd->bd", [[3, 2, 3, 4], [2, 3, 4, 17]], "packed");
  });
  it("M or N labels that do not run as one: the outer ones as batch labels the other operand broadcasts (SAM's relative positions)", async () => {
    await einsum("bhwc,hkc->bhwk", [[2, 3, 5, 6], [3, 9, 6]], "packed");
    await einsum("bij,cjk->bcik", [[2, 5, 6], [3, 6, 17]], "packed");
  });
  it("left to the loop-nest kernel: N not contiguous in the output, too few columns, a sum in one operand", async () => {
    await einsum("ij,jk->ki", [[5, 6], [6, 9]], "default");
    await einsum("ij,jk->ik", [[5, 6], [6, 7]], "default");
    await einsum("ij,jk->i", [[5, 6], [6, 9]], "default");
  });
});

describe("packedEinsumPlan", () => {
  it("finds M, N, K and the batch strides of attention's products", () => {
    expect(packedEinsumPlan("bshd,bhdt->bhst", [[1, 128, 12, 32], [1, 12, 32, 128]], [1, 12, 128, 128])).toEqual({
      M: 128, N: 128, K: 32, aRows: 384, aCols: 1, bRows: 128, bCols: 1, cRows: 128, batch: [{ size: 12, a: 32, b: 4096, c: 16384 }],
    });
    expect(packedEinsumPlan("bshd,bthd->bhst", [[1, 128, 12, 32], [1, 128, 12, 32]], [1, 12, 128, 128])).toEqual({
      M: 128, N: 128, K: 32, aRows: 384, aCols: 1, bRows: 1, bCols: 384, cRows: 128, batch: [{ size: 12, a: 32, b: 32, c: 16384 }],
    });
    expect(packedEinsumPlan("bhst,bthd->bshd", [[1, 12, 128, 128], [1, 128, 12, 32]], [1, 128, 12, 32])).toEqual({
      M: 128, N: 32, K: 128, aRows: 128, aCols: 1, bRows: 384, bCols: 1, cRows: 384, batch: [{ size: 12, a: 16384, b: 32, c: 32 }],
    });
  });
  it("runs labels adjacent in every tensor that has them as one (MaskFormer's mask embedding: N is 16 x 16)", () => {
    expect(packedEinsumPlan("bqc,bchw->bqhw", [[1, 100, 256], [1, 256, 16, 16]], [1, 100, 16, 16])).toEqual({
      M: 100, N: 256, K: 256, aRows: 256, aCols: 1, bRows: 256, bCols: 1, cRows: 256, batch: [],
    });
    // b and i not adjacent in the output (c between them): b is a batch label B broadcasts, c one A broadcasts
    expect(packedEinsumPlan("bij,cjk->bcik", [[2, 5, 6], [3, 6, 17]], [2, 3, 5, 17])).toEqual({
      M: 5, N: 17, K: 6, aRows: 6, aCols: 1, bRows: 17, bCols: 1, cRows: 17, batch: [{ size: 2, a: 30, b: 0, c: 255 }, { size: 3, a: 0, b: 102, c: 85 }],
    });
  });
  it("is undefined for a label summed in one operand only, three operands or a bad equation", () => {
    expect(packedEinsumPlan("ij,jk->k", [[5, 6], [6, 9]], [9])).toBeUndefined();
    expect(packedEinsumPlan("ij,jk,kl->il", [[5, 6], [6, 9]], [5, 9])).toBeUndefined();
    expect(packedEinsumPlan("ij,jk->iq", [[5, 6], [6, 9]], [5, 9])).toBeUndefined();
  });
});
