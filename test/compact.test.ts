// Compact artifacts (codegen/derive.ts): the weights image stores each weight once, as the model
// gives it, and the module derives the kernels' forms (Winograd U, packed GEMM panels) as the
// runtime places them. Per recipe, the wasm form writes bit for bit the bytes the compiler's JS
// form writes, on odd shapes, -0 and dirty memory; a model compiled compact and --prepack gives
// the same output bits, and onnxruntime's within tolerance; what cannot be derived stays packed.
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { compile } from "../compiler/driver/api.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { splatTensor } from "../compiler/ir/splat.js";
import { Fn } from "../codegen/fn.js";
import { F2, F4, transformedConstant } from "../codegen/kernels/conv/winograd-math.js";
import { winogradDerive } from "../codegen/kernels/conv/winograd-derive.js";
import { packBOf } from "../codegen/kernels/matmul/gemm-pack.js";
import type { LazyConstant } from "../codegen/kernels/kernel.js";
import { qchannelTables, qpackedConstant, qwidenedConstant } from "../codegen/kernels/quant/qgemm-derive.js";
import { requantMultipliers, type QLayer } from "../codegen/kernels/quant/qlayer.js";
import { packCols, packRows } from "../codegen/kernels/quant/qgemm-pack.js";
import { packedRowsBytes, QTILE } from "../codegen/kernels/quant/qgemm.js";
import { appendManifest } from "../codegen/artifact.js";
import { MANIFEST_CHECKSUM_SECTION, MANIFEST_SECTION, RELAXED_CODE_SECTION, WEIGHTS_SECTION, type Manifest } from "../runtime/manifest.js";
import { appendCustomSection, sections, withoutSections } from "../runtime/sections.js";
import { splitWeights } from "../runtime/weights.js";
import { createSession } from "../runtime/session.js";
import { buildCase, runOrt, tensor } from "./util/ort.js";
import { onnxWeightBytes, SIZE_FACTOR } from "../bench/sizes.js";
import { seedLightModel } from "../models/light-seed.js";
import { buildZooModel } from "../models/zoo.js";
import { quantizedModel } from "../models/quantize/refill.js";
import { readArtifact } from "../compiler/driver/artifact-info.js";
import * as fs from "node:fs";
import { lightModel } from "./util/models.js";

const SRC = 64;

/** The constant's derive code run in a module of its own: source bytes at SRC, the result after them in memory full of 0xee. */
function derivedInWasm(c: LazyConstant, source: Uint8Array): Uint8Array {
  const dst = SRC + Math.ceil(source.length / 16) * 16 + 4; // an address off 16-byte alignment
  const m = new binaryen.Module();
  try {
    m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.BulkMemory | binaryen.Features.BulkMemoryOpt);
    const pages = Math.ceil((dst + c.byteLength + 64) / 65536);
    m.setMemory(pages, pages, "memory");
    const fn = new Fn(m, "derive");
    c.derive!(fn, SRC, dst);
    fn.finish();
    m.addFunctionExport("derive", "derive");
    expect(m.validate()).toBeTruthy();
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(m.emitBinary() as Uint8Array<ArrayBuffer>));
    const memory = new Uint8Array((exports.memory as WebAssembly.Memory).buffer);
    memory.fill(0xee);
    memory.set(source, SRC);
    (exports.derive as () => void)();
    expect(memory[dst + c.byteLength]).toBe(0xee); // nothing written past the constant
    return memory.slice(dst, dst + c.byteLength);
  } finally {
    m.dispose();
  }
}

/** What the compiler's JS form writes. */
function writtenInJs(c: LazyConstant): Uint8Array {
  const out = new Uint8Array(c.byteLength).fill(0x11);
  c.write(out);
  return out;
}

const bytesOf = (t: Tensor) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** random weights with -0, zeros, tiny and huge values among them */
function edgy(dims: number[], seed: number): Tensor {
  const t = tensor({ dims, lo: -3, hi: 3 }, seed);
  const d = t.data as Float32Array;
  for (let k = 0; k < d.length; k += 7) d[k] = [-0, 0, 1e-30, -3e30, 1, -1][(k / 7) % 6];
  return t;
}

