// The hostile-input corpus (test/hostile/): every case is generated into a temp folder, then run
// through the CLI and/or the API, and must give exactly its KilnError code: never "internal
// error", an untyped exception, a stack trace without --verbose, a crash or a hang.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KilnError } from "../runtime/errors.js";
import type { HostileCase } from "./hostile/case.js";
import { CASES } from "./hostile/cases/index.js";
import { generateCorpus } from "./hostile/generate.js";

const bin = path.resolve(import.meta.dirname, "../bin/kiln.js");
const root = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-hostile-"));
/** a case that runs longer than this hangs (the slowest compile here takes well under a second) */
const HANG_MS = 60_000;

beforeAll(async () => {
  await generateCorpus(root);
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

interface CliResult { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs kiln in the case's folder, asynchronously: the CLI cases run a few at a time (each is a process start). */
function runCli(c: HostileCase): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...c.cli!], { cwd: path.join(root, c.name), timeout: HANG_MS });
    let stdout = "", stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => void (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => void (stderr += s));
    child.on("error", reject);
    child.on("close", (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

function expectCli(c: HostileCase, r: CliResult): void {
  const what = `kiln ${c.cli!.join(" ")}\nexit ${r.status} ${r.signal ?? ""}\n${r.stderr}`;
  expect(r.signal, `${what}: killed (a crash, or a hang past ${HANG_MS} ms)`).toBeNull();
  expect(r.stderr, what).not.toMatch(/internal error|INTERNAL:/);
  expect(r.stderr, `${what}: a stack trace without --verbose`).not.toMatch(/\n\s+at /);
  if (c.code === "ok") {
    expect(r.status, what).toBe(0);
    if (c.message) expect(r.stdout, what).toMatch(c.message);
    return;
  }
  if (c.code === "typed") {
    if (r.status !== 0) expect(r.stderr, what).toMatch(/^kiln: [A-Z_]+: /);
    return;
  }
  expect(r.stderr.split("\n")[0], what).toMatch(new RegExp(`^kiln: ${c.code}: `));
  expect(r.status, what).toBe(c.code === "BAD_OPTION" ? 2 : 1);
  if (c.message) expect(r.stderr, what).toMatch(c.message);
}

async function expectApi(c: HostileCase): Promise<void> {
  let error: unknown;
  try {
    await c.api!(path.join(root, c.name));
  } catch (e) {
    error = e;
  }
  const what = error instanceof Error ? error.stack : String(error);
  if (c.code === "ok") {
    expect(error, what).toBeUndefined();
    return;
  }
  if (c.code === "typed" && error === undefined) return;
  expect(error, `untyped: ${what}`).toBeInstanceOf(KilnError);
  const e = error as KilnError;
  expect(e.code, what).not.toBe("INTERNAL");
  if (c.code === "typed") return;
  expect(e.code, what).toBe(c.code);
  if (c.message) expect(e.message, what).toMatch(c.message);
}

describe("hostile inputs through the CLI", () => {
  for (const c of CASES.filter((x) => x.cli)) {
    it.concurrent(`${c.name}: kiln ${c.cli!.join(" ")} -> ${c.code}`, async () => expectCli(c, await runCli(c)), HANG_MS + 10_000);
  }
});

describe("hostile inputs through the API", () => {
  for (const c of CASES.filter((x) => x.api)) it(`${c.name} -> ${c.code}`, () => expectApi(c), HANG_MS);
});
