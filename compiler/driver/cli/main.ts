// The kiln command line: compile, run, test.
import * as fs from "node:fs";
import { isKilnError, KilnError } from "../../../runtime/errors.js";
import { createSession, notWasmReason } from "../../../runtime/session.js";
import { readModelFile, readUserFile } from "../files.js";
import type { CaseResult } from "../conformance.js";
import { compareTensors, listDataSet, readTensorFile } from "../testdata.js";
import { all, one, parseArgs, parseShapes, parseSimd, UsageError, type Args, type CommandSpec } from "./args.js";
import { checkOutputFile, writeOutputFile } from "./output.js";
import { resolveSimd } from "../../../runtime/simd.js";
import { makeInput } from "./inputs.js";
import type { DumpFormat } from "../../../passes/dump.js";
import type { DumpSelection, OptionValue, OptLevel } from "../../../passes/index.js";
import { parseGraph } from "../../ir/parse.js";
import { importModel } from "../../onnx/import.js";
import type { ExternalDataReader } from "../../onnx/tensor.js";
import { verifyGraph } from "../../ir/verify.js";
import { formatPassTable, makeReport } from "../report.js";
import { printGraph } from "../../ir/print.js";
import type { CompileOptions } from "../compile.js";

// The compiler and the passes load binaryen (about a second of start-up): imported when a
// command needs them, so usage and file mistakes, and `kiln run` of a .wasm, answer at once.
const compiler = () => import("../compile.js");
const passLibrary = () => import("../../../passes/index.js");

/** compile.ts importOnnx without loading the compiler: a broken model is reported at once */
function importChecked(bytes: Uint8Array, readExternal: ExternalDataReader) {
  const graph = importModel(bytes, { readExternal });
  verifyGraph(graph);
  return graph;
}

const USAGE = `kiln — compile ONNX models to SIMD WebAssembly

usage:
  kiln compile model.onnx -o model.wasm [--shape name=AxB ...] [-O0|-O1|-O2] [--simd auto|baseline|relaxed]
               [--report R.json] [--time-passes]
               [--dump-after=all|p1,p2] [--dump-before=...] [--dump-dir D] [--dump-format text,dot,onnx]
  kiln inspect model.onnx [--shape ...] [-O0|-O1|-O2] [--after PASS] [--time-passes]
  kiln opt IR.txt|- --passes p1,p2{option=value} [-o OUT.txt] [--time-passes] [--verify-each]
               IR text in, IR text out (like mlir-opt): the named passes, in order
  kiln run model.onnx|model.wasm [--shape name=AxB ...] [--input name=arange|random|ones|zeros|file.pb ...]
                                 [--data test_data_set_DIR] [--simd auto|baseline|relaxed] [--json]
  kiln bench model.onnx --vs ort-web[,ort-node] [--threads N] [--shape ...] [--runs R] [--simd baseline|relaxed|auto]
                        [--load-runs N] --json
  kiln test DIR... [--json] [-O0|-O1|-O2] [--simd baseline|relaxed|auto]   ONNX test-data folders (model.onnx + test_data_set_*/)

options:
  --kernels    kernel variants to force or forbid: -winograd, +im2col-gemm,-depthwise-lanes (a name
               or a prefix up to a dash; also KILN_KERNELS). --report lists each layer's variant
  --verify-each  run the IR verifier after every pass (also KILN_VERIFY_EACH=1)
  --simd       auto (default): compile's artifact runs everywhere and carries a relaxed-SIMD build
               (f32x4.relaxed_madd) the runtime picks where the engine validates it; run uses the
               relaxed build where it can. baseline: SIMD128 only. relaxed: relaxed only (Node 20
               needs --experimental-wasm-relaxed-simd). bench: relaxed/auto add a relaxed kiln row.
  --load-runs  bench: each engine's load time is the median of N fresh processes (default 3);
               0 times one load per engine in the benchmark's own process
  --verbose    print stack traces with errors
  --help       this text`;

/** compile options shared by compile, inspect and run (compileOptions below reads them) */
const COMPILE_FLAGS = ["shape", "O", "kernels", "dump-before", "dump-after", "dump-format", "dump-dir"];

function parseLevel(args: Args): OptLevel {
  const o = one(args, "O") ?? "2";
  if (!["0", "1", "2"].includes(o)) throw new UsageError(`-O takes 0, 1 or 2, got ${o}`);
  return Number(o) as OptLevel;
}

