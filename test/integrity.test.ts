// Nothing damaged runs silently: an artifact carries a checksum per weights piece and one of its
// manifest; the runtime checks each piece as it places it and every manifest field against the
// module before anything runs. Flipped weights, a manifest altered by hand (an input offset inside
// the weights, a missing key, an unknown dtype, a function the module lacks, a second manifest)
// are INVALID_ARTIFACT naming what is wrong. The on-disk cache's case is in test/load.test.ts.
import * as fs from "node:fs";
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { compile } from "../compiler/driver/api.js";
import { generateArtifact } from "../compiler/driver/variants.js";
import { importOnnx, optimizeGraph, prepareGraph } from "../compiler/driver/compile.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { appendManifest, sealArtifact } from "../codegen/artifact.js";
import { generate } from "../codegen/module.js";
import { checksum, HASH_WASM_BYTES, memoryHash } from "../runtime/checksum.js";
import { MANIFEST_CHECKSUM_SECTION, MANIFEST_SECTION, RELAXED_CODE_SECTION, WEIGHTS_SECTION, type Manifest } from "../runtime/manifest.js";
import { appendCustomSection, sections, withoutSections } from "../runtime/sections.js";
import { createSession, type Session } from "../runtime/session.js";
import { imagePosition, splitWeights } from "../runtime/weights.js";
import { tensor } from "./util/ort.js";
import { values } from "./util/values.js";
import { ModelBuilder } from "../models/builder.js";
import { uniform } from "../models/init.js";

/** kiln32 as runtime/checksum.wat states it, in plain JavaScript: the reference the wasm is held to. */
function kiln32(b: Uint8Array, seed = 0): number {
  const P1 = 0x9e3779b1, P2 = 0x85ebca77, P3 = 0xc2b2ae3d, P4 = 0x27d4eb2f, P5 = 0x165667b1;
  const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));
  const word = (i: number) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
  const round = (acc: number, w: number) => Math.imul(rotl((acc + Math.imul(w, P2)) | 0, 13), P1);
  const n = b.length;
  const acc = Array.from({ length: 16 }, (_, k) => (seed + Math.imul(k + 1, P1)) | 0);
  let i = 0;
  for (; n - i >= 64; i += 64) for (let k = 0; k < 16; k++) acc[k] = round(acc[k], word(i + 4 * k));
  for (; n - i >= 16; i += 16) for (let k = 0; k < 4; k++) acc[k] = round(acc[k], word(i + 4 * k));
  let h = (seed + n + P5) | 0;
  for (let k = 0; k < 16; k++) h = Math.imul(rotl((h + Math.imul(acc[k], P3)) | 0, 17), P4);
  for (; n - i >= 4; i += 4) h = Math.imul(rotl((h + Math.imul(word(i), P3)) | 0, 17), P4);
  for (; i < n; i++) h = Math.imul(rotl((h + Math.imul(b[i], P5)) | 0, 11), P1);
  h = Math.imul(h ^ (h >>> 15), P2);
  h = Math.imul(h ^ (h >>> 13), P3);
  return (h ^ (h >>> 16)) >>> 0;
}

const dense = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (Math.sin(i * 0.37 + seed) * 0.5).toFixed(5)).join(", ");

