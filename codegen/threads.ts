// Threads (docs/THREADS.md): a threaded module imports one shared memory that every thread's
// instance sees; each instance has its own globals (its thread id and the thread count, set by the
// runtime through THREADS_EXPORT). A layer is either split (every thread runs the layer's function
// and takes its share of the outermost independent loop: threadShare) or single (thread 0 runs it,
// the others skip it). A barrier (wasm atomics over the control words in the reserved bytes at the
// start of memory) sits before a split layer that follows a single one, after every split layer,
// and at the end of every run_layers call. A one-thread module has none of this: no shared memory,
// no atomics, today's code.
import binaryen from "binaryen";
import { THREAD_CONTROL, THREADS_EXPORT } from "../runtime/manifest.js";
import type { Expr, Fn, Local, Trips } from "./fn.js";

const TID = "kiln_tid";
const COUNT = "kiln_threads";
const CAN_WAIT = "kiln_can_wait";
const BARRIER = "kiln_barrier";
/** barrier words: arrivals, then the generation the waiting threads watch */
const ARRIVED = THREAD_CONTROL.arrived;
const GENERATION = THREAD_CONTROL.generation;
/** polls of the generation before a thread that may block waits on it (a layer boundary is usually microseconds away) */
const SPINS = 20000;

/** What a kernel sees of threads while it is emitted (KernelCtx.threads). */
export interface ThreadCtx {
  /** this instance's thread id, 0 .. count - 1 */
  tid(): Expr;
  /** threads running this session (1 .. the module's max) */
  count(): Expr;
  /** the most threads the module was compiled for (scratch is reserved per thread for that many) */
  max: number;
  /** the bytes of scratch each thread owns: thread t's is at scratchAddr + t * scratchStride */
  scratchStride: number;
  /** a barrier all threads running a split layer reach (a phase inside one layer) */
  barrier(): Expr;
}

export function threadCtx(m: binaryen.Module, max: number, scratchStride: number): ThreadCtx {
  return {
    tid: () => m.global.get(TID, binaryen.i32),
    count: () => m.global.get(COUNT, binaryen.i32),
    max,
    scratchStride,
    barrier: () => m.call(BARRIER, [], binaryen.none),
  };
}

/** This thread's copy of the per-thread scratch at `addr` (thread 0's): addr + tid * scratchStride; `addr` itself without threads. */
export function threadScratch(m: binaryen.Module, t: ThreadCtx | undefined, addr: number): Expr {
  return t && t.scratchStride ? m.i32.add(m.i32.const(addr), m.i32.mul(t.tid(), m.i32.const(t.scratchStride))) : m.i32.const(addr);
}

/**
 * This thread's share [lo, hi) of `trips` iterations: contiguous, in order, every iteration in
 * exactly one share (lo = trips * tid / count). A run-time trip count is a factory: a fresh
 * expression for each use.
 */
export function threadShare(m: binaryen.Module, t: ThreadCtx, trips: number | (() => Expr)): { lo: Expr; hi: Expr } {
  const n = () => (typeof trips === "number" ? m.i32.const(trips) : trips());
  const at = (k: Expr) => m.i32.div_u(m.i32.mul(n(), k), t.count());
  return { lo: at(t.tid()), hi: at(m.i32.add(t.tid(), m.i32.const(1))) };
}

/**
 * This thread's share of `steps` steps of `size` elements (a vector's lanes, a tile's rows), as
 * element indices [lo, hi), multiples of `size`: threadShare over the steps, scaled.
 */
export function stepShare(m: binaryen.Module, t: ThreadCtx, steps: number, size: number): { lo: Expr; hi: Expr } {
  const s = threadShare(m, t, steps);
  return { lo: m.i32.mul(s.lo, m.i32.const(size)), hi: m.i32.mul(s.hi, m.i32.const(size)) };
}

