// Weights decoded from raw_data stay as the file's bytes until something reads `data`
// (compiler/ir/raw.ts): values bit for bit as the eager decode gave, at any alignment of the
// bytes in the file, through object spread, and written into a module's memory from the bytes.
import { describe, expect, it } from "vitest";
import { decodeTensor } from "../compiler/onnx/tensor.js";
import { onnx } from "../compiler/onnx/proto.js";
import { tensorBytes } from "../compiler/ir/raw.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { load } from "../compiler/driver/api.js";

/** A TensorProto whose raw_data starts `shift` bytes into a larger buffer (as inside a model file). */
function proto(values: Float32Array | BigInt64Array, dataType: number, shift: number) {
  const bytes = new Uint8Array(values.buffer);
  const file = new Uint8Array(bytes.length + 8);
  file.set(bytes, shift);
  return onnx.TensorProto.create({ name: "w", dataType, dims: [values.length], rawData: file.subarray(shift, shift + bytes.length) });
}

describe("raw tensors", () => {
  it("decode to the values written, at every alignment, and spread copies keep their data", () => {
    const f = Float32Array.from([1.5, -0, NaN, 3e38, -7]);
    const l = BigInt64Array.from([1n, -2n, 9007199254740993n]);
    for (const shift of [0, 1, 2, 3, 4]) {
      const t = decodeTensor(proto(f, 1, shift));
      expect(t.dtype).toBe("float32");
      expect(new Uint32Array((t.data as Float32Array).slice().buffer)).toEqual(new Uint32Array(f.buffer));
      expect(tensorBytes(t)).toEqual(new Uint8Array(f.buffer));
      const named = { ...t, name: "w" };
      expect(Array.from(named.data as Float32Array)).toEqual(Array.from(f));
      expect(Array.from(decodeTensor(proto(l, 7, shift)).data as BigInt64Array)).toEqual(Array.from(l));
    }
  });

  it("raw weights at odd offsets in the file reach the module intact, packed or copied as bytes", async () => {
    // MatMul packs w from its data; Add reads b in place, copied into the weights image as bytes
    const w = Array.from({ length: 12 }, (_, i) => i * 0.25 - 1.3);
    const b = Array.from({ length: 8 }, (_, i) => (i % 3) - 0.75);
    const bytes = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[2,3]
const %w : float32[3,4] = dense<[${w.join(", ")}]>
const %b : float32[2,4] = dense<[${b.join(", ")}]>
%m : float32[2,4] = MatMul(%x, %w) {name="mm"}
%y : float32[2,4] = Add(%m, %b) {name="add"}
output %y`));
    // the same model bytes one byte into a bigger buffer: every raw_data moves off alignment
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const x = Float32Array.from([1, 2, 3, -1, 0.5, 4]);
    const want: number[] = [];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 4; j++) want.push([0, 1, 2].reduce((s, k) => s + x[i * 3 + k] * w[k * 4 + j], 0) + b[i * 4 + j]);
    for (const model of [bytes, shifted.subarray(1)]) for (const level of [0, 2] as const) {
      const m = await load(model, { cache: false, level });
      const got = (await m.run({ x: { data: x, dims: [2, 3] } })).y.data as Float32Array;
      Array.from(got).forEach((v, k) => expect(v).toBeCloseTo(want[k], 5));
    }
  });
});
