// Weight packing done at JIT load, against plain references bit for bit: the Winograd transform
// U = G g G^T (the unrolled F(2x2,3x3) path, the generic path for F(4x4,3x3), the splat path: the
// float64 formula rounded once) and the packed GEMM's packB (row-blocked over K).
import { describe, expect, it } from "vitest";
import type { Tensor } from "../../compiler/ir/graph.js";
import { splatTensor } from "../../compiler/ir/splat.js";
import { F2, F4, transformWeights, type WinogradTile } from "../../codegen/kernels/conv-winograd-math.js";
import { packB } from "../../codegen/kernels/gemm-packed.js";
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

describe("Winograd weight transform", () => {
  for (const t of [F2, F4]) {
    it(`F(${t.m}x${t.m},3x3): random weights with -0, infinities and NaN, channels off multiples of 4`, () => {
      for (const [M, C] of [[6, 5], [8, 3], [1, 1]]) {
        const w = tensor({ dims: [M, C, 3, 3] }, M * 31 + C);
        const d = w.data as Float32Array;
        d[0] = -0;
        if (d.length > 20) [d[4], d[11], d[19]] = [Infinity, -Infinity, NaN];
        expect(bits(transformWeights(t, w, M, C))).toEqual(bits(reference(t, w, M, C)));
      }
    });

    it(`F(${t.m}x${t.m},3x3): a splat filter bank gives what its full array gives`, () => {
      for (const [M, C, v] of [[6, 5, 0.37], [8, 4, -1.5], [3, 2, -0]]) {
        const lazy = splatTensor("float32", [M, C, 3, 3], Float32Array.of(v));
        const full: Tensor = { dtype: "float32", dims: [M, C, 3, 3], data: new Float32Array(M * C * 9).fill(v) };
        expect(bits(transformWeights(t, lazy, M, C))).toEqual(bits(reference(t, full, M, C)));
      }
    });
  }
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
