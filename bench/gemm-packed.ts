// `node dist/bench/gemm-packed.js [--tiles 2x16,4x8,...] [--sizes 256,512,1024] [--relaxed] [--pack-a]
// [--kc N --mc N --unroll N] [--json]`: GFLOPS of the packed GEMM (codegen/kernels/matmul/gemm-packed.ts)
// on square products beside the peak of the L1-resident microkernel loop (bench/peak.ts's kernel,
// its tiles plus 2x16), sampled round-robin in the same run; medians after warm-up. --relaxed needs `node --experimental-wasm-relaxed-simd` (Node 20). Also exports the
// standalone module builder the unit tests use.
import binaryen from "binaryen";
import { Fn } from "../codegen/fn.js";
import { emitPackedGemm, packedAScratchBytes, packedBScratchBytes, DEFAULT_TILE, type PackedEpilogue, type PackedTile, type RowMajor } from "../codegen/kernels/matmul/gemm-packed.js";
import { packA, packB } from "../codegen/kernels/matmul/gemm-pack.js";
import { runIfMain } from "../models/cli.js";
import { buildMicrokernel, PEAK_TILES, type Tile } from "./peak.js";
import { median, round } from "./stats.js";

export interface StandaloneGemm {
  M: number;
  N: number;
  K: number;
  /** row-major K x N (K x ldb when bInPlace), or N x K when transB */
  b: Float32Array;
  /** B read in place (spec.b) instead of packed */
  bInPlace?: boolean;
  ldb?: number;
  transB?: boolean;
  bias?: Float32Array;
  alpha?: number;
  /** A and C row strides (default K and N): views into larger matrices */
  lda?: number;
  ldc?: number;
  tile?: Partial<PackedTile>;
  relaxed?: boolean;
  /** run Binaryen's optimizer (-O2) over the module, as kiln's -O2 does */
  optimize?: boolean;
  /** pack A blocks into scratch first */
  packA?: boolean;
  /** A stored transposed: K rows of lda (>= M) floats, read down its columns (RowMajor.cs) */
  aColumns?: boolean;
  /** C stored transposed: N rows of ldc (>= M) floats, written lane by lane */
  cColumns?: boolean;
  /** with cColumns: the per-value epilogue (PackedGemmSpec.laneEpilogue), given the residual's address */
  laneEpilogue?: (m: binaryen.Module, residualAt: number, cAt: number) => (v: binaryen.ExpressionRef, ptr: () => binaryen.ExpressionRef, offset: number) => binaryen.ExpressionRef;
  /** A's values (row-major, lda = K) pre-packed with packA and read from there (PackedGemmSpec.packedA) */
  packedAFrom?: Float32Array;
  /** with bInPlace: copy each KC x NR panel of B into scratch first (PackedGemmSpec.bScratch) */
  packBPanel?: boolean;
  /** a second M x ldc matrix placed in memory (a residual for the epilogue to read) */
  residual?: Float32Array;
  /** builds the epilogue with the module in hand; residualAt is the byte address of `residual` */
  epilogue?: (m: binaryen.Module, fn: Fn, c: RowMajor, residualAt: number) => PackedEpilogue;
}

export interface GemmInstance {
  run(): void;
  /** A (M x lda floats, or K x lda with aColumns) in memory */
  a: Float32Array;
  /** C (M x ldc floats, or N x ldc with cColumns) in memory, plus 16 guard floats after it that must stay untouched */
  c: Float32Array;
  guard: Float32Array;
}

const align = (n: number) => Math.ceil(n / 16) * 16;

