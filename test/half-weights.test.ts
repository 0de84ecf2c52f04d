// float16 weights in a compact artifact (issue 16, criterion 3, for issue 14's float16 models): the
// artifact stores the codes the model gives (compiler/ir/values.ts HalfSource) and the module widens
// them in each weight's float32 slot as the layer is placed (codegen/math/half.ts WIDEN_HALFS, then
// SCALE_F32 for a folded BatchNormalization). The wasm must give the compiler's float32 bytes bit
// for bit, in place, for every code (subnormals, -0, infinities), and every placement must run.
import binaryen from "binaryen";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { compile, load } from "../compiler/driver/api.js";
import type * as Api from "../compiler/driver/api.js";
import { Fn } from "../codegen/fn.js";
import { addHalfHelpers, addScaleF32, addWidenHalfs, SCALE_F32, WIDEN_HALFS } from "../codegen/math/half.js";
import { exactHalfBits, halfsToFloat32, halfSourceOf, halfTransposed, widenedHalfs } from "../compiler/ir/values.js";
import { scaledTensor } from "../compiler/ir/scaled.js";
import { readArtifact } from "../compiler/driver/artifact-info.js";
import { buildZooModel } from "../models/zoo.js";
import { toFloat16 } from "../models/float16.js";
import { createSession } from "../runtime/session.js";
import { bytesSource } from "../runtime/sources.js";
import { onnxWeightBytes } from "../bench/sizes.js";
import { randomFeeds } from "./util/models.js";

const DST = 64;

/** A module with the helpers: run(src, dst, n) widens, scale(dst, n, factors, count, inner) scales; memory full of 0xee. */
function helpers(pages: number) {
  const m = new binaryen.Module();
  try {
    m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.BulkMemory);
    m.setMemory(pages, pages, "memory");
    addHalfHelpers(m);
    addWidenHalfs(m);
    addScaleF32(m);
    m.addFunctionExport(WIDEN_HALFS, "widen");
    m.addFunctionExport(SCALE_F32, "scale");
    expect(m.validate()).toBeTruthy();
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(m.emitBinary() as Uint8Array<ArrayBuffer>));
    const memory = new Uint8Array((exports.memory as WebAssembly.Memory).buffer).fill(0xee);
    return { memory, widen: exports.widen as (s: number, d: number, n: number) => void, scale: exports.scale as (...a: number[]) => void };
  } finally {
    m.dispose();
  }
}

/** Widens `codes` as the module does in a slot at DST: the codes in its upper half. */
function widenInSlot(codes: Uint16Array): { out: Uint8Array; before: number; after: number } {
  const n = codes.length;
  const { memory, widen } = helpers(Math.ceil((DST + 4 * n + 64) / 65536));
  memory.set(new Uint8Array(codes.buffer, codes.byteOffset, codes.byteLength), DST + 2 * n);
  widen(DST + 2 * n, DST, n);
  return { out: memory.slice(DST, DST + 4 * n), before: memory[DST - 1], after: memory[DST + 4 * n] };
}

const bits = (f: Float32Array) => new Uint32Array(f.buffer, f.byteOffset, f.length);

