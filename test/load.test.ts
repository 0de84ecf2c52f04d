// Load time: the process cache of compiled modules, batched constant folding (one module per
// wave of independent constant nodes), weights kept out of the code (kiln.weights section or
// written from the tensors), and AOT artifacts through the runtime alone.
import { beforeEach, describe, expect, it } from "vitest";
import { compile, load } from "../compiler/driver/api.js";
import { cachedModule, cacheKey, cacheStored, clearModuleCache, moduleCacheSize as storedCount } from "../compiler/driver/cache.js";
import { evaluateNode } from "../compiler/driver/evaluate.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { generate } from "../codegen/module.js";
import { createSession } from "../runtime/session.js";
import { splitWeights } from "../runtime/weights.js";
import { FORMAT_VERSION, WEIGHTS_SECTION } from "../runtime/manifest.js";
import { runReference } from "../models/reference.js";
import type { Tensor } from "../runtime/session.js";
import { registerOp } from "../compiler/ops/index.js";
import { registerKernel } from "../codegen/kernels/index.js";
import { load as loadF32, store as storeF32 } from "../codegen/memory.js";
import { values as elements } from "./util/values.js";
import { ModelBuilder } from "../models/builder.js";
import { uniform } from "../models/init.js";
import * as v8 from "node:v8";
import * as vm from "node:vm";

// A test-only kernel that packs its constant W in prepare and, with unread=1, says it never
// reads W itself at run time: Y = X + W through the packed copy.
registerOp("AddPacked", (ctx) => [{ dtype: "float32", shape: ctx.input(0).shape }], { domain: "kiln.test" });
registerKernel("AddPacked", (ctx) => {
  const x = ctx.input(0), y = ctx.output(0), m = ctx.m;
  ctx.fn.emit(ctx.fn.loop(x.size * 4, (i) => [storeF32(m, "float32", i.get(),
    m.f32.add(loadF32(m, "float32", i.get(), x.addr), loadF32(m, "float32", i.get(), ctx.constantAddrs[0])), y.addr)], { step: 4 }));
}, {
  domain: "kiln.test",
  prepare: (ctx) => {
    const w = ctx.input(1).value!;
    return { constants: [new Uint8Array(Float32Array.from(w.data as Float32Array).buffer)], unread: ctx.attrs.int("unread", 0) ? [1] : [] };
  },
});

/** Deterministic pseudo-random values in [-1, 1) (no Math.random: reproducible failures). */
function values(n: number, seed: number): number[] {
  let s = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.round(((s / 2 ** 32) * 2 - 1) * 1000) / 1000;
  });
}
const dense = (n: number, seed: number, positive = false) => `dense<[${values(n, seed).map((v) => (positive ? Math.abs(v) + 0.5 : v)).join(", ")}]>`;

// Two Conv + BN pairs (folded in waves: Add, Sqrt, Div, Reshape, Mul ... across both at once)
// and an independent constant chain feeding the output.
const C = 3;
const convBnModel = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[1,${C},5,7]
const %w1 : float32[${C},${C},3,3] = ${dense(C * C * 9, 1)}
const %b1 : float32[${C}] = ${dense(C, 2)}
const %s1 : float32[${C}] = ${dense(C, 3, true)}
const %t1 : float32[${C}] = ${dense(C, 4)}
const %m1 : float32[${C}] = ${dense(C, 5)}
const %v1 : float32[${C}] = ${dense(C, 6, true)}
const %w2 : float32[${C},${C},1,1] = ${dense(C * C, 7)}
const %s2 : float32[${C}] = ${dense(C, 8, true)}
const %t2 : float32[${C}] = ${dense(C, 9)}
const %m2 : float32[${C}] = ${dense(C, 10)}
const %v2 : float32[${C}] = ${dense(C, 11, true)}
const %k : float32[7] = ${dense(7, 12)}
%c1 : float32[1,${C},5,7] = Conv[pads=[1,1,1,1]](%x, %w1, %b1) {name="conv1"}
%n1 : float32[1,${C},5,7] = BatchNormalization[epsilon=0.001](%c1, %s1, %t1, %m1, %v1) {name="bn1"}
%r1 : float32[1,${C},5,7] = Relu(%n1) {name="relu1"}
%c2 : float32[1,${C},5,7] = Conv(%r1, %w2) {name="conv2"}
%n2 : float32[1,${C},5,7] = BatchNormalization(%c2, %s2, %t2, %m2, %v2) {name="bn2"}
%k2 : float32[7] = Mul(%k, %k) {name="ksq"}
%k3 : float32[7] = Exp(%k2) {name="kexp"}
%y : float32[1,${C},5,7] = Add(%n2, %k3) {name="add"}
output %y`));

const feedX = Float32Array.from(values(C * 35, 99));

function expectClose(got: Tensor, want: { data: ArrayLike<number | bigint> }, tol = 1e-5) {
  expect(got.data.length).toBe(want.data.length);
  for (let i = 0; i < got.data.length; i++) {
    const w = want.data[i] as number;
    expect(Math.abs((got.data[i] as number) - w)).toBeLessThanOrEqual(tol * (1 + Math.abs(w)));
  }
}

const dynamicAdd = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[N,3]
const %b : float32[3] = dense<[1, 2, 3]>
%y : float32[N,3] = Add(%x, %b) {name="add"}
output %y`));

