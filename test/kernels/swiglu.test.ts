// SwiGLU (opset 28) against the ONNX reference evaluator's outputs (onnxruntime-node 1.30 does not
// run it): the swiglu_* cases test/fixtures/reference/make_fixtures.py wrote, at -O2 (fused loops) and -O0.
// The tolerance follows the case's dtype: the reference rounds float16 and bfloat16 after every
// step, where kiln computes in float32 and rounds once.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { runCase } from "../../compiler/driver/conformance.js";
import type { Tolerance } from "../../compiler/driver/testdata.js";
import { runModel, zeroFeeds, type ModelSpec } from "../util/lowbit.js";
import { expectKilnError } from "../util/errors.js";

const CASES = path.resolve(import.meta.dirname, "../fixtures/reference/cases");

const TOLERANCE: [RegExp, Tolerance][] = [
  [/^swiglu_float32/, { rtol: 1e-5, atol: 1e-7 }],
  [/^swiglu_float64/, { rtol: 1e-12, atol: 1e-300 }],
  [/^swiglu_float16/, { rtol: 2e-3, atol: 1e-4 }],
  [/^swiglu_bfloat16/, { rtol: 2e-2, atol: 1e-3 }],
];

describe("SwiGLU against the ONNX reference", () => {
  const cases = fs.readdirSync(CASES).filter((c) => c.startsWith("swiglu_")).sort();
  it(`has the reference cases (${cases.length})`, () => expect(cases.length).toBeGreaterThanOrEqual(11));
  for (const level of [2, 0] as const) {
    for (const c of cases) {
      it(`${c} at -O${level}`, async () => {
        const tolerance = TOLERANCE.find(([re]) => re.test(c))![1];
        const r = await runCase(path.join(CASES, c), { level, tolerance });
        expect(`${r.status} ${r.message}`).toBe("passed ");
      });
    }
  }
});

describe("SwiGLU's refusals", () => {
  it("names the node for inputs that differ in shape or type", async () => {
    const fails = (spec: ModelSpec, code: string, message: RegExp) => expectKilnError(runModel(spec, zeroFeeds(spec)), code, message, /node "n0"/);
    const node = { op: "SwiGLU", inputs: ["a", "b"], outputs: ["y"] };
    await fails({ opset: 28, inputs: [{ name: "a", dtype: "float32", dims: [2, 4] }, { name: "b", dtype: "float32", dims: [1, 4] }], nodes: [node], outputs: ["y"] },
      "SHAPE_MISMATCH", /A \[2,4\] and B \[1,4\] must have the same shape \(SwiGLU does not broadcast\)/);
    await fails({ opset: 28, inputs: [{ name: "a", dtype: "float32", dims: [4] }, { name: "b", dtype: "float64", dims: [4] }], nodes: [node], outputs: ["y"] },
      "INVALID_MODEL", /A and B types differ: float32, float64/);
    await fails({ opset: 28, inputs: [{ name: "a", dtype: "int32", dims: [4] }, { name: "b", dtype: "int32", dims: [4] }], nodes: [node], outputs: ["y"] },
      "UNSUPPORTED_OP", /input 0 has type int32/);
  });
});
