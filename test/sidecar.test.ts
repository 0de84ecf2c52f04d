// Sidecar weights (kiln compile --weights m.bin, compile({ weightsFile })) and the weights sources
// of runtime/sources.ts: the .wasm keeps code and manifest, the file the weights image; a session
// reads each layer's pieces from bytes, a Node file, a Blob or a URL (HTTP Range requests) as the
// first run reaches the layer, and answers as the self-contained artifact does. A truncated or
// altered file is INVALID_ARTIFACT naming the first bad layer, before that layer runs.
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile } from "../compiler/driver/api.js";
import { imagePosition, splitWeights } from "../runtime/weights.js";
import { appendManifest } from "../codegen/artifact.js";
import { MANIFEST_CHECKSUM_SECTION, MANIFEST_SECTION, WEIGHTS_SECTION } from "../runtime/manifest.js";
import { appendCustomSection, sections, withoutSections } from "../runtime/sections.js";
import { createSession } from "../runtime/session.js";
import { blobSource, bytesSource, fileSource, streamed, urlSource } from "../runtime/sources.js";
import { kiln } from "./util/cli.js";
import { tensor } from "./util/ort.js";
import { convChainModel } from "./util/conv-chain.js";
import { values } from "./util/values.js";

// three layers with weights of their own (conv, mix, head), one without (relu), a constant output
const model = convChainModel([3, 4, 6, 5], 8);
const x = tensor({ dims: [1, 3, 8, 8] }, 1).data;

const whole = compile(model, { simd: "baseline" });
const split = compile(model, { simd: "baseline", weightsFile: "m.bin" });

async function errorOf(p: Promise<unknown>): Promise<{ code: string; message: string; context: Record<string, unknown> }> {
  const e = await p.then(() => undefined, (err) => err);
  expect(e, "expected a KilnError").toBeDefined();
  expect(e.name).toBe("KilnError");
  return e;
}