const reshapeByInput = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[6]
input %shape : int64[2]
%y : float32 = Reshape(%x, %shape) {name="r"}
output %y`));

const moduleCacheSize = async () => {
  await cacheStored();
  return storedCount();
};

describe("process cache of compiled modules", () => {
  beforeEach(() => clearModuleCache());

  it("returns the same module for the same key and builds once", async () => {
    let builds = 0;
    const build = async () => {
      builds++;
      return { module: await WebAssembly.compile(await compile(dynamicAdd, { shapes: { x: [1, 3] } }).then((c) => splitWeights(c.wasm).code as Uint8Array<ArrayBuffer>)) };
    };
    const a = await cachedModule(cacheKey(dynamicAdd, { shapes: [1] }), build);
    await cacheStored();
    const b = await cachedModule(cacheKey(Uint8Array.from(dynamicAdd), { shapes: [1] }), build);
    expect(b.module).toBe(a.module);
    expect(builds).toBe(1);
    const c = await cachedModule(cacheKey(dynamicAdd, { shapes: [2] }), build);
    expect(c.module).not.toBe(a.module);
    expect(builds).toBe(2);
    // same length and sampled bytes, one other byte: the full hash tells them apart
    const big = new Uint8Array(1 << 20);
    const twin = Uint8Array.from(big);
    twin[5] = 1; // the sketch samples every 64th 4-byte word (one word in 256 bytes): byte 5 is not read
    expect(cacheKey(twin, {}).sketch).toBe(cacheKey(big, {}).sketch);
    const e = await cachedModule(cacheKey(big, {}), build);
    await cacheStored();
    const f = await cachedModule(cacheKey(twin, {}), build);
    expect(f.module).not.toBe(e.module);
    expect(builds).toBe(4);
    expect((await cachedModule(cacheKey(Uint8Array.from(big), {}), build)).module).toBe(e.module);
    expect(builds).toBe(4);
  });

  it("does not keep a failed build", async () => {
    await expect(cachedModule(cacheKey(dynamicAdd, {}), async () => { throw new Error("no"); })).rejects.toThrow("no");
    expect(await moduleCacheSize()).toBe(0);
  });

  it("load() hits for the same model and shapes, misses when shapes change, and sessions stay separate", async () => {
    const a = await load(dynamicAdd, { shapes: { x: [2, 3] } });
    expect(await moduleCacheSize()).toBe(1);
    const b = await load(Uint8Array.from(dynamicAdd), { shapes: { x: [2, 3] } });
    expect(await moduleCacheSize()).toBe(1);
    expect(b.session).not.toBe(a.session);
    const ra = await a.run({ x: { data: Float32Array.of(1, 1, 1, 2, 2, 2), dims: [2, 3] } });
    const rb = await b.run({ x: { data: new Float32Array(6), dims: [2, 3] } });
    expect(elements(ra.y.data)).toEqual([2, 3, 4, 3, 4, 5]);
    expect(elements(rb.y.data)).toEqual([1, 2, 3, 1, 2, 3]);
    await load(dynamicAdd, { shapes: { x: [4, 3] } });
    expect(await moduleCacheSize()).toBe(2);
    await load(dynamicAdd, { shapes: { x: [4, 3] }, level: 0 });
    expect(await moduleCacheSize()).toBe(3);
  });

  it("misses when a frozen input's value changes", async () => {
    const m = await load(reshapeByInput);
    const x = Float32Array.of(0, 1, 2, 3, 4, 5);
    expect((await m.run({ x, shape: BigInt64Array.of(2n, 3n) })).y.dims).toEqual([2, 3]);
    const after = await moduleCacheSize();
    expect((await m.run({ x, shape: BigInt64Array.of(3n, 2n) })).y.dims).toEqual([3, 2]);
    expect(await moduleCacheSize()).toBe(after + 1);
    const again = await load(reshapeByInput);
    expect((await again.run({ x, shape: BigInt64Array.of(3n, 2n) })).y.dims).toEqual([3, 2]);
    expect(await moduleCacheSize()).toBe(after + 1);
  });

  it("keeps modules on disk with cacheDir, and a later load reads them back", async () => {
    const fs = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-load-cache-"));
    try {
      const want = await (await load(convBnModel, { cache: false })).run({ x: feedX });
      await (await load(convBnModel, { cacheDir: dir })).run({ x: feedX });
      const files = fs.readdirSync(dir);
      expect(files).toHaveLength(1);
      // the file is a kiln artifact the runtime alone can run
      const artifact = fs.readFileSync(path.join(dir, files[0]));
      expect(elements((await (await createSession(artifact)).run({ x: feedX })).y.data)).toEqual(elements(want.y.data));
      // a later load reads the file back (the process cache is empty, so only the file can answer)
      clearModuleCache();
      expect(elements((await (await load(convBnModel, { cacheDir: dir })).run({ x: feedX })).y.data)).toEqual(elements(want.y.data));
      expect(fs.readdirSync(dir)).toHaveLength(1);
      // a damaged file (its weights zeroed) is refused, naming the file and what to do, and left for the user to delete
      clearModuleCache();
      const { code, weights } = splitWeights(artifact);
      const marked = Uint8Array.from(artifact);
      const start = code.length + (artifact.length - code.length - weights!.length);
      marked.fill(0, start, start + weights!.length);
      const file = path.join(dir, files[0]);
      fs.writeFileSync(file, marked);
      await expect(load(convBnModel, { cacheDir: dir })).rejects.toMatchObject({ code: "INVALID_ARTIFACT", message: expect.stringContaining(`the cached module ${file} is damaged; delete it`) });
      expect(fs.readFileSync(file)).toEqual(Buffer.from(marked));
      fs.rmSync(file);
      expect(elements((await (await load(convBnModel, { cacheDir: dir })).run({ x: feedX })).y.data)).toEqual(elements(want.y.data));
      expect(fs.readdirSync(dir)).toHaveLength(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keys on values frozen through options.freeze", async () => {
    const x = Float32Array.of(0, 1, 2, 3, 4, 5);
    const a = await load(reshapeByInput, { freeze: { shape: { dtype: "int64", dims: [2], data: BigInt64Array.of(2n, 3n) } } });
    const b = await load(reshapeByInput, { freeze: { shape: { dtype: "int64", dims: [2], data: BigInt64Array.of(3n, 2n) } } });
    expect((await a.run({ x })).y.dims).toEqual([2, 3]);
    expect((await b.run({ x })).y.dims).toEqual([3, 2]);
    expect(await moduleCacheSize()).toBe(2);
  });

  it("can be turned off", async () => {
    await load(dynamicAdd, { shapes: { x: [2, 3] }, cache: false });
    expect(await moduleCacheSize()).toBe(0);
  });
});

describe("folding through batched evaluation", () => {
  it("a model with folded BN and constant chains matches onnxruntime at -O2 and -O0", async () => {
    const want = await runReference(convBnModel, { x: { dtype: "float32", dims: [1, C, 5, 7], data: feedX } });
    for (const level of [2, 0] as const) {
      const m = await load(convBnModel, { level, cache: false });
      const got = await m.run({ x: feedX });
      expectClose(got.y, want.y);
    }
  });

  it("independent requests in one tick share a module and give the same values as alone", async () => {
    const g = parseGraph(`kiln.graph opsets("" = 13)
