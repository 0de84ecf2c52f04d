// The newest opset of each domain whose operators kiln follows. A model importing a newer one is
// refused rather than run: a later opset may change what an operator means (opset 13 moved
// ReduceSum's axes to an input, 18 the other reductions'), and kiln cannot know which ops a
// future opset changes, so a newer import could run silently wrong. Raise an entry when kiln's
// definitions are checked against the new opset (its ONNX node tests pass).
export const NEWEST_OPSET: Readonly<Record<string, number>> = {
  "": 28,
  "ai.onnx.ml": 5,
};

/** onnxruntime's contrib operators' domain (MatMulNBits; QuantizeLinear/DequantizeLinear, version 1, with an axis at any ai.onnx opset). */
export const CONTRIB_DOMAIN = "com.microsoft";
/** The contrib ops kiln reads as the ai.onnx ops of the same name (compiler/onnx/import.ts) and writes where the graph's ai.onnx opset lacks them (export.ts). */
export const CONTRIB_QDQ: ReadonlySet<string> = new Set(["QuantizeLinear", "DequantizeLinear"]);

/** The domain as ONNX users write it: "" is ai.onnx. */
export const domainLabel = (domain: string) => (domain === "" ? "ai.onnx" : domain);