/** the image position of the first piece of layer `name` */
async function firstPieceOf(name: string): Promise<{ at: number; bytes: number }> {
  const { manifest } = await split;
  const l = manifest.layers.find((x) => x.name === name)!;
  const [offset, bytes] = l.weights[0];
  return { at: imagePosition(manifest.memory.regions, 0)(offset), bytes };
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-sidecar-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("sidecar weights", () => {
  it("the .wasm keeps code and manifest, the file the image; the manifest names it, its size and each piece's checksum", async () => {
    const [a, b] = [await whole, await split];
    expect(b.weights!.length).toBeGreaterThan(0);
    expect(b.wasm.length + b.weights!.length).toBeLessThan(a.wasm.length + 64);
    expect(b.manifest.memory.weights).toBe("external");
    expect(b.manifest.memory.sidecar).toEqual({ name: "m.bin", bytes: b.weights!.length });
    expect(b.manifest.layers.map((l) => l.weights)).toEqual(a.manifest.layers.map((l) => l.weights));
    expect(b.manifest.layers.flatMap((l) => l.weights).every((w) => typeof w[2] === "number")).toBe(true);
    // the session reads the manifest from the module: the same
    const s = await createSession(b.wasm, { weights: bytesSource(b.weights!) });
    expect(s.manifest.memory.sidecar).toEqual(b.manifest.memory.sidecar);
  });

  it("runs from bytes, a Node file, a Blob and a custom reader as the whole artifact does, run after run", async () => {
    const want = await (await createSession((await whole).wasm)).run({ x });
    const { wasm, weights } = await split;
    const file = path.join(dir, "m.bin");
    fs.writeFileSync(file, weights!);
    const reads: number[] = [];
    const counting = streamed({ size: weights!.length, read: async (at, into) => (reads.push(at), into.set(weights!.subarray(at, at + into.length)), into.length) });
    for (const source of [bytesSource(weights!), await fileSource(file), blobSource(new Blob([weights! as Uint8Array<ArrayBuffer>])), counting]) {
      const s = await createSession(wasm, { weights: source });
      for (let run = 0; run < 3; run++) {
        const got = await s.run({ x });
        expect(values(got.y.data)).toEqual(values(want.y.data));
        expect(values(got.k.data)).toEqual([0.5, -1.5, 2.25]);
      }
    }
    // each piece read once, though three runs went by
    expect(reads.length).toBe(new Set(reads).size);
    expect(reads.length).toBe((await split).manifest.layers.flatMap((l) => l.weights).length + (await split).manifest.memory.unclaimed.length);
  });

  it("runs queued at once wait for the first, which reads the weights; profile reads them layer by layer", async () => {
    const want = await (await createSession((await whole).wasm)).run({ x });
    const { wasm, weights } = await split;
    const s = await createSession(wasm, { weights: bytesSource(weights!) });
    const all = await Promise.all([s.run({ x }), s.run({ x }), s.run({ x })]);
    for (const got of all) expect(values(got.y.data)).toEqual(values(want.y.data));
    const p = await createSession(wasm, { weights: bytesSource(weights!) });
    const layers = await p.profile({ x });
    expect(layers.filter((l) => l.placedBytes > 0).map((l) => l.layer)).toEqual(["conv", "mix", "head"]);
    expect(values((await p.run({ x })).y.data)).toEqual(values(want.y.data));
  });

  it("a URL read with Range requests, and from a server that ignores Range", async () => {
    const want = await (await createSession((await whole).wasm)).run({ x });
    const { wasm, weights } = await split;
    const ranges: string[] = [];
    let honourRange = true;
    const server = http.createServer((req, res) => {
      const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
      ranges.push(req.headers.range ?? "");
      if (!range || !honourRange) return res.writeHead(200).end(weights);
      const [from, to] = [Number(range[1]), Number(range[2])];
      if (from >= weights!.length) return res.writeHead(416).end();
      res.writeHead(206, { "content-range": `bytes ${from}-${Math.min(to, weights!.length - 1)}/${weights!.length}` }).end(weights!.subarray(from, to + 1));
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/m.bin`;
      const got = await (await createSession(wasm, { weights: urlSource(url) })).run({ x });
      expect(values(got.y.data)).toEqual(values(want.y.data));
      expect(ranges.length).toBeGreaterThan(1);
      expect(ranges.every((r) => /^bytes=\d+-\d+$/.test(r))).toBe(true);
      honourRange = false;
      ranges.length = 0;
      const again = await (await createSession(wasm, { weights: urlSource(url) })).run({ x });
      expect(values(again.y.data)).toEqual(values(want.y.data));
      expect(ranges.length).toBe(1); // the whole file once, kept
      // a URL source that ends early: the first layer it cuts, when the run reaches it
      honourRange = true;
      const cut = (await firstPieceOf("mix")).at + 4;
      const short = streamed({ read: (at, into) => urlSource(url).read(at, into.subarray(0, Math.max(0, Math.min(into.length, cut - at)))) });
      const e = await errorOf((await createSession(wasm, { weights: short })).run({ x }));
      expect(e.code).toBe("INVALID_ARTIFACT");
      expect(e.message).toMatch(/the weights of layer "mix" are damaged: the weights source ends at byte \d+, inside the piece at image position \d+ \(\d+ bytes\): it is truncated/);
      expect(e.context.node).toBe("mix");
    } finally {
      server.close();
    }
  });

  it("a truncated file is refused naming the first layer it cuts; an altered one at that layer, before it runs, for good", async () => {
    const { wasm, weights } = await split;
    const mix = await firstPieceOf("mix");
    const e = await errorOf(createSession(wasm, { weights: bytesSource(weights!.subarray(0, mix.at + 1)) }));
    expect(e.code).toBe("INVALID_ARTIFACT");
    expect(e.message).toMatch(/the weights of layer "mix" are damaged: the weights source has \d+ bytes where the module's image has \d+: it is truncated/);
    // one flipped byte in head's piece: conv and mix are fine, head is named, and runs stay refused
    const head = await firstPieceOf("head");
    const altered = Uint8Array.from(weights!);
    altered[head.at + head.bytes - 1] ^= 0x5a;
    const s = await createSession(wasm, { weights: bytesSource(altered) });
    const bad = await errorOf(s.run({ x }));
    expect(bad.code).toBe("INVALID_ARTIFACT");
    expect(bad.message).toMatch(/the weights of layer "head" are damaged: the piece at image position \d+ \(\d+ bytes\) has checksum [0-9a-f]{8} where the manifest says [0-9a-f]{8}/);
    expect(bad.context).toMatchObject({ node: "head", op: "Conv" });
    expect((await errorOf(s.run({ x }))).code).toBe("INVALID_ARTIFACT");
    // a longer file is not this module's
    const longer = new Uint8Array(weights!.length + 16);
    longer.set(weights!);
    expect((await errorOf(createSession(wasm, { weights: bytesSource(longer) }))).message).toMatch(/it is not this module's weights file/);
    // and no weights at all
    expect((await errorOf(createSession(wasm))).message).toMatch(/keeps its \d+ bytes of weights outside/);
  });

  it("runInPlace over a source is refused until run() has read the weights", async () => {
    const { wasm, weights } = await split;
    const s = await createSession(wasm, { weights: bytesSource(weights!) });
    expect(() => s.runInPlace({ x })).toThrow(/BAD_OPTION: weights from a source: use run\(\)/);
    await s.run({ x });
    expect(values(s.runInPlace({ x }).k.data)).toEqual([0.5, -1.5, 2.25]);
  });

  it("format 6 (sidecar, streams, the memory imported) is written; an artifact marked format 4 still runs", async () => {
    const { wasm, manifest } = await whole;
    expect(manifest.format).toBe(6);
    const { code, weights } = splitWeights(wasm);
    const s = sections(code).find((x) => x.name === MANIFEST_SECTION)!;
    const m = JSON.parse(new TextDecoder().decode(code.subarray(s.payload, s.end)));
    m.format = 4;
    const old = appendCustomSection(appendManifest(withoutSections(code, [MANIFEST_SECTION, MANIFEST_CHECKSUM_SECTION]), m), WEIGHTS_SECTION, weights!);
    const want = await (await createSession(wasm)).run({ x });
    expect(values((await (await createSession(old)).run({ x })).y.data)).toEqual(values(want.y.data));
  });

  it("weightsFile takes a file name, and only compile() takes it", async () => {
    expect((await errorOf(compile(model, { weightsFile: "../m.bin" }))).code).toBe("BAD_OPTION");
    const { load } = await import("../compiler/driver/api.js");
    expect((await errorOf(load(model, { weightsFile: "m.bin" } as never))).message).toMatch(/has no option "weightsFile"/);
  });
});

describe("kiln compile --weights, kiln run", () => {
  it("writes the .wasm and the file; run finds it beside the .wasm, or at --weights; a truncated or altered one names the layer", () => {
    const onnx = path.join(dir, "model.onnx");
    fs.writeFileSync(onnx, model);
    const out = path.join(dir, "cli");
    fs.mkdirSync(out);
    const c = kiln(["compile", onnx, "-o", path.join(out, "m.wasm"), "--weights", path.join(out, "m.bin"), "--simd", "baseline"]);
    expect(c.stderr).toBe("");
    expect(c.stdout).toMatch(/-> .*m\.wasm \+ .*m\.bin \(\d+ bytes of weights\)/);
    const ref = kiln(["compile", onnx, "-o", path.join(out, "whole.wasm"), "--simd", "baseline", "--quiet"]);
    expect(ref.code).toBe(0);
    const run = (args: string[]) => kiln(["run", ...args, "--input", "x=random", "--json"]);
    const want = JSON.parse(run([path.join(out, "whole.wasm")]).stdout).outputs;
    const beside = run([path.join(out, "m.wasm")]);
    expect(beside.code).toBe(0);
    expect(JSON.parse(beside.stdout).outputs).toEqual(want);
    // the outputs themselves, saved
    for (const [wasm, save] of [["whole.wasm", "a"], ["m.wasm", "b"]]) {
      fs.mkdirSync(path.join(out, save));
      expect(kiln(["run", path.join(out, wasm), "--input", "x=random", "--save", path.join(out, save)]).code).toBe(0);
    }
    expect(fs.readFileSync(path.join(out, "b/output_0.pb"))).toEqual(fs.readFileSync(path.join(out, "a/output_0.pb")));
    fs.renameSync(path.join(out, "m.bin"), path.join(out, "elsewhere.bin"));
    const missing = run([path.join(out, "m.wasm")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/INVALID_ARTIFACT: .*m\.wasm keeps its weights in a file \("m\.bin", \d+ bytes\); .*m\.bin is not there: copy it beside the \.wasm or pass --weights PATH/);
    expect(run([path.join(out, "m.wasm"), "--weights", path.join(out, "elsewhere.bin")]).code).toBe(0);
    const bytes = fs.readFileSync(path.join(out, "elsewhere.bin"));
    fs.writeFileSync(path.join(out, "cut.bin"), bytes.subarray(0, bytes.length - 8));
    const cut = run([path.join(out, "m.wasm"), "--weights", path.join(out, "cut.bin")]);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toMatch(/^kiln: INVALID_ARTIFACT: the weights of layer "\w+" are damaged: .* it is truncated/);
    expect(kiln(["run", onnx, "--weights", "x.bin"]).code).toBe(2);
  });
});
