// The weights image: every constant a layer reads at run time (the model's weights, and kernels'
// packed or transformed forms of them), as pieces at their memory addresses. The image is what the
// artifact's weights section holds and what the runtime writes into memory, layer by layer.
import { memoryHash } from "../runtime/checksum.js";
import { sizeOf, storageBytes } from "../runtime/dtypes.js";
import type { WeightRegion } from "../runtime/manifest.js";
import { imageBytes, imagePosition, type WeightsWriter } from "../runtime/weights.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { externalRef, tensorBytes, writeTensorBytes } from "../compiler/ir/raw.js";
import { isDeferred } from "../compiler/ir/scaled.js";
import { fillRepeated, isLazySplat, splatBytes, splatValue } from "../compiler/ir/splat.js";
import type { LazyConstant, TensorRef } from "./kernels/kernel.js";

/**
 * A piece of the weights image: bytes to copy, one element repeated `size` bytes long (a splat
 * constant, compiler/ir/splat.ts: the full array is never built), or a kernel's lazy constant.
 */
export interface Piece {
  addr: number;
  size: number;
  bytes?: Uint8Array;
  unit?: Uint8Array;
  lazy?: LazyConstant;
}

/** The piece of a constant tensor placed at `addr`. */
export function tensorPiece(addr: number, t: Tensor): Piece {
  const one = isLazySplat(t) ? splatValue(t) : undefined;
  if (one) return { addr, size: sizeOf(t.dims) * one.BYTES_PER_ELEMENT, unit: splatBytes(one) };
  // a deferred constant (compiler/ir/scaled.ts) is computed when the image is written
  if (isDeferred(t) || externalRef(t) !== undefined) {
    // a tensor left in its external data file is read when the image is written (a layer's slot, under a budget)
    const size = storageBytes(t.dtype, sizeOf(t.dims));
    return { addr, size, lazy: { byteLength: size, write: (into) => writeTensorBytes(t, into) } };
  }
  const bytes = tensorBytes(t);
  return { addr, size: bytes.length, bytes };
}

/** The piece of a kernel's constant placed at `addr`. */
export function constantPiece(addr: number, c: Uint8Array | LazyConstant): Piece {
  return c instanceof Uint8Array ? { addr, size: c.length, bytes: c } : { addr, size: c.byteLength, lazy: c };
}

export function writePiece(p: Piece, into: Uint8Array, at: number): void {
  if (p.unit) fillRepeated(into.subarray(at, at + p.size), p.unit);
  else if (p.lazy) p.lazy.write(into.subarray(at, at + p.size));
  else into.set(p.bytes!, at);
}

export class WeightsImage {
  readonly pieces: Piece[] = [];

  constructor(private readonly align: number) {}

  /** indices of the pieces with bytes, by address (built when readBy first needs it) */
  private byAddr?: number[];

  add(p: Piece): void {
    this.pieces.push(p);
    this.byAddr = undefined;
  }

  /** writes the pieces (those inside `only`, when given) through `at`, memory address -> index into `into` */
  readonly write: WeightsWriter = (into, at, only) => {
    const inside = (p: Piece) => !only || (p.addr >= only.offset && p.addr < only.offset + only.bytes);
    for (const p of this.pieces) if (p.size && inside(p)) writePiece(p, into, at(p.addr)); // empty tensors may sit past every region
  };

  /**
   * The memory ranges the pieces fill, neighbours apart by alignment padding at most merged: a piece
   * that starts at the next aligned address after the last one. Not one a whole aligned slot
   * further: that slot may hold a small activation, input or output (placed between the weights
   * and the kernels' constants), which a region must not cover.
   */
  regions(): WeightRegion[] {
    const regions: WeightRegion[] = [];
    const padded = (end: number) => Math.ceil(end / this.align) * this.align;
    for (const p of [...this.pieces].filter((q) => q.size).sort((a, b) => a.addr - b.addr)) {
      const last = regions[regions.length - 1];
      if (last && p.addr <= padded(last.offset + last.bytes)) last.bytes = Math.max(last.bytes, p.addr + p.size - last.offset);
      else regions.push({ offset: p.addr, bytes: p.size });
    }
    return regions;
  }

  /**
   * The pieces a layer reads: those under any of its input tensors (its constants, and anything
   * that aliases one) and its kernel's own constants (packed weights, tables).
   */
  readBy(inputs: readonly (TensorRef | undefined)[], constantAddrs: readonly number[]): Piece[] {
    // pieces never overlap: each span's are found by binary search over the pieces by address (a
    // scan of every piece per layer was quadratic: 30,000 layers each reading its own constant)
    const byAddr = (this.byAddr ??= this.pieces.map((_, k) => k).filter((k) => this.pieces[k].size).sort((x, y) => this.pieces[x].addr - this.pieces[y].addr));
    const found = new Set<number>();
    const overlapping = (a: number, b: number) => {
      let lo = 0, hi = byAddr.length; // the first piece ending after a
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const p = this.pieces[byAddr[mid]];
        if (p.addr + p.size <= a) lo = mid + 1;
        else hi = mid;
      }
      for (let k = lo; k < byAddr.length && this.pieces[byAddr[k]].addr < b; k++) found.add(byAddr[k]);
    };
    for (const t of inputs) if (t) overlapping(t.addr, t.addr + storageBytes(t.dtype, t.size));
    for (const addr of constantAddrs) overlapping(addr, addr + 1);
    return [...found].sort((x, y) => x - y).map((k) => this.pieces[k]);
  }
}

/**
 * The image written out (regions concatenated) and the kiln32 checksum of each piece by address,
 * which the manifest carries and the runtime checks as it places the piece. The image is written
 * into a wasm memory so that the hash (runtime/checksum.ts) reads it where it is.
 */
export function sealImage(regions: readonly WeightRegion[], write: WeightsWriter, pieces: readonly { addr: number; size: number }[]): { image: Uint8Array; checksums: Map<number, number> } {
  const size = imageBytes(regions);
  const memory = new WebAssembly.Memory({ initial: Math.ceil(size / 65536) });
  const image = new Uint8Array(memory.buffer, 0, size);
  const at = imagePosition(regions, 0);
  write(image, at);
  const hash = memoryHash(memory);
  return { image, checksums: new Map(pieces.filter((p) => p.size).map((p) => [p.addr, hash(at(p.addr), p.size)])) };
}
