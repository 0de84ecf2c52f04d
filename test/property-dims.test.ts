// Property-based differential test of values computed from symbolic dims (compiler/driver/symbolic.ts,
// symbolic-low.ts): random integer arithmetic over a model's dims as torch exports it (Shape ->
// Gather, then Add, Mul, Div, Min, Max), used as a value
// (x scaled by it); each graph compiled once for random bounds and run at the bounds, inside them
// and at random values against onnxruntime-node on the same file. kiln may refuse a graph
// (UNSUPPORTED_OP, naming what depends on the value), never answer one wrongly. fast-check shrinks a
// failure to a minimal expression; KILN_PROPERTY_SEED picks another seed, KILN_PROPERTY_RUNS how many.
import { expect, it } from "vitest";
import fc from "fast-check";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { load } from "../compiler/driver/api.js";
import { KilnError } from "../runtime/errors.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { runOrt } from "./util/ort.js";

const SEED = Number(process.env.KILN_PROPERTY_SEED ?? 23);
const GRAPHS = Number(process.env.KILN_PROPERTY_RUNS ?? 120);

// The expressions are monotone in each dim (sums, products, Min, Max and Div by a positive constant
// of dims and non-negative constants): kiln's check at the lower bounds covers those, as a clamp
// that agrees at the lower and the upper bound holds its value between them (symbolic-low.ts).
// A function that rises and falls again (`n % 3`, a Where that singles out one value) and agrees
// at every probe and lower bound would still be taken as a constant; none is generated here.
type Expr = { leaf: "a" | "b" } | { k: number } | { op: "Add" | "Mul" | "Min" | "Max"; l: Expr; r: Expr } | { op: "Div"; l: Expr; by: number };

const leaf = fc.constantFrom<Expr>({ leaf: "a" }, { leaf: "b" });
const k = fc.integer({ min: 0, max: 30 }).map((v): Expr => ({ k: v }));
const expr: fc.Arbitrary<Expr> = fc.letrec<{ e: Expr }>((tie) => ({
  // clamps weighted up: what hides a value from the probes near the bounds
  e: fc.oneof({ maxDepth: 4, depthSize: "small" },
    { arbitrary: leaf, weight: 2 },
    { arbitrary: k, weight: 2 },
    { arbitrary: fc.record({ op: fc.constantFrom("Add", "Mul", "Min", "Max", "Min", "Max"), l: tie("e"), r: tie("e") }) as fc.Arbitrary<Expr>, weight: 4 },
    { arbitrary: fc.record({ op: fc.constant("Div"), l: tie("e"), by: fc.integer({ min: 1, max: 9 }) }) as fc.Arbitrary<Expr>, weight: 2 }),
})).e;
/** half of them a dim clamped by a constant at the top (the form a probe near the bounds may see as one value) */
const clamped: fc.Arbitrary<Expr> = fc.oneof(expr,
  fc.record({ op: fc.constantFrom("Min", "Max"), l: fc.oneof(leaf, expr), r: k }) as fc.Arbitrary<Expr>,
  fc.record({ op: fc.constant("Div"), l: leaf, by: fc.integer({ min: 2, max: 30 }) }) as fc.Arbitrary<Expr>);

/** x [a, b] float32 times the expression over its dims (int64 scalars as [1]), as text */
function model(e: Expr): string {
  const lines: string[] = [];
  let n = 0;
  const fresh = () => `v${n++}`;
  const konst = (k: number) => {
    const v = fresh();
    lines.push(`const %${v} : int64[1] = dense<[${k}]>`);
    return v;
  };
  const node = (op: string, ins: string[], dt = "int64") => {
    const v = fresh();
    lines.push(`%${v} : ${dt}[1] = ${op}(${ins.map((i) => `%${i}`).join(", ")}) {name="${v}"}`);
    return v;
  };
  const walk = (x: Expr): string => {
    if ("leaf" in x) return x.leaf === "a" ? "da" : "db";
    if ("k" in x) return konst(x.k);
    if (x.op === "Div") return node("Div", [walk(x.l), konst(x.by)]);
    return node(x.op, [walk(x.l), walk(x.r)]);
  };
  const top = walk(e);
  return `kiln.graph opsets("" = 13)
input %x : float32[a,b]
const %i0 : int64[1] = dense<[0]>
const %i1 : int64[1] = dense<[1]>
%s : int64[2] = Shape(%x) {name="shape"}
%da : int64[1] = Gather(%s, %i0) {name="da"}
%db : int64[1] = Gather(%s, %i1) {name="db"}
${lines.join("\n")}
%f : float32[1] = Cast[to=1](%${top}) {name="cast"}
%y : float32[a,b] = Mul(%x, %f) {name="scale"}
output %y`;
}

const bounds = fc.record({ aMin: fc.integer({ min: 1, max: 4 }), aSpan: fc.integer({ min: 1, max: 6 }), bMin: fc.integer({ min: 1, max: 12 }), bSpan: fc.integer({ min: 2, max: 40 }) });

it(`values computed from bounded dims agree with onnxruntime-node at every value tried, or are refused (${GRAPHS} random expressions, seed ${SEED})`, async () => {
  const stats = { compiled: 0, refused: 0, runs: 0 };
  await fc.assert(fc.asyncProperty(clamped, bounds, fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 2, maxLength: 4 }), async (e, bd, picks) => {
    const bytes = exportModel(parseGraph(model(e)));
    const [aMax, bMax] = [bd.aMin + bd.aSpan, bd.bMin + bd.bSpan];
    let m;
    try {
      m = await load(bytes, { shapes: { a: [bd.aMin, aMax], b: [bd.bMin, bMax] }, cache: false });
    } catch (err) {
      if (err instanceof KilnError && err.code === "UNSUPPORTED_OP") { stats.refused++; return; }
      throw err;
    }
    stats.compiled++;
    const at: [number, number][] = [[bd.aMin, bd.bMin], [aMax, bMax], [bd.aMin, bMax], [aMax, bd.bMin], ...picks.map(([p, q]): [number, number] => [bd.aMin + (p % (bd.aSpan + 1)), bd.bMin + (q % (bd.bSpan + 1))])];
    for (const [a, b] of at) {
      const feeds: Record<string, Tensor> = { x: { dtype: "float32", dims: [a, b], data: Float32Array.from({ length: a * b }, (_, i) => 1 + (i % 3)) } };
      const [got, want] = [await m.run(feeds), await runOrt(bytes, feeds)];
      stats.runs++;
      expect(Array.from(got.y.data as Float32Array), `${JSON.stringify(e)} at a=${a} b=${b}`).toEqual(Array.from(want.y.data as Float32Array));
    }
    expect(m.modulesCompiled).toBe(1);
  }), { seed: SEED, numRuns: GRAPHS, endOnFailure: false });
  console.log(`dims property: ${stats.compiled} compiled, ${stats.refused} refused, ${stats.runs} runs compared`);
  expect(stats.compiled).toBeGreaterThan(GRAPHS / 2);
}, 600_000);
