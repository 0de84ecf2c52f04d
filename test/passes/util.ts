// Pass tests are IR text in, IR text out (like MLIR's lit tests): parse the input, run one pass,
// print, and compare with the expected text (normalized by a parse/print round trip).
import { expect } from "vitest";
import { evaluateNode } from "../../compiler/driver/evaluate.js";
import { parseGraph } from "../../compiler/ir/parse.js";
import { printGraph } from "../../compiler/ir/print.js";
import { verifyGraph } from "../../compiler/ir/verify.js";
import type { Pass } from "../../passes/pass.js";

const HEADER = `kiln.graph opsets("" = 13)\n`;

export function normalize(text: string): string {
  return printGraph(parseGraph(HEADER + text));
}

export async function runPassOn(pass: Pass, input: string): Promise<string> {
  const g = parseGraph(HEADER + input);
  verifyGraph(g, { typed: true });
  await pass.run(g, { evaluate: evaluateNode });
  verifyGraph(g, { typed: true });
  return printGraph(g);
}

export async function expectPass(pass: Pass, input: string, expected: string): Promise<void> {
  expect(await runPassOn(pass, input)).toBe(normalize(expected));
}

/** The pass must leave the graph exactly as it was. */
export async function expectUnchanged(pass: Pass, input: string): Promise<void> {
  expect(await runPassOn(pass, input)).toBe(normalize(input));
}
