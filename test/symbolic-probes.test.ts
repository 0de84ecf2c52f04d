// How a build for bounds probes (compiler/driver/symbolic.ts prepareSymbolic, docs/ARCHITECTURE.md
// "Symbolic dims"): which probes run in full and which are only prepared, and that the dims come
// out the same either way. The steps each probe takes are recorded through prepareSymbolic's `run`.
import { describe, expect, it } from "vitest";
import { parseGraph } from "../compiler/ir/parse.js";
import { optimizeGraph, prepareGraph } from "../compiler/driver/compile.js";
import { load } from "../compiler/driver/api.js";
import { exportModel } from "../compiler/onnx/export.js";
import { prepareSymbolic, resolveDimOptions, type ProbeStep } from "../compiler/driver/symbolic.js";
import type { Graph } from "../compiler/ir/graph.js";
import { poisoner } from "./util/poison.js";
import { evalDim } from "../runtime/dims.js";

const W = `dense<[${Array.from({ length: 64 }, (_, i) => ((i % 7) - 3) / 4).join(", ")}]>`;
/** x [seq, 8] through a MatMul and a Relu; `transposed`: the weight a Transpose of an initializer (folded at preparation: a constant computed from the model) */
const text = (transposed: boolean) => `kiln.graph opsets("" = 13)
input %x : float32[seq,8]
const %w : float32[8,8] = ${W}
${transposed ? `%wt : float32[8,8] = Transpose(%w) {name="t"}\n` : ""}%m : float32[seq,8] = MatMul(%x, %${transposed ? "wt" : "w"}) {name="mm"}
%y : float32[seq,8] = Relu(%m) {name="relu"}
output %y`;

/**
 * prepareSymbolic over the graph with seq in 1..64, each probe's step recorded; `extra`: what a
 * pass would do after the rewrites (a value the prepared graph lacks)
 */
async function probed(source: string, extra?: (g: Graph) => void): Promise<{ graph: Graph; steps: ProbeStep[] }> {
  const graph = parseGraph(source);
  const steps: ProbeStep[] = [];
  const dims = resolveDimOptions(graph, { seq: [1, 64] });
  await prepareSymbolic(graph, () => graph.copy()!, dims, async (g, shapes, step) => {
    steps.push(step);
    await prepareGraph(g, { shapes });
    if (step === "shapes") return;
    await optimizeGraph(g, { shapes }, undefined, step === "probe", true);
    extra?.(g);
  });
  return { graph, steps };
}

/** the value's dims at seq = n, by the expressions fitted (static dims as they are) */
const at = (g: Graph, name: string, n: number) => (g.symbolic!.dims.get(name) ?? g.values.get(name)!.shape!).map((e) => (typeof e === "string" ? NaN : evalDim(e, [n])));

