// kiln pack: a compiled model as an npm package that needs nothing else installed. The package
// holds the artifact, typed bindings compiled to JavaScript with their .d.ts (bindings.ts), and
// kiln's runtime (the built runtime/ folder as it is: plain ES modules, no compiler, no binaryen),
// so `npm install ./pkg` and `import("pkg")` work in Node and a bundler bundles it for a page.
// --target worker writes a Cloudflare Workers module instead: the runtime, the artifact as a wasm
// module, and a fetch handler speaking runtime/serve.ts's protocol, with a wrangler.toml to
// deploy it and a workerd config to run it locally.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { KilnError } from "../../runtime/errors.js";
import type { Manifest } from "../../runtime/manifest.js";
import { readArtifact } from "./artifact-info.js";
import { HASH_WASM_BYTES } from "../../runtime/checksum.js";

export interface PackOptions {
  /** the package's name (default: from the model file's name), made a valid npm name */
  name: string;
  version?: string;
}

export interface PackResult {
  dir: string;
  name: string;
  /** every file written, relative to dir, with its size */
  files: { file: string; bytes: number }[];
}

/** The built runtime beside this module (dist/runtime when this is dist/compiler/driver/pack.js). */
export function runtimeFolder(): string {
  return fileURLToPath(new URL("../../runtime/", import.meta.url));
}

/** "My Model_v2" -> "my-model_v2": lower case, npm's characters only, no leading dot or underscore */
export function packageName(raw: string): string {
  const name = raw.toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^[._-]+|-+$/g, "").slice(0, 214);
  if (!name) throw new KilnError("BAD_OPTION", `cannot make an npm package name of ${JSON.stringify(raw)}; pass --name`);
  return name;
}

