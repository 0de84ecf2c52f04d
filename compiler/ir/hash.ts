// A 53-bit hash of bytes, for finding equal tensors (compiler/driver/evaluate-cache.ts: candidates,
// every byte then compared; compiler/driver/symbolic-snapshot.ts: a probe's constants against
// another's). Two 32-bit lanes (murmur3's mixing of 32-bit words, different seeds) read the bytes
// four at a time where they are aligned: a byte at a time (FNV-1a) took 5.7% of a bounded DeBERTa
// load, hashing the same tensors at every probe.

const M1 = 0xcc9e2d51, M2 = 0x1b873593;

function mixWord(h: number, w: number): number {
  w = Math.imul(w, M1);
  w = (w << 15) | (w >>> 17);
  h ^= Math.imul(w, M2);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The hash of `bytes` (seeded by `seed`, to chain several arrays): an integer below 2^53. With
 * `sample`, at most that many of its words (or, unaligned, bytes) are read, evenly spaced: for a
 * lookup whose hits compare every byte anyway.
 */
export function hashBytes(bytes: Uint8Array, seed = 0, sample = Infinity): number {
  let a = seed ^ 0x9747b28c, b = Math.imul(seed, 0x2545f491) ^ 0x5bd1e995;
  const words = bytes.byteOffset % 4 === 0 ? bytes.byteLength >>> 2 : 0;
  if (words) {
    const w = new Int32Array(bytes.buffer, bytes.byteOffset, words);
    const step = words > sample ? Math.ceil(words / sample) : 1;
    for (let i = 0; i < words; i += step) {
      a = mixWord(a, w[i]);
      b = mixWord(b, w[i] ^ 0x7f4a7c15);
    }
    if (step > 1) a = mixWord(a, w[words - 1]);
  }
  // the bytes after the words (all of them where unaligned: a model's raw bytes), sampled alike
  const rest = bytes.byteLength - words * 4;
  const step = rest > sample ? Math.ceil(rest / sample) : 1;
  for (let i = words * 4; i < bytes.byteLength; i += step) {
    a = mixWord(a, bytes[i]);
    b = mixWord(b, bytes[i] ^ 0x7f4a7c15);
  }
  return finish(a, bytes.byteLength) * 2 ** 21 + (finish(b, bytes.byteLength) >>> 11);
}
