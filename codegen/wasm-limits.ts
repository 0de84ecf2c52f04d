// The shape of a wasm module as the engine's limits see it: how many functions and exports, and per
// function body its locals and bytes. Read from the binary's sections (no compile), so a module too
// big for V8 is still measured: generate() refuses one with a typed error naming the layer, and the
// scale tests check every module. The limits are V8's (src/wasm/wasm-limits.h).
export const V8_LIMITS = {
  functions: 1_000_000,
  exports: 100_000,
  /** locals per function, params included */
  locals: 50_000,
  /** bytes of one function body */
  bodyBytes: 7_654_321,
};

export interface WasmShape {
  functions: number;
  exports: number;
  maxLocals: number;
  maxBodyBytes: number;
  /** defined functions (index among them, imports not counted) over the locals or body limit */
  over: { index: number; locals: number; bytes: number }[];
}

function readLeb(b: Uint8Array, at: number): [number, number] {
  let v = 0;
  let scale = 1;
  for (;;) {
    const x = b[at++];
    v += (x & 0x7f) * scale;
    scale *= 128;
    if (!(x & 0x80)) return [v, at];
  }
}

export function wasmShape(wasm: Uint8Array): WasmShape {
  const shape: WasmShape = { functions: 0, exports: 0, maxLocals: 0, maxBodyBytes: 0, over: [] };
  const paramsOf: number[] = [];
  const funcTypes: number[] = [];
  let imported = 0;
  for (let at = 8; at < wasm.length;) {
    const id = wasm[at];
    const [size, body] = readLeb(wasm, at + 1);
    const end = body + size;
    if (id === 1) typeParams(wasm, body, paramsOf);
    if (id === 2) imported = countFunctionImports(wasm, body);
    if (id === 3) {
      let [n, p] = readLeb(wasm, body);
      shape.functions = n + imported;
      for (; n > 0; n--) {
        let t: number;
        [t, p] = readLeb(wasm, p);
        funcTypes.push(t);
      }
    }
    if (id === 7) shape.exports = readLeb(wasm, body)[0];
    if (id === 10) {
      let [n, p] = readLeb(wasm, body);
      for (let k = 0; k < n; k++) {
        const [bytes, start] = readLeb(wasm, p);
        let [groups, q] = readLeb(wasm, start);
        let locals = paramsOf[funcTypes[k]] ?? 0;
        for (; groups > 0; groups--) {
          let count: number;
          [count, q] = readLeb(wasm, q);
          locals += count;
          q++; // the value type (one byte for every type kiln emits)
        }
        shape.maxLocals = Math.max(shape.maxLocals, locals);
        shape.maxBodyBytes = Math.max(shape.maxBodyBytes, bytes);
        if (locals > V8_LIMITS.locals || bytes > V8_LIMITS.bodyBytes) shape.over.push({ index: k, locals, bytes });
        p = start + bytes;
      }
    }
    at = end;
  }
  return shape;
}

/** Params per type index (function types only: 0x60 params results). */
function typeParams(b: Uint8Array, at: number, out: number[]): void {
  let [n, p] = readLeb(b, at);
  for (; n > 0; n--) {
    p++; // 0x60
    let params: number;
    [params, p] = readLeb(b, p);
    out.push(params);
    p += params;
    let results: number;
    [results, p] = readLeb(b, p);
    p += results;
  }
}

function countFunctionImports(b: Uint8Array, at: number): number {
  let [n, p] = readLeb(b, at);
  let funcs = 0;
  for (; n > 0; n--) {
    for (let s = 0; s < 2; s++) {
      let len: number;
      [len, p] = readLeb(b, p);
      p += len;
    }
    const kind = b[p++];
    if (kind === 0) {
      funcs++;
      p = readLeb(b, p)[1]; // type index
    } else if (kind === 1) p = limits(b, p + 1); // reftype, limits
    else if (kind === 2) p = limits(b, p);
    else if (kind === 3) p += 2; // valtype, mutability
    else p = readLeb(b, p + 1)[1]; // tag: attribute, type index
  }
  return funcs;
}

function limits(b: Uint8Array, p: number): number {
  const flags = b[p++];
  p = readLeb(b, p)[1];
  return flags & 1 ? readLeb(b, p)[1] : p;
}

/** The limits a module's shape exceeds, as sentences ([] when none). */
export function overLimits(shape: WasmShape): string[] {
  const over: string[] = [];
  if (shape.functions > V8_LIMITS.functions) over.push(`${shape.functions} functions > ${V8_LIMITS.functions}`);
  if (shape.exports > V8_LIMITS.exports) over.push(`${shape.exports} exports > ${V8_LIMITS.exports}`);
  if (shape.maxLocals > V8_LIMITS.locals) over.push(`a function with ${shape.maxLocals} locals > ${V8_LIMITS.locals}`);
  if (shape.maxBodyBytes > V8_LIMITS.bodyBytes) over.push(`a function of ${shape.maxBodyBytes} bytes > ${V8_LIMITS.bodyBytes}`);
  return over;
}
