// `node dist/bench/qgemm.js [--sizes 256,512] [--tiles 2x16,4x8] [--out i32|u8]`: multiply-adds per
// second of the int8 GEMM (codegen/kernels/quant/qgemm.ts) beside the float packed GEMM of the same
// size, sampled round-robin in one process (the machine is shared: the ratio is the figure).
// Also exports the standalone module builder the unit tests use.
import binaryen from "binaryen";
import { Fn } from "../codegen/fn.js";
import { emitQGemm, packedColsBytes, packedRowsBytes, QTILE, type QTile } from "../codegen/kernels/quant/qgemm.js";
import { packCols, packRows } from "../codegen/kernels/quant/qgemm-pack.js";
import { packColsRuntime, packRowsRuntime } from "../codegen/kernels/quant/qgemm-runtime.js";
import { finiteMultipliers, storeInt32, storeRequant, type Multiplier } from "../codegen/kernels/quant/qgemm-store.js";
import { runIfMain } from "../models/cli.js";
import { buildStandalone, measureInterleaved } from "./gemm-packed.js";
import { round } from "./stats.js";

export interface StandaloneQGemm {
  M: number;
  N: number;
  K: number;
  /** A (M x K) and B (K x N) row-major, as bytes of their dtype */
  a: Int8Array | Uint8Array;
  b: Int8Array | Uint8Array;
  aZp: number;
  bZp: number;
  /** which operand is packed at compile time (the other is packed at run time from memory) */
  constant: "a" | "b";
  tile?: QTile;
  /** rows per runtime block of A */
  mc?: number;
  /** int32 out, or requantized to 8 bits with this multiplier and zero point (per column: a table) */
  requant?: { mult: number | Float32Array; zp: number; signed: boolean; lo?: number; hi?: number; perRow?: boolean; finite?: boolean };
  /** i32 added to every sum of a column (or of a row with perRow) */
  bias?: Int32Array;
  biasPerRow?: boolean;
}

export interface QGemmInstance {
  run(): void;
  /** the runtime operand in memory (A or B) */
  input: Int8Array | Uint8Array;
  out: Int32Array | Int8Array | Uint8Array;
  guard: Uint8Array;
}

const align = (n: number) => Math.ceil(n / 16) * 16;

export async function buildQGemm(g: StandaloneQGemm): Promise<QGemmInstance> {
  const t = g.tile ?? QTILE;
  const mc = g.mc ?? Math.max(1, Math.floor(64 / (g.tile ?? QTILE).mr)) * (g.tile ?? QTILE).mr;
  const aSigned = g.a instanceof Int8Array, bSigned = g.b instanceof Int8Array;
  const packed = g.constant === "b"
    ? packCols((k, n) => Number(g.b[k * g.N + n]) - g.bZp, g.K, g.N, t)
    : packRows((i, k) => Number(g.a[i * g.K + k]) - g.aZp, g.M, g.K, t);
  const input = g.constant === "b" ? g.a : g.b;
  const Np = Math.ceil(g.N / t.nr) * t.nr, Mp = Math.ceil(g.M / t.mr) * t.mr;
  const multTable = g.requant && typeof g.requant.mult !== "number" ? g.requant.mult : undefined;
  const outBytes = g.requant ? 1 : 4;
  const layout = { packed: 0, input: align(packed.length) };
  const inAt = layout.input;
  const biasAt = align(inAt + input.length);
  const biasLen = g.bias ? (g.biasPerRow ? Mp : Np) : 0;
  const multAt = align(biasAt + 4 * biasLen);
  const outAt = align(multAt + 4 * (multTable ? (g.requant!.perRow ? Mp : Np) : 0));
  const guardAt = outAt + g.M * g.N * outBytes;
  const scratchAt = align(guardAt + 64);
  const scratchBytes = g.constant === "b" ? mc * (g.K + 1) * 2 : packedColsBytes(t.nr, g.K, t);
  const bytes = scratchAt + scratchBytes + 64;
  const m = new binaryen.Module();
  m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128);
  const pages = Math.ceil(bytes / 65536) + 1;
  m.setMemory(pages, pages, "memory");
  const fn = new Fn(m, "run");
  const zp = (v: number) => () => m.i32.const(v);
  const mult: Multiplier | undefined = g.requant && (multTable ? { kind: g.requant.perRow ? "row" : "col", addr: multAt } : { kind: "scalar", value: g.requant.mult as number });
  const out = { addr: outAt, rs: g.N };
  fn.emit(emitQGemm(fn, {
    M: g.M, N: g.N, K: g.K, tile: t,
    a: g.constant === "a" ? { kind: "packed", addr: 0 } : { kind: "runtime", scratch: scratchAt, mc, pack: packRowsRuntime(fn, { addr: inAt, rs: g.K, signed: aSigned }, g.K, zp(g.aZp), t) },
    b: g.constant === "b" ? { kind: "packed", addr: 0 } : { kind: "runtime", scratch: scratchAt, pack: packColsRuntime(fn, { addr: inAt, rs: g.N, signed: bSigned }, g.K, zp(g.bZp), t) },
    init: g.bias && (g.biasPerRow
      ? { perRow: (row) => m.i32.load(biasAt, 4, m.i32.shl(row(), m.i32.const(2))) }
      : { perCol: (col, v) => m.v128.load(biasAt + 16 * v, 4, m.i32.shl(col(), m.i32.const(2))) }),
    // the short rounding wherever the multipliers allow it, as the kernels choose (a test may turn it off)
    store: g.requant ? storeRequant(fn, out, { mult: mult!, zp: g.requant.zp, signed: g.requant.signed, lo: g.requant.lo, hi: g.requant.hi,
      finite: g.requant.finite ?? finiteMultipliers(typeof g.requant.mult === "number" ? [g.requant.mult] : g.requant.mult) }) : storeInt32(fn, out),
  }));
  fn.finish();
  m.addFunctionExport("run", "run");
  if (!m.validate()) throw new Error("qgemm module did not validate");
  const wasm = m.emitBinary();
  m.dispose();
  const { instance } = await WebAssembly.instantiate(wasm as Uint8Array<ArrayBuffer>);
  const buf = (instance.exports.memory as WebAssembly.Memory).buffer;
  new Uint8Array(buf, 0, packed.length).set(packed);
  const inView = input instanceof Int8Array ? new Int8Array(buf, inAt, input.length) : new Uint8Array(buf, inAt, input.length);
  inView.set(input as never);
  if (g.bias) new Int32Array(buf, biasAt, g.bias.length).set(g.bias);
  if (multTable) new Float32Array(buf, multAt, multTable.length).set(multTable);
  const outView = !g.requant ? new Int32Array(buf, outAt, g.M * g.N) : g.requant.signed ? new Int8Array(buf, outAt, g.M * g.N) : new Uint8Array(buf, outAt, g.M * g.N);
  return { run: instance.exports.run as () => void, input: inView, out: outView, guard: new Uint8Array(buf, guardAt, 64) };
}

