// Reading and appending wasm custom sections without compiling the module: kiln artifacts carry
// their weights image (kiln.weights) and, optionally, a relaxed-SIMD variant of their code
// (kiln.code.relaxed) as trailing custom sections, which the runtime peels off before compiling.
import { KilnError } from "./errors.js";

export function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

export function readLeb(b: Uint8Array, at: number): [value: number, next: number] {
  let v = 0;
  let scale = 1;
  for (;;) {
    if (at >= b.length) throw new KilnError("INVALID_ARTIFACT", "truncated wasm module");
    const x = b[at++];
    v += (x & 0x7f) * scale;
    scale *= 128;
    if (!(x & 0x80)) return [v, at];
  }
}

/** The header of a custom section called name whose payload has `size` bytes (payload follows it). */
export function customSectionHead(name: string, size: number): Uint8Array {
  const encoded = new TextEncoder().encode(name);
  const body = [...leb(encoded.length), ...encoded];
  return new Uint8Array([0, ...leb(body.length + size), ...body]);
}

/** wasm followed by the custom section name holding payload. */
export function appendCustomSection(wasm: Uint8Array, name: string, payload: Uint8Array): Uint8Array {
  const head = customSectionHead(name, payload.length);
  const out = new Uint8Array(wasm.length + head.length + payload.length);
  out.set(wasm);
  out.set(head, wasm.length);
  out.set(payload, wasm.length + head.length);
  return out;
}

export interface SectionSpan {
  id: number;
  /** custom sections only */
  name?: string;
  /** byte offset of the section's id byte */
  start: number;
  /** byte offset of the payload (after a custom section's name) */
  payload: number;
  end: number;
}

/** Every section of a module, in order (custom sections named), read from the bytes alone. */
export function sections(bytes: Uint8Array): SectionSpan[] {
  const out: SectionSpan[] = [];
  let at = 8;
  while (at < bytes.length) {
    const start = at;
    const id = bytes[at];
    const [size, body] = readLeb(bytes, at + 1);
    const end = body + size;
    if (end > bytes.length) throw new KilnError("INVALID_ARTIFACT", "truncated wasm module");
    if (id !== 0) {
      out.push({ id, start, payload: body, end });
    } else {
      const [nameLen, name] = readLeb(bytes, body);
      out.push({ id, name: new TextDecoder().decode(bytes.subarray(name, name + nameLen)), start, payload: name + nameLen, end });
    }
    at = end;
  }
  return out;
}

/** The module without its custom sections of these names (the compiler rewrites a manifest this way). */
export function withoutSections(bytes: Uint8Array, names: readonly string[]): Uint8Array {
  const drop = sections(bytes).filter((s) => s.name !== undefined && names.includes(s.name));
  const out = new Uint8Array(bytes.length - drop.reduce((a, s) => a + s.end - s.start, 0));
  let from = 0, to = 0;
  for (const s of drop) {
    out.set(bytes.subarray(from, s.start), to);
    to += s.start - from;
    from = s.end;
  }
  out.set(bytes.subarray(from), to);
  return out;
}
