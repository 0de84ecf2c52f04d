// plan-memory: give every intermediate value an offset in one activation arena. Liveness
// intervals come from the execution order; offsets are assigned greedily, largest tensor first,
// at the lowest address that does not overlap any placed tensor whose interval intersects
// (the "greedy by size" strategy of TFLite's arena planner). Reshape-like ops alias their input
// (same bytes, no copy) and elementwise ops may write over an input that dies at that node.
// Graph inputs, outputs and constants live outside the arena.
import { sizeOf, storageBytes } from "../runtime/dtypes.js";
import type { Graph, MemoryPlan, Node } from "../compiler/ir/graph.js";
import { hasTrait } from "../compiler/ops/index.js";
import type { Pass } from "./pass.js";

export const ALIGN = 16;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

const isRuntime = (g: Graph, n: Node) => n.outputs.some((o) => o && !g.values.get(o)?.const);

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
}

export function planMemory(graph: Graph): MemoryPlan {
  const order = graph.topoOrder().filter((n) => isRuntime(graph, n));
  const pinned = new Set([...graph.inputs, ...graph.outputs]);
  const isArena = (v: string) => v !== "" && !pinned.has(v) && !graph.values.get(v)?.const;
  const bufferOf = new Map<string, Buffer>();
  const buffers: Buffer[] = [];
  const lastUse = new Map<string, number>();
  order.forEach((n, t) => n.inputs.forEach((i) => i && lastUse.set(i, t)));

  order.forEach((n, t) => {
    for (const o of n.outputs) {
      if (!isArena(o)) continue;
      // share the input's buffer: aliasing ops always; elementwise ops when the input dies here
      const src = n.inputs[0];
      const srcBuf = src ? bufferOf.get(src) : undefined;
      const sameSize = srcBuf && bytesOf(graph, src) === bytesOf(graph, o);
      if (srcBuf && sameSize && hasTrait(n, "alias") && n.outputs.filter((x) => x).length === 1) {
        srcBuf.values.push(o);
        bufferOf.set(o, srcBuf);
        continue;
      }
      // fused elementwise nodes run the same shared loop over their body, so the same rule holds
      const elementwise = hasTrait(n, "in-place") || n.meta?.kind === "elementwise";
      if (elementwise && n.outputs.length === 1) {
        const oShape = (graph.values.get(o)!.shape as number[]).join();
        const donor = n.inputs.find((i) => {
          const b = i ? bufferOf.get(i) : undefined;
          return b && b.end <= t && lastUse.get(i) === t && (graph.values.get(i)!.shape as number[]).join() === oShape &&
            bytesOf(graph, i) === bytesOf(graph, o) &&
            b.values.every((v) => (lastUse.get(v) ?? -1) <= t);
        });
        if (donor) {
          const b = bufferOf.get(donor)!;
          b.values.push(o);
          bufferOf.set(o, b);
          continue;
        }
      }
      const b: Buffer = { values: [o], bytes: align(bytesOf(graph, o)), start: t, end: t, offset: -1 };
      buffers.push(b);
      bufferOf.set(o, b);
    }
    // extend the lifetime of every buffer read or written here
    for (const v of [...n.inputs, ...n.outputs]) {
      const b = v ? bufferOf.get(v) : undefined;
      if (b) b.end = Math.max(b.end, t);
    }
  });

  // greedy by size: biggest first, lowest non-overlapping offset among lifetime-intersecting buffers
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

  const offsets = new Map<string, number>();
  for (const b of buffers) for (const v of b.values) offsets.set(v, b.offset);
  const arenaBytes = Math.max(0, ...buffers.map((b) => b.offset + b.bytes));
  const naiveBytes = [...offsets.keys()].reduce((a, v) => a + align(bytesOf(graph, v)), 0);
  let lowerBoundBytes = 0;
  for (let t = 0; t < order.length; t++) {
    const live = buffers.filter((b) => b.start <= t && t <= b.end).reduce((a, b) => a + b.bytes, 0);
    lowerBoundBytes = Math.max(lowerBoundBytes, live);
  }
  return { offsets, arenaBytes, naiveBytes, lowerBoundBytes };
}

export const planMemoryPass: Pass = {
  name: "plan-memory",
  description: "assigns intermediates offsets in one arena from liveness intervals (greedy by size), aliasing reshapes and reusing inputs in place for elementwise ops",
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
