// Graph size at scale (issue 19): long chains and wide Sums (models/scale.ts), each compiled by the
// CLI in a fresh process under /usr/bin/time -v (wall time, peak RSS), then loaded by the runtime
// alone in another fresh process that runs it twice (the first run places weights layer by layer,
// the second calls `run`), checks the output against the float32 expectation, profiles it, and
// checks the module's shape against V8's limits.
//
//   node dist/bench/scale.js [--cases chain:200000,sum-same:30000,sum-distinct:30000] [--levels 2,1,0]
//                            [--timeout 120] [--json] [--keep DIR]
//   npm run test:scale     the acceptance cases, exit 1 when one fails
//
// A case passes when it compiles within the timeout and runs correctly, or when the compiler
// refuses it quickly (under 5 s) with a typed error (exit code 1, "kiln: CODE: ...").
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createSession } from "../runtime/session.js";
import { splitWeights } from "../runtime/weights.js";
import { scaleError, scaleInput, scaleModel, scaleModelBytes, type ScaleKind } from "../models/scale.js";
import { overLimits, wasmShape, type WasmShape } from "../codegen/wasm-limits.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const KILN = path.resolve(HERE, "../../bin/kiln.js");
const SCRIPT = fileURLToPath(import.meta.url);
/** relative error the float32 output may have against the expectation (sums add in any order) */
const TOLERANCE = 1e-3;
/** a refusal must come this fast to count as one (issue 19) */
const REFUSAL_SECONDS = 5;

export const ACCEPTANCE = "chain:200000,sum-same:30000,sum-distinct:30000";

interface Case {
  kind: ScaleKind;
  n: number;
}

interface CompileMeasure {
  case: string;
  level: number;
  seconds: number;
  /** user + system time of the compiler (the machine is shared: wall time includes waiting) */
  cpuSeconds: number;
  peakRssMb: number;
  exit: number | null;
  /** the compiler's error line (first 200 characters) and its full length */
  error?: string;
  errorLength?: number;
  wasmBytes?: number;
  check?: CheckResult;
  ok: boolean;
}

interface CheckResult {
  ok: boolean;
  message: string;
  layers?: number;
  maxError?: number;
  shape?: WasmShape;
  loadMs?: number;
  firstRunMs?: number;
  runMs?: number;
}

function parseCases(s: string): Case[] {
  return s.split(",").filter(Boolean).map((c) => {
    const [kind, n] = c.split(":");
    if (!["chain", "sum-same", "sum-distinct"].includes(kind) || !(Number(n) > 0)) throw new Error(`scale: bad case ${JSON.stringify(c)} (kind:count, kind chain|sum-same|sum-distinct)`);
    return { kind: kind as ScaleKind, n: Number(n) };
  });
}

/**
 * A command in its own process group under /usr/bin/time -v, killed whole at the timeout (killing
 * /usr/bin/time alone left the compiler running).
 */
