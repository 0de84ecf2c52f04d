// The packed GEMM microkernel (codegen/kernels/matmul/gemm-packed.ts) run in a standalone module against a
// float64 JS reference: odd sizes, tails of every tile dimension, K spanning several KC blocks,
// transB, alpha, bias, the epilogue hook, strided views and tile shapes; C's neighbours untouched.
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { emitPackedGemm, type PackedEpilogue, type PackedTile, type RowMajor } from "../../codegen/kernels/matmul/gemm-packed.js";
import { packB, packedBytes } from "../../codegen/kernels/matmul/gemm-pack.js";
import { Fn } from "../../codegen/fn.js";
import { packedEpilogue } from "../../codegen/kernels/matmul/gemm-epilogue.js";
import type { Epilogue } from "../../codegen/kernels/kernel.js";
import { buildStandalone, type StandaloneGemm } from "../../bench/gemm-packed.js";
import { buildCase, runKiln } from "../util/ort.js";
import { TEST_DOMAIN } from "./gemm-packed-op.js";

/** deterministic values in [-1, 1) */
function seeded(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

type Ref = (v: number, row: number, col: number) => number;

interface Case extends Omit<StandaloneGemm, "b" | "packedAFrom"> {
  /** A pre-packed at build time (packA) */
  prepackA?: boolean;
  /** JS twin of the epilogue */
  post?: Ref;
  a?: Float32Array;
}

async function check(c: Case, seed = 1): Promise<void> {
  const { M, N, K } = c;
  const lda = c.lda ?? (c.aColumns ? M : K), ldc = c.ldc ?? (c.cColumns ? M : N), ldb = c.bInPlace ? c.ldb ?? N : N;
  const aIdx = (i: number, k: number) => (c.aColumns ? k * lda + i : i * lda + k);
  const cIdx = (i: number, j: number) => (c.cColumns ? j * ldc + i : i * ldc + j);
  const b = seeded(K * ldb, seed);
  const a = c.a ?? seeded(c.aColumns ? K * lda : M * lda, seed + 1);
  const g = await buildStandalone({ ...c, b, packedAFrom: c.prepackA ? a : undefined });
  g.a.set(a);
  if (c.prepackA) {
    // the rows of whole MR tiles must come from the packed copy: poison them in place
    const mr = c.tile?.mr ?? 2;
    g.a.fill(NaN, 0, (M - (M % mr)) * lda);
  }
  const sentinel = 12345.5;
  g.c.fill(sentinel);
  g.run();
  const alpha = c.alpha ?? 1;
  let worst = 0;
  const [rows, cols] = c.cColumns ? [ldc, N] : [M, ldc];
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const got = g.c[cIdx(i, j)];
      if (j >= N || i >= M) {
        expect(got, `C[${i}][${j}] is outside the product`).toBe(sentinel);
        continue;
      }
      let s = 0;
      for (let k = 0; k < K; k++) s += a[aIdx(i, k)] * (c.transB ? b[j * K + k] : b[k * ldb + j]);
      let want = alpha * s + (c.bias ? c.bias[j] : 0);
      if (c.post) want = c.post(want, i, j);
      if (Number.isNaN(want)) expect(got).toBeNaN();
      else if (!Number.isFinite(want)) expect(got).toBe(want);
      else worst = Math.max(worst, Math.abs(got - want) / (1 + Math.abs(want)));
    }
  }
  expect(worst, `${M}x${N}x${K} ${JSON.stringify(c.tile ?? {})}`).toBeLessThan(1e-5 * Math.max(1, Math.sqrt(K)));
  expect([...g.guard].every((x) => x === 0), "bytes after C written").toBe(true);
}

/** small blocks so that KC and MC blocking run at test sizes */
const small: Partial<PackedTile> = { kc: 16, mc: 10 };

