// The engines a benchmark runs side by side: kiln (JIT via load(), and its AOT .wasm through the
// runtime alone) and the rivals, onnxruntime-web (wasm SIMD backend) and onnxruntime-node (CPU).
// Each engine turns model bytes into a runner with its inputs already bound, so a timed call is
// one inference: write inputs, run, read outputs.
import type { Tensor } from "../runtime/session.js";
import type { DTypeName, TypedArray } from "../runtime/dtypes.js";
import type { SimdLevel } from "../runtime/simd.js";
import { ORT_TYPES } from "../models/reference.js";

export type Outputs = Record<string, Tensor>;

export interface Runner {
  run(): Promise<Outputs>;
  release(): Promise<void>;
}

export interface Engine {
  name: string;
  /** warms the engine up itself, in place of warmUp's tiny model (a kiln build for bounds warms up on bounds too) */
  warmUp?(): Promise<void>;
  /** bytes -> a runner; the time this takes is the engine's loadMs */
  load(bytes: Uint8Array, feeds: Record<string, Tensor>, shapes: Record<string, number[]>): Promise<Runner>;
  /** an engine that opens the model by its path instead (the file never read whole by the caller): path -> a runner */
  open?(file: string, feeds: Record<string, Tensor>, shapes: Record<string, number[]>): Promise<Runner>;
}

export const RIVALS = ["ort-web", "ort-node"] as const;
export type RivalName = (typeof RIVALS)[number];


const dtypeOfOrt = (type: string): DTypeName => {
  const dt = (Object.keys(ORT_TYPES) as DTypeName[]).find((k) => ORT_TYPES[k] === type);
  if (!dt) throw new Error(`onnxruntime returned a ${type} output, which the benchmark does not compare`);
  return dt;
};

