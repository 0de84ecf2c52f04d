// A 53-bit hash of bytes, and byte equality, for finding equal tensors (compiler/driver/evaluate-cache.ts: candidates,
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
 * The hash of `bytes` (seeded by `seed`, to chain several arrays): an integer below 2^53, the same
 * wherever the bytes lie (a model's raw initializers need not be aligned). With `sample`, at most
 * that many of its 4-byte words are read, evenly spaced (and the last): for a lookup whose hits
 * compare every byte anyway.
 */
export function hashBytes(bytes: Uint8Array, seed = 0, sample = Infinity): number {
  let a = seed ^ 0x9747b28c, b = Math.imul(seed, 0x2545f491) ^ 0x5bd1e995;
  const words = bytes.byteLength >>> 2;
  if (words) {
    // little-endian words, through a typed array where aligned (faster), else a DataView
    const aligned = bytes.byteOffset % 4 === 0 ? new Int32Array(bytes.buffer, bytes.byteOffset, words) : undefined;
    const view = aligned ? undefined : new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const word = (i: number) => (aligned ? aligned[i] : view!.getInt32(4 * i, true));
    const step = words > sample ? Math.ceil(words / sample) : 1;
    for (let i = 0; i < words; i += step) {
      const w = word(i);
      a = mixWord(a, w);
      b = mixWord(b, w ^ 0x7f4a7c15);
    }
    if (step > 1) a = mixWord(a, word(words - 1));
  }
  for (let i = words * 4; i < bytes.byteLength; i++) {
    a = mixWord(a, bytes[i]);
    b = mixWord(b, bytes[i] ^ 0x7f4a7c15);
  }
  return finish(a, bytes.byteLength) * 2 ** 21 + (finish(b, bytes.byteLength) >>> 11);
}

/** Whether a and b hold the same bytes (four at a time where both are aligned). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  const words = a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0 ? a.length >>> 2 : 0;
  if (words) {
    const x = new Int32Array(a.buffer, a.byteOffset, words), y = new Int32Array(b.buffer, b.byteOffset, words);
    for (let i = 0; i < words; i++) if (x[i] !== y[i]) return false;
  }
  for (let i = words * 4; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
