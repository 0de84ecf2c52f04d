// Constant folding's evaluations kept while a symbolic build runs (compiler/driver/evaluate-cache.ts):
// a request equal to an earlier one in its node and every input byte takes the earlier results,
// one that differs in a byte does not, a request reading another's output is found through that
// one's results, and nothing is kept outside a build or after it.
import { describe, expect, it } from "vitest";
import { cachedEvaluation, evaluationCache } from "../compiler/driver/evaluate-cache.js";
import type { Tensor } from "../compiler/ir/graph.js";

const f32 = (v: number[]): Tensor => ({ dtype: "float32", dims: [v.length], data: Float32Array.from(v) });
const req = (name: string, op: string, inputs: (Tensor | undefined)[], names: string[]) =>
  ({ node: { name, op, domain: "", inputs: names, outputs: [`${name}_out`], attrs: {} }, inputs, outputs: [{ dtype: "float32" as const, shape: [3] }] });

/** an evaluator that counts the requests it is asked for and answers each with a fresh tensor */
function counter() {
  const asked: string[] = [];
  const evaluate = async (rs: ReturnType<typeof req>[]) => rs.map((r) => (asked.push(r.node.name), [f32([asked.length, 0, 0])]));
  return { asked, evaluate };
}

describe("the evaluation cache of a symbolic build", () => {
  it("takes an equal request's results, not one differing in a byte; a request reading another's output is found through it", async () => {
    const { asked, evaluate } = counter();
    await evaluationCache(async () => {
      const group = () => [req("exp", "Exp", [f32([1, 2, 3])], ["x"]), req("log", "Log", [undefined], ["exp_out"])];
      const first = await cachedEvaluation(group(), evaluate);
      expect(asked).toEqual(["exp", "log"]);
      const again = await cachedEvaluation(group(), evaluate);
      expect(asked).toEqual(["exp", "log"]);
      expect(again[0][0]).toBe(first[0][0]);
      expect(again[1][0]).toBe(first[1][0]);
      // -0 is not 0 in bytes: a miss
      await cachedEvaluation([req("exp", "Exp", [f32([1, 2, -0])], ["x"])], evaluate);
      await cachedEvaluation([req("exp", "Exp", [f32([1, 2, 0])], ["x"])], evaluate);
      expect(asked).toEqual(["exp", "log", "exp", "exp"]);
      // another op on the same bytes: a miss
      await cachedEvaluation([req("exp", "Sin", [f32([1, 2, 3])], ["x"])], evaluate);
      expect(asked.length).toBe(5);
    });
  });

  it("keeps every result of a group whose outputs are views into one large memory (as a module's are), each by its own bytes", async () => {
    // 70 requests answered from one 4.8 MB buffer: held as the buffer once per output, each stored
    // entry went past the cache's bound and evicted the ones before it
    const memory = new Float32Array(1_200_000);
    const asked: string[] = [];
    const evaluate = async (rs: ReturnType<typeof req>[]) => rs.map((r, k) => (asked.push(r.node.name), [{ dtype: "float32" as const, dims: [3], data: memory.subarray(3 * k, 3 * k + 3) }]));
    const group = () => Array.from({ length: 70 }, (_, k) => req(`n${k}`, "Exp", [f32([k, 1, 2])], ["x"]));
    await evaluationCache(async () => {
      memory.fill(7);
      const first = await cachedEvaluation(group(), evaluate);
      expect(asked.length).toBe(70);
      memory.fill(0);
      const again = await cachedEvaluation(group(), evaluate);
      expect(asked.length).toBe(70);
      expect(again.map((r) => Array.from(r[0].data as Float32Array))).toEqual(first.map(() => [7, 7, 7]));
      expect(again[69][0].data.buffer.byteLength).toBe(12);
    });
  });

  it("keeps nothing outside a build, and nothing after it", async () => {
    const { asked, evaluate } = counter();
    const one = () => [req("exp", "Exp", [f32([4, 5, 6])], ["x"])];
    await cachedEvaluation(one(), evaluate);
    await cachedEvaluation(one(), evaluate);
    expect(asked.length).toBe(2);
    await evaluationCache(() => cachedEvaluation(one(), evaluate));
    await evaluationCache(() => cachedEvaluation(one(), evaluate));
    expect(asked.length).toBe(4);
  });
});