const %a : float32[5] = dense<[1, -2, 3.5, 0, 7]>
const %b : int32[3] = dense<[4, -9, 2]>
%e : float32[5] = Exp(%a) {name="e"}
%n : int32[3] = Neg(%b) {name="n"}
%s : float32[5] = Sqrt(%a) {name="s"}
output %e
output %n
output %s`);
    const [e, n, s] = g.topoOrder();
    const t = (name: string) => g.values.get(name)!.const!;
    const out = (name: string) => [{ dtype: g.values.get(name)!.dtype!, shape: g.values.get(name)!.shape as number[] }];
    const together = await Promise.all([
      evaluateNode(g, e, [t("a")], out("e")), evaluateNode(g, n, [t("b")], out("n")), evaluateNode(g, s, [t("a")], out("s")),
    ]);
    const alone = [await evaluateNode(g, e, [t("a")], out("e")), await evaluateNode(g, n, [t("b")], out("n")), await evaluateNode(g, s, [t("a")], out("s"))];
    expect(together.map((r) => elements(r[0].data))).toEqual(alone.map((r) => elements(r[0].data)));
    expect(elements(together[1][0].data)).toEqual([-4, 9, -2]);
    expect(elements(together[0][0].data)).toEqual(elements(Float32Array.from([1, -2, 3.5, 0, 7], Math.exp)));
  });

  it("a failing node in a batch gets its own error and its neighbours their values", async () => {
    const g = parseGraph(`kiln.graph opsets("" = 13)
