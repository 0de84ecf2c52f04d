// The optimizing pipeline on whole models (issue 3's acceptance): IR dumps after every pass are
// valid ONNX that onnxruntime runs to the original outputs; ResNet-50 fuses to <= 60 layers with an
// arena within 10% of the lower bound; the light models pass at -O0 as well as at -O2.
import { afterAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { runCase } from "../compiler/driver/conformance.js";
import { compareTensors, readTensorFile } from "../compiler/driver/testdata.js";
import { LIGHT_MODELS, writeLightFolder, writeSeededFolder } from "../models/light.js";
import { runReference } from "../models/reference.js";
import { graphInputs } from "../models/testdata.js";
import { kiln } from "./util/cli.js";
import { lightModel, removeTempDirs, tempDir } from "./util/models.js";

const TIMEOUT = 240_000;
afterAll(removeTempDirs);

describe("dumps after every pass run in onnxruntime with the original outputs", () => {
  for (const name of ["squeezenet", "shufflenet"]) {
    it(name, async () => {
      const dir = path.join(tempDir("dumps"), name);
      await writeSeededFolder(lightModel(name), dir, 2);
      const dumps = path.join(dir, "dumps");
      const r = kiln(["compile", path.join(dir, "model.onnx"), "-o", path.join(dir, "m.wasm"), "--dump-after=all", "--dump-format", "text,dot,onnx", "--dump-dir", dumps]);
      expect(r.stderr).toBe("");
      const files = fs.readdirSync(dumps).sort();
      for (const ext of [".txt", ".dot", ".onnx"]) expect(files.filter((f) => f.endsWith(ext)).length, ext).toBeGreaterThanOrEqual(4);
      // the fused dump really contains fused groups, exported as functions
      expect(fs.readFileSync(path.join(dumps, files.find((f) => /-fuse-epilogue\.txt$/.test(f))!), "utf8")).toContain("kiln.fused::");

      const input = readTensorFile(path.join(dir, "test_data_set_0", "input_0.pb"));
      const want = readTensorFile(path.join(dir, "test_data_set_0", "output_0.pb"));
      for (const f of files.filter((f) => f.endsWith(".onnx"))) {
        const bytes = new Uint8Array(fs.readFileSync(path.join(dumps, f)));
        const [inputName] = graphInputs(bytes).map((i) => i.name);
        const got = Object.values(await runReference(bytes, { [inputName]: input }))[0];
        expect(compareTensors(got, want, { rtol: 1e-3, atol: 1e-4 }).message ?? "ok", f).toBe("ok");
      }
    }, TIMEOUT);
  }
});

describe("ResNet-50 compile report", () => {
  it("fuses to at most 60 layers, with an arena within 10% of the lower bound", () => {
    const dir = tempDir("report");
    const report = path.join(dir, "r.json");
    const r = kiln(["compile", lightModel("resnet50"), "-o", path.join(dir, "r.wasm"), "--report", report]);
    expect(r.stderr).toBe("");
    const rep = JSON.parse(fs.readFileSync(report, "utf8"));
    expect(rep.layers.length).toBeLessThanOrEqual(60);
    expect(rep.memory.arenaBytes).toBeLessThanOrEqual(1.1 * rep.memory.lowerBoundBytes);
    expect(rep.memory.arenaBytes).toBeLessThan(rep.memory.naiveBytes);
    expect(rep.nodes.after).toBeLessThan(rep.nodes.before);
  }, TIMEOUT);
});

describe("light models at -O0 (no passes)", () => {
  for (const name of LIGHT_MODELS) {
    it(name, async () => {
      const dir = path.join(tempDir("light-o0"), `light_${name}`);
      writeLightFolder(lightModel(name), dir);
      const r = await runCase(dir, { level: 0 });
      expect(`${r.status} ${r.message}`).toBe("passed ");
    }, TIMEOUT);
  }

  it("seeded ShuffleNet", async () => {
    const dir = path.join(tempDir("seeded-o0"), "seeded_shufflenet");
    await writeSeededFolder(lightModel("shufflenet"), dir, 1);
    const r = await runCase(dir, { level: 0 });
    expect(`${r.status} ${r.message}`).toBe("passed ");
  }, TIMEOUT);
});
