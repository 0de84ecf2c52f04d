// Symbolic dims at their lower bounds (compiler/driver/symbolic-low.ts): a value computed from the
// dims that every probe near the upper bound sees the same, yet that differs lower down (a clamp,
// Min(n, 5) with n from 2), is computed at run time, or, where it is a dim no polynomial gives,
// refused naming the lower bound. Before, the module took the probes' value and answered wrongly
// below the clamp. Each run is checked against onnxruntime-node on the same file.
import { describe, expect, it } from "vitest";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { load } from "../compiler/driver/api.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import { prepareSymbolic, resolveDimOptions, type ProbeStep } from "../compiler/driver/symbolic.js";
import { prepareGraph, optimizeGraph } from "../compiler/driver/compile.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { importModel } from "../compiler/onnx/import.js";
import { runOrt } from "./util/ort.js";

/** x [1, n] scaled by a scalar computed from n: `clamp` over `%d` (n as int64[1]) gives `%m` */
const scaled = (clamp: string) => exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[1,n]
const %one : int64[1] = dense<[1]>
%s : int64[2] = Shape(%x) {name="shape"}
%d : int64[1] = Gather(%s, %one) {name="n"}
${clamp}
%f : float32[1] = Cast[to=1](%m) {name="cast"}
%y : float32[1,n] = Mul(%x, %f) {name="scale"}
output %y`));

const MIN5 = `const %five : int64[1] = dense<[5]>
%m : int64[1] = Min(%d, %five) {name="min"}`;

const feedOf = (n: number, m = 1): Record<string, Tensor> => ({ x: { dtype: "float32", dims: [m, n], data: Float32Array.from({ length: m * n }, (_, i) => 1 + (i % 3)) } });

async function agrees(bytes: Uint8Array, shapes: Record<string, number[]>, runs: Record<string, Tensor>[], level: 0 | 2 = 2) {
  const m = await load(bytes, { shapes, level });
  for (const feeds of runs) {
    const got = await m.run(feeds), want = await runOrt(bytes, feeds);
    const at = JSON.stringify(Object.values(feeds).map((t) => t.dims));
    for (const o of Object.keys(want)) {
      expect(got[o].dims, `${o} at ${at}`).toEqual(want[o].dims);
      expect(compareTensors(got[o], want[o], { rtol: 0, atol: 0 }).message ?? "ok", `${o} at ${at}`).toBe("ok");
    }
  }
  expect(m.modulesCompiled).toBe(1);
}

describe("symbolic dims at their lower bounds", () => {
  for (const level of [0, 2] as const) {
    it(`a scalar Min(n, 5) that every probe near the bounds sees as 5 runs in the module: n = 2..30 each as onnxruntime-node's, one module (-O${level})`, async () => {
      await agrees(scaled(MIN5), { n: [2, 30] }, [2, 3, 4, 5, 6, 17, 30].map((n) => feedOf(n)), level);
    });
  }

  it("Size read as a value (Size(x) + 5 differs at every probe; Min(Size(x), 5) at none near the bounds): its kernel runs it in the module, each length as onnxruntime-node's", async () => {
    const sized = (op: string) => exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[2,n]
const %five : int64[] = dense<[5]>
%s : int64[] = Size(%x) {name="size"}
%m : int64[] = ${op}(%s, %five) {name="op"}
%f : float32[] = Cast[to=1](%m) {name="cast"}
%y : float32[2,n] = Mul(%x, %f) {name="scale"}
output %y`));
    for (const op of ["Add", "Min"]) await agrees(sized(op), { n: [1, 30] }, [1, 2, 3, 7, 30].map((n) => feedOf(n, 2)));
  });

  it("a clamp on both sides (Clip of n to 4..16, n in 1..64): every length as onnxruntime-node's, one module", async () => {
    const clip = `const %lo : int64[] = dense<[4]>
const %hi : int64[] = dense<[16]>
%m : int64[1] = Clip(%d, %lo, %hi) {name="clip"}`;
    await agrees(scaled(clip), { n: [1, 64] }, [1, 3, 4, 9, 16, 17, 64].map((n) => feedOf(n)));
  });

  it("two symbols, each clamped (Min(batch, 2) * Min(n, 5)): each symbol's lower bound is probed, every combination as onnxruntime-node's", async () => {
    const bytes = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[batch,n]
const %zero : int64[1] = dense<[0]>
const %one : int64[1] = dense<[1]>
const %two : int64[1] = dense<[2]>
const %five : int64[1] = dense<[5]>
%s : int64[2] = Shape(%x) {name="shape"}
%b : int64[1] = Gather(%s, %zero) {name="b"}
%d : int64[1] = Gather(%s, %one) {name="n"}
%mb : int64[1] = Min(%b, %two) {name="minb"}
%mn : int64[1] = Min(%d, %five) {name="minn"}
%p : int64[1] = Mul(%mb, %mn) {name="p"}
%f : float32[1] = Cast[to=1](%p) {name="cast"}
%y : float32[batch,n] = Mul(%x, %f) {name="scale"}
output %y`));
    await agrees(bytes, { batch: [1, 8], n: [2, 30] }, [[1, 2], [1, 30], [8, 2], [8, 30], [2, 7], [3, 4]].map(([b, n]) => feedOf(n, b)));
  });

  it("a dim no polynomial gives (ConstantOfShape of Min(n, 5): 5 at every probe near the bounds) is refused naming the lower bound; from 5 it runs", async () => {
    const bytes = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[1,n]
const %one : int64[1] = dense<[1]>
const %five : int64[1] = dense<[5]>
%s : int64[2] = Shape(%x) {name="shape"}
%d : int64[1] = Gather(%s, %one) {name="n"}
%m : int64[1] = Min(%d, %five) {name="min"}
%c : float32[?] = ConstantOfShape(%m) {name="fill"}
%r : float32[] = ReduceSum[keepdims=0](%x) {name="sum"}
%y : float32[?] = Add(%c, %r) {name="add"}
output %y`));
    await expect(load(bytes, { shapes: { n: [2, 30] } })).rejects.toMatchObject({
      code: "UNSUPPORTED_OP",
      message: expect.stringMatching(/^UNSUPPORTED_OP: dim 0 of "y" \(2 at n=2, where the polynomial fitted at the probes near the bounds gives 5\).*raise the lower bound of n where the model need not take lower values, or pin it with --shape n=N \[node "add", Add\]$/),
    });
    await agrees(bytes, { n: [5, 30] }, [5, 6, 30].map((n) => feedOf(n)));
  });

  it("counts nodes give at run time, clamped (Min(NonZero's count, 3), Min(Compress's count, 5)): as onnxruntime-node's at every count, one module", async () => {
    const bytes = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %scores : float32[12]
input %x : float32[4]
const %one : int64[1] = dense<[1]>
const %zero : int64[1] = dense<[0]>
const %three : int64[1] = dense<[3]>
const %five : int64[1] = dense<[5]>
const %half : float32[] = dense<[0.5]>
%nz : int64[1,?] = NonZero(%scores) {name="nz"}
%s : int64[2] = Shape(%nz) {name="shape"}
%d : int64[1] = Gather(%s, %one) {name="count"}
%m : int64[1] = Min(%d, %three) {name="min"}
%f : float32[1] = Cast[to=1](%m) {name="cast"}
%y : float32[4] = Mul(%x, %f) {name="scale"}
%keep : bool[12] = Greater(%scores, %half) {name="keep"}
%kept : float32[?] = Compress(%scores, %keep) {name="kept"}
%ks : int64[1] = Shape(%kept) {name="kshape"}
%k : int64[1] = Min(%ks, %five) {name="k"}
%kf : float32[1] = Cast[to=1](%k) {name="kcast"}
%z : float32[?] = Mul(%kept, %kf) {name="weigh"}
output %y
output %z`));
    const scores = (kept: number, zeros: number) => Float32Array.from({ length: 12 }, (_, i) => (i < zeros ? 0 : i - zeros < kept ? 0.6 + ((i * 7) % 5) / 10 : 0.25));
    const runs = [[0, 12], [1, 3], [2, 0], [4, 6], [5, 1], [9, 2], [12, 0]].map(([kept, zeros]) => ({ scores: { dtype: "float32", dims: [12], data: scores(kept, zeros) }, x: { dtype: "float32", dims: [4], data: Float32Array.of(1, -2, 3, 0.5) } }) as Record<string, Tensor>);
    await agrees(bytes, {}, runs);
  });

  it("a model that reads no dims as values prepares no lower bound; one that does prepares each symbol's once, inference and folding only", async () => {
    const steps = async (bytes: Uint8Array) => {
      const graph = importModel(bytes);
      const seen: ProbeStep[] = [];
      await prepareSymbolic(graph, () => graph.copy()!, resolveDimOptions(graph, { n: [2, 30] }), async (g, shapes, step) => {
        seen.push(step);
        await prepareGraph(g, { shapes });
        if (step !== "shapes") await optimizeGraph(g, { shapes }, undefined, step === "probe", true);
      });
      return seen;
    };
    const plain = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[1,n]
%y : float32[1,n] = Relu(%x) {name="relu"}
output %y`));
    expect(await steps(plain)).toEqual(["probe", "shapes", "bounds"]);
    // the check in full (it reads the folded Min), the grid's other probe in full, the lower bound
    // prepared; then the round that runs Min in the module (the grid and the check in full)
    expect(await steps(scaled(MIN5))).toEqual(["probe", "probe", "shapes", "probe", "probe", "bounds"]);
  });
});
