// Limits an embedder sets: how many compiled shapes a loaded model keeps (LRU), how many modules
// the process cache keeps, and the most linear memory a model may plan. (The corpus in
// test/hostile/ checks each limit's error code; this file checks what the limits keep and drop.)
import { afterEach, describe, expect, it } from "vitest";
import { compile, load } from "../compiler/driver/api.js";
import { cacheStored, clearModuleCache, DEFAULT_CACHE_ENTRIES, moduleCacheSize, setModuleCacheLimit } from "../compiler/driver/cache.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { KilnError } from "../runtime/errors.js";
import { createSession } from "../runtime/session.js";

const relu = (op = "Relu") => exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[N,3]
%y : float32[N,3] = ${op}(%x) {name="f"}
output %y`));
const feed = (n: number) => ({ x: { data: Float32Array.from({ length: n * 3 }, (_, i) => i - 4), dims: [n, 3] } });

afterEach(() => {
  setModuleCacheLimit(DEFAULT_CACHE_ENTRIES);
  clearModuleCache();
});

describe("load(): compiled shapes kept per model", () => {
  it("keeps at most limits.maxModules, dropping the least recently used, and recompiles one that comes back", async () => {
    const m = await load(relu(), { limits: { maxModules: 2 }, cache: false });
    const sessionFor = async (n: number) => {
      const out = await m.run(feed(n));
      expect(Array.from(out.y.data as Float32Array)).toEqual(Array.from({ length: n * 3 }, (_, i) => Math.max(0, i - 4)));
      return m.session;
    };
    const one = await sessionFor(1);
    const two = await sessionFor(2);
    expect(await sessionFor(1)).toBe(one); // kept; now the most recently used
    expect(await sessionFor(2)).toBe(two);
    await sessionFor(3); // a third shape: 1 is the least recently used and goes
    expect(await sessionFor(2)).toBe(two);
    const again = await sessionFor(1);
    expect(again).not.toBe(one); // compiled anew
    expect(again!.inputs[0].dims).toEqual([1, 3]);
  });

  it("keeps eight by default", async () => {
    const m = await load(relu(), { cache: false });
    const first: unknown[] = [];
    for (let n = 1; n <= 8; n++) {
      await m.run(feed(n));
      first.push(m.session);
    }
    for (let n = 1; n <= 8; n++) {
      await m.run(feed(n));
      expect(m.session).toBe(first[n - 1]);
    }
  });
});

describe("the process cache of compiled modules", () => {
  it("holds setModuleCacheLimit modules, the oldest dropped first", async () => {
    setModuleCacheLimit(2);
    for (const op of ["Relu", "Neg", "Abs"]) await load(relu(op), { shapes: { x: [2, 3] } });
    await cacheStored();
    expect(moduleCacheSize()).toBe(2);
    setModuleCacheLimit(1);
    expect(moduleCacheSize()).toBe(1);
    setModuleCacheLimit(0);
    await load(relu("Sigmoid"), { shapes: { x: [2, 3] } });
    await cacheStored();
    expect(moduleCacheSize()).toBe(0);
    expect(() => setModuleCacheLimit(-1)).toThrow(expect.objectContaining({ code: "BAD_OPTION" }));
  });
});

describe("limits.maxMemoryBytes", () => {
  // 775,000,000 float32 = 3.1 GB from a model of a few hundred bytes
  const huge = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[1]
const %s : int64[1] = dense<[775000000]>
%e : float32[775000000] = Expand(%x, %s) {name="expand"}
%y : float32[1] = ReduceSum(%e) {name="sum"}
output %y`));

  it("refuses a model over the limit from its shapes, before the passes and before any memory is allocated", async () => {
    const rss = process.memoryUsage().rss;
    const e = await load(huge, { limits: { maxMemoryBytes: 64 << 20 } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KilnError);
    expect((e as KilnError).code).toBe("UNSUPPORTED_OP");
    // "at least": the bound from the largest tensor, checked right after shape inference
    expect((e as KilnError).message).toMatch(/at least: value "e", float32\[775000000\]/);
    // 3.1 GB was never touched (the margin leaves room for anything else the process does)
    expect(process.memoryUsage().rss - rss).toBeLessThan(1 << 30);
  });

  it("lets through what fits, and checks the planned memory itself", async () => {
    const { manifest } = await compile(relu(), { shapes: { x: [4, 3] } });
    const planned = manifest.memory.bytes;
    await expect(compile(relu(), { shapes: { x: [4, 3] }, limits: { maxMemoryBytes: planned } })).resolves.toBeDefined();
    // smaller than the plan but larger than any tensor: refused by the plan, after generation
    const e = await compile(relu(), { shapes: { x: [4, 3] }, limits: { maxMemoryBytes: planned - 1 } }).catch((x: unknown) => x);
    expect((e as KilnError).code).toBe("UNSUPPORTED_OP");
    expect((e as KilnError).message).toMatch(new RegExp(`needs ${planned} bytes of linear memory, more than limits.maxMemoryBytes = ${planned - 1} bytes`));
  });

  it("createSession checks an artifact's memory before instantiating it", async () => {
    const { wasm, manifest } = await compile(relu(), { shapes: { x: [4, 3] } });
    await expect(createSession(wasm, { limits: { maxMemoryBytes: manifest.memory.bytes } })).resolves.toBeDefined();
    await expect(createSession(wasm, { limits: { maxMemoryBytes: manifest.memory.bytes - 1 } })).rejects.toMatchObject({ code: "UNSUPPORTED_OP" });
  });
});
