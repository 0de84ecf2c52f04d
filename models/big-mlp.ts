// A model whose float32 weights pass wasm32's 4 GiB (issue 16, criterion 1): `layers` MatMul
// layers of dim x dim (40 x 6144 x 6144 is 5.6 GiB), Tanh between them, batch 1, its weights in
// ONNX external data. Written by streaming, one layer's weights at a time; seeded (mulberry32),
// scaled by sqrt(3 / dim) so every layer's output keeps the input's magnitude.
import * as fs from "node:fs";
import * as path from "node:path";
import { rng } from "../compiler/driver/cli/inputs.js";
import { onnx, type NodeProto, type TensorProto } from "../compiler/onnx/proto.js";

export interface BigMlp {
  model: string;
  data: string;
  /** bytes of weights (the external data file's size) */
  weightBytes: number;
}

/** Write dir/big.onnx and dir/big.onnx.data. */
export function writeBigMlp(dir: string, options: { layers: number; dim: number; seed?: number }): BigMlp {
  const { layers, dim } = options;
  const next = rng(options.seed ?? 16);
  const model = path.join(dir, "big.onnx");
  const data = path.join(dir, "big.onnx.data");
  const layerBytes = dim * dim * 4;
  const scale = Math.sqrt(3 / dim);
  const fd = fs.openSync(data, "w");
  const w = new Float32Array(dim * dim);
  try {
    for (let k = 0; k < layers; k++) {
      for (let i = 0; i < w.length; i++) w[i] = (next() * 2 - 1) * scale;
      fs.writeSync(fd, new Uint8Array(w.buffer), 0, layerBytes, k * layerBytes);
    }
  } finally {
    fs.closeSync(fd);
  }
  const initializers: TensorProto[] = [];
  const nodes: NodeProto[] = [];
  let x = "x";
  for (let k = 0; k < layers; k++) {
    initializers.push({
      name: `w${k}`, dataType: onnx.TensorProto.DataType.FLOAT, dims: [dim, dim],
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [{ key: "location", value: path.basename(data) }, { key: "offset", value: String(k * layerBytes) }, { key: "length", value: String(layerBytes) }],
    });
    const h = k === layers - 1 ? "y" : `h${k}`;
    nodes.push({ name: `matmul${k}`, opType: "MatMul", input: [x, `w${k}`], output: [h] });
    if (k < layers - 1) {
      nodes.push({ name: `tanh${k}`, opType: "Tanh", input: [h], output: [`a${k}`] });
      x = `a${k}`;
    }
  }
  const io = (name: string) => ({ name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: dim }] } } } });
  const proto = onnx.ModelProto.create({
    irVersion: 8, producerName: "kiln models/big-mlp.ts", opsetImport: [{ domain: "", version: 17 }],
    graph: { name: "big_mlp", node: nodes, initializer: initializers, input: [io("x")], output: [io("y")] },
  });
  fs.writeFileSync(model, onnx.ModelProto.encode(proto).finish());
  return { model, data, weightBytes: layers * layerBytes };
}
