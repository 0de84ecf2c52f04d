// The ONNX node conformance suite as vitest tests, split into shards so that vitest's two
// workers share it. Contract: every case gets exactly one status; every case listed in
// test/conformance/expected-pass.txt passes (a regression otherwise); the pass count never
// drops below that list's length.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { runCase, type CaseResult } from "../../compiler/driver/conformance.js";
import type { OptLevel } from "../../passes/index.js";

export const NODE_DIR = path.resolve(import.meta.dirname, "../../../shared/onnx/node");
const EXPECTED = path.resolve(import.meta.dirname, "../conformance/expected-pass.txt");
const RESULTS_DIR = path.resolve(import.meta.dirname, "../../.build/conformance");

export function expectedPass(): Set<string> {
  if (!fs.existsSync(EXPECTED)) return new Set();
  return new Set(fs.readFileSync(EXPECTED, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")));
}

export function allCases(): string[] {
  return fs.readdirSync(NODE_DIR).filter((d) => fs.existsSync(path.join(NODE_DIR, d, "model.onnx"))).sort();
}

export function conformanceShard(shard: number, shards: number, level: OptLevel = 2): void {
  const cases = allCases().filter((_, i) => i % shards === shard);
  const expected = expectedPass();
  describe(`ONNX node conformance at -O${level}, shard ${shard + 1}/${shards}`, () => {
    it(`runs ${cases.length} cases, each passed, failed or unsupported, with no regressions`, async () => {
      const results: CaseResult[] = [];
      for (const c of cases) results.push(await runCase(path.join(NODE_DIR, c), { level }));
      fs.mkdirSync(RESULTS_DIR, { recursive: true });
      fs.writeFileSync(path.join(RESULTS_DIR, `O${level}-shard-${shard}.json`), JSON.stringify(results, null, 1));
      for (const r of results) expect(["passed", "failed", "unsupported"]).toContain(r.status);
      const regressions = results.filter((r) => expected.has(r.name) && r.status !== "passed").map((r) => `${r.name}: ${r.status} ${r.message}`);
      expect(regressions, "cases that used to pass").toEqual([]);
      const passed = results.filter((r) => r.status === "passed").length;
      const counts = `${passed} passed, ${results.filter((r) => r.status === "failed").length} failed, ${results.filter((r) => r.status === "unsupported").length} unsupported`;
      console.log(`conformance -O${level} shard ${shard + 1}/${shards}: ${counts}`);
    });
  });
}
