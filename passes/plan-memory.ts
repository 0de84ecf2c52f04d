// plan-memory: give every intermediate value an offset in one activation arena. Liveness
// intervals come from the execution order; offsets are assigned greedily, largest tensor first,
// at the lowest address that does not overlap any placed tensor whose interval intersects
// (the "greedy by size" strategy of TFLite's arena planner). Reshape-like ops alias their input
// (same bytes, no copy) and elementwise ops may write over an input that dies at that node.
// Graph inputs, outputs and constants live outside the arena.
import { sizeOf, storageBytes } from "../runtime/dtypes.js";
import type { Graph, MemoryPlan, Node } from "../compiler/ir/graph.js";
import { hasTrait } from "../compiler/ops/index.js";
import { guardOf } from "../compiler/ir/subgraph.js";
import { keepsPaddedLayout } from "../compiler/ir/padded.js";
import type { Pass } from "./pass.js";

export const ALIGN = 16;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

const isRuntime = (g: Graph, n: Node) => n.outputs.some((o) => o && !g.values.get(o)?.const);

const shapeOf = (g: Graph, name: string) => g.values.get(name)!.shape as number[];

function bytesOf(g: Graph, name: string): number {
  const v = g.values.get(name)!;
  return storageBytes(v.dtype!, sizeOf(v.shape as number[]));
}

interface Buffer {
  values: string[];
  bytes: number;
  start: number;
  end: number;
  offset: number;
  /** the last step that reads any of its values */
  lastRead: number;
}

/**
 * Greedy by size compares every buffer with every placed one whose lifetime meets it: quadratic
 * in the buffers live together (a Sum of 30,000 computed inputs). Past this many buffers the plan
 * is a linear scan in execution order instead (see placeInOrder).
 */
const GREEDY_LIMIT = 4096;

export function planMemory(graph: Graph, greedyLimit = GREEDY_LIMIT): MemoryPlan {
  const order = graph.topoOrder().filter((n) => isRuntime(graph, n));
  const pinned = new Set([...graph.inputs, ...graph.outputs]);
  const isArena = (v: string) => v !== "" && !pinned.has(v) && !graph.values.get(v)?.const;
  const bufferOf = new Map<string, Buffer>();
  const buffers: Buffer[] = [];
  const lastUse = new Map<string, number>();
  // a guard's condition is read where the guarded node's call is tested (codegen/module.ts)
  const reads = (n: Node) => [...n.inputs, ...guardOf(n).map(([c]) => c)];
  order.forEach((n, t) => reads(n).forEach((i) => i && lastUse.set(i, t)));

  order.forEach((n, t) => {
    for (const o of n.outputs) {
      if (!isArena(o)) continue;
      // share the input's buffer: aliasing ops always; elementwise ops when the input dies here
      const src = n.inputs[0];
      const srcBuf = src ? bufferOf.get(src) : undefined;
      const sameSize = srcBuf && bytesOf(graph, src) === bytesOf(graph, o);
      const join = (b: Buffer) => {
        b.values.push(o);
        b.lastRead = Math.max(b.lastRead, lastUse.get(o) ?? -1);
        bufferOf.set(o, b);
      };
      // (with symbolic dims: only where every element stays at its byte in the padded layout)
      const layout = !graph.symbolic || !src || keepsPaddedLayout(shapeOf(graph, src), graph.symbolic.dims.get(src), shapeOf(graph, o), graph.symbolic.dims.get(o));
      if (srcBuf && sameSize && layout && hasTrait(n, "alias") && n.outputs.filter((x) => x).length === 1) {
        join(srcBuf);
        continue;
      }
      // fused elementwise nodes run the same shared loop over their body, so the same rule holds
      const elementwise = hasTrait(n, "in-place") || n.meta?.kind === "elementwise";
      if (elementwise && n.outputs.length === 1) {
        const oShape = (graph.values.get(o)!.shape as number[]).join();
        const donor = n.inputs.find((i) => {
          const b = i ? bufferOf.get(i) : undefined;
          return b && b.end <= t && lastUse.get(i) === t && (graph.values.get(i)!.shape as number[]).join() === oShape &&
            bytesOf(graph, i) === bytesOf(graph, o) && b.lastRead <= t;
        });
        if (donor) {
          join(bufferOf.get(donor)!);
          continue;
        }
      }
      const b: Buffer = { values: [o], bytes: align(bytesOf(graph, o)), start: t, end: t, offset: -1, lastRead: lastUse.get(o) ?? -1 };
      buffers.push(b);
      bufferOf.set(o, b);
    }
    // extend the lifetime of every buffer read or written here
    for (const v of [...reads(n), ...n.outputs]) {
      const b = v ? bufferOf.get(v) : undefined;
      if (b) b.end = Math.max(b.end, t);
    }
  });

  if (buffers.length <= greedyLimit) placeBySize(buffers);
  else placeInOrder(buffers);

  const offsets = new Map<string, number>();
  for (const b of buffers) for (const v of b.values) offsets.set(v, b.offset);
  const arenaBytes = buffers.reduce((a, b) => Math.max(a, b.offset + b.bytes), 0);
  const naiveBytes = [...offsets.keys()].reduce((a, v) => a + align(bytesOf(graph, v)), 0);
  // the most bytes live at one step: a sweep over the buffers' starts and ends
  const delta = new Array<number>(order.length + 1).fill(0);
  for (const b of buffers) {
    delta[b.start] += b.bytes;
    delta[b.end + 1] -= b.bytes;
  }
  let lowerBoundBytes = 0;
  for (let t = 0, live = 0; t < order.length; t++) lowerBoundBytes = Math.max(lowerBoundBytes, (live += delta[t]));
  return { offsets, arenaBytes, naiveBytes, lowerBoundBytes };
}

