// Weights under a memory budget: instead of every weight resident in linear memory, each layer's
// pieces (its constant inputs and its kernel's packed constants) get addresses in a ring of weight
// slots of at most the budget's bytes, allocated like the activation arena from lifetimes. A piece
// first read by the layer at reading step s lives over [s - 1, last step of its run of consecutive
// readers]: it can be read from the source while the previous reading layer computes (prefetch).
// A piece read again after a gap (tied weights, filter banks cse made one) is read again into the
// same slot before each later run of readers, and gives the slot up in between. Where that pair does
// not fit the ring, the step's pieces live over [s, last] instead and are read after the previous
// layer ran (the manifest lists those layers in memory.stream.wait). The kernels do not change:
// the slot addresses are in the code, as the arena's are. The runtime reads layer k's pieces
// before layer k on every run (runtime/sources.ts), each from its position in the stream image:
// the pieces in order of first use, concatenated.
import { memoryHash } from "../runtime/checksum.js";
import { KilnError } from "../runtime/errors.js";
import type { WeightRegion, WeightSpan } from "../runtime/manifest.js";
import { imageBytes, imagePosition } from "../runtime/weights.js";
import type { Graph, Node, Tensor } from "../compiler/ir/graph.js";
import type { KernelCtx, LazyConstant } from "./kernels/kernel.js";
import { ALIGN, align, type MemoryLayout } from "./placement.js";
import { constantPiece, tensorPiece, writePiece, type Piece, type WeightsImage } from "./weights-image.js";

/** What one layer reads from the weights: its constant inputs (by name) and its kernel's constants. */
export interface StreamLayer {
  name: string;
  op: string;
  tensors: { name: string; tensor: Tensor }[];
  constants: readonly (Uint8Array | LazyConstant)[];
}

export interface StreamedPiece {
  piece: Piece;
  /** its byte position in the stream image */
  position: number;
}

export interface StreamPlan {
  /** per layer (job): the pieces it is the first to read, read before it runs */
  firstAt: StreamedPiece[][];
  /** per layer: the slot address of each of its kernel's constants, in order */
  constantAddrs: number[][];
  /** the slot address of each streamed tensor, by name */
  tensorAddrs: Map<string, number>;
  /** layers whose pieces are read only once the previous layers ran: the pair did not fit the ring */
  wait: Set<number>;
  /** the stream image's size: every piece once */
  bytes: number;
  /** every piece, in order of position */
  pieces: StreamedPiece[];
}

interface Alloc {
  from: number;
  to: number;
  addr: number;
  size: number;
}

