// The float model a quantizer is given, made the way an exporter leaves it: weights as
// initializers (Constant nodes turned into them) and inference BatchNormalization folded into
// the Conv before it (PyTorch and Paddle exports of deployed models are so). Plain JavaScript
// float32 arithmetic on the protobuf, so the same float weights come out on every machine and
// in every kiln version: the quantized fixtures are rebuilt from them (models/quantize/refill.ts).
import { onnx, type ModelProto, type NodeProto, type TensorProto } from "../../compiler/onnx/proto.js";
import { decodeTensor, encodeTensor } from "../../compiler/onnx/tensor.js";

const f = Math.fround;

function attrFloat(n: NodeProto, name: string, def: number): number {
  const a = n.attribute?.find((x) => x.name === name);
  return a?.f ?? def;
}

/** Conv(x, W[, b]) -> BatchNormalization: W' = W * s, b' = (b - mean) * s + shift, s = scale / sqrt(var + eps). */
function foldBatchNorms(model: ModelProto): number {
  const g = model.graph!;
  const inits = new Map((g.initializer ?? []).map((t) => [t.name!, t]));
  const users = new Map<string, number>();
  for (const n of g.node ?? []) for (const i of n.input ?? []) users.set(i, (users.get(i) ?? 0) + 1);
  for (const o of g.output ?? []) users.set(o.name!, (users.get(o.name!) ?? 0) + 1);
  const producer = new Map<string, NodeProto>();
  for (const n of g.node ?? []) for (const o of n.output ?? []) producer.set(o, n);
  const dead = new Set<NodeProto>();
  let folded = 0;
  for (const bn of g.node ?? []) {
    if (bn.opType !== "BatchNormalization" || (bn.output ?? []).filter((o) => o).length !== 1) continue;
    const conv = producer.get(bn.input![0]);
    if (!conv || conv.opType !== "Conv" || users.get(conv.output![0]) !== 1) continue;
    const params = bn.input!.slice(1, 5).map((n) => inits.get(n));
    const wInit = inits.get(conv.input![1]);
    if (params.some((p) => !p) || !wInit || (conv.input![2] && !inits.get(conv.input![2]))) continue;
    const [scale, shift, mean, variance] = params.map((p) => decodeTensor(p!).data as Float32Array);
    const w = decodeTensor(wInit);
    const C = w.dims[0], per = w.data.length / C;
    const eps = f(attrFloat(bn, "epsilon", 1e-5));
    const s = Float32Array.from({ length: C }, (_, c) => f(scale[c] / f(Math.sqrt(f(variance[c] + eps)))));
    const wd = Float32Array.from(w.data as Float32Array, (v, i) => f(v * s[Math.floor(i / per)]));
    const b0 = conv.input![2] ? (decodeTensor(inits.get(conv.input![2])!).data as Float32Array) : new Float32Array(C);
    const bd = Float32Array.from({ length: C }, (_, c) => f(f(f(b0[c] - mean[c]) * s[c]) + shift[c]));
    const wName = `${conv.input![1]}_bnfolded`, bName = `${bn.output![0]}_bias`;
    g.initializer!.push(onnx.TensorProto.fromObject(encodeTensor(wName, { ...w, data: wd })), onnx.TensorProto.fromObject(encodeTensor(bName, { dtype: "float32", dims: [C], data: bd })));
    conv.input = [conv.input![0], wName, bName];
    conv.output = [bn.output![0]];
    dead.add(bn);
    folded++;
  }
  g.node = (g.node ?? []).filter((n) => !dead.has(n));
  // initializers nothing reads any more
  const read = new Set((g.node ?? []).flatMap((n) => n.input ?? []));
  g.initializer = (g.initializer ?? []).filter((t) => read.has(t.name!) || (g.output ?? []).some((o) => o.name === t.name));
  return folded;
}

/** Constant nodes holding a tensor become initializers of that name. */
function constantsToInitializers(model: ModelProto): number {
  const g = model.graph!;
  let moved = 0;
  const keep: NodeProto[] = [];
  for (const n of g.node ?? []) {
    const value = n.opType === "Constant" && n.attribute?.length === 1 && n.attribute[0].name === "value" ? n.attribute[0].t : undefined;
    if (!value) { keep.push(n); continue; }
    const t: TensorProto = { ...value, name: n.output![0] };
    (g.initializer ??= []).push(onnx.TensorProto.fromObject(t));
    moved++;
  }
  g.node = keep;
  return moved;
}

/** The model as a quantizer should see it: initializers, BatchNormalization folded. */
export function prepareFloatModel(bytes: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  // IR 3 lists every initializer as a graph input too: new ones need not be, from IR 4 on
  if (Number(model.irVersion ?? 0) < 4) model.irVersion = 4;
  constantsToInitializers(model);
  foldBatchNorms(model);
  // graph inputs that name initializers (IR 3's way of listing weights) go: only the data inputs stay
  const g = model.graph!;
  const inits = new Set((g.initializer ?? []).map((t) => t.name));
  g.input = (g.input ?? []).filter((i) => !inits.has(i.name) && (g.node ?? []).some((n) => n.input?.includes(i.name!)));
  return onnx.ModelProto.encode(model).finish();
}