// two inputs, layers with weights of their own and a constant output (a piece no layer reads)
const model = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[1,3,8,8]
input %z : float32[1,4,1,1]
const %w : float32[4,3,3,3] = dense<[${dense(108, 1)}]>
const %b : float32[4] = dense<[${dense(4, 2)}]>
const %p : float32[6,4,1,1] = dense<[${dense(24, 3)}]>
const %k : float32[3] = dense<[0.5, -1.5, 2.25]>
%c : float32[1,4,8,8] = Conv[pads=[1,1,1,1]](%x, %w, %b) {name="conv"}
%s : float32[1,4,8,8] = Add(%c, %z) {name="shift"}
%r : float32[1,4,8,8] = Relu(%s) {name="relu"}
%y : float32[1,6,8,8] = Conv(%r, %p) {name="mix"}
output %y
output %k`));
const feeds = { x: tensor({ dims: [1, 3, 8, 8] }, 1).data, z: tensor({ dims: [1, 4, 1, 1] }, 2).data };

const artifact = compile(model, { simd: "baseline" }).then((c) => c.wasm);

async function codeOf(p: Promise<unknown>): Promise<{ code: string; message: string; context: Record<string, unknown> }> {
  const e = await p.then(() => undefined, (err) => err);
  expect(e, "expected a KilnError").toBeDefined();
  expect(e.name).toBe("KilnError");
  return e;
}

/** The artifact's manifest, as JSON. */
function manifestOf(wasm: Uint8Array): Manifest {
  const s = sections(wasm).find((x) => x.name === MANIFEST_SECTION)!;
  return JSON.parse(new TextDecoder().decode(wasm.subarray(s.payload, s.end)));
}

/**
 * The artifact with its manifest edited: resealed (a new, right checksum, so the fields' checks
 * are what answers), or not (the old checksum section kept).
 */
function withManifest(wasm: Uint8Array, edit: (m: any) => void, reseal = true): Uint8Array {
  const { code, weights } = splitWeights(wasm);
  const m = manifestOf(code);
  edit(m);
  const bare = withoutSections(code, [MANIFEST_SECTION, MANIFEST_CHECKSUM_SECTION]);
  let out: Uint8Array;
  if (reseal) out = appendManifest(bare, m);
  else {
    const old = sections(code).find((x) => x.name === MANIFEST_CHECKSUM_SECTION)!;
    out = appendCustomSection(appendCustomSection(bare, MANIFEST_SECTION, new TextEncoder().encode(JSON.stringify(m))), MANIFEST_CHECKSUM_SECTION, code.subarray(old.payload, old.end));
  }
  return weights ? appendCustomSection(out, WEIGHTS_SECTION, weights) : out;
}

/** Flip the byte at this position of the weights image (the artifact's last section). */
function flipImageByte(wasm: Uint8Array, position: number): Uint8Array {
  const { weights } = splitWeights(wasm);
  const out = Uint8Array.from(wasm);
  out[wasm.length - weights!.length + position] ^= 0x5a;
  return out;
}

describe("kiln32, the checksum", () => {
  it("the wasm hash computes the function its text states, at any length and alignment", () => {
    let seed = 7;
    const random = (n: number) => Uint8Array.from({ length: n }, () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24);
    for (let n = 0; n <= 300; n++) {
      const b = random(n);
      expect(checksum(b), `${n} bytes`).toBe(kiln32(b));
    }
    // in place, at unaligned offsets of a memory
    const memory = new WebAssembly.Memory({ initial: 2 });
    const all = random(100_000);
    new Uint8Array(memory.buffer).set(all);
    const hash = memoryHash(memory);
    for (const [at, n] of [[1, 99_000], [3, 17], [64, 4096], [65_535, 1]]) expect(hash(at, n)).toBe(kiln32(all.subarray(at, at + n)));
    expect(checksum(new Uint8Array(0))).toBe(kiln32(new Uint8Array(0)));
  });

  it("any one flipped bit, or two swapped words, changes it", () => {
    const b = Uint8Array.from({ length: 1000 }, (_, i) => (i * 37) & 0xff);
    const want = checksum(b);
    for (let i = 0; i < b.length; i += 7) {
      for (const bit of [0, 3, 7]) {
        const c = Uint8Array.from(b);
        c[i] ^= 1 << bit;
        expect(checksum(c)).not.toBe(want);
      }
    }
    const swapped = Uint8Array.from(b);
    swapped.set(b.subarray(0, 4), 64);
    swapped.set(b.subarray(64, 68), 0);
    expect(checksum(swapped)).not.toBe(want);
  });

  it("runtime/checksum.ts holds runtime/checksum.wat assembled", () => {
    const m = binaryen.parseText(fs.readFileSync(new URL("../runtime/checksum.wat", import.meta.url), "utf8"));
    try {
      m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128);
      expect(m.validate()).toBeTruthy();
      const bytes = m.emitBinary();
      expect(Buffer.from(HASH_WASM_BYTES()).toString("base64"), "paste this into HASH_WASM").toBe(Buffer.from(bytes).toString("base64"));
    } finally {
      m.dispose();
    }
  });
});

describe("damaged weights", () => {
  it("an artifact lists a checksum for every piece, and runs as compiled", async () => {
    const wasm = await artifact;
    const m = manifestOf(wasm);
    const spans = [...m.layers.flatMap((l) => l.weights), ...m.memory.unclaimed];
    expect(spans.length).toBeGreaterThan(3);
    const image = splitWeights(wasm).weights!;
    const at = imagePosition(m.memory.regions, 0);
    for (const [offset, bytes, sum] of spans) expect(sum).toBe(kiln32(image.subarray(at(offset), at(offset) + bytes)));
    const out = await (await createSession(wasm)).run(feeds);
    expect(values(out.k.data)).toEqual([0.5, -1.5, 2.25]);
  });

  it("100 flipped bytes in the weights section: INVALID_ARTIFACT, lazy (at the first run, and every run after) or eager (at load)", async () => {
    const wasm = await artifact;
    const image = splitWeights(wasm).weights!;
    let bad = wasm;
    for (let i = 0; i < 100; i++) bad = flipImageByte(bad, Math.floor((i * image.length) / 100));
    const eager = await codeOf(createSession(bad, { placement: "eager" }));
    expect(eager.code).toBe("INVALID_ARTIFACT");
    expect(eager.message).toMatch(/the weights of layer "conv" are damaged: the piece at memory offset \d+ \(\d+ bytes, image position 0\) has checksum [0-9a-f]{8} where the manifest says [0-9a-f]{8}/);
    const lazy = await createSession(bad);
    for (const run of [() => lazy.run(feeds), () => lazy.run(feeds), () => lazy.profile(feeds)]) {
      const e = await codeOf(run());
      expect(e.code).toBe("INVALID_ARTIFACT");
      expect(e.context.node).toBe("conv");
    }
  });

  it("one flipped byte names the first layer that reads the piece, or the constant output", async () => {
    const wasm = await artifact;
    const m = manifestOf(wasm);
    const at = imagePosition(m.memory.regions, 0);
    const seen = new Set<number>();
    const cases: [string, number][] = [];
    for (const l of m.layers) for (const [offset, bytes] of l.weights) {
      if (!seen.has(offset)) cases.push([l.name, at(offset) + (bytes >> 1)]);
      seen.add(offset);
    }
    for (const [offset] of m.memory.unclaimed) cases.push(["(unclaimed)", at(offset) + 1]);
    expect(new Set(cases.map(([l]) => l))).toEqual(new Set(["conv", "mix", "(unclaimed)"]));
    for (const [layer, position] of cases) {
      const bad = flipImageByte(wasm, position);
      for (const placement of ["eager", "lazy"] as const) {
        const e = await codeOf(createSession(bad, { placement }).then((s) => s.run(feeds)));
        expect(e.code).toBe("INVALID_ARTIFACT");
        if (layer === "(unclaimed)") expect(e.message).toMatch(/the weights of a constant output \(memory\.unclaimed\) are damaged/);
        else expect(e.context.node, placement).toBe(layer);
      }
    }
  });

  it("weights in data segments are checked at load", async () => {
    const g = importOnnx(model);
    await prepareGraph(g);
    await optimizeGraph(g);
    const gen = generate(g, { weights: "data" });
    const m = gen.manifest;
    expect(m.layers.flatMap((l) => l.weights).every((w) => w[2] !== undefined)).toBe(true);
    await createSession(gen.wasm); // as compiled: fine
    // the first piece's bytes sit verbatim in the data section: flip one
    const section = sections(gen.wasm).find((s) => s.id === 11)!;
    const good = await createSession(gen.wasm, { placement: "eager" });
    const [offset, bytes] = m.layers[0].weights[0];
    const piece = memoryBytes(good, offset, bytes);
    const where = Buffer.from(gen.wasm.subarray(section.payload, section.end)).indexOf(Buffer.from(piece));
    expect(where).toBeGreaterThan(0);
    const bad = Uint8Array.from(gen.wasm);
    bad[section.payload + where + 5] ^= 1;
    const e = await codeOf(createSession(bad));
    expect(e.code).toBe("INVALID_ARTIFACT");
    expect(e.context.node).toBe(m.layers[0].name);
  });

  it("an artifact with a relaxed build: both builds' manifests carry the one image's checksums", async () => {
    const g = importOnnx(model);
    await prepareGraph(g);
    await optimizeGraph(g);
    const { wasm } = generateArtifact(g, { simd: "auto" });
    const split = splitWeights(wasm);
    expect(split.relaxed).toBeDefined();
    const base = manifestOf(split.code), relaxed = manifestOf(split.relaxed!);
    expect(relaxed.layers.map((l) => l.weights)).toEqual(base.layers.map((l) => l.weights));
    expect(relaxed.memory.unclaimed).toEqual(base.memory.unclaimed);
    expect(base.layers[0].weights[0][2]).toBeTypeOf("number");
    // so the relaxed build refuses a damaged image as the baseline one does
    const bad = flipImageByte(wasm, 3);
    const e = await codeOf(createSession(bad, { simd: "baseline", placement: "eager" }));
    expect(e.context.node).toBe("conv");
    expect(sections(wasm).some((s) => s.name === RELAXED_CODE_SECTION)).toBe(true);
  });

  it("the JIT's in-process weights carry no checksums; sealed for the disk they do, and are checked", async () => {
    const g = importOnnx(model);
    await prepareGraph(g);
    await optimizeGraph(g);
    const gen = generate(g, { weights: "external" });
    expect(gen.manifest.layers.flatMap((l) => l.weights).every((w) => w.length === 2)).toBe(true);
    const sealed = sealArtifact(gen);
    const m = manifestOf(sealed);
    expect(m.memory.weights).toBe("section");
    expect(m.layers.flatMap((l) => l.weights).every((w) => w.length === 3)).toBe(true);
    const want = await (await createSession(gen.wasm, { weights: gen.weights })).run(feeds);
    expect(values((await (await createSession(sealed)).run(feeds)).y.data)).toEqual(values(want.y.data));
    expect((await codeOf(createSession(flipImageByte(sealed, 0), { placement: "eager" }))).code).toBe("INVALID_ARTIFACT");
  });
});

/** bytes of a session's memory (an in-place run's outputs are views of it) */
function memoryBytes(session: Session, offset: number, bytes: number): Uint8Array {
  return new Uint8Array((session.runInPlace(feeds).y.data.buffer as ArrayBuffer).slice(offset, offset + bytes));
}

describe("manifest checks before anything runs", () => {
  const refuses = async (wasm: Uint8Array, message: RegExp) => {
    const e = await codeOf(createSession(wasm));
    expect(e.code).toBe("INVALID_ARTIFACT");
    expect(e.message).toMatch(message);
    expect(e.message.length).toBeLessThan(400);
  };

  it("an altered manifest whose checksum was not updated", async () => {
    const wasm = await artifact;
    await refuses(withManifest(wasm, (m) => { m.inputs[0].offset += 16; }, false), /kiln\.manifest section's checksum is [0-9a-f]{8} but its kiln\.manifest\.checksum section says "[0-9a-f]{8}": the manifest was altered/);
    // the same rewrite without a change loads: the checksum is what refused it
    expect((await createSession(withManifest(wasm, () => {}, false))).manifest.inputs[0].name).toBe("x");
  });

  it("an input offset inside the weights (it would write over them)", async () => {
    const wasm = await artifact;
    await refuses(withManifest(wasm, (m) => { m.inputs[0].offset = m.memory.weightsOffset; }), /inputs\[0\] \("x"\) \[\d+, \d+\) overlaps the weights/);
    await refuses(withManifest(wasm, (m) => { m.inputs[1].offset = m.memory.regions.at(-1).offset; }), /inputs\[1\] \("z"\) .* overlaps the weights/);
  });

  it("offsets and sizes outside memory, misaligned or overlapping", async () => {
    const wasm = await artifact;
    await refuses(withManifest(wasm, (m) => { m.outputs[0].offset = m.memory.bytes - 16; }), /outputs\[0\] \("y"\) .* runs past the end of memory/);
    await refuses(withManifest(wasm, (m) => { m.inputs[0].dims = [1, 3, 8, 1e9]; }), /inputs\[0\] \("x"\) .* runs past the end of memory/);
    await refuses(withManifest(wasm, (m) => { m.inputs[0].offset += 2; }), /inputs\[0\] \("x"\) offset \d+ is not aligned for float32/);
    await refuses(withManifest(wasm, (m) => { m.inputs[1].offset = m.inputs[0].offset + 16; }), /inputs\[1\] \("z"\) .* overlaps inputs\[0\] \("x"\)|inputs\[0\] .* overlaps inputs\[1\]/);
    await refuses(withManifest(wasm, (m) => { m.outputs[0].offset = m.inputs[0].offset + 4; }), /overlaps/);
    await refuses(withManifest(wasm, (m) => { m.outputs[1].offset += 4; }), /outputs\[1\] \("k"\) .* overlaps the weights/);
    await refuses(withManifest(wasm, (m) => { m.memory.bytes += 65536; }), /the manifest's memory \(\d+ bytes\) does not link: /);
    await refuses(withManifest(wasm, (m) => { m.memory.regions[0].bytes = m.memory.bytes; }), /memory\.regions\[0\] .* out of memory/);
    await refuses(withManifest(wasm, (m) => { m.layers.at(-1).weights[0][0] = m.memory.bytes - 64; }), /lists weights \[\d+, \+\d+\] for layer "mix" outside the weights image/);
    await refuses(withManifest(wasm, (m) => { m.memory.unclaimed[0][1] = 1e6; }), /for memory\.unclaimed outside the weights image/);
    await refuses(withManifest(wasm, (m) => { m.layers[0].weights[0].pop(); }), /for layer "conv" without a checksum/);
  });

  it("missing keys, wrong types, unknown dtypes and placements", async () => {
    const wasm = await artifact;
    await refuses(withManifest(wasm, (m) => { delete m.inputs; }), /the manifest has no manifest\.inputs/);
    await refuses(withManifest(wasm, (m) => { delete m.memory.regions; }), /the manifest has no memory\.regions/);
    await refuses(withManifest(wasm, (m) => { delete m.layers[0].op; }), /the manifest has no layers\[0\]\.op/);
    await refuses(withManifest(wasm, (m) => { delete m.layers[0].weights; }), /the manifest has no layers\[0\]\.weights/);
    await refuses(withManifest(wasm, (m) => { delete m.format; }), /artifact format undefined is not the format 6 this runtime reads/);
    await refuses(withManifest(wasm, (m) => { m.inputs[0].dtype = "float128"; }), /inputs\[0\]\.dtype "float128" is not a dtype this runtime knows/);
    await refuses(withManifest(wasm, (m) => { m.outputs[0].dims = "1x6x8x8"; }), /outputs\[0\]\.dims is "1x6x8x8", not a list/);
    await refuses(withManifest(wasm, (m) => { m.inputs[0].offset = -64; }), /inputs\[0\]\.offset is -64, not a non-negative integer/);
    await refuses(withManifest(wasm, (m) => { m.inputs[0].dims[1] = 2.5; }), /inputs\[0\]\.dims\[1\] is 2\.5/);
    await refuses(withManifest(wasm, (m) => { m.memory.weights = "sometimes"; }), /memory\.weights is "sometimes", not "data", "section" or "external"/);
    await refuses(withManifest(wasm, (m) => { m.layers[0].weights[0][2] = "abc"; }), /checksum "abc" is not a 32-bit checksum/);
    await refuses(withManifest(wasm, (m) => { m.frozen = [{ name: "f", dtype: "int64", dims: [2], values: ["1"] }]; }), /frozen\[0\] has 1 values for 2 elements/);
    await refuses(withManifest(wasm, (m) => { m.frozen = [{ name: "f", dtype: "int64", dims: [1], values: ["1x"] }]; }), /frozen\[0\]\.values\[0\] is "1x"/);
    await refuses(withManifest(wasm, (m) => { m.features = "simd128"; }), /features is "simd128", not a list/);
  });

  it("a manifest listing more or fewer layers than the module has", async () => {
    const wasm = await artifact;
    await refuses(withManifest(wasm, (m) => { m.layers.push({ ...m.layers.at(-1), name: "extra" }); }), /the manifest lists \d+ layers; the module has \d+/);
    await refuses(withManifest(wasm, (m) => { m.layers.pop(); }), /the manifest lists \d+ layers; the module has \d+/);
  });

  it("two manifests, or none, or no checksum section", async () => {
    const wasm = await artifact;
    const { code, weights } = splitWeights(wasm);
    const s = sections(code).find((x) => x.name === MANIFEST_SECTION)!;
    const twice = appendCustomSection(appendCustomSection(code, MANIFEST_SECTION, code.subarray(s.payload, s.end)), WEIGHTS_SECTION, weights!);
    await refuses(twice, /has 2 kiln\.manifest sections where a kiln module has one/);
    await refuses(appendCustomSection(withoutSections(code, [MANIFEST_CHECKSUM_SECTION]), WEIGHTS_SECTION, weights!), /has 0 kiln\.manifest\.checksum sections/);
    const none = await codeOf(createSession(withoutSections(code, [MANIFEST_SECTION])));
    expect(none.message).toMatch(/has no kiln\.manifest section; it was not produced by kiln compile/);
  });

  it("accepts what the compiler writes: aliased and constant outputs, a frozen input", async () => {
    const g = parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[2,3]
input %shape : int64[2]
const %k : float32[2] = dense<[1, 2]>
%y : float32[3,2] = Reshape(%x, %shape) {name="r"}
output %y
output %x
output %k`);
    const { wasm } = await compile(exportModel(g), { simd: "baseline", freeze: { shape: { dtype: "int64", dims: [2], data: BigInt64Array.of(3n, 2n) } } });
    const session = await createSession(wasm);
    const out = await session.run({ x: Float32Array.of(1, 2, 3, 4, 5, 6) });
    expect(out.y.dims).toEqual([3, 2]);
    expect(values(out.y.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(values(out.x.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(values(out.k.data)).toEqual([1, 2]);
  });
});

