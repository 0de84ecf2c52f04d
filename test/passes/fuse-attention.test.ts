// fuse-attention: scores -> [scale] -> [mask] -> Softmax -> context as one Attention node (opset 23)
// where its "blocked" kernel runs it; IR text in and out, then whole graphs as exporters write
// them (MiniLM-like, BERT-like with a padding mask and transformers' IsNaN guard, Whisper-like with
// long sequences) compiled through the pipeline and compared with onnxruntime-node.
import { describe, expect, it } from "vitest";
import { parseGraph } from "../../compiler/ir/parse.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { load } from "../../compiler/driver/api.js";
import { compareTensors } from "../../compiler/driver/testdata.js";
import { fuseAttentionPass } from "../../passes/fuse-attention.js";
import { expectPass, expectUnchanged, runPassOn } from "./util.js";
import { runOrt, tensor } from "../util/ort.js";
import type { Tensor } from "../../compiler/ir/graph.js";

const pass = fuseAttentionPass;

/** attention after fuse-transposed-matmul: Q, K, V read as [b, s, h, d], the context written so */
const einsums = (s: number, h: number, d: number, between: string, probs = "%p") => `
input %q : float32[1,${s},${h},${d}]
input %k : float32[1,${s},${h},${d}]
input %v : float32[1,${s},${h},${d}]
const %c : float32[] = dense<[0.25]>
%sc : float32[1,${h},${s},${s}] = Einsum[equation="acbd,aebd->abce"](%q, %k) {name="scores"}
${between}
%y : float32[1,${s},${h},${d}] = Einsum[equation="abcd,adbe->acbe"](${probs}, %v) {name="context"}
output %y`;

