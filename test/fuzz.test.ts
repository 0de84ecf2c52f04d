// Corrupted models must end in a KilnError (or compile), never in another exception or a hang.
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import { compile } from "../compiler/driver/api.js";
import { KilnError } from "../runtime/errors.js";
import { rng } from "../compiler/driver/cli/inputs.js";

// a spread of operator families: every 45th conformance model plus a few with constants and attributes
const dir = "../shared/onnx/node";
const names = fs.readdirSync(dir).filter((_, i) => i % 45 === 0)
  .concat(["test_conv_with_strides_padding", "test_gemm_default_matrix_bias", "test_reshape_reordered_all_dims", "test_layer_normalization_2d_axis0", "test_resize_upsample_scales_linear"]);
const sources = names.map((c) => new Uint8Array(fs.readFileSync(`${dir}/${c}/model.onnx`)));

describe("corrupted ONNX files", () => {
  it("byte flips, truncations and splices give a KilnError or a valid compile", async () => {
    const r = rng(Number(process.env.FUZZ_SEED ?? 42));
    const outcomes = { compiled: 0, rejected: 0 };
    for (let i = 0; i < Number(process.env.FUZZ_N ?? 600); i++) {
      const src = sources[i % sources.length];
      const bytes = src.slice();
      const mode = i % 3;
      if (mode === 0) for (let k = 0; k < 1 + Math.floor(r() * 4); k++) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      const input = mode === 1 ? bytes.slice(0, Math.floor(r() * bytes.length))
        : mode === 2 ? new Uint8Array([...bytes.slice(0, Math.floor(r() * bytes.length)), ...sources[(i + 1) % sources.length].slice(Math.floor(r() * 50))])
        : bytes;
      try {
        await compile(input);
        outcomes.compiled++;
      } catch (e) {
        if (!(e instanceof KilnError)) throw new Error(`case ${i} (mode ${mode}) threw a non-KilnError: ${(e as Error).stack}`);
        expect(e.code, `case ${i} (mode ${mode}): ${e.message}`).not.toBe("INTERNAL");
        outcomes.rejected++;
      }
    }
    expect(outcomes.rejected).toBeGreaterThan(50);
  });
});