describe("packB", () => {
  it("lays out NR-column panels K-major, zero-padded, the same for B and its transpose", () => {
    const K = 3, N = 10, nr = 8;
    const b = Float32Array.from({ length: K * N }, (_, i) => i + 1);
    const bt = new Float32Array(K * N);
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) bt[n * K + k] = b[k * N + n];
    const p = new Float32Array(packB(b, K, N, false, nr).buffer);
    expect(p.length * 4).toBe(packedBytes(K, N, nr));
    expect([...p.slice(0, 8)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...p.slice(8, 16)]).toEqual([11, 12, 13, 14, 15, 16, 17, 18]);
    expect([...p.slice(24, 32)]).toEqual([9, 10, 0, 0, 0, 0, 0, 0]);
    expect([...new Float32Array(packB(bt, K, N, true, nr).buffer)]).toEqual([...p]);
  });
});

describe("packed GEMM vs a float64 reference", () => {
  it("odd sizes: every M % MR, N % NR and N % 4 tail, one K block", async () => {
    for (const [M, N, K] of [[1, 1, 1], [3, 5, 7], [7, 13, 3], [13, 8, 13], [5, 16, 1], [6, 9, 65], [2, 4, 2], [11, 7, 8]]) {
      await check({ M, N, K });
    }
  });

  it("K across several KC blocks (first, middle loop, last with a remainder) and MC row blocks", async () => {
    for (const [M, N, K] of [[13, 11, 16], [13, 11, 17], [21, 19, 33], [65, 23, 129], [31, 8, 100], [1, 3, 70]]) {
      await check({ M, N, K, tile: small });
    }
    await check({ M: 37, N: 29, K: 1031 }, 7); // K much larger than the default KC
  });

  it("transB, alpha and a column bias, incl. through the partial-vector edge", async () => {
    for (const [M, N, K] of [[7, 13, 5], [10, 6, 40], [129, 17, 9]]) {
      await check({ M, N, K, transB: true, alpha: -0.75, bias: seeded(N, 99), tile: small });
      await check({ M, N, K, transB: false, bias: seeded(N, 98) });
    }
  });

  it("the epilogue sees each vector with its row, first column and lane count", async () => {
    // v * 0.5 + (row * 100 + col + lane) / 1000, then max(., 0): row/col/lane mistakes show up
    const epilogue = (m: binaryen.Module): PackedEpilogue => (v, row, col) => {
      const at = m.f32x4.splat(m.f32.convert_s.i32(m.i32.add(m.i32.mul(row, m.i32.const(100)), col)));
      const lane = m.v128.const([...new Uint8Array(new Float32Array([0, 1, 2, 3]).buffer)]);
      const shifted = m.f32x4.add(m.f32x4.mul(v, m.f32x4.splat(m.f32.const(0.5))), m.f32x4.div(m.f32x4.add(at, lane), m.f32x4.splat(m.f32.const(1000))));
      return m.f32x4.max(shifted, m.v128.const(new Array(16).fill(0)));
    };
    const post: Ref = (v, r, c) => Math.max(0, Math.fround(v * 0.5) + (r * 100 + c) / 1000);
    for (const [M, N, K] of [[6, 7, 3], [11, 21, 40], [5, 8, 17]]) {
      await check({ M, N, K, epilogue, post, bias: seeded(N, 5), tile: small });
    }
  });

  it("a fused kernel's Epilogue through packedEpilogue: residual add + relu, partial vectors lane by lane", async () => {
    const residualEpilogue = (m: binaryen.Module, fn: Fn, c: RowMajor, residualAt: number) => {
      const zero = () => m.v128.const(new Array(16).fill(0));
      const ep: Epilogue = {
        vec: (v, ptr, off) => m.f32x4.max(m.f32x4.add(v, m.v128.load(off - c.addr + residualAt, 4, ptr())), zero()),
        scalar: (v, ptr, off) => m.f32.max(m.f32.add(v, m.f32.load(off - c.addr + residualAt, 4, ptr())), m.f32.const(0)),
      };
      return packedEpilogue(fn, ep, c);
    };
    for (const [M, N, K, ldc] of [[5, 7, 9, 7], [13, 22, 40, 25], [4, 16, 3, 16]]) {
      const residual = seeded(M * ldc, 77);
      const post: Ref = (v, r, col) => Math.max(0, v + residual[r * ldc + col]);
      await check({ M, N, K, ldc, residual, epilogue: residualEpilogue, post, bias: seeded(N, 6), tile: small });
    }
  });

  it("B read in place (runtime B, e.g. NCHW 1x1 conv as W X), edge vectors lane by lane", async () => {
    for (const [M, N, K] of [[1, 1, 1], [3, 5, 7], [13, 22, 40], [64, 49, 33], [7, 16, 300]]) {
      await check({ M, N, K, bInPlace: true, tile: small, bias: seeded(N, 2) });
    }
    await check({ M: 9, N: 10, K: 21, bInPlace: true, ldb: 13, lda: 30, ldc: 11 });
    await check({ M: 37, N: 29, K: 1031, bInPlace: true, packA: true }, 9);
  });

  it("B in place, each KC x NR panel first copied to scratch (zero-padded tail panel, KC blocks, MC blocks)", async () => {
    for (const [M, N, K] of [[1, 1, 1], [3, 5, 7], [13, 22, 40], [64, 49, 33], [7, 16, 300], [21, 19, 33], [65, 23, 129]]) {
      await check({ M, N, K, bInPlace: true, packBPanel: true, tile: small, bias: seeded(N, 3) });
    }
    await check({ M: 9, N: 10, K: 21, bInPlace: true, packBPanel: true, ldb: 13, lda: 30, ldc: 11 });
    await check({ M: 37, N: 29, K: 1031, bInPlace: true, packBPanel: true, packA: true, alpha: -2 }, 10);
    await check({ M: 19, N: 27, K: 41, bInPlace: true, packBPanel: true, tile: { kc: 16, mc: 8, mr: 4, nr: 8 } });
    await check({ M: 13, N: 22, K: 40, bInPlace: true, packBPanel: true, tile: small, optimize: true });
  });

  it("A read down its columns and C stored transposed (positions x channels of an NCHW image)", async () => {
    for (const [M, N, K] of [[1, 1, 1], [3, 5, 7], [49, 32, 40], [13, 22, 129], [64, 49, 33]]) {
      await check({ M, N, K, aColumns: true, cColumns: true, tile: small, bias: seeded(N, 12), alpha: 1.5 });
      await check({ M, N, K, aColumns: true, cColumns: true, packA: true, tile: small, transB: true });
    }
    await check({ M: 9, N: 10, K: 21, aColumns: true, cColumns: true, lda: 13, ldc: 11 });
    await check({ M: 37, N: 29, K: 1031, aColumns: true, packA: true }, 11);
    await check({ M: 37, N: 29, K: 300, cColumns: true, tile: small });
    await check({ M: 13, N: 22, K: 40, aColumns: true, cColumns: true, packA: true, tile: small, optimize: true });
  });

  it("a transposed C's lane epilogue sees each value's address: residual add + relu", async () => {
    const laneEpilogue = (m: binaryen.Module, residualAt: number, cAt: number) =>
      (v: number, ptr: () => number, off: number) => m.f32.max(m.f32.add(v, m.f32.load(off - cAt + residualAt, 4, ptr())), m.f32.const(0));
    for (const [M, N, K, ldc] of [[5, 7, 9, 5], [49, 22, 40, 53], [4, 16, 3, 4]]) {
      const residual = seeded(N * ldc, 78);
      const post: Ref = (v, r, col) => Math.max(0, v + residual[col * ldc + r]);
      await check({ M, N, K, ldc, aColumns: true, cColumns: true, residual, laneEpilogue, post, bias: seeded(N, 6), tile: small });
    }
  });

  it("A pre-packed at compile time (packA): every K block and MC block found by formula, row tails in place", async () => {
    for (const [M, N, K] of [[1, 3, 5], [2, 5, 7], [13, 11, 17], [21, 19, 33], [65, 23, 129], [10, 16, 16], [64, 49, 40]]) {
      await check({ M, N, K, tile: small, prepackA: true, bias: seeded(N, 4) });
      await check({ M, N, K, tile: { kc: 16, mc: 8, mr: 4, nr: 12 }, prepackA: true, bInPlace: true, packBPanel: true });
    }
    await check({ M: 37, N: 29, K: 1031, prepackA: true }, 12);
    await check({ M: 13, N: 22, K: 40, tile: small, prepackA: true, optimize: true });
  });

  it("strided views of A and C (lda > K, ldc > N): columns past N are left alone", async () => {
    await check({ M: 9, N: 10, K: 7, lda: 12, ldc: 15 });
    await check({ M: 14, N: 5, K: 33, lda: 40, ldc: 6, tile: small });
  });

  it("A packed into scratch per MC x KC block (row tails still read in place)", async () => {
    for (const [M, N, K] of [[13, 11, 17], [21, 19, 33], [65, 23, 129], [10, 16, 16], [4, 9, 3]]) {
      await check({ M, N, K, tile: small, packA: true, bias: seeded(N, 4), alpha: 2 });
      await check({ M, N, K, tile: { kc: 16, mc: 8, mr: 4, nr: 12 }, packA: true, transB: true });
    }
    await check({ M: 37, N: 29, K: 1031, packA: true }, 8);
  });

  it("relaxed_madd builds a valid module that uses it (run only under --experimental-wasm-relaxed-simd)", () => {
    const m = new binaryen.Module();
    m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.RelaxedSIMD);
    m.setMemory(1, 1, "memory");
    const fn = new Fn(m, "run");
    fn.emit(...emitPackedGemm({ fn }, { M: 6, N: 9, K: 5, packedB: 0, a: { addr: 1024, rs: 5 }, c: { addr: 2048, rs: 9 }, relaxed: true }));
    fn.finish();
    expect(m.validate()).toBeTruthy();
    const text = m.emitText();
    m.dispose();
    expect(text).toContain("f32x4.relaxed_madd");
    expect(text).not.toContain("f32x4.mul");
  });

  it("survives Binaryen's optimizer (kiln -O2)", async () => {
    await check({ M: 13, N: 22, K: 40, tile: small, optimize: true, bias: seeded(22, 1), alpha: 0.5, transB: true });
    await check({ M: 13, N: 22, K: 40, tile: small, optimize: true, packA: true });
  });

  it("every tile shape the bench tries", async () => {
    for (const tile of [{ mr: 4, nr: 8 }, { mr: 6, nr: 8 }, { mr: 4, nr: 12 }, { mr: 3, nr: 16 }, { mr: 1, nr: 4, mc: 3 }]) {
      await check({ M: 19, N: 27, K: 41, tile: { kc: 16, mc: 2 * tile.mr, ...tile } });
    }
  });

  it("edge values: zeros, infinities, NaN and M or N of zero", async () => {
    const a = Float32Array.from({ length: 5 * 6 }, (_, i) => [0, -1, 1e30, 2, -3.5, 1][i % 6]);
    a[7] = Infinity;
    a[20] = NaN;
    await check({ M: 5, N: 9, K: 6, a });
    await check({ M: 0, N: 9, K: 6 });
    await check({ M: 4, N: 0, K: 6 });
    await check({ M: 4, N: 9, K: 0, bias: seeded(9, 3) });
  });
});

