// Dynamic quantization's chain, as onnxruntime's quantize_dynamic writes it (DynamicQuantizeLinear
// -> MatMulInteger -> Cast -> Mul(x_scale * w_scale) -> Add(bias), then whatever follows), run by
// kiln as one fused int8 GEMM with a float store (passes/fuse-dynamic-quant.ts) against
// onnxruntime-node's plain run: the integer product is exact and the float steps are the
// reference's own, so the outputs agree to float rounding.
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { parseGraph } from "../../compiler/ir/parse.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { load } from "../../compiler/driver/api.js";
import { rng } from "../../compiler/driver/cli/inputs.js";
import { compareTensors } from "../../compiler/driver/testdata.js";

const vals = (n: number, lo: number, hi: number, seed: number) => { const r = rng(seed); return Array.from({ length: n }, () => Math.floor(lo + r() * (hi - lo))); };

function dynamicModel(M: number[], K: number, N: number, o: { perChannel?: boolean; after?: string; wt?: "int8" | "uint8" }): string {
  const wt = o.wt ?? "int8";
  const [lo, hi] = wt === "int8" ? [-127, 128] : [0, 256];
  const ws = o.perChannel ? `const %ws : float32[${N}] = dense<[${Array.from({ length: N }, (_, c) => (0.002 + 0.0003 * (c % 7)).toFixed(5))}]>` : `const %ws : float32[] = dense<[0.0041]>`;
  return `kiln.graph opsets("" = 17)
input %x : float32[${M},${K}]
const %wq : ${wt}[${K},${N}] = dense<[${vals(K * N, lo, hi, 3).join(", ")}]>
const %wz : ${wt}[] = dense<[${wt === "int8" ? 0 : 131}]>
${ws}
const %bias : float32[${N}] = dense<[${Array.from({ length: N }, (_, c) => ((c % 11) * 0.13 - 0.6).toFixed(3))}]>
%xq, %xs, %xz = DynamicQuantizeLinear(%x) {name="dql"}
%scale = Mul(%xs, %ws) {name="scale"}
%acc = MatMulInteger(%xq, %wq, %xz, %wz) {name="mmi"}
%f = Cast[to=1](%acc) {name="cast"}
%m = Mul(%f, %scale) {name="mul"}
%y0 = Add(%m, %bias) {name="bias"}
${o.after ?? `%y = Identity(%y0) {name="out"}`}
output %y`;
}

describe("dynamic quantization's MatMulInteger chain as one kernel vs onnxruntime's plain run", () => {
  const cases: [string, number[], number, number, Parameters<typeof dynamicModel>[3]][] = [
    ["per-tensor weights, batched rows", [2, 9], 40, 21, {}],
    ["per-channel weights, Relu after", [17], 64, 33, { perChannel: true, after: `%y = Relu(%y0) {name="relu"}` }],
    ["uint8 weights with a zero point, residual Add", [130], 48, 16, { wt: "uint8", after: `%y = Add(%y0, %x2) {name="res"}` }],
  ];
  for (const [name, M, K, N, o] of cases) {
    it(name, async () => {
      let ir = dynamicModel(M, K, N, o);
      if (o.after?.includes("%x2")) ir = ir.replace(`input %x : float32[${M},${K}]`, `input %x : float32[${M},${K}]\ninput %x2 : float32[${M},${N}]`);
      const bytes = exportModel(parseGraph(ir), { valueInfo: false });
      const r = rng(N);
      const feeds: Record<string, { data: Float32Array; dims: number[] }> = { x: { data: Float32Array.from({ length: M.reduce((a, b) => a * b, 1) * K }, () => r() * 4 - 1.5), dims: [...M, K] } };
      if (o.after?.includes("%x2")) feeds.x2 = { data: Float32Array.from({ length: M.reduce((a, b) => a * b, 1) * N }, () => r() - 0.5), dims: [...M, N] };
      const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "disabled" });
      const want = await s.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor("float32", t.data, t.dims)])));
      const model = await load(bytes, { shapes: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dims])) });
      const got = await model.run(feeds);
      expect(model.session!.manifest.layers.some((l) => l.op.startsWith("MatMulInteger_Cast_Mul") && l.kernel === "qgemm")).toBe(true);
      const cmp = compareTensors(got.y, { dtype: "float32", dims: [...M, N], data: want.y.data as Float32Array }, { rtol: 1e-6, atol: 1e-6 });
      expect(cmp.message ?? "ok").toBe("ok");
    });
  }
});
