// The benchmark's environment line and markdown table.
import * as fs from "node:fs";
import * as os from "node:os";
import type { BenchResult } from "./harness.js";
import type { KernelsResult } from "./kernels.js";

export interface Machine {
  date: string;
  cpu: string;
  cores: number;
  node: string;
  /** 1-minute load average when the run began: other work on the machine skews timings */
  loadAverage: number;
}

export function machine(): Machine {
  let cpu = os.cpus()[0]?.model ?? "unknown";
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? cpu;
  } catch {
    // not Linux: os.cpus() it is
  }
  return { date: new Date().toISOString(), cpu, cores: os.cpus().length, node: process.version, loadAverage: Math.round(os.loadavg()[0] * 100) / 100 };
}

const f = (x: number | undefined, digits = 1) => (x === undefined ? "—" : x.toFixed(digits));

function relaxedCell(r: BenchResult): string {
  const x = r["kiln-relaxed"];
  if (!x) return "not measured";
  return `${f(x.medianMs)} (${f(x.minMs)}), ${f(x.speedup, 2)}x${x.ok ? "" : ` **WRONG** (max err ${x.maxAbsErr.toExponential(1)})`}`;
}

/** the 2-thread columns: kiln's time, its scaling over 1 thread (same alternation), ort-web's time and the speedup */
function threadsCells(t: BenchResult | undefined): string {
  if (!t) return "— | — | — | —";
  const wrong = t.kiln.ok ? "" : " **WRONG**";
  return `${f(t.kiln.medianMs)} (${f(t.kiln.minMs)})${wrong} | ${f(t.scaling, 2)}x | ${f(t["ort-web"]?.medianMs)} | ${f(t.speedup, 2)}x`;
}

/** "load (first run)", the first run when it was measured */
const loadCell = (t: { loadMs: number; firstRunMs?: number } | undefined) =>
  t === undefined ? "—" : t.firstRunMs === undefined ? f(t.loadMs) : `${f(t.loadMs)} (${f(t.firstRunMs)})`;

/** How the load columns were measured (bench/loads.ts), from the runs the results carry. */
function loadHow(results: BenchResult[]): string {
  const runs = results.find((r) => r.loads)?.loads?.runs;
  if (!runs) return "one load per engine in the benchmark's process";
  return runs === 1 ? "one fresh process per engine" : `the median of ${runs} fresh processes per engine`;
}

export function formatTable(m: Machine, results: BenchResult[], notes: string[] = []): string {
  const head = [
    "| model | kiln median ms (min) | ort-web median ms (min) | speedup vs ort-web | ort-node median ms | kiln JIT load ms (first run) | kiln AOT load ms (first run) | ort-web load ms (first run) | outputs | kiln relaxed SIMD median ms (min), speedup vs ort-web | peak loop GFLOPS in rotation | kiln on the float32 model (quantized and float16 rows): median ms, its ms / this row's; bounded rows: kiln pinned median ms, bounded / pinned, JIT load pinned ms, bounded / pinned | kiln 2 threads median ms (min) | kiln 2 threads / kiln 1 thread | ort-web 2 threads median ms | speedup vs ort-web 2 threads |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---|---:|---:|---:|---:|",
  ];
  const rows = results.map((r) => {
    const web = r["ort-web"];
    const ok = r.kiln.ok ? `ok (max err ${r.kiln.maxAbsErr.toExponential(1)})` : `**WRONG** (max err ${r.kiln.maxAbsErr.toExponential(1)})`;
    const fl = r["kiln-float"];
    const pin = r["kiln-pinned"];
    const other = fl ? `${f(fl.medianMs)}, ${f(fl.speedup, 2)}x`
      : pin ? `pinned ${f(pin.medianMs)}, ${f(pin.ratio, 3)}x${pin.identical ? " (bit-identical)" : ` (outputs within ${pin.maxAbsDiff.toExponential(1)})`}; load ${f(pin.loadMs)}, ${f(pin.loadRatio, 2)}x` : "—";
    return `| ${r.model} | ${f(r.kiln.medianMs)} (${f(r.kiln.minMs)}) | ${f(web?.medianMs)} (${f(web?.minMs)}) | ${f(r.speedup, 2)}x | ${f(r["ort-node"]?.medianMs)} | ${loadCell(r.kiln)} | ${loadCell(r["kiln-aot"])} | ${loadCell(web)} | ${ok} | ${relaxedCell(r)} | ${f(r.peakLoopGflops, 1)} | ${other} | ${threadsCells(r.twoThreads)} |`;
  });
  return [
    `# kiln benchmark`,
    ``,
    `${m.date} · ${m.cpu} (${m.cores} cores) · Node ${m.node} · load average ${m.loadAverage} at start`,
    ``,
    `Single thread (the first columns): kiln runs one thread; onnxruntime-web (wasm SIMD backend) and onnxruntime-node (CPU, a`,
    `reference column) are held to one thread. Same seeded random inputs for all, runs alternate between`,
    `engines after warm-up (3 rounds and at least a second). Load = model bytes -> ready to run, ${loadHow(results)}`,
    `(kiln JIT: parse + compile + instantiate; kiln AOT: the compiled .wasm, baseline build, through the`,
    `runtime alone; onnxruntime: session create), the engine's library imported and warmed up on a tiny`,
    `model first, this model unseen; in parentheses the first run after that load, in the same process.`,
    `kiln places weights layer by layer during its first run (runtime/schedule.ts; placement "eager"`,
    `does it at load instead), so its first run carries what its load leaves out: compare load + first run.`,
    `Outputs compared with ort-web's (rtol 1e-3, atol 1e-4).`,
    `Relaxed SIMD: kiln's relaxed build (f32x4.relaxed_madd in the GEMM, convolution and MatMul loops),`,
    `what load() picks where the engine validates it (Node 20 under --experimental-wasm-relaxed-simd,`,
    `set at run time by the benchmark), timed in the same alternation and checked against ort-web too;`,
    `the other kiln columns are the baseline SIMD128 build, which runs everywhere. The last column is the`,
    `f32x4 peak loop (bench/peak.ts) timed once per round in the same rotation: what the core gave the`,
    `row; kiln's kernels run at that loop's limit, so a row where it reads low ran while a neighbour`,
    `on the host took floating-point throughput, which costs kiln more than a rival further from it.`,
    `2 threads (docs/THREADS.md): \`kiln bench --threads 2 --vs ort-web\` in a child process per row, kiln's`,
    `threaded build at 2 threads, kiln at 1 thread and onnxruntime-web at 2 threads in one alternation,`,
    `each timed run after an untimed run of the same engine (onnxruntime-web's pool spins on after a run,`,
    `holding a core the next engine's threads need);`,
    `"kiln 2 threads / kiln 1 thread" is the 1-thread median over the 2-thread one (the scaling).`,
    ``,
    ...head,
    ...rows,
    ...(notes.length ? ["", ...notes.map((n) => `- ${n}`)] : []),
    ``,
    `Command: \`npm run bench\``,
    ``,
  ].join("\n");
}

