import { describe, expect, it } from "vitest";
import { compile } from "../../compiler/driver/api.js";
import { Graph, type Attr } from "../../compiler/ir/graph.js";
import { exportModel } from "../../compiler/onnx/export.js";
import { compareTensors } from "../../compiler/driver/testdata.js";
import { expectMatchesOrt, runKiln, runOrt, tensor, type TensorSpec } from "../util/ort.js";

const int = (value: number): Attr => ({ type: "int", value });
const float = (value: number): Attr => ({ type: "float", value });
const tol = { rtol: 1e-4, atol: 1e-4 };

describe("MatMul vs onnxruntime", () => {
  it("2-D over sizes around the 4x8 tile (row and column tails)", async () => {
    for (const [M, K, N] of [[1, 1, 1], [3, 5, 7], [4, 8, 8], [5, 3, 13], [9, 17, 12], [7, 33, 20]]) {
      await expectMatchesOrt({ op: "MatMul", tolerance: tol, inputs: [{ dims: [M, K] }, { dims: [K, N] }] });
    }
  });
  it("column panels (K large enough that B is walked in cache-sized blocks)", async () => {
    await expectMatchesOrt({ op: "MatMul", tolerance: { rtol: 1e-3, atol: 1e-3 }, inputs: [{ dims: [6, 1024] }, { dims: [1024, 75], constant: true }] });
    await expectMatchesOrt({ op: "Gemm", tolerance: { rtol: 1e-3, atol: 1e-3 }, inputs: [{ dims: [3, 2048] }, { dims: [2048, 36] }, { dims: [36] }] });
  });
  it("1-D operands and batch broadcasting", async () => {
    await expectMatchesOrt({ op: "MatMul", tolerance: tol, inputs: [{ dims: [6] }, { dims: [6] }] });
    await expectMatchesOrt({ op: "MatMul", tolerance: tol, inputs: [{ dims: [5] }, { dims: [2, 5, 9] }] });
    await expectMatchesOrt({ op: "MatMul", tolerance: tol, inputs: [{ dims: [2, 3, 5, 7] }, { dims: [7] }] });
    await expectMatchesOrt({ op: "MatMul", tolerance: tol, inputs: [{ dims: [2, 1, 3, 5] }, { dims: [4, 5, 6], constant: true }] });
  });
  it("edge values, empty dims and other dtypes", async () => {
    await expectMatchesOrt({ op: "MatMul", inputs: [{ dims: [2, 3], data: [0, -1, 1e30, NaN, Infinity, -2] }, { dims: [3, 2], data: [1, 2, 0, 1, -1, 3] }] });
    await expectMatchesOrt({ op: "MatMul", inputs: [{ dims: [3, 0] }, { dims: [0, 5] }] });
    await expectMatchesOrt({ op: "MatMul", inputs: [{ dims: [2, 3], dtype: "float64" }, { dims: [3, 5], dtype: "float64" }] });
    await expectMatchesOrt({ op: "MatMul", inputs: [{ dims: [3, 4], dtype: "int32", lo: -9, hi: 9 }, { dims: [4, 2], dtype: "int32", lo: -9, hi: 9 }] });
    await expectMatchesOrt({ op: "MatMul", inputs: [{ dims: [2, 4], dtype: "int64", lo: -9, hi: 9 }, { dims: [4, 3], dtype: "int64", lo: -9, hi: 9 }] });
  });
});

describe("Gemm vs onnxruntime", () => {
  it("transA, transB, alpha, beta and every C broadcast", async () => {
    for (const [tA, tB] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
      const a = tA ? [9, 5] : [5, 9], b = tB ? [11, 9] : [9, 11];
      for (const c of [[5, 11], [11], [1, 11], [5, 1], [1]]) {
        await expectMatchesOrt({ op: "Gemm", tolerance: tol, attrs: { transA: int(tA), transB: int(tB), alpha: float(0.5), beta: float(-2) },
          inputs: [{ dims: a }, { dims: b, constant: true }, { dims: c }] });
      }
    }
    await expectMatchesOrt({ op: "Gemm", tolerance: tol, inputs: [{ dims: [3, 4] }, { dims: [4, 6] }] });
    await expectMatchesOrt({ op: "Gemm", tolerance: tol, attrs: { transB: int(1) }, inputs: [{ dims: [2, 3] }, { dims: [7, 3] }, { dims: [7] }] });
  });
  it("float64 Gemm", async () => {
    await expectMatchesOrt({ op: "Gemm", attrs: { transA: int(1), alpha: float(2) }, inputs: [{ dims: [4, 3], dtype: "float64" }, { dims: [4, 5], dtype: "float64" }, { dims: [5], dtype: "float64" }] });
  });
});

