// Throughput of kiln serve against its worker count, and of the packed Worker under workerd:
//   npm run bench:serve -- model.wasm [--workers 1,2,4] [--requests 2000] [--concurrency 32] [--workerd]
// Each run answers the bounded load test (bench/load.ts) with kiln's arange inputs as binary
// bodies; every answer must equal the first one's bytes.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { sizeOf, storageBytes } from "../runtime/dtypes.js";
import { readArtifact } from "../compiler/driver/artifact-info.js";
import { makeInput } from "../compiler/driver/cli/inputs.js";
import { formatLoad, freePort, loadTest } from "./load.js";

const root = path.resolve(import.meta.dirname, "../..");
const argv = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const k = argv.indexOf(`--${name}`);
  return k >= 0 ? argv[k + 1] : fallback;
};
const model = argv.find((a) => a.endsWith(".wasm"));
if (!model) {
  console.error("usage: npm run bench:serve -- model.wasm [--workers 1,2,4] [--requests 2000] [--concurrency 32] [--workerd]");
  process.exit(2);
}
const requests = Number(flag("requests", "2000"));
const concurrency = Number(flag("concurrency", "32"));
const { manifest } = readArtifact(new Uint8Array(fs.readFileSync(model)));
const body = new Uint8Array(manifest.inputs.reduce((a, s) => a + storageBytes(s.dtype, sizeOf(s.dims)), 0));
let at = 0;
manifest.inputs.forEach((s, k) => {
  const t = makeInput("arange", s.dtype, [...s.dims], k).data;
  body.set(new Uint8Array(t.buffer, t.byteOffset, t.byteLength), at);
  at += storageBytes(s.dtype, sizeOf(s.dims));
});

async function measure(what: string, child: ChildProcess, base: string): Promise<void> {
  for (let t = 0; t < 300 && !(await fetch(`${base}/`).then((r) => r.ok, () => false)); t++) await new Promise((r) => setTimeout(r, 200));
  let first: Uint8Array | undefined;
  const r = await loadTest(`${base}/run`, {
    requests, concurrency,
    make: () => ({ body, headers: { "content-type": "application/octet-stream" } }),
    check: (_i, _res, b) => {
      const got = new Uint8Array(b);
      first ??= got;
      return got.length === first.length && got.every((v, k) => v === first![k]) ? undefined : "output differs from the first answer's";
    },
  });
  console.log(formatLoad(what, r));
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
}

console.log(`${path.basename(model)}: ${requests} requests, ${concurrency} concurrent, on ${os.availableParallelism()} cores`);
for (const workers of flag("workers", "1,2,4").split(",").map(Number)) {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(root, "bin/kiln.js"), "serve", model, "--port", String(port), "--workers", String(workers)], { stdio: "ignore" });
  await measure(`kiln serve --workers ${workers}`, child, `http://127.0.0.1:${port}`);
}
if (argv.includes("--workerd")) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-worker-"));
  spawnSync(process.execPath, [path.join(root, "bin/kiln.js"), "pack", model, "-o", dir, "--target", "worker", "--quiet"], { stdio: "inherit" });
  const port = await freePort();
  const child = spawn(path.join(root, "node_modules/workerd/bin/workerd"), ["serve", path.join(dir, "workerd.capnp"), "--socket-addr", `http=127.0.0.1:${port}`], { cwd: dir, stdio: "ignore" });
  await measure("workerd (kiln pack --target worker)", child, `http://127.0.0.1:${port}`);
  fs.rmSync(dir, { recursive: true, force: true });
}
