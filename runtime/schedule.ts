// The layer-wise weight scheduler: a session's weights go into memory layer by layer, each layer's
// pieces (manifest layers[].weights) just before that layer first runs, instead of the whole image
// at load. Load (bytes -> ready) is then compile + instantiate; the first run pays for the weights
// it reaches, as a load would have (the same bytes, copied or packed once, the same page faults),
// and every later run calls `run` straight through. Pieces two layers share are placed once.
// "eager" places everything at load, for callers who want the first run as fast as the rest.
import { KilnError } from "./errors.js";
import type { Manifest, WeightSpan } from "./manifest.js";
import { imageBytes, imagePosition, placeImage, type WeightsWriter } from "./weights.js";

export type WeightPlacement = "lazy" | "eager";

export class WeightScheduler {
  /** memory offsets of the pieces already placed */
  private readonly placed = new Set<number>();
  private source: Uint8Array | WeightsWriter | undefined;
  private readonly position: (addr: number) => number;
  /** true until every piece is in memory */
  pending: boolean;

  constructor(private readonly memory: WebAssembly.Memory, private readonly manifest: Manifest, weights: Uint8Array | WeightsWriter | undefined, placement: WeightPlacement = "lazy") {
    const { weights: where, regions } = manifest.memory;
    const size = imageBytes(regions);
    this.position = imagePosition(regions, 0);
    this.pending = where !== "data" && size > 0;
    if (!this.pending) return;
    if (typeof weights !== "function" && (!weights || weights.length !== size)) {
      const got = weights ? `${weights.length} bytes` : "none";
      throw new KilnError("INVALID_ARTIFACT", `this module keeps its ${size} bytes of weights ${where === "section" ? "in its kiln.weights section" : "outside (pass them as createSession(wasm, { weights }))"}; got ${got}`);
    }
    this.source = weights;
    // a module from before the scheduler lists no layer's pieces: it can only be placed whole
    const listed = manifest.memory.unclaimed !== undefined && manifest.layers.every((l) => l.weights);
    if (placement === "eager" || !listed) this.placeAll();
    else checkSpans(manifest);
  }

  /** Place the pieces layer k reads that are not in memory yet. */
  placeLayer(k: number): void {
    if (this.pending) this.place(this.manifest.layers[k].weights ?? []);
  }

  /** Place what no layer reads (constant graph outputs) and let the source go: every piece is in memory. */
  finish(): void {
    if (!this.pending) return;
    this.place(this.manifest.memory.unclaimed ?? []);
    this.pending = false;
    this.source = undefined;
  }

  private place(spans: readonly WeightSpan[]): void {
    const bytes = new Uint8Array(this.memory.buffer);
    const source = this.source!;
    for (const [offset, size] of spans) {
      if (this.placed.has(offset)) continue;
      this.placed.add(offset);
      if (typeof source === "function") source(bytes, (addr) => addr, { offset, bytes: size });
      else {
        const at = this.position(offset);
        bytes.set(source.subarray(at, at + size), offset);
      }
    }
  }

  private placeAll(): void {
    const bytes = new Uint8Array(this.memory.buffer);
    const source = this.source!;
    if (typeof source === "function") source(bytes, (addr) => addr);
    else placeImage(bytes, this.manifest.memory.regions, source);
    this.pending = false;
    this.source = undefined;
  }
}

/** Every listed piece lies inside one region of the image: a damaged manifest is refused, never copied from the wrong place. */
function checkSpans(manifest: Manifest): void {
  const { regions, unclaimed } = manifest.memory;
  const spans = [...manifest.layers.flatMap((l) => (l.weights ?? []).map((w) => [l.name, w] as const)), ...(unclaimed ?? []).map((w) => ["(unclaimed)", w] as const)];
  for (const [layer, [offset, bytes]] of spans) {
    const inside = Number.isInteger(offset) && Number.isInteger(bytes) && bytes > 0 && regions.some((r) => offset >= r.offset && offset + bytes <= r.offset + r.bytes);
    if (!inside) throw new KilnError("INVALID_ARTIFACT", `the manifest lists weights [${offset}, +${bytes}] for layer ${JSON.stringify(layer)} outside the weights image; the artifact is damaged, recompile it`);
  }
}
