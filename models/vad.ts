// Silero VAD v5 as shipped in the npm package @ricky0123/vad-web (a dev dependency: tests and the
// benchmark use it, the product does not), and a seeded synthetic stream to run it on. The model
// takes 512-sample chunks at 16 kHz (input [1, 512]), its recurrent state ([2, 1, 128], fed back
// chunk to chunk) and the sample rate (sr, int64 scalar), on which it branches with If: the
// 8 kHz branch cannot run on 512 samples (onnxruntime fails it too), so kiln compiles the branch
// sr takes, sr frozen (load() does it at the first run; `kiln compile --freeze sr=16000` AOT).
import * as fs from "node:fs";
import * as path from "node:path";
import { createRequire } from "node:module";
import { onnx } from "../compiler/onnx/proto.js";

export const VAD_RATE = 16000;
export const VAD_CHUNK = 512;
export const VAD_STATE_DIMS = [2, 1, 128];
export const VAD_SHAPES = { input: [1, VAD_CHUNK], state: VAD_STATE_DIMS };

export function sileroVadPath(): string {
  const pkg = createRequire(import.meta.url).resolve("@ricky0123/vad-web/package.json");
  return path.join(path.dirname(pkg), "dist", "silero_vad_v5.onnx");
}

export function sileroVadBytes(): Uint8Array {
  return new Uint8Array(fs.readFileSync(sileroVadPath()));
}

/**
 * `seconds` of seeded audio at 16 kHz: stretches of faint noise between voiced stretches (a pitch
 * gliding 100-220 Hz with harmonics, shaped by two moving formants, syllable-rate amplitude), so
 * the probability the model gives moves over the stream rather than sitting at one value.
 */
export function syntheticSpeech(seconds: number, seed = 1): Float32Array {
  const n = Math.round(seconds * VAD_RATE);
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  const noise = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const t = i / VAD_RATE;
    const voiced = Math.sin(2 * Math.PI * t / 2.5 + seed) > -0.1; // ~55% of the time
    let x = 0.003 * noise();
    if (voiced) {
      const f0 = 160 + 60 * Math.sin(2 * Math.PI * 0.7 * t + seed);
      phase += (2 * Math.PI * f0) / VAD_RATE;
      const f1 = 500 + 300 * Math.sin(2 * Math.PI * 3.1 * t), f2 = 1500 + 600 * Math.sin(2 * Math.PI * 2.3 * t + 1);
      let v = 0;
      for (let h = 1; h <= 20; h++) {
        const fh = h * f0;
        const gain = Math.exp(-(((fh - f1) / 150) ** 2)) + 0.6 * Math.exp(-(((fh - f2) / 250) ** 2)) + 0.05;
        v += (gain / h) * Math.sin(h * phase);
      }
      const syllable = 0.5 + 0.5 * Math.sin(2 * Math.PI * 4 * t);
      x += 0.25 * syllable * v + 0.01 * noise();
    }
    out[i] = x;
  }
  return out;
}

/**
 * The model with sr an initializer of 16000 instead of an input (the bench's engines all get the
 * same file and random feeds for input and state; an app passes 16000 anyway).
 */
export function sileroVad16k(): Uint8Array {
  const model = onnx.ModelProto.decode(sileroVadBytes());
  const g = model.graph!;
  g.input = (g.input ?? []).filter((i) => i.name !== "sr");
  g.initializer = [...(g.initializer ?? []), { name: "sr", dataType: onnx.TensorProto.DataType.INT64, dims: [], int64Data: [VAD_RATE] }];
  return onnx.ModelProto.encode(model).finish();
}
