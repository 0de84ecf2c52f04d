// The benchmark harness itself on a tiny model: the JSON it reports, that an output mismatch is
// caught and fails the command, and the timing bookkeeping. Never asserts times or speedups.
import { describe, expect, it, vi } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { parseArgs, parseTolerance } from "../compiler/driver/cli/args.js";
import { BENCH_FLAGS, cmdBench } from "../bench/cli.js";
import { alternate, BENCH_TOLERANCE, benchModel, compareOutputs, contendedNotes, unsteadyNotes, type BenchResult } from "../bench/harness.js";
import { median } from "../bench/stats.js";
import { measureLoads } from "../bench/loads.js";
import { buildMicrokernel, relaxedSimdAvailable } from "../bench/peak.js";
import { runOrt, tensor } from "./util/ort.js";

/** y = act(x·W + b), x float32[3,5]: small, odd shapes, real arithmetic. */
function tinyModel(act: "Relu" | "Sigmoid"): Uint8Array {
  const w = Array.from({ length: 35 }, (_, i) => ((i * 37) % 11) / 10 - 0.5);
  return exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[3,5]
const %w : float32[5,7] = dense<[${w.join(", ")}]>
const %b : float32[7] = dense<[0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7]>
%m : float32[3,7] = MatMul(%x, %w) {name="mm"}
%a : float32[3,7] = Add(%m, %b) {name="bias"}
%y : float32[3,7] = ${act}(%a) {name="act"}
output %y`));
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-bench-"));
const modelFile = path.join(tmp, "tiny.onnx");
fs.writeFileSync(modelFile, tinyModel("Relu"));

async function captureBench(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((s: unknown) => void lines.push(String(s)));
  try {
    const code = await cmdBench(parseArgs(argv, BENCH_FLAGS, "bench"));
    return { code, out: lines.join("\n") };
  } finally {
    spy.mockRestore();
  }
}

describe("kiln bench", () => {
  it("reports the JSON the issue specifies, rivals as asked, and exits 0 when outputs agree", async () => {
    const { code, out } = await captureBench([modelFile, "--vs", "ort-web,ort-node", "--threads", "1", "--runs", "5", "--json"]);
    expect(code).toBe(0);
    const r = JSON.parse(out);
    expect(Object.keys(r)).toEqual(["model", "threads", "kiln", "kiln-aot", "ort-web", "ort-node", "speedup", "loads", "peakLoopGflops"]);
    expect(r.model).toBe("tiny");
    expect(r.threads).toBe(1);
    expect(r.kiln.ok).toBe(true);
    expect(r.kiln.against).toBe("ort-web");
    for (const t of [r.kiln, r["ort-web"], r["ort-node"]]) {
      for (const k of ["loadMs", "medianMs", "minMs"]) expect(Number.isFinite(t[k]) && t[k] >= 0, k).toBe(true);
      expect(t.minMs).toBeLessThanOrEqual(t.medianMs);
    }
    expect(r["kiln-aot"].loadMs).toBeGreaterThanOrEqual(0);
    expect(r.speedup).toBeCloseTo(r["ort-web"].medianMs / r.kiln.medianMs, 1);
    // loads from fresh processes, three per engine by default: loadMs is their median
    expect(r.loads.runs).toBe(3);
    for (const e of ["kiln", "kiln-aot", "ort-web", "ort-node"]) {
      const samples: number[] = r.loads[e];
      expect(samples.length, e).toBe(3);
      for (const ms of samples) expect(Number.isFinite(ms) && ms >= 0, e).toBe(true);
      expect(r[e].loadMs, e).toBe(median(samples));
      // and the first run after each of those loads
      const firsts: number[] = r.loads.firstRun[e];
      expect(firsts.length, e).toBe(3);
      for (const ms of firsts) expect(Number.isFinite(ms) && ms >= 0, e).toBe(true);
      expect(r[e].firstRunMs, e).toBe(median(firsts));
    }
  });

  it("a load that fails in its probe process fails the measurement, with the child's message", async () => {
    const feeds = [{ name: "x", dtype: "float32" as const, dims: [3, 5], kind: "random", seed: 1 }];
    const broken = { model: tinyModel("Relu"), aot: Uint8Array.of(1, 2, 3, 4), feeds, engines: ["kiln-aot" as const], threads: 1, runs: 1 };
    await expect(measureLoads(broken)).rejects.toThrow(/load probe kiln-aot failed: .*not a WebAssembly module/);
  });

  it("reports only the rivals asked for", async () => {
    const r = JSON.parse((await captureBench([modelFile, "--vs", "ort-node", "--runs", "3", "--load-runs", "0", "--json"])).out);
    expect(r["ort-node"]).toBeDefined();
    expect(r["ort-web"]).toBeUndefined();
    expect(r.kiln.against).toBe("ort-node");
  });

  it("--simd relaxed adds kiln's relaxed build, timed and checked beside the baseline", async () => {
    const { code, out } = await captureBench([modelFile, "--vs", "ort-web,ort-node", "--runs", "5", "--simd", "relaxed", "--load-runs", "0", "--json"]);
    expect(code).toBe(0);
    const r = JSON.parse(out);
    const x = r["kiln-relaxed"];
    expect(x.ok).toBe(true);
    expect(x.against).toBe("ort-web");
    for (const k of ["loadMs", "medianMs", "minMs"]) expect(Number.isFinite(x[k]) && x[k] >= 0, k).toBe(true);
    expect(x.speedup).toBeCloseTo(r["ort-web"].medianMs / x.medianMs, 1);
    // the rivals' timings stay theirs with the extra kiln runner in the alternation
    expect(r.speedup).toBeCloseTo(r["ort-web"].medianMs / r.kiln.medianMs, 1);
    expect(r["ort-node"].medianMs).toBeGreaterThan(0);
    await expect(cmdBench(parseArgs([modelFile, "--simd", "fast"], BENCH_FLAGS, "bench"))).rejects.toThrow(/--simd/);
  });

  it("a wrong relaxed build is reported wrong and fails the command", async () => {
    expect(relaxedSimdAvailable(), "sets Node 20's V8 flag").toBe(true);
    const feeds = { x: tensor({ dims: [3, 5] }, 1) };
    const wrong = await runOrt(tinyModel("Sigmoid"), feeds);
    const r = await benchModel("tiny", tinyModel("Relu"), { vs: ["ort-web"], threads: 1, runs: 3, warmup: 3, inputs: "random", reference: wrong, relaxed: true, loadRuns: 0 });
    expect(r["kiln-relaxed"]!.ok).toBe(false);
    expect(r["kiln-relaxed"]!.message).toMatch(/output y/);
  });

  it("--load-runs 0 times one load per engine in process, and reports no load samples", async () => {
    const r = JSON.parse((await captureBench([modelFile, "--vs", "ort-web", "--runs", "3", "--load-runs", "0", "--json"])).out);
    expect(r.loads).toBeUndefined();
    for (const t of [r.kiln, r["kiln-aot"], r["ort-web"]]) expect(Number.isFinite(t.loadMs) && t.loadMs >= 0).toBe(true);
  });

  it("an open dim is bound by its name (--shape seq=3) or the input's dims; left open it is SHAPE_MISMATCH naming both", async () => {
    const open = path.join(tmp, "open.onnx");
    fs.writeFileSync(open, exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[seq,5]
%y : float32[seq,5] = Relu(%x) {name="act"}
output %y`)));
    for (const shape of ["seq=3", "x=3x5"]) {
      const { code, out } = await captureBench([open, "--vs", "ort-node", "--runs", "3", "--load-runs", "0", "--shape", shape, "--json"]);
      expect(code, shape).toBe(0);
      expect(JSON.parse(out).kiln.ok, shape).toBe(true);
    }
    const e = await cmdBench(parseArgs([open, "--vs", "ort-node", "--runs", "3", "--load-runs", "0"], BENCH_FLAGS, "bench")).catch((err) => err);
    expect(e.code).toBe("SHAPE_MISMATCH");
    expect(e.message).toMatch(/input x has the open dim seq: pass --shape seq=N \(or --shape x=Nx5\)/);
  });

  it("rejects a warm-up under three runs, a negative --load-runs and unknown rivals", async () => {
    await expect(cmdBench(parseArgs([modelFile, "--warmup", "1"], BENCH_FLAGS, "bench"))).rejects.toThrow(/--warmup/);
    await expect(cmdBench(parseArgs([modelFile, "--load-runs", "-1"], BENCH_FLAGS, "bench"))).rejects.toThrow(/--load-runs/);
    await expect(cmdBench(parseArgs([modelFile, "--vs", "tfjs"], BENCH_FLAGS, "bench"))).rejects.toThrow(/--vs/);
  });

  it("--atol/--rtol set how close kiln's outputs must be to the rival's (either alone keeps the other's default); a bad value is a usage error", async () => {
    const parsed = (argv: string[]) => parseTolerance(parseArgs([modelFile, ...argv], BENCH_FLAGS, "bench"), BENCH_TOLERANCE);
    expect(parsed([])).toBeUndefined();
    expect(parsed(["--atol", "0.25"])).toEqual({ atol: 0.25, rtol: BENCH_TOLERANCE.rtol, ints: true });
    expect(parsed(["--atol", "0.25", "--rtol", "0"])).toEqual({ atol: 0.25, rtol: 0, ints: true });
    await expect(cmdBench(parseArgs([modelFile, "--atol", "x"], BENCH_FLAGS, "bench"))).rejects.toThrow(/--atol takes a non-negative number, got "x"/);
    await expect(cmdBench(parseArgs([modelFile, "--rtol", "-1"], BENCH_FLAGS, "bench"))).rejects.toThrow(/--rtol takes a non-negative number/);
    const { code, out } = await captureBench([modelFile, "--vs", "ort-web", "--runs", "3", "--load-runs", "0", "--atol", "0.25", "--rtol", "0", "--json"]);
    expect(code).toBe(0);
    expect(JSON.parse(out).kiln.ok).toBe(true);
  });

  it("a compiled .wasm is BAD_INPUT saying to give the ONNX model", async () => {
    const wasmFile = path.join(tmp, "tiny.wasm");
    fs.writeFileSync(wasmFile, Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0));
    await expect(cmdBench(parseArgs([wasmFile], BENCH_FLAGS, "bench"))).rejects.toThrow(/BAD_INPUT: .*compiled kiln module.*give it the \.onnx/);
  });

  it("--generate: the greedy loop on a decoder with past key/values, kiln on one module (bounds) against onnxruntime-web, the tokens transformers gave", async () => {
    const { gpt2Reference, transformerPath } = await import("../models/transformers.js");
    const ref = gpt2Reference();
    const { code, out } = await captureBench([transformerPath("gpt2"), "--generate", "6", "--prompt", ref.prompt.join(","), "--runs", "1", "--json",
      "--shape", "batch=1", "--shape", "seq=1..16", "--shape", "past=0..240", "--shape", "total=past+seq"]);
    expect(code).toBe(0);
    const r = JSON.parse(out) as { agree: boolean; rows: { engine: string; tokens: number[]; tokenMedianMs: number; modules?: number }[] };
    expect(r.agree).toBe(true);
    expect(r.rows.map((x) => x.engine)).toEqual(["kiln", "ort-web"]);
    expect(r.rows[0].modules).toBe(1);
    for (const row of r.rows) {
      expect(row.tokens).toEqual(ref.tokens.slice(0, 6));
      expect(row.tokenMedianMs).toBeGreaterThan(0);
    }
  }, 120_000);

  it("--generate on a model that is no decoder with past key/values is BAD_INPUT naming what is missing; a bad --prompt is a usage error", async () => {
    await expect(captureBench([modelFile, "--generate", "4"])).rejects.toThrow(/BAD_INPUT.*no input input_ids/);
    const { transformerPath } = await import("../models/transformers.js");
    await expect(captureBench([transformerPath("gpt2"), "--generate", "4", "--prompt", "1,x"])).rejects.toThrow(/--prompt takes token ids/);
    await expect(captureBench([transformerPath("gpt2"), "--generate", "4", "--prompt", "5,1000"])).rejects.toThrow(/--prompt: token id 1000 is past the vocabulary \(the logits have 1000 entries: ids 0\.\.999\)/);
  });

  it("a bounded row: kiln compiled once for the bounds, its build pinned at the feeds' shapes timed beside it, outputs compared bit for bit", async () => {
    const bytes = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[n,5]
const %w : float32[5,7] = dense<[${Array.from({ length: 35 }, (_, i) => ((i * 37) % 11) / 10 - 0.5).join(", ")}]>
%m : float32[n,7] = MatMul(%x, %w) {name="mm"}
%y : float32[n,7] = Relu(%m) {name="act"}
output %y`));
    const r = await benchModel("tiny bounded", bytes, { vs: ["ort-node"], threads: 1, runs: 3, warmup: 3, shapes: { x: [3, 5] }, bounds: { n: [1, 9] }, loadRuns: 0, probe: false });
    expect(r.kiln.ok).toBe(true);
    const pinned = r["kiln-pinned"]!;
    expect(pinned.identical).toBe(true);
    expect(pinned.ratio).toBeCloseTo(r.kiln.medianMs / pinned.medianMs, 2);
    expect(pinned.loadRatio).toBeGreaterThan(0);
    // the bounded build is the one the row runs: its session's manifest has the symbol
    await expect(benchModel("tiny bounded", bytes, { vs: ["ort-node"], threads: 1, runs: 3, warmup: 3, shapes: { x: [3, 5] }, bounds: { n: [4, 9] }, loadRuns: 0, probe: false }))
      .rejects.toThrow(/BAD_INPUT: input "x" has dims \[3,5\] but the model takes float32\[n,5\] \(n 4\.\.9\)/);
    // kiln bench takes the bounds as --shape n=1..9 beside the feed's --shape x=3x5
    const file = path.join(tmp, "bounded.onnx");
    fs.writeFileSync(file, bytes);
    const { code, out } = await captureBench([file, "--vs", "ort-node", "--shape", "n=1..9", "--shape", "x=3x5", "--runs", "3", "--load-runs", "0", "--json"]);
    expect(code).toBe(0);
    const cli = JSON.parse(out) as BenchResult;
    expect(cli.kiln.ok).toBe(true);
    expect(cli["kiln-pinned"]?.identical).toBe(true);
    // a dim pinned beside the bounds (--shape b=1) reaches the bounded build too
    const batched = path.join(tmp, "bounded-batch.onnx");
    fs.writeFileSync(batched, exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[b,n,5]
const %w : float32[5,7] = dense<[${Array.from({ length: 35 }, (_, i) => ((i * 37) % 11) / 10 - 0.5).join(", ")}]>
%m : float32[b,n,7] = MatMul(%x, %w) {name="mm"}
output %m`)));
    const pinnedBeside = await captureBench([batched, "--vs", "ort-node", "--shape", "b=1", "--shape", "n=1..9", "--shape", "x=1x3x5", "--runs", "3", "--load-runs", "0", "--json"]);
    expect(pinnedBeside.code).toBe(0);
    expect((JSON.parse(pinnedBeside.out) as BenchResult)["kiln-pinned"]?.identical).toBe(true);
  });

  it("catches a wrong answer: outputs of a different model are reported with their error", async () => {
    const feeds = { x: tensor({ dims: [3, 5] }, 1) };
    const wrong = await runOrt(tinyModel("Sigmoid"), feeds);
    const r = await benchModel("tiny", tinyModel("Relu"), { vs: ["ort-web"], threads: 1, runs: 3, warmup: 3, inputs: "random", reference: wrong, loadRuns: 0 });
    expect(r.kiln.ok).toBe(false);
    expect(r.kiln.maxAbsErr).toBeGreaterThan(1e-3);
    expect(r.kiln.message).toMatch(/output y/);
  });

  it("compares every output with rtol 1e-3 and atol 1e-4", () => {
    const t = (v: number) => ({ y: { dtype: "float32" as const, dims: [2], data: Float32Array.of(1000, v) } });
    expect(compareOutputs(t(5.00005), t(5), "ref").ok).toBe(true);
    expect(compareOutputs(t(5.01), t(5), "ref").ok).toBe(false);
    expect(compareOutputs({}, t(5), "ref").ok).toBe(false);
  });
});

