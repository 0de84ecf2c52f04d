// Paths a model names: external data must stay inside the model's folder by real path (links
// included), and cacheDir entries inside the cache folder.
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { compile, load } from "../../../compiler/driver/api.js";
import { cacheStored, clearModuleCache } from "../../../compiler/driver/cache.js";
import { ADD, expectValues, externalAdd, W_BYTES, write, type HostileCase } from "../case.js";

/** A model folder `m/` beside a folder `outside/` holding bytes that would make a valid w. */
function modelBesideSecret(dir: string, location: string, extra: { offset?: string; length?: string } = {}): void {
  write(dir, "outside/secret.bin", W_BYTES);
  write(dir, "m/model.onnx", externalAdd(location, extra));
}

const runM = (dir: string) => load(path.join(dir, "m/model.onnx")).then((m) => m.run({ x: Float32Array.of(1, 2) }));

export const PATH_CASES: HostileCase[] = [
  {
    name: "external-data-link-to-etc-passwd",
    make: (dir) => {
      write(dir, "m/model.onnx", externalAdd("weights.bin", { length: "8" }));
      fs.symlinkSync("/etc/passwd", path.join(dir, "m/weights.bin"));
    },
    cli: ["run", "m/model.onnx"],
    api: (dir) => compile(path.join(dir, "m/model.onnx")),
    code: "INVALID_MODEL",
    message: /tensor "w": external data "weights.bin" leads to \/etc\/passwd, outside the model's folder/,
  },
  {
    // the secret has exactly w's size: only confinement can refuse it
    name: "external-data-link-leaving-folder",
    make: (dir) => {
      modelBesideSecret(dir, "weights.bin");
      fs.symlinkSync(path.join(dir, "outside/secret.bin"), path.join(dir, "m/weights.bin"));
    },
    cli: ["run", "m/model.onnx"],
    api: runM,
    code: "INVALID_MODEL",
    message: /tensor "w".*"weights.bin" leads to .*outside\/secret\.bin, outside the model's folder/,
  },
  {
    name: "external-data-through-linked-folder",
    make: (dir) => {
      modelBesideSecret(dir, "sub/secret.bin");
      fs.symlinkSync(path.join(dir, "outside"), path.join(dir, "m/sub"));
    },
    api: runM,
    code: "INVALID_MODEL",
    message: /outside the model's folder/,
  },
  {
    name: "external-data-dotdot",
    make: (dir) => modelBesideSecret(dir, "../outside/secret.bin"),
    cli: ["run", "m/model.onnx"],
    api: runM,
    code: "INVALID_MODEL",
    message: /"\.\.\/outside\/secret\.bin" is outside the model's folder/,
  },
  {
    name: "external-data-absolute-path",
    make: (dir) => modelBesideSecret(dir, path.join(dir, "outside/secret.bin")),
    api: runM,
    code: "INVALID_MODEL",
    message: /is outside the model's folder/,
  },
  {
    name: "external-data-name-starting-with-dots-is-read",
    make: (dir) => {
      write(dir, "m/..w.bin", W_BYTES);
      write(dir, "m/model.onnx", externalAdd("..w.bin"));
    },
    cli: ["run", "m/model.onnx", "--input", "x=ones", "--json"],
    api: async (dir) => expectValues((await runM(dir)).y.data as Float32Array, [11, 22]),
    code: "ok",
  },
  {
    name: "external-data-link-inside-folder-is-read",
    make: (dir) => {
      write(dir, "m/data/real.bin", W_BYTES);
      write(dir, "m/model.onnx", externalAdd("weights.bin"));
      fs.symlinkSync("data/real.bin", path.join(dir, "m/weights.bin"));
    },
    api: async (dir) => expectValues((await runM(dir)).y.data as Float32Array, [11, 22]),
    code: "ok",
  },
  {
    name: "external-data-missing-file",
    make: (dir) => write(dir, "m/model.onnx", externalAdd("nope.bin")),
    cli: ["run", "m/model.onnx"],
    api: runM,
    code: "INVALID_MODEL",
    message: /tensor "w": external data "nope.bin" cannot be read: no such file/,
  },
  {
    name: "external-data-is-a-folder",
    make: (dir) => {
      write(dir, "m/model.onnx", externalAdd("sub"));
      fs.mkdirSync(path.join(dir, "m/sub"));
    },
    api: runM,
    code: "INVALID_MODEL",
    message: /not a regular file/,
  },
  {
    // reading a FIFO would block forever
    name: "external-data-is-a-fifo",
    make: (dir) => {
      write(dir, "m/model.onnx", externalAdd("pipe", { length: "8" }));
      const r = spawnSync("mkfifo", [path.join(dir, "m/pipe")]);
      if (r.status !== 0) throw new Error(`mkfifo failed: ${r.stderr}`);
    },
    cli: ["run", "m/model.onnx"],
    api: runM,
    code: "INVALID_MODEL",
    message: /not a regular file/,
  },
  {
    name: "external-data-offset-past-end",
    make: (dir) => {
      write(dir, "m/w.bin", W_BYTES);
      write(dir, "m/model.onnx", externalAdd("w.bin", { offset: "100", length: "8" }));
    },
    api: runM,
    code: "INVALID_MODEL",
    message: /has 8 bytes; the model asks for \[100, 108\)/,
  },
  ...[["not-a-number", "abc"], ["negative", "-8"], ["fractional", "1.5"]].map(([what, offset]): HostileCase => ({
    name: `external-data-offset-${what}`,
    make: (dir) => {
      write(dir, "m/w.bin", W_BYTES);
      write(dir, "m/model.onnx", externalAdd("w.bin", { offset }));
    },
    api: runM,
    code: "INVALID_MODEL",
    message: /external data offset .* is not a non-negative integer/,
  })),
  {
    name: "external-data-length-not-the-tensors",
    make: (dir) => {
      write(dir, "m/w.bin", W_BYTES);
      write(dir, "m/model.onnx", externalAdd("w.bin", { length: "4" }));
    },
    api: runM,
    code: "INVALID_MODEL",
    message: /keeps 4 bytes in "w.bin", expected 8/,
  },
  {
    name: "external-data-in-model-bytes",
    api: () => compile(externalAdd("w.bin")),
    code: "INVALID_MODEL",
    message: /load the model from a file path/,
  },
  {
    // an entry replaced by a link to a file outside the cache folder
    name: "cache-dir-entry-link-leaving-folder",
    make: async (dir) => {
      const cache = path.join(dir, "cache");
      await (await load(ADD, { cacheDir: cache })).run({ x: Float32Array.of(1, 2) });
      await cacheStored();
      const [entry] = fs.readdirSync(cache);
      write(dir, "outside/other.wasm", fs.readFileSync(path.join(cache, entry)));
      fs.rmSync(path.join(cache, entry));
      fs.symlinkSync(path.join(dir, "outside/other.wasm"), path.join(cache, entry));
    },
    api: async (dir) => {
      clearModuleCache(); // else the process cache answers before the disk is read
      return load(ADD, { cacheDir: path.join(dir, "cache") });
    },
    code: "INVALID_ARTIFACT",
    message: /disk cache entry .* leads to .*outside\/other\.wasm, outside the cache folder/,
  },
  {
    name: "cache-dir-is-a-file",
    make: (dir) => void write(dir, "cache", "not a folder"),
    api: (dir) => load(ADD, { cacheDir: path.join(dir, "cache") }),
    code: "BAD_OPTION",
    message: /option cacheDir: .* is not a folder/,
  },
];
