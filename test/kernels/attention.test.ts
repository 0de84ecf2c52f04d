import { describe, expect, it } from "vitest";
import type { Attr } from "../../compiler/ir/graph.js";
import { buildCase, expectMatchesOrt, runKiln, runOrt, type OpCase, type TensorSpec } from "../util/ort.js";
import { load } from "../../compiler/driver/api.js";
import { compareTensors } from "../../compiler/driver/testdata.js";

/** The case compiled with Binaryen's optimizer on (which breaks on a malformed expression tree) vs onnxruntime. */
async function expectOptimizedMatchesOrt(c: OpCase): Promise<void> {
  const { bytes, feeds, outputs } = buildCase(c);
  const want = await runOrt(bytes, feeds);
  const model = await load(bytes, { optimize: true, shapes: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dims])) });
  const got = await model.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
  for (const o of outputs) expect(compareTensors(got[o], want[o], { rtol: 1e-4, atol: 1e-5 }).message ?? "ok").toBe("ok");
}

const int = (value: number): Attr => ({ type: "int", value });
const float = (value: number): Attr => ({ type: "float", value });
const str = (value: string): Attr => ({ type: "string", value });

/** An Attention case at opset 23: Q, K, V, then optional mask, past_key, past_value. */
function attention(attrs: Record<string, Attr>, q: number[], k: number[], v: number[],
  extra: { mask?: TensorSpec; past?: [number[], number[]]; outputs?: number; dtype?: "float32" | "float16" } = {}) {
  const dtype = extra.dtype ?? "float32";
  const inputs: (TensorSpec | null)[] = [{ dims: q, dtype, lo: -2, hi: 2 }, { dims: k, dtype, lo: -2, hi: 2 }, { dims: v, dtype }];
  if (extra.mask || extra.past) inputs.push(extra.mask ?? null);
  if (extra.past) inputs.push({ dims: extra.past[0], dtype }, { dims: extra.past[1], dtype });
  return expectMatchesOrt({ op: "Attention", opset: 23, attrs, inputs, outputs: extra.outputs ?? 1,
    tolerance: dtype === "float16" ? { rtol: 5e-3, atol: 5e-3 } : { rtol: 1e-4, atol: 1e-5 } });
}

