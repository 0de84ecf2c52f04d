// Light models (../shared/onnx/light) store every weight as a ConstantOfShape with one fill value,
// so most outputs are uniform softmaxes. seedLightModel swaps each weight-like ConstantOfShape for an
// initializer of seeded random values, chosen by the role of the tensor (table ROLES), and
// calibrateLogits rescales the last linear layer so the final softmax is neither flat nor one-hot.
import { rng } from "../compiler/driver/cli/inputs.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { onnx, type NodeProto, type TensorProto } from "../compiler/onnx/proto.js";
import { decodeTensor, encodeTensor } from "../compiler/onnx/tensor.js";
import { runReference } from "./reference.js";
import { BIAS, BN_MEAN, BN_SCALE, BN_SHIFT, BN_VAR, he, randomTensor, uniform, type Init } from "./init.js";

const prod = (d: number[]) => d.reduce((a, b) => a * b, 1);
type GraphMessage = import("onnx-proto").onnx.GraphProto;
const intAttr = (n: NodeProto, name: string) => Number(n.attribute?.find((a) => a.name === name)?.i ?? 0);

/**
 * How to initialize a tensor from the (op, input index) that reads it. Weights get He scaling on
 * their fan-in so activations keep their scale through 50 layers of Conv+Relu.
 */
type Role = (dims: number[], user: NodeProto) => Init;
const ROLES: Record<string, Record<number, Role>> = {
  Conv: { 1: (d) => he(prod(d.slice(1))), 2: () => BIAS },
  ConvTranspose: { 1: (d, n) => he(d[0] / Math.max(1, intAttr(n, "group")) * prod(d.slice(2))), 2: () => BIAS },
  Gemm: { 1: (d, n) => he(intAttr(n, "transB") ? d[1] : d[0]), 2: () => BIAS },
  MatMul: { 1: (d) => he(d[d.length - 2] ?? 1) },
  BatchNormalization: { 1: () => BN_SCALE, 2: () => BN_SHIFT, 3: () => BN_MEAN, 4: () => BN_VAR },
  InstanceNormalization: { 1: () => BN_SCALE, 2: () => BN_SHIFT },
  LayerNormalization: { 1: () => BN_SCALE, 2: () => BN_SHIFT },
  PRelu: { 1: () => uniform(0, 0.25) },
};

/**
 * A residual branch that ends in BN and is added to an identity shortcut would double the
 * activation variance per block (2^16 over ResNet-50); a small BN scale there keeps it near 1.
 */
const RESIDUAL_SCALE = uniform(0.2, 0.5);
const ADDS = new Set(["Add", "Sum"]);
const RESHAPES = new Set(["Reshape", "Flatten", "Squeeze", "Unsqueeze"]);

interface Wiring {
  producer: Map<string, NodeProto>;
  users: Map<string, { node: NodeProto; index: number }[]>;
}

function index(nodes: NodeProto[]): Wiring {
  const producer = new Map<string, NodeProto>();
  const users = new Map<string, { node: NodeProto; index: number }[]>();
  for (const node of nodes) {
    for (const o of node.output ?? []) producer.set(o, node);
    (node.input ?? []).forEach((name, i) => {
      if (!users.has(name)) users.set(name, []);
      users.get(name)!.push({ node, index: i });
    });
  }
  return { producer, users };
}

function feedsIdentityShortcut(g: Wiring, bnOut: string): boolean {
  return (g.users.get(bnOut) ?? []).some(({ node }) =>
    ADDS.has(node.opType ?? "") && (node.input ?? []).some((i) => g.producer.get(i)?.opType !== "BatchNormalization"));
}

/** The init for a ConstantOfShape output, or undefined when it is not a weight (shapes, masks, ...). */
function roleOf(g: Wiring, name: string, dims: number[]): Init | undefined {
  for (const { node, index: i } of g.users.get(name) ?? []) {
    // Caffe2 exports reshape some weights on their way to the layer; the role is the layer's.
    if (RESHAPES.has(node.opType ?? "") && i === 0) return roleOf(g, node.output![0], dims);
    const role = ROLES[node.opType ?? ""]?.[i];
    if (!role) continue;
    if (node.opType === "BatchNormalization" && i === 1 && feedsIdentityShortcut(g, node.output![0])) return RESIDUAL_SCALE;
    return role(dims, node);
  }
  return undefined;
}

function fillValue(node: NodeProto): Tensor | undefined {
  const t = node.attribute?.find((a) => a.name === "value")?.t;
  return t ? decodeTensor(t) : undefined;
}