/** Whether this is the last of the running threads (it takes a split vector loop's scalar tail). */
export const lastThread = (m: binaryen.Module, t: ThreadCtx): Expr => m.i32.eq(t.tid(), m.i32.sub(t.count(), m.i32.const(1)));

/** The globals, the barrier and THREADS_EXPORT(tid, count, canWait) of a threaded module. */
export function addThreadRuntime(m: binaryen.Module): void {
  const i32 = binaryen.i32;
  m.addGlobal(TID, i32, true, m.i32.const(0));
  m.addGlobal(COUNT, i32, true, m.i32.const(1));
  m.addGlobal(CAN_WAIT, i32, true, m.i32.const(0));
  const [tid, count, canWait] = [0, 1, 2];
  m.addFunction(THREADS_EXPORT, binaryen.createType([i32, i32, i32]), binaryen.none, [], m.block(null, [
    m.global.set(TID, m.local.get(tid, i32)),
    m.global.set(COUNT, m.local.get(count, i32)),
    m.global.set(CAN_WAIT, m.local.get(canWait, i32)),
  ]));
  m.addFunctionExport(THREADS_EXPORT, THREADS_EXPORT);
  // sense by generation: the last thread to arrive resets the count and moves the generation on;
  // the others poll it a while, then (where the thread may block: not a browser's main thread) wait
  const [gen, spins] = [0, 1];
  const genNow = () => m.i32.atomic.load(0, m.i32.const(GENERATION));
  const moved = () => m.i32.ne(genNow(), m.local.get(gen, i32));
  m.addFunction(BARRIER, binaryen.none, binaryen.none, [i32, i32], m.block(null, [
    m.if(m.i32.le_u(m.global.get(COUNT, i32), m.i32.const(1)), m.return()),
    m.local.set(gen, genNow()),
    m.if(
      m.i32.eq(m.i32.atomic.rmw.add(0, m.i32.const(ARRIVED), m.i32.const(1)), m.i32.sub(m.global.get(COUNT, i32), m.i32.const(1))),
      m.block(null, [
        m.i32.atomic.store(0, m.i32.const(ARRIVED), m.i32.const(0)),
        m.drop(m.i32.atomic.rmw.add(0, m.i32.const(GENERATION), m.i32.const(1))),
        m.drop(m.memory.atomic.notify(m.i32.const(GENERATION), m.i32.const(-1))),
      ]),
      m.block(null, [
        m.local.set(spins, m.i32.const(SPINS)),
        m.block("done", [m.loop("poll", m.block(null, [
          m.br("done", moved()),
          // a thread trapped (THREAD_CONTROL.failed): it will not arrive; trap too, not wait forever
          m.if(m.i32.atomic.load(0, m.i32.const(THREAD_CONTROL.failed)), m.unreachable()),
          m.local.set(spins, m.i32.sub(m.local.get(spins, i32), m.i32.const(1))),
          m.if(m.i32.and(m.i32.le_s(m.local.get(spins, i32), m.i32.const(0)), m.global.get(CAN_WAIT, i32)),
            m.drop(m.memory.atomic.wait32(m.i32.const(GENERATION), m.local.get(gen, i32), m.i64.const(-1n as never)))),
          m.br("poll"),
        ]))]),
      ]),
    ),
  ]));
}

/**
 * The function the layer table calls for layer k of a threaded module: a split layer runs on
 * every thread between barriers; a single layer on thread 0 only.
 */
export function threadedLayer(m: binaryen.Module, fn: string, split: boolean, afterSingle: boolean): string {
  const name = `${fn}_threaded`;
  const call = m.call(fn, [], binaryen.none);
  const barrier = () => m.call(BARRIER, [], binaryen.none);
  const body = split
    ? m.block(null, [...(afterSingle ? [barrier()] : []), call, barrier()])
    : m.if(m.i32.eqz(m.global.get(TID, binaryen.i32)), call);
  m.addFunction(name, binaryen.none, binaryen.none, [], body);
  return name;
}

