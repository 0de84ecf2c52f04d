// One worker thread of a threaded session (runtime/threads.ts): instantiates the module over the
// shared memory as thread `tid`, says it is ready, then waits on the control words' sequence
// number and runs the layer range thread 0 wrote there, until the stop flag is set.
import { RUN_LAYERS, THREAD_CONTROL, THREADS_EXPORT } from "./manifest.js";
import { failed, importsFor, type ThreadStart } from "./threads.js";

function serve(start: ThreadStart, ready: () => void): void {
  const instance = new WebAssembly.Instance(start.module, importsFor(start.memory));
  const exports = instance.exports as Record<string, unknown>;
  (exports[THREADS_EXPORT] as (tid: number, count: number, canWait: number) => void)(start.tid, start.count, 1);
  const runLayers = exports[RUN_LAYERS] as (from: number, to: number) => void;
  const words = new Int32Array(start.memory.buffer, 0, 16);
  let seen = Atomics.load(words, THREAD_CONTROL.seq / 4);
  ready();
  for (;;) {
    Atomics.wait(words, THREAD_CONTROL.seq / 4, seen);
    seen = Atomics.load(words, THREAD_CONTROL.seq / 4);
    if (Atomics.load(words, THREAD_CONTROL.stop / 4)) return;
    try {
      runLayers(Atomics.load(words, THREAD_CONTROL.from / 4), Atomics.load(words, THREAD_CONTROL.to / 4));
    } catch {
      // a trap (a kiln bug): the threads waiting for this one in a barrier trap too (runtime/threads.ts)
      failed(words);
      return;
    }
  }
}

const scope = globalThis as unknown as { postMessage?: (m: unknown) => void; close?: () => void; addEventListener?: (t: string, f: (e: { data: ThreadStart }) => void, o?: unknown) => void; WorkerGlobalScope?: unknown };
if (scope.WorkerGlobalScope !== undefined && scope.addEventListener) {
  scope.addEventListener("message", (e) => {
    serve(e.data, () => scope.postMessage!("ready"));
    scope.close?.();
  }, { once: true });
} else {
  const specifier = "node:worker_threads"; // in a variable: a page's bundler leaves it alone
  const { parentPort } = (await import(specifier)) as typeof import("node:worker_threads");
  parentPort!.once("message", (start: ThreadStart) => {
    serve(start, () => parentPort!.postMessage("ready"));
    parentPort!.close();
  });
}