/** Replaces weight-like ConstantOfShape nodes by seeded initializers; everything else is unchanged. */
export function seedLightModel(bytes: Uint8Array, seed = 1): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph as GraphMessage;
  const inits = new Map(graph.initializer.map((t) => [t.name!, t]));
  const g = index(graph.node);
  const next = rng(seed);
  const dropped = new Set<string>();
  const added: TensorProto[] = [];
  graph.node = graph.node.filter((node) => {
    if (node.opType !== "ConstantOfShape") return true;
    const shapeInit = inits.get(node.input?.[0] ?? "");
    const fill = fillValue(node);
    if (!shapeInit || (fill && fill.dtype !== "float32")) return true;
    const dims = Array.from(decodeTensor(shapeInit).data as BigInt64Array, Number);
    const init = roleOf(g, node.output![0], dims);
    if (!init) return true;
    added.push(encodeTensor(node.output![0], randomTensor(dims, init, next)));
    if ((g.users.get(shapeInit.name!) ?? []).length === 1) dropped.add(shapeInit.name!);
    return false;
  });
  graph.initializer = [...graph.initializer.filter((t) => !dropped.has(t.name!)), ...added].map((t) => onnx.TensorProto.create(t));
  // Before IR version 4 every initializer must also be declared as a graph input.
  graph.input = graph.input.filter((v) => !dropped.has(v.name!));
  if (Number(model.irVersion) < 4) {
    for (const t of added) graph.input.push(onnx.ValueInfoProto.create({ name: t.name, type: { tensorType: { elemType: 1, shape: { dim: t.dims!.map((d) => ({ dimValue: d })) } } } }));
  }
  return onnx.ModelProto.encode(model).finish();
}

const PASS_THROUGH = new Set(["Reshape", "Flatten", "Relu", "GlobalAveragePool", "AveragePool", "MaxPool", "Dropout", "Squeeze", "Identity"]);
const LINEAR = new Set(["Conv", "Gemm", "MatMul"]);

function initializerBehind(g: Wiring, name: string, inits: Map<string, TensorProto>): TensorProto | undefined {
  for (let node = g.producer.get(name); node && RESHAPES.has(node.opType ?? ""); node = g.producer.get(name)) name = node.input![0];
  return inits.get(name);
}

/** The initializers (weight, bias) of the last linear layer before `value`, through scale-preserving ops. */
function lastLinear(g: Wiring, value: string, inits: Map<string, TensorProto>): TensorProto[] {
  for (let node = g.producer.get(value); node; node = g.producer.get(node.input![0])) {
    if (LINEAR.has(node.opType ?? "")) return node.input!.slice(1).map((n) => initializerBehind(g, n, inits)).filter((t): t is TensorProto => !!t);
    if (!PASS_THROUGH.has(node.opType ?? "")) return [];
  }
  return [];
}

function std(a: Float32Array): number {
  const mean = a.reduce((s, x) => s + x, 0) / a.length;
  return Math.sqrt(a.reduce((s, x) => s + (x - mean) ** 2, 0) / a.length);
}

/**
 * Scales the layer feeding the final Softmax so its logits have standard deviation `target`
 * on these inputs (every op between them is positively homogeneous, so the logits scale exactly).
 */
export async function calibrateLogits(bytes: Uint8Array, feeds: Record<string, Tensor>, target = 2): Promise<Uint8Array> {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph as GraphMessage;
  const outputs = new Set(graph.output.map((o) => o.name));
  const softmax = graph.node.find((n) => n.opType === "Softmax" && outputs.has(n.output![0]));
  if (!softmax) return bytes;
  const logits = softmax.input![0];
  const inits = new Map(graph.initializer.map((t) => [t.name!, t]));
  const params = lastLinear(index(graph.node), logits, inits);
  if (params.length === 0) return bytes;
  graph.output.push(onnx.ValueInfoProto.create({ name: logits }));
  const probe = onnx.ModelProto.encode(model).finish();
  graph.output.pop();
  const got = await runReference(probe, feeds, [logits]);
  const s = std(got[logits].data as Float32Array);
  if (!(s > 0) || !Number.isFinite(s)) return bytes;
  const k = target / s;
  for (const p of params) {
    const t = decodeTensor(p);
    const data = Float32Array.from(t.data as Float32Array, (x) => x * k);
    Object.assign(p, encodeTensor(p.name!, { ...t, data }), { floatData: [] });
  }
  return onnx.ModelProto.encode(model).finish();
}
