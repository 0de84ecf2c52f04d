// The int8 GEMM's packed weights (qgemm-pack.ts packRows / packCols: zero point subtracted, as i16,
// K-pairs interleaved per tile) derived by the module as a compact artifact's weights are placed
// (codegen/derive.ts): the artifact ships the int8 or uint8 weights as the model gives them, half
// the bytes of the i16 form. Integer arithmetic: exact, the same values packRows/packCols write.
import binaryen from "binaryen";
import type { Tensor } from "../../../compiler/ir/graph.js";
import { derivedFrom, type DeriveCode, type LazyConstant } from "../kernel.js";
import { evenK } from "./qgemm.js";
import { float32Bytes, int32Bytes } from "./qgemm-pack.js";
import type { QLayer, QSources } from "./qlayer.js";
import type { Expr } from "../../fn.js";

/**
 * How a packed operand reads its source: `lines` (rows of A, columns of B) in `groups`, each line
 * K values `step` elements apart starting at element first(g, i), packed into tiles of `tile`
 * lines; `groupBytes` of packed form per group.
 */
export interface QPackShape {
  groups: number;
  lines: number;
  K: number;
  tile: number;
  step: number;
  first: (m: binaryen.Module, g: Expr, i: Expr) => Expr;
  groupBytes: number;
}

/** The packed bytes as a constant the module derives from `w` (int8 or uint8, one zero point z for every line), else as they are. */
export function qpackedConstant(bytes: Uint8Array, w: Tensor, z: number | undefined, shape: QPackShape, recipe: string): Uint8Array | LazyConstant {
  if ((w.dtype !== "int8" && w.dtype !== "uint8") || z === undefined) return bytes;
  const c: LazyConstant = { byteLength: bytes.length, write: (into) => into.set(bytes), integers: true };
  return derivedFrom(c, w, recipe, qpackDerive(shape, w.dtype === "int8", z));
}

function qpackDerive(s: QPackShape, signed: boolean, z: number): DeriveCode {
  const Kp = evenK(s.K), pairs = s.K >> 1;
  return (fn, src, dst) => {
    const m = fn.m;
    const i32 = (v: number) => m.i32.const(v);
    const from = fn.local(binaryen.i32), to = fn.local(binaryen.i32);
    const value = (offset: number) => m.i32.sub(signed ? m.i32.load8_s(offset, 1, from.get()) : m.i32.load8_u(offset, 1, from.get()), i32(z));
    // padding (odd K, the last tile's missing lines) stays zero
    fn.emit(m.memory.fill(i32(dst), i32(0), i32(s.groups * s.groupBytes)));
    fn.emit(fn.loop(s.groups, (g) => [fn.loop(s.lines, (i) => [
      from.set(m.i32.add(i32(src), s.first(m, g.get(), i.get()))),
      // (i - i % tile) * Kp + 2 (i % tile) i16 elements into the group's part
      to.set(m.i32.add(m.i32.add(i32(dst), m.i32.mul(g.get(), i32(s.groupBytes))), m.i32.shl(m.i32.add(
        m.i32.mul(m.i32.sub(i.get(), m.i32.rem_u(i.get(), i32(s.tile))), i32(Kp)), m.i32.shl(m.i32.rem_u(i.get(), i32(s.tile)), i32(1))), i32(1)))),
      fn.loop(pairs, () => [
        m.i32.store16(0, 2, to.get(), value(0)),
        m.i32.store16(2, 2, to.get(), value(s.step)),
        from.set(m.i32.add(from.get(), i32(2 * s.step))),
        to.set(m.i32.add(to.get(), i32(4 * s.tile))),
      ]),
      ...(s.K & 1 ? [m.i32.store16(0, 2, to.get(), value(0))] : []),
    ])]));
  };
}

/** int8/uint8 `w` minus one zero point z as i16, element for element (the depthwise taps), derived by the module; else `bytes` as they are. */
export function qwidenedConstant(bytes: Uint8Array, w: Tensor, z: number | undefined): Uint8Array | LazyConstant {
  if ((w.dtype !== "int8" && w.dtype !== "uint8") || z === undefined) return bytes;
  const signed = w.dtype === "int8", n = bytes.length / 2;
  const c: LazyConstant = { byteLength: bytes.length, write: (into) => into.set(bytes), integers: true };
  return derivedFrom(c, w, `qwiden z${z}`, (fn, src, dst) => {
    const m = fn.m;
    fn.emit(fn.loop(n, (i) => [m.i32.store16(dst, 2, m.i32.shl(i.get(), m.i32.const(1)),
      m.i32.sub(signed ? m.i32.load8_s(src, 1, i.get()) : m.i32.load8_u(src, 1, i.get()), m.i32.const(z)))]));
  });
}

