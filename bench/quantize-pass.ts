// `node dist/bench/quantize-pass.js [mobilenetv2.w8a8,minilm.int8,minilm.int4] [--reps 2] [--runs 21]`:
// models quantized by kiln's own pass (`--quantize`, calibrated on the same 8 seeded inputs as the
// onnxruntime-made fixtures), timed as bench/quantized.ts times those: kiln's build of the
// quantized graph (the ONNX export of the graph the quantize pass leaves, which kiln compiles to
// the same layers as `--quantize` does) against onnxruntime-web on that same file and against
// kiln's float32 build of the model. One JSON line per repetition.
import { quantizedRow } from "./quantized.js";
import { relaxedSimdAvailable } from "./peak.js";
import { runIfMain } from "../models/cli.js";
import { buildZooModel } from "../models/zoo.js";
import { CALIBRATION_SEEDS, quantInput } from "../models/quantize/sources.js";
import { compile } from "../compiler/driver/api.js";
import type { QuantizeMode } from "../compiler/driver/compile.js";
import { exportModel } from "../compiler/onnx/export.js";

const MODELS: Record<string, { model: string; input: string; shape: number[] }> = {
  mobilenetv2: { model: "mobilenetv2", input: "input", shape: [1, 3, 224, 224] },
  minilm: { model: "minilm", input: "hidden_states", shape: [1, 128, 384] },
};
const ALL = ["mobilenetv2.w8a8", "minilm.int8", "minilm.int4"];

const flag = (argv: string[], name: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : undefined; };

/** The float model and the ONNX export of kiln's quantized graph of it. */
async function quantizedByKiln(name: string, mode: QuantizeMode): Promise<{ float: Uint8Array; quantized: Uint8Array; input: string; shape: number[] }> {
  const m = MODELS[name];
  const float = buildZooModel(m.model);
  const calibrate = CALIBRATION_SEEDS.map((s) => ({ [m.input]: { dims: m.shape, data: quantInput(m.shape, s) } }));
  let quantized: Uint8Array | undefined;
  const pass = mode === "w8a8" ? "quantize-static" : "quantize-weights";
  await compile(float, { quantize: mode, calibrate, simd: "baseline", dump: { after: [pass], write: (g) => { quantized = exportModel(g, { producer: "kiln --quantize" }); } } });
  return { float, quantized: quantized!, input: m.input, shape: m.shape };
}

async function main(argv: string[]): Promise<number> {
  const ids = argv[0] && !argv[0].startsWith("--") ? argv[0].split(",") : ALL;
  const reps = Number(flag(argv, "reps") ?? 2), runs = Number(flag(argv, "runs") ?? 21);
  const relaxed = relaxedSimdAvailable();
  let ok = true;
  for (const id of ids) {
    const [name, mode] = id.split(".");
    if (!MODELS[name] || !["int8", "int4", "w8a8"].includes(mode)) { console.error(`no model ${id}; there are ${ALL.join(", ")}`); return 2; }
    const { float, quantized, input, shape } = await quantizedByKiln(name, mode as QuantizeMode);
    for (let r = 0; r < reps; r++) ok = (await quantizedRow(id, quantized, float, { [input]: shape }, runs, relaxed)) && ok;
  }
  return ok ? 0 : 1;
}

runIfMain(import.meta.url, main);
