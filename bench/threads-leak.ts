// No deadlock, no leak at 2 threads (issue 17), in one process, then the process's threads (Linux:
// /proc/self/task) and memory must be back where they started. Two readings of "1,000 runs of 50
// sessions created and closed":
//   default      50 sessions of a small model, one after another, each created on 2 threads, run
//                1,000 times and terminated;
//   --rounds R   R rounds, each creating 50 sessions (all open at once), running each once and
//                terminating them all (50 x R worker starts).
//
//   node --expose-gc dist/bench/threads-leak.js [--sessions 50] [--runs 1000 | --rounds 1000] [--model zoo:cnn] [--each] [--json]
//
// Exit 1 when threads or memory did not come back (memory: within 32 MB of the start, after a
// full garbage collection; a leaked session holds its whole shared memory, a few MB for zoo:cnn).
import * as fs from "node:fs";
import { compile } from "../compiler/driver/api.js";
import { createSession } from "../runtime/session.js";
import { buildZooModel } from "../models/zoo.js";
import { makeInput } from "../compiler/driver/cli/inputs.js";
import { graphInputs } from "../models/testdata.js";
import { runIfMain } from "../models/cli.js";

const flag = (argv: string[], key: string) => {
  const i = argv.indexOf(`--${key}`);
  return i >= 0 ? argv[i + 1] : undefined;
};

const osThreads = () => (fs.existsSync("/proc/self/task") ? fs.readdirSync("/proc/self/task").length : -1);
const gc = () => (globalThis as { gc?: () => void }).gc?.();

async function settled(): Promise<{ threads: number; rss: number; external: number }> {
  // terminated workers exit asynchronously; finalizers free the shared memories after a collection
  for (let k = 0; k < 20; k++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  const mem = process.memoryUsage();
  return { threads: osThreads(), rss: mem.rss, external: mem.external + mem.arrayBuffers };
}

async function main(argv: string[]): Promise<number> {
  const sessions = Number(flag(argv, "sessions") ?? 50);
  const runs = Number(flag(argv, "runs") ?? 1000);
  const name = (flag(argv, "model") ?? "zoo:cnn").replace(/^zoo:/, "");
  const model = buildZooModel(name);
  const { wasm } = await compile(model, { simd: "baseline", threads: 2 });
  const feeds = Object.fromEntries(graphInputs(model).map((i, k) => [i.name, makeInput("random", i.dtype!, i.dims, 3 + k).data]));
  // first what the loop then repeats, once: what the first workers start for good (V8's and libuv's
  // own threads) and the allocator's high-water mark of 50 isolates alive at once are not leaks
  const rounds = flag(argv, "rounds") === undefined ? undefined : Number(flag(argv, "rounds"));
  const warm = [];
  for (let s = 0; s < (rounds === undefined ? 1 : sessions); s++) warm.push(await createSession(wasm, { threads: 2 }));
  for (const session of warm) await session.run(feeds as never);
  for (const session of warm) session.terminate!();
  const before = await settled();
  const t0 = performance.now();
  for (let round = 0; round < (rounds ?? 0); round++) {
    const open = [];
    for (let s = 0; s < sessions; s++) open.push(await createSession(wasm, { threads: 2 }));
    for (const session of open) await session.run(feeds as never);
    for (const session of open) session.terminate!();
    if (argv.includes("--each")) console.error(`round ${round + 1}: ${JSON.stringify(await settled())}`);
  }
  for (let s = 0; s < (rounds === undefined ? sessions : 0); s++) {
    const session = await createSession(wasm, { threads: 2 });
    if (session.threads !== 2) throw new Error(`session ${s} runs on ${session.threads} threads, not 2`);
    for (let r = 0; r < runs; r++) await session.run(feeds as never);
    session.terminate!();
  }
  const seconds = (performance.now() - t0) / 1000;
  const after = await settled();
  const ok = after.threads <= before.threads && after.rss - before.rss < 32 << 20 && after.external - before.external < 32 << 20;
  const result = { model: `zoo:${name}`, sessions, ...(rounds === undefined ? { runs } : { rounds }), seconds: Number(seconds.toFixed(1)), before, after, ok, gc: typeof (globalThis as { gc?: unknown }).gc === "function" };
  if (argv.includes("--json")) console.log(JSON.stringify(result));
  else {
    const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MB`;
    console.log(rounds === undefined ? `${sessions} sessions x ${runs} runs at 2 threads (zoo:${name}) in ${result.seconds} s` : `${rounds} rounds of ${sessions} sessions open at once at 2 threads (zoo:${name}) in ${result.seconds} s`);
    console.log(`  threads   ${before.threads} -> ${after.threads}`);
    console.log(`  rss       ${mb(before.rss)} -> ${mb(after.rss)}`);
    console.log(`  external  ${mb(before.external)} -> ${mb(after.external)}${result.gc ? "" : " (run with --expose-gc for a collection before each reading)"}`);
    console.log(ok ? "  ok: back where they started" : "  LEAK");
  }
  return ok ? 0 : 1;
}

runIfMain(import.meta.url, main);
