// Vision, audio-side and multimodal models exported from Hugging Face transformers
// (models/transformers/export.py: seeded weights, torch.onnx with dynamic axes), compiled once for
// a bounded batch (and sequence) and run at several shapes against onnxruntime-node, the arena
// poisoned with NaN before each run. Each exercises layers the text models do not: CLIP's text
// pooler (ArgMax of the ids over [batch, seq]), SpeechT5's relative positions (an Einsum over the
// sequence as a batch dim), SegFormer's decode head (Resize to sizes built from the dims),
// MobileNetV2's TensorFlow padding (explicit Pad before strided convolutions), EfficientNet's
// pooler (AvgPool2d(320, ceil_mode=True) over a 2x2 plane), SAM's point embedding (a ScatterND whose
// index grid is built from three varying dims), SAM's two-way attention (head shapes built from the
// dims that coincide at one of kiln's probes).
import * as fs from "node:fs";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { load } from "../compiler/driver/api.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { seededTokens, transformerPath, type TransformerFixture } from "../models/transformers.js";
import { ortStep } from "../bench/generate.js";
import { poisoner } from "./util/poison.js";

const TIMEOUT = 120_000;

const tokens = (name: string, batch: number, seq: number, vocab: number): Record<string, Tensor> => ({
  [name]: { dtype: "int64", dims: [batch, seq], data: seededTokens(batch * seq, 7 * batch + seq, vocab) },
  // later rows padded at their ends, as a batch of unequal sentences
  attention_mask: { dtype: "int64", dims: [batch, seq], data: BigInt64Array.from({ length: batch * seq }, (_, i) => (Math.floor(i / seq) > 0 && i % seq >= Math.max(1, seq - 2 * Math.floor(i / seq)) ? 0n : 1n)) },
});
const pixels = (batch: number, H = 64, W = 64): Record<string, Tensor> => ({
  pixel_values: { dtype: "float32", dims: [batch, 3, H, W], data: Float32Array.from({ length: batch * 3 * H * W }, (_, i) => Math.sin(i * 0.013 + batch) * 1.5) },
});

// points in pixels of SAM's 1024 x 640 image, [batch, point_batch, points, 2]
const points = (batch: number, pointBatch: number, n: number): Record<string, Tensor> => ({
  input_points: { dtype: "float32", dims: [batch, pointBatch, n, 2], data: Float32Array.from({ length: batch * pointBatch * n * 2 }, (_, i) => (i % 2 ? 640 : 1024) * (0.5 + 0.45 * Math.sin(i * 1.7 + batch))) },
});

const twoWay = (batch: number, n: number): Record<string, Tensor> => ({
  points: { dtype: "float32", dims: [batch, n, 16], data: Float32Array.from({ length: batch * n * 16 }, (_, i) => Math.sin(i * 0.7 + n)) },
  image: { dtype: "float32", dims: [batch, 16, 4, 4], data: Float32Array.from({ length: batch * 256 }, (_, i) => Math.cos(i * 0.3 + batch)) },
});

const CASES: [TransformerFixture, string, Record<string, readonly number[] | number>, Record<string, Tensor>[]][] = [
  ["clip_text", "the pooler's ArgMax of the ids over [batch, seq]", { batch: [1, 3], seq: [1, 77] }, [tokens("input_ids", 3, 77, 1000), tokens("input_ids", 1, 1, 1000), tokens("input_ids", 2, 9, 1000)]],
  ["speecht5_encoder", "relative positions: an Einsum with the sequence as a batch dim", { batch: [1, 3], seq: [1, 64] }, [tokens("input_values", 3, 64, 100), tokens("input_values", 1, 1, 100), tokens("input_values", 2, 17, 100)]],
  ["segformer", "the decode head's Resize to sizes built from the dims", { batch: [1, 3] }, [pixels(3), pixels(1), pixels(2)]],
  ["mobilenet_v2", "TensorFlow padding: an explicit Pad before each strided convolution", { batch: [1, 3] }, [pixels(3), pixels(1), pixels(2)]],
  ["efficientnet", "the pooler: AvgPool2d(320, ceil_mode=True) over a 2x2 plane", { batch: [1, 3] }, [pixels(3), pixels(1), pixels(2)]],
  // images of varying size: exported with height and width dynamic (the channels-last regions
  // stand aside; the pooler's one window covers the plane at every size)
  ["mobilenet_v2_hw", "images 32..128 on both sides in steps of 32", { batch: 1, height: [32, 128, 32], width: [32, 128, 32] }, [pixels(1, 32, 32), pixels(1, 128, 128), pixels(1, 64, 96)]],
  ["efficientnet_hw", "images 32..128 on both sides in steps of 32, the pooler's window past every one", { batch: 1, height: [32, 128, 32], width: [32, 128, 32] }, [pixels(1, 32, 32), pixels(1, 128, 128), pixels(1, 96, 64)]],
  ["sam_points", "SAM's coords[..., 0] /= width: a ScatterND over an index grid built from three dims", { batch: [1, 3], point_batch: [1, 2], points: [1, 5] },
    [points(3, 2, 5), points(1, 1, 1), points(2, 1, 3), points(1, 2, 4)]],
  ["sam_two_way", "SAM's two-way attention: the probes meet points where two head shapes coincide (10 + 6 tokens = 16), and CSE merges them there", { batch: [1, 2], npts: [1, 5] },
    [twoWay(2, 5), twoWay(1, 1), twoWay(2, 3)]],
];

describe("Hugging Face vision and speech encoders under bounds, one module each", () => {
  for (const [name, what, shapes, runs] of CASES) {
    it(`${name} (${what}): each shape as onnxruntime-node's`, async () => {
      const reference = await ortStep(ort, new Uint8Array(fs.readFileSync(transformerPath(name))), {});
      const model = await load(transformerPath(name), { shapes });
      const poison = poisoner(model);
      for (const feeds of runs) {
        poison();
        const got = await model.run(feeds), want = await reference(feeds);
        const at = Object.values(feeds)[0].dims.join("x");
        for (const [k, w] of Object.entries(want)) {
          // outputs of a meaningful size (a random model's may vanish: such a test could not fail)
          expect(Math.max(...Array.from(w.data as Float32Array, Math.abs)), `${k} at ${at}`).toBeGreaterThan(0.1);
          expect(got[k].dims, `${k} at ${at}`).toEqual(w.dims);
          expect(compareTensors(got[k], w, { rtol: 1e-3, atol: 1e-4 }).message ?? "ok", `${name} ${k} at ${at}`).toBe("ok");
        }
      }
      expect(model.modulesCompiled).toBe(1);
    }, TIMEOUT);
  }
});
