// The CLI's fast path, dist/cli/kiln.js (scripts/bundle-cli.mjs): it is what the script makes from
// dist/ now, bin/kiln.js runs it only while it is fresh, and a command gives the same answer through
// it as through dist/'s modules, on one thread and on two (the worker script found from the bundle).
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { kiln } from "./util/cli.js";

const root = path.resolve(import.meta.dirname, "..");
const dist = path.join(root, "dist");
const bin = path.join(root, "bin/kiln.js");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-cli-bundle-"));

function kilnWith(env: Record<string, string>, args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** the module a failing `kiln run` went through, from the stack --verbose prints */
const ranFrom = (stderr: string) => (/at cmdRun \(file:\/\/([^:]+):/.exec(stderr)?.[1] ?? `no cmdRun frame in: ${stderr}`);

describe("dist/cli/kiln.js", () => {
  it("is what scripts/bundle-cli.mjs makes from dist/ now (npm run build writes it after tsc)", async () => {
    const { bundleCli } = await import(pathToFileURL(path.join(root, "scripts/bundle-cli.mjs")).href);
    const { text, inputs } = await bundleCli(dist);
    const hint = "dist/cli/kiln.js is not the bundle of the dist/ tsc wrote: run npm run build (or node scripts/bundle-cli.mjs)";
    expect(fs.readFileSync(path.join(dist, "cli/kiln.js"), "utf8") === text, hint).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(dist, "cli/kiln.inputs.json"), "utf8"))).toEqual(inputs);
    // the runtime and the run path are in it; nothing that loads the compiler or binaryen is
    expect(inputs).toEqual(expect.arrayContaining(["runtime/session.js", "runtime/threads.js", "compiler/driver/cli/cmd-run.js", "compiler/driver/cli/cmd-inspect.js"]));
    expect(inputs.filter((f: string) => /^(compiler\/(ir|onnx|passes)|codegen|passes|models)\//.test(f) || /cmd-compile|driver\/(compile|api)\.js/.test(f))).toEqual([]);
    expect(text).not.toMatch(/from "binaryen"|import\("binaryen"\)/);
  });

  it("runs for run and inspect while fresh; dist/'s modules when it is older than a file it was made from, or missing", () => {
    // a dist/ whose folders are the real ones and whose cli/ is a copy this test can age or remove
    const fake = path.join(tmp, "dist");
    fs.mkdirSync(path.join(fake, "cli"), { recursive: true });
    for (const e of fs.readdirSync(dist)) if (e !== "cli") fs.symlinkSync(path.join(dist, e), path.join(fake, e));
    for (const f of ["kiln.js", "kiln.inputs.json"]) fs.copyFileSync(path.join(dist, "cli", f), path.join(fake, "cli", f));
    const run = () => ranFrom(kilnWith({ KILN_DIST: fake }, ["run", path.join(tmp, "missing.wasm"), "--verbose"]).stderr);
    expect(run()).toBe(path.join(fake, "cli/kiln.js"));
    expect(ranFrom(kilnWith({ KILN_DIST: fake, KILN_NO_BUNDLE: "1" }, ["run", path.join(tmp, "missing.wasm"), "--verbose"]).stderr)).toBe(path.join(dist, "compiler/driver/cli/cmd-run.js"));
    const past = new Date(Date.UTC(2001, 0, 1));
    fs.utimesSync(path.join(fake, "cli/kiln.js"), past, past);
    expect(run()).toBe(path.join(dist, "compiler/driver/cli/cmd-run.js"));
    fs.rmSync(path.join(fake, "cli/kiln.js"));
    expect(run()).toBe(path.join(dist, "compiler/driver/cli/cmd-run.js"));
    // a fresh copy is run again; --help goes to main.js (its 4 modules import faster than the bundle)
    fs.copyFileSync(path.join(dist, "cli/kiln.js"), path.join(fake, "cli/kiln.js"));
    expect(run()).toBe(path.join(fake, "cli/kiln.js"));
    const help = kilnWith({ KILN_DIST: fake }, ["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/kiln run/);
  });

  it("answers as dist/'s modules do: outputs on one and two threads, usage and typed errors", () => {
    const onnxFile = path.join(tmp, "mm.onnx");
    const w = Array.from({ length: 48 * 40 }, (_, i) => (((i * 37) % 23) - 11) / 16);
    fs.writeFileSync(onnxFile, exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[24,48]
const %w : float32[48,40] = dense<[${w.join(", ")}]>
%m : float32[24,40] = MatMul(%x, %w) {name="mm"}
%y : float32[24,40] = Relu(%m) {name="relu"}
output %y`)));
    const one = path.join(tmp, "mm.wasm"), two = path.join(tmp, "mm2.wasm");
    for (const [out, extra] of [[one, []], [two, ["--threads", "2"]]] as const) {
      const c = kiln(["compile", onnxFile, "-o", out, ...extra]);
      expect(c.stderr + c.code).toBe("0");
    }
    const saved = (env: Record<string, string>, file: string, extra: string[] = []) => {
      const dir = fs.mkdtempSync(path.join(tmp, "out-"));
      const r = kilnWith(env, ["run", file, "--input", "x=random", "--save", dir, "--json", ...extra]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      return { json: JSON.parse(r.stdout), bytes: fs.readFileSync(path.join(dir, "output_0.pb")) };
    };
    const dists = { KILN_NO_BUNDLE: "1" };
    const want = saved(dists, one);
    expect(saved({}, one).bytes.equals(want.bytes)).toBe(true);
    const threaded = saved({}, two, ["--threads", "2"]);
    expect(threaded.json.threads).toBe(2);
    expect(threaded.bytes.equals(saved(dists, two, ["--threads", "2"]).bytes)).toBe(true);
    expect(threaded.bytes.equals(want.bytes)).toBe(true);
    // a usage error (exit 2, with the usage) and a typed error from a module outside the bundle
    // (the test-data reader: dist/'s KilnError) are reported as through dist/'s modules
    const bad = path.join(tmp, "bad.pb");
    fs.writeFileSync(bad, "not a tensor");
    // and a flipped weights byte is found by the checksum module kiln run compiles ahead
    const damaged = path.join(tmp, "damaged.wasm");
    const bytes = fs.readFileSync(one);
    bytes[bytes.length - 5] ^= 0x10;
    fs.writeFileSync(damaged, bytes);
    for (const args of [["run", one, "--bogus"], ["run", one, "--input", `x=${bad}`], ["inspect", path.join(tmp, "missing.wasm")], ["run", damaged]]) {
      const a = kilnWith({}, args), b = kilnWith(dists, args);
      expect(a.code, args.join(" ")).toBe(b.code);
      expect(a.stderr, args.join(" ")).toBe(b.stderr);
      expect(a.stderr).not.toMatch(/internal error/);
    }
    expect(kilnWith({}, ["run", damaged]).stderr).toMatch(/^kiln: INVALID_ARTIFACT: the weights of layer "mm" are damaged: .* has checksum [0-9a-f]{8} where the manifest says [0-9a-f]{8}/);
  });
});

describe("KilnError and UsageError in the bundle", () => {
  it("are dist/'s classes, imported, not copies: one identity for the bundle and the modules it leaves out", () => {
    const text = fs.readFileSync(path.join(dist, "cli/kiln.js"), "utf8");
    expect(text).not.toMatch(/class (KilnError|UsageError)\b/);
    expect(text).toMatch(/^import \{[^}]*\bKilnError\b[^}]*\} from "\.\.\/runtime\/errors\.js";$/m);
    expect(text).toMatch(/^import \{[^}]*\bUsageError\b[^}]*\} from "\.\.\/compiler\/driver\/cli\/args\.js";$/m);
  });
});