export function formatKernels(k: KernelsResult): string {
  return [
    ``,
    `## Kernels`,
    ``,
    `One-node models compiled by kiln, GFLOPS = direct-convolution (or 2·M·N·K) FLOPs / median time,`,
    `beside the peak of an L1-resident f32x4 microkernel measured in the same run (best tile ${k.peakTile}):`,
    `**${k.peakGflops.toFixed(1)} GFLOPS**. Command: \`npm run bench:kernels\`. "% of peak" divides by the same loop timed in`,
    `the kernel's own sample rotation ("peak beside"), so a burst of load from elsewhere lowers both.`,
    k.relaxedPeakGflops === null
      ? `Relaxed SIMD: not measured (this Node does not validate f32x4.relaxed_madd; Node 20 needs --experimental-wasm-relaxed-simd).`
      : `Relaxed SIMD peak (f32x4.relaxed_madd): **${k.relaxedPeakGflops.toFixed(1)} GFLOPS**; the relaxed columns time each kernel's relaxed build, its samples interleaved with the baseline build's.`,
    `Integer and 4-bit kernels also time their float counterpart in their own rotation: "vs float" is their multiply-adds per second over its.`,
    ``,
    `| kernel | GFLOPS | peak beside | % of peak | median ms | output | vs float | relaxed GFLOPS | relaxed % of relaxed peak | relaxed median ms | relaxed output |`,
    `|---|---:|---:|---:|---:|---|---|---:|---:|---:|---|`,
    ...k.kernels.map((r) => {
      const x = r.relaxed;
      const rel = x ? `${x.gflops.toFixed(1)} | ${k.relaxedPeakGflops ? ((100 * x.gflops) / k.relaxedPeakGflops).toFixed(0) + "%" : "—"} | ${x.medianMs.toFixed(3)} | ${x.ok ? "ok" : "**WRONG**"}` : "— | — | — | —";
      const vs = r.vsFloat ? `${r.vsFloat.ratio.toFixed(2)}x ${r.vsFloat.name}` : "—";
      return `| ${r.name} | ${r.gflops.toFixed(1)} | ${r.peakGflops.toFixed(1)} | ${((100 * r.gflops) / r.peakGflops).toFixed(0)}% | ${r.medianMs.toFixed(3)} | ${r.ok ? "ok" : "**WRONG**"} | ${vs} | ${rel} |`;
    }),
    ``,
  ].join("\n");
}