/** The tiny model the engines warm up on: a MatMul and a Relu over float32[4,8] (rows: its first dim, a number or a name). */
export async function tinyModel(rows: number | string = 4): Promise<Uint8Array> {
  const [{ parseGraph }, { exportModel }] = await Promise.all([import("../compiler/ir/parse.js"), import("../compiler/onnx/export.js")]);
  return exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[${rows},8]
const %w : float32[8,8] = dense<[${Array.from({ length: 64 }, (_, i) => (i % 5) / 4).join(", ")}]>
%m : float32[${rows},8] = MatMul(%x, %w) {name="mm"}
%y : float32[${rows},8] = Relu(%m) {name="relu"}
output %y`));
}

/**
 * A tiny model every engine loads and runs once, untimed, before the measured load: libraries
 * imported and started (binaryen's first passes run slowly; onnxruntime's wasm runtime starts
 * with its first session), yet nothing of the benchmarked model seen, so no cache can serve it.
 * `bytes` is what the engine loads: the tiny model (default), or for kiln-aot its compiled .wasm.
 */
export async function warmUp(engine: Engine, bytes?: Uint8Array, file?: string): Promise<void> {
  if (engine.warmUp && !bytes && !file) return engine.warmUp();
  const x: Tensor = { dtype: "float32", dims: [4, 8], data: new Float32Array(32) };
  // an engine that opens files warms up on the tiny model's file: its file-reading code loaded too
  const runner = file && engine.open ? await engine.open(file, { x }, { x: x.dims }) : await engine.load(bytes ?? (await tinyModel()), { x }, { x: x.dims });
  await runner.run();
  await runner.release();
}

/** Dims given bounds (`{ seq: [1, 512] }`, `{ W: [32, 640, 8] }`) and dims pinned beside them (`{ batch: [1] }`): kiln compiles one module for every value within them, not one for the feeds' shapes. */
export type Bounds = Record<string, readonly number[]>;

/**
 * kiln's JIT, one SIMD build named explicitly: with the relaxed flag set, "auto" would pick relaxed
 * for the baseline row too. threads > 1: a threaded module on that many threads (docs/THREADS.md).
 * With `bounds`, the module is compiled for the dims' bounds (one module, symbolic dims) and runs
 * the feeds within them.
 */
export function kilnJit(simd: SimdLevel = "baseline", threads = 1, name = simd === "relaxed" ? "kiln-relaxed" : "kiln", bounds?: Bounds): Engine {
  const engine: Engine = {
    name,
    async load(bytes, feeds, shapes) {
      const { load } = await import("../compiler/driver/api.js");
      const model = await load(bytes, { shapes: bounds ?? shapes, simd, threads });
      const session = model.session;
      if (!session) throw new Error("kiln compiled nothing at load: the model's shapes depend on input values");
      return { run: () => session.run(feeds), release: async () => session.terminate?.() };
    },
  };
  if (!bounds) return engine;
  // a build for bounds warms up on a tiny model with bounds too: the symbolic path's code started, as the pinned one's is
  return {
    ...engine,
    async warmUp() {
      const x: Tensor = { dtype: "float32", dims: [3, 8], data: new Float32Array(24) };
      const runner = await kilnJit(simd, threads, name, { rows: [1, 8] }).load(await tinyModel("rows"), { x }, {});
      await runner.run();
      await runner.release();
    },
  };
}

/**
 * kiln's AOT path: load(bytes) takes the .wasm from compile() (not the ONNX model) and runs it
 * through the runtime alone (no binaryen, no compiler), its baseline build.
 */
export function kilnAot(threads = 1): Engine {
  return {
    name: "kiln-aot",
    async load(wasm, feeds) {
      const { createSession } = await import("../runtime/session.js");
      const session = await createSession(wasm, { simd: "baseline", threads });
      return { run: () => session.run(feeds), release: async () => session.terminate?.() };
    },
  };
}

/**
 * kiln's AOT path as a Node user opens a .wasm file: openSession(path) (kiln/runtime/file) compiles
 * the bytes before the weights section and reads the weights image from the file into the module's
 * memory as each layer's pieces are placed; the file is never read whole. load(bytes) is
 * createSession(bytes), as kilnAot.
 */
export function kilnAotPath(threads = 1): Engine {
  const runner = (session: import("../runtime/session.js").Session, feeds: Record<string, Tensor>): Runner =>
    ({ run: () => session.run(feeds), release: async () => session.terminate?.() });
  return {
    name: "kiln-aot-path",
    async load(wasm, feeds) {
      const { createSession } = await import("../runtime/session.js");
      return runner(await createSession(wasm, { simd: "baseline", threads }), feeds);
    },
    async open(file, feeds) {
      const { openSession } = await import("../runtime/file-artifact.js");
      return runner(await openSession(file, { simd: "baseline", threads }), feeds);
    },
  };
}

/**
 * kiln's AOT path with a sidecar weights file (kiln compile --weights): load(bytes) takes the code-only
 * .wasm and reads the weights from `weightsFile` (fileSource: straight into the module's memory),
 * no memory budget: every piece stays resident after the first run.
 */
export function kilnAotFile(weightsFile: string, threads = 1): Engine {
  return {
    name: "kiln-aot-file",
    async load(wasm, feeds) {
      const [{ createSession }, { fileSource }] = await Promise.all([import("../runtime/session.js"), import("../runtime/sources.js")]);
      const session = await createSession(wasm, { simd: "baseline", threads, weights: await fileSource(weightsFile) });
      return { run: () => session.run(feeds), release: async () => session.terminate?.() };
    },
  };
}

type Ort = typeof import("onnxruntime-node");

function ortEngine(name: RivalName, ort: Ort, options: object): Engine {
  return {
    name,
    async load(bytes, feeds) {
      const session = await ort.InferenceSession.create(bytes, options);
      const ortFeeds: Record<string, InstanceType<Ort["Tensor"]>> = {};
      for (const [k, t] of Object.entries(feeds)) {
        const type = ORT_TYPES[t.dtype];
        if (!type) throw new Error(`onnxruntime inputs of type ${t.dtype} are not supported by the benchmark`);
        ortFeeds[k] = new ort.Tensor(type as "float32", t.data as Float32Array, t.dims);
      }
      return {
        async run() {
          const got = await session.run(ortFeeds);
          const out: Outputs = {};
          for (const [k, t] of Object.entries(got)) out[k] = { dtype: dtypeOfOrt(t.type), dims: [...t.dims], data: t.data as TypedArray };
          return out;
        },
        release: () => session.release(),
      };
    },
  };
}

/** onnxruntime-web in Node: the wasm backend with SIMD, N threads (1 = no worker threads). */
export async function ortWeb(threads: number): Promise<Engine> {
  const ort = (await import("onnxruntime-web")) as unknown as Ort & { env: { wasm: { numThreads: number; simd: boolean } } };
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.simd = true;
  return ortEngine("ort-web", ort, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
}

export async function ortNode(threads: number): Promise<Engine> {
  const ort = await import("onnxruntime-node");
  return ortEngine("ort-node", ort, { executionProviders: ["cpu"], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: "all" });
}

export const rivalEngine: Record<RivalName, (threads: number) => Promise<Engine>> = { "ort-web": ortWeb, "ort-node": ortNode };