describe("float16 MatMul/Gemm vs onnxruntime", () => {
  const half = { rtol: 1e-2, atol: 1e-2 };
  it("computes in f32 and rounds on store", async () => {
    await expectMatchesOrt({ op: "MatMul", tolerance: half, inputs: [{ dims: [3, 5], dtype: "float16" }, { dims: [5, 6], dtype: "float16" }] });
    await expectMatchesOrt({ op: "Gemm", tolerance: half, inputs: [{ dims: [3, 5], dtype: "float16" }, { dims: [5, 6], dtype: "float16" }, { dims: [6], dtype: "float16" }] });
  });
});

// B a float32 constant: packed at compile time and multiplied by the register-blocked GEMM
// (matmul/packed.ts); sizes straddle its 2x16 tile, 128-row blocks and 256-deep K blocks.
describe("packed GEMM path (constant float32 B) vs onnxruntime", () => {
  const wide = { rtol: 1e-3, atol: 1e-3 };
  const konst = (...dims: number[]) => ({ dims, constant: true });
  it("MatMul over tile tails, row blocks and K blocks", async () => {
    for (const [M, K, N] of [[1, 1, 1], [3, 5, 7], [2, 17, 16], [5, 33, 20], [7, 300, 37], [131, 9, 35], [4, 520, 18]]) {
      await expectMatchesOrt({ op: "MatMul", tolerance: wide, inputs: [{ dims: [M, K] }, konst(K, N)] });
    }
  });
  it("MatMul batches of A folded into rows; 1-D A; B with unit batch dims; edge values", async () => {
    await expectMatchesOrt({ op: "MatMul", tolerance: tol, inputs: [{ dims: [2, 3, 5, 7] }, konst(7, 9)] });
    await expectMatchesOrt({ op: "MatMul", tolerance: tol, inputs: [{ dims: [2, 3, 7] }, konst(1, 7, 5)] });
    await expectMatchesOrt({ op: "MatMul", tolerance: tol, inputs: [{ dims: [7] }, konst(7, 5)] });
    await expectMatchesOrt({ op: "MatMul", inputs: [{ dims: [2, 3], data: [0, -1, 1e30, NaN, Infinity, -2] }, { dims: [3, 5], lo: 0.5, hi: 1, constant: true }] });
    await expectMatchesOrt({ op: "MatMul", inputs: [{ dims: [0, 3] }, konst(3, 5)] });
  });
  it("Gemm: transB, alpha, and C as constant vector, scalar, runtime vector (beta 1) or row-varying", async () => {
    const cs = [
      { c: konst(11), beta: -2 }, { c: konst(1, 11), beta: 0.5 }, { c: konst(1), beta: 3 }, { c: konst(), beta: 1 },
      { c: konst(1, 1), beta: 1 }, { c: { dims: [11] }, beta: 1 }, { c: { dims: [11] }, beta: 2 }, { c: konst(5, 11), beta: 0.5 },
      { c: konst(5, 1), beta: 1 },
    ];
    for (const tB of [0, 1]) {
      const b = konst(...(tB ? [11, 9] : [9, 11]));
      for (const { c, beta } of cs) {
        await expectMatchesOrt({ op: "Gemm", tolerance: tol, attrs: { transB: int(tB), alpha: float(-0.75), beta: float(beta) }, inputs: [{ dims: [5, 9] }, b, c] });
      }
      await expectMatchesOrt({ op: "Gemm", tolerance: wide, attrs: { transB: int(tB) }, inputs: [{ dims: [3, 600] }, konst(...(tB ? [40, 600] : [600, 40]))] });
    }
  });
  it("int and float64 constants stay on the generic GEMM", async () => {
    await expectMatchesOrt({ op: "MatMul", inputs: [{ dims: [3, 4], dtype: "int32", lo: -9, hi: 9 }, { dims: [4, 5], dtype: "int32", lo: -9, hi: 9, constant: true }] });
    await expectMatchesOrt({ op: "Gemm", inputs: [{ dims: [3, 4], dtype: "float64" }, { dims: [4, 5], dtype: "float64", constant: true }, { dims: [5], dtype: "float64" }] });
  });
});

