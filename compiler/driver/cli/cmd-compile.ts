// kiln compile, kiln inspect of an ONNX model, kiln opt and kiln test: the commands that load the
// compiler (each imports it, and binaryen, only once its arguments and files are checked).
import * as fs from "node:fs";
import * as path from "node:path";
import { KilnError } from "../../../runtime/errors.js";
import { resolveSimd } from "../../../runtime/simd.js";
import type { OptionValue } from "../../../passes/index.js";
import type { CaseResult } from "../conformance.js";
import { readModelFile, readUserFile } from "../files.js";
import { ONNX_TOLERANCE } from "../testdata.js";
import { formatPassTable, makeReport } from "../report.js";
import { parseGraph } from "../../ir/parse.js";
import type { QuantizationReport } from "../quantize.js";
import { printGraph } from "../../ir/print.js";
import { printDot } from "../../ir/dot.js";
import type { Graph } from "../../ir/graph.js";
import { verifyGraph } from "../../ir/verify.js";
import { verifyTypes } from "../../ops/verify-types.js";
import { one, parseBudget, parseSimd, parseThreads, parseTolerance, UsageError, type Args } from "./args.js";
import { compileOptions, compiler, importChecked, quantizeOptions, parseKernels, parseLevel, parseSelection, passLibrary } from "./compile-options.js";
import { checkOutputFile, writeOutputFile } from "./output.js";
import { progressLine } from "./progress-line.js";
import { fileIsWasm } from "./wasm-file.js";

/** model.wasm -> model.ts (the typed bindings beside the artifact) */
const bindingsFile = (wasm: string) => wasm.replace(/(\.wasm)?$/i, ".ts");

export async function cmdCompile(args: Args): Promise<number> {
  const [model] = args.positionals;
  const emitTs = args.flags.has("emit-ts");
  const out = one(args, "o") ?? one(args, "output");
  if (!model) throw new UsageError("compile needs a model file");
  const quiet = args.flags.has("quiet");
  if (fileIsWasm(model)) {
    const source = readUserFile(fs, model, "model file", "INVALID_ARTIFACT");
    // kiln compile model.wasm --emit-ts: bindings for an artifact compiled before
    if (!emitTs) throw new UsageError(`${model} is compiled already; kiln compile model.wasm --emit-ts [-o model.ts] writes its typed bindings`);
    const target = out ?? bindingsFile(model);
    checkOutputFile(target, out ? "-o" : "--emit-ts");
    await writeBindings(source, model, target, args);
    if (!quiet) console.log(`kiln: ${model} -> ${target} (typed bindings)`);
    return 0;
  }
  if (!out) throw new UsageError("compile needs -o out.wasm");
  // where the results go is checked before the (long) compile, not after it
  checkOutputFile(out, "-o");
  if (emitTs) checkOutputFile(bindingsFile(out), "--emit-ts");
  const reportFile = one(args, "report");
  if (reportFile) checkOutputFile(reportFile, "--report");
  // under a memory budget the weights always go to a file: model.bin beside model.wasm unless --weights
  const weightsFile = one(args, "weights") ?? (parseBudget(args) === undefined ? undefined : out.replace(/(\.wasm)?$/i, ".bin"));
  if (weightsFile !== undefined) {
    checkOutputFile(weightsFile, "--weights");
    if (path.resolve(weightsFile) === path.resolve(out)) throw new UsageError(`--weights ${weightsFile} is the -o file; name the weights file apart (model.bin)`);
  }
  const t0 = performance.now();
  // under a budget the weights file is written as the compile seals each piece: one pass, never whole in memory
  const fd = parseBudget(args) === undefined ? undefined : fs.openSync(weightsFile!, "w");
  const onWeights = fd === undefined ? undefined : (position: number, bytes: Uint8Array) => {
    for (let done = 0; done < bytes.length;) done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
  };
  let result;
  try {
    result = await compileModelFile(model, args, onWeights);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
    if (fd !== undefined && !result) fs.rmSync(weightsFile!, { force: true }); // no half-written file left behind
  }
  const { compiled, nodesBefore } = result;
  writeOutputFile(out, "-o", compiled.wasm);
  if (compiled.stream) {
    if (fs.statSync(weightsFile!).size !== compiled.stream.bytes) throw new KilnError("INTERNAL", `the weights file ${weightsFile} was not written whole`);
  } else if (weightsFile !== undefined) writeOutputFile(weightsFile, "--weights", compiled.weights!);
  const ms = performance.now() - t0;
  if (reportFile) {
    writeOutputFile(reportFile, "--report", JSON.stringify(makeReport(nodesBefore, compiled.graph, compiled.passes, compiled.manifest, compiled.wasm, compiled.quantization), null, 2) + "\n");
  }
  if (emitTs) await writeBindings(compiled.wasm, out, bindingsFile(out), args);
  if (args.flags.has("time-passes")) console.log(formatPassTable(compiled.passes));
  if (!quiet) {
    const sidecar = weightsFile === undefined ? "" : ` + ${weightsFile} (${compiled.stream?.bytes ?? compiled.weights!.length} bytes of weights)`;
    console.log(`kiln: ${model} -> ${out}${sidecar}${emitTs ? ` + ${bindingsFile(out)}` : ""} (${compiled.wasm.length} bytes, ${compiled.manifest.layers.length} layers, ${ms.toFixed(0)} ms)`);
    if (compiled.quantization) console.log(quantizedLine(compiled.quantization));
  }
  return 0;
}

