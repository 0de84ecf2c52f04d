// FlexAttention (ai.onnx.preview), resolved at compile time into its function body's nodes
// (compiler/ops/attention-flex.ts): each node test's model against onnxruntime-node running the
// test's expanded twin (the function body ONNX writes out) on seeded random Q, K and V, beyond the
// single data set the node test has: default and given scale, head sizes that differ, grouped-query
// heads, double and float16, score_mod (a bias, a causal mask and relative positions built from the
// scores' dims, a soft cap) and prob_mod inlined. The forms kiln does not take are unsupported,
// named: mask_mod, a subgraph of several inputs.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { load } from "../../compiler/driver/api.js";
import { compareTensors, readTensorFile } from "../../compiler/driver/testdata.js";
import { importOnnx } from "../../compiler/driver/compile.js";
import { exportModel } from "../../compiler/onnx/export.js";
import type { Tensor } from "../../compiler/ir/graph.js";
import { dtype } from "../../runtime/dtypes.js";
import { rng } from "../../compiler/driver/cli/inputs.js";
import { runOrt } from "../util/ort.js";
import { NODE_DIR } from "../util/conformance.js";

const CASES = ["", "_causal_mask", "_diff_head_sizes", "_double", "_fp16", "_gqa", "_prob_mod", "_relative_positional", "_scaled", "_score_mod", "_soft_cap"];

function randomLike(t: Tensor, seed: number): Tensor {
  const next = rng(seed);
  const n = t.dims.reduce((a, b) => a * b, 1);
  const values = Array.from({ length: n }, () => (next() - 0.5) * 4);
  if (t.dtype === "float16") return { dtype: "float16", dims: [...t.dims], data: Uint16Array.from(values, (v) => f16Bits(v)) };
  return { dtype: t.dtype, dims: [...t.dims], data: new (dtype(t.dtype).array)(values as never) } as Tensor;
}

/** float32 -> float16 bits, round to nearest even (the values here are normal and small) */
function f16Bits(v: number): number {
  const f = new Float32Array([v]), u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000, exp = ((u >>> 23) & 0xff) - 127 + 15, mant = u & 0x7fffff;
  if (exp <= 0) return sign;
  let h = sign | (exp << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
  return h;
}

describe("FlexAttention, resolved into its function body", () => {
  for (const c of CASES) {
    it(`test_flexattention${c || " (plain)"}: three random inputs, as onnxruntime-node runs its expanded twin`, async () => {
      const dir = path.join(NODE_DIR, `test_flexattention${c}`);
      const bytes = new Uint8Array(fs.readFileSync(path.join(dir, "model.onnx")));
      const twin = new Uint8Array(fs.readFileSync(path.join(NODE_DIR, `test_flexattention${c}_expanded_ver26`, "model.onnx")));
      const given = ["Q", "K", "V"].map((n, i) => readTensorFile(path.join(dir, "test_data_set_0", `input_${i}.pb`)));
      const m = await load(bytes);
      const half = given[0].dtype === "float16";
      for (const seed of [1, 2, 3]) {
        const feeds = Object.fromEntries(["Q", "K", "V"].map((n, i) => [n, randomLike(given[i], seed * 10 + i)]));
        const [got, want] = [await m.run(feeds), await runOrt(twin, feeds)];
        const tol = half ? { rtol: 4e-3, atol: 4e-3 } : { rtol: 1e-5, atol: 1e-6 };
        expect(compareTensors(got.Y, want.Y, tol).message ?? "ok", `seed ${seed}`).toBe("ok");
      }
    });
  }

  it("mask_mod, and a subgraph of several inputs, are UNSUPPORTED_OP naming the node", async () => {
    const dir = path.join(NODE_DIR, "test_flexattention_score_mod");
    const graph = importOnnx(new Uint8Array(fs.readFileSync(path.join(dir, "model.onnx"))));
    const node = graph.nodeList()[0];
    node.attrs.mask_mod = node.attrs.score_mod;
    await expect(load(exportModel(graph, { valueInfo: false }))).rejects.toMatchObject({ code: "UNSUPPORTED_OP", message: expect.stringMatching(/mask_mod is not supported/), context: { node: node.name } });
    delete node.attrs.mask_mod;
    const body = (node.attrs.score_mod as { value: typeof graph }).value;
    const extra = body.value("batch_idx");
    Object.assign(extra, { dtype: "int64", shape: [1] });
    body.inputs.push("batch_idx");
    await expect(load(exportModel(graph, { valueInfo: false }))).rejects.toMatchObject({ code: "UNSUPPORTED_OP", message: expect.stringMatching(/score_mod takes 2 inputs and gives 1 outputs; kiln takes the form of one input/) });
  });
});
