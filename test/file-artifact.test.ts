// Opening a .wasm by its path (runtime/file-artifact.ts, kiln/runtime/file): the code is compiled
// from the bytes before the kiln.weights section, the weights image read from the file into memory
// piece by piece as the scheduler places it, never whole. The session answers bit for bit as
// createSession(bytes) does; an altered or cut file is INVALID_ARTIFACT naming the layer, a path
// that is not a kiln artifact a typed error.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile } from "../compiler/driver/api.js";
import { imagePosition } from "../runtime/weights.js";
import { WEIGHTS_SECTION } from "../runtime/manifest.js";
import { sections } from "../runtime/sections.js";
import { createSession, type Tensor } from "../runtime/session.js";
import { openSession } from "../runtime/file-artifact.js";
import { relaxedSimdSupported } from "../runtime/simd.js";
import { kiln } from "./util/cli.js";
import { tensor } from "./util/ort.js";
import { convChainModel } from "./util/conv-chain.js";

// layers with weights of their own (a 3x3 conv the module derives packed forms for, two 1x1), one
// without, a constant output
const model = convChainModel([8, 16, 12, 5], 10);
const x = tensor({ dims: [1, 8, 10, 10] }, 1).data;

const compact = compile(model, { simd: "baseline" });
const both = compile(model, { simd: "auto" });

const bits = (outs: Record<string, Tensor>) => Object.fromEntries(Object.entries(outs).map(([k, t]) => [k, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString("hex")]));

async function errorOf(p: Promise<unknown>): Promise<{ code: string; message: string; context: Record<string, unknown> }> {
  const e = await p.then(() => undefined, (err) => err);
  expect(e, "expected a KilnError").toBeDefined();
  expect(e.name).toBe("KilnError");
  return e;
}

/** the file position of the first piece of layer `name` in an artifact's bytes */
async function pieceOf(name: string): Promise<{ at: number; bytes: number }> {
  const { wasm, manifest } = await compact;
  const payload = sections(wasm).find((s) => s.name === WEIGHTS_SECTION)!.payload;
  const l = manifest.layers.find((x) => x.name === name)!;
  const [offset, bytes] = l.weights[0];
  return { at: payload + imagePosition(manifest.memory.regions, 0)(offset), bytes };
}

/** this process's open file descriptors (Linux) */
const openFds = () => fs.readdirSync("/proc/self/fd").length;

