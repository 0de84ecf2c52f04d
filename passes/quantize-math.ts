// The arithmetic of kiln's own quantization (passes/quantize-weights.ts, quantize-static.ts):
// how weights become 4- or 8-bit codes with their scales, how activation ranges become int8
// parameters, and how far a quantized result is from the float one. Pure functions on arrays.
import { nearestNormalHalf } from "../compiler/ir/values.js";

/** Round half to even, as numpy's round and onnxruntime's QuantizeLinear do. */
export function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const clamp = (x: number, lo: number, hi: number) => (x < lo ? lo : x > hi ? hi : x);

/**
 * Weights as com.microsoft MatMulNBits stores them: `rows` is [N][K] (one row per output
 * channel), quantized in blocks of `block` along K. 8 bits are symmetric (scale = max|w| / 127,
 * codes shifted by 128, the operator's default zero point: no zero points stored); 4 bits are
 * asymmetric (the block's [min, max], widened to hold 0, in 16 steps, a zero point per block),
 * the more accurate of the two for 16 levels, the range shrunk where that lowers the block's
 * squared error (bestRange4). Each scale is a float16 value where one is within 2^-11 of it
 * (nearestNormalHalf): the kernels then keep the scales as float16 (quant/nbits-pack.ts), a
 * 4-bit weight's share of them 0.5 bits instead of 1. `deq` is what the kernel computes with, [N][K].
 */
export interface NBitsWeights {
  bits: 4 | 8;
  block: number;
  blocks: number;
  /** uint8 [N, blocks, block * bits / 8], element k of a block at bit (k * bits) % 8, low bits first */
  B: Uint8Array;
  /** float32 [N * blocks] */
  scales: Float32Array;
  /** uint8 [N * ceil(blocks * bits / 8)], 4 bits only */
  zeros?: Uint8Array;
  deq: Float32Array;
}

export function quantizeNBits(rows: Float32Array, N: number, K: number, bits: 4 | 8, block: number): NBitsWeights {
  const blocks = Math.ceil(K / block), blob = (block * bits) / 8, zRow = Math.ceil((blocks * bits) / 8);
  const B = new Uint8Array(N * blocks * blob), scales = new Float32Array(N * blocks), deq = new Float32Array(N * K);
  const zeros = bits === 4 ? new Uint8Array(N * zRow) : undefined;
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      const k0 = b * block, k1 = Math.min(K, k0 + block);
      let lo = 0, hi = 0;
      for (let k = k0; k < k1; k++) { const w = rows[n * K + k]; if (w < lo) lo = w; if (w > hi) hi = w; }
      let scale: number, zp: number, qmin: number, qmax: number;
      if (bits === 8) {
        const m = Math.max(-lo, hi);
        scale = nearestNormalHalf(Math.fround(m > 0 ? m / 127 : 1));
        [zp, qmin, qmax] = [128, 1, 255];
      } else {
        [scale, zp] = bestRange4(rows, n * K + k0, n * K + k1, lo, hi);
        [qmin, qmax] = [0, 15];
        zeros![n * zRow + (b >> 1)] |= b & 1 ? zp << 4 : zp;
      }
      scales[n * blocks + b] = scale;
      for (let k = k0; k < k1; k++) {
        const q = clamp(roundEven(rows[n * K + k] / scale) + zp, qmin, qmax);
        const at = n * blocks * blob + b * blob + (((k - k0) * bits) >> 3);
        B[at] |= bits === 8 ? q : (k - k0) & 1 ? q << 4 : q;
        deq[n * K + k] = Math.fround((q - zp) * scale);
      }
    }
  }
  return { bits, block, blocks, B, scales, zeros, deq };
}

/** Range shrink factors tried for a 4-bit block: clipping its extremes can lower the block's error. */
const SHRINK = [1, 0.95, 0.9, 0.85, 0.8];

/**
 * The 4-bit (scale, zero point) of the block rows[from, to) in [lo, hi] (holding 0) with the least
 * squared error among its range shrunk by SHRINK: 16 levels spread over fewer outliers serve the
 * bulk of a block better (the full range first, kept on ties).
 */
