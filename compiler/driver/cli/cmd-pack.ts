// kiln pack model.onnx|model.wasm -o DIR: the model as an npm package (pack.ts). An ONNX model is
// compiled first, with kiln compile's flags; a .wasm is packed as it is.
import * as fs from "node:fs";
import * as path from "node:path";
import { KilnError } from "../../../runtime/errors.js";
import { readUserFile } from "../files.js";
import { COMPILE_FLAGS, one, UsageError, type Args } from "./args.js";
import { fileIsWasm } from "./wasm-file.js";

export const PACK_TARGETS = ["npm", "worker"] as const;

/** -o DIR: a folder that does not exist yet (made), or one that does; not a file */
function checkOutputFolder(dir: string): void {
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (st && !st.isDirectory()) throw new KilnError("BAD_OPTION", `-o ${dir} is a file; kiln pack writes a folder`);
  const parent = path.dirname(path.resolve(dir));
  if (!fs.statSync(parent, { throwIfNoEntry: false })?.isDirectory()) throw new KilnError("BAD_OPTION", `-o ${dir}: the folder ${parent} does not exist`);
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

export async function cmdPack(args: Args): Promise<number> {
  const [model] = args.positionals;
  const out = one(args, "o");
  if (!out) throw new UsageError("pack needs -o DIR (the package's folder)");
  const target = one(args, "target") ?? "npm";
  if (!(PACK_TARGETS as readonly string[]).includes(target)) throw new UsageError(`--target takes ${PACK_TARGETS.join(" or ")}, got ${target}`);
  checkOutputFolder(out);
  const name = one(args, "name") ?? path.basename(model).replace(/\.(onnx|wasm)$/i, "");
  let wasm: Uint8Array;
  if (fileIsWasm(model) || /\.wasm$/i.test(model)) {
    const given = [...COMPILE_FLAGS, "simd"].filter((f) => args.flags.has(f));
    if (given.length) throw new UsageError(`${given.map((f) => (f === "O" ? "-O" : `--${f}`)).join(", ")} apply when kiln pack compiles an .onnx model; ${model} is compiled already`);
    wasm = readUserFile(fs, model, "artifact", "INVALID_ARTIFACT");
  } else {
    const { compileModelFile } = await import("./cmd-compile.js");
    wasm = (await compileModelFile(model, args)).compiled.wasm;
  }
  const { packNpm, packWorker, WORKER_SIZE_LIMITS } = await import("../pack.js");
  if (target === "worker") {
    const w = await packWorker(wasm, out, { name });
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(2)} MB`;
    const fits = w.gzipBytes <= WORKER_SIZE_LIMITS.free ? "within the free plan's 3 MB" : w.gzipBytes <= WORKER_SIZE_LIMITS.paid ? "over the free plan's 3 MB, within the paid plan's 10 MB" : "OVER the paid plan's 10 MB: too big for Cloudflare Workers";
    if (!args.flags.has("quiet")) console.log(`kiln: ${model} -> ${out}/ (Cloudflare Worker ${w.name}: ${mb(w.bytes)}, ${mb(w.gzipBytes)} gzip, ${fits}; npx workerd serve ${out}/workerd.capnp, or npx wrangler deploy in ${out})`);
    return 0;
  }
  const result = await packNpm(wasm, out, { name });
  if (!args.flags.has("quiet")) {
    const runtime = result.files.filter((f) => f.file.startsWith("runtime/") && f.file.endsWith(".js")).reduce((a, f) => a + f.bytes, 0);
    console.log(`kiln: ${model} -> ${out}/ (npm package ${result.name}: model.wasm ${kb(wasm.length)}, runtime ${kb(runtime)} of JavaScript before bundling; npm install ${out})`);
  }
  return 0;
}
