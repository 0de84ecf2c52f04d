// Symbolic dims at run time (docs/ARCHITECTURE.md "Symbolic dims"): a module compiled for bounds
// (`shapes: { seq: [1, 512] }`) takes feeds whose dims follow the slots' dim expressions. The
// runtime finds each symbol's value from the inputs' dims (a dim that is a symbol alone), checks
// them against the bounds and every input's dims, writes them where the kernels read them
// (SYMBOLS_ADDR: i32 each, in the reserved bytes), and gives outputs the dims their expressions
// say. Every symbolic slot has the padded layout's prefix form (codegen checks it): its data is
// the first elements of its slot.
import { KilnError } from "./errors.js";

/** a term: its coefficient, then the indices of the symbols it multiplies (none: a constant) */
export type DimTerm = number[];
/** a dim: a number, or a sum of terms over the symbols */
export type DimExpr = number | DimTerm[];

/** where symbol k's value is, an i32 at SYMBOLS_ADDR + 4k (after the thread control words) */
export const SYMBOLS_ADDR = 48;
export const MAX_SYMBOLS = 4;

export interface SymbolInfo {
  name: string;
  min: number;
  max: number;
}

export function evalDim(e: DimExpr, values: readonly number[]): number {
  return typeof e === "number" ? e : e.reduce((a, [c, ...s]) => a + s.reduce((p, k) => p * values[k], c), 0);
}

/** The symbols' values from the fed dims (by slot), or BAD_INPUT naming the input, the dim and the bounds. */
export function solveSymbols(symbols: readonly SymbolInfo[], slots: readonly { name: string; expr?: DimExpr[] }[], fed: (name: string) => readonly number[] | undefined): number[] {
  const values: number[] = [];
  const by: string[] = [];
  for (const slot of slots) {
    const dims = fed(slot.name);
    slot.expr?.forEach((e, k) => {
      if (typeof e === "number" || e.length !== 1 || e[0].length !== 2 || e[0][0] !== 1 || !dims || dims.length !== slot.expr!.length) return;
      const i = e[0][1], d = dims[k], s = symbols[i];
      const at = `input ${JSON.stringify(slot.name)} dim ${k} (${s.name})`;
      if (values[i] !== undefined && values[i] !== d) throw new KilnError("BAD_INPUT", `${at} is ${d} but ${by[i]} makes ${s.name} ${values[i]}`);
      if (d < s.min || d > s.max) throw new KilnError("BAD_INPUT", `${at} is ${d}, outside the bounds ${s.min}..${s.max} the model was compiled for (recompile with wider bounds)`);
      values[i] = d;
      by[i] = `input ${JSON.stringify(slot.name)} dim ${k}`;
    });
  }
  symbols.forEach((s, i) => values[i] ??= s.max);
  return values;
}
