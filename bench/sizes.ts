// Artifact sizes against the models they come from (issue 16, done-criterion 3): for every model
// `npm run bench` runs, the default (compact) .wasm must be at most 1.05x the ONNX file's weight
// bytes plus its code, where code is everything in the .wasm but the weights image (both SIMD
// builds' code and the manifest). The --prepack artifact is listed beside it.
//   node dist/bench/sizes.js [--only name,name] [--json]
import { compile } from "../compiler/driver/api.js";
import { readArtifact } from "../compiler/driver/artifact-info.js";
import { runIfMain } from "../models/cli.js";
import { models } from "./run.js";
import { onnxWeightBytes } from "./onnx-weights.js";

// also exported here, where it was first (test/compact.test.ts reads it from this file)
export { onnxWeightBytes };

export interface SizeRow {
  model: string;
  onnxBytes: number;
  /** the model's constants as ONNX stores them (initializers and Constant nodes) */
  onnxWeightBytes: number;
  /** the compact .wasm: all of it, its weights image, the rest (code, relaxed code, manifest) */
  wasmBytes: number;
  storedBytes: number;
  codeBytes: number;
  /** what the module derives as it places the weights */
  derivedBytes: number;
  prepackBytes: number;
  /** wasmBytes / (onnxWeightBytes * 1.05 + codeBytes) <= 1 holds the criterion */
  withinBound: boolean;
}

export const SIZE_FACTOR = 1.05;

export async function sizeRow(model: string, bytes: Uint8Array, shapes?: Record<string, number[]>): Promise<SizeRow> {
  const compact = await compile(bytes, { shapes });
  const prepacked = await compile(bytes, { shapes, prepack: true });
  const { sizes } = readArtifact(compact.wasm);
  const derived = new Map(compact.manifest.layers.flatMap((l) => (l.derived ?? []).map(([at, b]) => [at, b] as const)));
  const weights = onnxWeightBytes(bytes);
  const code = compact.wasm.length - sizes.weights;
  return {
    model, onnxBytes: bytes.length, onnxWeightBytes: weights,
    wasmBytes: compact.wasm.length, storedBytes: sizes.weights, codeBytes: code,
    derivedBytes: [...derived.values()].reduce((a, b) => a + b, 0),
    prepackBytes: prepacked.wasm.length,
    withinBound: compact.wasm.length <= weights * SIZE_FACTOR + code,
  };
}

const mb = (n: number) => (n / 1e6).toFixed(2);

export function formatSizes(rows: readonly SizeRow[]): string {
  const head = "| model | ONNX file MB | ONNX weights MB | .wasm MB | stored weights MB | code MB | stored / ONNX weights | derived at load MB | --prepack .wasm MB | within 1.05x |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|";
  const line = (r: SizeRow) => `| ${r.model} | ${mb(r.onnxBytes)} | ${mb(r.onnxWeightBytes)} | ${mb(r.wasmBytes)} | ${mb(r.storedBytes)} | ${mb(r.codeBytes)} | ${(r.storedBytes / Math.max(1, r.onnxWeightBytes)).toFixed(3)} | ${mb(r.derivedBytes)} | ${mb(r.prepackBytes)} | ${r.withinBound ? "yes" : "NO"} |`;
  return [head, ...rows.map(line)].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const only = argv.includes("--only") ? argv[argv.indexOf("--only") + 1].split(",") : undefined;
  const rows: SizeRow[] = [];
  for (const m of models()) {
    if (only && !only.includes(m.name)) continue;
    try {
      rows.push(await sizeRow(m.name, await m.bytes(), m.shapes));
    } catch (e) {
      console.error(`${m.name}: ${(e as Error).message}`);
    }
  }
  console.log(argv.includes("--json") ? JSON.stringify(rows, null, 2) : formatSizes(rows));
  return rows.every((r) => r.withinBound) ? 0 : 1;
}

runIfMain(import.meta.url, main);
