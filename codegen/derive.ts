// Compact artifacts: the weights image stores each weight once, as the model gives it, and a
// kernel's derived form of it (Winograd's U = G g G^T, up to 4x a 3x3 filter bank; packed GEMM
// panels) is computed by wasm code in the module when the runtime places the layer that reads it
// (runtime/schedule.ts), instead of being shipped ready. The source tensor has its own slot in
// the weights area, which the memory layout reserves for every constant a layer takes, read or
// not (not the arena: it is live during the first run, which places weights between layers);
// one that only a derive reads is staged instead at the end of a later layer's derived region,
// when one has room (codegen/raw-staging.ts), so its own slot's pages are never touched.
// A derived form is worth it where it makes the image smaller: one no bigger than its source,
// which nothing else reads (MiniLM's packed GEMM panels, the same bytes reordered), ships ready,
// as --prepack ships it, for the same image bytes and without its source resident beside it
// (DeriveTable's `keepsSource`).
//
// A derived piece keeps the checksum of the bytes the compiler's JS form gives, which the runtime
// checks after deriving: the module's code and the compiler's agree bit for bit, or nothing runs.
import binaryen from "binaryen";
import { memoryHash, type MemoryHash } from "../runtime/checksum.js";
import { DERIVE, type DerivedSpan } from "../runtime/manifest.js";
import { sizeOf, storageBytes } from "../runtime/dtypes.js";
import type { Graph, Tensor } from "../compiler/ir/graph.js";
import { exactHalfBits, halfSourceOf } from "../compiler/ir/values.js";
import { Fn } from "./fn.js";
import { addScaleF32, addWidenHalfs, SCALE_F32, WIDEN_HALFS } from "./math/half.js";
import type { Piece } from "./weights-image.js";
import type { LazyConstant, TensorRef } from "./kernels/kernel.js";
import type { MemoryLayout } from "./placement.js";

/** `f`'s bytes as a constant to checksum */
const float32Constant = (f: Float32Array): LazyConstant => ({ byteLength: f.byteLength, write: (into) => into.set(new Uint8Array(f.buffer, f.byteOffset, f.byteLength)) });

/** Fewer float16 codes than this are stored widened: a derived piece costs manifest and code bytes. */
const MIN_WIDENED = 64;

/** a derived form up to this much bigger than its source (panels padded to whole vectors) ships ready where deriving it would keep the source resident */
const READY_SLACK = 9 / 8;

/** The float16 codes a compact artifact may store for a weight instead of its float32 (widen), if any. */
function storedHalf(t: Tensor) {
  const half = halfSourceOf(t);
  return half && half.codes.length >= MIN_WIDENED ? half : undefined;
}

/** Bytes the image stores for a weight: its float16 codes where it keeps them (widen), else its storage. */
const storedBytes = (t: Tensor) => storedHalf(t)?.codes.byteLength ?? storageBytes(t.dtype, sizeOf(t.dims));

export class DeriveTable {
  private readonly spans = new Map<number, DerivedSpan>();
  /** weight tensors by identity: their value names */
  private readonly names = new Map<Tensor, string>();

  constructor(
    private readonly m: binaryen.Module,
    graph: Graph,
    weightNames: ReadonlySet<string>,
    private readonly layout: MemoryLayout,
    private readonly on: boolean | undefined,
    /** decisions shared with another build of the graph (GenerateOptions.derived) */
    private readonly decided?: Map<number, number | undefined>,
    /**
     * whether a weight stays resident when its derived form is computed from it: it is read at run
     * time or is the source of another derived form (the image holds it either way); else a derived
     * form that saves no image bytes ships ready
     */
    private readonly keepsSource: (name: string) => boolean = () => true,
  ) {
    if (on) for (const name of weightNames) this.names.set(graph.values.get(name)!.const!, name);
  }

