// `npm run bench:kernels [-- --json] [--only name] [--simd baseline]`: GFLOPS of kiln's compiled GEMM and Conv kernels
// (one-node models) beside the peak an L1-resident f32x4 microkernel reaches on this core, measured
// in the same run. Each kernel's output is checked against onnxruntime-node first: a fast wrong
// kernel is reported, not celebrated. Where the engine runs relaxed SIMD (Node 20: the V8 flag is
// set at run time), each kernel's relaxed build (f32x4.relaxed_madd) is timed too, its samples
// interleaved with the baseline build's.
import { compile } from "../compiler/driver/api.js";
import { createSession, readManifest } from "../runtime/session.js";
import { MEMORY_IMPORT } from "../runtime/manifest.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import { sizeOf } from "../runtime/dtypes.js";
import { runReference } from "../models/reference.js";
import { runIfMain } from "../models/cli.js";
import { KERNEL_CASES, type KernelCase } from "./kernel-models.js";
import { measurePeak, peakRunner, PEAK_TILES, relaxedSimdAvailable, type Tile } from "./peak.js";
import { BENCH_TOLERANCE } from "./harness.js";
import { rng } from "../compiler/driver/cli/inputs.js";
import { median, round } from "./stats.js";

export interface KernelResult {
  name: string;
  gflops: number;
  /** the peak loop (the run's best tile) timed in the same rotation as this kernel's samples */
  peakGflops: number;
  medianMs: number;
  ok: boolean;
  maxAbsErr: number;
  /**
   * for a case with a float counterpart (KernelCase.against): that float kernel's baseline build,
   * its samples in this kernel's rotation; ratio = this kernel's multiply-adds per second / its
   */
  vsFloat?: { name: string; gflops: number; ratio: number };
  /** the same kernel's relaxed-SIMD build, when measured */
  relaxed?: Omit<KernelResult, "name" | "relaxed" | "peakGflops">;
}

/** Calls the module's run export directly (inputs already in memory): the kernel, no copies. */
async function rawRunner(wasm: Uint8Array, x: Float32Array | Uint8Array): Promise<() => void> {
  const mod = await WebAssembly.compile(wasm as Uint8Array<ArrayBuffer>);
  const manifest = readManifest(mod);
  const slot = manifest.inputs[0];
  // a one-thread module imports its memory (format 6)
  const pages = manifest.memory.bytes / 65536;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const instance = await WebAssembly.instantiate(mod, { [MEMORY_IMPORT.module]: { [MEMORY_IMPORT.name]: memory } });
  new Uint8Array(memory.buffer, slot.offset, x.byteLength).set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
  return instance.exports.run as () => void;
}

/**
 * median ms of each run, after warm-up, over samples lasting about `sampleMs` each, the runs' samples
 * interleaved; 21 samples, since on this shared VM a burst of host load can cover several 30 ms
 * samples (with 9, gemm_512 read 63-66% of the peak in four of seven runs, 95-100% alone)
 */
function timeRuns(runs: (() => void)[], sampleMs = 30, samples = 21): number[] {
  const reps = runs.map((run) => {
    for (let w = 0; w < 3; w++) run();
    const t0 = performance.now();
    run();
    return Math.max(1, Math.round(sampleMs / Math.max(0.001, performance.now() - t0)));
  });
  const times = runs.map(() => [] as number[]);
  for (let s = 0; s < samples; s++) {
    runs.forEach((run, k) => {
      const t = performance.now();
      for (let r = 0; r < reps[k]; r++) run();
      times[k].push((performance.now() - t) / reps[k]);
    });
  }
  return times.map(median);
}

/** Random input of the case's type, its feed, and what onnxruntime-node answers. */
async function caseInput(c: KernelCase) {
  const r = rng(11);
  const x = c.inputDtype === "uint8" ? Uint8Array.from({ length: sizeOf(c.input) }, () => Math.floor(r() * 256)) : Float32Array.from({ length: sizeOf(c.input) }, () => r() * 2 - 1);
  const feed = { dtype: c.inputDtype ?? ("float32" as const), dims: c.input, data: x };
  return { x, feed, want: await runReference(c.model(), { X: feed }) };
}