/** Greedy by size: biggest first, at the lowest offset clear of every placed buffer whose lifetime meets it. */
function placeBySize(buffers: Buffer[]): void {
  const placed: Buffer[] = [];
  for (const b of [...buffers].sort((x, y) => y.bytes - x.bytes || x.start - y.start)) {
    const conflicts = placed.filter((p) => p.start <= b.end && b.start <= p.end).sort((x, y) => x.offset - y.offset);
    let offset = 0;
    for (const c of conflicts) {
      if (offset + b.bytes <= c.offset) break;
      offset = Math.max(offset, c.offset + c.bytes);
    }
    b.offset = offset;
    placed.push(b);
  }
}

/**
 * Linear scan: in order of first write, each buffer takes the lowest free gap that fits (first
 * fit), and its bytes are free again after its last step. Free gaps are kept sorted by offset and
 * merged with their neighbours, so the cost follows the gaps, not the buffers ever placed.
 */
function placeInOrder(buffers: Buffer[]): void {
  const byStart = [...buffers].sort((x, y) => x.start - y.start);
  const byEnd = [...buffers].sort((x, y) => x.end - y.end);
  const gaps: { offset: number; bytes: number }[] = [];
  let top = 0, freed = 0;
  const release = (b: Buffer) => {
    let k = gaps.findIndex((g) => g.offset > b.offset);
    if (k < 0) k = gaps.length;
    gaps.splice(k, 0, { offset: b.offset, bytes: b.bytes });
    // merge with the next gap, then with the previous one
    if (k + 1 < gaps.length && gaps[k].offset + gaps[k].bytes === gaps[k + 1].offset) gaps[k].bytes += gaps.splice(k + 1, 1)[0].bytes;
    if (k > 0 && gaps[k - 1].offset + gaps[k - 1].bytes === gaps[k].offset) gaps[k - 1].bytes += gaps.splice(k, 1)[0].bytes;
    // a gap that reaches the top is no gap: the top comes down
    const last = gaps[gaps.length - 1];
    if (last && last.offset + last.bytes === top) {
      top = last.offset;
      gaps.pop();
    }
  };
  for (const b of byStart) {
    while (freed < byEnd.length && byEnd[freed].end < b.start) release(byEnd[freed++]);
    const k = gaps.findIndex((g) => g.bytes >= b.bytes);
    if (k < 0) {
      b.offset = top;
      top += b.bytes;
      continue;
    }
    b.offset = gaps[k].offset;
    gaps[k].offset += b.bytes;
    gaps[k].bytes -= b.bytes;
    if (gaps[k].bytes === 0) gaps.splice(k, 1);
  }
}

export const planMemoryPass: Pass = {
  name: "plan-memory",
  description: "assigns intermediates offsets in one arena from liveness intervals (greedy by size), aliasing reshapes and reusing inputs in place for elementwise ops",
  recordsOnly: true,
  run(graph) {
    const plan = (graph.memoryPlan = planMemory(graph));
    return { arenaBytes: plan.arenaBytes, naiveBytes: plan.naiveBytes, bytesSaved: plan.naiveBytes - plan.arenaBytes, lowerBoundBytes: plan.lowerBoundBytes };
  },
};

/** The plan as text, one line per arena value in execution order: `%v @offset +bytes`. */
export function printMemoryPlan(graph: Graph): string {
  const plan = graph.memoryPlan;
  if (!plan) return "no plan\n";
  const lines = [`arena ${plan.arenaBytes} bytes (naive ${plan.naiveBytes}, lower bound ${plan.lowerBoundBytes})`];
  for (const n of graph.topoOrder()) {
    for (const o of n.outputs) {
      const off = plan.offsets.get(o);
      if (off !== undefined) lines.push(`%${o} @${off} +${bytesOf(graph, o)}`);
    }
  }
  return lines.join("\n") + "\n";
}