  /**
   * Makes the constant placed at `addr` derived, when it can be and saves image bytes: returns the
   * source tensor's name (the image must hold that tensor), or undefined to ship the constant
   * ready. It saves bytes unless it is no bigger than a source nothing else keeps. It can be when its
   * recipe has a wasm form, its source is a weight of the layer (so the scheduler has placed it
   * when the layer's derived pieces are computed) and its bytes hold no NaN (whose payload a JS
   * store and a wasm store may not keep alike).
   */
  add(c: Uint8Array | LazyConstant, addr: number, inputs: readonly (TensorRef | undefined)[]): string | undefined {
    if (!this.on || c instanceof Uint8Array || !c.derive || !c.source) return undefined;
    const name = this.names.get(c.source.tensor);
    const slot = name === undefined ? undefined : this.layout.slots.get(name);
    if (!slot || !inputs.some((t) => t?.addr === slot.addr)) return undefined;
    // a float16 weight's form ships as codes too (readyHalf): measured against the weight's float32 bytes
    const half = storedHalf(c.source.tensor);
    const ready = !this.keepsSource(name!) && c.byteLength <= (half && !half.scale ? 4 * half.codes.length : storedBytes(c.source.tensor)) * READY_SLACK;
    const sum = this.decided?.has(addr) ? this.decided.get(addr) : ready ? undefined : this.checksumUnlessNaN(c);
    this.decided?.set(addr, sum);
    if (sum === undefined) return undefined;
    const derive = c.derive;
    this.spans.set(addr, [addr, c.byteLength, sum, this.pending.length]);
    this.pending.push((fn) => derive(fn, slot.addr, addr));
    return name;
  }

  /** the spans that widen float16 weights in their slots (see widen), by the address of the stored codes, with their stored factors */
  private readonly widens = new Map<number, { span: DerivedSpan; factors?: Piece }>();
  private scaled = false;

  /**
   * The stored pieces of a weight placed at `addr`, when the artifact can keep it as the float16
   * codes it comes from (compiler/ir/values.ts HalfSource; the widen-float16 pass makes them): the
   * codes in the upper half of the weight's float32 slot (and a folded BatchNormalization's factors
   * among the kernels' constants), and a derived piece over the whole slot, which the module's
   * WIDEN_HALFS (then SCALE_F32) computes in place when a layer that reads the weight is placed,
   * before that layer's other derived pieces (a packed form of the weight reads it). Undefined to
   * store the float32 bytes: not compact, a small tensor (not worth a derived piece), or a NaN in
   * it (halfsToFloat32 does not keep a code's payload).
   */
  widen(tensor: Tensor, addr: number): Piece[] | undefined {
    const src = this.on ? storedHalf(tensor) : undefined;
    if (!src) return undefined;
    const sum = this.decided?.has(addr) ? this.decided.get(addr) : this.checksumUnlessNaN(float32Constant(tensor.data as Float32Array));
    this.decided?.set(addr, sum);
    return sum === undefined ? undefined : this.widenAt(addr, src.codes, sum, src.scale);
  }

  /**
   * A kernel constant that ships ready (add said so) stored as float16 codes, where its float32
   * values are exactly float16 codes: the packed panels of a weight widened from float16 (its
   * values reordered, padding zeros). The codes sit in the upper half of the constant's slot and
   * WIDEN_HALFS computes the panels in place when the layer is placed, as widen does for a weight;
   * the weight's own slot is never touched. Without this a float16 model's packed weights were
   * derived from the widened weight, both resident: twice the float32 model's memory.
   * Undefined to store the float32 bytes.
   */
  readyHalf(c: Uint8Array | LazyConstant, addr: number): Piece[] | undefined {
    if (!this.on || c instanceof Uint8Array || c.integers || !c.source || c.byteLength % 4 || !storedHalf(c.source.tensor)) return undefined;
    const n = c.byteLength / 4;
    if (n < MIN_WIDENED) return undefined;
    // decisions of another build of the graph (relaxed SIMD), by the address's one's complement: add's are by the address
    const key = ~addr;
    if (this.decided?.has(key) && this.decided.get(key) === undefined) return undefined;
    const codes = exactHalfBits(new Uint32Array(this.written(c).buffer, 0, n));
    const sum = !codes ? undefined : this.decided?.has(key) ? this.decided.get(key) : this.scratch!.hash(0, c.byteLength);
    this.decided?.set(key, sum);
    if (!codes || sum === undefined) return undefined;
    this.codesAt.set(addr, addr + 2 * n);
    return this.widenAt(addr, codes, sum);
  }

  /** the address of the codes of each constant stored as float16 codes (readyHalf), by the constant's */
  private readonly codesAt = new Map<number, number>();

  /** Where the stored pieces of kernel constants at these addresses start: the codes' address for one readyHalf stored as codes. */
  storedAt(constantAddrs: readonly number[]): number[] {
    return constantAddrs.map((a) => this.codesAt.get(a) ?? a);
  }