const %a : float32[2] = dense<[1, 4]>
%s : float32[2] = Sqrt(%a) {name="s"}
output %s`);
    const [s] = g.topoOrder();
    const bogus = { ...s, name: "bogus", op: "NoSuchOp", outputs: ["z"] };
    const out = [{ dtype: "float32" as const, shape: [2] }];
    const [good, bad] = await Promise.allSettled([evaluateNode(g, s, [g.values.get("a")!.const], out), evaluateNode(g, bogus, [g.values.get("a")!.const], out)]);
    expect(good.status).toBe("fulfilled");
    expect(elements((good as PromiseFulfilledResult<Tensor[]>).value[0].data)).toEqual([1, 2]);
    expect(bad.status).toBe("rejected");
    expect(String((bad as PromiseRejectedResult).reason.message)).toMatch(/NoSuchOp/);
  });
});

describe("weights outside the code", () => {
  it("compile() puts the weights in a trailing kiln.weights section; the runtime alone runs it", async () => {
    const { wasm, manifest } = await compile(convBnModel);
    expect(manifest.format).toBe(FORMAT_VERSION);
    expect(manifest.memory.weights).toBe("section");
    const { code, weights } = splitWeights(wasm);
    expect(weights?.length).toBe(manifest.memory.regions.reduce((a, r) => a + r.bytes, 0));
    expect(code.length + weights!.length).toBeLessThan(wasm.length);
    expect(WebAssembly.Module.customSections(await WebAssembly.compile(wasm as Uint8Array<ArrayBuffer>), WEIGHTS_SECTION)).toHaveLength(1);
    const want = await runReference(convBnModel, { x: { dtype: "float32", dims: [1, C, 5, 7], data: feedX } });
    // from bytes (the section is split off before compiling) and from an already compiled module
    for (const artifact of [wasm, await WebAssembly.compile(wasm as Uint8Array<ArrayBuffer>)]) {
      const session = await createSession(artifact);
      expectClose((await session.run({ x: feedX })).y, want.y);
    }
    // through load() too
    expectClose((await (await load(wasm)).run({ x: feedX })).y, want.y);
  });

  it("refuses a module whose weights section was stripped", async () => {
    const { wasm } = await compile(convBnModel);
    await expect(createSession(splitWeights(wasm).code)).rejects.toMatchObject({ code: "INVALID_ARTIFACT" });
  });

  it("leaves out of the image a constant no layer reads at run time (a kernel packed it)", async () => {
    const graph = (unread: number) => parseGraph(`kiln.graph opsets("" = 13, "kiln.test" = 1)
