// One function per distinct body (codegen/merge-functions.ts): functions that differ only in i32
// constants and memory offsets become one body taking those values as parameters. The merged
// module must compute exactly what the unmerged one does: on hand-built functions (constants,
// load and store offsets, calls to merged helpers), and on whole models, SqueezeNet (same-shaped
// fire modules) and ResNet-50 (same-shaped blocks within a stage, distinct shapes across them).
import * as fs from "node:fs";
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { importOnnx, optimizeGraph, prepareGraph } from "../compiler/driver/compile.js";
import { generate, type GenerateOptions } from "../codegen/module.js";
import { mergeSimilarFunctions, type MergeStats } from "../codegen/merge-functions.js";
import { createSession } from "../runtime/session.js";
import { seedLightModel } from "../models/light-seed.js";
import { lightModel } from "./util/models.js";

const PAD = 40; // stores enough to pass the size under which bodies are left alone

/**
 * Layer-like functions: layer_k reads in[i] plus a bias at a memory offset of its own, calls a helper
 * (an outlined loop body, part_0) with it, and stores a vector and PAD floats at offsets; part_k
 * stores x * scale_k at base_k + 4i, and x at base_k + 800.. (base and scale i32 constants). With
 * `manyOffsets`, each layer's PAD floats go to offsets of its own (too many accesses to merge).
 */
function module(layers: { base: number; scale: number; bias: number; store: number }[], opts: { odd?: boolean; tailCall?: boolean; manyOffsets?: boolean } = {}): Uint8Array {
  const m = new binaryen.Module();
  m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | (opts.tailCall ? binaryen.Features.TailCall : 0));
  m.setMemory(1, 1, "memory");
  const { i32, f32 } = binaryen;
  layers.forEach((l, k) => {
    m.addFunction(`part_${k}`, binaryen.createType([i32, f32]), binaryen.none, [], m.block(null, [
      m.f32.store(400, 4, m.i32.add(m.i32.const(l.base), m.i32.mul(m.local.get(0, i32), m.i32.const(4))), m.f32.mul(m.local.get(1, f32), m.f32.convert_s.i32(m.i32.const(l.scale)))),
      ...Array.from({ length: PAD }, (_, j) => m.f32.store(800 + 4 * j, 4, m.i32.const(l.base), m.local.get(1, f32))),
    ]));
    m.addFunctionExport(`part_${k}`, `part_${k}`);
    const i = 0, x = 1;
    const body = [
      m.local.set(i, m.i32.const(0)),
      m.loop("next", m.block(null, [
        m.local.set(x, m.f32.add(m.f32.load(0, 4, m.i32.mul(m.local.get(i, i32), m.i32.const(4))), m.f32.load(l.bias, 4, m.i32.const(0)))),
        m.call("part_0", [m.local.get(i, i32), m.local.get(x, f32)], binaryen.none),
        m.local.set(i, m.i32.add(m.local.get(i, i32), m.i32.const(1))),
        m.br("next", m.i32.lt_u(m.local.get(i, i32), m.i32.const(opts.odd && k === 1 ? 7 : 8))),
      ])),
      m.v128.store(l.store, 4, m.i32.const(0), m.v128.load(0, 4, m.i32.const(0))),
      ...Array.from({ length: PAD }, (_, j) => m.f32.store((opts.manyOffsets ? l.store : 30000) + 16 + 4 * j, 4, m.i32.const(0), m.f32.const(j))),
    ];
    if (opts.odd && k === 1) body.push(m.drop(m.i32.const(0))); // another body
    m.addFunction(`layer_${k}`, binaryen.none, binaryen.none, [i32, f32], m.block(null, body));
    m.addFunctionExport(`layer_${k}`, `layer_${k}`);
  });
  if (opts.tailCall) m.addFunction("tail", binaryen.none, binaryen.none, [], m.return_call("layer_0", [], binaryen.none));
  expect(m.validate()).toBeTruthy();
  const bytes = m.emitBinary();
  m.dispose();
  return bytes;
}

const LAYERS = [
  { base: 4096, scale: 3, bias: 32, store: 8192 },
  { base: 12288, scale: -2, bias: 36, store: 16384 },
  { base: 20480, scale: 5, bias: 32, store: 24576 },
];

/** the memory after each exported layer runs once, over the same input */
async function memoryAfter(bytes: Uint8Array): Promise<Uint8Array> {
  const { instance } = await WebAssembly.instantiate(bytes as Uint8Array<ArrayBuffer>);
  const memory = new Float32Array((instance.exports.memory as WebAssembly.Memory).buffer);
  for (let k = 0; k < 10; k++) memory[k] = k * 0.75 - 2;
  for (const [name, f] of Object.entries(instance.exports)) if (name.startsWith("layer_")) (f as () => void)();
  for (const [name, f] of Object.entries(instance.exports)) if (name.startsWith("part_")) (f as (i: number, x: number) => void)(3, 1.5);
  return new Uint8Array(memory.buffer.slice(0));
}