describe("WIDEN_HALFS and SCALE_F32: the module's float32 bytes are the compiler's", () => {
  it("every float16 code, widened in place in its slot: halfsToFloat32's bits (NaNs keep their payload)", () => {
    // all 65,536 codes, then 5 more (the scalar tail), in an order that mixes them
    const codes = Uint16Array.from({ length: 65536 + 5 }, (_, i) => (i * 40503) & 0xffff);
    const { out, before, after } = widenInSlot(codes);
    expect([before, after]).toEqual([0xee, 0xee]); // nothing written outside the slot
    const got = new Uint32Array(out.buffer);
    const want = bits(halfsToFloat32(codes));
    let nans = 0;
    for (let i = 0; i < codes.length; i++) {
      const h = codes[i];
      if ((h & 0x7fff) > 0x7c00) {
        nans++;
        expect(got[i] >>> 0, `NaN code ${h.toString(16)}`).toBe((((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0);
      } else if (got[i] !== want[i]) expect(`code ${h.toString(16)}: ${got[i].toString(16)}`).toBe(`code ${h.toString(16)}: ${want[i].toString(16)}`);
    }
    expect(nans).toBe(2 * 1023);
  });

  it("short and odd lengths: the vector blocks and the scalar tail, each in place", () => {
    for (const n of [1, 7, 8, 9, 15, 16, 17, 64, 67]) {
      const codes = Uint16Array.from({ length: n }, (_, i) => [0x8000, 0x0001, 0x03ff, 0x0400, 0x7bff, 0xfc00, 0x3c00, 0xb555][i % 8] ^ (i % 8 === 5 ? 0 : i & 0x30));
      const { out, before, after } = widenInSlot(codes);
      expect([before, after], `n ${n}`).toEqual([0xee, 0xee]);
      expect(Array.from(new Uint32Array(out.buffer)), `n ${n}`).toEqual(Array.from(bits(halfsToFloat32(codes))));
    }
  });

  it("SCALE_F32 gives scaledTensor's Math.fround(w * s), per channel (inner > 1), per element of a row (inner 1) and one factor", () => {
    const codes = Uint16Array.from({ length: 6 * 35 }, (_, i) => (i * 2654435761) & 0x7bff ^ (i & 1 ? 0x8000 : 0));
    const factors = Float32Array.of(3.1, -1e-30, 7e30, 0.3333, -0, 1e-3);
    for (const [dims, scale, axis] of [[[6, 5, 7], factors, 0], [[35, 6], factors, 1], [[6, 35], Float32Array.of(-2.5), 0]] as const) {
      const base = widenedHalfs(dims, codes);
      const t = scaledTensor(base, scale as Float32Array, axis);
      const src = halfSourceOf(t)!;
      expect(src.scale).toBeDefined();
      const n = codes.length;
      const { memory, widen, scale: scaleFn } = helpers(1);
      memory.set(new Uint8Array(codes.buffer), DST + 2 * n);
      const at = DST + 4 * n + 16;
      memory.set(new Uint8Array(src.scale!.factors.buffer), at);
      widen(DST + 2 * n, DST, n);
      scaleFn(DST, n, at, src.scale!.factors.length, src.scale!.inner);
      expect(Array.from(new Uint32Array(memory.slice(DST, DST + 4 * n).buffer)), `dims ${dims}`).toEqual(Array.from(bits(t.data as Float32Array)));
    }
  });

  it("exactHalfBits gives back every code but NaNs from its float32 bits, and refuses a float32 that is no float16", () => {
    const codes = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const finite = codes.filter((h) => (h & 0x7c00) !== 0x7c00 || (h & 0x3ff) === 0);
    expect(Array.from(exactHalfBits(bits(halfsToFloat32(finite)))!)).toEqual(Array.from(finite));
    expect(exactHalfBits(bits(halfsToFloat32(Uint16Array.of(0x3c00, 0x7e00))))).toBeUndefined(); // a NaN
    for (const x of [1 + 2 ** -11, 2 ** -25, 65520, 2 ** -24 * 1.5, 1e-40]) expect(exactHalfBits(bits(Float32Array.of(0.5, x))), String(x)).toBeUndefined();
  });

  it("a transposed 1x1 weight keeps its codes transposed, and its per-channel factors run along its rows", () => {
    const codes = Uint16Array.from({ length: 4 * 3 }, (_, i) => 0x3c00 + i);
    const w = scaledTensor(widenedHalfs([4, 3, 1, 1], codes), Float32Array.of(1, 2, 3, 4), 0);
    const t = widenedHalfs([3, 4], new Uint16Array(12)); // any tensor: halfTransposed says how it comes from w
    halfTransposed(t, w, 4, 3);
    const src = halfSourceOf(t)!;
    expect(Array.from(src.codes)).toEqual([0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11].map((k) => 0x3c00 + k));
    expect(src.scale).toEqual({ factors: Float32Array.of(1, 2, 3, 4), inner: 1 });
  });
});

const outputBytes = (out: Record<string, { data: ArrayBufferView }>) =>
  Object.keys(out).sort().map((k) => Buffer.from(out[k].data.buffer, out[k].data.byteOffset, out[k].data.byteLength));

describe("a float16 model's compact artifact stores its weights as float16", () => {
  const model = toFloat16(buildZooModel("mlp"));
  const feeds = Object.fromEntries(Object.entries(randomFeeds(model)).map(([k, t]) => [k, t.data]));

  it("half the weight bytes, and the prepacked build's bits: resident (lazy, eager), JIT, threads, under a budget and from a sidecar", async () => {
    const compact = await compile(model, { simd: "baseline" });
    const packed = await compile(model, { simd: "baseline", prepack: true });
    const stored = readArtifact(compact.wasm).sizes.weights;
    // 784x256 + 256x128 + 128x10 float16 codes and biases: within 5% of the ONNX file's tensors
    expect(stored).toBeLessThanOrEqual(onnxWeightBytes(model) * 1.05);
    expect(readArtifact(packed.wasm).sizes.weights).toBeGreaterThan(onnxWeightBytes(model) * 1.9);
    expect(compact.manifest.layers.flatMap((l) => l.derived ?? []).length).toBeGreaterThan(0);
    const want = outputBytes(await (await createSession(packed.wasm)).run(feeds));
    const runs: [string, () => Promise<Record<string, { data: ArrayBufferView }>>][] = [
      ["compact, lazy", async () => (await createSession(compact.wasm)).run(feeds)],
      ["compact, eager", async () => (await createSession(compact.wasm, { placement: "eager" })).run(feeds)],
      ["compact, auto (both SIMD builds)", async () => (await createSession((await compile(model)).wasm)).run(feeds)],
      ["JIT", async () => (await load(model, { cache: false })).run(feeds)],
      ["threads 2", async () => {
        // from dist/ (npm test builds it first): the workers run runtime/thread-worker.js, which exists only there
        const dist = path.resolve(import.meta.dirname, "../dist");
        const api = (await import(path.join(dist, "compiler/driver/api.js"))) as typeof Api;
        const runtime = (await import(path.join(dist, "runtime/index.js"))) as { createSession: typeof createSession };
        const s = await runtime.createSession((await api.compile(model, { simd: "baseline", threads: 2 })).wasm, { threads: 2 });
        try {
          return await s.run(feeds);
        } finally {
          s.terminate?.();
        }
      }],
      ["memory budget", async () => {
        const c = await compile(model, { simd: "baseline", memoryBudget: 900_000 });
        return (await createSession(c.wasm, { weights: bytesSource(c.weights!), memoryBudget: 900_000 })).run(feeds);
      }],
      ["sidecar weights", async () => {
        const c = await compile(model, { simd: "baseline", weightsFile: "m.bin" });
        return (await createSession(c.wasm, { weights: bytesSource(c.weights!) })).run(feeds);
      }],
    ];
    for (const [what, run] of runs) {
      const got = outputBytes(await run());
      expect(got.map((b, k) => b.equals(want[k])), what).toEqual(want.map(() => true));
    }
    expect(want[0].some((b) => b !== 0)).toBe(true);
  }, 120_000);

  it("a weight only a packed GEMM reads ships its panels as codes, widened in place: no float32 copy of the weight beside them", async () => {
    // the module derives the panels' float32 bytes (about twice the codes), not the weight widened
    // and then packed from it (twice that: both resident)
    const compact = await compile(model, { simd: "baseline" });
    const derived = compact.manifest.layers.flatMap((l) => l.derived ?? []).reduce((a, d) => a + d[1], 0);
    const float32 = 2 * onnxWeightBytes(model);
    expect(derived).toBeGreaterThan(0.9 * float32);
    expect(derived).toBeLessThan(1.1 * float32);
    expect(compact.manifest.layers.filter((l) => l.kernel === "packed").length).toBe(3);
  });

  it("a damaged float16 piece stops the session at its layer (the checksum covers the stored codes)", async () => {
    const compact = await compile(model, { simd: "baseline" });
    const { sizes } = readArtifact(compact.wasm);
    const wasm = compact.wasm.slice();
    wasm[wasm.length - sizes.weights + 1000] ^= 0x40; // inside the first weight's codes
    const session = await createSession(wasm);
    await expect(session.run(feeds)).rejects.toMatchObject({ code: "INVALID_ARTIFACT", message: expect.stringMatching(/the weights of layer/) });
  });
});
