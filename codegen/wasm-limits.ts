// The shape of a wasm module as the engine's limits see it: how many functions and exports, and per
// function body its locals and bytes. Read from the binary's sections (no compile), so a module too
// big for V8 is still measured: generate() refuses one with a typed error naming the layer, and the
// scale tests check every module. The limits are V8's (src/wasm/wasm-limits.h).
import { readModule, readU32 } from "./wasm-code.js";
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

export function wasmShape(wasm: Uint8Array): WasmShape {
  const mod = readModule(wasm);
  const shape: WasmShape = { functions: mod.imported + mod.funcs.length, exports: mod.exports, maxLocals: 0, maxBodyBytes: 0, over: [] };
  mod.funcs.forEach(({ type, body }, index) => {
    let [groups, q] = readU32(body, 0);
    let locals = mod.types[type]?.params.length ?? 0;
    for (; groups > 0; groups--) {
      let count: number;
      [count, q] = readU32(body, q);
      locals += count;
      q++; // the value type (one byte for every type kiln emits)
    }
    shape.maxLocals = Math.max(shape.maxLocals, locals);
    shape.maxBodyBytes = Math.max(shape.maxBodyBytes, body.length);
    if (locals > V8_LIMITS.locals || body.length > V8_LIMITS.bodyBytes) shape.over.push({ index, locals, bytes: body.length });
  });
  return shape;
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