function bestRange4(rows: Float32Array, from: number, to: number, lo: number, hi: number): [number, number] {
  let best: [number, number] = [1, 0], bestErr = Infinity;
  for (const f of SHRINK) {
    const scale = nearestNormalHalf(Math.fround(hi > lo ? (f * (hi - lo)) / 15 : 1));
    const zp = clamp(roundEven(-(f * lo) / scale), 0, 15);
    let err = 0;
    for (let i = from; i < to && err < bestErr; i++) {
      const d = (clamp(roundEven(rows[i] / scale) + zp, 0, 15) - zp) * scale - rows[i];
      err += d * d;
    }
    if (err < bestErr) [best, bestErr] = [[scale, zp], err];
  }
  return best;
}

/**
 * Symmetric int8 weights per output channel (`axis` of `dims`), as quantize_static writes
 * per-channel weights: scale = max|w| / 127, zero point 0, codes in [-127, 127].
 */
export function quantizePerChannel(w: Float32Array, dims: readonly number[], axis: number): { q: Int8Array; scales: Float32Array; deq: Float32Array } {
  const C = dims[axis], inner = dims.slice(axis + 1).reduce((a, d) => a * d, 1);
  const channelOf = (i: number) => Math.floor(i / inner) % C;
  const maxAbs = new Float32Array(C);
  for (let i = 0; i < w.length; i++) { const c = channelOf(i); maxAbs[c] = Math.max(maxAbs[c], Math.abs(w[i])); }
  const scales = Float32Array.from(maxAbs, (m) => (m > 0 ? m / 127 : 1));
  const q = new Int8Array(w.length), deq = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) {
    const s = scales[channelOf(i)];
    q[i] = clamp(roundEven(w[i] / s), -127, 127);
    deq[i] = Math.fround(q[i] * s);
  }
  return { q, scales, deq };
}

/**
 * The range an activation is quantized over, from its [min, max] on each calibration input but
 * input `leftOut` (-1: all of them): their union, widened on each side by the most that one input
 * went past all the others (the jackknife's guess at how far an input not calibrated on goes: with
 * eight lines, a bolder or larger one than any of them is no rarity).
 */
export function reach(ranges: readonly (readonly [number, number])[], leftOut = -1): [number, number] {
  const kept = ranges.filter((_, k) => k !== leftOut || ranges.length < 2);
  let lo = Infinity, hi = -Infinity, over = 0, under = 0;
  for (const [a, b] of kept) { lo = Math.min(lo, a); hi = Math.max(hi, b); }
  if (kept.length < 3) return [lo, hi];
  kept.forEach(([a, b], k) => {
    let oLo = Infinity, oHi = -Infinity;
    kept.forEach(([c, d], j) => { if (j !== k) { oLo = Math.min(oLo, c); oHi = Math.max(oHi, d); } });
    over = Math.max(over, b - oHi);
    under = Math.max(under, oLo - a);
  });
  return [lo - under, hi + over];
}

/** int8 parameters of an activation observed in [min, max] (asymmetric; the range always holds 0, which must be exact). */
export function activationParams(min: number, max: number): { scale: number; zero: number } {
  const lo = Math.min(min, 0), hi = Math.max(max, 0);
  const scale = Math.fround(hi > lo ? (hi - lo) / 255 : 1);
  return { scale, zero: clamp(roundEven(-128 - lo / scale), -128, 127) };
}

/** x quantized to int8 with (scale, zero) and back: what DequantizeLinear(QuantizeLinear(x)) gives. */
export function fakeQuant(x: Float32Array, scale: number, zero: number): Float32Array {
  return Float32Array.from(x, (v) => Math.fround((clamp(roundEven(v / scale) + zero, -128, 127) - zero) * scale));
}

/** Running sums for relative L2 error over several tensors: sqrt(sum |a - b|^2 / sum |b|^2). */
export class ErrorSum {
  num = 0;
  den = 0;
  maxAbs = 0;
  add(got: ArrayLike<number>, want: ArrayLike<number>): void {
    for (let i = 0; i < want.length; i++) {
      const d = got[i] - want[i];
      this.num += d * d;
      this.den += want[i] * want[i];
      if (!(Math.abs(d) <= this.maxAbs)) this.maxAbs = Number.isNaN(d) ? Infinity : Math.abs(d);
    }
  }
  get relL2(): number {
    return this.num === 0 ? 0 : Math.sqrt(this.num / Math.max(this.den, 1e-30));
  }
}
