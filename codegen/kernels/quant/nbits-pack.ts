// Block-quantized weights (MatMulNBits; blocked int4 DequantizeLinear feeding a MatMul, which
// passes/fuse-qdq.ts rewrites to MatMulNBits) as the kernels of quant/nbits.ts read them, packed
// at compile time and kept at 4 or 8 bits. Columns go in panels of NR = 16 (the float GEMM's
// panel width): per panel, per k, one row of 16 weights, 8 bytes at 4 bits (byte j: column j in
// the low nibble, column j + 8 in the high one) or 16 at 8 bits, so a panel row unpacks with
// two logical ops and a shuffle and no transpose; per panel and block, 16 zero points (bytes)
// and 16 scales: float16 codes when every scale is a float16 value (kiln's own quantize pass
// makes them so: passes/quantize-math.ts), else float32. Columns past N are zero weights (zero
// point and scale 0).
import type { Tensor } from "../../../compiler/ir/graph.js";
import { exactHalfCodes } from "../../../compiler/ir/values.js";
import { numbers } from "./qlayer.js";

export const NBITS_NR = 16;

/** One block-quantized weight matrix W[n][k] = (q(n, k) - zp(n, k / bs)) * scale(n, k / bs). */
export interface NBitsWeights {
  K: number;
  N: number;
  bits: 4 | 8;
  bs: number;
  blocks: number;
  q(n: number, k: number): number;
  zp(n: number, b: number): number;
  scale(n: number, b: number): number;
}

/** MatMulNBits' B, scales and zero points (uint8 packed, or absent: 2^(bits-1)). */
export function matMulNBitsWeights(K: number, N: number, bits: 4 | 8, bs: number, b: Tensor, scales: Tensor, zp?: Tensor): NBitsWeights | undefined {
  const blocks = Math.ceil(K / bs), blob = (bs * bits) / 8;
  const data = b.data as Uint8Array, s = Float32Array.from(numbers(scales));
  if (zp && zp.dtype !== "uint8") return undefined;
  const zpRow = Math.ceil((blocks * bits) / 8);
  const zpData = zp?.data as Uint8Array | undefined;
  const mid = 1 << (bits - 1);
  return {
    K, N, bits, bs, blocks,
    q: (n, k) => {
      const byte = data[n * blocks * blob + Math.floor(k / bs) * blob + Math.floor(((k % bs) * bits) / 8)];
      return bits === 8 ? byte : (k & 1 ? byte >> 4 : byte & 15);
    },
    zp: (n, blk) => {
      if (!zpData) return mid;
      const byte = zpData[n * zpRow + Math.floor((blk * bits) / 8)];
      return bits === 8 ? byte : (blk & 1 ? byte >> 4 : byte & 15);
    },
    scale: (n, blk) => s[n * blocks + blk],
  };
}

export interface NBitsPacked {
  /** per panel, per k (K padded to even), 16 weights: 8 bytes (4 bits) or 16 (8 bits) */
  q: Uint8Array;
  /** per panel and block, 16 zero points */
  zp: Uint8Array;
  /** per panel and block, 16 scales */
  scale: Float32Array;
  /** the same as float16 codes, when every scale is one (halfScales(w): the padding's are 0) */
  halfScale?: Uint16Array;
  panels: number;
  Kp: number;
}

export function packNBits(w: NBitsWeights): NBitsPacked {
  const { K, N, bits, blocks } = w;
  const panels = Math.ceil(N / NBITS_NR), Kp = K + (K & 1);
  const rowBytes = bits === 4 ? 8 : 16;
  const q = new Uint8Array(panels * Kp * rowBytes);
  const zp = new Uint8Array(panels * blocks * NBITS_NR);
  const scale = new Float32Array(panels * blocks * NBITS_NR);
  for (let p = 0; p < panels; p++) {
    for (let j = 0; j < NBITS_NR; j++) {
      const n = p * NBITS_NR + j;
      if (n >= N) continue;
      for (let b = 0; b < blocks; b++) {
        zp[(p * blocks + b) * NBITS_NR + j] = w.zp(n, b);
        scale[(p * blocks + b) * NBITS_NR + j] = w.scale(n, b);
      }
      for (let k = 0; k < K; k++) {
        const v = w.q(n, k);
        const at = (p * Kp + k) * rowBytes;
        if (bits === 8) q[at + j] = v;
        else q[at + (j % 8)] |= j < 8 ? v : v << 4;
      }
    }
  }
  return { q, zp, scale, halfScale: exactHalfCodes(scale), panels, Kp };
}

/** Whether the kernels keep w's scales as float16: every scale is exactly 0 or a normal float16. */
export function halfScales(w: NBitsWeights): boolean {
  const all = new Float32Array(w.N * w.blocks);
  for (let n = 0; n < w.N; n++) for (let b = 0; b < w.blocks; b++) all[n * w.blocks + b] = w.scale(n, b);
  return exactHalfCodes(all) !== undefined;
}

/** The dequantized W^T (K x N, row-major), for checks. */
export function dequantized(w: NBitsWeights): Float32Array {
  const out = new Float32Array(w.K * w.N);
  for (let n = 0; n < w.N; n++) {
    for (let k = 0; k < w.K; k++) {
      const b = Math.floor(k / w.bs);
      out[k * w.N + n] = Math.fround((w.q(n, k) - w.zp(n, b)) * w.scale(n, b));
    }
  }
  return out;
}
