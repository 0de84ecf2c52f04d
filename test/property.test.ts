// Property-based differential testing (issue 19): random small graphs of the ops kiln supports,
// run in kiln at -O0 and -O2 and in onnxruntime-node, must agree (test/property/ explains the
// generator and the tolerance). fast-check shrinks a failure to a minimal graph, printed with
// its data. The seed is fixed per run (reproducible); KILN_PROPERTY_SEED picks another and
// KILN_PROPERTY_RUNS sets how many graphs (default 2000).
import { expect, it } from "vitest";
import fc from "fast-check";
import { batch, build, catalog, kernelSelection } from "./property/arbitraries.js";
import { checkBatch } from "./property/run.js";

const SEED = Number(process.env.KILN_PROPERTY_SEED ?? 19);
const GRAPHS = Number(process.env.KILN_PROPERTY_RUNS ?? 2000);
const BATCH = 8;

it(`kiln agrees with onnxruntime on ${GRAPHS} random graphs (seed ${SEED})`, async () => {
  const cat = catalog();
  const stats = { graphs: 0, compared: 0, unstable: 0, batches: 0, nodes: 0 };
  const ops = new Map<string, number>();
  const started = performance.now();
  console.log(`property test: seed ${SEED} (KILN_PROPERTY_SEED), ${GRAPHS} graphs (KILN_PROPERTY_RUNS), ${cat.length} steps`);
  let shrinking = false;
  await fc.assert(fc.asyncProperty(batch(BATCH), async ({ opset, force, graphs }) => {
    const builders = graphs.flatMap((r, k) => (r ? [build(r, opset, cat, `g${k}_`)] : []));
    if (builders.length === 0) return;
    try {
      const res = await checkBatch(builders, SEED, kernelSelection(force));
      if (!shrinking) {
        for (const b of builders) for (const n of b.nodes) ops.set(n.op, (ops.get(n.op) ?? 0) + 1);
        stats.nodes += builders.reduce((t, b) => t + b.nodes.length, 0);
        stats.graphs += res.graphs;
        stats.compared += res.compared;
        stats.unstable += res.unstable;
        stats.batches++;
      }
    } catch (e) {
      shrinking = true;
      throw e;
    }
  // a graph shrinks to null at a rate of 1/1000 (arbitraries.ts batch): 2% more batches make up for those
  }), { seed: SEED, numRuns: Math.ceil((GRAPHS * 1.02) / BATCH), endOnFailure: false });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`property test: ${stats.graphs} graphs (${stats.nodes} nodes, ${ops.size} distinct ops) in ${stats.batches} batches, ${stats.compared} output elements compared, ${stats.unstable} left out as unstable, ${seconds} s`);
  console.log(`nodes by op: ${[...ops].sort((a, b) => b[1] - a[1]).map(([op, n]) => `${op} ${n}`).join(", ")}`);
  expect(stats.graphs).toBeGreaterThanOrEqual(GRAPHS);
  expect(stats.compared).toBeGreaterThan(stats.unstable * 20);
}, 1_800_000);
