// fold-constants' BatchNormalization folding: Conv/Gemm + inference BN become one Conv/Gemm with
// rescaled weights and bias. The folded constants' names are generated, so these tests read the
// resulting weights instead of comparing whole texts.
import { describe, expect, it } from "vitest";
import { evaluateNode } from "../../compiler/driver/evaluate.js";
import { parseGraph } from "../../compiler/ir/parse.js";
import { verifyGraph } from "../../compiler/ir/verify.js";
import { foldConstantsPass } from "../../passes/fold-constants.js";

async function fold(text: string) {
  const g = parseGraph(`kiln.graph opsets("" = 13)\n${text}`);
  await foldConstantsPass.run(g, { evaluate: evaluateNode });
  verifyGraph(g, { typed: true });
  return g;
}

const values = (g: Awaited<ReturnType<typeof fold>>, name: string) => Array.from(g.values.get(name)!.const!.data as Float32Array);

// s = scale / sqrt(var + eps) = [2/4, 3/3] = [0.5, 1]; W' = W * s; b' = (b - mean) * s + B
const convBn = `
input %x : float32[1,1,2,2]
const %w : float32[2,1,1,1] = dense<[1, 2]>
const %b : float32[2] = dense<[0.5, -0.5]>
const %scale : float32[2] = dense<[2, 3]>
const %beta : float32[2] = dense<[1, 1]>
const %mean : float32[2] = dense<[0, 1]>
const %var : float32[2] = dense<[15, 8]>
%c : float32[1,2,2,2] = Conv(%x, %w, %b) {name="conv"}
%y : float32[1,2,2,2] = BatchNormalization[epsilon=1.0](%c, %scale, %beta, %mean, %var) {name="bn"}`;

describe("fold-constants: BatchNormalization into the producer", () => {
  it("folds Conv + BN into one Conv with rescaled weights and bias, keeping the output name", async () => {
    const g = await fold(`${convBn}\noutput %y`);
    const nodes = g.topoOrder();
    expect(nodes.map((n) => n.op)).toEqual(["Conv"]);
    expect(nodes[0].outputs).toEqual(["y"]);
    expect(values(g, nodes[0].inputs[1])).toEqual([0.5, 2]);
    expect(values(g, nodes[0].inputs[2])).toEqual([1.25, -0.5]);
  });

  it("folds Gemm (transB) + BN", async () => {
    const g = await fold(`
input %x : float32[1,3]
const %w : float32[2,3] = dense<[1, 1, 1, 2, 2, 2]>
const %scale : float32[2] = dense<[2, 3]>
const %beta : float32[2] = dense<[1, 1]>
const %mean : float32[2] = dense<[0, 1]>
const %var : float32[2] = dense<[15, 8]>
%c : float32[1,2] = Gemm[transB=1](%x, %w) {name="gemm"}
%y : float32[1,2] = BatchNormalization[epsilon=1.0](%c, %scale, %beta, %mean, %var) {name="bn"}
output %y`);
    const [gemm] = g.topoOrder();
    expect(gemm.op).toBe("Gemm");
    expect(values(g, gemm.inputs[1])).toEqual([0.5, 0.5, 0.5, 2, 2, 2]);
    expect(values(g, gemm.inputs[2])).toEqual([1, 0]);
  });

  it("does not fold when the Conv output has another reader", async () => {
    const g = await fold(`${convBn}\n%z : float32[1,2,2,2] = Relu(%c) {name="other"}\noutput %y\noutput %z`);
    expect(g.topoOrder().map((n) => n.op).sort()).toEqual(["BatchNormalization", "Conv", "Relu"]);
  });

  it("does not fold when the BN statistics are run-time inputs", async () => {
    const g = await fold(convBn.replace("const %var : float32[2] = dense<[15, 8]>", "input %var : float32[2]") + "\noutput %y");
    expect(g.topoOrder().map((n) => n.op)).toEqual(["Conv", "BatchNormalization"]);
  });

  it("does not fold into a grouped ConvTranspose", async () => {
    const g = await fold(`
input %x : float32[1,2,2,2]
const %w : float32[2,1,1,1] = dense<[1, 2]>
const %scale : float32[2] = dense<[2, 3]>
const %beta : float32[2] = dense<[1, 1]>
const %mean : float32[2] = dense<[0, 1]>
const %var : float32[2] = dense<[15, 8]>
%c : float32[1,2,2,2] = ConvTranspose[group=2](%x, %w) {name="ct"}
%y : float32[1,2,2,2] = BatchNormalization[epsilon=1.0](%c, %scale, %beta, %mean, %var) {name="bn"}
output %y`);
    expect(g.topoOrder().map((n) => n.op)).toEqual(["ConvTranspose", "BatchNormalization"]);
  });
});
