// onnxruntime-node as the reference for expected outputs. Tools and tests only: loaded lazily so
// nothing that merely imports models/ (the demo, a fresh clone without dev dependencies) needs it.
import type { DTypeName, TypedArray } from "../runtime/dtypes.js";
import type { Tensor } from "../compiler/ir/graph.js";

/** kiln's dtypes as onnxruntime's tensor types (float16 as Uint16Array codes in both) */
export const ORT_TYPES: Partial<Record<DTypeName, string>> = {
  float32: "float32", float64: "float64", int8: "int8", uint8: "uint8", int16: "int16", uint16: "uint16",
  int32: "int32", uint32: "uint32", int64: "int64", uint64: "uint64", bool: "bool", float16: "float16",
};

/** Runs the model in onnxruntime-node; feeds by input name, results by output name. */
export async function runReference(model: Uint8Array, feeds: Record<string, Tensor>, outputs?: string[]): Promise<Record<string, Tensor>> {
  const ort = await import("onnxruntime-node");
  const session = await ort.InferenceSession.create(model);
  try {
    const ortFeeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
    for (const [name, t] of Object.entries(feeds)) {
      const type = ORT_TYPES[t.dtype];
      if (!type) throw new Error(`reference runs do not handle ${t.dtype} inputs`);
      ortFeeds[name] = new ort.Tensor(type as "float32", t.data as Float32Array, t.dims);
    }
    const got = await session.run(ortFeeds, outputs ?? session.outputNames);
    const result: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(got)) {
      const dtype = (Object.keys(ORT_TYPES) as DTypeName[]).find((k) => ORT_TYPES[k] === t.type);
      if (!dtype) throw new Error(`reference output ${name} has type ${t.type}`);
      result[name] = { dtype, dims: [...t.dims], data: t.data as TypedArray };
    }
    return result;
  } finally {
    await session.release();
  }
}