describe("derived weight forms: the module's wasm writes the compiler's bytes", () => {
  for (const t of [F2, F4]) {
    it(`Winograd F(${t.m}x${t.m},3x3) U on odd filter counts and channels`, () => {
      for (const [M, C] of [[1, 1], [3, 2], [6, 5], [8, 3], [13, 7], [16, 16]]) {
        const w = edgy([M, C, 3, 3], M * 17 + C);
        const c = transformedConstant(t, w, M, C, winogradDerive(t, M, C));
        expect(c.derive).toBeDefined();
        expect(Buffer.from(derivedInWasm(c, bytesOf(w))).equals(Buffer.from(writtenInJs(c))), `F${t.m} ${M}x${C}`).toBe(true);
      }
    });

    it(`Winograd F(${t.m}x${t.m},3x3): a splat filter bank derives from its full bytes what its JS form writes`, () => {
      for (const [M, C, v] of [[6, 5, 0.37], [3, 2, -0]] as const) {
        const w = splatTensor("float32", [M, C, 3, 3], Float32Array.of(v));
        const c = transformedConstant(t, w, M, C, winogradDerive(t, M, C));
        const full = new Float32Array(M * C * 9).fill(v);
        expect(Buffer.from(derivedInWasm(c, new Uint8Array(full.buffer))).equals(Buffer.from(writtenInJs(c)))).toBe(true);
      }
    });
  }

  it("Winograd: a float16 filter bank has no wasm form (it ships transformed)", () => {
    const w: Tensor = { dtype: "float16", dims: [4, 4, 3, 3], data: new Uint16Array(144) };
    expect(transformedConstant(F4, w, 4, 4, winogradDerive(F4, 4, 4)).derive).toBeUndefined();
  });

  it("packed GEMM panels (packB): K and N off the panel width, both orientations, nr 8 and 16", () => {
    for (const nr of [8, 16]) {
      for (const [K, N] of [[1, 1], [3, 17], [16, 16], [17, 35], [40, 8], [5, 6]]) {
        for (const transB of [false, true]) {
          const b = edgy(transB ? [N, K] : [K, N], K * 13 + N);
          const c = packBOf(b, K, N, transB, nr);
          expect(Buffer.from(derivedInWasm(c, bytesOf(b))).equals(Buffer.from(writtenInJs(c))), `packB ${K}x${N} ${transB} nr${nr}`).toBe(true);
        }
      }
    }
  });

  it("int8 GEMM packing (i16, zero point subtracted): columns of B both orientations, rows of A in groups, odd K, int8 and uint8", () => {
    for (const [dtype, z] of [["int8", 0], ["int8", -3], ["uint8", 128]] as const) {
      for (const [K, N] of [[1, 1], [5, 7], [16, 17], [33, 9]]) {
        for (const transW of [false, true]) {
          const w = tensor({ dtype, dims: transW ? [N, K] : [K, N] }, K * 7 + N);
          const v = w.data as Int8Array | Uint8Array;
          const packed = packCols((k, n) => (transW ? v[n * K + k] : v[k * N + n]) - z, K, N);
          const c = qpackedConstant(packed, w, z, { groups: 1, lines: N, K, tile: QTILE.nr, step: transW ? 1 : N, groupBytes: packed.length,
            first: (m, _g, n) => (transW ? m.i32.mul(n, m.i32.const(K)) : n) }, "test") as LazyConstant;
          expect(c.derive).toBeDefined();
          expect(Buffer.from(derivedInWasm(c, bytesOf(w))).equals(Buffer.from(writtenInJs(c))), `cols ${dtype} z${z} ${K}x${N} ${transW}`).toBe(true);
        }
      }
      for (const [G, OCg, K] of [[1, 5, 9], [2, 4, 27], [3, 1, 4]]) {
        const w = tensor({ dtype, dims: [G * OCg, K] }, G + OCg + K);
        const v = w.data as Int8Array | Uint8Array;
        const parts = Array.from({ length: G }, (_, g) => packRows((i, k) => v[(g * OCg + i) * K + k] - z, OCg, K));
        const packed = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
        parts.forEach((p, g) => packed.set(p, g * p.length));
        expect(parts[0].length).toBe(packedRowsBytes(OCg, K));
        const c = qpackedConstant(packed, w, z, { groups: G, lines: OCg, K, tile: QTILE.mr, step: 1, groupBytes: parts[0].length,
          first: (m, g, i) => m.i32.mul(m.i32.add(m.i32.mul(g, m.i32.const(OCg)), i), m.i32.const(K)) }, "test") as LazyConstant;
        expect(Buffer.from(derivedInWasm(c, bytesOf(w))).equals(Buffer.from(writtenInJs(c))), `rows ${dtype} z${z} ${G}x${OCg}x${K}`).toBe(true);
      }
    }
  });

  it("int8 depthwise taps widened to i16, zero point subtracted", () => {
    for (const [dtype, z] of [["int8", 0], ["int8", 5], ["uint8", 128]] as const) {
      const w = tensor({ dtype, dims: [7, 1, 3, 3] }, 11);
      const taps = Int16Array.from(w.data as Int8Array | Uint8Array, (x) => x - z);
      const c = qwidenedConstant(new Uint8Array(taps.buffer), w, z) as LazyConstant;
      expect(Buffer.from(derivedInWasm(c, bytesOf(w))).equals(Buffer.from(writtenInJs(c))), `${dtype} z${z}`).toBe(true);
    }
  });

  it("int8 layers' bias (less its zero point) and requantization multipliers (x_scale * w_scale / y_scale), per channel or one for all", () => {
    const op = { index: 0, dtype: "int8" as const, dims: [1], zp: { kind: "const" as const, values: [0] } };
    // scales with subnormal, huge, -0 and 1 among them: the products and quotients round the same in wasm and JS
    const wScale = (n: number): Tensor => {
      const t = tensor({ dims: [n], lo: 1e-6, hi: 0.5 }, n);
      const d = t.data as Float32Array;
      [1e-42, 3e38, -0, 1, 0.1].forEach((v, k) => { if (k < n) d[k] = v; });
      return t;
    };
    for (const [channels, padTo, perTensor] of [[1, 5, false], [7, 11, false], [16, 16, false], [33, 40, false], [9, 16, true]] as const) {
      for (const [xs, ys, bz] of [[0.0123, 0.77, 0], [3.5e-3, 1.7e-5, 7], [1, 1, -2147483648]] as const) {
        const ws = wScale(perTensor ? 1 : channels);
        const b: Tensor = { dtype: "int32", dims: [perTensor ? 1 : channels], data: Int32Array.from({ length: perTensor ? 1 : channels }, (_, c) => [2147483647, -5, 0, 123456][c % 4] - c) };
        const bv = b.data as Int32Array, wv = ws.data as Float32Array;
        const q: QLayer = {
          x: op, w: op, bias: Int32Array.from({ length: channels }, (_, c) => bv[perTensor ? 0 : c] - bz),
          result: { kind: "requant", mult: requantMultipliers(xs, wv, ys, channels), zp: 0, dtype: "int8" },
          sources: { bias: { tensor: b, zp: bz }, mult: { tensor: ws, xScale: xs, yScale: ys } },
        };
        const [bias, mult] = qchannelTables(q, channels, padTo) as LazyConstant[];
        expect(bias.derive && mult.derive).toBeDefined();
        expect(bias.byteLength).toBe(padTo * 4);
        const what = `${channels}/${padTo} ${perTensor ? "per tensor" : "per channel"} x ${xs} y ${ys} z ${bz}`;
        expect(Buffer.from(derivedInWasm(bias, bytesOf(b))).equals(Buffer.from(writtenInJs(bias))), `bias ${what}`).toBe(true);
        expect(Buffer.from(derivedInWasm(mult, bytesOf(ws))).equals(Buffer.from(writtenInJs(mult))), `mult ${what}`).toBe(true);
      }
    }
  });

  it("int8 layers' tables without a one-tensor source (a rescaled float bias, a float16 scale) ship ready", () => {
    const op = { index: 0, dtype: "int8" as const, dims: [1], zp: { kind: "const" as const, values: [0] } };
    const half: Tensor = { dtype: "float16", dims: [3], data: new Uint16Array(3) };
    const q: QLayer = { x: op, w: op, bias: Int32Array.of(1, 2, 3), result: { kind: "requant", mult: new Float32Array(3), zp: 0, dtype: "int8" }, sources: { mult: { tensor: half, xScale: 1, yScale: 1 } } };
    for (const t of qchannelTables(q, 3, 8)) expect(t).toBeInstanceOf(Uint8Array);
  });

  it("int8 GEMM packing: per-channel zero points that differ ship the i16 form ready", () => {
    const w = tensor({ dtype: "int8", dims: [4, 4] }, 3);
    expect(qpackedConstant(new Uint8Array(64), w, undefined, { groups: 1, lines: 4, K: 4, tile: 4, step: 4, groupBytes: 64, first: (m, _g, n) => n }, "test")).toBeInstanceOf(Uint8Array);
  });
});