describe("fuse-attention (IR)", () => {
  it("makes scores -> Mul -> Softmax -> context one Attention on 3-D views of Q, K, V (reshapes, no copies)", () => expectPass(pass, einsums(20, 3, 8, `
%sm : float32[1,3,20,20] = Mul(%sc, %c) {name="scale"}
%p : float32[1,3,20,20] = Softmax[axis=-1](%sm) {name="probs"}`), `kiln.graph opsets("" = 23)
input %q : float32[1,20,3,8]
input %k : float32[1,20,3,8]
input %v : float32[1,20,3,8]
const %q/heads/shape : int64[3] = dense<[1, 20, 24]>
const %k/heads/shape : int64[3] = dense<[1, 20, 24]>
const %v/heads/shape : int64[3] = dense<[1, 20, 24]>
const %y/shape : int64[4] = dense<[1, 20, 3, 8]>
%q/heads : float32[1,20,24] = Reshape(%q, %q/heads/shape) {name="q/heads/reshape"}
%k/heads : float32[1,20,24] = Reshape(%k, %k/heads/shape) {name="k/heads/reshape"}
%v/heads : float32[1,20,24] = Reshape(%v, %v/heads/shape) {name="v/heads/reshape"}
%y/heads : float32[1,20,24] = Attention[kv_num_heads=3, q_num_heads=3, scale=0.25](%q/heads, %k/heads, %v/heads) {name="context"}
%y : float32[1,20,3,8] = Reshape(%y/heads, %y/shape) {name="y/reshape"}
output %y`));

  it("takes a Div scale, an additive mask and transformers' Where(IsNaN(p), 0, p) in; 4-D layouts read as they are", () => expectPass(pass, `
input %q : float32[2,3,20,8]
input %k : float32[2,3,24,8]
input %v : float32[2,3,24,5]
input %m : float32[2,1,1,24]
const %c : float32[] = dense<[4]>
const %zero : float32[1] = dense<[0]>
%sc : float32[2,3,20,24] = Einsum[equation="abcd,abed->abce"](%q, %k) {name="scores"}
%sd : float32[2,3,20,24] = Div(%sc, %c) {name="scale"}
%sm : float32[2,3,20,24] = Add(%sd, %m) {name="mask"}
%p : float32[2,3,20,24] = Softmax[axis=-1](%sm) {name="probs"}
%nan : bool[2,3,20,24] = IsNaN(%p) {name="isnan"}
%pz : float32[2,3,20,24] = Where(%nan, %zero, %p) {name="guard"}
%y : float32[2,3,20,5] = Einsum[equation="abcd,abde->abce"](%pz, %v) {name="context"}
output %y`, `kiln.graph opsets("" = 23)
input %q : float32[2,3,20,8]
input %k : float32[2,3,24,8]
input %v : float32[2,3,24,5]
input %m : float32[2,1,1,24]
%y : float32[2,3,20,5] = Attention[scale=0.25](%q, %k, %v, %m) {name="context"}
output %y`));

  it("4-D Q, K, V with the context written [b, s, h, e] (transformers' SDPA export, Llama's): Attention, then a Transpose", () => expectPass(pass, `
input %q : float32[1,4,20,8]
input %k : float32[1,4,24,8]
input %v : float32[1,4,24,8]
input %m : float32[1,1,20,24]
%sc : float32[1,4,20,24] = Einsum[equation="abcd,abed->abce"](%q, %k) {name="scores"}
%sm : float32[1,4,20,24] = Add(%sc, %m) {name="mask"}
%p : float32[1,4,20,24] = Softmax[axis=-1](%sm) {name="probs"}
%y : float32[1,20,4,8] = Einsum[equation="abcd,abde->acbe"](%p, %v) {name="context"}
output %y`, `kiln.graph opsets("" = 23)
input %q : float32[1,4,20,8]
input %k : float32[1,4,24,8]
input %v : float32[1,4,24,8]
input %m : float32[1,1,20,24]
%"y/bhsd" : float32[1,4,20,8] = Attention[scale=1.0](%q, %k, %v, %m) {name="context"}
%y : float32[1,20,4,8] = Transpose[perm=[0, 2, 1, 3]](%"y/bhsd") {name="context/transpose"}
output %y`));

  it("leaves probabilities another node reads, a softmax not over the keys, short sequences, mixed layouts and a mask broadcast over the keys", async () => {
    await expectUnchanged(pass, einsums(20, 3, 8, `
%p : float32[1,3,20,20] = Softmax[axis=-1](%sc) {name="probs"}
%z : float32[1,3,20,20] = Relu(%p) {name="other"}
output %z`));
    await expectUnchanged(pass, einsums(20, 3, 8, `%p : float32[1,3,20,20] = Softmax[axis=2](%sc) {name="probs"}`));
    // 3 queries: the row kernel does as well as three layers, so nothing to gain
    await expectUnchanged(pass, einsums(3, 3, 8, `%p : float32[1,3,3,3] = Softmax[axis=-1](%sc) {name="probs"}`));
    await expectUnchanged(pass, `
input %q : float32[1,20,3,8]
input %k : float32[1,20,3,8]
input %v : float32[1,3,20,8]
%sc : float32[1,3,20,20] = Einsum[equation="acbd,aebd->abce"](%q, %k) {name="scores"}
%p : float32[1,3,20,20] = Softmax[axis=-1](%sc) {name="probs"}
%y : float32[1,3,20,8] = Einsum[equation="abcd,abde->abce"](%p, %v) {name="context"}
output %y`);
    await expectUnchanged(pass, einsums(20, 3, 8, `
const %m : float32[1,1,20,1] = dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]>
%sm : float32[1,3,20,20] = Add(%sc, %m) {name="mask"}
%p : float32[1,3,20,20] = Softmax[axis=-1](%sm) {name="probs"}`));
    // a 1-D mask: Attention's attn_mask has rank 2 to 4
    await expectUnchanged(pass, einsums(20, 3, 8, `
input %m : float32[20]
%sm : float32[1,3,20,20] = Add(%sc, %m) {name="mask"}
%p : float32[1,3,20,20] = Softmax[axis=-1](%sm) {name="probs"}`));
  });

  it("raises the opset past ops whose meaning did not change (a ConvTranspose head, as Depth Anything's), not past one whose did (GroupNormalization at 21)", async () => {
    const attention = einsums(20, 3, 8, `
%p : float32[1,3,20,20] = Softmax[axis=-1](%sc) {name="probs"}`);
    const head = (op: string, inputs: string) => `
input %img : float32[1,2,3,3]
const %w : float32[2,2,3,3] = dense<[${Array(36).fill(0.5).join(", ")}]>
const %g : float32[2] = dense<[1, 1]>
%up : float32[1,2,${op === "ConvTranspose" ? "5,5" : "3,3"}] = ${op}${inputs} {name="head"}
output %up`;
    const fused = await runPassOn(pass, attention + head("ConvTranspose", "(%img, %w)"));
    expect(fused).toMatch(/^kiln\.graph opsets\("" = 23\)/);
    expect(fused).toMatch(/= Attention\[/);
    const kept = await runPassOn(pass, attention + head("GroupNormalization[num_groups=2]", "(%img, %g, %g)"));
    expect(kept).toMatch(/^kiln\.graph opsets\("" = 13\)/);
    expect(kept).not.toMatch(/Attention/);
  });

  it("does nothing when disabled (compile does so for symbolic dims) or when the kernel selection forbids blocked", async () => {
    const { runPassOn } = await import("./util.js");
    const input = einsums(20, 3, 8, `%p : float32[1,3,20,20] = Softmax[axis=-1](%sc) {name="probs"}`);
    const withOptions = (options: Record<string, string | boolean>) => ({ ...pass, run: (g: Parameters<typeof pass.run>[0], ctx: Parameters<typeof pass.run>[1]) => pass.run(g, { ...ctx, options }) });
    const unchanged = await runPassOn({ ...pass, run: () => ({}) }, input);
    expect(await runPassOn(withOptions({ enabled: false }), input)).toBe(unchanged);
    expect(await runPassOn(withOptions({ kernels: "-blocked" }), input)).toBe(unchanged);
    expect(await runPassOn(withOptions({ kernels: "" }), input)).not.toBe(unchanged);
  });
});

/** An exporter's attention: heads split by Reshape + Transpose, merged back, with `scores` (from %sc to %p) in between */
const exported = (b: number, s: number, h: number, d: number, scores: string, probs = "%p") => `kiln.graph opsets("" = 17)
input %x : float32[${b},${s},${h * d}]
input %xv : float32[${b},${s},${h * d}]
const %split : int64[4] = dense<[${b}, ${s}, ${h}, ${d}]>
const %merge : int64[3] = dense<[${b}, ${s}, ${h * d}]>
%q : float32[${b},${s},${h},${d}] = Reshape(%x, %split) {name="q"}
%xk : float32[${b},${s},${h * d}] = Neg(%x) {name="kproj"}
%k : float32[${b},${s},${h},${d}] = Reshape(%xk, %split) {name="k"}
%v : float32[${b},${s},${h},${d}] = Reshape(%xv, %split) {name="v"}
%qh : float32[${b},${h},${s},${d}] = Transpose[perm=[0, 2, 1, 3]](%q) {name="qh"}
%kt : float32[${b},${h},${d},${s}] = Transpose[perm=[0, 2, 3, 1]](%k) {name="kt"}
%vh : float32[${b},${h},${s},${d}] = Transpose[perm=[0, 2, 1, 3]](%v) {name="vh"}
%sc : float32[${b},${h},${s},${s}] = MatMul(%qh, %kt) {name="scores"}
${scores}
%ctx : float32[${b},${h},${s},${d}] = MatMul(${probs}, %vh) {name="context"}
%yt : float32[${b},${s},${h},${d}] = Transpose[perm=[0, 2, 1, 3]](%ctx) {name="merge"}
%y : float32[${b},${s},${h * d}] = Reshape(%yt, %merge) {name="y"}
output %y`;

async function expectFusedMatchesOrt(text: string, feeds: Record<string, Tensor>, fused: boolean): Promise<void> {
  const bytes = exportModel(parseGraph(text), { valueInfo: false });
  const model = await load(bytes, { cache: false });
  const layers = model.session!.manifest.layers.map((l) => `${l.op}:${l.kernel}`);
  if (fused) expect(layers).toContain("Attention:blocked");
  else expect(layers.some((l) => l.startsWith("Attention"))).toBe(false);
  const got = await model.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
  const want = await runOrt(bytes, feeds);
  expect(compareTensors(got.y, want.y, { rtol: 1e-4, atol: 1e-5 }).message ?? "ok").toBe("ok");
}

const inputs = (b: number, s: number, hd: number, seed: number) => ({
  x: tensor({ dims: [b, s, hd], lo: -2, hi: 2 }, seed), xv: tensor({ dims: [b, s, hd] }, seed + 1),
});

describe("fuse-attention: exported attention compiled vs onnxruntime-node", () => {
  it("MiniLM-like: Softmax(scores * c) (fuse-patterns' scaled softmax), odd sequence, heads and head size", async () => {
    await expectFusedMatchesOrt(exported(1, 37, 3, 9, `
const %c : float32[] = dense<[0.3333]>
%sm : float32[1,3,37,37] = Mul(%sc, %c) {name="scale"}
%p : float32[1,3,37,37] = Softmax[axis=-1](%sm) {name="probs"}`), inputs(1, 37, 27, 5), true);
  });

  it("BERT-like: Div, a [b, 1, 1, s] padding mask (a row of the batch fully masked: zeros) and the IsNaN guard", async () => {
    const b = 2, s = 21;
    const mask = tensor({ dims: [b, 1, 1, s], data: Array.from({ length: b * s }, (_, e) => (e >= s || e % s > 15 ? -Infinity : 0)) }, 1);
    await expectFusedMatchesOrt(exported(b, s, 2, 16, `
input %m : float32[${b},1,1,${s}]
const %c : float32[] = dense<[4]>
const %zero : float32[1] = dense<[0]>
%sd : float32[${b},2,${s},${s}] = Div(%sc, %c) {name="scale"}
%sm : float32[${b},2,${s},${s}] = Add(%sd, %m) {name="mask"}
%p : float32[${b},2,${s},${s}] = Softmax[axis=-1](%sm) {name="probs"}
%nan : bool[${b},2,${s},${s}] = IsNaN(%p) {name="isnan"}
%pz : float32[${b},2,${s},${s}] = Where(%nan, %zero, %p) {name="guard"}`, "%pz").replace("output %y", "output %y"), { ...inputs(b, s, 32, 9), m: mask }, true);
  });

  it("Whisper-like: 401 positions (4 blocks of 112 query rows, the last 65; P V over 2 K blocks), one head", async () => {
    await expectFusedMatchesOrt(exported(1, 401, 1, 24, `%p : float32[1,1,401,401] = Softmax[axis=-1](%sc) {name="probs"}`), inputs(1, 401, 24, 11), true);
  });

  it("one query: left as three layers, still right", async () => {
    await expectFusedMatchesOrt(exported(1, 1, 2, 8, `%p : float32[1,2,1,1] = Softmax[axis=-1](%sc) {name="probs"}`), inputs(1, 1, 16, 13), false);
  });
});