/** The ONNX model `model` compiled with the command's flags (-O, --shape, --simd ...), with progress on a terminal unless --quiet. */
export async function compileModelFile(model: string, args: Args, onWeights?: (position: number, bytes: Uint8Array) => void) {
  const { bytes, readExternal } = await readModelFile(model);
  const simd = parseSimd(args, "auto");
  const graph = importChecked(bytes, readExternal);
  const options = { ...await compileOptions(args), ...quantizeOptions(args) };
  const { compileGraph } = await compiler();
  const nodesBefore = graph.g.order;
  const line = args.flags.has("quiet") ? undefined : progressLine(process.stderr);
  try {
    const memoryBudget = parseBudget(args);
    const out = one(args, "o") ?? one(args, "output");
    const weights = one(args, "weights") ?? (memoryBudget !== undefined && out ? out.replace(/(\.wasm)?$/i, ".bin") : undefined);
    const weightsFile = weights === undefined ? undefined : path.basename(weights);
    const threads = parseThreads(args, false) as number | undefined;
    return { compiled: await compileGraph(graph, { ...options, simd, readExternal, weightsFile, memoryBudget, onWeights, onProgress: line?.update, ...(threads ? { threads } : {}) }), nodesBefore };
  } finally {
    line?.end();
  }
}

/** Typed bindings (bindings.ts, which loads ts-morph) for the artifact `wasm`, written to `target`. */
async function writeBindings(wasm: Uint8Array, wasmFile: string, target: string, args: Args): Promise<void> {
  const { readArtifactManifest } = await import("../artifact-info.js");
  const { generateBindings } = await import("../bindings.js");
  const manifest = await readArtifactManifest(wasm);
  const text = await generateBindings(manifest, {
    artifact: "./" + path.relative(path.dirname(path.resolve(target)), path.resolve(wasmFile)).split(path.sep).join("/"),
    runtime: one(args, "runtime-import") ?? "kiln/runtime",
    // the file's name by default: ONNX graph names are often an exporter's ("main_graph", "torch_jit")
    name: one(args, "name") ?? path.basename(wasmFile).replace(/\.wasm$/i, ""),
  });
  writeOutputFile(target, args.flags.has("o") ? "-o" : "--emit-ts", text);
}

