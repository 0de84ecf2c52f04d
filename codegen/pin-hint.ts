// How a refusal over symbolic dims says which dims to pin: the symbols a tensor's dims use, as the
// command line and the API name them. A data-dependent dim (a count a node's kernel writes: its
// SymbolInfo.node) cannot be pinned: the refusal names the node whose values decide it.
import type { DimExpr, SymbolInfo } from "../runtime/dims.js";

export function pinHint(symbols: readonly SymbolInfo[], e: readonly DimExpr[]): string {
  const used = [...new Set(e.flatMap((d) => (typeof d === "number" ? [] : d.flatMap(([, ...s]) => s))))].map((i) => symbols[i]);
  const names = used.filter((s) => s.node === undefined).map((s) => s.name);
  const owned = used.filter((s) => s.node !== undefined).map((s) => `${s.name} is the count node ${JSON.stringify(s.node)} gives at run time, which kiln cannot pin`);
  const decided = owned.length ? `${names.length ? "; " : ""}${owned.join("; ")}` : "";
  if (!names.length) return decided;
  return `pin ${names.length > 1 ? "them" : "it"} with ${names.map((n) => `--shape ${n}=N`).join(" ")} (API: shapes: { ${names.map((n) => `${n}: N`).join(", ")} })${decided}`;
}
