// Weight packing done at JIT load, against plain references bit for bit: the Winograd transform
// U = G g G^T (the unrolled F(2x2,3x3) path, the generic path for F(4x4,3x3), the splat path: the
// float64 formula rounded once) and the packed GEMM's packB (row-blocked over K).
import { describe, expect, it } from "vitest";
import type { Tensor } from "../../compiler/ir/graph.js";
import { splatTensor } from "../../compiler/ir/splat.js";
import { F2, F4, transformedConstant, transformWeights, type WinogradTile } from "../../codegen/kernels/conv/winograd-math.js";
import { packA, packAOf, packB, packBOf } from "../../codegen/kernels/matmul/gemm-pack.js";
import type { LazyConstant } from "../../codegen/kernels/kernel.js";
import { tensor } from "../util/ort.js";

/** The formula, written plainly: U[xi][M/4][C][4], padding channels zero. */
function reference(t: WinogradTile, w: Tensor, M: number, C: number): Float32Array {
  const Mp = Math.ceil(M / 4) * 4, a = t.a, G = t.G;
  const U = new Float32Array(a * a * Mp * C);
  for (let m = 0; m < M; m++) {
    for (let c = 0; c < C; c++) {
      const g = (k: number, l: number) => Number(w.data[(m * C + c) * 9 + k * 3 + l]);
      for (let i = 0; i < a; i++) {
        const tmp = [0, 1, 2].map((l) => G[i][0] * g(0, l) + G[i][1] * g(1, l) + G[i][2] * g(2, l));
        for (let j = 0; j < a; j++) {
          U[(i * a + j) * Mp * C + (Math.floor(m / 4) * C + c) * 4 + (m % 4)] = tmp[0] * G[j][0] + tmp[1] * G[j][1] + tmp[2] * G[j][2];
        }
      }
    }
  }
  return U;
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** What a constant writes, at an aligned and at an odd position (both must give the same bytes). */
function written(c: Uint8Array | LazyConstant): Uint8Array[] {
  if (c instanceof Uint8Array) return [c, c];
  return [0, 1].map((at) => {
    const into = new Uint8Array(c.byteLength + 2).fill(0xee);
    c.write(into.subarray(at, at + c.byteLength));
    expect(into[at + c.byteLength]).toBe(0xee);
    if (at) expect(into[0]).toBe(0xee);
    return into.slice(at, at + c.byteLength);
  });
}

describe("Winograd weight transform", () => {
  for (const t of [F2, F4]) {
    it(`F(${t.m}x${t.m},3x3): random weights, channels off multiples of 4, match the plain formula`, () => {
      for (const [M, C] of [[6, 5], [8, 3], [1, 1]]) {
        const w = tensor({ dims: [M, C, 3, 3] }, M * 31 + C);
        expect(bits(transformWeights(t, w, M, C))).toEqual(bits(reference(t, w, M, C)));
        // as a kernel constant, transformed into the image when it is written: padding zeroed in a dirty buffer
        for (const got of written(transformedConstant(t, w, M, C))) expect(new Uint32Array(got.slice().buffer)).toEqual(bits(reference(t, w, M, C)));
      }
    });

    it(`F(${t.m}x${t.m},3x3): a splat filter bank gives what its full array gives, eagerly and lazily`, () => {
      for (const [M, C, v] of [[6, 5, 0.37], [8, 4, -1.5], [3, 2, -0], [5, 1, Infinity]]) {
        const lazy = splatTensor("float32", [M, C, 3, 3], Float32Array.of(v));
        const full: Tensor = { dtype: "float32", dims: [M, C, 3, 3], data: new Float32Array(M * C * 9).fill(v) };
        const want = bits(transformWeights(t, full, M, C));
        expect(bits(transformWeights(t, lazy, M, C))).toEqual(want);
        for (const got of written(transformedConstant(t, lazy, M, C))) expect(new Uint32Array(got.slice().buffer)).toEqual(want);
      }
    });
  }

  it("F(4x4,3x3) keeps the formula's float64 sums even for -0, infinities and NaN", () => {
    const [M, C] = [6, 5];
    const w = tensor({ dims: [M, C, 3, 3] }, 99);
    const d = w.data as Float32Array;
    [d[0], d[4], d[11], d[19]] = [-0, Infinity, -Infinity, NaN];
    expect(bits(transformWeights(F4, w, M, C))).toEqual(bits(reference(F4, w, M, C)));
  });
});

describe("packB", () => {
  it("matches the panel layout element by element across K row blocks, tails and transB", () => {
    for (const nr of [8, 16]) {
      for (const K of [1, 15, 16, 17, 40]) {
        for (const N of [1, 8, 16, 17, 35]) {
          const b = Float32Array.from({ length: K * N }, (_, i) => Math.sin(i + K * 7 + N) * 10);
          const bt = new Float32Array(K * N);
          for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) bt[n * K + k] = b[k * N + n];
          const panels = Math.ceil(N / nr);
          const want = new Float32Array(panels * K * nr);
          for (let p = 0; p < panels; p++) {
            for (let k = 0; k < K; k++) for (let j = 0; j < nr && p * nr + j < N; j++) want[(p * K + k) * nr + j] = b[k * N + p * nr + j];
          }
          expect(new Float32Array(packB(b, K, N, false, nr).buffer)).toEqual(want);
          expect(new Float32Array(packB(bt, K, N, true, nr).buffer)).toEqual(want);
        }
      }
    }
  });
});

describe("packing a splat", () => {
  const splat = (dims: number[], v: number) => splatTensor("float32", dims, Float32Array.of(v));
  it("packBOf writes what packB writes for the full array, tail columns zero, either orientation", () => {
    for (const [K, N, nr] of [[5, 10, 8], [3, 16, 16], [17, 35, 16], [1, 1, 8]]) {
      const want = packB(new Float32Array(K * N).fill(-2.5), K, N, false, nr);
      for (const transB of [false, true]) for (const got of written(packBOf(splat(transB ? [N, K] : [K, N], -2.5), K, N, transB, nr))) expect(got).toEqual(want);
    }
  });

  it("packAOf writes what packA writes for the full array (whole MR tiles only)", () => {
    for (const [M, K] of [[4, 7], [5, 3], [1, 9], [9, 40]]) {
      const want = packA(new Float32Array(M * K).fill(0.75), M, K, { kc: 16 });
      for (const got of written(packAOf(splat([M, K], 0.75), M, K, { kc: 16 }))) expect(got).toEqual(want);
    }
  });

  it("a dense tensor packs when written, as packB and packA do, every byte of a dirty buffer overwritten", () => {
    for (const [K, N] of [[6, 5], [17, 35], [4, 16]]) {
      const t: Tensor = { dtype: "float32", dims: [K, N], data: Float32Array.from({ length: K * N }, (_, i) => i - 7) };
      const tt: Tensor = { dtype: "float32", dims: [N, K], data: t.data };
      for (const got of written(packBOf(t, K, N, false, 8))) expect(got).toEqual(packB(t.data as Float32Array, K, N, false, 8));
      for (const got of written(packBOf(tt, K, N, true, 16))) expect(got).toEqual(packB(t.data as Float32Array, K, N, true, 16));
      for (const got of written(packAOf(t, K, N, { kc: 4 }))) expect(got).toEqual(packA(t.data as Float32Array, K, N, { kc: 4 }));
    }
  });
});
