// fast-check arbitraries for random graphs. A graph is a recipe: an opset, up to eight steps
// (each an index into the catalog of steps and a list of integers its choices read, picker.ts),
// which of its inner values are outputs too, and a seed for its data. build() turns a recipe
// into a graph; any recipe builds a valid one (a step that finds nothing to read is skipped),
// so fast-check can shrink freely: dropping steps, moving choices toward the plainest.
import fc from "fast-check";
import { Builder } from "./graph.js";
import { Picker, scramble } from "./picker.js";
import type { Step } from "./steps.js";
import { allKernelFamilies } from "../../codegen/kernels/index.js";
import { unarySteps, predicateSteps } from "./ops-unary.js";
import { binarySteps } from "./ops-binary.js";
import { nnSteps } from "./ops-nn.js";
import { reduceSteps } from "./ops-reduce.js";
import { movementSteps } from "./ops-movement.js";
import { recurrentSteps } from "./ops-recurrent.js";
import { indexSteps } from "./ops-index.js";
import { linearSteps } from "./ops-linear.js";
import { motifSteps } from "./motifs.js";

export interface StepRecipe {
  step: number;
  picks: number[];
}

export interface GraphRecipe {
  steps: StepRecipe[];
  outputs: number[];
  seed: number;
}

export const MAX_NODES = 8;
const PICKS = 24;

/** Steps drawn more often than the rest of their family (the elementwise arithmetic most graphs are made of). */
const OFTEN: Record<string, number> = { Add: 4, Sub: 3, Mul: 4, Div: 2, Where: 2, Cast: 2, Clip: 2, MatMul: 3, Gemm: 2, Conv: 4, Softmax: 2 };
/** ... and less often (bit twiddling is a side show). */
const RARE = new Set(["BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "And", "Or", "Xor", "Not", "IsInf", "IsNaN", "CastLike"]);

/** Every step, with how often it is drawn relative to the others. */
export function catalog(): { step: Step; weight: number }[] {
  const weighted = (steps: Step[], weight: number) => steps.map((step) => ({
    step, weight: step.name ? weight : RARE.has(step.op) ? 0.3 : weight * (OFTEN[step.op] ?? 1),
  }));
  return [
    ...weighted(unarySteps(), 0.6),
    ...weighted(predicateSteps(), 1),
    ...weighted(binarySteps(), 1.5),
    ...weighted(nnSteps(), 1.5),
    ...weighted(reduceSteps(), 1),
    ...weighted(movementSteps(), 1.2),
    ...weighted(recurrentSteps(), 1),
    ...weighted(indexSteps(), 1),
    ...weighted(linearSteps(), 1),
    ...weighted(motifSteps(), 2),
  ].map((c) => ({ ...c, weight: Math.round(c.weight * 10) }));
}

export function graphRecipe(): fc.Arbitrary<GraphRecipe> {
  return fc.record({
    steps: fc.array(fc.record({ step: fc.nat({ max: 65535 }), picks: fc.array(fc.nat({ max: 65535 }), { minLength: PICKS, maxLength: PICKS }) }), { minLength: 1, maxLength: MAX_NODES }),
    outputs: fc.array(fc.nat({ max: 7 }), { minLength: 2, maxLength: 2 }),
    seed: fc.nat({ max: 1_000_000 }),
  });
}

export interface BatchRecipe {
  /** the ai.onnx opset of the batch's model (an op newer than it is not drawn) */
  opset: number;
  /** kernel variants forced at -O2 (indices into kernelVariants(); none: kiln's own choice) */
  force: number[];
  graphs: (GraphRecipe | null)[];
}

/**
 * Every kernel variant of the families that have more than one, as "family/variant": forcing one
 * (KILN_KERNELS=+winograd-f2x2, options.kernels) turns its heuristics off, so it runs every layer
 * it can, not only those it would be chosen for.
 */
export function kernelVariants(): string[] {
  return allKernelFamilies().filter((f) => f.variants.length > 1).flatMap((f) => f.variants.map((v) => `${f.name}/${v.name}`));
}

/** The kernel selection of a batch at -O2: "+family/variant,..." or "" (kiln's choice). */
export function kernelSelection(force: readonly number[]): string {
  const names = kernelVariants();
  return [...new Set(force.map((k) => names[scramble(k) % names.length]))].map((n) => `+${n}`).join(",");
}

/**
 * A batch of graphs compiled as one model. Its length is fixed; a graph shrinks to null (left
 * out), so a failing batch shrinks to the one graph that fails.
 */
export function batch(size: number): fc.Arbitrary<BatchRecipe> {
  return fc.record({
    opset: fc.constantFrom(18, 21, 24),
    // half the batches force kernel variants
    force: fc.oneof(fc.constant<number[]>([]), fc.array(fc.nat({ max: 65535 }), { minLength: 1, maxLength: 3 })),
    graphs: fc.array(fc.option(graphRecipe(), { nil: null, freq: 1000 }), { minLength: size, maxLength: size }),
  });
}

/** The total weight of a catalog: a drawn step number picks a step in proportion to its weight. */
function totalWeight(cat: readonly { weight: number }[]): number {
  return cat.reduce((a, c) => a + c.weight, 0);
}

function stepAt(cat: readonly { step: Step; weight: number }[], drawn: number): Step {
  let k = scramble(drawn) % totalWeight(cat);
  for (const c of cat) {
    if (k < c.weight) return c.step;
    k -= c.weight;
  }
  return cat[cat.length - 1].step;
}

/** The graph of a recipe; `prefix` keeps names apart in a batch. */
export function build(recipe: GraphRecipe, opset: number, cat: readonly { step: Step; weight: number }[], prefix: string): Builder {
  const b = new Builder(prefix, opset, recipe.seed);
  for (const s of recipe.steps) {
    const step = stepAt(cat, s.step);
    if (b.nodes.length + step.nodes > MAX_NODES) continue;
    step.build(b, new Picker(s.picks));
  }
  if (b.nodes.length === 0) {
    const x = b.input("float32", [3], "unit")!;
    b.node("Relu", [x], {}, { ulps: 0 });
  }
  b.finish(recipe.outputs);
  return b;
}