input %x : float32[5]
const %w : float32[5] = dense<[1, 2, 3, 4, 5]>
%y : float32[5] = kiln.test::AddPacked[unread=${unread}](%x, %w) {name="p"}
output %y`);
    const image = (gen: ReturnType<typeof generate>) => gen.manifest.memory.regions.reduce((a, r) => a + r.bytes, 0);
    const kept = generate(graph(0), { weights: "external" });
    const dropped = generate(graph(1), { weights: "external" });
    expect(image(kept)).toBe(40);
    expect(image(dropped)).toBe(20);
    for (const gen of [kept, dropped]) {
      const session = await createSession(gen.wasm, { weights: gen.weights });
      expect(elements((await session.run({ x: Float32Array.of(1, 1, 1, 1, -1) })).y.data)).toEqual([2, 3, 4, 5, 4]);
    }
  });

  it("every placement gives the same results", async () => {
    const { importOnnx, prepareGraph, optimizeGraph } = await import("../compiler/driver/compile.js");
    const results: number[][] = [];
    for (const weights of ["data", "section", "external"] as const) {
      const g = importOnnx(convBnModel);
      await prepareGraph(g);
      await optimizeGraph(g);
      const gen = generate(g, { weights });
      expect(gen.manifest.memory.weights).toBe(weights);
      expect(gen.weights !== undefined).toBe(weights === "external");
      const session = await createSession(gen.wasm, { weights: gen.weights });
      results.push(Array.from((await session.run({ x: feedX })).y.data as Float32Array));
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
  });
});

describe("what load() keeps of the model's bytes", () => {
  // a model with its weights as raw initializers: the graph's tensors are views into the bytes
  const mlp = (free: boolean) => {
    const b = new ModelBuilder(11);
    const x = b.input("x", [4, 32]);
    const y = b.node("Relu", [b.node("MatMul", [x, b.weight("w", [32, 48], uniform(-0.5, 0.5))], [4, 48])], [4, 48], {}, "relu");
    b.output(y);
    if (free) for (const v of b.graph.values.values()) if (v.shape && !v.const) v.shape = ["n", ...v.shape.slice(1)];
    return exportModel(b.graph, { valueInfo: false });
  };
  const collect = async () => {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    for (let k = 0; k < 3; k++) { await new Promise((r) => setTimeout(r, 10)); gc(); }
  };

  it("compiled once for the shapes given, the session lets the bytes go once its weights are placed (they were held for the model's lifetime: its size again)", async () => {
    let bytes: Uint8Array | undefined = mlp(false);
    const held = new WeakRef(bytes.buffer);
    const model = await load(bytes, { cache: false });
    bytes = undefined;
    const x = Float32Array.from({ length: 128 }, (_, i) => Math.sin(i));
    const first = await model.run({ x });
    await collect();
    expect(held.deref()).toBeUndefined();
    expect((await model.run({ x })).relu_out.data).toEqual(first.relu_out.data);
  });

  it("with free dims, the bytes stay to compile each new shape", async () => {
    let bytes: Uint8Array | undefined = mlp(true);
    const want = await runReference(bytes, { x: { dtype: "float32", dims: [7, 32], data: Float32Array.from({ length: 224 }, (_, i) => Math.cos(i)) } });
    const model = await load(bytes, { cache: false });
    bytes = undefined;
    await model.run({ x: { dims: [2, 32], data: new Float32Array(64) } });
    await collect();
    const got = await model.run({ x: { dims: [7, 32], data: Float32Array.from({ length: 224 }, (_, i) => Math.cos(i)) } });
    expect(Array.from(got.relu_out.data as Float32Array).map((v, i) => Math.abs(v - (want.relu_out.data as Float32Array)[i]) <= 1e-5 + 1e-4 * Math.abs(v))).not.toContain(false);
    expect(model.modulesCompiled).toBe(2);
  });
});