export async function benchKernel(c: KernelCase, relaxed = false, peakTile: Tile = [4, 8]): Promise<KernelResult> {
  const bytes = c.model();
  const { x, feed, want } = await caseInput(c);
  const builds: { cmp: ReturnType<typeof compareTensors>; run: () => void }[] = [];
  for (const simd of relaxed ? (["baseline", "relaxed"] as const) : (["baseline"] as const)) {
    const { wasm } = await compile(bytes, { simd });
    const got = await (await createSession(wasm)).run({ X: feed });
    builds.push({ cmp: compareTensors(got.Y, want.Y, BENCH_TOLERANCE), run: await rawRunner(wasm, x) });
  }
  const float = c.against?.();
  const floatRun = float ? [await rawRunner((await compile(float.model(), { simd: "baseline" })).wasm, (await caseInput(float)).x)] : [];
  const peak = await peakRunner(peakTile);
  const [peakMs, ...ms] = timeRuns([peak.run, ...builds.map((b) => b.run), ...floatRun]);
  const floatMs = float ? ms.pop()! : 0;
  const [base, rel] = ms.map((t, k) => ({
    gflops: round(c.flops / (t * 1e6), 2), medianMs: round(t), ok: builds[k].cmp.ok, maxAbsErr: builds[k].cmp.maxAbsErr,
  }));
  const vsFloat = float ? { name: float.name, gflops: round(float.flops / (floatMs * 1e6), 2), ratio: round((c.flops / ms[0]) / (float.flops / floatMs), 2) } : undefined;
  return { name: c.name, ...base, peakGflops: round(peak.flops / (peakMs * 1e6), 2), ...(vsFloat ? { vsFloat } : {}), ...(rel ? { relaxed: rel } : {}) };
}

export interface KernelsResult {
  peakGflops: number;
  peakTile: string;
  /** the same loop with f32x4.relaxed_madd; null when the engine does not validate relaxed SIMD */
  relaxedPeakGflops: number | null;
  kernels: KernelResult[];
}

export async function benchKernels(only?: string[], relaxed = relaxedSimdAvailable()): Promise<KernelsResult> {
  const cases = KERNEL_CASES.filter((c) => !only || only.some((o) => c.name.includes(o)));
  // the peak before and after the kernels, the better one kept: on a shared machine a neighbour's
  // burst during one measurement would otherwise set the bar low and flatter the kernels
  const before = await measurePeak();
  const relaxedBefore = relaxed ? await measurePeak(PEAK_TILES, true) : undefined;
  const kernels: KernelResult[] = [];
  const tileOf = (name: string) => name.split("x").map(Number) as Tile;
  const bestBefore = before.tiles.reduce((a, b) => (b.gflops > a.gflops ? b : a));
  for (const c of cases) kernels.push(await benchKernel(c, relaxed, tileOf(bestBefore.tile)));
  const after = await measurePeak();
  const best = [...before.tiles, ...after.tiles].reduce((a, b) => (b.gflops > a.gflops ? b : a));
  // the relaxed peak too, before and after, the better kept
  const relaxedPeak = relaxedBefore ? round(Math.max(relaxedBefore.peakGflops, (await measurePeak(PEAK_TILES, true)).peakGflops), 2) : null;
  return { peakGflops: round(best.gflops, 2), peakTile: best.tile, relaxedPeakGflops: relaxedPeak, kernels };
}

async function main(argv: string[]): Promise<number> {
  const at = argv.indexOf("--only");
  const simd = argv.indexOf("--simd");
  const result = await benchKernels(at >= 0 ? argv[at + 1].split(",") : undefined, simd >= 0 && argv[simd + 1] === "baseline" ? false : relaxedSimdAvailable());
  if (argv.includes("--json")) console.log(JSON.stringify(result));
  else {
    console.log(`peak ${result.peakGflops} GFLOPS (f32x4 microkernel, tile ${result.peakTile}, baseline SIMD128)`);
    console.log(result.relaxedPeakGflops === null ? "relaxed SIMD: not available in this engine (node --experimental-wasm-relaxed-simd)" : `relaxed SIMD peak ${result.relaxedPeakGflops} GFLOPS (f32x4.relaxed_madd)`);
    for (const k of result.kernels) {
      const pct = ((100 * k.gflops) / k.peakGflops).toFixed(0);
      const rx = k.relaxed ? `  relaxed ${k.relaxed.gflops.toFixed(2).padStart(7)} GFLOPS ${k.relaxed.medianMs.toFixed(3)} ms${k.relaxed.ok ? "" : " WRONG"}` : "";
      const vs = k.vsFloat ? `  ${k.vsFloat.ratio}x the multiply-adds/s of ${k.vsFloat.name} in its rotation (${k.vsFloat.gflops.toFixed(2)} GFLOPS)` : "";
      console.log(`${k.name.padEnd(22)} ${k.gflops.toFixed(2).padStart(7)} GFLOPS  ${pct.padStart(3)}% of peak (${k.peakGflops.toFixed(1)} beside it)  ${k.medianMs.toFixed(3)} ms${k.ok ? "" : `  WRONG (max abs err ${k.maxAbsErr})`}${vs}${rx}`);
    }
  }
  return result.kernels.every((k) => k.ok && k.relaxed?.ok !== false) ? 0 : 1;
}

runIfMain(import.meta.url, main);
