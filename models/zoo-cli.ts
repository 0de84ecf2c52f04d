// Zoo models as `kiln test` folders, expected outputs from onnxruntime-node (a dev dependency):
//
//   node dist/models/zoo-cli.js <name|all> <outDir> [--seed N]
//       writes <outDir>/zoo_<name>/model.onnx and test_data_set_0 (seeded random input)
//
// Then: node bin/kiln.js test <outDir>/zoo_*
import * as path from "node:path";
import { runIfMain } from "./cli.js";
import { makeInput } from "../compiler/driver/cli/inputs.js";
import { graphInputs, writeReferenceTestData } from "./testdata.js";
import { buildZooModel, zooModels } from "./zoo.js";

/** Writes the zoo model's test-data folder; the input is seeded uniform [-1, 1). */
export async function writeZooFolder(name: string, outDir: string, seed = 42): Promise<void> {
  const model = buildZooModel(name, seed);
  const inputs = graphInputs(model).map((i, k) => ({ name: i.name, dtype: i.dtype, ...makeInput("random", i.dtype, i.dims, seed + k) }));
  await writeReferenceTestData(outDir, model, inputs);
}

async function main([which, out, ...rest]: string[]): Promise<number> {
  if (!which || !out || (which !== "all" && !zooModels.includes(which))) {
    console.error(`usage: zoo-cli.js <${[...zooModels, "all"].join("|")}> <outDir> [--seed N]`);
    return 2;
  }
  const at = rest.indexOf("--seed");
  for (const name of which === "all" ? zooModels : [which]) {
    const dir = path.join(out, `zoo_${name}`);
    await writeZooFolder(name, dir, at >= 0 ? Number(rest[at + 1]) : 42);
    console.log(`wrote ${dir}`);
  }
  return 0;
}

runIfMain(import.meta.url, main);