/** The runtime's ES modules and declarations (no source maps: they point at sources the package lacks). */
function copyRuntime(into: string): { file: string; bytes: number }[] {
  const from = runtimeFolder();
  const names = fs.readdirSync(from).filter((f) => f.endsWith(".js") || f.endsWith(".d.ts"));
  if (!names.includes("index.js")) throw new KilnError("INTERNAL", `kiln's built runtime is missing at ${from} (run npm run build)`);
  fs.mkdirSync(into, { recursive: true });
  return names.map((f) => {
    const text = fs.readFileSync(path.join(from, f), "utf8").replace(/\n\/\/# sourceMappingURL=\S+\s*$/, "\n");
    fs.writeFileSync(path.join(into, f), text);
    return { file: `runtime/${f}`, bytes: Buffer.byteLength(text) };
  });
}

function packageJson(name: string, version: string, m: Manifest): string {
  const doc = m.model?.doc?.split("\n")[0].slice(0, 200);
  const io = (slots: Manifest["inputs"]) => slots.map((s) => `${s.name} ${s.dtype}[${s.dims.join(",")}]`).join(", ");
  return JSON.stringify({
    name,
    version,
    description: doc || `${m.model?.name ?? name} compiled to WebAssembly by kiln: ${io(m.inputs)} -> ${io(m.outputs)}`,
    type: "module",
    main: "./index.js",
    types: "./index.d.ts",
    exports: {
      ".": { types: "./index.d.ts", default: "./index.js" },
      "./model.wasm": "./model.wasm",
      "./runtime": { types: "./runtime/index.d.ts", default: "./runtime/index.js" },
    },
    sideEffects: false,
    files: ["index.js", "index.d.ts", "model.wasm", "runtime"],
    kiln: { version: m.kiln, format: m.format, features: m.features },
  }, null, 2) + "\n";
}

/** The folder `dir` (made), a writer into it, and the files written with their sizes. */
function folderWriter(dir: string) {
  fs.mkdirSync(dir, { recursive: true });
  const files: { file: string; bytes: number }[] = [];
  const write = (file: string, data: string | Uint8Array) => {
    fs.writeFileSync(path.join(dir, file), data);
    files.push({ file, bytes: typeof data === "string" ? Buffer.byteLength(data) : data.length });
  };
  return { files, write };
}

/** Write the package for the artifact `wasm` into `dir` (created; files of the same names replaced). */
export async function packNpm(wasm: Uint8Array, dir: string, options: PackOptions): Promise<PackResult> {
  const { manifest } = readArtifact(wasm);
  const name = packageName(options.name);
  const { emitBindings } = await import("./bindings.js");
  const bindings = await emitBindings(manifest, { artifact: "./model.wasm", runtime: "./runtime/index.js", name: options.name });
  const { files, write } = folderWriter(dir);
  write("model.wasm", wasm);
  write("index.js", bindings.js);
  write("index.d.ts", bindings.dts);
  write("package.json", packageJson(name, options.version ?? "1.0.0", manifest));
  files.push(...copyRuntime(path.join(dir, "runtime")));
  return { dir, name, files };
}

/** Cloudflare's limits on a Worker's size, compressed (gzip), free and paid plans (2025). */
export const WORKER_SIZE_LIMITS = { free: 3 * 1024 * 1024, paid: 10 * 1024 * 1024 };

const WORKER_JS = `// Generated by kiln pack --target worker: the model behind a fetch handler (runtime/serve.js
// says the protocol: GET / describes the model, POST /run runs it on JSON or binary tensors).
// Workers take wasm only as uploaded modules: the artifact and the checksum are imported as such.
import model from "./model.wasm";
import checksum from "./checksum.wasm";
import { provideHashModule } from "./runtime/checksum.js";
import { createSession } from "./runtime/session.js";
import { handleRequest } from "./runtime/serve.js";

provideHashModule(checksum);
let session;

export default {
  async fetch(request) {
    // one session per isolate, made at the first request; a failure is retried at the next
    session ??= createSession(model).catch((e) => {
      session = undefined;
      throw e;
    });
    return handleRequest(await session, request);
  },
};
`;

const COMPATIBILITY_DATE = "2025-01-01";

function workerdConfig(modules: string[]): string {
  const entries = modules.map((m) => (m.endsWith(".wasm") ? `(name = "${m}", wasm = embed "${m}")` : `(name = "${m}", esModule = embed "${m}")`));
  return `# Run the Worker locally: npx workerd serve workerd.capnp (listens on 127.0.0.1:8787;
# --socket-addr http=HOST:PORT to change it). Generated by kiln pack --target worker.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .model)],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "main")],
);

const model :Workerd.Worker = (
  modules = [
    ${entries.join(",\n    ")},
  ],
  compatibilityDate = "${COMPATIBILITY_DATE}",
);
`;
}

export interface WorkerPackResult extends PackResult {
  /** the upload's size: every module, and gzipped as Cloudflare counts it */
  bytes: number;
  gzipBytes: number;
}

/** Write the Worker for the artifact `wasm` into `dir`: worker.js, model.wasm, checksum.wasm, runtime/, wrangler.toml, workerd.capnp. */
export async function packWorker(wasm: Uint8Array, dir: string, options: PackOptions): Promise<WorkerPackResult> {
  readArtifact(wasm); // an artifact kiln's runtime accepts, checked before anything is written
  const name = packageName(options.name);
  const { files, write } = folderWriter(dir);
  write("worker.js", WORKER_JS);
  write("model.wasm", wasm);
  write("checksum.wasm", HASH_WASM_BYTES());
  const runtime = copyRuntime(path.join(dir, "runtime")).filter((f) => f.file.endsWith(".js"));
  for (const f of fs.readdirSync(path.join(dir, "runtime")).filter((f) => f.endsWith(".d.ts"))) fs.rmSync(path.join(dir, "runtime", f));
  files.push(...runtime);
  const modules = ["worker.js", "model.wasm", "checksum.wasm", ...runtime.map((f) => f.file)];
  write("wrangler.toml", `# npx wrangler deploy (wrangler bundles worker.js and its imports; .wasm imports are modules)\nname = "${name}"\nmain = "worker.js"\ncompatibility_date = "${COMPATIBILITY_DATE}"\n`);
  write("workerd.capnp", workerdConfig(modules));
  const { gzipSync } = await import("node:zlib");
  const uploaded = modules.map((m) => fs.readFileSync(path.join(dir, m)));
  return {
    dir, name, files,
    bytes: uploaded.reduce((a, b) => a + b.length, 0),
    gzipBytes: uploaded.reduce((a, b) => a + gzipSync(b).length, 0),
  };
}
