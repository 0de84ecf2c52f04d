// What the commands that compile share: reading -O, --kernels, --dump-* and --shape into
// CompileOptions, and decoding a model before the compiler loads (a broken model is reported at
// once). Only compiling commands load this module: it imports the ONNX decoder.
import type { DumpFormat } from "../../../passes/dump.js";
import type { DumpSelection, OptLevel } from "../../../passes/index.js";
import { importModel } from "../../onnx/import.js";
import type { ExternalDataReader } from "../../onnx/tensor.js";
import { verifyGraph } from "../../ir/verify.js";
import type { CompileOptions } from "../compile.js";
import { all, one, parseShapeOption, UsageError, type Args } from "./args.js";

// The compiler and the passes load binaryen (about a second of start-up): imported when a
// command needs them, so usage and file mistakes answer at once.
export const compiler = () => import("../compile.js");
export const passLibrary = () => import("../../../passes/index.js");

/** compile.ts importOnnx without loading the compiler: a broken model is reported at once */
export function importChecked(bytes: Uint8Array, readExternal: ExternalDataReader) {
  const graph = importModel(bytes, { readExternal });
  verifyGraph(graph);
  return graph;
}

export function parseLevel(args: Args): OptLevel {
  const o = one(args, "O") ?? "2";
  if (!["0", "1", "2"].includes(o)) throw new UsageError(`-O takes 0, 1 or 2, got ${o}`);
  return Number(o) as OptLevel;
}

export async function parseSelection(v: string | undefined): Promise<DumpSelection> {
  if (v === undefined) return undefined;
  if (v === "all") return "all";
  const names = v.split(",").map((s) => s.trim()).filter((s) => s);
  const known = (await passLibrary()).ALL_PASSES.map((p) => p.name);
  for (const n of names) if (!known.includes(n)) throw new UsageError(`unknown pass ${JSON.stringify(n)}; passes are ${known.join(", ")}`);
  return names;
}

/** --kernels, checked now so a misspelled variant is reported before any work */
export async function parseKernels(args: Args): Promise<string | undefined> {
  const v = one(args, "kernels");
  if (v !== undefined) (await passLibrary()).parseKernelSelection(v);
  return v;
}

/**
 * compile options shared by compile, inspect and run: shapes, -O, kernels, dumps. `printsGraph`:
 * kiln inspect of a model, whose --dump-format also says how it prints the graph
 */
export async function compileOptions(args: Args, printsGraph = false): Promise<CompileOptions> {
  const options: CompileOptions = { shapes: parseShapeOption(all(args, "shape")), level: parseLevel(args), kernels: await parseKernels(args) };
  if (args.flags.has("verify-each")) options.verifyEach = true;
  if (args.flags.has("prepack")) options.prepack = true;
  const before = await parseSelection(one(args, "dump-before"));
  const after = await parseSelection(one(args, "dump-after"));
  if (before || after) {
    const { fileDumper, DUMP_FORMATS } = await import("../../../passes/dump.js");
    const formats = (one(args, "dump-format") ?? "text").split(",").map((f) => f.trim()) as DumpFormat[];
    for (const f of formats) if (!DUMP_FORMATS.includes(f)) throw new UsageError(`--dump-format takes ${DUMP_FORMATS.join(",")}, got ${f}`);
    options.dump = fileDumper({ dir: one(args, "dump-dir") ?? "kiln-dump", before, after, formats });
  } else if (!printsGraph) {
    // a dump's format or folder without a dump would be silently ignored
    const alone = ["dump-format", "dump-dir"].filter((f) => args.flags.has(f));
    if (alone.length) throw new UsageError(`${alone.map((f) => `--${f}`).join(" and ")} ${alone.length > 1 ? "apply" : "applies"} to the dumps --dump-before PASSES or --dump-after PASSES write; give one`);
  }
  return options;
}

/**
 * --quantize int8|int4|w8a8, --calibrate DIR (repeatable; a test_data_set folder, a folder of
 * them or a .pb file), --quantize-eval DIR (inputs not calibrated on, for the report),
 * --quantize-threshold X, --quantize-target X. The combinations are checked with the API's rules
 * (BAD_OPTION).
 */
export function quantizeOptions(args: Args): Pick<CompileOptions, "quantize" | "calibrate" | "quantizeEvaluate" | "quantizeThreshold" | "quantizeTarget"> {
  const mode = one(args, "quantize");
  if (mode !== undefined && !["int8", "int4", "w8a8"].includes(mode)) throw new UsageError(`--quantize takes int8, int4 or w8a8, got ${JSON.stringify(mode)}`);
  const threshold = numberFlag(args, "quantize-threshold", (x) => x > 0, "a number above 0");
  const target = numberFlag(args, "quantize-target", (x) => x >= 0, "a number, 0 or above");
  const calibrate = all(args, "calibrate"), evaluate = all(args, "quantize-eval");
  const out: Pick<CompileOptions, "quantize" | "calibrate" | "quantizeEvaluate" | "quantizeThreshold" | "quantizeTarget"> = {};
  if (mode) out.quantize = mode as CompileOptions["quantize"];
  if (calibrate.length) out.calibrate = calibrate;
  if (evaluate.length) out.quantizeEvaluate = evaluate;
  if (threshold !== undefined) out.quantizeThreshold = threshold;
  if (target !== undefined) out.quantizeTarget = target;
  return out;
}

/** --name X as a finite number that `ok` accepts, or undefined when not given (UsageError naming the flag otherwise). */
function numberFlag(args: Args, name: string, ok: (x: number) => boolean, takes: string): number | undefined {
  const t = one(args, name);
  if (t === undefined) return undefined;
  const x = Number(t);
  if (t.trim() === "" || !Number.isFinite(x) || !ok(x)) throw new UsageError(`--${name} takes ${takes}, got ${JSON.stringify(t)}`);
  return x;
}
