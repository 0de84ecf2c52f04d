// How a refusal over symbolic dims says which dims to pin: the symbols a tensor's dims use, as the
// command line and the API name them.
import type { DimExpr, SymbolInfo } from "../runtime/dims.js";

export function pinHint(symbols: readonly SymbolInfo[], e: readonly DimExpr[]): string {
  const used = new Set(e.flatMap((d) => (typeof d === "number" ? [] : d.flatMap(([, ...s]) => s))));
  const names = [...used].map((i) => symbols[i].name);
  return `pin ${names.length > 1 ? "them" : "it"} with ${names.map((n) => `--shape ${n}=N`).join(" ")} (API: shapes: { ${names.map((n) => `${n}: N`).join(", ")} })`;
}
