// Raw tensors (compiler/ir/raw.ts): a weight stays the model's bytes until something reads `data`,
// which builds its array and keeps it. readOnce is for a single read (a kernel's form computed as
// the weight is placed) and keeps nothing: a view where the bytes are aligned, else a copy.
import { describe, expect, it } from "vitest";
import { rawTensor, readOnce } from "../compiler/ir/raw.js";

describe("readOnce", () => {
  const values = Float32Array.from({ length: 37 }, (_, i) => Math.sin(i) * 1e3);
  const at = (offset: number) => {
    const bytes = new Uint8Array(offset + values.byteLength);
    bytes.set(new Uint8Array(values.buffer), offset);
    return rawTensor("float32", [37], bytes.subarray(offset));
  };

  it("views the model's bytes where they are aligned: no copy", () => {
    const t = at(8);
    const a = readOnce(t) as Float32Array;
    expect(Array.from(a)).toEqual(Array.from(values));
    expect(a.buffer).toBe((t as unknown as { raw: Uint8Array }).raw.buffer);
  });

  it("copies misaligned bytes into an array it does not keep (data builds its own)", () => {
    const t = at(3);
    const a = readOnce(t) as Float32Array, b = readOnce(t);
    expect(Array.from(a)).toEqual(Array.from(values));
    expect(a).not.toBe(b);
    expect(t.data).not.toBe(a);
    // once built, `data` is what readOnce gives: no second copy
    expect(readOnce(t)).toBe(t.data);
  });
});
