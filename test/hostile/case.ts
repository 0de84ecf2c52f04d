// One hostile-input case: how to make its files, how to run it (the CLI, the API or both) and
// the KilnError code it must give. A case is one small entry in a file of test/hostile/cases/;
// add yours there (or a file of your own, listed in cases/index.ts), and test/hostile.test.ts
// runs it. Write files only inside the case's folder (make's `dir`), and no case may depend
// on another.
import * as fs from "node:fs";
import * as path from "node:path";
import type { KilnErrorCode } from "../../runtime/errors.js";
import { parseGraph } from "../../compiler/ir/parse.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { onnx, type ModelProto } from "../../compiler/onnx/proto.js";

/** seeded random numbers in [0, 1) (mulberry32), so a failing sweep repeats */
export { rng } from "../../compiler/driver/cli/inputs.js";

/**
 * What a case must give. A code: a KilnError with exactly that code (the CLI prints
 * `kiln: CODE: ...` and exits 2 for BAD_OPTION, 1 for the others). "ok": it runs (exit 0).
 * "typed": either, but never an untyped error, a crash or a hang: for cases whose outcome
 * depends on where a random flip landed (the sweeps).
 */
export type Expected = KilnErrorCode | "ok" | "typed";

export interface HostileCase {
  /** unique; also the name of the case's folder */
  name: string;
  /** writes the case's files into `dir`, its own empty folder (may be left out: no files) */
  make?: (dir: string) => void | Promise<void>;
  /** the kiln command line, run in the case's folder (paths relative to it) */
  cli?: string[];
  /** an API call, given the case's folder; its rejection is the result */
  api?: (dir: string) => Promise<unknown>;
  code: Expected;
  /** what the error message (or, for "ok" from the CLI, standard output) must say */
  message?: RegExp;
}

// ---- helpers for making cases ----

/** ONNX bytes from kiln IR text (compiler/ir/parse.ts). */
export const onnxOf = (irText: string): Uint8Array => exportModel(parseGraph(irText));

/** Decode, change, encode: for models the IR text cannot say (bad opsets, odd tensors). */
export function edit(bytes: Uint8Array, change: (m: ModelProto) => void): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  change(m);
  return onnx.ModelProto.encode(m).finish();
}

export function write(dir: string, name: string, data: Uint8Array | string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, data);
  return file;
}

/** y = x + w, x float32[2], w = [10, 20]: the smallest model with a weight. */
export const ADD = onnxOf(`kiln.graph opsets("" = 13)
input %x : float32[2]
const %w : float32[2] = dense<[10, 20]>
%y : float32[2] = Add(%x, %w) {name="add"}
output %y`);

/** y = relu(x), x float32[N, 3]: dynamic batch. */
export const DYNAMIC = onnxOf(`kiln.graph opsets("" = 13)
input %x : float32[N,3]
%y : float32[N,3] = Relu(%x) {name="relu"}
output %y`);

/** A model kiln cannot compile (an unknown op): a case that must fail before compiling uses it. */
export const UNSUPPORTED = onnxOf(`kiln.graph opsets("" = 13)
input %x : float32[2]
%y : float32[2] = NoSuchOp(%x) {name="mystery"}
output %y`);

/** w's bytes as ADD's external data would hold them (float32 10, 20). */
export const W_BYTES = new Uint8Array(Float32Array.of(10, 20).buffer);

/** ADD with w kept in external data at `location` (offset and length as ONNX strings, when given). */
export function externalAdd(location: string, extra: { offset?: string; length?: string } = {}): Uint8Array {
  return edit(ADD, (m) => {
    const w = m.graph!.initializer![0];
    w.rawData = new Uint8Array();
    w.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    w.externalData = [{ key: "location", value: location }];
    if (extra.offset !== undefined) w.externalData.push({ key: "offset", value: extra.offset });
    if (extra.length !== undefined) w.externalData.push({ key: "length", value: extra.length });
  });
}

/** Throws (an untyped Error: the test reports it) unless `got` equals `want`. */
export function expectValues(got: ArrayLike<number>, want: number[]): void {
  const g = Array.from(got);
  if (g.length !== want.length || g.some((x, i) => x !== want[i])) throw new Error(`expected [${want}], got [${g}]`);
}
