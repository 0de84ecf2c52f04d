// A threaded session wakes its workers only for a range of layers that has a split layer
// (runtime/threads.ts startThreads): a small model, none of whose layers is worth splitting,
// runs on the calling thread alone at threads: 2, with the right output. Which path ran is read
// from the control words at the start of the shared memory (THREAD_CONTROL.seq counts the
// wake-ups), through an output of runInPlace, a view into that memory.
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import type * as Api from "../compiler/driver/api.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { THREAD_CONTROL } from "../runtime/manifest.js";
import type { Tensor } from "../runtime/session.js";

// from dist/ (npm test builds it first): the workers run runtime/thread-worker.js, which exists only there
const root = path.resolve(import.meta.dirname, "..");
const { load } = (await import(path.join(root, "dist/compiler/driver/api.js"))) as typeof Api;

const wakeups = (t: Tensor) => Atomics.load(new Int32Array(t.data.buffer as SharedArrayBuffer, 0, 16), THREAD_CONTROL.seq / 4);

// a MatMul of two inputs (packed-runtime: split over C's panels when big enough), then Relu
function model(n: number): Uint8Array {
  return exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %a : float32[${n},${n}]
input %b : float32[${n},${n}]
%s : float32[${n},${n}] = MatMul(%a, %b) {name="matmul"}
%y : float32[${n},${n}] = Relu(%s) {name="relu"}
output %y`));
}

function feeds(n: number): Record<string, Tensor> {
  const a = Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 13) - 6);
  const b = Float32Array.from({ length: n * n }, (_, i) => ((i * 104729) % 11) - 5);
  return { a: { dtype: "float32", dims: [n, n], data: a }, b: { dtype: "float32", dims: [n, n], data: b } };
}

async function runs(n: number): Promise<{ split: number; before: number; after: number }> {
  const loaded = await load(model(n), { cache: false, threads: 2 });
  const session = loaded.session!;
  try {
    expect(session.threads).toBe(2);
    const f = feeds(n);
    // small integers: every sum is exact in float32, in any order
    const a = f.a.data as Float32Array, b = f.b.data as Float32Array;
    const want = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) want[i * n + j] += a[i * n + k] * b[k * n + j];
    const first = session.runInPlace(f).y;
    const before = wakeups(first);
    let last = first;
    for (let k = 0; k < 3; k++) {
      last = session.runInPlace(f).y;
      const y = last.data as Float32Array;
      for (let i = 0; i < y.length; i++) if (y[i] !== Math.max(0, want[i])) throw new Error(`y[${i}] = ${y[i]}, not ${Math.max(0, want[i])}`);
    }
    return { split: session.manifest.layers.filter((l) => l.split).length, before, after: wakeups(last) };
  } finally {
    session.terminate?.();
  }
}

describe("a threaded session runs a range with no split layer on the calling thread", () => {
  it("a small model at 2 threads: no layer splits, the workers are never woken, the output is right", async () => {
    const { split, before, after } = await runs(4);
    expect(split).toBe(0);
    expect(after - before, "wake-ups in 3 runs").toBe(0);
  }, 60_000);

  it("a model with a split layer wakes the workers on every run, with the right output", async () => {
    const { split, before, after } = await runs(256);
    expect(split).toBeGreaterThan(0);
    expect(after - before, "wake-ups in 3 runs").toBeGreaterThanOrEqual(3);
  }, 60_000);
});
