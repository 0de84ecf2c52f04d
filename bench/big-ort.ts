// onnxruntime-node's answer for the big model (bench/big-model.ts), in its own process: its
// memory (it loads every weight) is not counted with kiln's. argv: model, input.bin, output.bin.
import * as fs from "node:fs";

const [model, input, output] = process.argv.slice(2);
const ort = await import("onnxruntime-node");
const session = await ort.InferenceSession.create(model);
const x = new Float32Array(new Uint8Array(fs.readFileSync(input)).buffer);
const out = await session.run({ x: new ort.Tensor("float32", x, [1, x.length]) });
const y = out.y.data as Float32Array;
fs.writeFileSync(output, new Uint8Array(y.buffer, y.byteOffset, y.byteLength));