describe("symbolic dims in the manifest (runtime/dims.ts)", () => {
  // a module compiled for seq in 1..16: [seq, 8] -> MatMul -> [seq, 4]
  const symbolic = (async () => {
    const b = new ModelBuilder(3);
    const x = b.input("x", [1, 8]);
    const y = b.node("MatMul", [x, b.weight("w", [8, 4], uniform(-1, 1))], [1, 4]);
    b.output(y);
    for (const v of b.graph.values.values()) if (v.shape && !v.const) v.shape = v.shape.map((d, k) => (k === 0 ? "seq" : d));
    return (await compile(exportModel(b.graph, { valueInfo: false }), { shapes: { seq: [1, 16] }, simd: "baseline" })).wasm;
  })();
  const refuses = async (edit: (m: any) => void, message: RegExp) => {
    const e = await codeOf(createSession(withManifest(await symbolic, edit)));
    expect(e.code).toBe("INVALID_ARTIFACT");
    expect(e.message).toMatch(message);
  };

  it("accepts what the compiler writes and runs within the bounds", async () => {
    const s = await createSession(await symbolic);
    expect(s.manifest.symbols).toEqual([{ name: "seq", min: 1, max: 16, at: [0, 0] }]);
    const out = await s.run({ x: { data: new Float32Array(3 * 8).fill(1), dims: [3, 8] } });
    expect(Object.values(out)[0].dims).toEqual([3, 4]);
  });

  it("refuses bounds, places and expressions that would let a feed write or read past its slot", async () => {
    const misfit = (what: string) => new RegExp(`the manifest's ${what} .* does not fit the symbolic dims' bounds`);
    await refuses((m) => { m.symbols[0].max = 1e6; }, misfit("inputs\\[0\\]\\.expr"));
    await refuses((m) => { m.symbols[0].min = 20; }, misfit("symbols\\[0\\]"));
    await refuses((m) => { m.symbols[0].min = -1; }, /symbols\[0\]\.min is -1, not a non-negative integer/);
    await refuses((m) => { m.symbols[0].at = [5, 0]; }, misfit("symbols\\[0\\]"));
    await refuses((m) => { m.symbols[0].at = ["0", "0"]; }, misfit("symbols\\[0\\]"));
    await refuses((m) => { m.symbols = [1, 2, 3, 4, 5]; }, misfit("symbols"));
    await refuses((m) => { m.inputs[0].expr[0] = [[2, 0]]; }, misfit("symbols\\[0\\]"));
    await refuses((m) => { m.outputs[0].expr[0] = [[2, 0]]; }, misfit("outputs\\[0\\]\\.expr"));
    await refuses((m) => { m.outputs[0].expr[0] = [[1, 3]]; }, misfit("outputs\\[0\\]\\.expr"));
    await refuses((m) => { m.outputs[0].expr[0] = [[-1, 0], [32]]; }, misfit("outputs\\[0\\]\\.expr"));
    await refuses((m) => { m.outputs[0].expr = [[[1, 0]]]; }, misfit("outputs\\[0\\]\\.expr"));
  });
});