export async function cmdInspectGraph(args: Args): Promise<number> {
  const [model] = args.positionals;
  const { bytes, readExternal } = await readModelFile(model);
  const options = await compileOptions(args, true);
  const after = one(args, "after");
  const print = { allConstants: args.flags.has("all-constants") };
  // the graph printed as --dump-format says, unless that is for dumps (--dump-before/--dump-after)
  const format = args.flags.has("dump-before") || args.flags.has("dump-after") ? "text" : one(args, "dump-format") ?? "text";
  if (format !== "text" && format !== "dot") throw new UsageError(`kiln inspect prints the graph as text or dot (--dump-format text|dot), got ${JSON.stringify(format)}; write ONNX dumps with --dump-after PASS --dump-format onnx`);
  const show = (g: Graph) => (format === "dot" ? printDot(g, after ? `after ${after}` : model) : printGraph(g, print));
  let text: string | undefined;
  if (after !== undefined) {
    await parseSelection(after);
    options.dump = {
      after: [after],
      write: (g, _seq, _point, pass) => {
        if (pass === after && text === undefined) text = show(g); // the first time it runs
      },
    };
  }
  const graph = importChecked(bytes, readExternal);
  const { compileGraph } = await compiler();
  const compiled = await compileGraph(graph, { ...options, readExternal });
  if (after !== undefined && text === undefined) throw new UsageError(`pass ${after} does not run at -O${options.level}`);
  console.log((text ?? show(compiled.graph)).trimEnd());
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

export async function cmdOpt(args: Args): Promise<number> {
  const [file] = args.positionals;
  if (!file) throw new UsageError("opt needs an IR text file (or - for standard input)");
  const spec = one(args, "passes");
  const target = one(args, "o");
  if (target) checkOutputFile(target, "-o");
  const text = file === "-" ? fs.readFileSync(0, "utf8") : new TextDecoder().decode(readUserFile(fs, file, "IR text file", "INVALID_MODEL"));
  const graph = parseGraph(text);
  verifyGraph(graph, { typed: true });
  // the declared types must be the ones the ops give: the passes trust them
  await verifyTypes(graph);
  const { ALL_PASSES, passNamed, runPasses } = await passLibrary();
  const { evaluateNode } = await import("../evaluate.js");
  if (!spec) throw new UsageError(`opt needs --passes p1,p2 (passes: ${ALL_PASSES.map((p) => p.name).join(", ")})`);
  const list = parsePassList(spec);
  const passes = list.map(([name]) => passNamed(name) ?? (() => { throw new UsageError(`unknown pass ${JSON.stringify(name)}; passes are ${ALL_PASSES.map((p) => p.name).join(", ")}`); })());
  const options: Record<string, Record<string, OptionValue>> = {};
  list.forEach(([name, o]) => { options[name] = { ...options[name], ...o }; });
  const stats = await runPasses(graph, passes, { evaluate: evaluateNode }, { verifyEach: args.flags.has("verify-each"), options });
  verifyGraph(graph, { typed: true });
  const out = printGraph(graph, { allConstants: true }); // IR text in, IR text out: what it prints reads back
  if (target) writeOutputFile(target, "-o", out);
  else process.stdout.write(out);
  if (args.flags.has("time-passes")) console.error(formatPassTable(stats));
  return 0;
}

export async function cmdTest(args: Args): Promise<number> {
  const dirs = args.positionals;
  // a folder that is not there is a mistake to report, not a case to leave out silently
  const notFolders = dirs.filter((d) => !fs.statSync(d, { throwIfNoEntry: false })?.isDirectory());
  if (notFolders.length) {
    throw new KilnError("BAD_INPUT", `kiln test takes test-data folders (model.onnx + test_data_set_N/); not a folder: ${notFolders.slice(0, 5).map((d) => JSON.stringify(d)).join(", ")}${notFolders.length > 5 ? ` and ${notFolders.length - 5} more` : ""}`);
  }
  const json = args.flags.has("json");
  const line = (r: CaseResult) => `${r.status.padEnd(11)} ${r.name}${r.message ? "  " + r.message.split("\n")[0].slice(0, 200) : ""}`;
  const options = { level: parseLevel(args), simd: resolveSimd(parseSimd(args, "baseline")), kernels: await parseKernels(args), tolerance: parseTolerance(args, ONNX_TOLERANCE) };
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

/** What --quantize did, in a line: the layers it quantized, and why the others stay float (a model of convolutions under a weight-only mode: all of them) */
export function quantizedLine(q: QuantizationReport): string {
  const why = new Map<string, number>();
  for (const l of q.layers) if (l.form === "float") why.set(l.reason ?? "kept float", (why.get(l.reason ?? "kept float") ?? 0) + 1);
  const float = [...why].map(([reason, n]) => `${n} float: ${reason}`).join("; ");
  return `kiln: --quantize ${q.mode}: ${q.quantized} of ${q.quantized + q.float} layers quantized${float ? `; ${float}` : ""}`;
}
