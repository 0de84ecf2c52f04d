// Helpers for whole-model tests: temp folders, seeded feeds for zoo models, kiln vs reference runs.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "vitest";
import { load } from "../../compiler/driver/api.js";
import { makeInput } from "../../compiler/driver/cli/inputs.js";
import type { Tensor } from "../../compiler/ir/graph.js";
import { compareTensors, type Tolerance } from "../../compiler/driver/testdata.js";
import { runReference } from "../../models/reference.js";
import { graphInputs } from "../../models/testdata.js";

export const LIGHT_DIR = path.resolve(import.meta.dirname, "../../../shared/onnx/light");

export const lightModel = (name: string) => path.join(LIGHT_DIR, `light_${name}.onnx`);

const made: string[] = [];

/** A fresh temp folder, removed by removeTempDirs (call it from afterAll). */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kiln-${prefix}-`));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Seeded uniform [-1, 1) feeds for every graph input, at its declared shape. */
export function randomFeeds(model: Uint8Array, seed = 3): Record<string, Tensor> {
  return Object.fromEntries(graphInputs(model).map((i, k) => [i.name, { dtype: i.dtype, ...makeInput("random", i.dtype, i.dims, seed + k) }]));
}

/** Expect every output of `got` to match `want` within tol, naming the output on failure. */
export function expectOutputsMatch(got: Record<string, Tensor>, want: Record<string, Tensor>, tol: Tolerance, what: string): void {
  expect(Object.keys(got).sort(), `${what} output names`).toEqual(Object.keys(want).sort());
  for (const [name, w] of Object.entries(want)) {
    expect(compareTensors(got[name], w, tol).message ?? "ok", `${what} output ${name}`).toBe("ok");
  }
}

/** Runs the ONNX model in kiln (JIT) and in onnxruntime-node on the same feeds. */
export async function kilnAndReference(model: Uint8Array, feeds: Record<string, Tensor>): Promise<{ got: Record<string, Tensor>; want: Record<string, Tensor> }> {
  const want = await runReference(model, feeds);
  const kiln = await load(model);
  const got = await kiln.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
  return { got, want };
}
