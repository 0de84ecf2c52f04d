// Attention's "blocked" variant (codegen/kernels/attention/blocked.ts) against onnxruntime-node:
// odd key counts (not a multiple of 16: the GEMMs' tail panels), row counts the block does not
// divide (a tail block, a tail of fewer than 4 queries), one head, one query, grouped-query heads,
// 3-D and 4-D layouts, masks broadcast every way (and a fully masked row: zeros), a scale;
// Whisper's shape at odd lengths at -O2 and -O0, and edge values (huge scores, NaN and inf).
import { describe, expect, it } from "vitest";
import type { Attr } from "../../compiler/ir/graph.js";
import { buildCase, runOrt, type TensorSpec } from "../util/ort.js";
import { load } from "../../compiler/driver/api.js";
import { compareTensors } from "../../compiler/driver/testdata.js";
import { kernelsFor } from "../util/kernels.js";
import { blockRows } from "../../codegen/kernels/attention/blocked.js";

const int = (value: number): Attr => ({ type: "int", value });
const float = (value: number): Attr => ({ type: "float", value });

/** an opset-23 Attention compiled with "blocked" forced: the layer takes it, and matches onnxruntime */
async function blocked(attrs: Record<string, Attr>, q: number[] | TensorSpec, k: number[] | TensorSpec, v: number[], mask?: TensorSpec, level: 0 | 2 = 2): Promise<void> {
  const spec = (t: number[] | TensorSpec): TensorSpec => (Array.isArray(t) ? { dims: t, lo: -2, hi: 2 } : t);
  const inputs: (TensorSpec | null)[] = [spec(q), spec(k), { dims: v }];
  if (mask) inputs.push(mask);
  const { bytes, feeds, outputs } = buildCase({ op: "Attention", opset: 23, attrs, inputs });
  const want = await runOrt(bytes, feeds);
  const model = await load(bytes, { kernels: "+blocked", cache: false, level, shapes: Object.fromEntries(Object.entries(feeds).map(([n, t]) => [n, t.dims])) });
  expect(model.session!.manifest.layers.find((l) => l.name === "node")!.kernel).toBe("blocked");
  const got = await model.run(Object.fromEntries(Object.entries(feeds).map(([n, t]) => [n, { data: t.data, dims: t.dims }])));
  for (const o of outputs) expect(compareTensors(got[o], want[o], { rtol: 1e-4, atol: 1e-5 }).message ?? "ok", `${q} ${k} ${v}`).toBe("ok");
}

