// Graph size (issue 19): a 50,000-node chain and a 10,000-wide Sum compile, load in the runtime
// alone, run to the float32 expectation, and make modules within V8's limits (locals and bytes per
// function, functions, exports: the module exports memory, run and run_layers, whatever the layer
// count). The walks over the graph (topological order, verifier, printer, export, dce) run on a
// 200,000-node chain without recursion. The full 200,000 / 30,000 cases, timed: npm run test:scale.
import { describe, expect, it } from "vitest";
import { compile } from "../compiler/driver/api.js";
import { exportModel } from "../compiler/onnx/export.js";
import { importModel } from "../compiler/onnx/import.js";
import { printGraph } from "../compiler/ir/print.js";
import { verifyGraph } from "../compiler/ir/verify.js";
import { overLimits, V8_LIMITS, wasmShape } from "../codegen/wasm-limits.js";
import { eliminateDeadCode } from "../passes/dce.js";
import { chainModel, scaleError, scaleInput, scaleModel, scaleModelBytes, type ScaleKind } from "../models/scale.js";
import { createSession } from "../runtime/session.js";
import { KilnError, listed } from "../runtime/errors.js";
import { ModelBuilder } from "../models/builder.js";
import { splitWeights } from "../runtime/weights.js";
import { RUN_LAYERS } from "../runtime/manifest.js";
import type { OptLevel } from "../passes/index.js";

const TIMEOUT = 600_000;

/** Compile at `level`, check the module's shape, run it twice and profile it in the runtime alone. */
async function compileAndRun(kind: ScaleKind, n: number, level: OptLevel): Promise<{ layers: number }> {
  const model = scaleModel(kind, n);
  const { wasm } = await compile(scaleModelBytes(model), { level });
  const split = splitWeights(wasm);
  for (const code of [split.code, split.relaxed].filter((c) => c !== undefined)) {
    const shape = wasmShape(code);
    expect(overLimits(shape), `${kind}:${n} -O${level} within V8's limits`).toEqual([]);
    expect(shape.exports, "exports: memory, run, run_layers").toBe(3);
  }
  const session = await createSession(wasm);
  const x = scaleInput();
  const want = model.expected(x);
  // the first run places weights layer by layer (run_layers between them), the second calls run
  for (const run of ["first", "second"]) {
    const got = Object.values(await session.run({ x }))[0].data as Float32Array;
    expect(scaleError(got, want), `${kind}:${n} -O${level} ${run} run`).toBeLessThanOrEqual(1e-4);
  }
  const layers = session.manifest.layers.length;
  expect((await session.profile({ x })).length, "profile times every layer").toBe(layers);
  return { layers };
}

describe("big graphs compile, run correctly and fit the engine", () => {
  it("a 50,000-node chain at -O2: fused into loops of at most 512 values", async () => {
    const { layers } = await compileAndRun("chain", 50_000, 2);
    expect(layers).toBeGreaterThan(50_000 / 512);
    expect(layers).toBeLessThan(50_000 / 256);
  }, TIMEOUT);

  it("a 50,000-node chain at -O1: a layer per node, called through the table", async () => {
    expect((await compileAndRun("chain", 50_000, 1)).layers).toBe(50_000);
  }, TIMEOUT);

  it("10,000 Add(x, x) into one Sum at -O2: cse merges them", async () => {
    expect((await compileAndRun("sum-same", 10_000, 2)).layers).toBe(1);
  }, TIMEOUT);

  it("10,000 distinct Mul(x, c) into one Sum at -O1 and -O0: a Sum kernel of 10,000 operands", async () => {
    expect((await compileAndRun("sum-distinct", 10_000, 1)).layers).toBe(10_001);
    expect((await compileAndRun("sum-distinct", 10_000, 0)).layers).toBe(10_001);
  }, TIMEOUT);
});

describe("walks over a 200,000-node chain", () => {
  it("topological order, verifier, printer, ONNX export and import, dce: no recursion follows the depth", () => {
    const n = 200_000;
    const g = chainModel(n).graph;
    const order = g.topoOrder();
    expect(order.length).toBe(n);
    expect(order[0].name).toBe("n0");
    expect(order[n - 1].name).toBe(`n${n - 1}`);
    verifyGraph(g, { typed: true });
    expect(printGraph(g).split("\n").length).toBeGreaterThan(n);
    const back = importModel(exportModel(g));
    verifyGraph(back);
    expect(back.topoOrder().length).toBe(n);
    expect(eliminateDeadCode(back)).toBe(0);
  }, TIMEOUT);
});

describe("the module's shape as the engine's limits see it", () => {
  it("reads locals and body bytes per function, and flags what V8 refuses", async () => {
    const binaryen = (await import("binaryen")).default;
    const m = new binaryen.Module();
    try {
      const locals = new Array(V8_LIMITS.locals + 1).fill(binaryen.i32);
      m.addFunction("big", binaryen.createType([binaryen.i32]), binaryen.none, locals, m.nop());
      m.addFunction("small", binaryen.none, binaryen.none, [binaryen.f32], m.nop());
      m.addFunctionExport("small", "small");
      const shape = wasmShape(m.emitBinary());
      expect(shape).toMatchObject({ functions: 2, exports: 1, maxLocals: V8_LIMITS.locals + 2 });
      expect(shape.over).toEqual([{ index: 0, locals: V8_LIMITS.locals + 2, bytes: expect.any(Number) }]);
      expect(overLimits(shape)).toHaveLength(1);
    } finally {
      m.dispose();
    }
  });

  it("a module exports memory, run and run_layers only, and its layers name no function", async () => {
    const model = chainModel(8);
    const { wasm } = await compile(scaleModelBytes(model), { level: 0 });
    const session = await createSession(wasm);
    // flops: elementwise layers count one per element (the profile's GFLOPS)
    expect(session.manifest.layers.map((l) => Object.keys(l).sort())).toEqual(new Array(8).fill(["flops", "kernel", "name", "op", "weights"]));
    const mod = new WebAssembly.Module(splitWeights(wasm).code as Uint8Array<ArrayBuffer>);
    expect(WebAssembly.Module.exports(mod).map((e) => e.name).sort()).toEqual(["memory", "run", RUN_LAYERS].sort());
  });
});

describe("error messages stay short", () => {
  it("a Sum of 100,000 inputs whose shapes do not broadcast: one short typed error", async () => {
    const b = new ModelBuilder(1);
    const x = b.input("x", [1, 7]);
    const y = b.input("y", [1, 3]);
    b.output(b.node("Sum", [...new Array(100_000).fill(x), y], [1, 7], {}, "sum"));
    const e = await compile(exportModel(b.graph, { valueInfo: false })).then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(KilnError);
    expect((e as KilnError).code).toBe("SHAPE_MISMATCH");
    expect((e as KilnError).message).toMatch(/\[1,7\] and .*\.\.\. \(\d+ more\)/);
    expect((e as KilnError).message.length).toBeLessThan(1000);
  }, TIMEOUT);

  it("lists name a few items and how many more; a message is cut at 2,000 characters", () => {
    expect(listed(["a", "b"])).toBe("a, b");
    expect(listed(Array.from({ length: 100_000 }, (_, k) => `v${k}`), 3)).toBe("v0, v1, v2, ... (99997 more)");
    const e = new KilnError("INVALID_MODEL", "x".repeat(10_000), { node: "n", op: "Sum", shapes: "y".repeat(10_000) });
    expect(e.message.length).toBeLessThan(4200);
    expect(e.message).toContain("(8000 more characters)");
  });
});

