// The minimal graphs of the bugs the property test (test/property.test.ts) found, each run in
// kiln at -O0 and -O2 against onnxruntime-node.
import { describe, expect, it } from "vitest";
import { compile } from "../../compiler/driver/api.js";
import { parseGraph } from "../../compiler/ir/parse.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { KilnError } from "../../runtime/errors.js";
import { expectIrMatchesOrt, runIr } from "./replay.js";
import { LEVELS } from "./run.js";

const HEADER = `kiln.graph opsets("" = 18)\n`;
const BIG = 3.4028234663852886e38;

describe("property test regressions", () => {
  it("BatchNormalization of a value near the float32 limit stays finite when the result is", () => expectIrMatchesOrt(HEADER + `
input %x : float32[1,2,3]
const %scale : float32[2] = dense<[-0.59375, 0.5]>
const %bias : float32[2] = dense<[0.25, -1]>
const %mean : float32[2] = dense<[-0.390625, 0.5]>
const %var : float32[2] = dense<[0.640625, 1.5]>
%y : float32[1,2,3] = BatchNormalization(%x, %scale, %bias, %mean, %var)
output %y`, { x: [-BIG, BIG, 1, -BIG, BIG, -0.5] }));

  it("LpNormalization of a vector whose squares underflow (subnormals) gives zeros, like a zero vector", () => expectIrMatchesOrt(HEADER + `
input %x : float32[4,2]
%y : float32[4,2] = LpNormalization[axis=1](%x)
%z : float32[4,2] = LpNormalization[axis=1, p=1](%x)
output %y
output %z`, { x: [-9.27e-41, 1e-45, 0, 0, 3, -4, 1e-40, 0] }));

  it("Slice with a negative step clamps a start before the first element to it (a 1-element result, not empty)", () => expectIrMatchesOrt(HEADER + `
input %x : float32[1,3,2]
const %starts : int64[3] = dense<[-2, -5, -9]>
const %ends : int64[3] = dense<[-2, -9, -9]>
const %axes : int64[3] = dense<[0, 1, 2]>
const %steps : int64[3] = dense<[-1, -1, -2]>
%y : float32[1,1,1] = Slice(%x, %starts, %ends, %axes, %steps)
output %y`, { x: [1, 2, 3, 4, 5, 6] }));


  it("LogSoftmax keeps its precision next to a large maximum ((x - max) - log(sum), not x - (max + log(sum)))", () => expectIrMatchesOrt(HEADER + `
input %x : float32[2,8]
%y : float32[2,8] = LogSoftmax(%x)
output %y`, { x: [0.76, 65504, 65504, -BIG, 1.38, -0.17, -1, -0.06, 1000.5, 1000.25, 999, -3, 0, 1000.5, 7, 1] }));


  // onnxruntime's Mean output is NaN for some rows with -inf and -inf for others: numpy's mean
  // (the reference) is -inf, inf and NaN for these rows
  it("LayerNormalization's Mean output of a row starting with an infinity is that infinity, not NaN", async () => {
    for (const level of LEVELS) {
      const out = await runIr(HEADER + `
input %x : float32[3,5]
const %scale : float32[5] = dense<[1, 0.5, -1, 2, 1]>
%y : float32[3,5], %mean : float32[3,1], %inv : float32[3,1] = LayerNormalization[axis=1](%x, %scale)
output %y
output %mean`, { x: [-Infinity, -1.4, 0.18, -Infinity, 0.6, Infinity, 1, 2, 3, 4, NaN, 1, 2, 3, 4] }, level);
      expect(Array.from(out.mean.data as Float32Array), `-O${level}`).toEqual([-Infinity, Infinity, NaN]);
    }
  });

  // the weights regions merged a weights piece with a kernel constant one aligned slot further,
  // covering the 16-byte Gemm output between them: the manifest check refused the module
  // (INVALID_ARTIFACT, "outputs[0] overlaps the weights"), here in constant folding at -O0
  it("a small output between the weights and a kernel's packed constant is not taken for weights", () => expectIrMatchesOrt(HEADER + `
input %x : float32[]
const %a : float32[1,1] = dense<[-0.9375]>
const %b : float32[1,4] = dense<[-1, -0.546875, -0.703125, -0.0625]>
const %c : float32[1,4] = dense<[0.09375, 0.234375, 0.296875, -0.09375]>
%y : float32[] = Abs(%x)
%g : float32[1,4] = Gemm(%a, %b, %c)
%z : float32[1,4] = Abs(%g)
output %y
output %z`, { x: [-0.9342831373214722] }));

  // folding BatchNormalization into a Gemm reshaped its bias C to [channels]: a scalar C failed
  // to compile (SHAPE_MISMATCH, "cannot reshape [] to [4]"), and a column C [M, 1] with M = N was
  // taken per channel instead of per row (a wrong answer at -O2)
  it("BatchNormalization after a Gemm whose bias is a scalar, or a column as long as a row", async () => {
    const bn = `const %scale : float32[4] = dense<[0.09375, 0.234375, 0.296875, -0.09375]>
const %bias : float32[4] = dense<[0.15625, -0.5, -0.796875, 0.8125]>
const %mean : float32[4] = dense<[-0.1875, 0.4375, 0.3125, 0.609375]>
const %var : float32[4] = dense<[1.34375, 1.25, 0.46875, 0.671875]>`;
    await expectIrMatchesOrt(HEADER + `
input %x : float32[1,1]
const %w : float32[1,4] = dense<[-0.46875, -1, -0.546875, -0.703125]>
const %c : float32[] = dense<[-0.0625]>
${bn}
%g : float32[1,4] = Gemm(%x, %w, %c)
%y : float32[1,4] = BatchNormalization(%g, %scale, %bias, %mean, %var)
output %y`, { x: [-0.9342831373214722] });
    await expectIrMatchesOrt(HEADER + `
input %x : float32[4,2]
const %w : float32[2,4] = dense<[-0.46875, -1, -0.546875, -0.703125, 0.5, 0.25, -0.125, 1]>
const %c : float32[4,1] = dense<[1, 2, 3, 4]>
${bn}
%g : float32[4,4] = Gemm(%x, %w, %c)
%y : float32[4,4] = BatchNormalization(%g, %scale, %bias, %mean, %var)
output %y`, { x: [1, 2, 3, 4, 5, 6, 7, 8] });
  });

  // the running sum started at +0, and +0 + -0 is +0: CumSum of [-0, ...] began with +0 (1/x
  // then +inf where onnxruntime and the spec, y[0] = x[0], give -inf)
  it("CumSum keeps a leading -0 (inclusive, reverse), and an exclusive sum starts at +0", () => expectIrMatchesOrt(HEADER + `
input %x : float32[2,3]
const %axis : int64[] = dense<[1]>
%a : float32[2,3] = CumSum(%x, %axis)
%b : float32[2,3] = CumSum[reverse=1](%x, %axis)
%c : float32[2,3] = CumSum[exclusive=1](%x, %axis)
%ra : float32[2,3] = Reciprocal(%a)
%rb : float32[2,3] = Reciprocal(%b)
%rc : float32[2,3] = Reciprocal(%c)
output %ra
output %rb
output %rc`, { x: [-0, -0, 2, -0, 1, -0] }));

  it("Gather and GatherElements with a constant index out of range are INVALID_MODEL (kiln read zeros; onnxruntime fails at run time)", async () => {
    const cases = [
      ["input %x : float32[0,1]", "const %i : int32[] = dense<[0]>", "%y : float32[1] = Gather(%x, %i)"],
      ["input %x : float32[3,2]", "const %i : int64[1] = dense<[-4]>", "%y : float32[1,2] = Gather(%x, %i)"],
      ["input %x : float32[3,2]", "const %i : int64[1,2] = dense<[0, 2]>", "%y : float32[1,2] = GatherElements[axis=1](%x, %i)"],
    ];
    for (const lines of cases) {
      const bytes = exportModel(parseGraph(HEADER + [...lines, "output %y"].join("\n")));
      const e = await compile(bytes).then(() => undefined, (err: unknown) => err);
      expect(e, lines[2]).toBeInstanceOf(KilnError);
      expect((e as KilnError).code).toBe("INVALID_MODEL");
      expect((e as KilnError).message).toMatch(/index -?\d+ is out of range for axis \d of size \d/);
    }
  });
});
