// Light-model tools: turn the shared light CNNs (../shared/onnx/light) into `kiln test` folders.
//
//   node dist/models/light.js folder <light_X.onnx> <outDir>
//       the model unchanged, input arange(n)/n, expected output light_X_output_0.pb beside it
//   node dist/models/light.js seed <light_X.onnx> <outDir> [--seed N]
//       weights replaced by seeded random values (light-seed.ts), logits calibrated, input arange(n)/n,
//       expected output computed by onnxruntime-node (a dev dependency)
//
// <light_X.onnx> may also be a folder (e.g. ../shared/onnx/light): every light_*.onnx in it is
// written to <outDir>/light_X (folder) or <outDir>/seeded_X (seed).
//
// Then: node bin/kiln.js test <outDir>   (or <outDir>/* for a whole folder of models)
import * as fs from "node:fs";
import * as path from "node:path";
import { runIfMain } from "./cli.js";
import { readTensorFile } from "../compiler/driver/testdata.js";
import { calibrateLogits, seedLightModel } from "./light-seed.js";
import { arange, graphInputs, graphOutputNames, writeReferenceTestData, writeTestData, type NamedTensor } from "./testdata.js";

export const LIGHT_MODELS = ["bvlc_alexnet", "inception_v1", "resnet50", "shufflenet", "squeezenet"];

function arangeInputs(model: Uint8Array): NamedTensor[] {
  return graphInputs(model).map((i) => arange(i.name, i.dims));
}

/** The light model as shipped, with the ONNX runner's input and the shared expected output. */
export function writeLightFolder(lightOnnx: string, outDir: string): void {
  const model = new Uint8Array(fs.readFileSync(lightOnnx));
  const expected = readTensorFile(lightOnnx.replace(/\.onnx$/, "_output_0.pb"));
  writeTestData(outDir, model, arangeInputs(model), [{ name: graphOutputNames(model)[0], ...expected }]);
}

/** The light model with seeded weights; expected outputs from onnxruntime-node. */
export async function writeSeededFolder(lightOnnx: string, outDir: string, seed = 1): Promise<NamedTensor[]> {
  const seeded = seedLightModel(new Uint8Array(fs.readFileSync(lightOnnx)), seed);
  const inputs = arangeInputs(seeded);
  const model = await calibrateLogits(seeded, Object.fromEntries(inputs.map((t) => [t.name, t])));
  return writeReferenceTestData(outDir, model, inputs);
}

const USAGE = "usage: light.js folder <light.onnx> <outDir>\n       light.js seed <light.onnx> <outDir> [--seed N]";

/** (model file, output folder) pairs: the file itself, or every light_*.onnx in a folder. */
function jobs(model: string, out: string, prefix: string): [string, string][] {
  if (!fs.statSync(model).isDirectory()) return [[model, out]];
  return fs.readdirSync(model).filter((f) => /^light_.*\.onnx$/.test(f)).sort()
    .map((f) => [path.join(model, f), path.join(out, `${prefix}_${f.slice(6, -5)}`)]);
}

async function main(argv: string[]): Promise<number> {
  const [cmd, model, out, ...rest] = argv;
  if (!model || !out || (cmd !== "folder" && cmd !== "seed")) {
    console.error(USAGE);
    return 2;
  }
  const at = rest.indexOf("--seed");
  const seed = at >= 0 ? Number(rest[at + 1]) : 1;
  for (const [file, dir] of jobs(model, out, cmd === "folder" ? "light" : "seeded")) {
    if (cmd === "folder") {
      writeLightFolder(file, dir);
    } else {
      const outputs = await writeSeededFolder(file, dir, seed);
      console.log(`${path.basename(file)}: largest output value ${Math.max(...(outputs[0].data as Float32Array)).toFixed(4)}`);
    }
    console.log(`wrote ${path.join(dir, "model.onnx")} and ${path.join(dir, "test_data_set_0")}`);
  }
  return 0;
}

runIfMain(import.meta.url, main);
