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
  /** the input's type (default float32); uint8 inputs are random bytes */
  inputDtype?: "float32" | "uint8";
  /** a float case of the same size, timed in this case's rotation: the result's vsFloat (issue 14: qgemm_512 against gemm_512) */
  against?: () => KernelCase;
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

/** Y = MatMulInteger(X, W): uint8 activations (zero point 128), int8 weights, int32 out: the int8 GEMM. */
export function qgemm(n: number): KernelCase {
  const model = () => {
    const g = new Graph();
    g.opsets.set("", 17);
    Object.assign(g.value("X"), { dtype: "uint8", shape: [n, n] });
    const r = rng(7);
    Object.assign(g.value("W"), { dtype: "int8", shape: [n, n], const: { dtype: "int8", dims: [n, n], data: Int8Array.from({ length: n * n }, () => Math.floor(r() * 255) - 127) } });
    Object.assign(g.value("XZ"), { dtype: "uint8", shape: [], const: { dtype: "uint8", dims: [], data: Uint8Array.of(128) } });
    Object.assign(g.value("Y"), { dtype: "int32", shape: [n, n] });
    g.inputs = ["X"];
    g.addNode({ name: "qgemm", op: "MatMulInteger", domain: "", inputs: ["X", "W", "XZ"], outputs: ["Y"], attrs: {} });
    g.outputs = ["Y"];
    return exportModel(g, { valueInfo: false, producer: "kiln-bench" });
  };
  return { name: `qgemm_${n}`, flops: 2 * n * n * n, input: [n, n], inputDtype: "uint8", against: () => gemm(n), model };
}

/** Y = X [1, K] * W [K, N] in float32: the GEMV the 4-bit one is measured against. */
export function gemv(k: number, n: number): KernelCase {
  const model = () => {
    const g = new Graph();
    g.opsets.set("", 17);
    const r = rng(9);
    Object.assign(g.value("X"), { dtype: "float32", shape: [1, k] });
    Object.assign(g.value("W"), { dtype: "float32", shape: [k, n], const: { dtype: "float32", dims: [k, n], data: Float32Array.from({ length: k * n }, () => r() * 2 - 1) } });
    Object.assign(g.value("Y"), { dtype: "float32", shape: [1, n] });
    g.inputs = ["X"];
    g.addNode({ name: "gemv", op: "MatMul", domain: "", inputs: ["X", "W"], outputs: ["Y"], attrs: {} });
    g.outputs = ["Y"];
    return exportModel(g, { valueInfo: false, producer: "kiln-bench" });
  };
  return { name: `gemv_${k}x${n}`, flops: 2 * k * n, input: [1, k], model };
}

/** Y = MatMulNBits(X [1, K], W [N, K] at 4 bits, blocks of 32): the batch-1 GEMV that streams packed weights once. */
export function gemv4(k: number, n: number): KernelCase {
  const bs = 32, blocks = k / bs;
  const model = () => {
    const g = new Graph();
    g.opsets.set("", 17);
    g.opsets.set("com.microsoft", 1);
    const r = rng(9);
    Object.assign(g.value("X"), { dtype: "float32", shape: [1, k] });
    Object.assign(g.value("B"), { dtype: "uint8", shape: [n, blocks, bs / 2], const: { dtype: "uint8", dims: [n, blocks, bs / 2], data: Uint8Array.from({ length: n * k / 2 }, () => Math.floor(r() * 256)) } });
    Object.assign(g.value("S"), { dtype: "float32", shape: [n * blocks], const: { dtype: "float32", dims: [n * blocks], data: Float32Array.from({ length: n * blocks }, () => 0.001 + 0.01 * r()) } });
    Object.assign(g.value("Y"), { dtype: "float32", shape: [1, n] });
    g.inputs = ["X"];
    g.addNode({ name: "gemv", op: "MatMulNBits", domain: "com.microsoft", inputs: ["X", "B", "S"], outputs: ["Y"],
      attrs: { K: { type: "int", value: k }, N: { type: "int", value: n }, bits: { type: "int", value: 4 }, block_size: { type: "int", value: bs } } });
    g.outputs = ["Y"];
    return exportModel(g, { valueInfo: false, producer: "kiln-bench" });
  };
  return { name: `gemv4_${k}x${n}`, flops: 2 * k * n, input: [1, k], against: () => gemv(k, n), model };
}

export const KERNEL_CASES: KernelCase[] = [
  gemm(256),
  gemm(512),
  qgemm(512),
  gemm(1024),
  conv("conv3x3_56x56x64x64", 56, 64, 64, 3),
  conv("conv1x1_56x56x256x64", 56, 256, 64, 1),
  conv("dwconv3x3_112x112x32", 112, 32, 32, 3, true),
  gemv4(4096, 4096),
];