describe("Attention vs onnxruntime", () => {
  it("4-D with odd sequence lengths and head sizes (v head size differs)", async () => {
    for (const [sq, skv, hs, vh] of [[1, 1, 1, 1], [3, 5, 7, 5], [5, 7, 3, 9], [4, 33, 64, 64], [7, 3, 16, 6]]) {
      await attention({}, [2, 3, sq, hs], [2, 3, skv, hs], [2, 3, skv, vh]);
    }
    // cross attention over constant keys and values
    await expectMatchesOrt({ op: "Attention", opset: 23, inputs: [{ dims: [1, 2, 3, 4] }, { dims: [1, 2, 5, 4], constant: true }, { dims: [1, 2, 5, 4], constant: true }] });
  });

  it("3-D packed heads with grouped-query attention", async () => {
    for (const [hq, hk, hs, vh] of [[4, 2, 6, 5], [6, 3, 4, 4], [3, 3, 5, 7], [8, 1, 8, 3]]) {
      const attrs = { q_num_heads: int(hq), kv_num_heads: int(hk) };
      await attention(attrs, [2, 5, hq * hs], [2, 7, hk * hs], [2, 7, hk * vh]);
    }
    await attention({}, [1, 6, 3, 8], [1, 2, 5, 8], [1, 2, 5, 4]);
  });

  it("scale and softcap", async () => {
    await attention({ scale: float(0.3) }, [1, 2, 3, 5], [1, 2, 6, 5], [1, 2, 6, 5]);
    await attention({ softcap: float(1.5) }, [2, 2, 5, 4], [2, 2, 5, 4], [2, 2, 5, 4]);
    await attention({ softcap: float(0.5), scale: float(2) }, [1, 3, 4, 3], [1, 3, 9, 3], [1, 3, 9, 2]);
  });

  it("bool and float masks broadcast from 2-D, 3-D and 4-D (onnxruntime wants the full q and kv axes)", async () => {
    const q = [2, 3, 4, 5], k = [2, 3, 6, 5], v = [2, 3, 6, 7];
    for (const dims of [[4, 6], [3, 4, 6], [1, 4, 6], [2, 3, 4, 6], [2, 1, 4, 6], [1, 3, 4, 6]]) {
      await attention({}, q, k, v, { mask: { dims, lo: -3, hi: 1 } });
      // a bool mask keeps at least one key per row here: the first column is forced on
      const n = dims.reduce((a, b) => a * b, 1);
      const data = Array.from({ length: n }, (_, e) => (e % 6 === 0 || (e * 7919) % 5 < 3 ? 1 : 0));
      await attention({}, q, k, v, { mask: { dims, dtype: "bool", data } });
    }
  });

  it("causal, alone, with masks and with a past cache (present outputs)", async () => {
    await attention({ is_causal: int(1) }, [1, 2, 5, 4], [1, 2, 5, 4], [1, 2, 5, 4]);
    await attention({ is_causal: int(1) }, [2, 2, 3, 4], [2, 2, 7, 4], [2, 2, 7, 6]);
    // long enough that whole blocks of four keys lie past the frontier
    await attention({ is_causal: int(1) }, [1, 2, 9, 8], [1, 2, 13, 8], [1, 2, 13, 5]);
    await attention({ is_causal: int(1) }, [1, 2, 6, 8], [1, 2, 6, 8], [1, 2, 6, 8], { past: [[1, 2, 9, 8], [1, 2, 9, 8]], outputs: 3 });
    // mode 3: onnxruntime writes masked mode-2 scores as -FLT_MAX, the ONNX reference (and kiln) as -inf
    await attention({ is_causal: int(1), qk_matmul_output_mode: int(3) }, [1, 2, 9, 8], [1, 2, 13, 8], [1, 2, 13, 5],
      { mask: { dims: [9, 13] }, outputs: 4 });
    await attention({ is_causal: int(1) }, [1, 4, 4, 8], [1, 2, 4, 8], [1, 2, 4, 8], { mask: { dims: [4, 4], lo: -1, hi: 1 } });
    const past = { past: [[2, 2, 3, 5], [2, 2, 3, 7]] as [number[], number[]], outputs: 3 };
    await attention({}, [2, 2, 4, 5], [2, 2, 4, 5], [2, 2, 4, 7], past);
    await attention({ is_causal: int(1) }, [2, 2, 4, 5], [2, 2, 4, 5], [2, 2, 4, 7], past);
    await attention({ is_causal: int(1) }, [2, 2, 1, 5], [2, 2, 1, 5], [2, 2, 1, 7], { ...past, mask: { dims: [1, 4] } });
    await attention({ q_num_heads: int(4), kv_num_heads: int(2) }, [2, 3, 20], [2, 3, 10], [2, 3, 14],
      { past: [[2, 2, 5, 5], [2, 2, 5, 7]], outputs: 3, mask: { dims: [2, 1, 3, 8], dtype: "bool", data: Array.from({ length: 48 }, (_, e) => (e % 4 === 3 ? 0 : 1)) } });
  });

  it("qk_matmul_output modes 0 to 3, with and without softcap", async () => {
    for (const mode of [0, 1, 2, 3]) {
      await attention({ qk_matmul_output_mode: int(mode) }, [1, 2, 3, 4], [1, 2, 5, 4], [1, 2, 5, 4],
        { mask: { dims: [3, 7] }, past: [[1, 2, 2, 4], [1, 2, 2, 4]], outputs: 4 });
      await attention({ qk_matmul_output_mode: int(mode), softcap: float(0.7) }, [1, 2, 3, 4], [1, 2, 5, 4], [1, 2, 5, 4],
        { mask: { dims: [3, 5] }, outputs: 4 });
    }
  });

  it("float16 and float64", async () => {
    await attention({}, [1, 2, 5, 8], [1, 2, 6, 8], [1, 2, 6, 8], { dtype: "float16" });
    await attention({ is_causal: int(1) }, [1, 4, 3, 6], [1, 2, 3, 6], [1, 2, 3, 6], { dtype: "float16" });
    const f64 = (dims: number[]) => ({ dims, dtype: "float64" as const });
    await expectMatchesOrt({ op: "Attention", opset: 23, attrs: { softcap: float(1) }, inputs: [f64([1, 2, 3, 5]), f64([1, 2, 7, 5]), f64([1, 2, 7, 3])] });
  });

  it("no keys at all gives zeros (onnxruntime refuses an empty kv sequence)", async () => {
    const { bytes, feeds } = buildCase({ op: "Attention", opset: 23, inputs: [{ dims: [1, 2, 3, 4] }, { dims: [1, 2, 0, 4] }, { dims: [1, 2, 0, 4] }] });
    const y = (await runKiln(bytes, feeds)).out0;
    expect(y.dims).toEqual([1, 2, 3, 4]);
    expect(Array.from(y.data as Float32Array)).toEqual(new Array(24).fill(0));
  });
});

