// The kernel benchmark's cases: each a one-node ONNX model (input X, constant weights, so kiln can
// pre-pack them) and its FLOP count (2*M*N*K for GEMM, direct-convolution FLOPs for Conv).
import { Graph, type Attr } from "../compiler/ir/graph.js";
import { exportModel } from "../compiler/onnx/export.js";
import { rng } from "../compiler/driver/cli/inputs.js";
import { sizeOf } from "../runtime/dtypes.js";

export interface KernelCase {
  name: string;
  flops: number;
  input: number[];
  model(): Uint8Array;
}

function randomFloats(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

/** Y = op(X, W) with X a graph input and W a float32 initializer. */
function oneNode(op: string, x: number[], w: number[], y: number[], attrs: Record<string, Attr> = {}): Uint8Array {
  const g = new Graph();
  g.opsets.set("", 17);
  Object.assign(g.value("X"), { dtype: "float32", shape: x });
  Object.assign(g.value("W"), { dtype: "float32", shape: w, const: { dtype: "float32", dims: w, data: randomFloats(sizeOf(w), 7) } });
  Object.assign(g.value("Y"), { dtype: "float32", shape: y });
  g.inputs = ["X"];
  g.addNode({ name: op.toLowerCase(), op, domain: "", inputs: ["X", "W"], outputs: ["Y"], attrs });
  g.outputs = ["Y"];
  return exportModel(g, { valueInfo: false, producer: "kiln-bench" });
}

export function gemm(n: number): KernelCase {
  return { name: `gemm_${n}`, flops: 2 * n * n * n, input: [n, n], model: () => oneNode("MatMul", [n, n], [n, n], [n, n]) };
}

const ints = (value: number[]): Attr => ({ type: "ints", value });
const int = (value: number): Attr => ({ type: "int", value });

/** NCHW Conv, stride 1, "same" padding, no bias; group = channels for depthwise. */
export function conv(name: string, hw: number, cin: number, cout: number, k: number, depthwise = false): KernelCase {
  const p = (k - 1) / 2;
  const group = depthwise ? cin : 1;
  const attrs: Record<string, Attr> = { kernel_shape: ints([k, k]), pads: ints([p, p, p, p]), strides: ints([1, 1]), group: int(group) };
  return {
    name,
    flops: 2 * hw * hw * cout * (cin / group) * k * k,
    input: [1, cin, hw, hw],
    model: () => oneNode("Conv", [1, cin, hw, hw], [cout, cin / group, k, k], [1, cout, hw, hw], attrs),
  };
}

export const KERNEL_CASES: KernelCase[] = [
  gemm(256),
  gemm(512),
  gemm(1024),
  conv("conv3x3_56x56x64x64", 56, 64, 64, 3),
  conv("conv1x1_56x56x256x64", 56, 256, 64, 1),
  conv("dwconv3x3_112x112x32", 112, 32, 32, 3, true),
];