describe("Attention blocked vs onnxruntime", () => {
  it("4-D: odd key counts, tail blocks, one head, one query", async () => {
    for (const [h, sq, skv, hs, vh] of [[2, 37, 53, 16, 16], [1, 5, 17, 7, 9], [3, 1, 40, 8, 8], [1, 131, 67, 32, 20], [2, 18, 3, 5, 3]]) {
      await blocked({}, [2, h, sq, hs], [2, h, skv, hs], [2, h, skv, vh]);
    }
  });

  it("keys long enough for several row blocks, several K blocks in P V and a tail of 1 query", async () => {
    // 1,003 keys: 48 rows a block, 97 queries = 2 blocks and 1 row; P V sums over 3 K blocks
    expect(blockRows(97, 1003)).toBe(48);
    await blocked({}, [1, 2, 97, 24], [1, 2, 1003, 24], [1, 2, 1003, 19]);
  });

  it("Whisper's 2 heads of 64 at 1, 3, 17, 1,500 and 1,501 positions, at -O2 and -O0", async () => {
    const heads = { q_num_heads: int(2), kv_num_heads: int(2) };
    for (const n of [1, 3, 17, 1500, 1501]) await blocked(heads, [1, n, 128], [1, n, 128], [1, n, 128]);
    for (const n of [17, 1501]) await blocked(heads, [1, n, 128], [1, n, 128], [1, n, 128], undefined, 0);
  });

  it("edge values: scores in the hundreds (most exps underflow to 0), a NaN query row, a NaN key, an inf key", async () => {
    const n = 37, d = 16, big = { lo: -20, hi: 20 };
    await blocked({}, { dims: [1, 1, n, d], ...big }, { dims: [1, 1, n, d], ...big }, [1, 1, n, d]);
    const r = (len: number) => Array.from({ length: len }, (_, e) => Math.sin(e * 1.7) * 2);
    const nanRow = r(n * d).map((x, e) => (Math.floor(e / d) === 5 && e % d === 3 ? NaN : x));
    await blocked({}, { dims: [1, 1, n, d], data: nanRow }, [1, 1, n, d], [1, 1, n, d]);
    const nanKey = r(n * d).map((x, e) => (e === 7 * d ? NaN : x));
    await blocked({}, [1, 1, n, d], { dims: [1, 1, n, d], data: nanKey }, [1, 1, n, d]);
    // +inf in one key's first element: that key's score is +inf or -inf by the query's sign
    const infKey = r(n * d).map((x, e) => (e === 11 * d ? Infinity : x));
    await blocked({}, [1, 1, n, d], { dims: [1, 1, n, d], data: infKey }, [1, 1, n, d]);
  });

  it("3-D packed heads, grouped-query, a scale", async () => {
    await blocked({ q_num_heads: int(4), kv_num_heads: int(2), scale: float(0.3) }, [2, 21, 4 * 12], [2, 29, 2 * 12], [2, 29, 2 * 10]);
    await blocked({ q_num_heads: int(3), kv_num_heads: int(3) }, [1, 19, 3 * 8], [1, 19, 3 * 8], [1, 19, 3 * 8]);
  });

  // onnxruntime wants the mask's q axis whole; masks broadcast over queries are tested through
  // the fusion pass (test/passes/fuse-attention-models.test.ts: BERT's [b, 1, 1, s])
  it("float masks broadcast from 2-D, 3-D and 4-D", async () => {
    const q = [2, 3, 22, 8], k = [2, 3, 35, 8], v = [2, 3, 35, 6];
    for (const dims of [[22, 35], [3, 22, 35], [2, 3, 22, 35], [2, 1, 22, 35], [1, 3, 22, 35]]) {
      await blocked({}, q, k, v, { dims, lo: -3, hi: 1 });
    }
  });

  it("a fully masked row gives zeros, as the row kernel does", async () => {
    const n = 9 * 20;
    const data = Array.from({ length: n }, (_, e) => (Math.floor(e / 20) === 4 || e % 3 === 0 ? -Infinity : 0));
    await blocked({}, [1, 1, 9, 4], [1, 1, 20, 4], [1, 1, 20, 4], { dims: [9, 20], data });
  });

  it("is chosen for float32 long enough sequences; rows for short ones, causal, past, bool masks and too many keys", async () => {
    const f = (dims: number[]) => ({ dims });
    expect((await kernelsFor("Attention", [f([1, 2, 128, 64]), f([1, 2, 128, 64]), f([1, 2, 128, 64])])).chosen).toBe("blocked");
    expect((await kernelsFor("Attention", [f([1, 2, 3, 64]), f([1, 2, 128, 64]), f([1, 2, 128, 64])])).chosen).toBe("rows");
    expect((await kernelsFor("Attention", [f([1, 2, 128, 64]), f([1, 2, 128, 64]), f([1, 2, 128, 64])], { is_causal: int(1) })).chosen).toBe("rows");
    expect((await kernelsFor("Attention", [f([1, 2, 128, 64]), f([1, 2, 128, 64]), f([1, 2, 128, 64]), { dims: [128, 128], dtype: "bool" }])).chosen).toBe("rows");
    // 16 rows of 4,000 keys' scores are past the budget
    expect((await kernelsFor("Attention", [f([1, 1, 64, 8]), f([1, 1, 4000, 8]), f([1, 1, 4000, 8])])).chosen).toBe("rows");
    expect((await kernelsFor("Attention", [f([1, 2, 1500, 64]), f([1, 2, 1500, 64]), f([1, 2, 1500, 64])])).chosen).toBe("blocked");
    // short sequences take it only when forced
    expect((await kernelsFor("Attention", [f([1, 2, 3, 64]), f([1, 2, 128, 64]), f([1, 2, 128, 64])], {}, { force: ["blocked"], forbid: [] })).chosen).toBe("blocked");
    expect(blockRows(1500, 1500)).toBe(32);
    expect(blockRows(128, 128)).toBe(128);
  });
});
