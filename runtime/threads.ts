// The threads of a threaded session (docs/THREADS.md): count - 1 workers (worker threads in Node,
// Web Workers in a page), each instantiating the module over the session's shared memory with
// its own thread id. The calling thread is thread 0: run(from, to) writes the layer range into the
// control words, wakes the workers (Atomics.notify on the sequence word), and runs the same range
// itself; the module's barriers keep the threads in step and the barrier that ends every
// run_layers call returns only when every thread is done.
import { KilnError } from "./errors.js";
import { HASH_WASM_BYTES, provideSharedHashModule } from "./checksum.js";
import { RUN_LAYERS, THREAD_CONTROL, THREADS_EXPORT, THREADS_IMPORT } from "./manifest.js";

/**
 * The checksum module (runtime/checksum.ts) importing a shared memory: the same code, its one
 * import's limits patched from (min 0) to (shared, min 0, max 65536 pages).
 */
export function sharedHashBytes(): Uint8Array {
  const b = HASH_WASM_BYTES();
  const section = [0x02, 0x0f, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x00];
  const at = b.findIndex((_, i) => section.every((x, k) => b[i + k] === x));
  if (at < 0) throw new Error("checksum module: its memory import is not where expected");
  const patched = [0x02, 0x12, ...section.slice(2, 15), 0x03, 0x00, 0x80, 0x80, 0x04];
  return Uint8Array.from([...b.subarray(0, at), ...patched, ...b.subarray(at + section.length)]);
}
// a threaded session's weights are checked in its shared memory
provideSharedHashModule(new WebAssembly.Module(sharedHashBytes() as Uint8Array<ArrayBuffer>));

/** What the coordinating thread sends each worker (thread-worker.ts) once. */
export interface ThreadStart {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  tid: number;
  count: number;
}

interface ThreadWorker {
  ready: Promise<void>;
  terminate(): void;
}

const WORKER_URL = () => new URL("./thread-worker.js", import.meta.url);
const isNode = () => typeof (globalThis as { process?: { versions?: { node?: unknown } } }).process?.versions?.node === "string";

/** Whether this thread may block (Atomics.wait): not a browser's main thread. */
export function mayBlock(): boolean {
  if (isNode()) return true;
  return typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined";
}

/** Why threads cannot run here (no SharedArrayBuffer: a page without cross-origin isolation), or undefined. */
export function threadsUnavailable(): string | undefined {
  if (typeof SharedArrayBuffer === "undefined") {
    return "SharedArrayBuffer is not available (a page needs cross-origin isolation: the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)";
  }
  const g = globalThis as { crossOriginIsolated?: boolean };
  if (!isNode() && g.crossOriginIsolated === false) return "the page is not cross-origin isolated (Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)";
  return undefined;
}

/** The cores this machine reports (navigator.hardwareConcurrency, os.availableParallelism). */
export async function availableCores(): Promise<number> {
  if (isNode()) {
    const specifier = "node:os";
    const os = (await import(specifier)) as typeof import("node:os");
    return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  }
  return Math.max(1, (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1);
}

/**
 * The shared memory a threaded module imports. A page without cross-origin isolation still makes
 * one (Chromium does: only the SharedArrayBuffer global and sending it to a worker are refused),
 * and the module runs there on one thread; an engine that makes none is a typed error.
 */
export function sharedMemoryFor(bytes: number): WebAssembly.Memory {
  const pages = bytes / 65536;
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true } as WebAssembly.MemoryDescriptor);
  } catch (e) {
    const why = threadsUnavailable() ?? (e as Error).message;
    throw new KilnError("BAD_OPTION", `this module was compiled with threads, which need a shared memory, but ${why}; serve the page with those headers, or use a module compiled for one thread`);
  }
}

/**
 * Under threads "auto", a model of fewer flops a run than this runs on one thread: its split layers
 * are too short to repay the wake-ups and barriers. `npm run bench`, 2026-12-06 (2 threads over 1):
 * PaddleOCR's classifier (0.035 GFLOP) 0.79-0.88x, BERT-tiny (0.12) 0.89-1.56x, ShuffleNet (0.25)
 * 0.89-0.93x; MobileNetV2 (0.61) 1.51-1.54x, SqueezeNet (0.70) 1.36-1.45x, PP-OCR detection (1.19)
 * 1.23-1.41x. A number of threads asked for is taken as asked.
 */
export const AUTO_MIN_FLOPS = 3e8;

/** The threads a session of a module compiled for `max` runs on, asked for `asked` (session.ts); `flops`: the module's arithmetic a run (its layers' manifest counts). */
export async function threadCount(max: unknown, asked: number | "auto", warn: (message: string) => void, flops = Infinity): Promise<number> {
  // manifest.threads is checked here, the one reader of it (runtime/validate.ts checks the rest)
  if (!Number.isInteger(max) || (max as number) < 1 || (max as number) > 256) {
    throw new KilnError("INVALID_ARTIFACT", `the manifest's threads.max is ${JSON.stringify(max)}, not a thread count; this module is damaged`);
  }
  if (asked === 1) return 1;
  const why = threadsUnavailable();
  if (why) {
    // the module still runs here, on one thread: a shared memory can be made, not shared with workers
    warn(`kiln: threads: ${asked} asked for, but ${why}; running on one thread`);
    return 1;
  }
  if (asked === "auto") return flops < AUTO_MIN_FLOPS ? 1 : Math.min(max as number, await availableCores());
  if (asked > (max as number)) throw new KilnError("BAD_OPTION", `option threads: ${asked}, but this module was compiled for at most ${max} threads; compile it with --threads ${asked}`);
  return asked;
}

