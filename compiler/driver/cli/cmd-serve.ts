// kiln serve model.wasm|model.onnx --port P --workers N: the model over HTTP (serve.ts) until the
// process is stopped. An ONNX model is compiled first, with kiln compile's flags.
import * as fs from "node:fs";
import * as os from "node:os";
import { KilnError } from "../../../runtime/errors.js";
import { readUserFile } from "../files.js";
import { COMPILE_FLAGS, one, parseSimd, UsageError, type Args } from "./args.js";
import { fileIsWasm } from "./wasm-file.js";

function intFlag(args: Args, flag: string, fallback: number, min: number, max: number): number {
  const v = one(args, flag);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${flag} takes a whole number from ${min} to ${max}, got ${v}`);
  return n;
}

export async function cmdServe(args: Args): Promise<number> {
  const [model] = args.positionals;
  const port = intFlag(args, "port", 8080, 0, 65535);
  const workers = intFlag(args, "workers", Math.max(1, os.availableParallelism()), 1, 256);
  const host = one(args, "host") ?? "127.0.0.1";
  let wasm: Uint8Array;
  if (fileIsWasm(model) || /\.wasm$/i.test(model)) {
    const given = COMPILE_FLAGS.filter((f) => args.flags.has(f));
    if (given.length) throw new UsageError(`${given.map((f) => (f === "O" ? "-O" : `--${f}`)).join(", ")} apply when kiln serve compiles an .onnx model; ${model} is compiled already`);
    wasm = readUserFile(fs, model, "artifact", "INVALID_ARTIFACT");
  } else {
    const { compileModelFile } = await import("./cmd-compile.js");
    wasm = (await compileModelFile(model, args)).compiled.wasm;
  }
  const { serve } = await import("../serve.js");
  const server = await serve(wasm, { port, host, workers, simd: parseSimd(args, "auto") }).catch((e) => {
    throw e instanceof KilnError ? e : new KilnError("INVALID_ARTIFACT", `the workers could not load ${model}: ${(e as Error).message}`);
  });
  console.log(`kiln: serving ${model} on ${server.url} with ${workers} worker thread${workers > 1 ? "s" : ""} (POST /run, GET /)`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await server.close();
  return 0;
}
