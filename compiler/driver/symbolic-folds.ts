// Symbolic dims (compiler/driver/symbolic.ts): whether an If folded at compile time takes the same
// branch at every value within the bounds, shown from its condition's cone at the probes, so that
// no value need be prepared one by one.
import { fitElements, type Snapshot } from "./symbolic-snapshot.js";
/**
 * Whether the condition of the folded If `name` is the same at every value within the bounds,
 * shown from its cone (Graph.foldedIfs `tree`) at the grid's probes (`grid`, its last the bounds)
 * and the check: each small integer fitted as a polynomial of the symbols, a value is invariant
 * when it is a constant, a bool computed from integers whose polynomials are all the same (a
 * comparison of a dim with itself: DeBERTa's "query length != key length", both `seq`), or
 * computed from invariant values only. False when that cannot be shown (kiln then checks the values).
 */
export function invariantFold(name: string, main: Snapshot, grid: readonly Snapshot[], atCheck: Snapshot, probes: readonly number[][], check: readonly number[]): boolean {
  const fold = main.folds.get(name);
  if (!fold) return false;
  const trees = [...grid, atCheck].map((s) => s.folds.get(name)?.tree);
  if (trees.some((t) => !t)) return false;
  const fitOf = (v: string): string | undefined => {
    const e = fitElements(trees.map((t) => t!.get(v)?.ints), probes, check);
    return e && JSON.stringify(e);
  };
  const memo = new Map<string, boolean>();
  const invariant = (v: string): boolean => {
    const known = memo.get(v);
    if (known !== undefined) return known;
    memo.set(v, false); // a cycle cannot show anything
    const step = fold.tree.get(v);
    let ok = false;
    if (step) {
      // a leaf: a constant of the model (the same elements at every probe), or the dims themselves (not invariant)
      if (step.from.length === 0) ok = step.ints !== undefined && (JSON.parse(fitOf(v) ?? "[null]") as unknown[]).every((e) => typeof e === "number");
      else if (step.bool && step.from.length > 1) {
        const fits = step.from.map(fitOf);
        ok = fits.every((f) => f !== undefined && f === fits[0]) || step.from.every(invariant);
      } else ok = step.from.every(invariant);
    }
    memo.set(v, ok);
    return ok;
  };
  return invariant(fold.cond);
}
