// The layer-wise weight scheduler: a session's weights go into memory layer by layer, each layer's
// pieces (manifest layers[].weights) just before that layer first runs, instead of the whole image
// at load. Load (bytes -> ready) is then compile + instantiate; the first run pays for the weights
// it reaches, as a load would have (the same bytes, copied or packed once, the same page faults),
// and every later run calls `run` straight through. Pieces two layers share are placed once.
// "eager" places everything at load, for callers who want the first run as fast as the rest.
// Each piece that carries a checksum is checked in memory once placed: a damaged one stops the
// session (INVALID_ARTIFACT naming the layer) before the layer that reads it runs, for good.
// A compact artifact's derived pieces (layers[].derived) are computed by the module's DERIVE
// right after the layer's own pieces are placed, and checked the same way.
// Weights read asynchronously (a sidecar file, a Blob, a URL) come with their own loader
// (runtime/sources.ts, its own entry so a bundle without them stays small): the scheduler then
// hands the session that loader, which reads each layer's pieces as the first run reaches it.
// Such artifacts are compiled prepacked: they have no derived pieces.
import { hex, memoryHash, type MemoryHash } from "./checksum.js";
import { KilnError } from "./errors.js";
import type { DerivedSpan, Manifest, WeightSpan } from "./manifest.js";
import { imageBytes, imagePosition, placeImage, type WeightsWriter } from "./weights.js";

export type WeightPlacement = "lazy" | "eager";

/** Reads layers' pieces into memory asynchronously and checks them (runtime/sources.ts makes one per session). */
export interface LayerLoader {
  /** read layer k's pieces (undefined: those no layer reads) unless read already; resolves to the bytes read */
  load(k: number | undefined): Promise<number>;
  /** one run: runLayers(from, to) for every layer, each once its pieces are in memory (the next layer's read while it runs); then end() */
  run(runLayers: (from: number, to: number) => void): Promise<boolean>;
  /** after a run: true when every piece is in memory for good (the source is let go), false when runs read them again */
  end(): Promise<boolean>;
}

/** A weights source from runtime/sources.ts: it makes the session's loader. */
export interface StreamedWeights {
  /**
   * `hash` is the session's checksum over `memory` (the loader checks each piece with it): the
   * session's, so that a source made by another copy of the runtime's modules (the CLI's bundle
   * beside dist/) checks a shared memory with the module the session's thread pool provided
   */
  loader(memory: WebAssembly.Memory, manifest: Manifest, hash: MemoryHash): LayerLoader;
}

export class WeightScheduler {
  /** memory offsets of the pieces already placed */
  private readonly placed = new Set<number>();
  private source: Uint8Array | WeightsWriter | undefined;
  /** the loader of weights read asynchronously, until the first run has read them all */
  stream: LayerLoader | undefined;
  private readonly position: (addr: number) => number;
  private readonly hash: MemoryHash;
  /** the damaged piece's error, once one was found: the session never runs again */
  private failure: KilnError | undefined;
  /** true until every piece is in memory */
  pending: boolean;

  /** The manifest is one runtime/validate.ts checked against this memory; `derive` is the module's DERIVE export. */
  constructor(private readonly memory: WebAssembly.Memory, private readonly manifest: Manifest, weights: Uint8Array | WeightsWriter | StreamedWeights | undefined,
    placement: WeightPlacement = "lazy", private readonly derive?: (k: number) => unknown) {
    const { weights: where, regions } = manifest.memory;
    const size = imageBytes(regions);
    this.position = imagePosition(regions, 0);
    this.hash = memoryHash(memory);
    this.pending = where !== "data" && size > 0;
    if (where === "data") this.verifyAll(); // the engine copied the data segments at instantiation
    if (!this.pending) return;
    if ((weights as StreamedWeights)?.loader) {
      this.stream = (weights as StreamedWeights).loader(memory, manifest, this.hash);
      return;
    }
    if (typeof weights !== "function" && (!weights || (weights as Uint8Array).length !== size)) {
      const got = weights ? `${(weights as Uint8Array).length} bytes` : "none";
      throw new KilnError("INVALID_ARTIFACT", `this module keeps its ${size} bytes of weights ${where === "section" ? "in its kiln.weights section" : "outside (pass them as createSession(wasm, { weights }))"}; got ${got}`);
    }
    this.source = weights as Uint8Array | WeightsWriter;
    if (placement === "eager") this.placeAll();
  }