/** One module holding [packed B][bias][A][C][guard], with `run` computing C. */
export async function buildStandalone(g: StandaloneGemm): Promise<GemmInstance> {
  const nr = { ...DEFAULT_TILE, ...g.tile }.nr;
  const lda = g.lda ?? (g.aColumns ? g.M : g.K), ldc = g.ldc ?? (g.cColumns ? g.M : g.N);
  const aFloats = g.aColumns ? g.K * lda : g.M * lda, cFloats = g.cColumns ? g.N * ldc : g.M * ldc;
  if (g.bInPlace && g.transB) throw new Error("B in place is K x N");
  const packed = g.bInPlace ? new Uint8Array(g.b.buffer, g.b.byteOffset, g.b.byteLength) : packB(g.b, g.K, g.N, !!g.transB, nr);
  const biasAt = align(packed.length);
  const aAt = biasAt + align(4 * (g.bias?.length ?? 0));
  const cAt = aAt + align(4 * aFloats);
  const guardAt = cAt + 4 * cFloats;
  const residualAt = align(guardAt + 64);
  const scratchAt = residualAt + align(4 * (g.residual?.length ?? 0));
  const panelAt = align(scratchAt + (g.packA ? packedAScratchBytes(g.M, g.N, g.K, g.tile) : 0));
  const prepacked = g.packedAFrom && packA(g.packedAFrom, g.M, g.K, g.tile);
  const preAt = align(panelAt + (g.packBPanel ? packedBScratchBytes(g.K, g.tile) : 0));
  const bytes = preAt + (prepacked?.length ?? 0);
  const m = new binaryen.Module();
  m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | (g.relaxed ? binaryen.Features.RelaxedSIMD : 0));
  const pages = Math.ceil(bytes / 65536) + 1;
  m.setMemory(pages, pages, "memory");
  const fn = new Fn(m, "run");
  const c: RowMajor = g.cColumns ? { addr: cAt, rs: 1, cs: ldc } : { addr: cAt, rs: ldc };
  const a: RowMajor = g.aColumns ? { addr: aAt, rs: 1, cs: lda } : { addr: aAt, rs: lda };
  fn.emit(...emitPackedGemm({ fn }, {
    M: g.M, N: g.N, K: g.K, ...(g.bInPlace ? { b: { addr: 0, rs: g.ldb ?? g.N } } : { packedB: 0 }), a, c,
    laneEpilogue: g.laneEpilogue?.(m, residualAt, cAt),
    alpha: g.alpha, bias: g.bias ? biasAt : undefined, epilogue: g.epilogue?.(m, fn, c, residualAt), tile: g.tile, relaxed: g.relaxed,
    scratch: g.packA ? scratchAt : undefined, bScratch: g.packBPanel ? panelAt : undefined, packedA: prepacked ? preAt : undefined,
  }));
  fn.finish();
  m.addFunctionExport("run", "run");
  if (!m.validate()) throw new Error("packed gemm module did not validate");
  if (g.optimize) {
    binaryen.setOptimizeLevel(2);
    m.optimize();
    if (!m.validate()) throw new Error("packed gemm module did not validate after optimize");
  }
  const wasm = m.emitBinary();
  m.dispose();
  const { instance } = await WebAssembly.instantiate(wasm as Uint8Array<ArrayBuffer>);
  const buf = (instance.exports.memory as WebAssembly.Memory).buffer;
  new Uint8Array(buf, 0, packed.length).set(packed);
  if (g.bias) new Float32Array(buf, biasAt, g.bias.length).set(g.bias);
  if (g.residual) new Float32Array(buf, residualAt, g.residual.length).set(g.residual);
  if (prepacked) new Uint8Array(buf, preAt, prepacked.length).set(prepacked);
  return {
    run: instance.exports.run as () => void,
    a: new Float32Array(buf, aAt, aFloats),
    c: new Float32Array(buf, cAt, cFloats),
    guard: new Float32Array(buf, guardAt, 16),
  };
}

/** something to time: `flops` per call of run */
interface Item {
  name: string;
  flops: number;
  run: () => void;
}

/**
 * GFLOPS (median and best sample) of every item, sampled round-robin after warm-up: load from
 * other processes on this shared machine then hits the peak loop and the GEMMs alike, so their
 * ratio holds even when the absolute numbers move.
 */
export function measureInterleaved(items: Item[], rounds = 21): { name: string; gflops: number; best: number }[] {
  for (const it of items) for (let w = 0; w < 4; w++) it.run();
  const ms = items.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    items.forEach((it, i) => {
      const t = performance.now();
      it.run();
      ms[i].push(performance.now() - t);
    });
  }
  return items.map((it, i) => ({ name: it.name, gflops: it.flops / (median(ms[i]) * 1e6), best: it.flops / (Math.min(...ms[i]) * 1e6) }));
}

