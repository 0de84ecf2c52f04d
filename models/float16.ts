// Half-precision twins of float32 models, made as users make them: onnxconverter-common's
// convert_float_to_float16 (keep_io_types=False), which transformers.js's fp16 exports go through.
// It turns every float32 tensor of the graph into float16: initializers and Constant values rounded
// to nearest even, the element type of inputs, outputs and value_info, and the float32 targets of
// Cast and of dtype attributes. (Its op block list keeps some ops in float32 behind Casts; none of the
// models kiln converts uses one.) PyPI's onnxconverter-common is not reachable here, so this is its
// conversion written again; onnxruntime-node runs the result as the reference.
import { onnx, type NodeProto, type TensorProto } from "../compiler/onnx/proto.js";
import { decodeTensor, encodeTensor } from "../compiler/onnx/tensor.js";
import { encodeElements } from "../runtime/lowbit.js";

const FLOAT = 1;
const FLOAT16 = 10;
/** attributes that name an output element type */
const TYPE_ATTRS = new Set(["to", "dtype", "output_datatype"]);

type GraphMessage = import("onnx-proto").onnx.GraphProto;
type ValueInfo = import("onnx-proto").onnx.IValueInfoProto;

function halfTensor(t: TensorProto): TensorProto {
  if (t.dataType !== FLOAT) return t;
  const f = decodeTensor(t);
  return encodeTensor(t.name ?? "", { dtype: "float16", dims: f.dims, data: encodeElements("float16", f.data as Float32Array) });
}

function halfType(v: ValueInfo): void {
  const tt = v.type?.tensorType;
  if (tt?.elemType === FLOAT) tt.elemType = FLOAT16;
}

function halfNode(n: NodeProto): void {
  for (const a of n.attribute ?? []) {
    if (TYPE_ATTRS.has(a.name ?? "") && Number(a.i) === FLOAT) a.i = FLOAT16;
    if (a.t) a.t = halfTensor(a.t);
    if (a.g) halfGraph(a.g as GraphMessage);
    for (const g of a.graphs ?? []) halfGraph(g as GraphMessage);
  }
}

function halfGraph(g: GraphMessage): void {
  g.initializer = (g.initializer ?? []).map(halfTensor) as typeof g.initializer;
  for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])]) halfType(v);
  for (const n of g.node ?? []) halfNode(n);
}

/** The float16 twin of an ONNX model (see the header). */
export function toFloat16(model: Uint8Array): Uint8Array {
  const m = onnx.ModelProto.decode(model);
  halfGraph(m.graph as GraphMessage);
  return onnx.ModelProto.encode(m).finish();
}