const ints = (value: number[]) => ({ type: "ints" as const, value });

/** a 3x3 Conv Winograd F(4x4) takes, channel counts off multiples of 4 */
function conv3x3(edit?: (w: Tensor) => void) {
  const w1 = tensor({ dims: [34, 33, 3, 3] }, 5);
  edit?.(w1);
  return buildCase({
    op: "Conv", attrs: { pads: ints([1, 1, 1, 1]) },
    inputs: [{ dims: [1, 33, 14, 14] }, { dims: [34, 33, 3, 3], constant: true, data: w1.data as Float32Array }, { dims: [34], constant: true }],
  });
}

describe("compact and prepacked artifacts", () => {
  it("a Conv on Winograd: compact is smaller, derives U, and gives the prepacked build's bits and onnxruntime's values", async () => {
    const { bytes, feeds, outputs } = conv3x3();
    const compact = await compile(bytes, { simd: "baseline" });
    const packed = await compile(bytes, { simd: "baseline", prepack: true });
    const derived = compact.manifest.layers.flatMap((l) => l.derived ?? []);
    expect(compact.manifest.layers.map((l) => l.kernel)).toContain("winograd-f4x4");
    expect(derived.length).toBeGreaterThan(0);
    expect(packed.manifest.layers.every((l) => !l.derived)).toBe(true);
    const weightsOf = (w: Uint8Array) => sections(w).filter((s) => s.name === WEIGHTS_SECTION).reduce((a, s) => a + s.end - s.payload, 0);
    // 34 x 33 3x3 filters: 40 KB as given, 36/9 of that (and padding to 36 filters) transformed
    expect(weightsOf(compact.wasm)).toBeLessThan(34 * 33 * 9 * 4 + 34 * 4 + 64);
    expect(weightsOf(packed.wasm)).toBeGreaterThan(36 * 33 * 36 * 4);
    const feed = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.data as Float32Array]));
    const want = await runOrt(bytes, feeds);
    const results = [];
    for (const [wasm, placement] of [[compact.wasm, "lazy"], [compact.wasm, "eager"], [packed.wasm, "lazy"]] as const) {
      const session = await createSession(wasm, { placement });
      const out = await session.run(feed);
      results.push(out[outputs[0]].data as Float32Array);
      expect(compareTensors(out[outputs[0]] as Tensor, want[outputs[0]], { rtol: 1e-4, atol: 5e-4 }).message ?? "ok").toBe("ok");
    }
    for (const r of results) expect(Buffer.from(r.buffer, r.byteOffset, r.byteLength).equals(Buffer.from(results[2].buffer, results[2].byteOffset, results[2].byteLength))).toBe(true);
  });

  it("q:ppocr_cls.qdq: the int8 layers derive their bias and multipliers, and give the prepacked build's bits", async () => {
    const bytes = await quantizedModel("ppocr_cls", "qdq");
    const shapes = { x: [1, 3, 48, 192] };
    const compact = await compile(bytes, { shapes });
    const packed = await compile(bytes, { shapes, prepack: true });
    // a pointwise int8 layer derives its packed weights, its bias and its multipliers
    const conv = compact.manifest.layers.find((l) => l.kernel === "qgemm-pointwise" && (l.derived ?? []).length === 3);
    expect(conv, "a qgemm-pointwise layer with three derived pieces").toBeDefined();
    const x = tensor({ dims: [1, 3, 48, 192], lo: -1, hi: 1 }, 5).data as Float32Array;
    const outs: Uint8Array[] = [];
    for (const [wasm, placement] of [[compact.wasm, "lazy"], [compact.wasm, "eager"], [packed.wasm, "lazy"]] as const) {
      const session = await createSession(wasm, { placement });
      const out = Object.values(await session.run({ x }))[0].data as Float32Array;
      outs.push(new Uint8Array(out.buffer, out.byteOffset, out.byteLength).slice());
    }
    expect(outs[2].some((b) => b !== 0)).toBe(true);
    for (const o of outs) expect(Buffer.from(o).equals(Buffer.from(outs[2]))).toBe(true);
  }, 120_000);

  it("a MatMul's packed panels, its weight's only use and no bigger than it, ship ready: the same image bytes as deriving, the weight never resident, the prepacked build's bits", async () => {
    // 45 columns: three panels of 16, the last padded (48 / 45 of the weight), within the 1/8 slack
    const w = tensor({ dims: [37, 45] }, 7);
    const { bytes, feeds, outputs } = buildCase({ op: "MatMul", inputs: [{ dims: [5, 37] }, { dims: [37, 45], constant: true, data: w.data as Float32Array }] });
    const compact = await compile(bytes, { simd: "baseline" });
    const packed = await compile(bytes, { simd: "baseline", prepack: true });
    expect(compact.manifest.layers.map((l) => l.kernel)).toEqual(["packed"]);
    expect(compact.manifest.layers.flatMap((l) => l.derived ?? [])).toEqual([]);
    const image = (m: typeof compact) => m.manifest.memory.regions.reduce((a, r) => a + r.bytes, 0);
    expect(image(compact)).toBe(image(packed));
    expect(image(compact)).toBe(37 * 48 * 4);
    const feed = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.data as Float32Array]));
    const [a, b] = [await (await createSession(compact.wasm)).run(feed), await (await createSession(packed.wasm)).run(feed)];
    const bits = (t: { data: unknown }) => Buffer.from(new Uint8Array((t.data as Float32Array).buffer, (t.data as Float32Array).byteOffset, (t.data as Float32Array).byteLength));
    expect(bits(a[outputs[0]]).equals(bits(b[outputs[0]]))).toBe(true);
    expect(compareTensors(a[outputs[0]] as Tensor, (await runOrt(bytes, feeds))[outputs[0]], { rtol: 1e-4, atol: 1e-4 }).message ?? "ok").toBe("ok");
  });

  it("a weight that transforms to NaN (an infinite filter value) ships its form ready, and still runs", async () => {
    const { bytes, feeds } = conv3x3((w) => { (w.data as Float32Array)[40] = Infinity; });
    const compact = await compile(bytes, { simd: "baseline" });
    expect(compact.manifest.layers.flatMap((l) => l.derived ?? [])).toEqual([]);
    const session = await createSession(compact.wasm);
    await session.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.data as Float32Array])));
  });

  it("both SIMD builds of an auto artifact derive the same pieces (their manifests must agree, or compile fails)", async () => {
    const { bytes, feeds, outputs } = conv3x3();
    const auto = await compile(bytes, { simd: "auto" });
    expect(sections(auto.wasm).some((s) => s.name === RELAXED_CODE_SECTION)).toBe(true);
    expect(auto.manifest.layers.flatMap((l) => l.derived ?? []).length).toBeGreaterThan(0);
    const out = await (await createSession(auto.wasm)).run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.data as Float32Array])));
    expect(compareTensors(out[outputs[0]] as Tensor, (await runOrt(bytes, feeds))[outputs[0]], { rtol: 1e-4, atol: 5e-4 }).message ?? "ok").toBe("ok");
  });
});

