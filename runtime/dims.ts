// Symbolic dims at run time (docs/ARCHITECTURE.md "Symbolic dims"): a module compiled for bounds
// (`shapes: { seq: [1, 512] }`) takes feeds whose dims follow the slots' dim expressions. The
// runtime finds each symbol's value from the inputs' dims (a dim that is a symbol alone), checks
// them against the bounds and every input's dims, writes them where the kernels read them
// (SYMBOLS_ADDR: i32 each, in the reserved bytes), and gives outputs the dims their expressions
// say. A symbolic slot is laid out at the upper bounds (the padded layout): a feed or output
// varying in a dim after its leading ones ([1, 2, past, 64]) is copied block by block at the
// slot's strides (padBlocks); in the prefix form ([1, seq, 128]) that is one block, the slot's start.

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
  /**
   * a dim that takes multiples of `step` only (`W: [32, 640, 8]`): the symbol is the dim / step,
   * and min and max are in those units (4..80); the input dim it is read from is step * symbol
   */
  step?: number;
  /** where a run finds its value: [input index, dim] of an input whose dim is this symbol alone (codegen picks it) */
  at?: [number, number];
  /**
   * a data-dependent dim instead (NonMaxSuppression's count of boxes kept): the node that owns it
   * (compile time), and in the manifest the layer whose kernel writes its value as it runs; the
   * runtime reads it back after the run
   */
  node?: string;
  layer?: number;
}

/** "2*seq+1", "batch*seq"; a symbol with a step shows as its dim ("W", "W/2", "3*W/8") */
export function formatDim(e: DimExpr, symbols: readonly SymbolInfo[]): string {
  if (typeof e === "number") return String(e);
  return e.map(([c, ...s]) => {
    // c * (W / step): the fraction of W in lowest terms (16 * (W/32) is W/2)
    let a = Math.abs(c), b = s.length === 1 ? symbols[s[0]].step ?? 1 : 1;
    const d = b;
    while (b) [a, b] = [b, a % b];
    return [...(c !== a || !s.length ? [String(c / a)] : []), ...s.map((i) => symbols[i].name)].join("*") + (d !== a ? `/${d / a}` : "");
  }).join("+").replace(/\+-/g, "-");
}

/** a symbol at a value (in its units) as its dim takes it: "seq=7", "W=320" */
export const symbolAt = (s: SymbolInfo, v: number): string => `${s.name}=${v * (s.step ?? 1)}`;

/** a symbol's bounds as its dim takes them: "seq 1..512", "W 32..640 in steps of 8" */
export const symbolRange = (s: SymbolInfo): string => {
  const step = s.step ?? 1;
  return `${s.name} ${s.min * step}..${s.max * step}${step > 1 ? ` in steps of ${step}` : ""}`;
};

export const evalDim = (e: DimExpr, v: readonly number[]): number =>
  (typeof e === "number" ? e : e.reduce((a, [c, ...s]) => a + s.reduce((p, k) => p * v[k], c), 0));

/**
 * The contiguous blocks of a tensor of `run` dims inside its slot laid out at `max` dims: for
 * each, `each(compact element offset, slot element offset, elements)`. One block when only the
 * leading dims (after dims of 1) vary; none when the tensor is empty.
 */
export function padBlocks(run: readonly number[], max: readonly number[], each: (from: number, to: number, n: number) => void): void {
  let k = run.length - 1, block = 1, stride = 1;
  for (; k >= 0 && run[k] === max[k]; k--) block *= run[k];
  // outer index o over run[0..k-1]: the slot offset from max's strides
  const strides: number[] = [];
  for (let j = run.length - 1; j >= 0; j--) (strides[j] = stride), (stride *= max[j]);
  if (k >= 0) block *= run[k];
  let count = 1;
  for (let j = 0; j < k; j++) count *= run[j];
  for (let o = 0; o < count && block > 0; o++) {
    let to = 0;
    for (let j = k - 1, r = o; j >= 0; j--) (to += (r % run[j]) * strides[j]), (r = Math.floor(r / run[j]));
    each(o * block, to, block);
  }
}