describe("optimized modules (binaryen -O) vs onnxruntime", () => {
  it("Attention, RotaryEmbedding and Einsum survive the optimizer", async () => {
    const qkv = (sq: number, skv: number, hs: number) => [{ dims: [1, 2, sq, hs] }, { dims: [1, 2, skv, hs] }, { dims: [1, 2, skv, hs] }];
    await expectOptimizedMatchesOrt({ op: "Attention", opset: 23, inputs: qkv(33, 33, 64) });
    await expectOptimizedMatchesOrt({ op: "Attention", opset: 23, attrs: { is_causal: int(1), softcap: float(2) }, inputs: qkv(9, 13, 5) });
    await expectOptimizedMatchesOrt({ op: "Attention", opset: 23, attrs: { qk_matmul_output_mode: int(3) }, outputs: 4,
      inputs: [...qkv(5, 7, 6), { dims: [5, 7], dtype: "bool", data: Array.from({ length: 35 }, (_, e) => (e % 3 ? 1 : 0)) }] });
    await expectOptimizedMatchesOrt({ op: "RotaryEmbedding", opset: 23, attrs: { interleaved: int(1) },
      inputs: [{ dims: [2, 2, 3, 8] }, { dims: [5, 4] }, { dims: [5, 4] }, { dims: [2, 3], dtype: "int64", lo: 0, hi: 5 }] });
    await expectOptimizedMatchesOrt({ op: "RotaryEmbedding", opset: 23, inputs: [{ dims: [2, 2, 3, 16] }, { dims: [5, 8] }, { dims: [5, 8] }, { dims: [2, 3], dtype: "int64", lo: 0, hi: 5 }] });
    for (const [equation, dims] of [["bij,bjk->bik", [[2, 3, 5], [2, 5, 7]]], ["...ii->...i", [[2, 3, 3]]], ["ij,j->ij", [[3, 6], [6]]]] as [string, number[][]][]) {
      await expectOptimizedMatchesOrt({ op: "Einsum", opset: 12, attrs: { equation: str(equation) }, inputs: dims.map((d) => ({ dims: d })) });
    }
  });
});

describe("RotaryEmbedding vs onnxruntime", () => {
  const rope = (attrs: Record<string, Attr>, x: number[], cache: number[], positions?: number[]) =>
    expectMatchesOrt({ op: "RotaryEmbedding", opset: 23, attrs, inputs: [
      { dims: x, lo: -3, hi: 3 }, { dims: cache }, { dims: cache },
      ...(positions ? [{ dims: positions, dtype: "int64" as const, lo: 0, hi: cache[0] }] : []),
    ] });

  it("split and interleaved, full and partial rotary dims, with position ids", async () => {
    for (const interleaved of [0, 1]) {
      await rope({ interleaved: int(interleaved) }, [2, 3, 5, 8], [16, 4], [2, 5]);
      await rope({ interleaved: int(interleaved) }, [1, 2, 3, 6], [9, 3], [1, 3]);
      await rope({ interleaved: int(interleaved), rotary_embedding_dim: int(4) }, [2, 2, 3, 10], [7, 2], [2, 3]);
      await rope({ interleaved: int(interleaved), rotary_embedding_dim: int(10) }, [1, 2, 7, 14], [8, 5], [1, 7]);
      await rope({ interleaved: int(interleaved), num_heads: int(3) }, [2, 5, 24], [11, 4], [2, 5]);
    }
  });

  it("per-token caches without position ids", async () => {
    await rope({}, [2, 3, 5, 8], [2, 5, 4]);
    await rope({ interleaved: int(1) }, [2, 3, 5, 8], [2, 5, 4]);
    await rope({ rotary_embedding_dim: int(6) }, [1, 2, 3, 10], [1, 3, 3]);
    await rope({ num_heads: int(2) }, [3, 4, 12], [3, 4, 3]);
  });

  it("a position id past the caches is BAD_INPUT naming the layer", async () => {
    const { bytes, feeds } = buildCase({ op: "RotaryEmbedding", opset: 23, inputs: [{ dims: [1, 2, 3, 8] }, { dims: [4, 4] }, { dims: [4, 4] }, { dims: [1, 3], dtype: "int64", lo: 0, hi: 4 }] });
    feeds.in3 = { dtype: "int64", dims: [1, 3], data: BigInt64Array.of(0n, 4n, 1n) };
    await expect(runKiln(bytes, feeds)).rejects.toThrow(/^BAD_INPUT: index 4 is out of range for an axis of length 4 \[node "node", RotaryEmbedding\]$/);
  });

  it("float16", async () => {
    await expectMatchesOrt({ op: "RotaryEmbedding", opset: 23, tolerance: { rtol: 2e-3, atol: 2e-3 }, inputs: [
      { dims: [1, 2, 3, 8], dtype: "float16" }, { dims: [4, 4], dtype: "float16" }, { dims: [4, 4], dtype: "float16" },
      { dims: [1, 3], dtype: "int64", lo: 0, hi: 4 }] });
  });
});

