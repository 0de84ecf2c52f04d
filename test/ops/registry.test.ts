// The op registry and the kernels agree: every defined op has a kernel (or is compile-time only),
// every kernel runs a defined op, and the traits passes rely on promise only what the kernels do.
// And nothing outside the registry keeps a list of op names of its own.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { allOps, hasTrait } from "../../compiler/ops/index.js";
import type { Trait } from "../../compiler/ops/registry.js";
import { allKernelFamilies, kernelFamily } from "../../codegen/kernels/index.js";
import { fusedLoopTakes } from "../../codegen/kernels/fused/elementwise.js";
import { epilogueTakes } from "../../codegen/kernels/fused/epilogue.js";
import { UNARY_FORMULAS } from "../../codegen/kernels/unary/ops.js";
import { FUSED_DOMAIN } from "../../compiler/ir/graph.js";
import { ROOT, sourceFiles } from "../architecture/imports.js";

const ops = allOps().filter((d) => d.domain !== "kiln.test");
const name = (d: { domain: string; name: string }) => (d.domain ? `${d.domain}::${d.name}` : d.name);
const withTrait = (t: Trait) => ops.filter((d) => d.traits.has(t));

describe("op registry", () => {
  it("defines the operators kiln runs (a registry that lost its families cannot pass)", () => {
    expect(ops.length).toBeGreaterThan(150);
    for (const t of ["elementwise", "in-place", "alias", "fusible", "epilogue", "epilogue-anchor", "compile-time-only"] as const) {
      expect(withTrait(t).length, t).toBeGreaterThan(0);
    }
  });

  it("gives every op a kernel, or marks it compile-time only or lowered with its subgraphs (and then it has none)", () => {
    const kernelless = (d: (typeof ops)[number]) => d.traits.has("compile-time-only") || d.traits.has("subgraphs");
    const missing = ops.filter((d) => !kernelless(d) && !kernelFamily({ domain: d.domain, op: d.name })).map(name);
    expect(missing).toEqual([]);
    const extra = ops.filter((d) => kernelless(d) && kernelFamily({ domain: d.domain, op: d.name })).map(name);
    expect(extra).toEqual([]);
    expect(withTrait("subgraphs").map(name)).toContain("If");
  });

  it("runs no kernel for an op it does not define", () => {
    const defined = new Set(ops.map(name));
    const stray = allKernelFamilies().filter((f) => f.domain !== FUSED_DOMAIN && f.domain !== "kiln.test")
      .flatMap((f) => f.ops.map((op) => name({ domain: f.domain, name: op }))).filter((k) => !defined.has(k));
    expect(stray).toEqual([]);
  });

  it("names its kernel variants uniquely within each family", () => {
    for (const f of allKernelFamilies()) {
      const names = f.variants.map((v) => v.name);
      expect(new Set(names).size, f.name).toBe(names.length);
    }
  });

  it("marks fusible only ops the fused loop has a formula for", () => {
    expect(withTrait("fusible").filter((d) => !fusedLoopTakes(d.name)).map(name)).toEqual([]);
  });

  it("marks epilogue exactly the unary ops with an f32x4 form (and Clip)", () => {
    expect(withTrait("epilogue").filter((d) => !epilogueTakes(d.name)).map(name)).toEqual([]);
    const unmarked = Object.entries(UNARY_FORMULAS).filter(([op, f]) => epilogueTakes(op) && !hasTrait({ op, domain: f.domain ?? "" }, "epilogue"));
    expect(unmarked.map(([op]) => op)).toEqual([]);
  });

  it("gives every unary formula a definition, and every float unary op a formula", () => {
    expect(Object.entries(UNARY_FORMULAS).filter(([op, f]) => !hasTrait({ op, domain: f.domain ?? "" }, "unary")).map(([op]) => op)).toEqual([]);
    const noFormula = withTrait("unary").filter((d) => d.traits.has("fusible") && !["Clip", "Cast"].includes(d.name) && !UNARY_FORMULAS[d.name]?.float);
    expect(noFormula.map(name)).toEqual([]);
  });

  it("keeps traits consistent with each other", () => {
    const implies: [Trait, Trait][] = [
      ["unary", "elementwise"], ["broadcasting", "elementwise"], ["comparison", "broadcasting"], ["in-place", "elementwise"],
      ["reshape", "alias"], ["reshape", "moves"], ["uniform", "elementwise"], ["costly", "epilogue"], ["epilogue", "unary"],
      ["layout-agnostic", "elementwise"], ["fusible", "elementwise"],
    ];
    for (const [a, b] of implies) expect(withTrait(a).filter((d) => !d.traits.has(b)).map(name), `${a} => ${b}`).toEqual([]);
    expect(ops.filter((d) => d.exact && !d.traits.has("uniform")).map(name)).toEqual([]);
    expect(ops.filter((d) => !!d.anchor !== d.traits.has("epilogue-anchor")).map(name)).toEqual([]);
  });
});

/** A declaration of two or more op names: const X = [..] / new Set([..]) / { Op: .. } holding op names. */
function opListsIn(text: string, opNames: ReadonlySet<string>, objects: boolean): string[] {
  const found: string[] = [];
  const decl = /(?:const|let|var)\s+(\w+)(?:\s*:[^;]*?)?\s*=\s*(new Set\(\s*)?([[{])/g;
  for (const m of text.matchAll(decl)) {
    const open = m.index! + m[0].length - 1;
    if (m[3] === "{" && !objects) continue;
    // the literal's own elements (strings, or keys), not what nested code mentions
    let depth = 0, end = open;
    const top: string[] = [];
    for (; end < text.length; end++) {
      const c = text[end];
      if (c === "[" || c === "{" || c === "(") depth++;
      else if (c === "]" || c === "}" || c === ")") { if (--depth === 0) break; }
      else if (depth === 1) top.push(c);
      if (depth > 1 && top[top.length - 1] !== "\u0000") top.push("\u0000");
    }
    const body = top.join("");
    const names = m[3] === "["
      ? [...body.matchAll(/"([A-Za-z]+)"/g)].map((x) => x[1])
      : [...body.matchAll(/(?:^|[,\u0000])\s*"?([A-Z][A-Za-z]+)"?\s*:/g)].map((x) => x[1]);
    const listed = names.filter((n) => opNames.has(n));
    if (listed.length >= 2) found.push(`${m[1]}: ${listed.slice(0, 4).join(", ")}${listed.length > 4 ? ", ..." : ""}`);
  }
  return found;
}

describe("no op lists outside the registry", () => {
  const opNames = new Set(ops.map((d) => d.name));
  const files = sourceFiles().filter((f) => /^(passes|codegen|compiler)\//.test(f) && !f.startsWith("compiler/ops/"));

  it("finds none in passes/, codegen/ and compiler/ (a kernel's table of formulas is its kernel rows)", () => {
    const lists = files.flatMap((f) => {
      const text = fs.readFileSync(path.join(ROOT, f), "utf8");
      return opListsIn(text, opNames, !f.startsWith("codegen/kernels/")).map((l) => `${f}: ${l}`);
    });
    expect(lists).toEqual([]);
  });

  it("would find one", () => {
    const names = new Set(["Relu", "Tanh", "Add"]);
    expect(opListsIn(`const ACTIVATIONS = new Set(["Relu", "Tanh"]);`, names, true)).toHaveLength(1);
    expect(opListsIn(`const T: Record<string, number> = { Relu: 1, Add: 2 };`, names, true)).toHaveLength(1);
    expect(opListsIn(`if (["Relu", "Tanh"].includes(op)) f();`, names, true)).toHaveLength(0);
  });
});