describe("a data-dependent dim in the manifest", () => {
  // a NonMaxSuppression node test's model: its count of boxes kept is written by layer 0
  const nms = compile(new Uint8Array(fs.readFileSync(new URL("../../shared/onnx/node/test_nonmaxsuppression_two_classes/model.onnx", import.meta.url))), { simd: "baseline" }).then((r) => r.wasm);
  const feeds = {
    boxes: { data: Float32Array.from([0, 0, 1, 1, 0, 0.1, 1, 1.1, 0, 10, 1, 11, 0, 10.1, 1, 11.1, 0, 100, 1, 101, 0, 0.2, 1, 1.2]), dims: [1, 6, 4] },
    scores: { data: Float32Array.from([0.9, 0.75, 0.6, 0.95, 0.5, 0.3, 0.9, 0.75, 0.6, 0.95, 0.5, 0.3]), dims: [1, 2, 6] },
    max_output_boxes_per_class: { data: BigInt64Array.of(2n), dims: [1] },
    iou_threshold: { data: Float32Array.of(0.5), dims: [1] },
    score_threshold: { data: Float32Array.of(0), dims: [1] },
  };

  it("names the layer that writes it, and a run gives the output that many rows", async () => {
    const s = await createSession(await nms);
    expect(s.manifest.symbols).toEqual([{ name: "NonMaxSuppression_0.count", min: 0, max: 12, layer: 0 }]);
    expect(Object.values(await s.run(feeds))[0].dims).toEqual([4, 3]);
  });

  it("refuses a writer that is no layer, or one with an input's place or a step; a value read back outside the bounds is INTERNAL", async () => {
    const misfit = /the manifest's symbols\[0\] .* does not fit the symbolic dims' bounds/;
    for (const edit of [(m: any) => { m.symbols[0].layer = 1; }, (m: any) => { m.symbols[0].at = [0, 1]; }, (m: any) => { m.symbols[0].step = 2; }]) {
      const e = await codeOf(createSession(withManifest(await nms, edit)));
      expect(e.code).toBe("INVALID_ARTIFACT");
      expect(e.message).toMatch(misfit);
    }
    // bounds that exclude what the kernel writes (4 here): the outputs are not given
    const s = await createSession(withManifest(await nms, (m: any) => { m.symbols[0].min = 5; }));
    const e = await codeOf(s.run(feeds));
    expect(e.code).toBe("INTERNAL");
    expect(e.message).toMatch(/layer 0 gave NonMaxSuppression_0.count 4, outside its bounds/);
  });
});
