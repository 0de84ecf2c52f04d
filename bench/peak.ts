// What a wasm SIMD128 loop can do on this core: an L1-resident GEMM microkernel (a register tile
// of f32x4 accumulators; per k step, two-or-more B vectors loaded, each A value splatted, mul+add
// into every accumulator), built with binaryen for a few tile shapes; the best is the peak.
import * as v8 from "node:v8";
import binaryen from "binaryen";
import { madd } from "../codegen/kernels/matmul/gemm-tile.js";
import { relaxedSimdSupported } from "../runtime/simd.js";
import { median } from "./stats.js";

/** rows of A x columns of B held in accumulators (columns a multiple of 4) */
export type Tile = [mr: number, nr: number];

/**
 * 16 xmm registers on x64: the tiles keep accumulators + B vectors + one A splat at or under 16.
 * 2x16 is the packed GEMM's own tile: without it, a run where it beat the others put gemm_512 at
 * 124-127% of a 4x8/5x8 "peak" (a peak must be the best loop we know, kiln's included)
 */
export const PEAK_TILES: Tile[] = [[4, 8], [5, 8], [6, 8], [3, 12], [4, 12], [2, 16]];

/** k steps per pass over the panels: A (mr x K) and B (K x nr) stay well inside a 32 KiB L1 */
const K = 128;

/**
 * kernel(passes): for each pass, for k in 0..K: b_j = B[k][4j..4j+3]; for each row i,
 * a = splat(A[i][k]); acc[i][j] += a * b_j. Stores the accumulators at the end so nothing is dead.
 */
export function buildMicrokernel([mr, nr]: Tile, relaxed = false): Uint8Array {
  const m = new binaryen.Module();
  m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | (relaxed ? binaryen.Features.RelaxedSIMD : 0));
  // before any load or store: binaryen binds them to the memory that exists when they are made
  m.setMemory(1, 1, "memory");
  const nv = nr / 4;
  const aBase = 0;
  const bBase = mr * K * 4;
  const outBase = bBase + K * nr * 4;
  const v128 = binaryen.v128;
  const i32 = binaryen.i32;
  // locals: 0 = passes (param), 1 = pass, 2 = k*4 (A column byte offset), 3 = k*nr*4 (B row), then b vectors, a, accumulators
  const P = 0, PASS = 1, KA = 2, KB = 3, B0 = 4, A = B0 + nv, ACC0 = A + 1;
  const vars = [i32, i32, i32, i32, ...Array(nv + 1 + mr * nv).fill(v128)];
  const acc = (i: number, j: number) => ACC0 + i * nv + j;
  const body: number[] = [];
  for (let j = 0; j < nv; j++) body.push(m.local.set(B0 + j, m.v128.load(bBase + 16 * j, 16, m.local.get(KB, i32))));
  for (let i = 0; i < mr; i++) {
    body.push(m.local.set(A, m.v128.load32_splat(aBase + i * K * 4, 4, m.local.get(KA, i32))));
    for (let j = 0; j < nv; j++) {
      body.push(m.local.set(acc(i, j), madd(m, m.local.get(A, v128), m.local.get(B0 + j, v128), m.local.get(acc(i, j), v128), relaxed)));
    }
  }
  body.push(
    m.local.set(KA, m.i32.add(m.local.get(KA, i32), m.i32.const(4))),
    m.local.set(KB, m.i32.add(m.local.get(KB, i32), m.i32.const(nr * 4))),
    m.br_if("k", m.i32.lt_u(m.local.get(KA, i32), m.i32.const(K * 4))),
  );
  const pass = m.block(null, [
    m.local.set(KA, m.i32.const(0)),
    m.local.set(KB, m.i32.const(0)),
    m.loop("k", m.block(null, body)),
    m.local.set(PASS, m.i32.add(m.local.get(PASS, i32), m.i32.const(1))),
    m.br_if("pass", m.i32.lt_u(m.local.get(PASS, i32), m.local.get(P, i32))),
  ]);
  const stores: number[] = [];
  for (let i = 0; i < mr; i++) for (let j = 0; j < nv; j++) stores.push(m.v128.store(outBase + 16 * (i * nv + j), 16, m.i32.const(0), m.local.get(acc(i, j), v128)));
  m.addFunction("kernel", binaryen.createType([i32]), binaryen.none, vars.slice(1), m.block(null, [m.loop("pass", pass), ...stores]));
  m.addFunctionExport("kernel", "kernel");
  if (!m.validate()) throw new Error("peak microkernel did not validate");
  const wasm = m.emitBinary();
  m.dispose();
  return wasm;
}

export interface PeakResult {
  tile: string;
  gflops: number;
}

/** GFLOPS of one tile: median over samples of `passes` passes each, after warm-up. */
/**
 * Whether this engine runs f32x4.relaxed_madd. Node 20 ships it behind a V8 flag, which is set here
 * (V8 reads wasm feature flags per compile; an engine that does not know the flag ignores it).
 */
export function relaxedSimdAvailable(): boolean {
  v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  relaxedSimdSupported(true); // the runtime's cached answer may predate the flag
  return WebAssembly.validate(buildMicrokernel([1, 4], true) as Uint8Array<ArrayBuffer>);
}

export async function measureTile(tile: Tile, samples = 15, relaxed = false): Promise<PeakResult> {
  const { instance } = await WebAssembly.instantiate(buildMicrokernel(tile, relaxed) as Uint8Array<ArrayBuffer>);
  const kernel = instance.exports.kernel as (passes: number) => void;
  const mem = new Float32Array((instance.exports.memory as WebAssembly.Memory).buffer);
  for (let i = 0; i < (tile[0] + tile[1]) * K; i++) mem[i] = 1 / (1 + (i % 7)); // no denormals, no zeros
  const flopsPerPass = 2 * tile[0] * tile[1] * K;
  // calibrate a sample to ~10 ms once V8 has tiered the function up
  let passes = 1000;
  for (let w = 0; w < 4; w++) kernel(passes);
  const t0 = performance.now();
  kernel(passes);
  passes = Math.max(1000, Math.round((passes * 10) / Math.max(0.01, performance.now() - t0)));
  const times: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t = performance.now();
    kernel(passes);
    times.push(performance.now() - t);
  }
  return { tile: `${tile[0]}x${tile[1]}`, gflops: (flopsPerPass * passes) / (median(times) * 1e6) };
}

/**
 * The peak loop of one tile as a runner to interleave with other work: `run` does `passes` passes
 * (about 1 ms), `flops` per call. Kernels time it in the same rotation as themselves, so a burst of
 * load from elsewhere lowers both and their ratio holds.
 */
export async function peakRunner(tile: Tile, relaxed = false): Promise<{ run: () => void; flops: number }> {
  const { instance } = await WebAssembly.instantiate(buildMicrokernel(tile, relaxed) as Uint8Array<ArrayBuffer>);
  const kernel = instance.exports.kernel as (passes: number) => void;
  const mem = new Float32Array((instance.exports.memory as WebAssembly.Memory).buffer);
  for (let i = 0; i < (tile[0] + tile[1]) * K; i++) mem[i] = 1 / (1 + (i % 7));
  const passes = 400;
  return { run: () => kernel(passes), flops: 2 * tile[0] * tile[1] * K * passes };
}

export async function measurePeak(tiles = PEAK_TILES, relaxed = false): Promise<{ peakGflops: number; tiles: PeakResult[] }> {
  const results: PeakResult[] = [];
  for (const t of tiles) results.push(await measureTile(t, 15, relaxed));
  return { peakGflops: Math.max(...results.map((r) => r.gflops)), tiles: results };
}