function timedRun(args: string[], timeout: number): Promise<{ status: number | null; stdout: string; stderr: string; timedOut: boolean; seconds: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn("/usr/bin/time", ["-v", ...args], { detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "", timedOut = false;
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      process.kill(-child.pid!, "SIGKILL");
    }, timeout * 1000);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, timedOut, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

async function measureCompile(onnx: string, wasm: string, level: number, timeout: number): Promise<Omit<CompileMeasure, "case" | "level" | "ok" | "check">> {
  const r = await timedRun([process.execPath, KILN, "compile", onnx, "-o", wasm, `-O${level}`], timeout);
  const num = (re: RegExp) => Number(re.exec(r.stderr)?.[1] ?? NaN);
  const lines = r.stderr.split("\n").filter((l) => l && !/^\s/.test(l) && !l.startsWith("Command "));
  const error = lines.find((l) => l.startsWith("kiln:")) ?? lines[0];
  return {
    seconds: r.seconds,
    cpuSeconds: num(/User time \(seconds\): ([\d.]+)/) + num(/System time \(seconds\): ([\d.]+)/),
    peakRssMb: num(/Maximum resident set size \(kbytes\): (\d+)/) / 1024,
    exit: r.timedOut ? null : r.status,
    error: r.timedOut ? `timed out after ${timeout} s` : r.status === 0 ? undefined : error?.slice(0, 200),
    errorLength: r.status === 0 ? undefined : error?.length,
    wasmBytes: r.status === 0 ? fs.statSync(wasm).size : undefined,
  };
}

/** In a fresh process with the runtime alone: load, run twice, profile, check. */
async function check(wasmPath: string, kind: ScaleKind, n: number): Promise<CheckResult> {
  const bytes = new Uint8Array(fs.readFileSync(wasmPath));
  const split = splitWeights(bytes);
  const shape = wasmShape(split.code);
  const over = [...overLimits(shape), ...(split.relaxed ? overLimits(wasmShape(split.relaxed)) : []).map((s) => `relaxed build: ${s}`)];
  if (over.length) return { ok: false, message: `module over V8's limits: ${over.join("; ")}`, shape };
  let t = performance.now();
  const session = await createSession(bytes);
  const loadMs = performance.now() - t;
  const x = scaleInput();
  const want = scaleModel(kind, n).expected(x);
  t = performance.now();
  const first = Object.values(await session.run({ x }))[0];
  const firstRunMs = performance.now() - t;
  t = performance.now();
  const second = Object.values(await session.run({ x }))[0];
  const runMs = performance.now() - t;
  const profile = await session.profile({ x });
  const maxError = Math.max(scaleError(first.data as Float32Array, want), scaleError(second.data as Float32Array, want));
  const layers = session.manifest.layers.length;
  if (profile.length !== layers) return { ok: false, message: `profile timed ${profile.length} of ${layers} layers`, shape, layers };
  const ok = maxError <= TOLERANCE;
  return { ok, message: ok ? "ok" : `output off by ${maxError} (relative)`, layers, maxError, shape, loadMs, firstRunMs, runMs };
}

function runCheck(wasm: string, c: Case, timeout: number): CheckResult {
  const r = spawnSync(process.execPath, [SCRIPT, "--check", wasm, c.kind, String(c.n)], { encoding: "utf8", timeout: timeout * 1000, maxBuffer: 1 << 26, killSignal: "SIGKILL" });
  if (r.error) return { ok: false, message: `check failed: ${r.error.message}` };
  try {
    return JSON.parse(r.stdout.trim().split("\n").pop() ?? "") as CheckResult;
  } catch {
    return { ok: false, message: `check failed: ${(r.stderr || r.stdout).trim().split("\n")[0]?.slice(0, 300)}` };
  }
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "--check") {
    const r = await check(argv[1], argv[2] as ScaleKind, Number(argv[3])).catch((e: Error) => ({ ok: false, message: `${e.message}`.slice(0, 300) }));
    console.log(JSON.stringify(r));
    return r.ok ? 0 : 1;
  }
  const opt = (name: string, dflt: string) => {
    const k = argv.indexOf(`--${name}`);
    return k >= 0 ? argv[k + 1] : dflt;
  };
  const cases = parseCases(opt("cases", ACCEPTANCE));
  const levels = opt("levels", "2,1,0").split(",").map(Number);
  const timeout = Number(opt("timeout", "120"));
  const json = argv.includes("--json");
  const keep = opt("keep", "");
  const dir = keep || fs.mkdtempSync(path.join(os.tmpdir(), "kiln-scale-"));
  fs.mkdirSync(dir, { recursive: true });
  const results: CompileMeasure[] = [];
  try {
    for (const c of cases) {
      const name = `${c.kind}:${c.n}`;
      const onnx = path.join(dir, `${c.kind}-${c.n}.onnx`);
      fs.writeFileSync(onnx, scaleModelBytes(scaleModel(c.kind, c.n)));
      for (const level of levels) {
        const wasm = path.join(dir, `${c.kind}-${c.n}-O${level}.wasm`);
        const m = await measureCompile(onnx, wasm, level, timeout);
        const refused = m.exit === 1 && !!m.error?.match(/^kiln: [A-Z_]+: /) && m.seconds < REFUSAL_SECONDS && !m.error.startsWith("kiln: INTERNAL");
        const chk = m.exit === 0 ? runCheck(wasm, c, timeout) : undefined;
        const r: CompileMeasure = { case: name, level, ...m, check: chk, ok: refused || (m.exit === 0 && !!chk?.ok) };
        results.push(r);
        if (!json) console.log(line(r));
        if (!keep) fs.rmSync(wasm, { force: true });
      }
    }
  } finally {
    if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  }
  if (json) console.log(JSON.stringify(results, null, 1));
  return results.every((r) => r.ok) ? 0 : 1;
}

function line(r: CompileMeasure): string {
  const head = `${r.ok ? "ok  " : "FAIL"} ${r.case.padEnd(20)} -O${r.level}  compile ${r.seconds.toFixed(1).padStart(6)} s (cpu ${r.cpuSeconds.toFixed(1).padStart(6)} s)  peak RSS ${r.peakRssMb.toFixed(0).padStart(5)} MB`;
  if (r.exit !== 0) return `${head}  ${r.error ?? `exit ${r.exit}`}${(r.errorLength ?? 0) > 200 ? ` ... (${r.errorLength} characters)` : ""}`;
  const c = r.check!;
  const s = c.shape ? `  ${c.layers ?? "?"} layers, ${c.shape.functions} functions, ${c.shape.exports} exports, max ${c.shape.maxLocals} locals, max body ${c.shape.maxBodyBytes} B` : "";
  const t = c.loadMs !== undefined ? `  load ${c.loadMs.toFixed(0)} ms, first run ${c.firstRunMs!.toFixed(0)} ms, run ${c.runMs!.toFixed(1)} ms` : "";
  return `${head}  ${(r.wasmBytes! / 1024).toFixed(0)} KB  ${c.message}${s}${t}`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === SCRIPT) {
  main(process.argv.slice(2)).then((code) => (process.exitCode = code), (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}
