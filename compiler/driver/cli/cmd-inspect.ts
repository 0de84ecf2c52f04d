// kiln inspect: of a .wasm, its manifest (inputs, outputs, layers with their kernel variants,
// sizes, features) read with the runtime's checks and nothing of the compiler; of an ONNX model,
// the IR after compiling (or after one pass).
import * as fs from "node:fs";
import { readUserFile } from "../files.js";
import { UsageError, type Args } from "./args.js";
import { fileIsWasm } from "./wasm-file.js";

const GRAPH_ONLY = ["shape", "O", "kernels", "dump-before", "dump-after", "dump-format", "dump-dir", "after", "time-passes", "verify-each"];

export async function cmdInspect(args: Args): Promise<number> {
  const [file] = args.positionals;
  // by its bytes; a file named .wasm that is not one is reported as a bad artifact, not a bad ONNX model
  if (!fileIsWasm(file) && !/\.wasm$/i.test(file)) {
    if (args.flags.has("json")) throw new UsageError("--json applies to kiln inspect of a .wasm artifact (its manifest); of an ONNX model kiln inspect prints the IR");
    const { cmdInspectGraph } = await import("./cmd-compile.js");
    return cmdInspectGraph(args);
  }
  const given = GRAPH_ONLY.filter((f) => args.flags.has(f));
  if (given.length) throw new UsageError(`${given.map((f) => (f === "O" ? "-O" : `--${f}`)).join(", ")} apply to kiln inspect of an ONNX model; ${file} is compiled already`);
  const { formatArtifact, readArtifact } = await import("../artifact-info.js");
  const info = readArtifact(readUserFile(fs, file, "artifact", "INVALID_ARTIFACT"));
  console.log(args.flags.has("json") ? JSON.stringify(info) : formatArtifact(info, file));
  return 0;
}
