// The weight bytes of an ONNX file, the measure issue 16's size and budget figures are taken
// against (bench/sizes.ts, bench/memory.ts): in a file of its own so that bench/memory.ts, which
// bench/run.ts imports, need not import sizes.ts, which imports run.ts.
import { onnx, type GraphProto, type TensorProto } from "../compiler/onnx/proto.js";
import { decodeTensor } from "../compiler/onnx/tensor.js";
import { storageBytes, sizeOf } from "../runtime/dtypes.js";

/** the bytes of every tensor the ONNX file holds (initializers, Constant nodes' values, in subgraphs too), in its storage type */
export function onnxWeightBytes(bytes: Uint8Array): number {
  const model = onnx.ModelProto.decode(bytes);
  const size = (t: TensorProto) => {
    const d = decodeTensor(t);
    return storageBytes(d.dtype, sizeOf(d.dims));
  };
  const ofGraph = (g: GraphProto | null | undefined): number => !g ? 0 : (g.initializer ?? []).reduce((a, t) => a + size(t), 0) +
    (g.node ?? []).reduce((a, n) => a + (n.attribute ?? []).reduce((b, at) => b + (at.t ? size(at.t) : 0) + ofGraph(at.g) + (at.graphs ?? []).reduce((c, sg) => c + ofGraph(sg), 0), 0), 0);
  return ofGraph(model.graph);
}
