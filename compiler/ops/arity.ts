// How many inputs each operator takes (the loosest bounds across opsets; rules check the rest
// through ShapeCtx.input). A node outside them is a malformed model, reported before any rule
// or kernel sees it.
const table: [ops: string, min: number, max: number][] = [
  ["Add Sub Mul Div Pow Mod Equal Less Greater LessOrEqual GreaterOrEqual And Or Xor BitwiseAnd BitwiseOr BitwiseXor BitShift PRelu MatMul CastLike Expand Tile Gather GatherElements GatherND CumSum CumProd RMSNormalization", 2, 2],
  ["Abs Neg Exp Log Sqrt Reciprocal Floor Ceil Round Sign Relu LeakyRelu Sigmoid Tanh HardSigmoid HardSwish Elu Selu Celu Erf Gelu Softplus Softsign ThresholdedRelu Shrink Mish Swish Sin Cos Tan Asin Acos Atan Sinh Cosh Asinh Acosh Atanh IsNaN IsInf Not BitwiseNot Identity Transpose Shape Size Flatten Softmax LogSoftmax Hardmax GlobalAveragePool GlobalMaxPool GlobalLpPool LRN LpNormalization MeanVarianceNormalization DepthToSpace SpaceToDepth EyeLike NonZero ArgMax ArgMin Cast ConstantOfShape MaxPool AveragePool LpPool", 1, 1],
  ["Sum Mean Max Min Concat", 1, Infinity],
  ["Where Range OneHot ScatterND ScatterElements Scatter InstanceNormalization GroupNormalization", 3, 3],
  ["Clip", 1, 3],
  ["Reshape", 1, 2],
  ["Squeeze Unsqueeze Split Trilu TopK Upsample", 1, 2],
  ["Slice", 1, 5],
  ["Pad", 1, 4],
  ["Gemm Conv ConvTranspose LayerNormalization", 2, 3],
  ["BatchNormalization", 5, 5],
  ["ReduceSum ReduceMean ReduceMax ReduceMin ReduceProd ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceSumSquare", 1, 2],
  ["Resize", 1, 4],
  ["Dropout", 1, 3],
  ["Constant", 0, 0],
];

const arity = new Map<string, [number, number]>();
for (const [ops, min, max] of table) for (const op of ops.split(" ")) arity.set(op, [min, max]);

/** [min, max] inputs of an ai.onnx operator, or undefined when kiln has no table entry. */
export function inputArity(domain: string, op: string): [number, number] | undefined {
  return domain === "" || domain === "ai.onnx" ? arity.get(op) : undefined;
}
