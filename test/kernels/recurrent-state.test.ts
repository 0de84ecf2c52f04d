// CausalConvWithState and LinearAttention (opset 27) against the ONNX reference implementation:
// onnxruntime-node 1.30 does not run them, so the expected outputs are the reference's, written by
// test/fixtures/state-ops/make_fixtures.py into cases/ (odd sizes for the f32x4 bodies and their
// scalar tails, state columns past one 32-column block, kernels longer than the unrolled taps,
// short and empty sequences, decode steps, SiLU on large magnitudes, every update rule, decay per
// head and per key dim, shared beta, grouped and multi-query heads, explicit scale, float16 with a
// float16 or float32 state and the reverse, bfloat16 convolution, nodes whose graph returns one
// output only), at -O2 and -O0; one module across batch sizes and sequence lengths (symbolic
// dims); the typed errors a bad node gets; two threads against one; a node naming only its output.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import type { DTypeName } from "../../runtime/dtypes.js";
import { KilnError } from "../../runtime/errors.js";
import { load } from "../../compiler/driver/api.js";
import { runCase } from "../../compiler/driver/conformance.js";
import { importModel } from "../../compiler/onnx/import.js";
import { compareTensors, listDataSets, readTensorFile, type Tolerance } from "../../compiler/driver/testdata.js";
import type { Attr } from "../../compiler/ir/graph.js";
import { kernelsFor } from "../util/kernels.js";
import { loadAt } from "../util/load-threads.js";
import { int, modelBytes, str } from "../util/lowbit.js";

const CASES = path.resolve(import.meta.dirname, "../fixtures/state-ops/cases");

/**
 * float32: kiln sums in a different order than numpy, nothing more. float16 and bfloat16
 * convolution: the reference convolves in that type's arithmetic (each product and partial sum
 * rounded), kiln in float32 rounded once at the output, so they differ by a few ulps of the partial
 * sums (|sums| up to ~4: float16 ulp 2^-8, bfloat16 ulp 2^-6), even where the output is near zero.
 */
function toleranceOf(name: string): Tolerance {
  if (name.startsWith("cc_") && name.includes("fp16")) return { rtol: 2e-3, atol: 8e-3 };
  if (name.includes("bf16")) return { rtol: 8e-3, atol: 1.6e-2 };
  if (name.includes("fp16")) return { rtol: 1e-3, atol: 1e-4 };
  return { rtol: 1e-4, atol: 1e-5 };
}

describe("CausalConvWithState and LinearAttention against the ONNX reference", () => {
  const cases = fs.readdirSync(CASES).sort();
  it(`has the reference cases (${cases.length})`, () => {
    expect(cases.filter((c) => c.startsWith("cc_")).length).toBeGreaterThanOrEqual(17);
    expect(cases.filter((c) => c.startsWith("la_")).length).toBeGreaterThanOrEqual(17);
  });
  for (const level of [2, 0] as const) {
    for (const c of cases) {
      it(`${c} at -O${level}`, async () => {
        const r = await runCase(path.join(CASES, c), { level, tolerance: toleranceOf(c) });
        expect(`${r.status} ${r.message}`).toBe("passed ");
      });
    }
  }
});

describe("kernel variants", () => {
  it("runs each op on its one variant", async () => {
    expect((await kernelsFor("CausalConvWithState", [{ dims: [2, 8, 5] }, { dims: [8, 1, 4], constant: true }])).chosen).toBe("rows");
    const qkv = { dims: [1, 3, 16] };
    expect((await kernelsFor("LinearAttention", [qkv, qkv, qkv, null, { dims: [1, 3, 2] }, { dims: [1, 3, 2] }],
      { q_num_heads: int(2), kv_num_heads: int(2) })).chosen).toBe("column-blocks");
  });
});

interface Bad {
  op: string;
  inputs: [string, DTypeName, number[]][];
  attrs?: Record<string, Attr>;
  /** the node's inputs, "" for one left out (default: the inputs in order) */
  names?: string[];
}

