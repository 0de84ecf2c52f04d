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

/**
 * packCols of a constant weight held as an array: w is K x N, or N x K with `transW`, less its
 * zero point (one, or one per column). The same bytes as packCols, read in w's own order (a row
 * at a time) instead of through a callback column by column: MiniLM's int8 weights (10.6M
 * elements) packed in about a tenth of the time.
 */
export function packColsOf(w: ArrayLike<number>, zp: ArrayLike<number>, K: number, N: number, transW: boolean, t: QTile = QTILE): Uint8Array {
  const Kp = evenK(K), nr = t.nr;
  const out = new Int16Array(packedColsBytes(N, K, t) / 2);
  const zs = new Int32Array(N);
  for (let j = 0; j < N; j++) zs[j] = zp[zp.length === 1 ? 0 : j];
  // column j's k-pair p starts at i16 index col[j] + p * 2 * nr
  const col = new Int32Array(N);
  for (let j = 0; j < N; j++) col[j] = (j - (j % nr)) * Kp + 2 * (j % nr);
  if (transW) {
    for (let j = 0; j < N; j++) {
      const row = j * K, base = col[j], z = zs[j];
      for (let k = 0; k < K; k++) out[base + (k >> 1) * 2 * nr + (k & 1)] = w[row + k] - z;
    }
  } else {
    for (let k = 0; k < K; k++) {
      const row = k * N, at = (k >> 1) * 2 * nr + (k & 1);
      for (let j = 0; j < N; j++) out[col[j] + at] = w[row + j] - zs[j];
    }
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
