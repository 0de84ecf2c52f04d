// The CLI's fast path as one file: dist/cli/kiln.js, the tsc output of the kiln command's main
// (compiler/driver/cli/main.js), `kiln run` and `kiln inspect` and the runtime they load, bundled
// by esbuild. Node 20 pays about 1 ms for each module it loads (28 on `kiln run model.wasm`): one
// file cuts those imports from about 50 to 12 ms. bin/kiln.js runs it for run and inspect
// while it is not older than any file it was made from (dist/cli/kiln.inputs.json lists them), and
// dist/compiler/driver/cli/main.js otherwise: a build that ran tsc alone never runs a stale bundle.
// What stays out, imported from dist/ as before: anything that loads the compiler (the compile
// commands, `kiln run model.onnx`'s compile), the ONNX test-data reader (--input x.pb, --data) and
// the --save encoder. They get dist/'s copies of the runtime's modules; the error classes are not
// copied (SHARED), so KilnError and UsageError keep one identity, and nothing else with state
// crosses over.
// Run by npm run build / prepare / test after tsc:  node scripts/bundle-cli.mjs [dist]
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * dist-relative files the bundle imports from dist/ rather than carry: the error classes, so that
 * the modules it leaves out (below), which import them from dist/, throw the same KilnError and
 * UsageError the bundle's code checks with instanceof (one identity, two module loads)
 */
const SHARED = ["runtime/errors.js", "compiler/driver/cli/args.js"];

/** dist-relative files whose dynamic import() is bundled (lazily evaluated, as before); others stay imports */
const INLINE = [/^runtime\//, /^compiler\/driver\/cli\/cmd-(run|inspect)\.js$/, /^compiler\/driver\/(artifact-info|trace|files)\.js$/];

const posix = (p) => p.split(path.sep).join("/");
const relative = (fromDir, to) => {
  const r = posix(path.relative(fromDir, to));
  return r.startsWith(".") ? r : `./${r}`;
};

/**
 * The bundle's text and the dist files it was made from. In the bundled modules, `new URL("./x",
 * import.meta.url)` (the workers' scripts) is rewritten to point from the bundle's folder at the
 * same file, and session.js's import of threads.js through such a URL becomes a plain import, so
 * the thread pool and the scheduler share one checksum module.
 */
export async function bundleCli(dist) {
  const esbuild = await import("esbuild");
  const outDir = path.join(dist, "cli");
  const rel = (file) => posix(path.relative(dist, file));
  const plugin = {
    name: "kiln-cli",
    setup(build) {
      build.onResolve({ filter: /^\./ }, (args) => {
        const target = path.resolve(args.resolveDir, args.path);
        if (SHARED.includes(rel(target))) return { path: relative(outDir, target), external: true };
        if (args.kind !== "dynamic-import" || INLINE.some((re) => re.test(rel(target)))) return undefined;
        return { path: relative(outDir, target), external: true };
      });
      build.onLoad({ filter: /\.js$/ }, (args) => {
        let text = fs.readFileSync(args.path, "utf8");
        const dir = path.dirname(args.path);
        text = text.replace(/import\(\/\* @vite-ignore \*\/ new URL\(("\.[^"]+"), import\.meta\.url\)\.href\)/g, (_, spec) => `import(${spec})`);
        text = text.replace(/new URL\("(\.[^"]*)", import\.meta\.url\)/g, (_, spec) => `new URL(${JSON.stringify(relative(outDir, path.resolve(dir, spec)) + (spec.endsWith("/") ? "/" : ""))}, import.meta.url)`);
        return { contents: text, loader: "js" };
      });
    },
  };
  const result = await esbuild.build({
    entryPoints: [path.join(dist, "compiler/driver/cli/main.js")],
    bundle: true, platform: "node", format: "esm", target: "node20", packages: "external",
    write: false, metafile: true, logLevel: "error", plugins: [plugin], outfile: path.join(outDir, "kiln.js"),
    banner: { js: "// kiln's CLI for run and inspect, bundled from dist/ by scripts/bundle-cli.mjs: do not edit" },
  });
  const inputs = Object.keys(result.metafile.inputs).map((f) => rel(path.resolve(f))).sort();
  const outside = inputs.filter((f) => f.startsWith("../"));
  if (outside.length) throw new Error(`bundle-cli: the bundle took files from outside ${dist}: ${outside.join(", ")}`);
  return { text: result.outputFiles[0].text, inputs };
}

/** Write dist/cli/kiln.js and kiln.inputs.json (the inputs after the bundle, so the bundle is never newer than its list). */
export async function writeCliBundle(dist) {
  const { text, inputs } = await bundleCli(dist);
  fs.mkdirSync(path.join(dist, "cli"), { recursive: true });
  fs.writeFileSync(path.join(dist, "cli/kiln.js"), text);
  fs.writeFileSync(path.join(dist, "cli/kiln.inputs.json"), JSON.stringify(inputs) + "\n");
  return { bytes: Buffer.byteLength(text), inputs: inputs.length };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const dist = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), "../dist"));
  const { bytes, inputs } = await writeCliBundle(dist);
  console.log(`dist/cli/kiln.js: ${bytes} bytes from ${inputs} modules`);
}