export const importsFor = (memory: WebAssembly.Memory): WebAssembly.Imports => ({ [THREADS_IMPORT.module]: { [THREADS_IMPORT.name]: memory } });

async function startWorker(start: ThreadStart): Promise<ThreadWorker> {
  if (!isNode()) {
    const w = new Worker(WORKER_URL(), { type: "module" });
    const ready = new Promise<void>((resolve, reject) => {
      w.addEventListener("message", () => resolve(), { once: true });
      w.addEventListener("error", (e) => reject(new KilnError("INTERNAL", `a thread's worker failed to start: ${e.message || "its script failed to load"}`)));
    });
    w.postMessage(start);
    return { ready, terminate: () => w.terminate() };
  }
  const specifier = "node:worker_threads"; // in a variable: a page's bundler leaves it alone
  const { Worker: NodeWorker } = (await import(specifier)) as typeof import("node:worker_threads");
  const w = new NodeWorker(WORKER_URL());
  const ready = new Promise<void>((resolve, reject) => {
    w.once("message", () => resolve());
    w.once("error", (e: Error) => reject(new KilnError("INTERNAL", `a thread's worker failed: ${e.message}`)));
  });
  w.postMessage(start);
  // blocked in Atomics.wait between runs, a worker must not keep the process alive (once it has
  // started: until then the process waits for it)
  void ready.then(() => w.unref(), () => {});
  return { ready, terminate: () => void w.terminate() };
}

/** A thread trapped: say so in the control words and wake every thread waiting in a barrier, which then traps too. */
export function failed(words: Int32Array): void {
  Atomics.store(words, THREAD_CONTROL.failed / 4, 1);
  Atomics.add(words, THREAD_CONTROL.generation / 4, 0);
  Atomics.notify(words, THREAD_CONTROL.generation / 4);
}

// a threaded session dropped without terminate(): its workers (blocked between runs, holding the
// memory) are stopped once the session is collected
const UNREACHED = new FinalizationRegistry<() => void>((close) => close());
export const closeWhenCollected = (session: object, pool: ThreadPool): void => UNREACHED.register(session, pool.close);

export interface ThreadPool {
  /** layers [from, to) on every thread; returns when all are done */
  run(from: number, to: number): void;
  /** stop the workers (the session's runs fail after this) */
  close(): void;
}

/**
 * Start count - 1 workers over `memory` and set up `instance` (thread 0). The workers instantiate
 * the module with the same imports; they write nothing at instantiation (no data segments).
 * `split[k]` says whether layer k splits among the threads (manifest layers[].split): a range of
 * layers none of which splits runs on thread 0 alone, the workers left asleep (waking them and
 * the barrier that ends the range would cost more than those layers: a small model, or the
 * layer-by-layer first run between two split layers).
 */
export async function startThreads(module: WebAssembly.Module, memory: WebAssembly.Memory, instance: WebAssembly.Instance, count: number, split: readonly boolean[]): Promise<ThreadPool> {
  const exports = instance.exports as Record<string, unknown>;
  const setThread = exports[THREADS_EXPORT] as (tid: number, count: number, canWait: number) => void;
  const runLayers = exports[RUN_LAYERS] as (from: number, to: number) => void;
  const canWait = mayBlock() ? 1 : 0;
  setThread(0, count, canWait);
  // splitBefore[k]: how many of layers [0, k) split
  const splitBefore = [0];
  split.forEach((s, k) => splitBefore.push(splitBefore[k] + (s ? 1 : 0)));
  const splitsIn = (from: number, to: number) => (splitBefore[Math.min(to, split.length)] ?? 0) - (splitBefore[Math.max(0, Math.min(from, split.length))] ?? 0) > 0;
  const words = new Int32Array(memory.buffer, 0, 16);
  Atomics.store(words, THREAD_CONTROL.stop / 4, 0);
  Atomics.store(words, THREAD_CONTROL.failed / 4, 0);
  const workers: ThreadWorker[] = [];
  try {
    for (let tid = 1; tid < count; tid++) workers.push(await startWorker({ module, memory, tid, count }));
    await Promise.all(workers.map((w) => w.ready));
  } catch (e) {
    for (const w of workers) w.terminate();
    throw e;
  }
  let closed = false;
  return {
    run(from, to) {
      if (closed) throw new KilnError("BAD_OPTION", "this session was terminated");
      if (Atomics.load(words, THREAD_CONTROL.failed / 4)) throw new KilnError("INTERNAL", "a thread of this session trapped in an earlier run; create a new session");
      if (count > 1 && !splitsIn(from, to)) {
        // thread 0 alone: with a count of 1 its barriers return at once and its single layers run
        setThread(0, 1, canWait);
        try {
          runLayers(from, to);
        } finally {
          setThread(0, count, canWait);
        }
        return;
      }
      Atomics.store(words, THREAD_CONTROL.from / 4, from);
      Atomics.store(words, THREAD_CONTROL.to / 4, to);
      Atomics.add(words, THREAD_CONTROL.seq / 4, 1);
      Atomics.notify(words, THREAD_CONTROL.seq / 4);
      try {
        runLayers(from, to);
      } catch (e) {
        failed(words);
        throw e;
      }
    },
    close() {
      if (closed) return;
      closed = true;
      Atomics.store(words, THREAD_CONTROL.stop / 4, 1);
      Atomics.add(words, THREAD_CONTROL.seq / 4, 1);
      Atomics.notify(words, THREAD_CONTROL.seq / 4);
      for (const w of workers) w.terminate();
    },
  };
}
