// compiler/ir/hash.ts: equal bytes hash (and compare) equal wherever they lie (cse merges a model's twin
// initializers by these hashes, and raw initializers need not be 4-byte aligned), sampled or not.
import { describe, expect, it } from "vitest";
import { equalBytes, hashBytes } from "../compiler/ir/hash.js";

describe("hashBytes", () => {
  const bytes = Uint8Array.from({ length: 4099 }, (_, i) => (i * 37 + (i >> 5)) & 255);
  const at = (offset: number) => {
    const buf = new Uint8Array(bytes.length + 8);
    buf.set(bytes, offset);
    return buf.subarray(offset, offset + bytes.length);
  };
  it("is the same for the same bytes at any alignment, sampled or whole", () => {
    for (const sample of [Infinity, 64]) {
      const want = hashBytes(at(0), 0, sample);
      for (const offset of [1, 2, 3, 4, 7]) expect(hashBytes(at(offset), 0, sample), `offset ${offset}, sample ${sample}`).toBe(want);
    }
  });
  it("equalBytes: equal bytes at any alignment; one changed byte or a shorter run is not", () => {
    for (const offset of [0, 1, 4]) expect(equalBytes(at(offset), at(3))).toBe(true);
    const other = at(2).slice();
    other[4098] ^= 1;
    expect(equalBytes(other, at(0))).toBe(false);
    expect(equalBytes(at(0).subarray(0, 4098), at(0))).toBe(false);
  });

  it("tells apart one changed byte (whole), another seed, another length", () => {
    const other = at(1).slice();
    other[2000] ^= 1;
    expect(hashBytes(other)).not.toBe(hashBytes(at(0)));
    expect(hashBytes(at(0), 1)).not.toBe(hashBytes(at(0)));
    expect(hashBytes(at(0).subarray(0, 4098))).not.toBe(hashBytes(at(0)));
    expect(hashBytes(at(0))).toBeLessThan(2 ** 53);
  });
});
