// A reader of a wasm binary's sections and function bodies, instruction by instruction, for the
// rewrites codegen makes after Binaryen has written the module (merge-functions.ts). It knows the
// instructions kiln's modules use (MVP, SIMD128 and relaxed SIMD, bulk memory, saturating
// conversions, sign extension, atomics); anything else throws Unknown, and the caller keeps the
// module as Binaryen wrote it.

import { sections } from "../runtime/sections.js";

export { leb as uleb } from "../runtime/sections.js";

export class Unknown extends Error {}

export function readU32(b: Uint8Array, at: number): [value: number, next: number] {
  let v = 0;
  let scale = 1;
  for (;;) {
    if (at >= b.length) throw new Unknown("truncated");
    const x = b[at++];
    v += (x & 0x7f) * scale;
    scale *= 128;
    if (!(x & 0x80)) return [v, at];
  }
}

/** a signed LEB128 number of at most 32 bits (an i32.const's immediate) */
export function readS32(b: Uint8Array, at: number): number {
  let v = 0;
  let shift = 0;
  for (;;) {
    if (at >= b.length) throw new Unknown("truncated");
    const x = b[at++];
    v |= (x & 0x7f) << shift;
    shift += 7;
    if (!(x & 0x80)) return shift < 32 && x & 0x40 ? v | (-1 << shift) : v | 0;
  }
}

/** the end of a LEB128 number (signed or not) starting at `at` */
function skipLeb(b: Uint8Array, at: number): number {
  while (b[at] & 0x80) at++;
  if (at >= b.length) throw new Unknown("truncated");
  return at + 1;
}

export function sleb(n: number): number[] {
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const x = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(x & 0x40)) || (n === -1 && x & 0x40)) {
      out.push(x);
      return out;
    }
    out.push(x | 0x80);
  }
}

/**
 * What a rewrite may look at in a body:
 * - `const`: an i32.const, its immediate in [imm, end)
 * - `load`: a memory access whose address is on the top of the stack (a load), its offset in [imm, end)
 * - `store`: a memory access with a value of type `value` above its address (stores, lane loads and stores)
 * - `fixed`: a memory access whose offset must stay (atomics)
 * - `local`: local.get/set/tee, its index in [imm, end)
 * - `call`: a direct call, its function index in [imm, end)
 * `op` is where the instruction starts (its prefix byte).
 */
export interface Mark {
  kind: "const" | "load" | "store" | "fixed" | "local" | "call";
  op: number;
  imm: number;
  end: number;
  /** store: the value type's byte (0x7f i32, 0x7e i64, 0x7d f32, 0x7c f64, 0x7b v128) */
  value?: number;
}

const I32 = 0x7f, I64 = 0x7e, F32 = 0x7d, F64 = 0x7c, V128 = 0x7b;
const VALTYPES = new Set([I32, I64, F32, F64, V128, 0x70, 0x6f]);

/** the value type a store opcode (0x36-0x3e) writes */
const STORE_VALUE: Record<number, number> = { 0x36: I32, 0x37: I64, 0x38: F32, 0x39: F64, 0x3a: I32, 0x3b: I32, 0x3c: I64, 0x3d: I64, 0x3e: I64 };

/**
 * The marks of an expression (a function body after its locals), in order, their positions
 * relative to `at` (local.get/set/tee's only `withLocals`). Throws Unknown on an instruction it
 * does not know.
 */