  /** Place the pieces layer k reads that are not in memory yet; the bytes written (for profiles). */
  placeLayer(k: number): number {
    if (this.failure) throw this.failure;
    if (this.stream) throw new KilnError("BAD_OPTION", "weights from a source: use run()");
    if (!this.pending) return 0;
    const l = this.manifest.layers[k];
    // its stored pieces, then those the module derives from them
    return this.place(l.weights, k) + this.place(l.derived ?? [], k, true);
  }

  /** Place what no layer reads (constant graph outputs) and let the source go: every piece is in memory. */
  finish(): void {
    if (this.failure) throw this.failure;
    if (!this.pending) return;
    this.place(this.manifest.memory.unclaimed);
    this.pending = false;
    this.letGo();
  }

  /** Copy stored pieces (or run DERIVE for derived ones) not in memory yet, each checked; the bytes written. */
  private place(spans: readonly (WeightSpan | DerivedSpan)[], layer?: number, derived = false): number {
    const bytes = new Uint8Array(this.memory.buffer);
    const source = this.source!;
    let written = 0;
    for (const w of spans) {
      const [offset, size] = w;
      if (this.placed.has(offset)) continue;
      if (derived) this.derive!(w[3]!);
      else if (typeof source === "function") source(bytes, (addr) => addr, { offset, bytes: size });
      else {
        const at = this.position(offset);
        bytes.set(source.subarray(at, at + size), offset);
      }
      this.verify(w, layer, derived);
      this.placed.add(offset);
      written += size;
    }
    return written;
  }

  private placeAll(): void {
    const bytes = new Uint8Array(this.memory.buffer);
    const source = this.source!;
    if (typeof source === "function") source(bytes, (addr) => addr);
    else placeImage(bytes, this.manifest.memory.regions, source);
    this.verifyAll();
    this.manifest.layers.forEach((l, k) => this.place(l.derived ?? [], k, true));
    this.pending = false;
    this.letGo();
  }

  /** every piece is in memory: drop the source, and close it when it has a file open (runtime/file-artifact.ts) */
  private letGo(): void {
    const source = this.source as { close?: () => void } | undefined;
    this.source = undefined;
    source?.close?.();
  }

  /** Check every piece in memory, layer by layer (the error names the first layer that reads a damaged one). */
  private verifyAll(): void {
    const seen = new Set<number>();
    const check = (spans: readonly WeightSpan[], layer?: number) => {
      for (const w of spans) if (!seen.has(w[0])) {
        seen.add(w[0]);
        this.verify(w, layer);
      }
    };
    this.manifest.layers.forEach((l, k) => check(l.weights, k));
    check(this.manifest.memory.unclaimed);
  }

  private verify([offset, size, want]: WeightSpan | DerivedSpan, layer: number | undefined, derived = false): void {
    if (want == null) return; // written by the compiler in this process (validate.ts allows it only then)
    const got = this.hash(offset, size);
    if (got === want) return;
    const l = layer === undefined ? undefined : this.manifest.layers[layer];
    const owner = l ? `layer ${JSON.stringify(l.name)}` : "a constant output (memory.unclaimed)";
    this.failure = new KilnError("INVALID_ARTIFACT",
      `the weights of ${owner} are damaged: the piece at memory offset ${offset} (${size} bytes, ${derived ? "derived" : `image position ${this.position(offset)}`}) has checksum ${hex(got)} where the manifest says ${hex(want)}; the artifact was altered after kiln compile wrote it: recompile the model (or fetch the file again)`,
      l ? { node: l.name, op: l.op } : {});
    throw this.failure;
  }
}
