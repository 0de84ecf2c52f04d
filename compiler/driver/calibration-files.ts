// Calibration inputs from files (Node): a test_data_set_N folder (input_K.pb bound to the model's
// inputs in order), a folder of such folders, or one .pb file per input set. Node's fs and path
// are imported when called, and only as types here, so the compiler's browser bundle stays free
// of them (compiler/driver/testdata.ts, which imports them at its top, is for the CLI).
import type * as FS from "node:fs";
import type * as Path from "node:path";
import { KilnError } from "../../runtime/errors.js";
import type { Tensor } from "../ir/graph.js";
import { onnx } from "../onnx/proto.js";
import { decodeTensor, UnsupportedTypeError } from "../onnx/tensor.js";

function readTensor(fs: typeof FS, path: typeof Path, file: string): Tensor {
  let proto;
  try {
    proto = onnx.TensorProto.decode(fs.readFileSync(file));
  } catch (e) {
    throw new KilnError("BAD_INPUT", `calibration input ${file} is not a serialized TensorProto: ${(e as Error).message}`);
  }
  try {
    return decodeTensor(proto);
  } catch (e) {
    if (e instanceof UnsupportedTypeError) throw new KilnError("UNSUPPORTED_OP", `${path.basename(file)} holds ${e.typeName} data, which kiln does not support`);
    throw e;
  }
}

/** input_K.pb files of a folder, in K order. */
function inputFiles(fs: typeof FS, path: typeof Path, dir: string): string[] {
  return fs.readdirSync(dir).map((f) => ({ f, m: /^input_(\d+)\.pb$/.exec(f) })).filter((x) => x.m)
    .sort((a, b) => Number(a.m![1]) - Number(b.m![1])).map((x) => path.join(dir, x.f));
}

/** The input sets a file or folder holds, each bound to `inputs` in order. */
export async function readInputSets(src: string, inputs: readonly string[]): Promise<Record<string, Tensor>[]> {
  const fs = await import("node:fs");
  const path = await import("node:path");
  const st = fs.statSync(src, { throwIfNoEntry: false });
  if (!st) throw new KilnError("BAD_OPTION", `calibration input ${JSON.stringify(src)} does not exist`);
  const bind = (files: string[], where: string) => {
    if (files.length !== inputs.length) throw new KilnError("BAD_INPUT", `${where} holds ${files.length} input_K.pb files; the model has ${inputs.length} inputs (${inputs.join(", ")})`);
    return Object.fromEntries(files.map((f, k) => [inputs[k], readTensor(fs, path, f)]));
  };
  if (st.isFile()) return [bind([src], src)];
  const sets = fs.readdirSync(src).filter((d) => /^test_data_set_\d+$/.test(d)).sort((a, b) => Number(a.slice(14)) - Number(b.slice(14)));
  if (sets.length) return sets.map((d) => bind(inputFiles(fs, path, path.join(src, d)), path.join(src, d)));
  return [bind(inputFiles(fs, path, src), src)];
}
