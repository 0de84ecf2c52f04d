// FileCheck-style assertions on IR text, as LLVM's and MLIR's lit tests write them: a pass test
// states only what it checks instead of restating the whole graph.
//   CHECK: text        the next line (after the last match) containing text
//   CHECK-NEXT: text   the line right after the last match contains text
//   CHECK-SAME: text   the last matched line contains text, after what matched there
//   CHECK-NOT: text    no line between the last match and the next match contains text
//   {{regex}}          inside any pattern: a regular expression
import { expect } from "vitest";

type Kind = "CHECK" | "CHECK-NEXT" | "CHECK-SAME" | "CHECK-NOT";

function pattern(text: string): RegExp {
  const parts = text.split(/(\{\{.*?\}\})/).map((p) => (p.startsWith("{{") ? p.slice(2, -2) : p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  return new RegExp(parts.join(""));
}

/** Fails with the check that did not hold and the text around where it looked. */
export function fileCheck(output: string, checks: string): void {
  const lines = output.split("\n");
  // a directive this checker does not know (CHECK-DAG, a typo) would check nothing: refused
  const unknown = checks.split("\n").find((l) => /^\s*CHECK[-A-Z]*:/.test(l) && !/^\s*CHECK(?:-NEXT|-SAME|-NOT)?:/.test(l));
  if (unknown !== undefined) throw new Error(`fileCheck: unknown directive in ${JSON.stringify(unknown.trim())} (CHECK, CHECK-NEXT, CHECK-SAME, CHECK-NOT)`);
  const directives = checks.split("\n").map((l) => /^\s*(CHECK(?:-NEXT|-SAME|-NOT)?):\s?(.*)$/.exec(l)).filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({ kind: m[1] as Kind, re: pattern(m[2].trimEnd()), text: m[2].trimEnd() }));
  if (directives.length === 0) throw new Error("fileCheck: no CHECK lines");
  let line = -1, col = 0;
  let pendingNot: typeof directives = [];
  const fail = (d: (typeof directives)[number], from: number) =>
    expect.fail(`${d.kind}: ${d.text}\nnot satisfied, looking from line ${from + 1}:\n${lines.slice(Math.max(0, from), from + 8).join("\n")}`);
  const checkNots = (from: number, to: number) => {
    for (const d of pendingNot) {
      for (let k = from; k < to; k++) if (d.re.test(lines[k])) expect.fail(`CHECK-NOT: ${d.text}\nfound on line ${k + 1}: ${lines[k]}`);
    }
    pendingNot = [];
  };
  for (const d of directives) {
    if (d.kind === "CHECK-NOT") { pendingNot.push(d); continue; }
    if (d.kind === "CHECK-SAME") {
      const m = line >= 0 ? d.re.exec(lines[line].slice(col)) : null;
      if (!m) fail(d, line);
      col += m!.index + m![0].length;
      continue;
    }
    if (d.kind === "CHECK-NEXT") {
      const k = line + 1;
      const m = k < lines.length ? d.re.exec(lines[k]) : null;
      if (!m) fail(d, k);
      checkNots(line + 1, k);
      line = k;
      col = m!.index + m![0].length;
      continue;
    }
    let found = -1;
    for (let k = line + 1; k < lines.length; k++) if (d.re.test(lines[k])) { found = k; break; }
    if (found < 0) fail(d, line + 1);
    checkNots(line + 1, found);
    line = found;
    const m = d.re.exec(lines[found])!;
    col = m.index + m[0].length;
  }
  checkNots(line + 1, lines.length);
}