/** The artifact with its manifest edited and resealed (so the field checks answer, not the manifest's checksum). */
function withManifest(wasm: Uint8Array, edit: (m: Manifest) => void): Uint8Array {
  const { code, weights } = splitWeights(wasm);
  const s = sections(code).find((x) => x.name === MANIFEST_SECTION)!;
  const m = JSON.parse(new TextDecoder().decode(code.subarray(s.payload, s.end))) as Manifest;
  edit(m);
  const out = appendManifest(withoutSections(code, [MANIFEST_SECTION, MANIFEST_CHECKSUM_SECTION]), m);
  return weights ? appendCustomSection(out, WEIGHTS_SECTION, weights) : out;
}

describe("a compact artifact's manifest is checked", () => {
  const built = (async () => {
    const { bytes, feeds } = conv3x3();
    return { wasm: (await compile(bytes, { simd: "baseline" })).wasm, feed: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.data as Float32Array])) };
  })();
  const layerOf = (m: Manifest) => m.layers.find((l) => l.derived)!;
  const refuses = async (wasm: Uint8Array, message: RegExp, run?: Record<string, Float32Array>) => {
    const e = await (async () => {
      const session = await createSession(wasm);
      if (run) await session.run(run);
    })().then(() => undefined, (x) => x);
    expect(e?.code, e?.message).toBe("INVALID_ARTIFACT");
    expect(e.message).toMatch(message);
  };

  it("derived pieces past memory, or in a module that makes none; malformed entries, inputs on a derived piece", async () => {
    const { wasm } = await built;
    const refused = /the manifest's derived weights \[\d+, \+\d+\] are misplaced/;
    await refuses(withManifest(wasm, (m) => { layerOf(m).derived![0][0] = m.memory.bytes - 16; }), refused);
    await refuses(withManifest(wasm, (m) => { m.memory.weights = "data"; }), refused);
    await refuses(withManifest(wasm, (m) => { (layerOf(m).derived as unknown[])[0] = [1, 2, 3]; }), /layers\[0\]\.derived\[0\] is \[1,2,3\], not \[offset, bytes, checksum, fn\]/);
    await refuses(withManifest(wasm, (m) => { m.inputs[0].offset = layerOf(m).derived![0][0]; }), /inputs\[0\] \("in0"\) .* overlaps the weights/);
    // moved onto the weights image, it runs over the input after it
    await refuses(withManifest(wasm, (m) => { layerOf(m).derived![0][0] = m.memory.regions[0].offset; }), /overlaps the weights/);
  });

  it("a derived piece listed with another function gives bytes that fail its checksum: the layer is refused", async () => {
    const { wasm, feed } = await built;
    const damagedLayer = /the weights of layer "node" are damaged/;
    await refuses(withManifest(wasm, (m) => { layerOf(m).derived![0][3] = 7; }), damagedLayer, feed);
  });

  it("derived bytes that do not match their checksum stop the session at the layer, before it runs", async () => {
    const { wasm, feed } = await built;
    await refuses(withManifest(wasm, (m) => { const d = layerOf(m).derived![0]; d[2] = (d[2] + 1) % 2 ** 32; }), /the weights of layer "node" are damaged/, feed);
  });

  it("a format-4 artifact (no derived pieces) is still read", async () => {
    const { bytes, feeds, outputs } = conv3x3();
    const packed = await compile(bytes, { simd: "baseline", prepack: true });
    const session = await createSession(withManifest(packed.wasm, (m) => { m.format = 4; }));
    const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.data as Float32Array])));
    expect(out[outputs[0]].dims).toEqual([1, 34, 14, 14]);
  });
});

