// Issue 16, criterion 1 (npm run test:big): a model whose weights pass wasm32's 4 GiB runs under
// a memory budget in Node, JIT from the ONNX and AOT from a .wasm with its weights file, and
// answers as onnxruntime-node does (rtol 1e-3), each kiln process under 2 GiB of peak RSS
// (/usr/bin/time -v). Defaults: 40 MatMul layers of 6144 x 6144 float32 (5.6 GiB of external
// data, models/big-mlp.ts), --memory-budget 1GB; written to a temp folder, deleted after.
// Flags: --layers N --dim D --budget SIZE --keep (leave the folder). Exits 1 on any failure.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { rng } from "../compiler/driver/cli/inputs.js";
import { onnx } from "../compiler/onnx/proto.js";
import { encodeTensor } from "../compiler/onnx/tensor.js";
import { readTensorFile } from "../compiler/driver/testdata.js";
import { writeBigMlp } from "../models/big-mlp.js";

const flag = (name: string, fallback: string) => {
  const k = process.argv.indexOf(`--${name}`);
  return k >= 0 ? process.argv[k + 1] : fallback;
};
const layers = Number(flag("layers", "40"));
const dim = Number(flag("dim", "6144"));
const budget = flag("budget", "1GB");
const RSS_LIMIT_KB = 2 * 1024 * 1024;
const kilnBin = path.resolve(import.meta.dirname, "../../bin/kiln.js");
const ortScript = path.resolve(import.meta.dirname, "big-ort.js");

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-big-"));
const failures: string[] = [];
const log = (s: string) => console.log(`big: ${s}`);

/** Run a command under /usr/bin/time -v: its exit code, output, seconds and peak RSS (KB). */
function timed(args: string[]): { ok: boolean; stdout: string; stderr: string; seconds: number; rssKb: number } {
  const t0 = performance.now();
  const r = spawnSync("/usr/bin/time", ["-v", process.execPath, ...args], { encoding: "utf8", maxBuffer: 1 << 26 });
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr ?? "");
  return { ok: r.status === 0, stdout: r.stdout ?? "", stderr: r.stderr ?? "", seconds: (performance.now() - t0) / 1000, rssKb: rss ? Number(rss[1]) : NaN };
}

/** allclose: |got - want| <= ATOL + RTOL |want| for every output (float32 sums of 6144 terms in another order) */
const RTOL = 1e-3, ATOL = 1e-4;
function compare(what: string, got: Float32Array, want: Float32Array): void {
  let maxAbs = 0, worst = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    maxAbs = Math.max(maxAbs, d);
    const excess = d / (ATOL + RTOL * Math.abs(want[i]));
    if (!(excess <= worst)) [worst, at] = [excess, i];
  }
  const ok = got.length === want.length && worst <= 1;
  log(`${what}: ${ok ? "matches" : "DIFFERS from"} onnxruntime-node within rtol ${RTOL}, atol ${ATOL} (max abs difference ${maxAbs.toExponential(2)}; worst element ${at} at ${worst.toFixed(2)} of the tolerance)`);
  if (!ok) failures.push(`${what} differs from onnxruntime-node`);
}

try {
  const need = layers * dim * dim * 4 * 2.2; // the external data, the AOT weights file, slack
  const free = fs.statfsSync(dir);
  if (free.bavail * free.bsize < need) throw new Error(`${dir} has ${(free.bavail * free.bsize / 2 ** 30).toFixed(1)} GiB free; this test needs ${(need / 2 ** 30).toFixed(1)} GiB`);
  let t0 = performance.now();
  const big = writeBigMlp(dir, { layers, dim });
  log(`wrote ${layers} layers of ${dim} x ${dim} float32: ${(big.weightBytes / 2 ** 30).toFixed(2)} GiB of external data in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const next = rng(7);
  const x = Float32Array.from({ length: dim }, () => next() * 2 - 1);
  fs.writeFileSync(path.join(dir, "x.bin"), new Uint8Array(x.buffer));
  fs.writeFileSync(path.join(dir, "x.pb"), onnx.TensorProto.encode(onnx.TensorProto.create(encodeTensor("x", { dtype: "float32", dims: [1, dim], data: x }))).finish());

  t0 = performance.now();
  const ort = spawnSync(process.execPath, [ortScript, big.model, path.join(dir, "x.bin"), path.join(dir, "ort.bin")], { encoding: "utf8" });
  if (ort.status !== 0) throw new Error(`onnxruntime-node failed: ${ort.stderr}`);
  const want = new Float32Array(new Uint8Array(fs.readFileSync(path.join(dir, "ort.bin"))).buffer);
  log(`onnxruntime-node: ${((performance.now() - t0) / 1000).toFixed(1)} s (its own process)`);

  const step = (what: string, args: string[]) => {
    const r = timed([kilnBin, ...args]);
    log(`${what}: ${r.ok ? "ok" : "FAILED"} in ${r.seconds.toFixed(1)} s, peak RSS ${(r.rssKb / 1024).toFixed(0)} MiB${r.rssKb > RSS_LIMIT_KB ? " (OVER 2 GiB)" : ""}`);
    if (!r.ok) failures.push(`${what}: ${r.stderr.split("\n").find((l) => l.startsWith("kiln:")) ?? r.stderr.slice(0, 400)}`);
    if (!(r.rssKb <= RSS_LIMIT_KB)) failures.push(`${what}: peak RSS ${r.rssKb} KB, over 2 GiB`);
    return r.ok;
  };
  const output = (sub: string) => new Float32Array((readTensorFile(path.join(dir, sub, "output_0.pb")).data as Float32Array));

  fs.mkdirSync(path.join(dir, "jit"));
  if (step(`kiln run big.onnx --memory-budget ${budget} (JIT)`, ["run", big.model, "--input", `x=${path.join(dir, "x.pb")}`, "--memory-budget", budget, "--save", path.join(dir, "jit")])) compare("JIT", output("jit"), want);
  const wasm = path.join(dir, "big.wasm");
  if (step(`kiln compile big.onnx --memory-budget ${budget}`, ["compile", big.model, "-o", wasm, "--memory-budget", budget, "--quiet"])) {
    log(`AOT: big.wasm ${fs.statSync(wasm).size} bytes, big.bin ${(fs.statSync(path.join(dir, "big.bin")).size / 2 ** 30).toFixed(2)} GiB`);
    fs.mkdirSync(path.join(dir, "aot"));
    if (step(`kiln run big.wasm --memory-budget ${budget} (AOT, weights file big.bin)`, ["run", wasm, "--input", `x=${path.join(dir, "x.pb")}`, "--memory-budget", budget, "--save", path.join(dir, "aot")])) compare("AOT", output("aot"), want);
  }
} catch (e) {
  failures.push((e as Error).message);
} finally {
  if (process.argv.includes("--keep")) log(`kept ${dir}`);
  else fs.rmSync(dir, { recursive: true, force: true });
}
if (failures.length) {
  console.error(`big: FAILED\n  ${failures.join("\n  ")}`);
  process.exit(1);
}
log("passed");