/** The barrier every run_layers call of a threaded module ends with (the caller then reads memory, places weights). */
export const barrierCall = (m: binaryen.Module): Expr => m.call(BARRIER, [], binaryen.none);

export const THREAD_FEATURES = binaryen.Features.Atomics;

/**
 * Whether a layer of this many flops (compiler/ops/cost.ts; 0 when kiln does not count them),
 * output elements and elements read at run time is split: below ~2 MFLOP (about 50 us on one
 * core) the barriers and the threads' wake-ups cost about what a second thread saves; 64K outputs
 * of a layer whose flops kiln does not count well (a softmax's exp, a normalization), or 256K
 * elements read by a reduction (a global pool), take about as long.
 */
export const splitWorthIt = (flops: number | undefined, outputs: number, reads: number): boolean =>
  (flops ?? 0) >= MIN_SPLIT_FLOPS || outputs >= MIN_SPLIT_OUTPUTS || reads >= MIN_SPLIT_READS;
const MIN_SPLIT_FLOPS = 2e6;

/** What splitLayers decides from, per layer in run order. */
export interface SplitCandidate {
  flops: number | undefined;
  outputs: number;
  reads: number;
  /** the layer only renames its input (every output at an input's address): it runs no code */
  alias: boolean;
}

/**
 * Which layers get the threads: those splitWorthIt, and a smaller one (at least MIN_BETWEEN_OUTPUTS
 * outputs) between two such layers (or after one, at the end): the barrier after the split layer
 * before it and the one before the split layer after it are there anyway, so splitting it costs one
 * barrier where the second thread would otherwise wait for thread 0 alone (MiniLM: the head
 * transposes and the LayerNormalizations, 49K elements each, between split MatMuls). Layers that
 * run no code (aliases) are looked through.
 */
export function splitLayers(layers: readonly SplitCandidate[]): boolean[] {
  const worth = layers.map((l) => !l.alias && splitWorthIt(l.flops, l.outputs, l.reads));
  const near = (k: number, step: -1 | 1): boolean | undefined => {
    for (let j = k + step; j >= 0 && j < layers.length; j += step) if (!layers[j].alias) return worth[j];
    return undefined; // none: the start (nothing before) or the end (run_layers' own barrier)
  };
  return layers.map((l, k) => worth[k] || (!l.alias && l.outputs >= MIN_BETWEEN_OUTPUTS && near(k, -1) === true && near(k, 1) !== false));
}
/** below this a layer's share is too short to pay for the extra barrier even between split layers */
const MIN_BETWEEN_OUTPUTS = 4096;
const MIN_SPLIT_OUTPUTS = 65536;
const MIN_SPLIT_READS = 262144;

/**
 * fn.nest(dims, body), with the outermost dim shared among the threads when `threads` is given
 * (each thread its contiguous share of dims[0], the inner dims whole).
 */
export function splitNest(fn: Fn, threads: ThreadCtx | undefined, dims: readonly Trips[], body: (idx: Local[]) => Expr[]): Expr {
  if (!threads || dims.length === 0) return fn.nest(dims, body);
  if (dims.some((d) => d === 0)) return fn.m.nop();
  const share = threadShare(fn.m, threads, dims[0]);
  return fn.loopDyn(share.lo, share.hi, (i) => [fn.nest(dims.slice(1), (rest) => body([i, ...rest]))]);
}

/**
 * for (i = 0; i < trips; i++) body(i), each trip an outlined call (Fn.outline: optimized after the
 * first few), the trips shared among the threads when `threads` is given (each its contiguous share).
 * For kernels whose items (rows, heads) are independent.
 */
export function splitItems(fn: Fn, threads: ThreadCtx | undefined, trips: Trips, body: (i: Local) => Expr[]): Expr {
  if (!threads) return fn.trips(trips, body, { outline: true });
  const share = threadShare(fn.m, threads, trips);
  return fn.loopDyn(share.lo, share.hi, (i) => {
    const inner = body(i);
    return [fn.outline(inner) ?? fn.block(inner)];
  });
}