let dir: string;
const file = (name: string, bytes: Uint8Array | string) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, bytes);
  return f;
};
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-file-artifact-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("openSession(path)", () => {
  it("answers bit for bit as createSession(bytes), the artifact's derived forms made as its pieces are placed", async () => {
    const { wasm, manifest } = await compact;
    expect(manifest.memory.weights).toBe("section");
    expect(manifest.layers.some((l) => l.derived?.length), "the model should have derived pieces").toBe(true);
    const f = file("m.wasm", wasm);
    const want = bits(await (await createSession(wasm)).run({ x }));
    for (const placement of ["lazy", "eager"] as const) {
      const s = await openSession(f, { placement });
      expect(bits(await s.run({ x })), placement).toEqual(want);
      expect(bits(await s.run({ x })), `${placement}, second run`).toEqual(want);
    }
  });

  it("runs either build of an artifact with a relaxed variant, each as createSession(bytes) runs it", async () => {
    const { wasm } = await both;
    const f = file("both.wasm", wasm);
    const builds = relaxedSimdSupported() ? (["baseline", "relaxed"] as const) : (["baseline"] as const);
    for (const simd of builds) {
      const want = bits(await (await createSession(wasm, { simd })).run({ x }));
      expect(bits(await (await openSession(f, { simd })).run({ x })), simd).toEqual(want);
    }
  });

  it.skipIf(!fs.existsSync("/proc/self/fd"))("lets the file go once every piece is placed", async () => {
    const f = file("fd.wasm", (await compact).wasm);
    const before = openFds();
    const s = await openSession(f);
    expect(openFds()).toBe(before + 1); // open until the first run has placed the weights
    await s.run({ x });
    expect(openFds()).toBe(before);
  });

  it("an altered byte in a layer's piece is INVALID_ARTIFACT naming that layer, before it runs, for good", async () => {
    const { wasm } = await compact;
    for (const name of ["conv", "head"]) {
      const { at, bytes } = await pieceOf(name);
      const bad = wasm.slice();
      bad[at + (bytes >> 1)] ^= 0x10;
      const s = await openSession(file(`altered-${name}.wasm`, bad));
      for (const attempt of [1, 2]) {
        const e = await errorOf(s.run({ x }));
        expect(e.code, `${name}, run ${attempt}`).toBe("INVALID_ARTIFACT");
        expect(e.context.node).toBe(name);
        expect(e.message).toMatch(/damaged/);
      }
    }
  });

  it("a file cut inside the weights section is INVALID_ARTIFACT naming the first layer whose pieces are missing", async () => {
    const { wasm } = await compact;
    const { at } = await pieceOf("head");
    const e = await errorOf(openSession(file("cut.wasm", wasm.slice(0, at + 3))));
    expect(e.code).toBe("INVALID_ARTIFACT");
    expect(e.context.node).toBe("head");
    expect(e.message).toMatch(/truncated/);
  });

  it("a path that is not a kiln artifact is a typed error", async () => {
    const { wasm } = await compact;
    const cases: [string, string, string][] = [
      [path.join(dir, "missing.wasm"), "BAD_INPUT", "does not exist"],
      [dir, "BAD_INPUT", "a folder"],
      [file("empty.wasm", new Uint8Array(0)), "INVALID_ARTIFACT", "empty"],
      [file("text.wasm", "hello, not wasm\n"), "INVALID_ARTIFACT", "text"],
      [file("model.onnx", model), "INVALID_ARTIFACT", "an ONNX model"],
      [file("code-cut.wasm", wasm.slice(0, 40)), "INVALID_ARTIFACT", "cut inside its code"],
      [file("plain.wasm", new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])), "INVALID_ARTIFACT", "a wasm module without a manifest"],
    ];
    for (const [f, code, what] of cases) expect((await errorOf(openSession(f))).code, what).toBe(code);
    expect((await errorOf(openSession(42 as never))).code).toBe("BAD_INPUT");
  });

  it("a threaded artifact runs on its workers with the weights read from the file", async () => {
    // from dist/ (npm test builds it first): the workers run runtime/thread-worker.js, which exists only there
    const dist = (p: string) => import(path.resolve(import.meta.dirname, "..", "dist", p));
    const { openSession: open } = (await dist("runtime/file-artifact.js")) as { openSession: typeof openSession };
    const { createSession: create } = (await dist("runtime/session.js")) as { createSession: typeof createSession };
    const threaded = await compile(model, { simd: "baseline", threads: 2 });
    const want = bits(await (await create(threaded.wasm)).run({ x }));
    const s = await open(file("threads.wasm", threaded.wasm), { threads: 2 });
    try {
      expect(s.threads).toBe(2);
      expect(bits(await s.run({ x }))).toEqual(want);
    } finally {
      s.terminate?.();
    }
  });

  it("with proxy: true the worker gets the file's bytes and answers the same", async () => {
    const { openSession: open } = (await import(path.resolve(import.meta.dirname, "..", "dist/runtime/file-artifact.js"))) as { openSession: typeof openSession };
    const { wasm } = await compact;
    const want = bits(await (await createSession(wasm)).run({ x }));
    const s = await open(file("proxy.wasm", wasm), { proxy: true });
    try {
      expect(bits(await s.run({ x }))).toEqual(want);
    } finally {
      s.terminate?.();
    }
  });
});

describe("load(path) of a .wasm opens it so", () => {
  it("answers as createSession(bytes), and an altered piece names its layer", async () => {
    const { load } = await import("../compiler/driver/api.js");
    const { wasm } = await compact;
    const want = bits(await (await createSession(wasm)).run({ x }));
    const m = await load(file("load.wasm", wasm));
    expect(bits((await m.run({ x })) as Record<string, Tensor>)).toEqual(want);
    const { at, bytes } = await pieceOf("conv");
    const bad = wasm.slice();
    bad[at + (bytes >> 1)] ^= 0x10;
    const e = await errorOf((await load(file("load-altered.wasm", bad))).run({ x }));
    expect([e.code, e.context.node]).toEqual(["INVALID_ARTIFACT", "conv"]);
  });
});

describe("kiln run m.wasm reads the weights from the file", () => {
  it("names the layer of an altered or cut weights section", async () => {
    const { wasm } = await compact;
    const { at, bytes } = await pieceOf("mix");
    const bad = wasm.slice();
    bad[at + (bytes >> 1)] ^= 0x10;
    const altered = kiln(["run", file("run-altered.wasm", bad)]);
    expect(altered.code).not.toBe(0);
    expect(altered.stderr).toMatch(/INVALID_ARTIFACT.*layer "mix"/);
    const cut = kiln(["run", file("run-cut.wasm", wasm.slice(0, at + 3))]);
    expect(cut.code).not.toBe(0);
    expect(cut.stderr).toMatch(/INVALID_ARTIFACT.*layer "mix".*truncated/);
  });
});
