// The compile-time side of the int8 GEMM (quant/qgemm.ts): a constant operand (the weights),
// zero point subtracted, as i16 in the order the microkernel reads it. Rows (A): MR-row tiles,
// per k-pair one i32 word per row. Columns (B): NR-column panels, per k-pair one i32 word per
// column. K is padded to even, rows and columns to whole tiles, all with zeros.
import { evenK, packedColsBytes, packedRowsBytes, QTILE, type QTile } from "./qgemm.js";

/** value(i, k) of a constant operand, zero point already subtracted (an integer in [-255, 255]) */
export type QValue = (i: number, k: number) => number;

/** A (M x K) as packed tiles: tile row i + r, k at i16 index i * Kp + (k >> 1) * 2 * MR + 2r + (k & 1). */
export function packRows(value: QValue, M: number, K: number, t: QTile = QTILE): Uint8Array {
  const Kp = evenK(K);
  const out = new Int16Array(packedRowsBytes(M, K, t) / 2);
  for (let i = 0; i < M; i++) {
    const tileBase = (i - (i % t.mr)) * Kp, r = i % t.mr;
    for (let k = 0; k < K; k++) out[tileBase + (k >> 1) * 2 * t.mr + 2 * r + (k & 1)] = value(i, k);
  }
  return new Uint8Array(out.buffer);
}

/** B (K x N) as packed panels: column j, k at i16 index (j - j % NR) * Kp + (k >> 1) * 2 * NR + 2 (j % NR) + (k & 1). */
export function packCols(value: QValue, K: number, N: number, t: QTile = QTILE): Uint8Array {
  const Kp = evenK(K);
  const out = new Int16Array(packedColsBytes(N, K, t) / 2);
  for (let j = 0; j < N; j++) {
    const panelBase = (j - (j % t.nr)) * Kp, c = j % t.nr;
    for (let k = 0; k < K; k++) out[panelBase + (k >> 1) * 2 * t.nr + 2 * c + (k & 1)] = value(k, j);
  }
  return new Uint8Array(out.buffer);
}

/** n values as int32 little-endian bytes, zero-padded to `padTo` values (a bias or multiplier table a vector may read whole). */
export function int32Bytes(values: ArrayLike<number>, padTo = values.length): Uint8Array {
  const out = new Int32Array(Math.max(padTo, values.length));
  for (let i = 0; i < values.length; i++) out[i] = values[i];
  return new Uint8Array(out.buffer);
}

export function float32Bytes(values: ArrayLike<number>, padTo = values.length): Uint8Array {
  const out = new Float32Array(Math.max(padTo, values.length));
  for (let i = 0; i < values.length; i++) out[i] = values[i];
  return new Uint8Array(out.buffer);
}
