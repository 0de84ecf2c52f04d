// The import graph of kiln's own source files, read from the text of their import statements
// (static imports and re-exports, side-effect imports, and import() of a literal path).
import * as fs from "node:fs";
import * as path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../..");

/** Source folders of the product and its tools (tests are not part of the layering). */
const SOURCE_DIRS = ["runtime", "compiler", "codegen", "passes", "models", "bench"];

export function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.posix.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(rel);
    }
  };
  for (const d of SOURCE_DIRS) walk(d);
  return out.sort();
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^"';]*?\s+from\s+)?["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;

/** The repository-relative .ts files that `file` imports. */
export function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), "utf8");
  const found = new Set<string>();
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, ".ts");
    found.add(target);
  }
  return [...found].sort();
}

export function importGraph(): Map<string, string[]> {
  return new Map(sourceFiles().map((f) => [f, importsOf(f)]));
}

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
export function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], onStack = new Set<string>();
  const cycles: string[][] = [];
  // iterative, so a long import chain cannot overflow the call stack
  for (const start of graph.keys()) {
    if (index.has(start)) continue;
    const work: [string, number][] = [[start, 0]];
    while (work.length) {
      const frame = work[work.length - 1];
      const [v, k] = frame;
      if (k === 0) {
        index.set(v, next);
        low.set(v, next++);
        stack.push(v);
        onStack.add(v);
      }
      const edges = (graph.get(v) ?? []).filter((w) => graph.has(w));
      if (k < edges.length) {
        frame[1]++;
        const w = edges[k];
        if (!index.has(w)) work.push([w, 0]);
        else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length) {
        const u = work[work.length - 1][0];
        low.set(u, Math.min(low.get(u)!, low.get(v)!));
      }
      if (low.get(v) === index.get(v)) {
        const scc: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          scc.push(w);
        } while (w !== v);
        if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(scc.sort());
      }
    }
  }
  return cycles;
}
