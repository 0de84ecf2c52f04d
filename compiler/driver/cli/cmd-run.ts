// kiln run: a .wasm with the runtime alone (no compiler, no ONNX decoder loaded: it starts in the
// time Node takes plus the model's own load and run), or an .onnx compiled on the spot.
// --profile writes a Chrome trace of a first (cold) and a second (warm) run, layer by layer;
// --save writes the outputs as TensorProto files (output_K.pb, as in an ONNX test-data folder).
import * as fs from "node:fs";
import * as path from "node:path";
import * as v8 from "node:v8";
import { KilnError, listed } from "../../../runtime/errors.js";
import { createSession, notWasmReason, type Session } from "../../../runtime/session.js";
import { HASH_WASM_BYTES, provideHashModule } from "../../../runtime/checksum.js";
import type { DTypeName, TypedArray } from "../../../runtime/dtypes.js";
import { resolveSimd } from "../../../runtime/simd.js";
import { readUserFile } from "../files.js";
import { evalDim, symbolAt, symbolRange } from "../../../runtime/dims.js";
import { all, COMPILE_FLAGS, isBoundsSpec, one, parseBudget, parseShapeOption, parseSimd, parseThreads, UsageError, type Args } from "./args.js";
import { GENERATED_INPUTS, makeInput } from "./inputs.js";
import { checkOutputFile, writeOutputFile } from "./output.js";
import { fileIsWasm, isWasmBytes } from "./wasm-file.js";
import { openArtifactFile, sessionOf, type ArtifactFile } from "../../../runtime/file-artifact.js";
import { sidecarOf } from "../sidecar-file.js";

interface FileTensor {
  dtype: DTypeName;
  dims: number[];
  data: TypedArray;
}

/** the test-data reader decodes protobuf: loaded only when a tensor file is named */
const testdata = () => import("../testdata.js");

/** --input name=spec (repeatable): the specs by input name */
export function parseInputSpecs(specs: readonly string[]): Map<string, string> {
  return new Map(specs.map((s) => {
    const eq = s.indexOf("=");
    if (eq <= 0) throw new UsageError(`--input takes name=arange|random|ones|zeros|file.pb, got ${JSON.stringify(s)}`);
    return [s.slice(0, eq), s.slice(eq + 1)] as const;
  }));
}

/** The tensor files among the specs, read now so a wrong path is reported before any work. */
export async function readInputFiles(specs: ReadonlyMap<string, string>): Promise<Map<string, FileTensor>> {
  const files = new Map<string, FileTensor>();
  for (const [name, spec] of specs) {
    if ((GENERATED_INPUTS as readonly string[]).includes(spec)) continue;
    files.set(name, (await testdata()).readTensorFile(spec) as FileTensor);
  }
  return files;
}

export function checkInputNames(specs: ReadonlyMap<string, string>, inputNames: readonly string[]): void {
  for (const k of specs.keys()) {
    if (!inputNames.includes(k)) throw new UsageError(`--input ${k}: the model has no input ${JSON.stringify(k)} (inputs: ${listed(inputNames)})`);
  }
}

export async function cmdRun(args: Args): Promise<number> {
  const [model] = args.positionals;
  if (!model) throw new UsageError("run needs a model file (.onnx or .wasm)");
  const traceFile = one(args, "profile");
  if (traceFile) checkOutputFile(traceFile, "--profile");
  const saveDir = one(args, "save");
  if (saveDir && !fs.statSync(saveDir, { throwIfNoEntry: false })?.isDirectory()) throw new KilnError("BAD_OPTION", `--save ${saveDir}: not a folder (create it first)`);
  // an artifact's weights image is read from the file into memory as it is placed (runtime/file-artifact.ts)
  const artifact = fileIsWasm(model) && fs.statSync(model).isFile() ? await openArtifactFile(model) : undefined;
  try {
    return await runModel(args, model, artifact?.bytes ?? readUserFile(fs, model, "model file", "INVALID_MODEL"), artifact);
  } finally {
    artifact?.close();
  }
}

