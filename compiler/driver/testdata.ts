// ONNX test-data folders (model.onnx + test_data_set_N/{input,output}_K.pb): reading them and
// comparing outputs the way the ONNX backend runner does.
import * as fs from "node:fs";
import * as path from "node:path";
import { dtype, sizeOf } from "../../runtime/dtypes.js";
import { decodeElements, isCoded } from "../../runtime/lowbit.js";
import { KilnError } from "../../runtime/errors.js";
import type { ContainerType, Tensor } from "../ir/graph.js";
import { onnx, type TensorProto } from "../onnx/proto.js";
import { halfToNumber } from "../ir/values.js";
import { decodeTensor, UnsupportedTypeError } from "../onnx/tensor.js";

export interface Tolerance {
  rtol: number;
  atol: number;
  /**
   * integer outputs judged by the same atol and rtol instead of exactly (kiln test --atol/--rtol:
   * a quantized model's 8-bit output one rounding step off is a fair answer to accept when asked)
   */
  ints?: boolean;
}

export const ONNX_TOLERANCE: Tolerance = { rtol: 1e-3, atol: 1e-7 };

export function readTensorFile(file: string): Tensor {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st?.isFile()) throw new KilnError("BAD_INPUT", `tensor file ${JSON.stringify(file)} ${st ? "is not a file" : "does not exist"}`);
  return decodeOrRefuse(file, () => onnx.TensorProto.decode(fs.readFileSync(file)), "is not");
}

/** A test data file's value: a tensor, a sequence of tensors, or null (an optional holding nothing). */
export type DataValue = Tensor | Tensor[] | null;

/**
 * A test data file of a graph input or output declared `container`: onnx SequenceProto (a
 * sequence) or OptionalProto (an optional), else a TensorProto. onnx-proto has neither message,
 * so their few fields are read here: elem_type (2), tensor_value(s) (3), sequence_value (5).
 */
export function readValueFile(file: string, container: ContainerType | undefined): DataValue {
  if (!container) return readTensorFile(file);
  const bytes = fs.readFileSync(file);
  const tensor = (b: Uint8Array) => decodeOrRefuse(file, () => onnx.TensorProto.decode(b));
  const sequence = (b: Uint8Array) => fields(file, b).filter((f) => f.no === 3).map((f) => tensor(f.bytes!));
  if (container.kind === "sequence") return sequence(bytes);
  const fs2 = fields(file, bytes);
  const t = fs2.find((f) => f.no === 3), q = fs2.find((f) => f.no === 5);
  return t ? tensor(t.bytes!) : q ? sequence(q.bytes!) : null;
}

/** A TensorProto decoded and read; BAD_INPUT where the bytes are none (`what`: "is not", or "holds a tensor that is not"). */
function decodeOrRefuse(file: string, decode: () => TensorProto, what = "holds a tensor that is not"): Tensor {
  let proto;
  try {
    proto = decode();
  } catch (e) {
    throw new KilnError("BAD_INPUT", `${file} ${what} a serialized TensorProto: ${(e as Error).message}`);
  }
  // no element type: an empty file (every field absent decodes) or bytes of some other message
  if (!proto.dataType) throw new KilnError("BAD_INPUT", `${file} ${what} a serialized TensorProto: it has no element type${fs.statSync(file).size === 0 ? " (the file is empty)" : ""}`);
  try {
    return decodeTensor(proto);
  } catch (e) {
    if (e instanceof UnsupportedTypeError) throw new KilnError("UNSUPPORTED_OP", `${path.basename(file)} holds ${e.typeName} data, which kiln does not support`);
    throw e;
  }
}

/** The top-level fields of a protobuf message: varints and length-delimited bytes (other wire types are refused). */
function fields(file: string, b: Uint8Array): { no: number; bytes?: Uint8Array }[] {
  const out: { no: number; bytes?: Uint8Array }[] = [];
  let i = 0;
  const varint = (): number => {
    let v = 0, mul = 1;
    for (;;) {
      if (i >= b.length) throw new KilnError("BAD_INPUT", `${file} is not a serialized SequenceProto or OptionalProto (truncated)`);
      const x = b[i++];
      v += (x & 0x7f) * mul;
      mul *= 128;
      if (!(x & 0x80)) return v;
    }
  };
  while (i < b.length) {
    const tag = varint();
    const no = Math.floor(tag / 8), wire = tag % 8;
    if (wire === 0) { varint(); out.push({ no }); continue; }
    if (wire !== 2) throw new KilnError("BAD_INPUT", `${file} is not a serialized SequenceProto or OptionalProto (field ${no} has wire type ${wire})`);
    const n = varint();
    if (i + n > b.length) throw new KilnError("BAD_INPUT", `${file} is not a serialized SequenceProto or OptionalProto (field ${no} runs past the end)`);
    out.push({ no, bytes: b.subarray(i, i + n) });
    i += n;
  }
  return out;
}

export interface DataSet {
  dir: string;
  inputs: string[];
  outputs: string[];
}

