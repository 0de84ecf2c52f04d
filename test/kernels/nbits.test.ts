// MatMulNBits (com.microsoft) against onnxruntime-node: 4 and 8 bits, block sizes 16-256, with
// and without zero points and bias, K not a multiple of the block, N not a multiple of the
// panel, one row (the GEMV) and many (the dequantizing panel GEMM); the weights' packing against
// the dequantized matrix; the variant each shape takes.
import { describe, expect, it } from "vitest";
import type { Attr } from "../../compiler/ir/graph.js";
import { expectMatchesOrt, tensor } from "../util/ort.js";
import { kernelsFor } from "../util/kernels.js";
import { dequantized, matMulNBitsWeights, packNBits } from "../../codegen/kernels/quant/nbits-pack.js";
import * as ort from "onnxruntime-node";
import { parseGraph } from "../../compiler/ir/parse.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { load } from "../../compiler/driver/api.js";
import { rng } from "../../compiler/driver/cli/inputs.js";
import { compareTensors } from "../../compiler/driver/testdata.js";
import { halfToNumber, nearestNormalHalf } from "../../compiler/ir/values.js";

const int = (value: number): Attr => ({ type: "int", value });

/** scales that are float16 values (kiln's own quantize pass makes them so): 0, negative and tiny normal ones among them */
function halfExactScales(n: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => (i === 3 ? 0 : i === 5 ? nearestNormalHalf(-0.0125) : i === 7 ? 2 ** -14 : nearestNormalHalf(0.001 + 0.049 * r())));
}

function nbitsCase(M: number[], K: number, N: number, bits: 4 | 8, bs: number, zp: boolean, bias: boolean, seed = 1, halfScales = false) {
  const blocks = Math.ceil(K / bs), blob = (bs * bits) / 8;
  return {
    op: "MatMulNBits", domain: "com.microsoft", opset: 1, seed,
    attrs: { K: int(K), N: int(N), bits: int(bits), block_size: int(bs) },
    inputs: [
      { dims: [...M, K], lo: -1, hi: 1 },
      { dims: [N, blocks, blob], dtype: "uint8" as const, lo: 0, hi: 256, constant: true },
      { dims: [N * blocks], lo: 0.001, hi: 0.05, constant: true, ...(halfScales ? { data: halfExactScales(N * blocks, seed) } : {}) },
      zp ? { dims: [N * Math.ceil((blocks * bits) / 8)], dtype: "uint8" as const, lo: 0, hi: 256, constant: true } : null,
      null,
      ...(bias ? [{ dims: [N], lo: -1, hi: 1, constant: true }] : []),
    ],
    tolerance: { rtol: 1e-4, atol: 1e-4 },
  };
}