async function errorOf(b: Bad): Promise<KilnError> {
  const bytes = modelBytes({
    opset: 27,
    inputs: b.inputs.map(([name, dtype, dims]) => ({ name, dtype, dims })),
    nodes: [{ op: b.op, inputs: b.names ?? b.inputs.map(([n]) => n), outputs: ["y", "state"], attrs: b.attrs }],
    outputs: ["y", "state"],
  });
  try {
    await load(bytes, { cache: false });
  } catch (e) {
    expect(e).toBeInstanceOf(KilnError);
    return e as KilnError;
  }
  throw new Error("expected a KilnError");
}

const f32 = (name: string, dims: number[]): [string, DTypeName, number[]] => [name, "float32", dims];

describe("typed errors", () => {
  it("CausalConvWithState: weight, bias, past_state and activation checked, the node named", async () => {
    const x = f32("x", [2, 3, 5]);
    const cases: [Bad, RegExp][] = [
      [{ op: "CausalConvWithState", inputs: [x, f32("w", [3, 2, 4])] }, /weight must be \(channels, 1, k\) = \(3, 1, k\)/],
      [{ op: "CausalConvWithState", inputs: [x, f32("w", [3, 1, 0])] }, /with k >= 1/],
      [{ op: "CausalConvWithState", inputs: [x, f32("w", [3, 1, 4]), f32("b", [4])] }, /bias must be \(channels\) = \(3\)/],
      [{ op: "CausalConvWithState", inputs: [x, f32("w", [3, 1, 4]), f32("p", [2, 3, 4])], names: ["x", "w", "", "p"] }, /past_state must be \(batch, channels, k - 1\) = \(2,3,3\)/],
      [{ op: "CausalConvWithState", inputs: [x, f32("w", [3, 1, 4])], attrs: { activation: str("relu") } }, /activation "relu" is not one of none, silu, swish/],
      [{ op: "CausalConvWithState", inputs: [f32("x", [2, 3]), f32("w", [3, 1, 4])] }, /input must be 3-D/],
    ];
    for (const [bad, message] of cases) {
      const e = await errorOf(bad);
      expect(e.code, e.message).toBe("INVALID_MODEL");
      expect(e.message).toMatch(message);
      expect(e.message).toMatch(/node "n0"/);
    }
    const half = await errorOf({ op: "CausalConvWithState", inputs: [x, ["w", "float16", [3, 1, 4]]] });
    expect(half.code).toBe("INVALID_MODEL");
    expect(half.message).toMatch(/input 1 has type float16; input is float32/);
  });

  it("LinearAttention: heads, rule and its inputs, decay, beta and past_state checked, the node named", async () => {
    const heads = { q_num_heads: int(2), kv_num_heads: int(2) };
    const q = f32("q", [1, 3, 8]), k = f32("k", [1, 3, 8]), v = f32("v", [1, 3, 6]);
    const decay = f32("g", [1, 3, 2]), beta = f32("b", [1, 3, 2]);
    const la = (inputs: Bad["inputs"], attrs: Record<string, Attr>, names?: string[]): Bad => ({ op: "LinearAttention", inputs, attrs, names });
    const cases: [Bad, RegExp][] = [
      [la([q, k, v], { kv_num_heads: int(2), update_rule: str("linear") }), /q_num_heads and kv_num_heads are required/],
      [la([q, k, v], { q_num_heads: int(3), kv_num_heads: int(2), update_rule: str("linear") }), /must be a positive multiple of kv_num_heads/],
      [la([q, k, v], { ...heads, update_rule: str("softmax") }), /update_rule "softmax" is not one of/],
      [la([q, k, v], { ...heads }), /update_rule gated_delta requires decay input/],
      [la([q, k, v, decay], { ...heads, update_rule: str("gated_delta") }, ["q", "k", "v", "", "g"]), /requires beta input/],
      [la([q, k, v, decay], { ...heads, update_rule: str("delta") }, ["q", "k", "v", "", "g"]), /update_rule delta takes no decay input/],
      [la([q, f32("k", [1, 3, 6]), v], { ...heads, update_rule: str("linear") }), /key's last dim must be kv_num_heads \* d_k = 2 \* 4/],
      [la([q, k, f32("v", [1, 2, 6])], { ...heads, update_rule: str("linear") }), /same batch and sequence length/],
      [la([q, k, v, f32("g", [1, 3, 5])], { ...heads, update_rule: str("gated") }, ["q", "k", "v", "", "g"]), /decay must be \(batch, seq, 2 or 8\)/],
      [la([q, k, v, decay, f32("b", [1, 3, 3])], { ...heads }, ["q", "k", "v", "", "g", "b"]), /beta must be \(batch, seq, 2 or 1\)/],
      [la([q, k, v, f32("p", [1, 2, 3, 4])], { ...heads, update_rule: str("linear") }), /past_state must be \(batch, kv_num_heads, d_k, d_v\) = \(1,2,4,3\)/],
    ];
    for (const [bad, message] of cases) {
      const e = await errorOf(bad);
      expect(e.code, e.message).toBe("INVALID_MODEL");
      expect(e.message).toMatch(message);
      expect(e.message).toMatch(/node "n0"/);
    }
    const bf16 = await errorOf(la([["q", "bfloat16", [1, 3, 8]], ["k", "bfloat16", [1, 3, 8]], ["v", "bfloat16", [1, 3, 6]]], { ...heads, update_rule: str("linear") }));
    expect(bf16.code).toBe("UNSUPPORTED_OP");
    expect(bf16.message).toMatch(/input 0 has type bfloat16; kiln supports float32, float16 here/);
    const mixed = await errorOf(la([q, ["k", "float16", [1, 3, 8]], v], { ...heads, update_rule: str("linear") }));
    expect(mixed.code).toBe("INVALID_MODEL");
    expect(mixed.message).toMatch(/input 1 has type float16; query is float32/);
  });
});

describe("symbolic sequence length and batch: one module across sizes", () => {
  // sym_*: the model's sequence axis ("seq") or batch axis ("batch") is a dim_param; the test data
  // sets have different sizes, run by one module compiled for bounds
  const cases = fs.readdirSync(CASES).filter((c) => c.startsWith("sym_")).sort();
  it("has the cases", () => expect(cases).toEqual(["sym_cc_batch", "sym_cc_seq", "sym_la_batch", "sym_la_seq"]));
  for (const level of [2, 0] as const) {
    for (const c of cases) {
      it(`${c} at -O${level}, within 1..16`, async () => {
        const dir = path.join(CASES, c);
        const bytes = fs.readFileSync(path.join(dir, "model.onnx"));
        const graph = importModel(bytes);
        const model = await load(bytes, { shapes: { [c.endsWith("batch") ? "batch" : "seq"]: [1, 16] }, level, cache: false });
        const sets = listDataSets(dir);
        expect(sets.length).toBeGreaterThanOrEqual(3);
        for (const set of sets) {
          const feeds = Object.fromEntries(set.inputs.map((f, k) => { const t = readTensorFile(f); return [graph.inputs[k], { data: t.data, dims: t.dims }]; }));
          const got = await model.run(feeds);
          set.outputs.forEach((f, k) => {
            const name = graph.outputs[k];
            const cmp = compareTensors(got[name], readTensorFile(f), toleranceOf(c));
            expect(cmp.message ?? "ok", `${path.basename(path.dirname(f))} ${name} (input dims ${feeds[graph.inputs[0]].dims})`).toBe("ok");
          });
        }
      });
    }
  }
});

describe("threads: the work split among two threads gives the one-thread outputs bit for bit", () => {
  // sizes past the split threshold (codegen/threads.ts); one thread's answers are the reference's (above)
  const rand = (n: number, lo: number, hi: number, seed: number) => Float32Array.from({ length: n }, (_, i) => lo + (hi - lo) * ((Math.sin(i * 12.9898 + seed) * 43758.5453) % 1 + 1) % 1);
  const models: [string, Bad, Record<string, Attr>][] = [
    ["CausalConvWithState", { op: "CausalConvWithState", inputs: [f32("x", [2, 256, 161]), f32("w", [256, 1, 4]), f32("b", [256]), f32("p", [2, 256, 3])] }, { activation: str("silu") }],
    ["LinearAttention", {
      op: "LinearAttention",
      inputs: [f32("q", [2, 40, 8 * 36]), f32("k", [2, 40, 4 * 36]), f32("v", [2, 40, 4 * 40]), f32("p", [2, 4, 36, 40]), f32("g", [2, 40, 4 * 36]), f32("b", [2, 40, 4])],
    }, { q_num_heads: int(8), kv_num_heads: int(4) }],
  ];
  for (const [op, spec] of models) {
    it(op, async () => {
      const bytes = modelBytes({
        opset: 27,
        inputs: spec.inputs.map(([name, dtype, dims]) => ({ name, dtype, dims })),
        nodes: [{ op: spec.op, inputs: spec.inputs.map(([n]) => n), outputs: ["y", "state"], attrs: models.find(([o]) => o === op)![2] }],
        outputs: ["y", "state"],
      });
      const feeds = Object.fromEntries(spec.inputs.map(([name, , dims], k) => {
        const n = dims.reduce((a, b) => a * b, 1);
        return [name, { dims, data: name === "g" ? rand(n, -1, 0, k) : name === "b" && op === "LinearAttention" ? rand(n, 0, 1, k) : rand(n, -0.5, 0.5, k) }];
      }));
      const one = await (await loadAt(1))(bytes, { cache: false, threads: 1 });
      const two = await (await loadAt(2))(bytes, { cache: false, threads: 2 });
      expect(two.session!.manifest.layers.find((l) => l.op === op)?.split).toBe(true);
      const [a, b] = [await one.run(feeds), await two.run(feeds)];
      for (const name of ["y", "state"]) expect(Array.from(b[name].data as Float32Array), name).toEqual(Array.from(a[name].data as Float32Array));
      two.session?.terminate?.();
    });
  }
});

describe("a node that names only its output (no present_state)", () => {
  // the state then lives in scratch (LinearAttention) or is not written (CausalConvWithState); the
  // output must equal the two-output node's, which the reference cases check
  const specs: [Bad, Record<string, Attr>][] = [
    [{ op: "CausalConvWithState", inputs: [f32("x", [2, 3, 7]), f32("w", [3, 1, 4]), f32("p", [2, 3, 3])], names: ["x", "w", "", "p"] }, { activation: str("silu") }],
    [{ op: "LinearAttention", inputs: [f32("q", [1, 5, 16]), f32("k", [1, 5, 8]), f32("v", [1, 5, 12]), f32("p", [1, 2, 4, 6]), f32("g", [1, 5, 8]), f32("b", [1, 5, 2])] },
      { q_num_heads: int(4), kv_num_heads: int(2) }],
  ];
  for (const [spec, attrs] of specs) {
    it(spec.op, async () => {
      const model = (outputs: string[]) => modelBytes({
        opset: 27,
        inputs: spec.inputs.map(([name, dtype, dims]) => ({ name, dtype, dims })),
        nodes: [{ op: spec.op, inputs: spec.names ?? spec.inputs.map(([n]) => n), outputs, attrs }],
        outputs: ["y"],
      });
      const feeds = Object.fromEntries(spec.inputs.map(([name, , dims], k) => {
        const n = dims.reduce((a, b) => a * b, 1);
        return [name, { dims, data: Float32Array.from({ length: n }, (_, i) => (name === "g" ? -0.5 : 0.5) * Math.abs(Math.sin(i * 0.7 + k))) }];
      }));
      const both = await (await load(model(["y", "state"]), { cache: false })).run(feeds);
      const one = await (await load(model(["y"]), { cache: false })).run(feeds);
      expect(Array.from(one.y.data as Float32Array)).toEqual(Array.from(both.y.data as Float32Array));
    });
  }
});
