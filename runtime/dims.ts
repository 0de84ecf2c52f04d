// Symbolic dims at run time (docs/ARCHITECTURE.md "Symbolic dims"): a module compiled for bounds
// (`shapes: { seq: [1, 512] }`) takes feeds whose dims follow the slots' dim expressions. The
// runtime finds each symbol's value from the inputs' dims (a dim that is a symbol alone), checks
// them against the bounds and every input's dims, writes them where the kernels read them
// (SYMBOLS_ADDR: i32 each, in the reserved bytes), and gives outputs the dims their expressions
// say. Every symbolic slot has the padded layout's prefix form (codegen checks it): its data is
// the first elements of its slot.

/** a term: its coefficient, then the indices of the symbols it multiplies (none: a constant) */
export type DimTerm = number[];
/** a dim: a number, or a sum of terms over the symbols */
export type DimExpr = number | DimTerm[];

/** where symbol k's value is, an i32 at SYMBOLS_ADDR + 4k (after the thread control words; codegen allows 4) */
export const SYMBOLS_ADDR = 48;

export interface SymbolInfo {
  name: string;
  min: number;
  max: number;
  /** where a run finds its value: [input index, dim] of an input whose dim is this symbol alone (codegen picks it) */
  at?: [number, number];
}

export const evalDim = (e: DimExpr, v: readonly number[]): number =>
  (typeof e === "number" ? e : e.reduce((a, [c, ...s]) => a + s.reduce((p, k) => p * v[k], c), 0));