describe("timing bookkeeping", () => {
  it("median of odd and even counts, unsorted input", () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it("warms every engine up, then runs each once per round in a rotating order", async () => {
    const calls: number[] = [];
    const runner = (k: number) => ({ run: async () => (calls.push(k), {}), release: async () => {} });
    const times = await alternate([runner(0), runner(1), runner(2)], 6, 3, Infinity, false, 0);
    expect(times.map((t) => t.length)).toEqual([6, 6, 6]);
    expect(calls.length).toBe(3 * 3 + 6 * 3);
    const rounds = calls.slice(9);
    expect(rounds.slice(0, 3)).toEqual([0, 1, 2]);
    expect(rounds.slice(3, 6)).toEqual([1, 2, 0]);
    // warm-up by time too: rounds of about 2 ms for at least 40 ms take more than the 3 asked
    calls.length = 0;
    const slow = (k: number) => ({ run: async () => { calls.push(k); await new Promise((r) => setTimeout(r, 2)); return {}; }, release: async () => {} });
    await alternate([slow(0)], 5, 3, Infinity, false, 40);
    expect(calls.length).toBeGreaterThan(3 + 5 + 5);
  });

  it("flags an engine whose median sits far above its minimum, with the speedup on minima", () => {
    const t = (medianMs: number, minMs: number) => ({ loadMs: 1, medianMs, minMs });
    const r = (web: [number, number]): BenchResult => ({
      model: "m", threads: 1, kiln: { ...t(125, 120), ok: true, maxAbsErr: 0, against: "ort-web" }, "kiln-aot": { loadMs: 1 },
      "ort-web": t(...web), speedup: Math.round((web[0] / 125) * 100) / 100,
    });
    expect(unsteadyNotes(r([280, 260]))).toEqual([]);
    // ort-web's slow mode: 2.3x over its minimum; the median speedup 5.04x, on minima 2.17x
    expect(unsteadyNotes(r([630, 260]))).toEqual([
      "ort-web unsteady: median 630.0 ms is 2.42x its minimum 260.0 ms",
      "speedup on minima 2.17x (on medians 5.04x)",
    ]);
    const noisyKiln = r([280, 260]);
    noisyKiln.kiln = { ...noisyKiln.kiln, medianMs: 160 };
    expect(unsteadyNotes(noisyKiln)[0]).toMatch(/^kiln unsteady: median 160\.0 ms is 1\.33x/);
    // microsecond runs: a large ratio of tiny times is jitter
    const tiny = r([0.05, 0.02]);
    tiny.kiln = { ...tiny.kiln, medianMs: 0.03, minMs: 0.01 };
    expect(unsteadyNotes(tiny)).toEqual([]);
  });

  it("times the peak loop in each row's rotation and notes rows run while the host was contended", async () => {
    const r = JSON.parse((await captureBench([modelFile, "--vs", "ort-web", "--runs", "3", "--load-runs", "0", "--json"])).out);
    // a measured figure, not a constant: finite and above what a scalar loop could do
    expect(r.peakLoopGflops).toBeGreaterThan(1);
    const row = (model: string, peakLoopGflops?: number): BenchResult => ({
      model, threads: 1, kiln: { loadMs: 1, medianMs: 1, minMs: 1, ok: true, maxAbsErr: 0, against: "ort-web" }, "kiln-aot": { loadMs: 1 },
      speedup: 2, ...(peakLoopGflops === undefined ? {} : { peakLoopGflops }),
    });
    expect(contendedNotes([row("a", 60), row("b", 58), row("c")])).toEqual([]);
    expect(contendedNotes([row("a", 60), row("b", 38.5), row("c", 51)])).toEqual([
      "b: the peak loop timed in this row's rotation read 38.5 GFLOPS, 64% of the run's best 60.0: the host was contended while it ran",
    ]);
  });

  it("a time budget cuts the timed rounds, never below five", async () => {
    const slow = { run: async () => (await new Promise((r) => setTimeout(r, 5)), {}), release: async () => {} };
    const times = await alternate([slow], 50, 3, 1);
    expect(times[0].length).toBe(5);
  });
});

describe("peak microkernel", () => {
  it("builds valid wasm whose accumulators hold the tile's dot products", async () => {
    const wasm = buildMicrokernel([3, 8]);
    const { instance } = await WebAssembly.instantiate(wasm as Uint8Array<ArrayBuffer>);
    const mem = new Float32Array((instance.exports.memory as WebAssembly.Memory).buffer);
    const K = 128;
    for (let i = 0; i < 3 * K; i++) mem[i] = (i % 5) - 2;
    for (let i = 0; i < K * 8; i++) mem[3 * K + i] = (i % 3) - 1;
    (instance.exports.kernel as (n: number) => void)(2);
    const out = mem.subarray(3 * K + K * 8, 3 * K + K * 8 + 24);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 8; j++) {
        let dot = 0;
        for (let k = 0; k < K; k++) dot += mem[i * K + k] * mem[3 * K + k * 8 + j];
        expect(out[i * 8 + j]).toBe(2 * dot);
      }
    }
  });
});