describe("symbolic probes", () => {
  it("layers reading only the model's initializers: the check probe with the rewrites, the grid's other probe prepared only, then the bounds", async () => {
    const { graph, steps } = await probed(text(false));
    expect(steps).toEqual(["probe", "shapes", "bounds"]);
    for (const n of [1, 17, 64]) expect(at(graph, "y", n)).toEqual([n, 8]);
  });

  it("a layer reading a constant computed from the model (it might differ between values): every probe with the rewrites", async () => {
    const { graph, steps } = await probed(text(true));
    expect(steps).toEqual(["probe", "probe", "bounds"]);
    for (const n of [1, 17, 64]) expect(at(graph, "y", n)).toEqual([n, 8]);
  });

  it("a dim that is no polynomial kiln takes (seq * seq in one dim) is still refused, from the prepared probe's dims and the check's", async () => {
    const square = `kiln.graph opsets("" = 13)
input %x : float32[seq,8]
const %flat : int64[1] = dense<[-1]>
%xt : float32[8,seq] = Transpose(%x) {name="t"}
%s : float32[seq,seq] = MatMul(%x, %xt) {name="mm"}
%y : float32[?] = Reshape(%s, %flat) {name="flatten"}
output %y`;
    await expect(probed(square)).rejects.toThrow(/UNSUPPORTED_OP: dim 0 of "y" \(3721, 4096, 3481 at seq=61, seq=64, seq=59\) is not a polynomial of the symbols that kiln takes, so it depends on the value of seq.*\[node "flatten", Reshape/);
  });

  it("a value of the compiled graph that the prepared probe lacks (made by a pass): that probe taken again with the rewrites, the value's dims fitted", async () => {
    const made = (g: Graph) => {
      g.addNode({ name: "made", op: "Neg", domain: "", inputs: ["y"], outputs: ["z"], attrs: {} });
      Object.assign(g.value("z"), { dtype: "float32", shape: [...g.values.get("y")!.shape!] });
    };
    const { graph, steps } = await probed(text(false), made);
    expect(steps).toEqual(["probe", "shapes", "probe", "bounds"]);
    for (const n of [1, 17, 64]) expect(at(graph, "z", n)).toEqual([n, 8]);
  });

  it("an If whose condition is computed from the dim (seq > 40 folded to a branch) compiles under bounds only when every value takes the same branch, wherever the probes fall", async () => {
    const bytes = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[seq,8]
const %zero : int64[] = dense<[0]>
const %forty : int64[] = dense<[40]>
%s : int64[2] = Shape(%x) {name="shape"}
%n : int64[] = Gather(%s, %zero) {name="n"}
%c : bool[] = Greater(%n, %forty) {name="gt"}
%y : float32[seq,8] = If[else_branch=graph, then_branch=graph](%c) {name="branch"}
  graph else_branch {
    %e : float32[seq,8] = Neg(%x) {name="neg"}
    output %e
  }
  graph then_branch {
    %t : float32[seq,8] = Relu(%x) {name="relu"}
    output %t
  }
output %y`), { valueInfo: false });
    // the probes below the bounds (41, 37) see both branches; every value is prepared, and seq = 1 takes the other one
    await expect(load(bytes, { shapes: { seq: [1, 42] } })).rejects.toThrow(/UNSUPPORTED_OP: the branch If "branch" takes \(else_branch at seq=1, then_branch at 42\) depends on the value of seq, so one module cannot serve the bounds; pin it with --shape seq=N/);
    // every probe over 40: the values below them are prepared too, not a module that answers Relu for every value
    await expect(load(bytes, { shapes: { seq: [1, 64] } })).rejects.toThrow(/the branch If "branch" takes \(else_branch at seq=1, then_branch at 64\).*\[node "branch", If\]/);
    // above 40 alone every value takes one branch: one module, right at its least value
    const m = await load(bytes, { shapes: { seq: [41, 64] } });
    const y = await m.run({ x: { data: new Float32Array(41 * 8).fill(-1), dims: [41, 8] } });
    expect(y.y.data[0]).toBe(0);
    // a range too wide to prepare every value of is refused, saying so
    await expect(load(bytes, { shapes: { seq: [41, 400] } })).rejects.toThrow(/the condition of If "branch", folded at compile time \(kiln checks every value of one dim over at most 256 values\), depends on the value of seq/);
    // pinned, each value compiles its own branch
    for (const [seq, want] of [[10, 1], [50, 0]]) {
      const p = await load(bytes, { shapes: { seq } });
      const out = await p.run({ x: { data: new Float32Array(seq * 8).fill(-1), dims: [seq, 8] } });
      expect(out.y.data[0]).toBe(want);
    }
  });

  it("an error the model has at every value (Cast without its `to`) is said as a pinned build says it, with no advice about the dims", async () => {
    const bytes = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[1,n]
%f : int64[1,n] = Cast(%x) {name="cast"}
output %f`));
    const pinned = await load(bytes, { shapes: { n: 7 } }).catch((e: Error) => e);
    expect(pinned).toMatchObject({ code: "INVALID_MODEL", message: 'INVALID_MODEL: required attribute to is missing [node "cast", Cast]' });
    await expect(load(bytes, { shapes: { n: [2, 30] } })).rejects.toMatchObject({ code: "INVALID_MODEL", message: (pinned as Error).message });
  });
});

