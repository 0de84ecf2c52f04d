// Det against onnxruntime-node (float32, float16) on random, batched, 1x1, 0x0, singular,
// near-singular and non-finite matrices, and against the ONNX reference evaluator (numpy's LAPACK
// determinant) for float64, which onnxruntime does not run. kiln eliminates in float64, onnxruntime
// in float32: the error allowed is relative to Hadamard's bound (the product of the rows' norms,
// the determinant's natural scale), not to the determinant, which cancellation makes tiny.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { runCase } from "../../compiler/driver/conformance.js";
import type { Tensor } from "../../compiler/ir/graph.js";
import { encodeElements, decodeElements } from "../../runtime/lowbit.js";
import { buildCase, runKiln, runOrt, type OpCase, type TensorSpec } from "../util/ort.js";
import { expectKilnError } from "../util/errors.js";
import { halfToNumber } from "../../compiler/ir/values.js";

const CASES = path.resolve(import.meta.dirname, "../fixtures/reference/cases");

/** Hadamard's bound of each matrix of x ([..., n, n], its values) */
function hadamard(x: Tensor, values: number[]): number[] {
  const n = x.dims.at(-1)!;
  const count = x.dims.slice(0, -2).reduce((a, b) => a * b, 1);
  return Array.from({ length: count }, (_, b) => {
    let bound = 1;
    for (let i = 0; i < n; i++) bound *= Math.hypot(...values.slice((b * n + i) * n, (b * n + i + 1) * n));
    return bound;
  });
}

const numbers = (t: Tensor): number[] =>
  t.dtype === "float16" ? Array.from(t.data as Uint16Array, halfToNumber) : t.dtype === "bfloat16" ? decodeElements("bfloat16", t.data, t.data.length) : Array.from(t.data as Float32Array);

/** kiln's determinants against onnxruntime's, within rel * Hadamard's bound (NaN where it has NaN) */
async function expectDets(x: TensorSpec, rel: number, seed = 1): Promise<void> {
  const c: OpCase = { op: "Det", opset: 22, inputs: [x], seed };
  const { bytes, feeds } = buildCase(c);
  const want = numbers((await runOrt(bytes, feeds)).out0);
  const got = (await runKiln(bytes, feeds)).out0;
  expect(got.dims).toEqual(x.dims.slice(0, -2));
  const bounds = hadamard(feeds.in0, numbers(feeds.in0));
  numbers(got).forEach((g, k) => {
    if (Number.isNaN(want[k])) expect(g, `matrix ${k}`).toBeNaN();
    else expect(Math.abs(g - want[k]), `matrix ${k}: ${g} vs ${want[k]} (bound ${bounds[k]})`).toBeLessThanOrEqual(rel * bounds[k]);
  });
}

const f32 = (dims: number[], data?: number[], lo = -2, hi = 2): TensorSpec => ({ dims, data, lo, hi });

describe("Det vs onnxruntime", () => {
  it("random matrices: 2x2 to 12x12, batched over one and two axes", async () => {
    for (const n of [2, 3, 4, 5, 7, 12]) await expectDets(f32([n, n]), 1e-6, n);
    await expectDets(f32([3, 4, 4]), 1e-6);
    await expectDets(f32([2, 3, 6, 6]), 1e-6);
  });
  it("1x1 (the element itself), 0x0 (1), no matrices", async () => {
    await expectDets(f32([5, 1, 1]), 0);
    await expectDets(f32([3, 0, 0]), 0);
    await expectDets(f32([0, 3, 3]), 0);
  });
  it("singular: a zero column, equal rows, a row the sum of two others; exact zeros", async () => {
    await expectDets(f32([4, 3, 3], [
      0, 1, 2, 0, 3, 4, 0, 5, 6, // zero column
      1, 2, 3, 1, 2, 3, 4, 5, 7, // equal rows
      1, 2, 3, 4, 5, 6, 5, 7, 9, // row 2 = row 0 + row 1
      0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]), 1e-6);
  });
  it("near-singular: a rank-deficient product perturbed, and pivoting that must swap rows", async () => {
    // rows 0 and 1 differ by 1e-4; the leading element is 0, so a pivot-free elimination divides by 0
    await expectDets(f32([3, 3], [0, 1, 2, 1, 1, 1, 1, 1.0001, 1]), 1e-6);
    await expectDets(f32([4, 4], [1e-7, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5.0001, 3, 5, 7, 9]), 1e-6);
    await expectDets(f32([2, 8, 8], undefined, -1e3, 1e3), 1e-6);
  });
  it("NaN and infinity give NaN (onnxruntime's partial-pivoting LU too)", async () => {
    await expectDets(f32([2, 3, 3], [NaN, 1, 2, 0, 0, 0, 1, 1, 1, 0, 1, 2, 0, 3, 4, 0, Infinity, 1]), 0);
  });
  it("float16 (computed in float32, rounded once)", async () => {
    await expectDets({ dtype: "float16", dims: [3, 4, 4], lo: -2, hi: 2 }, 2e-3);
  });
});

describe("Det of the types onnxruntime does not run", () => {
  const cases = fs.readdirSync(CASES).filter((c) => c.startsWith("det_")).sort();
  it(`has the float64 reference cases (${cases.length})`, () => expect(cases.length).toBeGreaterThanOrEqual(6));
  for (const level of [2, 0] as const) {
    for (const c of cases) {
      it(`${c} at -O${level} (the ONNX reference)`, async () => {
        const r = await runCase(path.join(CASES, c), { level, tolerance: { rtol: 1e-9, atol: 1e-12 } });
        expect(`${r.status} ${r.message}`).toBe("passed ");
      });
    }
  }

  it("bfloat16: onnxruntime's float32 determinant of the same values, rounded to bfloat16", async () => {
    const vals = Array.from({ length: 2 * 9 }, (_, i) => decodeElements("bfloat16", encodeElements("bfloat16", [Math.sin(i * 1.7) * 2]), 1)[0]);
    const want = numbers((await runOrt(buildCase({ op: "Det", opset: 22, inputs: [f32([2, 3, 3], vals)] }).bytes, { in0: { dtype: "float32", dims: [2, 3, 3], data: Float32Array.from(vals) } })).out0);
    const { bytes, feeds } = buildCase({ op: "Det", opset: 22, inputs: [{ dtype: "bfloat16", dims: [2, 3, 3], data: vals }] });
    const got = numbers((await runKiln(bytes, feeds)).out0);
    got.forEach((g, k) => expect(Math.abs(g - want[k]), `${g} vs ${want[k]}`).toBeLessThanOrEqual(Math.abs(want[k]) * 2 ** -8 + 1e-6));
  });
});

describe("Det's refusals", () => {
  it("names the node for a matrix that is not square, and a rank under 2", async () => {
    const fails = (dims: number[], message: RegExp) => {
      const { bytes, feeds } = buildCase({ op: "Det", opset: 22, inputs: [f32(dims)] });
      return expectKilnError(runKiln(bytes, feeds), "SHAPE_MISMATCH", message, /node "node"/);
    };
    await fails([2, 3, 4], /Det takes square matrices, not 3x4/);
    await fails([5], /Det takes matrices \[\.\.\., M, M\], not rank 1/);
  });
});