/** Slots in [ring, ring + budget) for the pieces of `layers`, in execution order. */
export function planStream(layers: readonly StreamLayer[], ring: number, budget: number): StreamPlan {
  // each distinct piece once: a tensor by name, a derived constant by (tensor, recipe), others alone
  const byName = new Map<string, Piece>();
  const derived = new Map<Tensor, Map<string, Piece>>();
  const reads = layers.map((l) => {
    const mine = new Set<Piece>();
    for (const t of l.tensors) {
      let p = byName.get(t.name);
      if (!p) byName.set(t.name, (p = tensorPiece(-1, t.tensor)));
      mine.add(p);
    }
    const constants = l.constants.map((c) => {
      const src = c instanceof Uint8Array ? undefined : c.source;
      let p = src && derived.get(src.tensor)?.get(src.recipe);
      if (!p) {
        p = constantPiece(-1, c);
        if (src) derived.set(src.tensor, (derived.get(src.tensor) ?? new Map()).set(src.recipe, p));
      }
      mine.add(p);
      return p;
    });
    return { pieces: [...mine].filter((p) => p.size > 0), constants };
  });
  // reading steps: the layers that read any piece; each piece's first and last step
  const stepOf = new Map<number, number>();
  reads.forEach((r, k) => r.pieces.length && stepOf.set(k, stepOf.size));
  // a piece's uses in runs of consecutive steps: it holds its slot over each run only, and is read
  // again (into the same slot) before a later run, so a piece shared across the model (tied
  // weights, equal filter banks after cse) does not keep its bytes of the ring in between
  const uses = new Map<Piece, { start: number; end: number; layer: number }[]>(), firstLayer = new Map<Piece, number>();
  reads.forEach((r, k) => {
    for (const p of r.pieces) {
      const s = stepOf.get(k)!;
      if (!firstLayer.has(p)) firstLayer.set(p, k);
      const runs = uses.get(p) ?? (uses.set(p, []), uses.get(p)!);
      const last = runs[runs.length - 1];
      if (last && last.end >= s - 1) last.end = s;
      else runs.push({ start: s, end: s, layer: k });
    }
  });

  // the layer whose own pieces take the most bytes: no budget under that runs the model
  const own = reads.map((r) => r.pieces.reduce((a, p) => a + align(p.size), 0));
  const largest = own.indexOf(Math.max(0, ...own));
  let live: Alloc[] = [];
  const wait = new Set<number>();
  const firstAt: StreamedPiece[][] = layers.map(() => []);
  const pieces: StreamedPiece[] = [];
  let position = 0;
  for (const [k, s] of stepOf) {
    live = live.filter((a) => a.to >= s - 1); // dead before this step's earliest start
    const fresh = reads[k].pieces.filter((p) => firstLayer.get(p) === k).sort((a, b) => b.size - a.size);
    let placed = s > 0 ? place(fresh, s - 1) : undefined;
    if (!placed) {
      if (s > 0) wait.add(k);
      placed = place(fresh, s);
    }
    if (!placed) {
      const l = layers[k];
      const need = fresh.reduce((a, p) => a + align(p.size), 0);
      const held = live.filter((a) => a.to >= s).reduce((a, x) => a + x.size, 0);
      const most = largest >= 0 && own[largest] > need + held && largest !== k
        ? ` (layer ${JSON.stringify(layers[largest].name)} alone reads ${own[largest]} bytes: no budget under that runs the model)` : "";
      throw new KilnError("BAD_OPTION", `layer ${JSON.stringify(l.name)} (${l.op}) reads ${need} bytes of weights${held ? ` while ${held} bytes of earlier layers' weights are still in use` : ""}, more than the memory budget of ${budget} bytes: raise it to at least ${Math.max(need + held, own[largest] ?? 0)} bytes${most}, or compile without one`, { node: l.name, op: l.op });
    }
    live.push(...placed);
    for (const p of fresh) {
      const sp = { piece: p, position };
      position += p.size;
      pieces.push(sp);
      // read before its first layer, and again before the first layer of each later run of uses
      for (const run of uses.get(p)!) firstAt[run.layer].push(sp);
    }
  }
  const tensorAddrs = new Map([...byName].map(([name, p]) => [name, p.addr]));
  return { firstAt, constantAddrs: reads.map((r) => r.constants.map((p) => p.addr)), tensorAddrs, wait, bytes: position, pieces };

  /**
   * First fit of the pieces, each at one address free over all its runs of uses (the first from
   * `from`, a later one from the step before it, when it is read again), or undefined (nothing
   * placed) when one does not fit.
   */
  function place(fresh: readonly Piece[], from: number): Alloc[] | undefined {
    const mine: Alloc[] = [];
    for (const p of fresh) {
      const spans = uses.get(p)!.map((run, i) => ({ from: i ? run.start - 1 : from, to: run.end }));
      const size = align(p.size);
      const taken = [...live, ...mine].filter((a) => spans.some((t) => a.from <= t.to && t.from <= a.to));
      // a piece read again later is fixed in place for all its runs: from the ring's top down, so
      // such pieces gather at one end and leave the rest in one piece for the others
      const addr = spans.length > 1 ? fitFromTop(taken, size) : fitFromBottom(taken, size);
      if (addr === undefined) return undefined;
      for (const t of spans) mine.push({ ...t, addr, size });
    }
    // each piece's allocations are consecutive in `mine`, in fresh's order
    let i = 0;
    for (const p of fresh) {
      p.addr = ring + mine[i].addr;
      i += uses.get(p)!.length;
    }
    return mine;
  }

  function fitFromBottom(taken: Alloc[], size: number): number | undefined {
    let addr = 0;
    for (const a of [...taken].sort((x, y) => x.addr - y.addr)) {
      if (addr + size <= a.addr) break;
      addr = Math.max(addr, a.addr + a.size);
    }
    return addr + size <= budget ? addr : undefined;
  }

  function fitFromTop(taken: Alloc[], size: number): number | undefined {
    let end = budget;
    for (const a of [...taken].sort((x, y) => y.addr + y.size - (x.addr + x.size))) {
      if (a.addr + a.size <= end - size) break;
      end = Math.min(end, a.addr);
    }
    return end - size >= 0 ? end - size : undefined;
  }
}

/** The budget's ring as it is reserved: whole aligned slots. */
export const ringBytes = (budget: number) => Math.floor(budget / ALIGN) * ALIGN;

export const ringRegion = (offset: number, budget: number): WeightRegion => ({ offset, bytes: ringBytes(budget) });

/** A layer as module.ts prepared it: what it reads, and its kernel's constants. */
interface PreparedLayer {
  node: Node;
  ctx: KernelCtx;
}

/**
 * Plan the slots of the layers' streamed weights (placement.ts placeWeights left them without an
 * address) and give every tensor and kernel constant its slot address before any layer is emitted.
 */
export function planLayerSlots(graph: Graph, layout: MemoryLayout, jobs: readonly PreparedLayer[], weights: { offset: number; streamed: ReadonlySet<string> }, budget: number): StreamPlan {
  const plan = planStream(jobs.map(({ node, ctx }) => ({
    name: node.name,
    op: node.op,
    tensors: node.inputs.flatMap((i, k) => (i && weights.streamed.has(i) && !ctx.prep.unread?.includes(k) ? [{ name: i, tensor: graph.values.get(i)!.const! }] : [])),
    constants: ctx.prep.constants ?? [],
  })), weights.offset, ringBytes(budget));
  for (const [name, addr] of plan.tensorAddrs) layout.slots.get(name)!.addr = addr;
  jobs.forEach(({ ctx }, k) => ctx.constantAddrs.push(...plan.constantAddrs[k]));
  return plan;
}

/** Told each piece of the stream image as it is written for its checksum (kiln compile writes the weights file so: one pass). */
export type StreamSink = (position: number, bytes: Uint8Array) => void;

/** The stream image: every piece once, at its position; written piece by piece (never all in memory at once by kiln). */
export interface StreamImage {
  bytes: number;
  pieces: { position: number; size: number; write(into: Uint8Array): void }[];
}

/**
 * The streamed pieces, then the resident ones (constant graph outputs, `image`, at their regions'
 * positions after them), each with its kiln32 checksum: the manifest's spans (per layer, and the
 * resident ones as memory.unclaimed), its regions (the ring first) and the image to write.
 */
export function sealStream(plan: StreamPlan, image: WeightsImage, regions: readonly WeightRegion[], ring: WeightRegion, hashed = true, sink?: StreamSink) {
  const residentAt = imagePosition(regions, plan.bytes);
  const resident = image.pieces.filter((p) => p.size);
  const all = [...plan.pieces, ...resident.map((piece) => ({ piece, position: residentAt(piece.addr) }))];
  // each piece written once into a scratch memory the size of the largest and hashed there; not
  // when this process writes the pieces itself as layers run (load()'s JIT): no checksum (null)
  const largest = hashed ? all.reduce((a, { piece }) => Math.max(a, piece.size), 0) : 0;
  const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(largest / 65536)) });
  const hash = memoryHash(memory);
  const spans = new Map<Piece, WeightSpan>();
  for (const { piece, position } of all) {
    if (hashed) writePiece(piece, new Uint8Array(memory.buffer, 0, piece.size), 0);
    if (hashed) sink?.(position, new Uint8Array(memory.buffer, 0, piece.size));
    spans.set(piece, [piece.addr, piece.size, hashed ? hash(0, piece.size) : null, position]);
  }
  return {
    layer: (k: number) => plan.firstAt[k].map(({ piece }) => spans.get(piece)!),
    resident: resident.map((p) => spans.get(p)!),
    regions: [ring, ...regions],
    image: {
      bytes: plan.bytes + imageBytes(regions),
      pieces: all.map(({ piece, position }) => ({ position, size: piece.size, write: (into: Uint8Array) => writePiece(piece, into, 0) })),
    } satisfies StreamImage,
  };
}