export function scanBody(b: Uint8Array, at: number, end: number, withLocals = true): Mark[] {
  const base = at;
  const marks: Mark[] = [];
  // a memarg: align (no memory index: kiln modules have one memory), then the offset
  const memarg = (op: number, p: number, kind: Mark["kind"], value?: number): number => {
    // align's flags fit its first byte: bit 6 says a memory index follows
    if (b[p] & 0x40) throw new Unknown("multi-memory");
    const q = skipLeb(b, p);
    const e = skipLeb(b, q);
    marks.push({ kind, op: op - base, imm: q - base, end: e - base, value });
    return e;
  };
  while (at < end) {
    const op = at;
    const c = b[at++];
    if (c <= 0x01 || c === 0x05 || c === 0x0b || c === 0x0f || c === 0x1a || c === 0x1b || c === 0xd1 || (c >= 0x45 && c <= 0xc4)) continue;
    if (c >= 0x02 && c <= 0x04) {
      // blocktype: empty, a value type, or a type index (s33)
      at = b[at] === 0x40 || VALTYPES.has(b[at]) ? at + 1 : skipLeb(b, at);
    } else if (c === 0x0c || c === 0x0d || c === 0x23 || c === 0x24 || c === 0x25 || c === 0x26 || c === 0xd2 || c === 0x3f || c === 0x40) {
      at = skipLeb(b, at);
    } else if (c === 0x0e) {
      let [n, p] = readU32(b, at);
      for (n++; n > 0; n--) p = skipLeb(b, p);
      at = p;
    } else if (c === 0x10) {
      const e = skipLeb(b, at);
      marks.push({ kind: "call", op: op - base, imm: at - base, end: e - base });
      at = e;
    } else if (c === 0x11) {
      at = skipLeb(b, skipLeb(b, at));
    } else if (c === 0x1c) {
      const [n, p] = readU32(b, at);
      at = p + n;
    } else if (c >= 0x20 && c <= 0x22) {
      const e = skipLeb(b, at);
      if (withLocals) marks.push({ kind: "local", op: op - base, imm: at - base, end: e - base });
      at = e;
    } else if (c >= 0x28 && c <= 0x35) {
      at = memarg(op, at, "load");
    } else if (c >= 0x36 && c <= 0x3e) {
      at = memarg(op, at, "store", STORE_VALUE[c]);
    } else if (c === 0x41) {
      const e = skipLeb(b, at);
      marks.push({ kind: "const", op: op - base, imm: at - base, end: e - base });
      at = e;
    } else if (c === 0x42) {
      at = skipLeb(b, at);
    } else if (c === 0x43) {
      at += 4;
    } else if (c === 0x44) {
      at += 8;
    } else if (c === 0xd0) {
      at += 1;
    } else if (c === 0xfc) {
      const [s, p] = readU32(b, at);
      at = p;
      if (s <= 7) continue;
      if (s === 8 || s === 10 || s === 12 || s === 14) at = skipLeb(b, skipLeb(b, at));
      else if (s === 9 || s === 11 || s === 13 || (s >= 15 && s <= 17)) at = skipLeb(b, at);
      else throw new Unknown(`0xfc ${s}`);
    } else if (c === 0xfd) {
      const [s, p] = readU32(b, at);
      at = p;
      if (s <= 10 || s === 92 || s === 93) at = memarg(op, at, "load");
      else if (s === 11) at = memarg(op, at, "store", V128);
      else if (s === 12 || s === 13) at += 16;
      else if (s >= 21 && s <= 34) at += 1;
      else if (s >= 84 && s <= 91) at = memarg(op, at, "store", V128) + 1; // lane loads and stores: [addr, v128], then the lane
      else if (s > 0x113) throw new Unknown(`0xfd ${s}`);
    } else if (c === 0xfe) {
      const [s, p] = readU32(b, at);
      at = s === 3 ? p + 1 : memarg(op, p, "fixed");
    } else {
      throw new Unknown(`opcode ${c}`);
    }
  }
  if (at !== end) throw new Unknown("body overruns");
  return marks;
}

/** bytes appended into a buffer that grows by doubling */
export class Bytes {
  private buf = new Uint8Array(256);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  push(...xs: number[]): void {
    this.room(xs.length);
    for (const x of xs) this.buf[this.length++] = x;
  }

  append(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  get bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

export interface Func {
  type: number;
  /** the body's bytes: locals, then the expression */
  body: Uint8Array;
}

/** a module's function types, function imports, defined functions' types and bodies, and export count */
export interface WasmModule {
  bytes: Uint8Array;
  /** each type's params and results as value-type bytes (kiln modules use plain function types) */
  types: { params: number[]; results: number[] }[];
  imported: number;
  funcs: Func[];
  exports: number;
}

/** Read a module's type, import, function, export and code sections (merge-functions.ts, wasm-limits.ts). */
export function readModule(b: Uint8Array): WasmModule {
  const mod: WasmModule = { bytes: b, types: [], imported: 0, funcs: [], exports: 0 };
  const typeOf: number[] = [];
  for (const s of sections(b)) {
    if (s.id === 1) {
      let [n, p] = readU32(b, s.payload);
      for (; n > 0; n--) {
        if (b[p++] !== 0x60) throw new Unknown("not a plain function type");
        let k: number;
        [k, p] = readU32(b, p);
        const params = [...b.subarray(p, p + k)];
        p += k;
        [k, p] = readU32(b, p);
        const results = [...b.subarray(p, p + k)];
        p += k;
        mod.types.push({ params, results });
      }
    } else if (s.id === 2) {
      let [n, p] = readU32(b, s.payload);
      for (; n > 0; n--) {
        for (let str = 0; str < 2; str++) {
          const [len, q] = readU32(b, p);
          p = q + len;
        }
        const kind = b[p++];
        if (kind === 0) {
          mod.imported++;
          p = readU32(b, p)[1];
        } else if (kind === 1) {
          p = limits(b, p + 1);
        } else if (kind === 2) {
          p = limits(b, p);
        } else if (kind === 3) {
          p += 2;
        } else throw new Unknown(`import kind ${kind}`);
      }
    } else if (s.id === 3) {
      let [n, p] = readU32(b, s.payload);
      for (; n > 0; n--) {
        let t: number;
        [t, p] = readU32(b, p);
        typeOf.push(t);
      }
    } else if (s.id === 7) {
      mod.exports = readU32(b, s.payload)[0];
    } else if (s.id === 10) {
      let [n, p] = readU32(b, s.payload);
      for (let k = 0; k < n; k++) {
        const [size, start] = readU32(b, p);
        mod.funcs.push({ type: typeOf[k], body: b.subarray(start, start + size) });
        p = start + size;
      }
    }
  }
  return mod;
}

function limits(b: Uint8Array, p: number): number {
  const flags = b[p++];
  p = readU32(b, p)[1];
  return flags & 1 ? readU32(b, p)[1] : p;
}
