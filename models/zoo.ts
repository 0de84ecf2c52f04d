// The model zoo: small, real architectures written in code with seeded weights, exported as ONNX.
// Each entry builds its graph with a ModelBuilder; add a model by adding a row to ZOO.
import type { Graph } from "../compiler/ir/graph.js";
import { exportModel } from "../compiler/onnx/export.js";
import { KilnError } from "../runtime/errors.js";
import { ModelBuilder } from "./builder.js";
import { batchNorm, conv, dense, gelu, layerNorm, linear, maxPool, pool, relu, relu6, selfAttention, softmaxOutput } from "./zoo-layers.js";

export interface ZooEntry {
  description: string;
  build(b: ModelBuilder): void;
}

const convBnRelu6 = (b: ModelBuilder, x: string, c: number, k: number, name: string, stride = 1, group = 1) =>
  relu6(b, batchNorm(b, conv(b, x, c, k, name, { stride, group }), `${name}.bn`), `${name}.relu6`);

/** MobileNetV2's inverted residual: 1x1 expand (none at ratio 1, as in the paper), 3x3 depthwise, 1x1 linear projection, skip if shapes allow. */
function invertedResidual(b: ModelBuilder, x: string, out: number, stride: number, expand: number, name: string): string {
  const c = b.shape(x)[1];
  const hidden = c * expand;
  let y = expand === 1 ? x : convBnRelu6(b, x, hidden, 1, `${name}.expand`);
  y = convBnRelu6(b, y, hidden, 3, `${name}.dw`, stride, hidden);
  y = batchNorm(b, conv(b, y, out, 1, `${name}.project`), `${name}.project.bn`);
  return stride === 1 && c === out ? b.node("Add", [x, y], b.shape(y), {}, `${name}.add`) : y;
}

