// No deadlock, no leak at 2 threads (issue 17): R rounds, each creating 50 sessions at 2 threads
// (all open at once), running each once and terminating them all, in one process; then the
// process's OS threads (Linux: Threads in /proc/self/status) and memory must be back where they
// started.
//
//   node --expose-gc dist/bench/threads-leak.js [--rounds 1000] [--sessions 50] [--model zoo:NAME] [--each N] [--json]
//
// The model is small on purpose (the check is about workers and memories, not arithmetic): one
// MatMul + bias + Relu big enough to be split over the 2 threads, so every session's worker really
// runs a share of a layer; each run's output is checked against one thread's, bytes equal. The cost
// of a round is then the 50 worker starts themselves (Node starts an isolate per worker: ~10-40 ms
// each on this 2-core VM), so the sessions of a round are created concurrently.
//
// Exit 1 when threads or memory did not come back (memory: within 32 MB of the start, after a
// settle and full garbage collections; a leaked session holds its whole shared memory and an
// isolate, so 50,000 leaked sessions would be gigabytes) or an output differed.
import * as fs from "node:fs";
import { compile } from "../compiler/driver/api.js";
import { exportModel } from "../compiler/onnx/export.js";
import { createSession, type Session } from "../runtime/session.js";
import { buildZooModel } from "../models/zoo.js";
import { ModelBuilder } from "../models/builder.js";
import { BIAS, he } from "../models/init.js";
import { makeInput } from "../compiler/driver/cli/inputs.js";
import { graphInputs } from "../models/testdata.js";
import { runIfMain } from "../models/cli.js";

/** x [1, 64, 256] -> MatMul by a 256 x 256 weight, + bias, Relu: 8.4 MFLOP, one layer split over the threads. */
export function splitLayerModel(): Uint8Array {
  const b = new ModelBuilder(7);
  const x = b.input("x", [1, 64, 256]);
  const y = b.node("MatMul", [x, b.weight("w", [256, 256], he(256))], [1, 64, 256]);
  const z = b.node("Add", [y, b.weight("bias", [256], BIAS)], [1, 64, 256]);
  b.output(b.node("Relu", [z], [1, 64, 256]));
  return exportModel(b.graph, { producer: "kiln-threads-leak" });
}

/** OS threads of this process: Threads in /proc/self/status (Linux), -1 elsewhere. */
export function osThreads(): number {
  if (!fs.existsSync("/proc/self/status")) return -1;
  const line = /^Threads:\s*(\d+)/m.exec(fs.readFileSync("/proc/self/status", "utf8"));
  return line ? Number(line[1]) : -1;
}

const flag = (argv: string[], key: string) => {
  const i = argv.indexOf(`--${key}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const gc = () => (globalThis as { gc?: () => void }).gc?.();

export interface Reading { threads: number; rss: number; external: number }

/** After terminated workers have exited (asynchronously) and finalizers have freed the shared memories. */
export async function settled(want?: number): Promise<Reading> {
  for (let k = 0; k < 20 || (want !== undefined && k < 200 && osThreads() > want); k++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  const mem = process.memoryUsage();
  return { threads: osThreads(), rss: mem.rss, external: mem.external + mem.arrayBuffers };
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export interface LeakRun {
  rounds: number;
  sessions: number;
  seconds: number;
  before: Reading;
  after: Reading;
  /** runs whose output was not the one-thread output's bytes */
  mismatches: number;
  ok: boolean;
}

/**
 * `rounds` rounds of `sessions` sessions of `model` at 2 threads, all of a round open at once:
 * created (concurrently), each run once (its output compared with one thread's), all terminated.
 */
export async function leakRounds(model: Uint8Array, rounds: number, sessions: number, each?: (round: number, r: Reading) => void, everyRound = 100): Promise<LeakRun> {
  const { wasm, manifest } = await compile(model, { simd: "baseline", threads: 2 });
  if (!manifest.layers.some((l) => l.split)) throw new Error("threads-leak: no layer of this model splits over the threads; its workers would only wait");
  const feeds = Object.fromEntries(graphInputs(model).map((i, k) => [i.name, makeInput("random", i.dtype!, i.dims, 3 + k).data]));
  const single = await createSession((await compile(model, { simd: "baseline" })).wasm);
  const want = Object.values(await single.run(feeds as never)).map((t) => Buffer.from(bytesOf(t.data)));
  let mismatches = 0;
  const round = async () => {
    const open: Session[] = await Promise.all(Array.from({ length: sessions }, () => createSession(wasm, { threads: 2 })));
    try {
      for (const session of open) {
        if (session.threads !== 2) throw new Error(`a session runs on ${session.threads} threads, not 2`);
        const got = Object.values(await session.run(feeds as never));
        if (got.some((t, k) => Buffer.compare(bytesOf(t.data), want[k]) !== 0)) mismatches++;
      }
    } finally {
      for (const session of open) session.terminate!();
    }
  };
  // one round first: the threads the first workers start for good (V8's and libuv's own) and the
  // allocator's high-water mark of `sessions` isolates alive at once are not leaks
  await round();
  const before = await settled();
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    await round();
    if (each && (r + 1) % everyRound === 0) each(r + 1, await settled());
  }
  const seconds = (performance.now() - t0) / 1000;
  const after = await settled(before.threads);
  const ok = mismatches === 0 && after.threads <= before.threads && after.rss - before.rss < 32 << 20 && after.external - before.external < 32 << 20;
  return { rounds, sessions, seconds, before, after, mismatches, ok };
}

async function main(argv: string[]): Promise<number> {
  const sessions = Number(flag(argv, "sessions") ?? 50);
  const rounds = Number(flag(argv, "rounds") ?? 1000);
  const every = Number(flag(argv, "each") ?? 0);
  const name = flag(argv, "model")?.replace(/^zoo:/, "");
  const model = name ? buildZooModel(name) : splitLayerModel();
  const label = name ? `zoo:${name}` : "one split MatMul layer";
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MB`;
  const show = (r: Reading) => `threads ${r.threads}, rss ${mb(r.rss)}, external ${mb(r.external)}`;
  const result = await leakRounds(model, rounds, sessions, every ? (k, r) => console.error(`round ${k}: ${show(r)}`) : undefined, every || 100);
  const hasGc = typeof (globalThis as { gc?: unknown }).gc === "function";
  if (argv.includes("--json")) console.log(JSON.stringify({ model: label, ...result, seconds: Number(result.seconds.toFixed(1)), gc: hasGc }));
  else {
    console.log(`${rounds} rounds of ${sessions} sessions open at once at 2 threads (${label}) in ${result.seconds.toFixed(1)} s`);
    console.log(`  threads   ${result.before.threads} -> ${result.after.threads}`);
    console.log(`  rss       ${mb(result.before.rss)} -> ${mb(result.after.rss)}`);
    console.log(`  external  ${mb(result.before.external)} -> ${mb(result.after.external)}${hasGc ? "" : " (run with --expose-gc for a collection before each reading)"}`);
    console.log(`  outputs   ${result.mismatches ? `${result.mismatches} runs differ from one thread's` : "every run the same bytes as one thread"}`);
    console.log(result.ok ? "  ok: back where they started" : "  LEAK (or a wrong output)");
  }
  return result.ok ? 0 : 1;
}

runIfMain(import.meta.url, main);