describe("memory rows (issue 16: npm run bench's budget and peak RSS rows)", () => {
  it("a budget row: the budgeted session's outputs against the resident one's, bit for bit, with both times; peak RSS from fresh processes", async () => {
    const { benchBudget, benchPeakRss, formatMemory } = await import("../bench/memory.js");
    const bytes = tinyModel("Sigmoid");
    // one layer, whose packed weights (352 bytes) outweigh the model's 168: a budget of 4x those
    const budget = await benchBudget("tiny", bytes, 0.25, 3);
    expect(budget.identical).toBe(true);
    expect(budget.budgetBytes).toBe((35 + 7) * 4 * 4);
    expect(budget.streamBytes).toBeGreaterThan(0);
    expect(budget.residentMs).toBeGreaterThan(0);
    // the ratio of the unrounded medians: times of a few microseconds lose digits to rounding
    expect(Math.abs(budget.ratio - budget.budgetMs / budget.residentMs)).toBeLessThan(0.25 * budget.ratio + 0.01);
    expect(budget.cpuRatio).toBeGreaterThan(0);
    if (process.platform !== "linux") return;
    const rss = await benchPeakRss("tiny", bytes);
    for (const e of ["kiln-aot-path", "kiln-aot-bytes", "kiln-aot-prepack", "kiln-aot-file", "ort-web"] as const) expect(rss[e]).toBeGreaterThan(10); // MiB: a Node process at least
    const md = formatMemory(budget, rss);
    expect(md).toMatch(/\| budget:tiny \(1\/0.25\) \|.*\| bit-identical \|/);
    expect(md).toMatch(/\| rss:tiny \| peak RSS MiB \| \/ ort-web \|/);
    expect(md).toMatch(/\| kiln \.wasm \(default\), by path \| [\d.]+ \| [\d.]+x \|/);
  }, 120_000);
});