/** k steps per pass of bench/peak.ts's microkernel (its K) */
const PEAK_K = 128;
/** flops per timed sample: ~5-10 ms here */
const SAMPLE_FLOPS = 3e8;

async function peakItem(tile: Tile): Promise<Item> {
  const { instance } = await WebAssembly.instantiate(buildMicrokernel(tile) as Uint8Array<ArrayBuffer>);
  const mem = new Float32Array((instance.exports.memory as WebAssembly.Memory).buffer);
  for (let i = 0; i < (tile[0] + tile[1]) * PEAK_K; i++) mem[i] = 1 / (1 + (i % 7));
  const kernel = instance.exports.kernel as (passes: number) => void;
  const passes = Math.round(SAMPLE_FLOPS / (2 * tile[0] * tile[1] * PEAK_K));
  return { name: `peak ${tile.join("x")}`, flops: 2 * tile[0] * tile[1] * PEAK_K * passes, run: () => kernel(passes) };
}

async function gemmItem(n: number, name: string, tile: Partial<PackedTile>, relaxed: boolean, packA: boolean): Promise<Item> {
  const b = Float32Array.from({ length: n * n }, (_, i) => 1 / (1 + (i % 13)));
  const g = await buildStandalone({ M: n, N: n, K: n, b, tile, relaxed, packA });
  g.a.set(Float32Array.from({ length: n * n }, (_, i) => 1 / (1 + (i % 7))));
  const reps = Math.max(1, Math.round(SAMPLE_FLOPS / (2 * n * n * n)));
  return { name: `${name} ${n}`, flops: 2 * n * n * n * reps, run: () => { for (let r = 0; r < reps; r++) g.run(); } };
}

function parseTile(s: string): Partial<PackedTile> {
  const [mr, nr] = s.split("x").map(Number);
  return { mr, nr, mc: Math.floor(DEFAULT_TILE.mc / mr) * mr };
}

async function main(argv: string[]): Promise<number> {
  const opt = (name: string) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
  const tiles = (opt("--tiles") ?? `${DEFAULT_TILE.mr}x${DEFAULT_TILE.nr}`).split(",");
  const sizes = (opt("--sizes") ?? "256,512,1024").split(",").map(Number);
  const relaxed = argv.includes("--relaxed"), packA = argv.includes("--pack-a");
  const extra = { ...(opt("--kc") ? { kc: +opt("--kc")! } : {}), ...(opt("--mc") ? { mc: +opt("--mc")! } : {}), ...(opt("--unroll") ? { unroll: +opt("--unroll")! } : {}) };
  const peaks = await Promise.all([...PEAK_TILES, [2, 16] as Tile].map(peakItem));
  const gemms: Item[] = [];
  for (const t of tiles) for (const n of sizes) gemms.push(await gemmItem(n, t, { ...parseTile(t), ...extra }, relaxed, packA));
  const res = measureInterleaved([...peaks, ...gemms]);
  const peakRes = res.slice(0, peaks.length);
  const peakGflops = Math.max(...peakRes.map((r) => r.gflops));
  const rows = res.slice(peaks.length).map((r) => ({ kernel: r.name, gflops: round(r.gflops, 2), best: round(r.best, 2), ofPeak: round(r.gflops / peakGflops, 3) }));
  if (argv.includes("--json")) {
    console.log(JSON.stringify({ peakGflops: round(peakGflops, 2), peaks: peakRes.map((r) => ({ tile: r.name, gflops: round(r.gflops, 2) })), relaxed, gemm: rows }));
    return 0;
  }
  console.log(`peak (baseline SIMD128 L1 microkernel loop, best tile): ${peakGflops.toFixed(2)} GFLOPS  [${peakRes.map((r) => `${r.name.slice(5)} ${r.gflops.toFixed(1)}`).join(", ")}]`);
  console.log(`kernel       GFLOPS (median)  of peak   best${relaxed ? "   (relaxed_madd GEMM vs baseline peak)" : ""}`);
  for (const r of rows) console.log(`${r.kernel.padEnd(12)} ${r.gflops.toFixed(2).padStart(15)}  ${(100 * r.ofPeak).toFixed(1).padStart(6)}%  ${r.best.toFixed(2)}`);
  return 0;
}

runIfMain(import.meta.url, main);