// issue 16, criterion 3, for models the tests build anyway (bench/sizes.ts prints every bench model's row)
describe("artifact size: the .wasm is at most 1.05x the ONNX file's tensors plus its code", () => {
  const cases: [string, () => Promise<Uint8Array>, Record<string, number[]>?][] = [
    ["light_squeezenet (seeded; Winograd F4 and F2, pointwise GEMMs)", async () => seedLightModel(new Uint8Array(fs.readFileSync(lightModel("squeezenet"))), 1)],
    ["zoo:mobilenetv2 (depthwise, pointwise GEMMs)", async () => buildZooModel("mobilenetv2")],
    ["q:mobilenetv2.qdq (int8 weights)", () => quantizedModel("mobilenetv2", "qdq"), { input: [1, 3, 224, 224] }],
    // small int8 layers, where the per-channel bias and multipliers weigh a tenth of the weights
    ["q:ppocr_cls.qdq (int8 weights, derived bias and multipliers)", () => quantizedModel("ppocr_cls", "qdq"), { x: [1, 3, 48, 192] }],
  ];
  for (const [name, bytes, shapes] of cases) {
    it(name, async () => {
      const onnxBytes = await bytes();
      const { wasm } = await compile(onnxBytes, shapes ? { shapes } : {});
      const { sizes } = readArtifact(wasm);
      const code = wasm.length - sizes.weights;
      expect(wasm.length, `${wasm.length} bytes, ${sizes.weights} of them weights, for ${onnxWeightBytes(onnxBytes)} bytes of ONNX tensors`).toBeLessThanOrEqual(onnxWeightBytes(onnxBytes) * SIZE_FACTOR + code);
    }, 180_000);
  }
});