async function parseSelection(v: string | undefined): Promise<DumpSelection> {
  if (v === undefined) return undefined;
  if (v === "all") return "all";
  const names = v.split(",").map((s) => s.trim()).filter((s) => s);
  const known = (await passLibrary()).ALL_PASSES.map((p) => p.name);
  for (const n of names) if (!known.includes(n)) throw new UsageError(`unknown pass ${JSON.stringify(n)}; passes are ${known.join(", ")}`);
  return names;
}

/** --kernels, checked now so a misspelled variant is reported before any work */
async function parseKernels(args: Args): Promise<string | undefined> {
  const v = one(args, "kernels");
  if (v !== undefined) (await passLibrary()).parseKernelSelection(v);
  return v;
}

/** compile options shared by compile, inspect and run: shapes, -O, kernels, dumps */
async function compileOptions(args: Args): Promise<CompileOptions> {
  const options: CompileOptions = { shapes: parseShapes(all(args, "shape")), level: parseLevel(args), kernels: await parseKernels(args) };
  if (args.flags.has("verify-each")) options.verifyEach = true;
  const before = await parseSelection(one(args, "dump-before"));
  const after = await parseSelection(one(args, "dump-after"));
  if (before || after) {
    const { fileDumper, DUMP_FORMATS } = await import("../../../passes/dump.js");
    const formats = (one(args, "dump-format") ?? "text").split(",").map((f) => f.trim()) as DumpFormat[];
    for (const f of formats) if (!DUMP_FORMATS.includes(f)) throw new UsageError(`--dump-format takes ${DUMP_FORMATS.join(",")}, got ${f}`);
    options.dump = fileDumper({ dir: one(args, "dump-dir") ?? "kiln-dump", before, after, formats });
  }
  return options;
}

async function cmdCompile(args: Args): Promise<number> {
  const [model] = args.positionals;
  const out = one(args, "o") ?? one(args, "output");
  if (!model) throw new UsageError("compile needs a model file");
  if (!out) throw new UsageError("compile needs -o out.wasm");
  // where the results go is checked before the (long) compile, not after it
  checkOutputFile(out, "-o");
  const reportFile = one(args, "report");
  if (reportFile) checkOutputFile(reportFile, "--report");
  const { bytes, readExternal } = await readModelFile(model);
  const simd = parseSimd(args, "auto");
  const t0 = performance.now();
  const graph = importChecked(bytes, readExternal);
  const options = await compileOptions(args);
  const { compileGraph } = await compiler();
  const nodesBefore = graph.g.order;
  const compiled = await compileGraph(graph, { ...options, simd, readExternal });
  writeOutputFile(out, "-o", compiled.wasm);
  const ms = performance.now() - t0;
  if (reportFile) {
    writeOutputFile(reportFile, "--report", JSON.stringify(makeReport(nodesBefore, compiled.graph, compiled.passes, compiled.manifest, compiled.wasm), null, 2) + "\n");
  }
  if (args.flags.has("time-passes")) console.log(formatPassTable(compiled.passes));
  if (!args.flags.has("quiet")) {
    console.log(`kiln: ${model} -> ${out} (${compiled.wasm.length} bytes, ${compiled.manifest.layers.length} layers, ${ms.toFixed(0)} ms)`);
  }
  return 0;
}

async function cmdInspect(args: Args): Promise<number> {
  const [model] = args.positionals;
  if (!model) throw new UsageError("inspect needs a model file");
  const { bytes, readExternal } = await readModelFile(model);
  const options = await compileOptions(args);
  const after = one(args, "after");
  let text: string | undefined;
  if (after !== undefined) {
    await parseSelection(after);
    options.dump = {
      after: [after],
      write: (g, _seq, _point, pass) => {
        if (pass === after && text === undefined) text = printGraph(g); // the first time it runs
      },
    };
  }
  const graph = importChecked(bytes, readExternal);
  const { compileGraph } = await compiler();
  const compiled = await compileGraph(graph, { ...options, readExternal });
  if (after !== undefined && text === undefined) throw new UsageError(`pass ${after} does not run at -O${options.level}`);
  console.log((text ?? printGraph(compiled.graph)).trimEnd());
  if (args.flags.has("time-passes")) console.log("\n" + formatPassTable(compiled.passes));
  return 0;
}