/**
 * kiln run runs a module once, or twice with --profile: V8's default tiering would run all of it in
 * Liftoff's baseline code (a wasm function tiers up only on its next call, and each layer is called
 * once per run), 2-3x slower than optimized code on the SIMD kernels, and compile each function
 * lazily on the main thread as it is first called. Compiling every function optimized up front
 * instead uses V8's background threads and gives the one run its steady speed (SqueezeNet AOT on
 * this 2-core VM, quiet: the first run 155-170 -> 86-98 ms, the compile 8 -> 60 ms). The flags
 * apply to wasm compiled after this point in this process; cmdRun is reached only through the CLI's
 * main(), so a library caller's process is never changed. The checksum's small hash module is
 * compiled first, before the flags: under them it was TurboFan's, on this thread, 5-9 ms before the
 * memory could be touched; Liftoff compiles it in well under a millisecond (V8 tiers it up as it runs).
 */
function optimizeBeforeFirstRun(): void {
  provideHashModule(new WebAssembly.Module(HASH_WASM_BYTES() as Uint8Array<ArrayBuffer>));
  v8.setFlagsFromString("--no-liftoff");
  v8.setFlagsFromString("--no-wasm-lazy-compilation");
}

async function runModel(args: Args, model: string, bytes: Uint8Array, artifact: ArtifactFile | undefined): Promise<number> {
  const json = args.flags.has("json");
  const traceFile = one(args, "profile");
  const saveDir = one(args, "save");
  const isWasm = isWasmBytes(bytes);
  // named .wasm but not one: say so, rather than report it as a broken ONNX protobuf
  if (!isWasm && /\.wasm$/i.test(model)) {
    throw new KilnError("INVALID_ARTIFACT", `not a WebAssembly module: ${notWasmReason(bytes)} (${model}); kiln run takes a .wasm from kiln compile or an .onnx model`);
  }
  const dataDir = one(args, "data");
  const { listDataSet, readTensorFile, compareTensors } = dataDir ? await testdata() : {};
  const data = dataDir ? listDataSet!(dataDir) : undefined;
  if (data && data.inputs.length + data.outputs.length === 0) throw new KilnError("BAD_INPUT", `--data ${dataDir} holds no input_K.pb or output_K.pb files`);
  const inputSpecs = parseInputSpecs(all(args, "input"));
  const inputFiles = await readInputFiles(inputSpecs);

  let session: Session;
  let outputNames: string[];
  /** the dims of inputs made (--input NAME=random, or arange by default) where the module's are bounds */
  const feedDims = new Map<string, number[]>();
  const threads = parseThreads(args, true);
  const dataInputs = data?.inputs.map((f) => readTensorFile!(f) as FileTensor);
  if (isWasm) {
    // a compiled module has its shapes and code fixed: compile flags would be silently ignored
    // (--shape gives a bounded module's run its dims: below)
    const fixed = (flags: readonly string[]) => new UsageError(`${flags.map((f) => (f === "O" ? "-O" : `--${f}`)).join(", ")} ${flags.length > 1 ? "apply" : "applies"} only when kiln run compiles an .onnx model; ${model} is compiled already (its shapes and code are fixed)`);
    const ignored = [...COMPILE_FLAGS, "verify-each"].filter((f) => f !== "shape" && args.flags.has(f));
    if (ignored.length) throw fixed(ignored);
    // weights in a sidecar file (kiln compile --weights, --memory-budget), else read from the artifact's file as placed
    const sidecar = await sidecarOf(model, bytes, one(args, "weights"));
    optimizeBeforeFirstRun();
    const options = { simd: parseSimd(args, "auto"), ...(sidecar ? { weights: sidecar } : {}), memoryBudget: parseBudget(args), threads };
    session = artifact ? await sessionOf(artifact, options) : await createSession(bytes, options);
    outputNames = session.outputs.map((s) => s.name);
    if (args.flags.has("shape")) {
      if (!session.manifest.symbols?.length) throw fixed(["shape"]);
      runDims(session, all(args, "shape"), feedDims);
    }
  } else {
    if (args.flags.has("weights")) throw new UsageError(`--weights applies to a .wasm compiled with kiln compile --weights; ${model} is an ONNX model (its external data is found beside it)`);
    const { compileOptions, compiler, importChecked } = await import("./compile-options.js");
    const { readModelFile } = await import("../files.js");
    const { readExternal } = await readModelFile(model);
    const graph = importChecked(bytes, readExternal);
    const inputNames = [...graph.inputs];
    outputNames = [...graph.outputs];
    checkInputNames(inputSpecs, inputNames);
    const shapes = parseShapeOption(all(args, "shape"));
    // bounds for a dim (seq=1..512) compile one module for them: an input's dims given beside them
    // (x=1x77x384, or a --data set's) are this run's feed within them, not a pin
    const bounded = all(args, "shape").some((spec) => isBoundsSpec(spec) && !inputNames.includes(spec.slice(0, spec.lastIndexOf("="))));
    if (bounded) {
      for (const n of inputNames) {
        if (Array.isArray(shapes[n])) feedDims.set(n, shapes[n] as number[]);
        delete shapes[n];
      }
      // the feed's dims pin the input's other named dims (x=3x3x48x192 with batch=1..8: height 48, width 192)
      inputNames.forEach((n, k) => {
        const feed = feedDims.get(n) ?? dataInputs?.[k]?.dims;
        graph.values.get(n)?.shape?.forEach((d, j) => {
          if (typeof d === "string" && shapes[d] === undefined && feed?.[j] !== undefined) shapes[d] = [feed[j]];
        });
      });
    }
    dataInputs?.forEach((t, k) => {
      if (inputNames[k] !== undefined && !shapes[inputNames[k]] && !bounded) shapes[inputNames[k]] = t.dims;
    });
    const { compileGraph } = await compiler();
    const simd = resolveSimd(parseSimd(args, "auto"));
    const memoryBudget = parseBudget(args);
    // an .onnx compiles for the threads asked ("auto": this machine's cores)
    const count = threads === "auto" ? await (await import("../../../runtime/threads.js")).availableCores() : threads ?? 1;
    const compiled = await compileGraph(graph, { ...await compileOptions(args), shapes, readExternal, simd, memoryBudget, ...(count > 1 ? { threads: count } : {}) });
    // under a budget the weights stream from the compile's pieces, each written (from the model's
    // tensors, or its external data file) when its layer is about to run: never all in memory
    const weights = compiled.stream && (await import("../sidecar.js")).streamSource(compiled.stream);
    session = await createSession(compiled.wasm, { weights, memoryBudget, threads: threads === "auto" && count > 1 ? "auto" : count });
  }
  checkInputNames(inputSpecs, session.inputs.map((s) => s.name));
  const feeds: Record<string, { data: never; dims: number[] }> = {};
  session.inputs.forEach((slot, k) => {
    const spec = inputSpecs.get(slot.name);
    const file = inputFiles.get(slot.name);
    if (file && file.dtype !== slot.dtype) throw new KilnError("BAD_INPUT", `${spec} holds ${file.dtype}, the input needs ${slot.dtype}`);
    const t = file ?? (spec === undefined && dataInputs?.[k] ? dataInputs[k] : makeInput(spec ?? "arange", slot.dtype, feedDims.get(slot.name) ?? slot.dims, k));
    feeds[slot.name] = { data: t.data as never, dims: t.dims };
  });
  let profiled: { label: string; layers: Awaited<ReturnType<Session["profile"]>> }[] | undefined;
  if (traceFile) {
    // layer by layer: the first run places each layer's weights (and V8 compiles each function as
    // it is first called); the second shows the warm run
    profiled = [{ label: "first run (weights placed)", layers: await session.profile(feeds) }, { label: "second run", layers: await session.profile(feeds) }];
  }
  const t0 = performance.now();
  const result = await session.run(feeds);
  const ms = performance.now() - t0;
  if (traceFile && profiled) {
    const { chromeTrace } = await import("../trace.js");
    writeOutputFile(traceFile, "--profile", JSON.stringify(chromeTrace(session.manifest, profiled, { model: path.basename(model) })) + "\n");
  }
  const outputs = outputNames.map((name, k) => {
    const got = result[name];
    const row: { name: string; dims: number[]; maxAbsErr?: number; ok?: boolean } = { name, dims: got.dims };
    if (data?.outputs[k]) {
      const c = compareTensors!(got, readTensorFile!(data.outputs[k]));
      row.maxAbsErr = c.maxAbsErr;
      row.ok = c.ok;
    }
    return { row, got };
  });
  if (saveDir) await saveOutputs(saveDir, outputs.map(({ row, got }) => ({ name: row.name, ...got })));
  session.terminate?.();
  if (json) {
    console.log(JSON.stringify({ outputs: outputs.map((o) => o.row), ms: Number(ms.toFixed(3)), threads: session.threads ?? 1 }));
  } else {
    for (const { row, got } of outputs) {
      const vals = Array.from(got.data.slice(0, 8) as ArrayLike<number | bigint>, (v) => (typeof v === "number" ? Number(v.toPrecision(6)) : v));
      const cmp = row.ok === undefined ? "" : row.ok ? `  ok (max abs err ${row.maxAbsErr!.toExponential(2)})` : `  MISMATCH (max abs err ${row.maxAbsErr})`;
      console.log(`${row.name}: ${got.dtype}[${got.dims.join(",")}] [${vals.join(", ")}${got.data.length > 8 ? ", ..." : ""}]${cmp}`);
    }
    console.log(`run: ${ms.toFixed(2)} ms${traceFile ? ` (after two profiled runs; trace in ${traceFile})` : ""}`);
  }
  return outputs.every((o) => o.row.ok !== false) ? 0 : 1;
}