/** input_K.pb / output_K.pb files of a test_data_set folder, in K order. */
export function listDataSet(dir: string): DataSet {
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (!st?.isDirectory()) {
    throw new KilnError("BAD_INPUT", `test data ${JSON.stringify(dir)} ${st ? "is not a folder" : "does not exist"}; give a test_data_set_N folder holding input_K.pb and output_K.pb`);
  }
  const files = fs.readdirSync(dir);
  const pick = (prefix: string) => files
    .map((f) => ({ f, m: new RegExp(`^${prefix}_(\\d+)\\.pb$`).exec(f) }))
    .filter((x) => x.m)
    .sort((a, b) => Number(a.m![1]) - Number(b.m![1]))
    .map((x) => path.join(dir, x.f));
  return { dir, inputs: pick("input"), outputs: pick("output") };
}

export function listDataSets(caseDir: string): DataSet[] {
  return fs.readdirSync(caseDir)
    .filter((d) => d.startsWith("test_data_set_") && fs.statSync(path.join(caseDir, d)).isDirectory())
    .sort((a, b) => Number(a.slice(14)) - Number(b.slice(14)))
    .map((d) => listDataSet(path.join(caseDir, d)));
}

export interface Comparison {
  ok: boolean;
  maxAbsErr: number;
  message?: string;
}

/** The elements as JavaScript values: numbers for the coded and packed types (decoded), else as stored. */
function elementsOf(t: Tensor): ArrayLike<number | bigint> {
  if (t.dtype === "float16") return Array.from(t.data as Uint16Array, halfToNumber);
  if (isCoded(t.dtype)) return decodeElements(t.dtype, t.data, sizeOf(t.dims));
  return t.data as unknown as ArrayLike<number | bigint>;
}

/**
 * |got - exp| <= atol + rtol * |exp| elementwise; NaN matches NaN; ints and bools exactly. The
 * narrow floats (float16, bfloat16, float8, float4e2m1) and the packed ints are compared by value,
 * decoded from their codes: any NaN code matches any other, and a float8 or float4 rounding step
 * is far beyond the tolerance, so their results must round exactly as expected.
 */
export function compareTensors(got: Tensor, exp: Tensor, tol: Tolerance = ONNX_TOLERANCE): Comparison {
  if (got.dims.length !== exp.dims.length || got.dims.some((d, k) => d !== exp.dims[k])) {
    return { ok: false, maxAbsErr: Infinity, message: `dims [${got.dims.join(",")}], expected [${exp.dims.join(",")}]` };
  }
  if (got.dtype !== exp.dtype) {
    return { ok: false, maxAbsErr: Infinity, message: `dtype ${got.dtype}, expected ${exp.dtype}` };
  }
  const n = sizeOf(exp.dims);
  const g = elementsOf(got);
  const e = elementsOf(exp);
  let maxAbsErr = 0;
  let bad = -1;
  const float = dtype(exp.dtype).float;
  const narrow = float && exp.dtype !== "float32" && exp.dtype !== "float64";
  for (let i = 0; i < n; i++) {
    if (float) {
      const a = Number(g[i]);
      const b = Number(e[i]);
      if (Number.isNaN(a) && Number.isNaN(b)) continue;
      if (a === b) continue;
      const err = Math.abs(a - b);
      if (!(err <= maxAbsErr)) maxAbsErr = Number.isNaN(err) ? Infinity : Math.max(maxAbsErr, err);
      const rtol = narrow ? Math.max(tol.rtol, 1e-3) : tol.rtol;
      if (!(err <= tol.atol + rtol * Math.abs(b)) && bad < 0) bad = i;
    } else if (g[i] !== e[i]) {
      const err = Math.abs(Number(g[i]) - Number(e[i]));
      maxAbsErr = Math.max(maxAbsErr, err);
      if (bad < 0 && !(tol.ints && err <= tol.atol + tol.rtol * Math.abs(Number(e[i])))) bad = i;
    }
  }
  if (bad >= 0) return { ok: false, maxAbsErr, message: `element ${bad}: got ${g[bad]}, expected ${e[bad]} (max abs err ${maxAbsErr})` };
  return { ok: true, maxAbsErr };
}

/** compareTensors over sequences (element by element, same length) and optionals (null matches null). */
export function compareValues(got: DataValue | undefined, exp: DataValue, tol: Tolerance = ONNX_TOLERANCE): Comparison {
  const kind = (v: DataValue | undefined) => (v === null ? "nothing (an empty optional)" : v === undefined ? "no output" : Array.isArray(v) ? `a sequence of ${v.length}` : "a tensor");
  if (exp === null || got === null || got === undefined || Array.isArray(exp) !== Array.isArray(got)) {
    return got === exp ? { ok: true, maxAbsErr: 0 } : { ok: false, maxAbsErr: Infinity, message: `got ${kind(got)}, expected ${kind(exp)}` };
  }
  if (!Array.isArray(exp)) return compareTensors(got as Tensor, exp, tol);
  const g = got as Tensor[];
  if (g.length !== exp.length) return { ok: false, maxAbsErr: Infinity, message: `got ${kind(g)}, expected ${kind(exp)}` };
  let maxAbsErr = 0;
  for (let k = 0; k < exp.length; k++) {
    const c = compareTensors(g[k], exp[k], tol);
    maxAbsErr = Math.max(maxAbsErr, c.maxAbsErr);
    if (!c.ok) return { ok: false, maxAbsErr, message: `element ${k}: ${c.message}` };
  }
  return { ok: true, maxAbsErr };
}