/**
 * The per-channel tables an int8 layer reads beside its weights, `channels` values zero-padded to
 * `padTo`: the int32 bias, then (requantizing layers) the float32 multipliers. Each is derived by
 * the module from the one model tensor it comes from (QLayer.sources) where it has one, so a
 * compact artifact stores only what the model file has; else shipped as it is.
 */
export function qchannelTables(q: QLayer, channels: number, padTo: number): (Uint8Array | LazyConstant)[] {
  const tables = [qbiasConstant(int32Bytes(q.bias ?? new Int32Array(channels), padTo), q.sources?.bias, channels)];
  if (q.result.kind === "requant") {
    const mult = q.result.mult.length === 1 ? new Float32Array(channels).fill(q.result.mult[0]) : q.result.mult;
    tables.push(qmultConstant(float32Bytes(mult, padTo), q.sources?.mult, channels));
  }
  return tables;
}

/** How many values a one-per-channel source holds: channels, or 1 (one for all), else undefined. */
function perChannelCount(t: Tensor, dtype: string, channels: number): number | undefined {
  const n = t.dims.reduce((a, b) => a * b, 1);
  return t.dtype === dtype && (n === channels || n === 1) ? n : undefined;
}

/** The byte offset of channel i's 4-byte value in a source of n values (n 1: the one value for all). */
const sourceAt = (m: binaryen.Module, i: Expr, n: number) => (n === 1 ? m.i32.const(0) : m.i32.shl(i, m.i32.const(2)));

/** bias[c] = source[c] - zp as i32 (wrapping, as Int32Array.from does), padding zero. */
function qbiasConstant(bytes: Uint8Array, src: QSources["bias"], channels: number): Uint8Array | LazyConstant {
  const n = src && perChannelCount(src.tensor, "int32", channels);
  if (!src || !n) return bytes;
  const c: LazyConstant = { byteLength: bytes.length, write: (into) => into.set(bytes), integers: true };
  return derivedFrom(c, src.tensor, `qbias ${channels} z${src.zp}`, (fn, from, dst) => {
    const m = fn.m;
    fn.emit(m.memory.fill(m.i32.const(dst), m.i32.const(0), m.i32.const(bytes.length)));
    fn.emit(fn.loop(channels, (i) => [m.i32.store(dst, 4, m.i32.shl(i.get(), m.i32.const(2)),
      m.i32.sub(m.i32.load(from, 4, sourceAt(m, i.get(), n)), m.i32.const(src.zp)))]));
  });
}

/**
 * mult[c] = fround(fround(x_scale * w_scale[c]) / y_scale) (qlayer.ts requantMultipliers): one
 * f32 multiply and one f32 divide, each correctly rounded in wasm as fround of the double result
 * is in JavaScript (a float32 product is exact in a double; a double quotient rounded to float32
 * is the correctly rounded float32 quotient), so the bytes agree bit for bit.
 */
function qmultConstant(bytes: Uint8Array, src: QSources["mult"], channels: number): Uint8Array | LazyConstant {
  const n = src && perChannelCount(src.tensor, "float32", channels);
  if (!src || !n) return bytes;
  const c: LazyConstant = { byteLength: bytes.length, write: (into) => into.set(bytes) };
  const xs = Math.fround(src.xScale), ys = Math.fround(src.yScale);
  return derivedFrom(c, src.tensor, `qmult ${channels} ${xs} ${ys}`, (fn, from, dst) => {
    const m = fn.m;
    fn.emit(m.memory.fill(m.i32.const(dst), m.i32.const(0), m.i32.const(bytes.length)));
    fn.emit(fn.loop(channels, (i) => [m.f32.store(dst, 4, m.i32.shl(i.get(), m.i32.const(2)),
      m.f32.div(m.f32.mul(m.f32.const(xs), m.f32.load(from, 4, sourceAt(m, i.get(), n))), m.f32.const(ys)))]));
  });
}