describe("an If whose condition holds over the whole bounds", () => {
  // DeBERTa asks whether the query and key lengths differ (both seq): the fold is shown for every
  // value from the condition's cone, the two lengths fitted as the same polynomial, so no value is
  // prepared one by one and bounds past 256 values or over two dims compile too
  const model = (other: string) => exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[batch,seq]
input %k : float32[batch,${other}]
const %one : int64[] = dense<[1]>
const %axis : int64[1] = dense<[1]>
%sx : int64[2] = Shape(%x) {name="shape_x"}
%sk : int64[2] = Shape(%k) {name="shape_k"}
%q : int64[] = Gather(%sx, %one) {name="q_len"}
%l : int64[] = Gather(%sk, %one) {name="k_len"}
%e : bool[] = Equal(%q, %l) {name="same"}
%c : bool[] = Not(%e) {name="differ"}
%y : float32[batch,seq] = If[else_branch=graph, then_branch=graph](%c) {name="branch"}
  graph else_branch {
    %n : float32[batch,seq] = Neg(%x) {name="neg"}
    output %n
  }
  graph then_branch {
    %r : float32[batch,seq] = Relu(%x) {name="relu"}
    output %r
  }
%ks : float32[batch,1] = ReduceSum[keepdims=1](%k, %axis) {name="sum_k"}
%z : float32[batch,seq] = Add(%y, %ks) {name="add"}
output %z`), { valueInfo: false });

  it("the query and key lengths compared, both seq: one module for batch 1..3 and seq 1..400, the else branch at every length", async () => {
    const m = await load(model("seq"), { shapes: { batch: [1, 3], seq: [1, 400] } });
    for (const [b, n] of [[1, 1], [3, 400], [2, 37]]) {
      const out = await m.run({ x: { data: new Float32Array(b * n).fill(2), dims: [b, n] }, k: { data: new Float32Array(b * n), dims: [b, n] } });
      expect(out.z.data[0]).toBe(-2);
    }
    expect(m.modulesCompiled).toBe(1);
  });

  it("lengths of two symbols compared: not shown, so refused over two dims (and over one, every value prepared)", async () => {
    await expect(load(model("len"), { shapes: { batch: [1, 3], seq: [1, 40], len: [1, 40] } })).rejects.toThrow(/the condition of If "branch", folded at compile time .*depends on the value of batch, seq, len/);
  });
});

describe("values computed from the dims, merged by CSE", () => {
  // two layers' causal masks, built alike: CSE merges the second into the first, so the first
  // probes see one varying constant; once its nodes run in the module the second is a constant
  // of its own again, and a second round copies it too (BART's decoder)
  const mask = (k: number) => `
%n${k} : int64[1] = Shape[start=1, end=2](%x) {name="shape${k}"}
%s${k} : int64[] = Squeeze(%n${k}) {name="squeeze${k}"}
%r${k} : int64[20] = Range(%zero, %s${k}, %one) {name="range${k}"}
%row${k} : int64[20,1] = Unsqueeze(%r${k}, %ax1) {name="row${k}"}
%col${k} : int64[1,20] = Unsqueeze(%r${k}, %ax0) {name="col${k}"}
%le${k} : bool[20,20] = LessOrEqual(%col${k}, %row${k}) {name="le${k}"}
%m${k} : float32[20,20] = Where(%le${k}, %zeroF, %minus) {name="mask${k}"}`;
  const source = `kiln.graph opsets("" = 15)
input %x : float32[1,20,20]
const %zero : int64[] = dense<[0]>
const %one : int64[] = dense<[1]>
const %ax0 : int64[1] = dense<[0]>
const %ax1 : int64[1] = dense<[1]>
const %zeroF : float32[] = dense<[0]>
const %minus : float32[] = dense<[-10000]>
${mask(1)}
${mask(2)}
%a : float32[1,20,20] = Add(%x, %m1) {name="add1"}
%p : float32[1,20,20] = Softmax[axis=-1](%a) {name="softmax"}
%y : float32[1,20,20] = Add(%p, %m2) {name="add2"}
output %y`;

  it("are copied to run in the module in a second round; every length as onnxruntime-node, at -O2 and -O0", async () => {
    const g = parseGraph(source);
    g.values.get("x")!.shape = [1, "seq", "seq"];
    g.values.get("y")!.shape = [1, "seq", "seq"];
    const bytes = exportModel(g, { valueInfo: false });
    const { runOrt } = await import("./util/ort.js");
    const { compareTensors } = await import("../compiler/driver/testdata.js");
    for (const level of [2, 0] as const) {
      const model = await load(bytes, { shapes: { seq: [1, 20] }, level, cache: false });
      for (const s of [1, 7, 20]) {
        const data = Float32Array.from({ length: s * s }, (_, i) => Math.sin(i * 0.7));
        const got = await model.run({ x: { data, dims: [1, s, s] } });
        const want = await runOrt(bytes, { x: { dtype: "float32", dims: [1, s, s], data } });
        expect(compareTensors(got.y, want.y, { rtol: 1e-5, atol: 1e-6 }).message ?? "ok", `seq ${s} -O${level}`).toBe("ok");
      }
      expect(model.modulesCompiled).toBe(1);
    }
  });
});

describe("narrow bounds", () => {
  // a decoder's position lookup: positions past .. past + seq - 1 of a 16-row table (past + seq <=
  // 16 within the bounds). The model's static dim 2 leaves seq 1..4 one value inside apart from 1
  // and the bound, so kiln probed seq 5 past them, at past 12: position 16, out of the table
  const source = `kiln.graph opsets("" = 17)
input %ids : int64[batch,seq]
input %past_kv : float32[batch,past,2]
const %table : float32[16,2] = dense<[${Array.from({ length: 32 }, (_, i) => i / 4).join(", ")}]>
const %i1 : int64[] = dense<[1]>
const %one : int64[] = dense<[1]>
const %two : float32[] = dense<[2]>
%ps : int64[3] = Shape(%past_kv) {name="ps"}
%plen : int64[] = Gather[axis=0](%ps, %i1) {name="plen"}
%is : int64[2] = Shape(%ids) {name="is"}
%slen : int64[] = Gather[axis=0](%is, %i1) {name="slen"}
%tot : int64[] = Add(%plen, %slen) {name="tot"}
%pos : int64[seq] = Range(%plen, %tot, %one) {name="pos"}
%pos_emb : float32[seq,2] = Gather[axis=0](%table, %pos) {name="lookup"}
%y : float32[batch,past,2] = Mul(%past_kv, %two) {name="scale"}
output %pos_emb
output %y`;

  it("that the model refuses past are probed again inside them, at the model's own dims: one module, every shape as onnxruntime-node", async () => {
    const bytes = exportModel(parseGraph(source), { valueInfo: false });
    const { runOrt } = await import("./util/ort.js");
    const { compareTensors } = await import("../compiler/driver/testdata.js");
    const model = await load(bytes, { shapes: { batch: [1, 2], seq: [1, 4], past: [0, 12] }, cache: false });
    for (const [batch, seq, past] of [[2, 4, 12], [1, 1, 0], [2, 3, 5], [1, 2, 2], [2, 4, 0], [1, 1, 12]]) {
      const feeds = {
        ids: { dtype: "int64" as const, dims: [batch, seq], data: new BigInt64Array(batch * seq) },
        past_kv: { dtype: "float32" as const, dims: [batch, past, 2], data: Float32Array.from({ length: batch * past * 2 }, (_, i) => i - 3) },
      };
      const got = await model.run(feeds);
      const want = await runOrt(bytes, feeds);
      for (const o of ["pos_emb", "y"]) expect(compareTensors(got[o], want[o], { rtol: 0, atol: 0 }).message ?? "ok", `${o} at batch ${batch} seq ${seq} past ${past}`).toBe("ok");
    }
    expect(model.modulesCompiled).toBe(1);
    // past + seq may reach 17 within these bounds: the lookup is past the table, and the first error stands
    await expect(load(bytes, { shapes: { batch: [1, 2], seq: [1, 4], past: [0, 13] }, cache: false })).rejects.toThrow(/INVALID_MODEL: at batch=3, seq=5, past=13 \(a value kiln probes past the bounds/);
  });
});

describe("a name both an input's and a dim's", () => {
  // an input "past" of dims [1, past, 4]: shapes.past is its dims where they fit it, else the dim's
  const bytes = () => exportModel(parseGraph(`kiln.graph opsets("" = 17)
input %past : float32[1,past,4]
%y : float32[1,past,4] = Neg(%past) {name="neg"}
output %y`), { valueInfo: false });

  it("takes bounds or a number for the dim and the input's whole dims for the input", async () => {
    const bounded = await load(bytes(), { shapes: { past: [0, 12] }, cache: false });
    // a model with no weights: the arena after the reserved bytes, poisoned between runs
    const poison = poisoner(bounded);
    for (const n of [0, 5, 12]) {
      poison();
      const got = await bounded.run({ past: { data: Float32Array.from({ length: 4 * n }, (_, i) => i), dims: [1, n, 4] } });
      expect(got.y.dims).toEqual([1, n, 4]);
      expect(Array.from(got.y.data as Float32Array)).toEqual(Array.from({ length: 4 * n }, (_, i) => -i));
    }
    expect(bounded.modulesCompiled).toBe(1);
    const feed = (n: number) => ({ past: { data: new Float32Array(4 * n), dims: [1, n, 4] } });
    const pinned = await load(bytes(), { shapes: { past: 5 }, cache: false });
    expect((await pinned.run(feed(5))).y.dims).toEqual([1, 5, 4]);
    expect(pinned.session!.manifest.inputs[0].dims).toEqual([1, 5, 4]);
    const whole = await load(bytes(), { shapes: { past: [1, 3, 4] }, cache: false });
    expect(whole.session!.manifest.inputs[0].dims).toEqual([1, 3, 4]);
    expect(whole.session!.manifest.symbols).toBeUndefined();
  });
});

describe("an output computed from the dims alone through a tensor built from them", () => {
  // n2 = Shape(ConstantOfShape([batch, 4]))[0]: the ConstantOfShape holds no input's data, so the
  // values copied to run in the module go through its Shape to it (at -O1 and -O2 they stopped at
  // the Shape, and n2 was "a constant that depends on the value of batch")
  const source = `kiln.graph opsets("" = 17)
input %x : float32[batch,16]
const %i0 : int64[] = dense<[0]>
const %ax0 : int64[1] = dense<[0]>
const %four : int64[1] = dense<[4]>
%xs : int64[2] = Shape(%x) {name="xs"}
%b : int64[] = Gather[axis=0](%xs, %i0) {name="b"}
%n : int64[1] = Unsqueeze(%b, %ax0) {name="n"}
%shp : int64[2] = Concat[axis=0](%n, %four) {name="shp"}
%c : float32[batch,4] = ConstantOfShape(%shp) {name="c"}
%cs : int64[2] = Shape(%c) {name="cs"}
%b2 : int64[] = Gather[axis=0](%cs, %i0) {name="b2"}
%n2 : int64[1] = Unsqueeze(%b2, %ax0) {name="n2"}
%y : float32[batch,16] = Neg(%x) {name="neg"}
output %n2
output %y`;

  it("runs in the module at every level: one module, this run's batch", async () => {
    const bytes = exportModel(parseGraph(source), { valueInfo: false });
    for (const level of [0, 1, 2] as const) {
      const model = await load(bytes, { shapes: { batch: [1, 4] }, level, cache: false });
      for (const b of [1, 3, 4, 2]) {
        const got = await model.run({ x: { data: new Float32Array(16 * b), dims: [b, 16] } });
        expect(Array.from(got.n2.data as BigInt64Array), `batch ${b} at -O${level}`).toEqual([BigInt(b)]);
      }
      expect(model.modulesCompiled).toBe(1);
    }
  });
});
