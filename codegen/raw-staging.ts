// Where a compact artifact's raw weights that only feed a derived form go: Winograd's 3x3 filters
// (2.2 MB of SqueezeNet's 4.9 MB) are read by no layer at run time, only by the module's derive
// code when their layer's weights are placed, and then never again. Each gets a place of its own in
// the weights area (codegen/placement.ts), whose pages the first run maps in and keeps. Instead it
// is staged at the end of the derived region of a later layer, which nothing writes before that
// layer's weights are placed (then its derive overwrites the raw bytes, which were used already):
// the raw filter's own slot is never touched (runtime/early-memory.ts touchedRanges leaves it out). Each
// staged piece still has its own address, so the image, its checksums and the manifest's spans
// work as for any piece; the host's derived checksum is checked after its derive, as always.
import type { Graph } from "../compiler/ir/graph.js";
import { halfSourceOf } from "../compiler/ir/values.js";
import type { DerivedSpan } from "../runtime/manifest.js";
import type { MemoryLayout } from "./placement.js";
import { ALIGN } from "./placement.js";
import { storageBytes } from "../runtime/dtypes.js";

export interface StagingInput {
  graph: Graph;
  layout: MemoryLayout;
  /** the weights layers read at run time (never staged) */
  runtimeRead: ReadonlySet<string>;
  /** each derive source's readers: the indices (in layer order) of the layers whose derived forms read it */
  sources: ReadonlyMap<string, readonly number[]>;
  /** per layer, in order, the derived spans its placement computes (a span shared with an earlier layer is computed there) */
  derived: readonly (readonly DerivedSpan[])[];
}

/** Moves the slots of the raw weights it can stage (layout.slots' addr); the names moved. */
export function stageRawSources({ graph, layout, runtimeRead, sources, derived }: StagingInput): string[] {
  // the layer whose placement first computes each derived span, and the spans by that layer
  const first = new Map<number, number>();
  derived.forEach((spans, k) => spans.forEach(([addr]) => first.has(addr) || first.set(addr, k)));
  const hosts = [...first.entries()].map(([addr, k]) => ({ addr, k, bytes: derived[k].find(([a]) => a === addr)![1], used: false }));
  const moved: string[] = [];
  for (const [name, readers] of sources) {
    if (runtimeRead.has(name) || graph.outputs.includes(name) || !readers.length) continue;
    const slot = layout.slots.get(name);
    const t = graph.values.get(name)?.const;
    if (!slot || !t || halfSourceOf(t)) continue;
    const bytes = storageBytes(slot.dtype, slot.size);
    const last = Math.max(...readers);
    // a later layer's derived region, past the raw bytes by an aligned step at least (its start stays its own)
    const host = hosts.find((h) => !h.used && h.k > last && h.bytes >= bytes + ALIGN);
    if (!host) continue;
    host.used = true;
    slot.addr = Math.floor((host.addr + host.bytes - bytes) / ALIGN) * ALIGN;
    moved.push(name);
  }
  return moved;
}
