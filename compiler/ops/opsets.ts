// The newest opset of each domain whose operators kiln follows. A model importing a newer one is
// refused rather than run: a later opset may change what an operator means (opset 13 moved
// ReduceSum's axes to an input, 18 the other reductions'), and kiln cannot know which ops a
// future opset changes, so a newer import could run silently wrong. Raise an entry when kiln's
// definitions are checked against the new opset (its ONNX node tests pass).
export const NEWEST_OPSET: Readonly<Record<string, number>> = {
  "": 28,
  "ai.onnx.ml": 5,
};

/** The domain as ONNX users write it: "" is ai.onnx. */
export const domainLabel = (domain: string) => (domain === "" ? "ai.onnx" : domain);