/** The exact i32 product, for checking. */
export function referenceQGemm(g: Pick<StandaloneQGemm, "M" | "N" | "K" | "a" | "b" | "aZp" | "bZp">): Int32Array {
  const out = new Int32Array(g.M * g.N);
  for (let i = 0; i < g.M; i++) {
    for (let j = 0; j < g.N; j++) {
      let s = 0;
      for (let k = 0; k < g.K; k++) s += (Number(g.a[i * g.K + k]) - g.aZp) * (Number(g.b[k * g.N + j]) - g.bZp);
      out[i * g.N + j] = s;
    }
  }
  return out;
}

function randomBytes(n: number, signed: boolean, seed: number): Int8Array | Uint8Array {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24);
  return signed ? Int8Array.from({ length: n }, () => next() - 128) : Uint8Array.from({ length: n }, next);
}

async function main(argv: string[]): Promise<number> {
  const opt = (name: string) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
  const sizes = (opt("--sizes") ?? "256,512").split(",").map(Number);
  // MRxNR or MRxNRuU (k-pair steps unrolled U times)
  const tiles = (opt("--tiles") ?? `${QTILE.mr}x${QTILE.nr}`).split(",").map((s) => { const [mr, rest] = s.split("x"); const [nr, u] = rest.split("u").map(Number); return { mr: Number(mr), nr, unroll: u || 1 }; });
  const constant = (opt("--constant") ?? "b") as "a" | "b";
  const rounds = Number(opt("--rounds") ?? 21);
  const items = [];
  for (const n of sizes) {
    const b = Float32Array.from({ length: n * n }, (_, i) => 1 / (1 + (i % 13)));
    const f = await buildStandalone({ M: n, N: n, K: n, b });
    f.a.set(Float32Array.from({ length: n * n }, (_, i) => 1 / (1 + (i % 7))));
    const reps = Math.max(1, Math.round(1e8 / (n * n * n)));
    items.push({ name: `float ${n}`, flops: 2 * n * n * n * reps, run: () => { for (let r = 0; r < reps; r++) f.run(); } });
    for (const tile of tiles) {
      const spec: StandaloneQGemm = { M: n, N: n, K: n, a: randomBytes(n * n, false, 1), b: randomBytes(n * n, true, 2), aZp: 131, bZp: 0, constant, tile };
      const q = await buildQGemm(spec);
      q.run();
      const want = referenceQGemm(spec);
      const bad = want.findIndex((x, i) => x !== q.out[i]);
      if (bad >= 0) { console.error(`int8 ${n} ${tile.mr}x${tile.nr}u${tile.unroll}: WRONG at ${bad}: ${q.out[bad]} vs ${want[bad]}`); return 1; }
      items.push({ name: `int8 ${tile.mr}x${tile.nr}u${tile.unroll} ${n}`, flops: 2 * n * n * n * reps, run: () => { for (let r = 0; r < reps; r++) q.run(); } });
    }
  }
  const res = measureInterleaved(items, rounds);
  for (const r of res) {
    const base = res.find((x) => x.name === `float ${r.name.split(" ").pop()}`)!;
    console.log(`${r.name.padEnd(18)} ${(r.gflops / 2).toFixed(2).padStart(7)} G multiply-adds/s (best ${(r.best / 2).toFixed(2)})  ${round(r.gflops / base.gflops, 2)}x float`);
  }
  return 0;
}

runIfMain(import.meta.url, main);
