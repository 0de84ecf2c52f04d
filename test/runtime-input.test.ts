// The runtime takes what callers hand it: an ArrayBuffer (what fetch().arrayBuffer() gives) or any
// byte view as the artifact; feeds of the wrong form (a bare array, null, a number, data missing)
// are BAD_INPUT naming the input; a file that is not wasm (a text file named .wasm) is
// INVALID_ARTIFACT saying so, from the runtime, load() and the CLI.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compile, load } from "../compiler/driver/api.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { createSession } from "../runtime/session.js";
import { kiln } from "./util/cli.js";
import { values } from "./util/values.js";

const addModel = (dims: string) => exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[${dims}]
const %w : float32[3] = dense<[1, 2, 3]>
%y : float32[${dims}] = Add(%x, %w) {name="add"}
output %y`));

const castModel = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %i : int32[3]
input %l : int64[3]
%a : float32[3] = Cast[to=1](%i) {name="ci"}
%b : float32[3] = Cast[to=1](%l) {name="cl"}
%y : float32[3] = Add(%a, %b) {name="add"}
output %y`));

const artifact = compile(addModel("2,3"), { simd: "baseline" }).then((c) => c.wasm);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-runtime-input-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function errorOf(p: Promise<unknown>): Promise<{ name: string; code: string; message: string }> {
  const e = await p.then(() => undefined, (err) => err);
  expect(e, "expected an error").toBeDefined();
  expect(e.name).toBe("KilnError");
  return e;
}

const x = Float32Array.of(1, 1, 1, 2, 2, 2);

describe("the artifact as callers have it", () => {
  it("an ArrayBuffer (fetch().arrayBuffer()), a Node Buffer, a view into a larger buffer", async () => {
    const wasm = await artifact;
    const buffer = wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength) as ArrayBuffer;
    const inside = new Uint8Array(wasm.length + 40);
    inside.set(wasm, 24);
    for (const given of [buffer, Buffer.from(wasm), inside.subarray(24, 24 + wasm.length), new DataView(buffer)]) {
      const session = await createSession(given as ArrayBuffer);
      expect(values((await session.run({ x })).y.data)).toEqual([2, 3, 4, 3, 4, 5]);
    }
  });

  it("anything else is INVALID_ARTIFACT saying what it takes", async () => {
    for (const given of ["model.wasm", null, 42, { wasm: 1 }]) {
      const e = await errorOf(createSession(given as never));
      expect(e.code).toBe("INVALID_ARTIFACT");
      expect(e.message).toMatch(/createSession takes a kiln \.wasm as bytes \(Uint8Array, ArrayBuffer\) or a WebAssembly\.Module, got/);
    }
  });

  it("a text file is not a WebAssembly module: runtime, load() of a .wasm path, and kiln run", async () => {
    const text = new TextEncoder().encode("this is not a model\n");
    const e = await errorOf(createSession(text));
    expect(e.code).toBe("INVALID_ARTIFACT");
    expect(e.message).toMatch(/not a WebAssembly module: it is text; pass a \.wasm written by kiln compile/);
    expect((await errorOf(createSession(new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0])))).message).toMatch(/do not start with the wasm header/);
    const file = path.join(tmp, "notes.wasm");
    fs.writeFileSync(file, text);
    const viaLoad = await errorOf(load(file));
    expect(viaLoad.code).toBe("INVALID_ARTIFACT");
    expect(viaLoad.message).toMatch(/not a WebAssembly module: it is text/);
    const r = kiln(["run", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^kiln: INVALID_ARTIFACT: not a WebAssembly module: it is text \(.*notes\.wasm\)/);
  });
});

describe("feeds of the wrong form are BAD_INPUT naming the input", () => {
  const wrong: [string, unknown, RegExp][] = [
    ["a bare number[]", [1, 2, 3, 4, 5, 6], /input "x" is a plain array; pass a typed array \(Float32Array \.\.\.\) or \{ data: \[\.\.\.\], dims: \[\.\.\.\] \}/],
    ["null", null, /input "x" is null/],
    ["a number", 7, /input "x" is the number 7/],
    ["{ data: undefined }", { data: undefined }, /input "x" has data undefined/],
    ["{ data: a string }", { data: "1,2,3" }, /input "x" has data the string "1,2,3"/],
    ["data holding strings", { data: ["1", "2", "3", "4", "5", "6"] }, /input "x" has data\[0\] = the string "1", not a number/],
    ["dims not a list", { data: x, dims: "2x3" }, /input "x" has dims the string "2x3", not a list of non-negative integers/],
    ["dims negative", { data: x, dims: [-2, -3] }, /input "x" has dims \[-2,-3\], not a list of non-negative integers/],
    ["a DataView", new DataView(x.buffer), /input "x" is a DataView/],
  ];

  it("from a session (the runtime alone)", async () => {
    const session = await createSession(await artifact);
    for (const [what, feed, message] of wrong) {
      const e = await errorOf(session.run({ x: feed } as never));
      expect(e.code, what).toBe("BAD_INPUT");
      expect(e.message, what).toMatch(message);
    }
    for (const feeds of [null, undefined, 5, x]) {
      const e = await errorOf(session.run(feeds as never));
      expect(e.code).toBe("BAD_INPUT");
      expect(e.message).toMatch(/run takes the inputs as an object by name/);
    }
    expect(() => session.runInPlace({ x: null } as never)).toThrow(/input "x" is null/);
    // and the session still runs right
    expect(values((await session.run({ x })).y.data)).toEqual([2, 3, 4, 3, 4, 5]);
  });

  it("from load(), static and dynamic shapes", async () => {
    for (const model of [await load(addModel("2,3"), { cache: false }), await load(addModel("N,3"), { cache: false })]) {
      for (const [what, feed, message] of wrong) {
        const e = await errorOf(model.run({ x: feed } as never));
        expect(e.code, what).toBe("BAD_INPUT");
        expect(e.message, what).toMatch(message);
      }
      expect((await errorOf(model.run(null as never))).code).toBe("BAD_INPUT");
      expect(values((await model.run({ x: { data: x, dims: [2, 3] } })).y.data)).toEqual([2, 3, 4, 3, 4, 5]);
    }
  });

  it("plain arrays in { data } fill integer inputs only with integers", async () => {
    const session = await createSession((await compile(castModel, { simd: "baseline" })).wasm);
    const out = await session.run({ i: { data: [1, -2, 0] }, l: { data: [10, 20, 2 ** 33] } });
    expect(values(out.y.data)).toEqual([11, 18, 2 ** 33]);
    const e = await errorOf(session.run({ i: { data: [1, 2.5, 3] }, l: { data: [1, 2, 3] } }));
    expect(e.code).toBe("BAD_INPUT");
    expect(e.message).toMatch(/input "i" is int32, but data\[1\] is 2\.5, not an integer/);
    expect((await errorOf(session.run({ i: { data: [1, 2, 3] }, l: { data: [1, 0.5, 3] } }))).message).toMatch(/input "l" is int64, but data\[1\] is 0\.5/);
  });
});
