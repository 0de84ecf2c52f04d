// The structure CI holds the code to: no import cycle between files, and every import going to
// the importer's own layer or one below it (test/architecture/layers.ts).
import { describe, expect, it } from "vitest";
import { importCycles, importGraph } from "./architecture/imports.js";
import { LAYERS, layerOf, PASSES_MAY_IMPORT_FROM_CODEGEN } from "./architecture/layers.js";

const graph = importGraph();

describe("architecture", () => {
  it("finds the imports it checks (a reader that sees nothing cannot fail)", () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get("codegen/module.ts")).toContain("runtime/errors.ts");
  });

  it("has no import cycle between files", () => {
    expect(importCycles(graph).map((c) => c.join(" <-> "))).toEqual([]);
  });

  it("detects a cycle when there is one", () => {
    const g = new Map([["a.ts", ["b.ts"]], ["b.ts", ["c.ts"]], ["c.ts", ["a.ts"]], ["d.ts", ["a.ts"]]]);
    expect(importCycles(g)).toEqual([["a.ts", "b.ts", "c.ts"]]);
  });

  it("imports only downward: runtime <- front <- codegen <- passes <- driver <- models, bench", () => {
    const bad: string[] = [];
    for (const [file, deps] of graph) {
      for (const dep of deps) {
        if (layerOf(dep) > layerOf(file)) bad.push(`${file} (${LAYERS[layerOf(file)].name}) imports ${dep} (${LAYERS[layerOf(dep)].name})`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("runtime/ imports nothing outside itself", () => {
    const out = [...graph].filter(([f]) => f.startsWith("runtime/")).flatMap(([f, deps]) => deps.filter((d) => !d.startsWith("runtime/")).map((d) => `${f} -> ${d}`));
    expect(out).toEqual([]);
  });

  it("passes see codegen only through its capabilities module", () => {
    const out = [...graph].filter(([f]) => f.startsWith("passes/"))
      .flatMap(([f, deps]) => deps.filter((d) => d.startsWith("codegen/") && !PASSES_MAY_IMPORT_FROM_CODEGEN.includes(d)).map((d) => `${f} -> ${d}`));
    expect(out).toEqual([]);
  });
});