describe("MatMulNBits vs onnxruntime", () => {
  const shapes: [number[], number, number][] = [[[1], 64, 16], [[1], 96, 37], [[2], 100, 40], [[5], 128, 20], [[2, 65], 70, 33], [[130], 256, 48]];
  for (const [M, K, N] of shapes) {
    for (const bits of [4, 8] as const) {
      it(`${M.join("x")}x${K} * ${K}x${N}, ${bits} bits`, async () => {
        const rows = M.reduce((a, b) => a * b, 1);
        for (const [bs, zp, bias] of [[16, true, false], [32, false, true], [64, true, true], [128, false, false]] as const) {
          if (bs > 2 * K) continue;
          await expectMatchesOrt(nbitsCase(M, K, N, bits, bs, zp, bias, bs));
        }
        expect((await kernelsFor("MatMulNBits", [{ dims: [...M, K] }, { dims: [N, Math.ceil(K / 32), bits * 4], dtype: "uint8", constant: true }, { dims: [N * Math.ceil(K / 32)], constant: true }],
          { K: int(K), N: int(N), bits: int(bits), block_size: int(32) }, undefined, "com.microsoft")).chosen).toBe(rows <= 2 ? "gemv-nbits" : "panels-nbits");
      });
    }
  }

  it("scales that are float16 values are kept as float16 codes and read back exactly (both variants, odd shapes)", async () => {
    for (const [M, K, N] of [[[1], 96, 37], [[2], 100, 40], [[5], 128, 20], [[2, 65], 70, 33]] as [number[], number, number][]) {
      for (const bits of [4, 8] as const) {
        for (const [bs, zp, bias] of [[16, true, false], [32, false, true]] as const) await expectMatchesOrt(nbitsCase(M, K, N, bits, bs, zp, bias, bs + K, true));
      }
    }
    const K = 64, N = 20, bs = 32, blocks = 2;
    const b = tensor({ dims: [N, blocks, 16], dtype: "uint8", lo: 0, hi: 256 }, 3);
    const exact = tensor({ dims: [N * blocks], data: halfExactScales(N * blocks, 9) }, 4);
    const inexact = tensor({ dims: [N * blocks], data: [...halfExactScales(N * blocks - 1, 9), 0.0123456] }, 4);
    const subnormal = tensor({ dims: [N * blocks], data: [...halfExactScales(N * blocks - 1, 9), 2 ** -20] }, 4);
    const packed = packNBits(matMulNBitsWeights(K, N, 4, bs, b, exact)!);
    expect(packed.halfScale).toBeDefined();
    expect(Array.from(packed.halfScale!, halfToNumber)).toEqual(Array.from(packed.scale));
    expect(packNBits(matMulNBitsWeights(K, N, 4, bs, b, inexact)!).halfScale).toBeUndefined();
    expect(packNBits(matMulNBitsWeights(K, N, 4, bs, b, subnormal)!).halfScale).toBeUndefined();
  });

  it("float16 A, scales and bias (transformers.js's q4f16): the graph widened to float32, within float16 precision of onnxruntime's", async () => {
    for (const [M, K, N, bits, zp] of [[[1], 96, 37, 4, false], [[5], 128, 20, 4, true], [[2, 9], 64, 48, 8, false]] as [number[], number, number, 4 | 8, boolean][]) {
      const c = nbitsCase(M, K, N, bits, 32, zp, true, 7);
      const half = <T extends object | null>(i: T) => (i && "dtype" in i ? i : i && { ...i, dtype: "float16" as const });
      await expectMatchesOrt({ ...c, inputs: c.inputs.map((i, k) => (k === 0 || k === 2 || k === 5 ? half(i) : i)), tolerance: { rtol: 1e-2, atol: 1e-2 } });
    }
  });

  it("block size 256 over a K of 384 (a partial last block)", async () => {
    await expectMatchesOrt(nbitsCase([3], 384, 24, 4, 256, true, false));
    await expectMatchesOrt(nbitsCase([1], 384, 24, 4, 256, false, true));
  });

  it("packs every weight where the kernels read it (dequantized back equal)", () => {
    for (const bits of [4, 8] as const) {
      const K = 37, N = 21, bs = 16, blocks = 3;
      const b = tensor({ dims: [N, blocks, (bs * bits) / 8], dtype: "uint8", lo: 0, hi: 256 }, 3);
      const s = tensor({ dims: [N * blocks], lo: 0.01, hi: 0.1 }, 4);
      const z = tensor({ dims: [N * Math.ceil((blocks * bits) / 8)], dtype: "uint8", lo: 0, hi: 256 }, 5);
      const w = matMulNBitsWeights(K, N, bits, bs, b, s, z)!;
      const p = packNBits(w);
      const want = dequantized(w);
      const rowBytes = bits === 4 ? 8 : 16;
      for (let n = 0; n < N; n++) {
        const panel = Math.floor(n / 16), j = n % 16;
        for (let k = 0; k < K; k++) {
          const byte = p.q[(panel * p.Kp + k) * rowBytes + (bits === 4 ? j % 8 : j)];
          const q = bits === 8 ? byte : j < 8 ? byte & 15 : byte >> 4;
          const blk = Math.floor(k / bs), at = (panel * blocks + blk) * 16 + j;
          expect(Math.fround((q - p.zp[at]) * p.scale[at])).toBe(want[k * N + n]);
        }
      }
    }
  });
});

describe("blocked DequantizeLinear -> MatMul as MatMulNBits", () => {
  const vals = (n: number, lo: number, hi: number, seed: number) => { const r = rng(seed); return Array.from({ length: n }, () => Math.floor(lo + r() * (hi - lo))); };
  for (const [dt, lo, hi, bs, zp, rows] of [["int4", -8, 8, 32, true, 1], ["uint4", 0, 16, 16, false, 6], ["int8", -128, 128, 64, true, 3], ["uint4", 0, 16, 128, true, 130]] as const) {
    it(`${dt} weights, block ${bs}, ${zp ? "with" : "without"} zero points, ${rows} rows`, async () => {
      const K = 200, N = 23, blocks = Math.ceil(K / bs);
      const r = rng(bs);
      const ir = `kiln.graph opsets("" = 21)
input %x : float32[${rows},${K}]
const %q : ${dt}[${K},${N}] = dense<[${vals(K * N, lo, hi, 1).join(", ")}]>
const %s : float32[${blocks},${N}] = dense<[${Array.from({ length: blocks * N }, () => (0.01 + 0.05 * r()).toFixed(4)).join(", ")}]>
${zp ? `const %z : ${dt}[${blocks},${N}] = dense<[${vals(blocks * N, lo, hi, 2).join(", ")}]>` : ""}
%w : float32[${K},${N}] = DequantizeLinear[axis=0, block_size=${bs}](%q, %s${zp ? ", %z" : ""}) {name="dq"}
%y : float32[${rows},${N}] = MatMul(%x, %w) {name="mm"}
output %y`;
      const bytes = exportModel(parseGraph(ir), { valueInfo: false });
      const x = Float32Array.from({ length: rows * K }, () => r() * 2 - 1);
      const want = await (await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "disabled" })).run({ x: new ort.Tensor("float32", x, [rows, K]) });
      const model = await load(bytes, { shapes: { x: [rows, K] } });
      const got = await model.run({ x: { data: x, dims: [rows, K] } });
      expect(model.session!.manifest.layers.map((l) => l.op)).toEqual(["MatMulNBits"]);
      const cmp = compareTensors(got.y, { dtype: "float32", dims: [rows, N], data: want.y.data as Float32Array }, { rtol: 1e-4, atol: 1e-4 });
      expect(cmp.message ?? "ok").toBe("ok");
    });
  }
});