/** (expand t, channels c, repeats n, first stride s): the table of the MobileNetV2 paper */
const MOBILENETV2_STAGES: [t: number, c: number, n: number, s: number][] = [
  [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
];

/** A post-norm BERT/MiniLM encoder layer: attention, add & norm, GELU feed-forward, add & norm. */
function encoderLayer(b: ModelBuilder, x: string, heads: number, ffn: number, name: string): string {
  const dims = b.shape(x);
  const attn = selfAttention(b, x, heads, `${name}.attention`);
  x = layerNorm(b, b.node("Add", [x, attn], dims, {}, `${name}.attention.residual`), `${name}.attention.norm`);
  const h = gelu(b, linear(b, x, ffn, `${name}.intermediate`), `${name}.gelu`);
  const y = linear(b, h, dims[dims.length - 1], `${name}.ffn_output`);
  return layerNorm(b, b.node("Add", [x, y], dims, {}, `${name}.ffn.residual`), `${name}.ffn.norm`);
}

export const ZOO: Record<string, ZooEntry> = {
  mlp: {
    description: "MLP 784-256-128-10 (Gemm, MatMul+Add, Relu, Softmax)",
    build(b) {
      let x = b.input("input", [1, 784]);
      x = relu(b, dense(b, x, 256, "fc1"), "relu1");
      x = relu(b, linear(b, x, 128, "fc2"), "relu2");
      softmaxOutput(b, dense(b, x, 10, "fc3"));
    },
  },
  cnn: {
    description: "CNN 3x32x32 -> 2x(Conv+BN+Relu+MaxPool) -> GlobalAveragePool -> Gemm -> Softmax, 10 classes",
    build(b) {
      let x = b.input("input", [1, 3, 32, 32]);
      for (const [i, c] of [16, 32].entries()) {
        const name = `block${i + 1}`;
        x = maxPool(b, relu(b, batchNorm(b, conv(b, x, c, 3, `${name}.conv`), `${name}.bn`), `${name}.relu`), 2, `${name}.pool`);
      }
      softmaxOutput(b, dense(b, pool(b, x), 10, "fc"));
    },
  },
  mobilenetv2: {
    description: "MobileNetV2 1.0, 3x224x224, 1000 classes (depthwise Conv, Clip as ReLU6, residual Add)",
    build(b) {
      let x = convBnRelu6(b, b.input("input", [1, 3, 224, 224]), 32, 3, "stem", 2);
      MOBILENETV2_STAGES.forEach(([t, c, n, s], stage) => {
        for (let i = 0; i < n; i++) x = invertedResidual(b, x, c, i === 0 ? s : 1, t, `stage${stage + 1}.block${i + 1}`);
      });
      x = convBnRelu6(b, x, 1280, 1, "head");
      softmaxOutput(b, dense(b, pool(b, x), 1000, "classifier"));
    },
  },
  minilm: {
    description: "MiniLM-L6-like encoder: 6 post-norm layers, hidden 384, 12 heads, FFN 1536, erf GELU, sequence 128",
    build(b) {
      let x = b.input("hidden_states", [1, 128, 384]);
      for (let i = 0; i < 6; i++) x = encoderLayer(b, x, 12, 1536, `layer${i}`);
      b.output(x);
    },
  },
  mobilenet: {
    description: "MobileNetV2-like 3x64x64: stem, 4 inverted residuals (depthwise Conv, Clip as ReLU6, Add), 1x1 head, Gemm, Softmax",
    build(b) {
      let x = b.input("input", [1, 3, 64, 64]);
      x = convBnRelu6(b, x, 16, 3, "stem", 2);
      const blocks: [out: number, stride: number][] = [[16, 1], [24, 2], [24, 1], [32, 2]];
      blocks.forEach(([out, stride], i) => (x = invertedResidual(b, x, out, stride, 4, `block${i + 1}`)));
      x = relu6(b, batchNorm(b, conv(b, x, 128, 1, "head"), "head.bn"), "head.relu6");
      softmaxOutput(b, dense(b, pool(b, x), 10, "classifier"));
    },
  },
  encoder: {
    description: "MiniLM-like encoder: 2 post-norm layers, hidden 64, 4 heads, FFN 256 with erf GELU, sequence 16",
    build(b) {
      let x = b.input("hidden_states", [1, 16, 64]);
      for (let i = 0; i < 2; i++) x = encoderLayer(b, x, 4, 256, `layer${i}`);
      b.output(x);
    },
  },
};

export const zooModels: string[] = Object.keys(ZOO);

export function buildZooGraph(name: string, seed = 42): Graph {
  const entry = ZOO[name];
  if (!entry) throw new KilnError("BAD_INPUT", `no zoo model ${JSON.stringify(name)}; the zoo has ${zooModels.join(", ")}`);
  const b = new ModelBuilder(seed);
  entry.build(b);
  return b.graph;
}

/** The zoo model as ONNX bytes, weights seeded (same seed, same bytes). */
export function buildZooModel(name: string, seed = 42): Uint8Array {
  return exportModel(buildZooGraph(name, seed), { producer: "kiln-zoo" });
}

/** The zoo's encoders (the rows of ZOO built from encoderLayer), whose sequence dim symbolicSeq can name. */
export const SEQUENCE_MODELS = ["minilm", "encoder"];

/**
 * A zoo encoder with its sequence dim symbolic, as an exporter with dynamic axes writes it: input
 * and output [1, dim, hidden], the attention's head reshapes [1, -1, heads, head size] (their
 * target shapes are the builder's `*.split_shape` and `*.merge_shape` constants), no value_info
 * for the intermediates. The same seeded weights as buildZooModel's: pinned at the zoo's length it
 * computes the same.
 */
export function symbolicSeqModel(name: string, dim = "seq", seed = 42): Uint8Array {
  if (!SEQUENCE_MODELS.includes(name)) throw new KilnError("BAD_INPUT", `zoo model ${JSON.stringify(name)} has no sequence dim; those with one are ${SEQUENCE_MODELS.join(", ")}`);
  const g = buildZooGraph(name, seed);
  for (const v of g.values.values()) if (v.const && /\.(split|merge)_shape$/.test(v.name)) (v.const.data as BigInt64Array)[1] = -1n;
  for (const n of [...g.inputs, ...g.outputs]) {
    const v = g.values.get(n)!;
    v.shape = v.shape!.map((d, k) => (k === 1 ? dim : d));
  }
  return exportModel(g, { producer: "kiln-zoo", valueInfo: false });
}