const codeSize = (bytes: Uint8Array) => new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>) && bytes.length;

describe("merging functions that differ in constants and offsets", () => {
  it("merges same-shaped layers and their helpers, and memory ends the same", async () => {
    const plain = module(LAYERS);
    const stats: MergeStats = { merged: 0, groups: 0 };
    const merged = mergeSimilarFunctions(plain, stats);
    // the helpers (two constants differ), and the layers (a constant and two offsets differ; their
    // calls of part_0 go to the merged helper)
    expect(stats.groups).toBe(2);
    expect(stats.merged).toBe(6);
    expect(codeSize(merged)).toBeLessThan(plain.length * 0.6);
    expect(WebAssembly.Module.exports(new WebAssembly.Module(merged as Uint8Array<ArrayBuffer>))).toEqual(WebAssembly.Module.exports(new WebAssembly.Module(plain as Uint8Array<ArrayBuffer>)));
    const want = await memoryAfter(plain);
    expect(want.some((b) => b !== 0)).toBe(true);
    expect(await memoryAfter(merged)).toEqual(want);
  });

  it("leaves a body that differs in more than values alone", async () => {
    const plain = module(LAYERS, { odd: true });
    const stats: MergeStats = { merged: 0, groups: 0 };
    const merged = mergeSimilarFunctions(plain, stats);
    // the helpers merge, and layers 0 and 2; layer 1 (another loop bound is a value, but the extra drop is code) stays
    expect(stats.merged).toBe(5);
    expect(await memoryAfter(merged)).toEqual(await memoryAfter(plain));
  });

  it("leaves apart functions that differ in the offsets of many accesses (each would cost an add)", async () => {
    const plain = module(LAYERS, { manyOffsets: true });
    const stats: MergeStats = { merged: 0, groups: 0 };
    const merged = mergeSimilarFunctions(plain, stats);
    expect(stats.merged).toBe(3); // the helpers only
    expect(await memoryAfter(merged)).toEqual(await memoryAfter(plain));
  });

  it("keeps a module it cannot read as it is (a tail call)", () => {
    const plain = module(LAYERS, { tailCall: true });
    const stats: MergeStats = { merged: 0, groups: 0 };
    expect(mergeSimilarFunctions(plain, stats)).toBe(plain);
    expect(stats.merged).toBe(0);
  });

  it("keeps a module with nothing to merge as it is", () => {
    const plain = module(LAYERS.slice(0, 1));
    expect(mergeSimilarFunctions(plain)).toBe(plain);
  });
});

/** the model through kiln's passes, generated with and without merging, run on the same input */
async function bothWays(onnx: Uint8Array, options: GenerateOptions): Promise<{ codeBytes: [number, number]; outputs: [Float32Array, Float32Array] }> {
  const graph = importOnnx(onnx);
  await prepareGraph(graph);
  await optimizeGraph(graph);
  const codeBytes: number[] = [];
  const outputs: Float32Array[] = [];
  for (const mergeFunctions of [false, true]) {
    const gen = generate(graph, { ...options, weights: "external", mergeFunctions });
    codeBytes.push(gen.wasm.length);
    const session = await createSession(gen.wasm, { weights: gen.weights });
    const input = session.inputs[0];
    const data = Float32Array.from({ length: input.dims.reduce((a, d) => a * d, 1) }, (_, i) => Math.sin(i * 0.01));
    const out = await session.run({ [input.name]: data });
    outputs.push(out[session.outputs[0].name].data as Float32Array);
  }
  return { codeBytes: codeBytes as [number, number], outputs: outputs as [Float32Array, Float32Array] };
}

describe("a model generated with merged functions gives the same bits", () => {
  const seeded = (name: string) => seedLightModel(new Uint8Array(fs.readFileSync(lightModel(name))), 1);

  it("SqueezeNet (fire modules of the same shapes: their Winograd layers merged in pairs)", async () => {
    const { codeBytes, outputs } = await bothWays(seeded("squeezenet"), { compact: true });
    expect(outputs[0].some((v) => v !== 0)).toBe(true);
    expect(Array.from(outputs[1])).toEqual(Array.from(outputs[0]));
    // measured: 0.75x the code (the Winograd layers of fire modules 4-9 in pairs)
    expect(codeBytes[1]).toBeLessThan(codeBytes[0] * 0.85);
  }, 120_000);

  it("ResNet-50 (blocks of the same shape within a stage, distinct shapes across stages), weights prepacked", async () => {
    const { codeBytes, outputs } = await bothWays(seeded("resnet50"), {});
    expect(outputs[0].some((v) => v !== 0)).toBe(true);
    expect(Array.from(outputs[1])).toEqual(Array.from(outputs[0]));
    expect(codeBytes[1]).toBeLessThan(codeBytes[0]);
  }, 300_000);
});