  /** the codes at the upper half of the float32 slot at `addr`, and the derived piece widening them in place (checksum `sum`) */
  private widenAt(addr: number, codes: Uint16Array, sum: number, scale?: { factors: Float32Array; inner: number }): Piece[] {
    const n = codes.length;
    const m = this.m;
    const i32 = (v: number) => m.i32.const(v);
    const stored: Piece = { addr: addr + 2 * n, size: 2 * n, bytes: new Uint8Array(codes.buffer, codes.byteOffset, codes.byteLength) };
    const factorBytes = scale && new Uint8Array(scale.factors.buffer, scale.factors.byteOffset, scale.factors.byteLength);
    const factors = factorBytes && this.layout.placeConstant(factorBytes).addr;
    const factorsPiece: Piece | undefined = factorBytes && { addr: factors!, size: factorBytes.length, bytes: factorBytes };
    this.widens.set(stored.addr, { span: [addr, 4 * n, sum, this.pending.length], factors: factorsPiece });
    this.scaled ||= !!scale;
    this.pending.push((fn) => fn.emit(
      m.call(WIDEN_HALFS, [i32(addr + 2 * n), i32(addr), i32(n)], binaryen.none),
      ...(scale ? [m.call(SCALE_F32, [i32(addr), i32(n), i32(factors!), i32(scale.factors.length), i32(scale.inner)], binaryen.none)] : [])));
    return factorsPiece ? [stored, factorsPiece] : [stored];
  }

  /**
   * For a layer's stored pieces: the factors pieces the widening of any of them reads too, and the
   * derived pieces that widen them (first among the layer's derived pieces).
   */
  widensOf(pieces: readonly Piece[]): { factors: Piece[]; spans: DerivedSpan[] } {
    const found = pieces.flatMap((p) => this.widens.get(p.addr) ?? []);
    const have = new Set(pieces);
    return { factors: found.flatMap((w) => (w.factors && !have.has(w.factors) ? [w.factors] : [])), spans: found.map((w) => w.span) };
  }

  /** code emitters of the derive functions, in index order */
  private readonly pending: ((fn: Fn) => void)[] = [];

  /** Adds the derive functions to the module (once its memory is set: loads and stores name it); their names. */
  emit(): string[] {
    if (this.widens.size) addWidenHalfs(this.m);
    if (this.scaled) addScaleF32(this.m);
    return this.pending.map((code, k) => {
      const fn = new Fn(this.m, `derive_${k}`);
      code(fn);
      fn.finish();
      return fn.name;
    });
  }

  /** The derived pieces among a layer's constants. */
  spansOf(constantAddrs: readonly number[]): DerivedSpan[] {
    return constantAddrs.flatMap((a): DerivedSpan[] => {
      const s = this.spans.get(a);
      return s ? [s] : [];
    });
  }

  private scratch?: { memory: WebAssembly.Memory; hash: MemoryHash };

  /** The kiln32 of the constant's bytes as the compiler writes them, or undefined when a float32 of them is NaN. */
  private checksumUnlessNaN(c: LazyConstant): number | undefined {
    const bytes = this.written(c);
    if (!c.integers && c.byteLength % 4 === 0) {
      const f = new Float32Array(bytes.buffer, 0, c.byteLength / 4);
      for (let k = 0; k < f.length; k++) if (f[k] !== f[k]) return undefined;
    }
    return this.scratch!.hash(0, c.byteLength);
  }

  /** the constant's bytes written at the start of the scratch memory */
  private written(c: LazyConstant): Uint8Array {
    const pages = Math.ceil(c.byteLength / 65536);
    if (!this.scratch) {
      const memory = new WebAssembly.Memory({ initial: pages });
      this.scratch = { memory, hash: memoryHash(memory) };
    }
    const { memory } = this.scratch;
    if (memory.buffer.byteLength < pages * 65536) memory.grow(pages - memory.buffer.byteLength / 65536);
    const bytes = new Uint8Array(memory.buffer, 0, c.byteLength);
    c.write(bytes);
    return bytes;
  }

  /** Bytes the module derives (placed in memory, not stored in the artifact). */
  get bytes(): number {
    let n = 0;
    for (const s of this.spans.values()) n += s[1];
    for (const w of this.widens.values()) n += w.span[1];
    return n;
  }
}

/**
 * The export DERIVE(k): runs derive function k (table entry base + k) when k < count, and returns
 * count; the runtime calls DERIVE(-1) to learn it (runtime/validate.ts).
 */
export function addDeriveExport(m: binaryen.Module, table: string, base: number, count: number): void {
  const k = () => m.local.get(0, binaryen.i32);
  m.addFunction(DERIVE, binaryen.createType([binaryen.i32]), binaryen.i32, [], m.block(null, [
    m.if(m.i32.lt_u(k(), m.i32.const(count)), m.call_indirect(table, m.i32.add(k(), m.i32.const(base)), [], binaryen.none, binaryen.none)),
    m.i32.const(count),
  ], binaryen.i32));
  m.addFunctionExport(DERIVE, DERIVE);
}