describe("packed GEMM through kiln's compile path (test-only op kiln.test::PackedGemm)", () => {
  it("prepare packs B and the bias into constants; the kernel reads them at ctx.constantAddrs", async () => {
    for (const [M, K, N, transB, packA] of [[7, 13, 21, 0, 0], [33, 70, 40, 1, 1], [1, 5, 3, 0, 1], [64, 300, 17, 1, 0]]) {
      const { bytes, feeds } = buildCase({
        op: "PackedGemm", domain: TEST_DOMAIN, attrs: { transB: { type: "int", value: transB }, packA: { type: "int", value: packA } },
        inputs: [{ dims: [M, K] }, { dims: transB ? [N, K] : [K, N], constant: true }, { dims: [N], constant: true }],
      });
      const out = (await runKiln(bytes, feeds)).out0;
      const { bytes: ref, feeds: refFeeds } = buildCase({
        op: "Gemm", attrs: { transB: { type: "int", value: transB } },
        inputs: [{ dims: [M, K] }, { dims: transB ? [N, K] : [K, N], constant: true }, { dims: [N], constant: true }],
      });
      const want = (await runKiln(ref, refFeeds)).out0;
      expect(out.dims).toEqual([M, N]);
      const got = out.data as Float32Array, exp = want.data as Float32Array;
      for (let i = 0; i < M * N; i++) expect(Math.abs(got[i] - exp[i]), `[${M},${K},${N}] at ${i}`).toBeLessThan(1e-4 * (1 + Math.abs(exp[i])));
    }
  });
});
