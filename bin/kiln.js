#!/usr/bin/env node
// KILN_DIST points at another build output (developers building into .build/NAME), relative to the
// working folder or absolute: a relative one given to import() as it is would be a package name.
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
const dist = process.env.KILN_DIST ? resolve(process.env.KILN_DIST) : new URL("../dist", import.meta.url).pathname;
const argv = process.argv.slice(2);

/**
 * `kiln bench` runs kiln against onnxruntime: its code (dist/bench) is part of a kiln checkout,
 * not of the published package, and onnxruntime is a development dependency. Both load only here.
 */
async function bench() {
  let mod;
  try {
    mod = await import(`${dist}/bench/cli.js`);
  } catch (e) {
    if (e?.code !== "ERR_MODULE_NOT_FOUND") throw e;
    const ort = /onnxruntime-(web|node)/.exec(String(e.message))?.[0];
    console.error(ort
      ? `kiln: bench compares kiln with onnxruntime, and ${ort} is not installed: npm install onnxruntime-web onnxruntime-node`
      : "kiln: bench is part of kiln's source checkout, not of the published package: clone kiln, then npm ci && npx kiln bench ...");
    return 2;
  }
  return mod.main(argv.slice(1));
}

/**
 * the commands dist/cli/kiln.js is for (scripts/bundle-cli.mjs): run and inspect load 28 modules,
 * one file is 40 ms faster; --help loads 4, which import faster than the bundle's 123 KB
 */
const BUNDLED = ["run", "inspect"];

/**
 * dist/cli/kiln.js when it is there and not older than any dist/ file it was made from: a build
 * that ran tsc without scripts/bundle-cli.mjs runs dist/'s modules, never a stale bundle.
 */
function freshBundle() {
  try {
    const made = statSync(`${dist}/cli/kiln.js`).mtimeMs;
    const inputs = JSON.parse(readFileSync(`${dist}/cli/kiln.inputs.json`, "utf8"));
    return inputs.every((f) => statSync(`${dist}/${f}`).mtimeMs <= made) ? `${dist}/cli/kiln.js` : undefined;
  } catch {
    return undefined;
  }
}

if (argv[0] === "bench") {
  process.exitCode = await bench();
} else {
  const entry = (process.env.KILN_NO_BUNDLE !== "1" && BUNDLED.includes(argv[0]) && freshBundle()) || `${dist}/compiler/driver/cli/main.js`;
  const { main } = await import(entry);
  // a command's work ends when main returns: once its output is written (Node writes to files,
  // and on Linux to pipes and terminals, synchronously; elsewhere a pipe may still hold some), exit
  // rather than wait for the runtime's teardown (about 30 ms after kiln run on a small VM)
  process.exitCode = await main(argv);
  if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) process.exit();
}
