// kiln serve (worker threads behind node:http) and the packed Cloudflare Worker under workerd
// (npm workerd, on 127.0.0.1): each answers a bounded load test (2,000 requests, 32 at once,
// binary and JSON bodies alternating) with 0 errors and outputs equal to kiln run's, and refuses
// bad requests with 4xx and a typed error. Latency and throughput are printed, not asserted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildZooModel } from "../models/zoo.js";
import { readTensorFile } from "../compiler/driver/testdata.js";
import { formatLoad, freePort, loadTest } from "../bench/load.js";
import { kiln } from "./util/cli.js";

const root = path.resolve(import.meta.dirname, "..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-serve-"));
const onnx = path.join(tmp, "mobilenet.onnx");
const wasm = path.join(tmp, "mobilenet.wasm");
const n = 3 * 64 * 64;
// kiln run's default input for a float tensor: arange, element i = i / n
const input = Float32Array.from({ length: n }, (_, i) => i / n);
let want: Float32Array;
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) c.kill("SIGTERM");
  fs.rmSync(tmp, { recursive: true, force: true });
});

beforeAll(() => {
  fs.writeFileSync(onnx, buildZooModel("mobilenet"));
  expect(kiln(["compile", onnx, "-o", wasm, "--quiet"]).code).toBe(0);
  const saved = path.join(tmp, "saved");
  fs.mkdirSync(saved);
  const r = kiln(["run", wasm, "--save", saved]);
  expect(r.stderr).toBe("");
  want = readTensorFile(path.join(saved, "output_0.pb")).data as Float32Array;
  expect(want.length).toBe(10);
}, 120_000);

/** GET url until it answers (the server is up), for at most `ms` */
async function waitUp(url: string, child: ChildProcess, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer in ${ms} ms`);
}

function start(command: string, args: string[], cwd = root): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let text = "";
  child.stdout!.on("data", (d) => (text += d));
  child.stderr!.on("data", (d) => (text += d));
  return { child, output: () => text };
}

const binaryBody = new Uint8Array(input.buffer);
const jsonBody = JSON.stringify({ inputs: { input: Array.from(input) } });

/** the load test the issue asks for: 2,000 requests, 32 concurrent, every answer equal to kiln run's */
async function expectLoadTestPasses(base: string, what: string) {
  const r = await loadTest(`${base}/run`, {
    requests: 2000,
    concurrency: 32,
    make: (i) => (i % 2 ? { body: jsonBody, headers: { "content-type": "application/json" } } : { body: binaryBody, headers: { "content-type": "application/octet-stream" } }),
    check: (i, res, body) => {
      if (i % 2 === 0) {
        if (JSON.parse(res.headers.get("x-kiln-outputs") ?? "[]")[0]?.dims?.join(",") !== "1,10") return `x-kiln-outputs ${res.headers.get("x-kiln-outputs")}`;
        const got = new Float32Array(body);
        return got.length === want.length && got.every((v, k) => Object.is(v, want[k])) ? undefined : `binary output ${Array.from(got.slice(0, 3))} is not kiln run's ${Array.from(want.slice(0, 3))}`;
      }
      const out = JSON.parse(new TextDecoder().decode(body)).outputs;
      const data = (Object.values(out)[0] as { data: number[] }).data;
      return data.length === want.length && data.every((v, k) => Math.fround(v) === want[k]) ? undefined : `JSON output ${data.slice(0, 3)} is not kiln run's`;
    },
  });
  console.log(formatLoad(what, r));
  expect(r.reasons).toEqual([]);
  expect(r.errors).toBe(0);
}

async function expectBadRequestsRefused(base: string) {
  const short = await fetch(`${base}/run`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: new Uint8Array(12) });
  expect(short.status).toBe(400);
  expect((await short.json()).error.message).toMatch(/the binary body has 12 bytes; the inputs take 49152 \(input float32\[1,3,64,64\]: 49152\)/);
  const misspelled = await fetch(`${base}/run`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs: { inptu: [1] } }) });
  expect(misspelled.status).toBe(400);
  expect((await misspelled.json()).error.code).toBe("BAD_INPUT");
  const notJson = await fetch(`${base}/run`, { method: "POST", headers: { "content-type": "application/json" }, body: "{" });
  expect(notJson.status).toBe(400);
  expect((await fetch(`${base}/nowhere`)).status).toBe(404);
  expect((await fetch(`${base}/run`)).status).toBe(405);
  const about = await (await fetch(`${base}/`)).json();
  expect(about.inputs).toEqual([{ name: "input", dtype: "float32", dims: [1, 3, 64, 64] }]);
}

describe("kiln serve --workers N", () => {
  let base: string;
  beforeAll(async () => {
    const port = await freePort();
    const s = start(process.execPath, [path.join(root, "bin/kiln.js"), "serve", wasm, "--port", String(port), "--workers", "2"]);
    base = `http://127.0.0.1:${port}`;
    await waitUp(`${base}/`, s.child);
    expect(s.output()).toMatch(new RegExp(`kiln: serving .*mobilenet\\.wasm on http://127\\.0\\.0\\.1:${port} with 2 worker threads`));
  }, 120_000);

  it("answers 2,000 requests, 32 at once, with kiln run's output and no errors", () => expectLoadTestPasses(base, "kiln serve --workers 2"), 300_000);
  it("refuses bad requests with 4xx and a typed error", () => expectBadRequestsRefused(base), 60_000);

  it("refuses bad flags before loading anything", () => {
    expect(kiln(["serve", wasm, "--workers", "0"]).stderr).toMatch(/--workers takes a whole number from 1 to 256, got 0/);
    expect(kiln(["serve", wasm, "--port", "http"]).stderr).toMatch(/--port takes a whole number/);
    expect(kiln(["serve", wasm, "-O1"]).stderr).toMatch(/-O apply when kiln serve compiles an \.onnx model/);
  });
});

describe("kiln pack --target worker, under workerd", () => {
  const dir = path.join(tmp, "worker");
  let base: string;
  beforeAll(async () => {
    const r = kiln(["pack", wasm, "-o", dir, "--target", "worker", "--name", "mobilenet"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/Cloudflare Worker mobilenet: [0-9.]+ MB, [0-9.]+ MB gzip, within the free plan's 3 MB/);
    const port = await freePort();
    const workerd = path.join(root, "node_modules/workerd/bin/workerd");
    const s = start(workerd, ["serve", path.join(dir, "workerd.capnp"), "--socket-addr", `http=127.0.0.1:${port}`], dir);
    base = `http://127.0.0.1:${port}`;
    await waitUp(`${base}/`, s.child);
  }, 120_000);

  it("writes the Worker: fetch handler, runtime, wasm modules, wrangler.toml and workerd.capnp", () => {
    for (const f of ["worker.js", "model.wasm", "checksum.wasm", "runtime/session.js", "runtime/serve.js", "wrangler.toml", "workerd.capnp"]) expect(fs.existsSync(path.join(dir, f)), f).toBe(true);
    expect(fs.readFileSync(path.join(dir, "wrangler.toml"), "utf8")).toMatch(/^main = "worker\.js"$/m);
  });

  it("answers 2,000 requests, 32 at once, with kiln run's output and no errors", () => expectLoadTestPasses(base, "workerd (kiln pack --target worker)"), 300_000);
  it("refuses bad requests with 4xx and a typed error", () => expectBadRequestsRefused(base), 60_000);
});