/** x -> anchor(x, w) -> Add(., r) -> Relu, with r a runtime residual; kiln must fuse it into one layer */
async function expectResidualFused(anchor: string, x: TensorSpec, w: TensorSpec, r: TensorSpec, attrs: Record<string, Attr> = {}): Promise<void> {
  const g = new Graph();
  g.opsets.set("", 17);
  const feeds = { x: tensor(x, 1), r: tensor(r, 3) };
  const wt = tensor(w, 2);
  for (const [name, t] of Object.entries({ ...feeds, w: wt })) Object.assign(g.value(name), { dtype: t.dtype, shape: [...t.dims] });
  g.value("w").const = wt;
  g.inputs.push("x", "r");
  g.addNode({ name: "a", op: anchor, domain: "", inputs: ["x", "w"], outputs: ["p"], attrs });
  g.addNode({ name: "s", op: "Add", domain: "", inputs: ["p", "r"], outputs: ["q"], attrs: {} });
  g.addNode({ name: "f", op: "Relu", domain: "", inputs: ["q"], outputs: ["y"], attrs: {} });
  g.outputs = ["y"];
  const bytes = exportModel(g, { valueInfo: false });
  const { manifest } = await compile(bytes, { shapes: { x: x.dims, r: r.dims } });
  expect(manifest.layers.map((l) => l.op)).toEqual([`${anchor}_Add_Relu`]);
  const cmp = compareTensors((await runKiln(bytes, feeds)).y, (await runOrt(bytes, feeds)).y, { rtol: 1e-4, atol: 1e-4 });
  expect(cmp.message ?? "ok").toBe("ok");
}

describe("packed GEMM (MatMul, Gemm, 1x1 Conv) with a fused residual epilogue vs onnxruntime", () => {
  it("MatMul and Gemm (transB) + residual + Relu, column tails and K blocks", async () => {
    for (const [M, K, N] of [[3, 5, 7], [5, 9, 18], [2, 300, 33]]) {
      await expectResidualFused("MatMul", { dims: [M, K] }, { dims: [K, N], constant: true }, { dims: [M, N] });
      await expectResidualFused("Gemm", { dims: [M, K] }, { dims: [N, K], constant: true }, { dims: [M, N] }, { transB: int(1), alpha: float(0.5) });
    }
  });
  it("MatMul with B computed at run time (attention's products): batch broadcasting both ways, column tails, K blocks", async () => {
    for (const [a, b] of [[[2, 3, 5, 7], [3, 7, 19]], [[1, 4, 6, 33], [2, 1, 33, 16]], [[2, 9, 400], [2, 400, 24]], [[3, 2, 8], [8, 8]], [[2, 12, 17, 32], [1, 12, 32, 17]]]) {
      await expectMatchesOrt({ op: "MatMul", tolerance: { rtol: 1e-3, atol: 1e-3 }, inputs: [{ dims: a }, { dims: b }] });
    }
  });
  it("MatMul with B at run time over seeded random shapes and batch broadcasts", async () => {
    let s = 12345;
    const pick = (n: number) => ((s = (s * 1103515245 + 12345) % 2147483648) % n);
    const batches = [[], [2], [3, 1], [1, 2], [3, 2]]; // any two broadcast together
    for (let c = 0; c < 12; c++) {
      const M = 2 + pick(19), K = 1 + pick(70), N = 8 + pick(33);
      const ba = batches[pick(batches.length)], bb = batches[pick(batches.length)];
      await expectMatchesOrt({ op: "MatMul", tolerance: { rtol: 1e-3, atol: 1e-3 }, inputs: [{ dims: [...ba, M, K] }, { dims: [...bb, K, N] }] });
    }
  });
  it("1x1 Conv + residual + Relu: generic GEMM under 128 positions, else the packed GEMM reading the image in place (143 positions)", async () => {
    for (const [Ci, Co, H, W] of [[3, 5, 3, 3], [16, 8, 11, 13]]) {
      await expectResidualFused("Conv", { dims: [2, Ci, H, W] }, { dims: [Co, Ci, 1, 1], constant: true }, { dims: [2, Co, H, W] });
    }
  });
});
