// The quantized test models, rebuilt from the committed fixtures (models/quantize/make.py): the
// model onnxruntime's quantizer wrote, with its large tensors emptied, and per emptied tensor a
// recipe from the float model (models/quantize/sources.ts) and the SHA-256 of its bytes. The
// recipes are onnxruntime's quantizer's own arithmetic (numpy float32, round half to even), so
// the bytes come back exactly; a hash that differs is an error, never a silently other model.
import * as fs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { onnx, type TensorProto } from "../../compiler/onnx/proto.js";
import { decodeTensor } from "../../compiler/onnx/tensor.js";
import { dtypeFromOnnx } from "../../runtime/dtypes.js";
import { QUANT_SOURCES, repoRoot, type QuantForm } from "./sources.js";

interface Recipe {
  name: string;
  kind: "quantize" | "bias" | "nbits" | "nbits-scales" | "nbits-zero-points";
  source: string;
  scale?: string;
  zero_point?: string | null;
  axis?: number | null;
  block_size?: number;
  sha256: string;
}

const f = Math.fround;
/** round half to even, as numpy's round */
function rne(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

export const FIXTURES = () => path.join(repoRoot(), "models/quantize/fixtures");

function values(t: TensorProto | undefined, what: string): number[] {
  if (!t) throw new Error(`refill: no tensor ${what}`);
  return Array.from(decodeTensor(t).data as ArrayLike<number>, Number);
}

/** W [K, N] as blocks of W^T: per column n and block b, the block's values (K padded with zeros). */
function nbitsBlocks(w: number[], K: number, N: number, bs: number) {
  const blocks = Math.ceil(K / bs);
  const scale = new Float32Array(N * blocks), zp = new Uint8Array(N * blocks);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      let mn = 0, mx = 0;
      for (let k = b * bs; k < Math.min(K, (b + 1) * bs); k++) { mn = Math.min(mn, w[k * N + n]); mx = Math.max(mx, w[k * N + n]); }
      const s = f(f(mx - mn) / 15);
      scale[n * blocks + b] = s;
      zp[n * blocks + b] = clamp(rne(f(-mn / s)), 0, 15);
    }
  }
  return { blocks, scale, zp };
}

/** The bytes a recipe gives (little-endian, as raw_data holds them). */
function compute(r: Recipe, target: TensorProto, inits: Map<string, TensorProto>, source: Map<string, TensorProto>): Uint8Array {
  const src = decodeTensor(source.get(r.source) ?? (() => { throw new Error(`refill: the float model has no ${r.source}`); })());
  const w = Array.from(src.data as Float32Array);
  const dims = (target.dims ?? []).map(Number);
  if (r.kind === "quantize") {
    const scale = values(inits.get(r.scale!), r.scale!);
    const zp = r.zero_point ? values(inits.get(r.zero_point), r.zero_point) : [0];
    const dt = dtypeFromOnnx(target.dataType ?? 0)!.name;
    const [lo, hi] = dt === "int8" ? [-128, 127] : [0, 255];
    const axis = r.axis ?? undefined;
    const inner = axis === undefined ? 1 : src.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
    const C = axis === undefined ? 1 : src.dims[axis];
    const out = dt === "int8" ? new Int8Array(w.length) : new Uint8Array(w.length);
    for (let i = 0; i < w.length; i++) {
      const c = axis === undefined ? 0 : Math.floor(i / inner) % C;
      out[i] = clamp(rne(f(w[i] / scale[scale.length === 1 ? 0 : c])) + zp[zp.length === 1 ? 0 : c], lo, hi);
    }
    return new Uint8Array(out.buffer);
  }
  if (r.kind === "bias") {
    const scale = values(inits.get(r.scale!), r.scale!);
    const out = Int32Array.from(w, (b, c) => clamp(rne(b / scale[scale.length === 1 ? 0 : c]), -(2 ** 31), 2 ** 31 - 1));
    return new Uint8Array(out.buffer);
  }
  const [K, N] = src.dims, bs = r.block_size!;
  const { blocks, scale, zp } = nbitsBlocks(w, K, N, bs);
  if (r.kind === "nbits-scales") return new Uint8Array(scale.buffer);
  if (r.kind === "nbits-zero-points") {
    const row = Math.ceil(blocks / 2), out = new Uint8Array(N * row);
    for (let n = 0; n < N; n++) for (let b = 0; b < blocks; b++) out[n * row + (b >> 1)] |= zp[n * blocks + b] << (4 * (b & 1));
    return out;
  }
  const blob = bs / 2, out = new Uint8Array(N * blocks * blob);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < blocks * bs; k++) {
      const b = Math.floor(k / bs), s = scale[n * blocks + b], z = zp[n * blocks + b];
      const v = clamp(rne(f(f((k < K ? w[k * N + n] : 0) / s) + z)), 0, 15);
      out[n * blocks * blob + b * blob + ((k % bs) >> 1)] |= v << (4 * (k & 1));
    }
  }
  return out;
}

/** The quantized model `name`.`form` as onnxruntime's tools wrote it. */
export async function quantizedModel(name: string, form: QuantForm): Promise<Uint8Array> {
  const base = path.join(FIXTURES(), `${name}.${form}`);
  const bytes = new Uint8Array(fs.readFileSync(`${base}.onnx`));
  if (!fs.existsSync(`${base}.json`)) return bytes;
  const { refill } = JSON.parse(fs.readFileSync(`${base}.json`, "utf8")) as { refill: Recipe[] };
  const s = QUANT_SOURCES.find((x) => x.name === name);
  if (!s) throw new Error(`refill: no float model ${name}`);
  const source = new Map(onnx.ModelProto.decode(await s.float()).graph!.initializer!.map((t) => [t.name!, t]));
  const model = onnx.ModelProto.decode(bytes);
  const inits = new Map(model.graph!.initializer!.map((t) => [t.name!, t]));
  for (const r of refill) {
    const t = inits.get(r.name);
    if (!t) throw new Error(`refill: ${base}.onnx has no tensor ${r.name}`);
    const data = compute(r, t, inits, source);
    const hash = createHash("sha256").update(data).digest("hex");
    if (hash !== r.sha256) throw new Error(`refill: ${r.name} (${r.kind} of ${r.source}) came out different from onnxruntime's (sha256 ${hash}, want ${r.sha256})`);
    t.rawData = data;
  }
  return onnx.ModelProto.encode(model).finish();
}
