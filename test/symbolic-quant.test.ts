// The 4-bit MatMulNBits over a symbolic sequence (docs/ARCHITECTURE.md "Symbolic dims"): one
// module for seq 1..16 whose runs of one or two rows take the GEMV's code and the rest the panel
// GEMM, each run the bytes of kiln's build pinned at that length (which picks by the same rule),
// and within float rounding of onnxruntime-node.
import { describe, expect, it } from "vitest";
import { Graph, type Tensor } from "../compiler/ir/graph.js";
import { exportModel } from "../compiler/onnx/export.js";
import { load } from "../compiler/driver/api.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import { runOrt } from "./util/ort.js";

const K = 64, N = 20, BS = 32, MAX = 16;

function nbitsModel(): Uint8Array {
  const g = new Graph();
  g.opsets.set("", 17);
  g.opsets.set("com.microsoft", 1);
  const x = g.value("x");
  Object.assign(x, { dtype: "float32", shape: [1, "seq", K] });
  g.inputs.push("x");
  let s = 7;
  const next = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8);
  const blocks = K / BS;
  Object.assign(g.value("b"), { dtype: "uint8", shape: [N, blocks, BS / 2], const: { dtype: "uint8", dims: [N, blocks, BS / 2], data: Uint8Array.from({ length: N * blocks * BS / 2 }, () => next() & 255) } });
  Object.assign(g.value("scales"), { dtype: "float32", shape: [N * blocks], const: { dtype: "float32", dims: [N * blocks], data: Float32Array.from({ length: N * blocks }, () => (next() % 1000) / 20000 + 0.01) } });
  g.addNode({ name: "q4", op: "MatMulNBits", domain: "com.microsoft", inputs: ["x", "b", "scales"], outputs: ["y"],
    attrs: { K: { type: "int", value: K }, N: { type: "int", value: N }, bits: { type: "int", value: 4 }, block_size: { type: "int", value: BS } } });
  Object.assign(g.value("y"), { dtype: "float32", shape: [1, "seq", N] });
  g.outputs.push("y");
  return exportModel(g, { valueInfo: false });
}

const bytesOf = (t: Tensor) => Array.from(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));

describe("MatMulNBits over a symbolic sequence", () => {
  it("one module for seq 1..16: one or two rows the GEMV, more the panels, each run the pinned build's bytes and as onnxruntime-node's", async () => {
    const bytes = nbitsModel();
    const m = await load(bytes, { shapes: { seq: [1, MAX] } });
    for (const seq of [1, 2, 3, 16, 7]) {
      const feeds: Record<string, Tensor> = { x: { dtype: "float32", dims: [1, seq, K], data: Float32Array.from({ length: seq * K }, (_, i) => Math.sin(i * 0.37 + seq)) } };
      const got = (await m.run(feeds)).y;
      const pinned = await load(bytes, { shapes: { seq } });
      expect(pinned.session!.manifest.layers.find((l) => l.op.includes("MatMulNBits"))!.kernel, `seq ${seq}`).toBe(seq <= 2 ? "gemv-nbits" : "panels-nbits");
      expect(bytesOf(got), `seq ${seq}`).toEqual(bytesOf((await pinned.run(feeds)).y));
      expect(compareTensors(got, (await runOrt(bytes, feeds)).y, { rtol: 1e-4, atol: 1e-5 }).message ?? "ok", `seq ${seq}`).toBe("ok");
    }
    expect(m.modulesCompiled).toBe(1);
  });
});