/** output_K.pb per output, as in an ONNX test-data folder (the encoder loads only here) */
async function saveOutputs(dir: string, outputs: { name: string; dtype: DTypeName; dims: number[]; data: TypedArray }[]): Promise<void> {
  const { onnx } = await import("../../onnx/proto.js");
  const { encodeTensor } = await import("../../onnx/tensor.js");
  outputs.forEach((t, k) => {
    const file = path.join(dir, `output_${k}.pb`);
    writeOutputFile(file, "--save", onnx.TensorProto.encode(onnx.TensorProto.create(encodeTensor(t.name, t))).finish());
  });
}

/**
 * kiln run bounded.wasm --shape seq=7 (or --shape x=7x64): this run's dims within the module's
 * bounds, each made input's dims from its expression (a symbol not given at its upper bound).
 */
function runDims(session: Session, specs: readonly string[], feedDims: Map<string, number[]>): void {
  const symbols = session.manifest.symbols!;
  const values = symbols.map((b) => b.max);
  const names = session.inputs.map((s) => s.name);
  // the dims a run gives (a data-dependent one, its layers write)
  const given = symbols.filter((b) => b.layer === undefined);
  for (const [name, v] of Object.entries(parseShapeOption(specs.filter((spec) => !isBoundsSpec(spec))))) {
    const k = symbols.findIndex((b) => b.name === name && b.layer === undefined);
    if (names.includes(name) && Array.isArray(v)) feedDims.set(name, v as number[]);
    else if (k >= 0 && Array.isArray(v) && v.length === 1) {
      const step = symbols[k].step ?? 1;
      if ((v[0] as number) % step !== 0) throw new UsageError(`--shape ${name}=${v[0]}: this module takes ${symbolRange(symbols[k])}`);
      values[k] = (v[0] as number) / step;
    }
    else throw new UsageError(`--shape ${name}=...: this module takes its inputs' dims (${listed(names)})${given.length ? ` or its symbolic dims (${listed(given.map(symbolRange))})` : ""}, one value each`);
  }
  const bounds = specs.filter(isBoundsSpec);
  if (bounds.length) throw new UsageError(`--shape ${bounds[0]}: this module is compiled already${given.length ? ` for ${listed(given.map(symbolRange))}; give this run's value (--shape ${symbolAt(given[0], given[0].max)})` : ""}`);
  session.manifest.inputs.forEach((slot) => {
    if (!feedDims.has(slot.name) && slot.expr) feedDims.set(slot.name, slot.expr.map((e) => evalDim(e, values)));
  });
}