/** Split "a,b{k=v,k2=v2},c" at the commas outside braces: [name, options] per pass. */
function parsePassList(text: string): [string, Record<string, OptionValue>][] {
  const out: [string, Record<string, OptionValue>][] = [];
  let depth = 0, start = 0;
  const items: string[] = [];
  for (let i = 0; i <= text.length; i++) {
    const c = text[i];
    if (c === "{") depth++;
    else if (c === "}") depth--;
    if ((c === "," && depth === 0) || i === text.length) {
      items.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  for (const item of items.filter((s) => s)) {
    const m = /^([a-z0-9-]+)(?:\{(.*)\})?$/.exec(item);
    if (!m) throw new UsageError(`--passes: cannot read ${JSON.stringify(item)} (name or name{key=value,...})`);
    const options: Record<string, OptionValue> = {};
    for (const kv of (m[2] ?? "").split(/,(?![^{]*\})/).map((s) => s.trim()).filter((s) => s)) {
      const eq = kv.indexOf("=");
      if (eq <= 0) throw new UsageError(`--passes ${m[1]}: options are key=value, got ${JSON.stringify(kv)}`);
      const raw = kv.slice(eq + 1);
      options[kv.slice(0, eq)] = raw === "true" ? true : raw === "false" ? false : raw !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    }
    out.push([m[1], options]);
  }
  return out;
}

async function cmdOpt(args: Args): Promise<number> {
  const [file] = args.positionals;
  if (!file) throw new UsageError("opt needs an IR text file (or - for standard input)");
  const spec = one(args, "passes");
  const target = one(args, "o");
  if (target) checkOutputFile(target, "-o");
  const text = file === "-" ? fs.readFileSync(0, "utf8") : new TextDecoder().decode(readUserFile(fs, file, "IR text file", "INVALID_MODEL"));
  const graph = parseGraph(text);
  verifyGraph(graph, { typed: true });
  const { ALL_PASSES, passNamed, runPasses } = await passLibrary();
  const { evaluateNode } = await import("../evaluate.js");
  if (!spec) throw new UsageError(`opt needs --passes p1,p2 (passes: ${ALL_PASSES.map((p) => p.name).join(", ")})`);
  const list = parsePassList(spec);
  const passes = list.map(([name]) => passNamed(name) ?? (() => { throw new UsageError(`unknown pass ${JSON.stringify(name)}; passes are ${ALL_PASSES.map((p) => p.name).join(", ")}`); })());
  const options: Record<string, Record<string, OptionValue>> = {};
  list.forEach(([name, o]) => { options[name] = { ...options[name], ...o }; });
  const stats = await runPasses(graph, passes, { evaluate: evaluateNode }, { verifyEach: args.flags.has("verify-each"), options });
  verifyGraph(graph, { typed: true });
  const out = printGraph(graph);
  if (target) writeOutputFile(target, "-o", out);
  else process.stdout.write(out);
  if (args.flags.has("time-passes")) console.error(formatPassTable(stats));
  return 0;
}

async function cmdRun(args: Args): Promise<number> {
  const [model] = args.positionals;
  if (!model) throw new UsageError("run needs a model file (.onnx or .wasm)");
  const json = args.flags.has("json");
  const bytes = readUserFile(fs, model, "model file", "INVALID_MODEL");
  const isWasm = bytes[0] === 0 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
  // named .wasm but not one: say so, rather than report it as a broken ONNX protobuf
  if (!isWasm && /\.wasm$/i.test(model)) {
    throw new KilnError("INVALID_ARTIFACT", `not a WebAssembly module: ${notWasmReason(bytes)} (${model}); kiln run takes a .wasm from kiln compile or an .onnx model`);
  }
  const dataDir = one(args, "data");
  const data = dataDir ? listDataSet(dataDir) : undefined;
  if (data && data.inputs.length + data.outputs.length === 0) throw new KilnError("BAD_INPUT", `--data ${dataDir} holds no input_K.pb or output_K.pb files`);
  const inputSpecs = new Map(all(args, "input").map((s) => {
    const eq = s.indexOf("=");
    if (eq <= 0) throw new UsageError(`--input takes name=arange|random|ones|zeros|file.pb, got ${JSON.stringify(s)}`);
    return [s.slice(0, eq), s.slice(eq + 1)] as const;
  }));
  // tensor files are read now, so a wrong path is reported before the model compiles
  for (const spec of inputSpecs.values()) if (!GENERATED_INPUTS.includes(spec)) readTensorFile(spec);

  let session;
  const shapes = parseShapes(all(args, "shape"));
  let inputNames: string[];
  let outputNames: string[];
  const dataInputs = data?.inputs.map(readTensorFile);
  if (isWasm) {
    // a compiled module has its shapes and code fixed: compile flags would be silently ignored
    const ignored = COMPILE_FLAGS.filter((f) => args.flags.has(f)).concat(args.flags.has("verify-each") ? ["verify-each"] : []);
    if (ignored.length) throw new UsageError(`${ignored.map((f) => (f === "O" ? "-O" : `--${f}`)).join(", ")} ${ignored.length > 1 ? "apply" : "applies"} only when kiln run compiles an .onnx model; ${model} is compiled already (its shapes and code are fixed)`);
    session = await createSession(bytes, { simd: parseSimd(args, "auto") });
    inputNames = session.inputs.map((s) => s.name);
    outputNames = session.outputs.map((s) => s.name);
  } else {
    const { readExternal } = await readModelFile(model);
    const graph = importChecked(bytes, readExternal);
    inputNames = [...graph.inputs];
    outputNames = [...graph.outputs];
    checkInputNames(inputSpecs, inputNames);
    const { compileGraph } = await compiler();
    dataInputs?.forEach((t, k) => {
      if (inputNames[k] !== undefined && !shapes[inputNames[k]]) shapes[inputNames[k]] = t.dims;
    });
    const simd = resolveSimd(parseSimd(args, "auto"));
    session = await createSession((await compileGraph(graph, { ...await compileOptions(args), shapes, readExternal, simd })).wasm);
  }
  checkInputNames(inputSpecs, inputNames);
  const feeds: Record<string, { data: never; dims: number[] }> = {};
  session.inputs.forEach((slot, k) => {
    const spec = inputSpecs.get(slot.name);
    const t = spec === undefined && dataInputs?.[k] ? dataInputs[k] : makeInput(spec ?? "arange", slot.dtype, slot.dims, k);
    feeds[slot.name] = { data: t.data as never, dims: t.dims };
  });
  const t0 = performance.now();
  const result = await session.run(feeds);
  const ms = performance.now() - t0;
  const outputs = outputNames.map((name, k) => {
    const got = result[name];
    const row: { name: string; dims: number[]; maxAbsErr?: number; ok?: boolean } = { name, dims: got.dims };
    if (data?.outputs[k]) {
      const c = compareTensors(got, readTensorFile(data.outputs[k]));
      row.maxAbsErr = c.maxAbsErr;
      row.ok = c.ok;
    }
    return { row, got };
  });
  if (json) {
    console.log(JSON.stringify({ outputs: outputs.map((o) => o.row), ms: Number(ms.toFixed(3)) }));
  } else {
    for (const { row, got } of outputs) {
      const vals = Array.from(got.data.slice(0, 8) as ArrayLike<number | bigint>, (v) => (typeof v === "number" ? Number(v.toPrecision(6)) : v));
      const cmp = row.ok === undefined ? "" : row.ok ? `  ok (max abs err ${row.maxAbsErr!.toExponential(2)})` : `  MISMATCH (max abs err ${row.maxAbsErr})`;
      console.log(`${row.name}: ${got.dtype}[${got.dims.join(",")}] [${vals.join(", ")}${got.data.length > 8 ? ", ..." : ""}]${cmp}`);
    }
    console.log(`run: ${ms.toFixed(2)} ms`);
  }
  return outputs.every((o) => o.row.ok !== false) ? 0 : 1;
}

const GENERATED_INPUTS = ["arange", "random", "ones", "zeros"];

function checkInputNames(specs: Map<string, string>, inputNames: string[]): void {
  for (const k of specs.keys()) {
    if (!inputNames.includes(k)) throw new UsageError(`--input ${k}: the model has no input ${JSON.stringify(k)} (inputs: ${inputNames.join(", ")})`);
  }
}

async function cmdTest(args: Args): Promise<number> {
  const dirs = args.positionals;
  // a folder that is not there is a mistake to report, not a case to leave out silently
  const notFolders = dirs.filter((d) => !fs.statSync(d, { throwIfNoEntry: false })?.isDirectory());
  if (notFolders.length) {
    throw new KilnError("BAD_INPUT", `kiln test takes test-data folders (model.onnx + test_data_set_N/); not a folder: ${notFolders.slice(0, 5).map((d) => JSON.stringify(d)).join(", ")}${notFolders.length > 5 ? ` and ${notFolders.length - 5} more` : ""}`);
  }
  const json = args.flags.has("json");
  const line = (r: CaseResult) => `${r.status.padEnd(11)} ${r.name}${r.message ? "  " + r.message.split("\n")[0].slice(0, 200) : ""}`;
  const options = { level: parseLevel(args), simd: resolveSimd(parseSimd(args, "baseline")), kernels: await parseKernels(args) };
  const { runCases } = await import("../conformance.js");
  const summary = await runCases(dirs, json ? undefined : (r) => console.log(line(r)), options);
  if (json) {
    const cases = summary.cases.map(({ name, status, maxAbsErr, message }) => ({ name, status, maxAbsErr, message }));
    console.log(JSON.stringify({ total: summary.total, passed: summary.passed, failed: summary.failed, unsupported: summary.unsupported, cases }));
  } else {
    console.log(`\n${summary.total} cases: ${summary.passed} passed, ${summary.failed} failed, ${summary.unsupported} unsupported`);
  }
  return summary.failed === 0 ? 0 : 1;
}

const COMMANDS: Record<string, { run: (args: Args) => Promise<number>; flags: CommandSpec }> = {
  compile: {
    run: cmdCompile,
    flags: { values: ["o", "output", ...COMPILE_FLAGS, "simd", "report"], booleans: ["time-passes", "verify-each", "quiet"], positionals: [1, 1] },
  },
  inspect: { run: cmdInspect, flags: { values: [...COMPILE_FLAGS, "after"], booleans: ["time-passes", "verify-each"], positionals: [1, 1] } },
  run: { run: cmdRun, flags: { values: [...COMPILE_FLAGS, "input", "data", "simd"], booleans: ["json", "verify-each"], positionals: [1, 1] } },
  test: { run: cmdTest, flags: { values: ["O", "simd", "kernels"], booleans: ["json"], positionals: [1, Infinity] } },
  opt: { run: cmdOpt, flags: { values: ["passes", "o"], booleans: ["time-passes", "verify-each"], positionals: [1, 1] } },
};

/**
 * `kiln CMD ...`. `kiln bench` lives above the driver (bench/cli.ts, which bin/kiln.js loads
 * lazily: it needs onnxruntime, and the published package leaves it out); it runs through
 * runCommand too, for the same errors and exit codes.
 */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "--help" || cmd === "help") {
    console.log(USAGE);
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (!command) {
    console.error(`kiln: BAD_OPTION: unknown command ${JSON.stringify(cmd)}; the commands are ${[...Object.keys(COMMANDS), "bench"].join(", ")}\n\n${USAGE}`);
    return 2;
  }
  return runCommand(rest, command.run, command.flags, cmd);
}

/** Parse a command's arguments (its flags only), run it, and turn its failure into a message and an exit code. */
export async function runCommand(argv: string[], run: (args: Args) => Promise<number>, flags: CommandSpec, name: string): Promise<number> {
  let args: Args | undefined;
  try {
    args = parseArgs(argv, flags, name);
    if (args.flags.has("help")) {
      console.log(USAGE);
      return 0;
    }
    return await run(args);
  } catch (e) {
    const verbose = args?.flags.has("verbose") ?? argv.includes("--verbose");
    if (e instanceof UsageError) {
      console.error(`kiln: ${e.message}\n\n${USAGE}`);
      if (verbose) console.error(e.stack);
      return 2;
    }
    if (isKilnError(e)) console.error(`kiln: ${e.message}`);
    else console.error(`kiln: internal error: ${(e as Error).message ?? e}`);
    if (verbose && e instanceof Error) console.error(e.stack);
    // an option the user got wrong is a usage error
    return isKilnError(e) && e.code === "BAD_OPTION" ? 2 : 1;
  }
}
