// kiln pack: a compiled model as an npm package that needs nothing else installed. The package
// holds the artifact, typed bindings compiled to JavaScript with their .d.ts (bindings.ts), and
// kiln's runtime (the built runtime/ folder as it is: plain ES modules, no compiler, no binaryen),
// so `npm install ./pkg` and `import("pkg")` work in Node and a bundler bundles it for a page.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { KilnError } from "../../runtime/errors.js";
import type { Manifest } from "../../runtime/manifest.js";
import { readArtifact } from "./artifact-info.js";

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

/** Write the package for the artifact `wasm` into `dir` (created; files of the same names replaced). */
export async function packNpm(wasm: Uint8Array, dir: string, options: PackOptions): Promise<PackResult> {
  const { manifest } = readArtifact(wasm);
  const name = packageName(options.name);
  const { emitBindings } = await import("./bindings.js");
  const bindings = await emitBindings(manifest, { artifact: "./model.wasm", runtime: "./runtime/index.js", name: options.name });
  fs.mkdirSync(dir, { recursive: true });
  const files: { file: string; bytes: number }[] = [];
  const write = (file: string, data: string | Uint8Array) => {
    fs.writeFileSync(path.join(dir, file), data);
    files.push({ file, bytes: typeof data === "string" ? Buffer.byteLength(data) : data.length });
  };
  write("model.wasm", wasm);
  write("index.js", bindings.js);
  write("index.d.ts", bindings.dts);
  write("package.json", packageJson(name, options.version ?? "1.0.0", manifest));
  files.push(...copyRuntime(path.join(dir, "runtime")));
  return { dir, name, files };
}
