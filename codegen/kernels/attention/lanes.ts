// Rows of a compile-time length held in wasm locals and worked on chunk by chunk: float32 rows go
// four lanes at a time (v128) with a scalar tail; float16 and float64 rows go one element at a time
// in their compute type. Attention keeps a query row and its output accumulator this way, so the
// inner loop over keys touches memory only for the key and value rows it streams.
import binaryen from "binaryen";
import type { DTypeName } from "../../../runtime/dtypes.js";
import { dtype } from "../../../runtime/dtypes.js";
import type { Expr, Fn, Local } from "../../fn.js";
import { load, store, wasmType } from "../../memory.js";

interface Chunk {
  /** element offset in the row */
  off: number;
  wide: boolean;
}

/** The scalar arithmetic of a float compute type. */
export function floatOps(m: binaryen.Module, dt: DTypeName) {
  return wasmType(dt) === binaryen.f64 ? m.f64 : m.f32;
}

/** Sum a list of expressions as a balanced tree (independent adds can overlap). */
export function treeSum(terms: Expr[], add: (a: Expr, b: Expr) => Expr): Expr {
  while (terms.length > 1) {
    const next: Expr[] = [];
    for (let k = 0; k < terms.length; k += 2) next.push(k + 1 < terms.length ? add(terms[k], terms[k + 1]) : terms[k]);
    terms = next;
  }
  return terms[0];
}

export class LaneRow {
  readonly chunks: Chunk[];
  readonly locals: Local[];
  private readonly bytes: number;

  constructor(private readonly fn: Fn, readonly dtype: DTypeName, readonly length: number) {
    const simd = dtype === "float32";
    const wide = simd ? length - (length % 4) : 0;
    this.chunks = [];
    for (let off = 0; off < wide; off += 4) this.chunks.push({ off, wide: true });
    for (let off = wide; off < length; off++) this.chunks.push({ off, wide: false });
    this.locals = this.chunks.map((c) => fn.local(c.wide ? binaryen.v128 : wasmType(dtype)));
    this.bytes = dtypeBytes(dtype);
  }

  private get m() {
    return this.fn.m;
  }

  /** Load chunk k of the row at byte address ptr + addr. */
  loadChunk(k: number, ptr: Expr, addr: number, dt: DTypeName = this.dtype): Expr {
    const c = this.chunks[k];
    const offset = addr + c.off * dtypeBytes(dt);
    return c.wide ? this.m.v128.load(offset, 4, ptr) : load(this.m, dt, ptr, offset);
  }

  /** Set every chunk from f(chunkIndex, wide). */
  setAll(f: (k: number, wide: boolean) => Expr): Expr[] {
    return this.chunks.map((c, k) => this.locals[k].set(f(k, c.wide)));
  }

  zero(): Expr[] {
    const F = floatOps(this.m, this.dtype);
    return this.setAll((_, wide) => (wide ? this.m.v128.const(new Array(16).fill(0)) : F.const(0)));
  }

  /** this[k] * s (s a scalar local), per chunk; `splat` holds s in all lanes for the wide chunks. */
  scaled(k: number, s: Local, splat: Local | undefined): Expr {
    const c = this.chunks[k];
    if (c.wide) return this.m.f32x4.mul(this.locals[k].get(), splat!.get());
    return floatOps(this.m, this.dtype).mul(this.locals[k].get(), s.get());
  }

  /** Dot product of this row with a row in memory at ptr + addr, in the compute type. */
  dot(ptr: Local, addr: number, dt: DTypeName = this.dtype): Expr {
    const m = this.m;
    const F = floatOps(m, this.dtype);
    const wide: Expr[] = [], narrow: Expr[] = [];
    this.chunks.forEach((c, k) => {
      const x = this.loadChunk(k, ptr.get(), addr, dt);
      if (c.wide) wide.push(m.f32x4.mul(this.locals[k].get(), x));
      else narrow.push(F.mul(this.locals[k].get(), x));
    });
    const terms = [...narrow];
    if (wide.length) {
      const v = treeSum(wide, (a, b) => m.f32x4.add(a, b));
      const t = this.fn.local(binaryen.v128);
      const lane = (l: number) => m.f32x4.extract_lane(t.get(), l);
      terms.unshift(m.f32.add(m.f32.add(lane(0), lane(1)), m.f32.add(lane(2), lane(3))));
      terms[0] = m.block(null, [t.set(v), terms[0]], binaryen.f32);
    }
    return terms.length ? treeSum(terms, (a, b) => F.add(a, b)) : F.const(0);
  }

  /** this += p * (row in memory at ptr + addr). */
  accumulate(p: Local, splat: Local | undefined, ptr: Local, addr: number, dt: DTypeName = this.dtype): Expr[] {
    return this.accumulateRows([{ p, splat, addr }], ptr, dt);
  }

  /** this += sum of p * row over several rows, summed as a tree before the one add to each chunk. */
  accumulateRows(rows: { p: Local; splat?: Local; addr: number }[], ptr: Local, dt: DTypeName = this.dtype): Expr[] {
    const m = this.m;
    const F = floatOps(m, this.dtype);
    return this.setAll((k, wide) => {
      const terms = rows.map(({ p, splat, addr }) => {
        const x = this.loadChunk(k, ptr.get(), addr, dt);
        return wide ? m.f32x4.mul(splat!.get(), x) : F.mul(p.get(), x);
      });
      return wide ? m.f32x4.add(this.locals[k].get(), treeSum(terms, (a, b) => m.f32x4.add(a, b)))
        : F.add(this.locals[k].get(), treeSum(terms, (a, b) => F.add(a, b)));
    });
  }

  /** Store the row (each chunk through `f`) to memory at ptr + addr. */
  storeAll(ptr: Local, addr: number, f: (k: number, wide: boolean) => Expr): Expr[] {
    return this.chunks.map((c, k) => {
      const offset = addr + c.off * this.bytes;
      return c.wide ? this.m.v128.store(offset, 4, ptr.get(), f(k, true)) : store(this.m, this.dtype, ptr.get(), f(k, false), offset);
    });
  }
}

function dtypeBytes(dt: DTypeName): number {
  return dtype(dt).bytes;
}