describe("Einsum vs onnxruntime", () => {
  const einsum = (equation: string, dims: number[][], dtype: "float32" | "float64" | "int32" | "int64" = "float32") =>
    expectMatchesOrt({ op: "Einsum", opset: 12, attrs: { equation: str(equation) }, inputs: dims.map((d) => ({ dims: d, dtype })) });

  it("matmul-like contractions (GEMM core or f32x4 rows) with odd sizes", async () => {
    await einsum("bij,bjk->bik", [[2, 3, 5], [2, 5, 7]]);
    await einsum("ij,jk", [[5, 3], [3, 9]]);
    await einsum("bhqd,bhkd->bhqk", [[1, 2, 3, 5], [1, 2, 6, 5]]);
    await einsum("bhqk,bhkd->bhqd", [[2, 2, 3, 6], [2, 2, 6, 8]]);
    await einsum("i,j->ij", [[3], [13]]);
    await einsum("ij,ij->ij", [[3, 4], [3, 4]]);
    await einsum("ij,j->ij", [[3, 5], [5]]);
    await einsum("bij,bkj->bik", [[2, 3, 9], [2, 6, 9]]);
    await einsum("ji,jk->ik", [[4, 7], [4, 5]]);
    await einsum("i,i->", [[11], [11]]);
    await einsum("bmk,kn->bnm", [[2, 5, 3], [3, 6]]);
    await einsum("mk,bkn->bmn", [[5, 3], [3, 3, 9]]);
  });

  it("transposes, sums, traces, diagonals and ellipses", async () => {
    await einsum("ijk->kji", [[2, 3, 4]]);
    await einsum("ij->", [[3, 5]]);
    await einsum("ii", [[4, 4]]);
    await einsum("ii->i", [[5, 5]]);
    await einsum("...ii->...i", [[2, 3, 3]]);
    await einsum("...ij,...jk->...ik", [[2, 3, 4], [2, 4, 5]]);
    await einsum("...ij,jk->...ik", [[2, 3, 3, 4], [4, 5]]);
    await einsum("...i,...i->...", [[2, 3, 5], [2, 3, 5]]);
    await einsum("...i,...i->...", [[2, 3, 5], [1, 3, 5]]);
    await einsum("ij,jk,kl->il", [[2, 3], [3, 4], [4, 5]]);
    await einsum("i,i", [[7], [7]]);
  });

  it("float64 and integer types", async () => {
    await einsum("bij,bjk->bik", [[2, 3, 4], [2, 4, 5]], "float64");
    await einsum("ij,jk->ik", [[3, 4], [4, 6]], "int32");
    await einsum("ij->j", [[3, 4]], "int64");
  });

  it("constant operands (weights), and all-constant nodes folded at compile time", async () => {
    const eq = { equation: str("bij,jk->bik") };
    await expectMatchesOrt({ op: "Einsum", opset: 12, attrs: eq, inputs: [{ dims: [2, 3, 5] }, { dims: [5, 6], constant: true }] });
    await expectMatchesOrt({ op: "Einsum", opset: 12, attrs: eq, inputs: [{ dims: [2, 3, 5], constant: true }, { dims: [5, 6], constant: true }] });
  });

  it("empty operands: an empty sum is 0", async () => {
    await einsum("ij,jk->ik", [[3, 0], [0, 5]]);
    await einsum("ij,jk->ik", [[0, 4], [4, 5]]);
    await einsum("ij->i", [[3, 0]], "float64");
  });
});
