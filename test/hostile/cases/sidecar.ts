// Sidecar weights (kiln compile --weights m.bin) and memory budgets (--memory-budget): a file that
// is missing, cut short, altered, another model's; budgets too small, malformed or not the
// artifact's; option mistakes. Each bad file names the first layer it spoils.
import * as path from "node:path";
import { compile, load } from "../../../compiler/driver/api.js";
import { MANIFEST_CHECKSUM_SECTION, MANIFEST_SECTION, type Manifest } from "../../../runtime/manifest.js";
import { appendManifest } from "../../../codegen/artifact.js";
import { sections, withoutSections } from "../../../runtime/sections.js";
import { createSession } from "../../../runtime/session.js";
import { bytesSource, fileSource } from "../../../runtime/sources.js";
import { ADD, onnxOf, write, type HostileCase } from "../case.js";

/** two layers with weights of their own: "scale" (x w), then "shift" (m b) */
const TWO = onnxOf(`kiln.graph opsets("" = 13)
input %x : float32[1,2]
const %w : float32[2,2] = dense<[3, 0, 0, 4]>
const %b : float32[2,2] = dense<[1, 10, 0, 1]>
%m : float32[1,2] = MatMul(%x, %w) {name="scale"}
%y : float32[1,2] = MatMul(%m, %b) {name="shift"}
output %y`);
const x = Float32Array.of(1, 2);

/** three MatMuls of 16x16 weights (1 KiB each): a model a budget of a few KiB streams */
const BIG = onnxOf(`kiln.graph opsets("" = 13)
input %x : float32[1,16]
${[0, 1, 2].map((k) => `const %w${k} : float32[16,16] = dense<[${Array.from({ length: 256 }, (_, i) => ((i * (k + 3)) % 7) / 7 - 0.4).join(", ")}]>`).join("\n")}
%h0 : float32[1,16] = MatMul(%x, %w0) {name="l0"}
%h1 : float32[1,16] = MatMul(%h0, %w1) {name="l1"}
%h2 : float32[1,16] = MatMul(%h1, %w2) {name="l2"}
output %h2`);

/** TWO compiled with its weights apart: m.wasm, and m.bin as `change` leaves it */
async function sidecar(dir: string, change: (bin: Uint8Array) => Uint8Array = (b) => b): Promise<{ wasm: string; bin: string }> {
  const c = await compile(TWO, { simd: "baseline", weightsFile: "m.bin" });
  return { wasm: write(dir, "m.wasm", c.wasm), bin: write(dir, "m.bin", change(c.weights!)) };
}
const flip = (at: "first" | "last") => (b: Uint8Array) => {
  const out = Uint8Array.from(b);
  out[at === "first" ? 0 : out.length - 1] ^= 0x40;
  return out;
};

/** the .wasm with its manifest edited and resealed (so the field's own check answers) */
function editManifest(wasm: Uint8Array, change: (m: Manifest) => void): Uint8Array {
  const s = sections(wasm).find((x) => x.name === MANIFEST_SECTION)!;
  const m = JSON.parse(new TextDecoder().decode(wasm.subarray(s.payload, s.end))) as Manifest;
  change(m);
  return appendManifest(withoutSections(wasm, [MANIFEST_SECTION, MANIFEST_CHECKSUM_SECTION]), m);
}

const sessionRun = async (wasm: Uint8Array, weights: Uint8Array) => (await createSession(wasm, { weights: bytesSource(weights) })).run({ x: { data: x, dims: [1, 2] } });

export const SIDECAR_CASES: HostileCase[] = [
  { name: "sidecar-ok", make: (dir) => sidecar(dir).then(() => undefined), cli: ["run", "m.wasm", "--input", "x=ones"], code: "ok", message: /y: float32\[1,2\] \[3, 34\]/ },
  { name: "sidecar-missing", make: async (dir) => { const { bin } = await sidecar(dir); (await import("node:fs")).rmSync(bin); }, cli: ["run", "m.wasm"], code: "INVALID_ARTIFACT", message: /keeps its weights in a file \("m\.bin", \d+ bytes\); m\.bin is not there/ },
  { name: "sidecar-truncated", make: (dir) => sidecar(dir, (b) => b.subarray(0, b.length - 4)).then(() => undefined), cli: ["run", "m.wasm"], code: "INVALID_ARTIFACT", message: /the weights of layer "shift" are damaged: the weights source has \d+ bytes where the module's image has \d+: it is truncated/ },
  { name: "sidecar-empty", make: (dir) => sidecar(dir, () => new Uint8Array(0)).then(() => undefined), cli: ["run", "m.wasm"], code: "INVALID_ARTIFACT", message: /layer "scale" are damaged: .* has 0 bytes/ },
  { name: "sidecar-first-byte-altered", make: (dir) => sidecar(dir, flip("first")).then(() => undefined), cli: ["run", "m.wasm"], code: "INVALID_ARTIFACT", message: /the weights of layer "scale" are damaged: the piece at image position 0 \(\d+ bytes\) has checksum/ },
  { name: "sidecar-last-byte-altered-api", api: async () => { const c = await compile(TWO, { weightsFile: "m.bin" }); return sessionRun(c.wasm, flip("last")(c.weights!)); }, code: "INVALID_ARTIFACT", message: /the weights of layer "shift" are damaged/ },
  { name: "sidecar-of-another-model", make: async (dir) => { await sidecar(dir); write(dir, "m.bin", (await compile(ADD, { weightsFile: "m.bin" })).weights!); }, cli: ["run", "m.wasm"], code: "INVALID_ARTIFACT", message: /has \d+ bytes where the module's image has \d+: it is truncated/ },
  { name: "sidecar-longer", make: (dir) => sidecar(dir, (b) => Uint8Array.from([...b, 0, 0, 0, 0])).then(() => undefined), cli: ["run", "m.wasm"], code: "INVALID_ARTIFACT", message: /it is not this module's weights file/ },
  { name: "sidecar-weights-flag-is-a-folder", make: async (dir) => { await sidecar(dir); write(dir, "d/x", ""); }, cli: ["run", "m.wasm", "--weights", "d"], code: "INVALID_ARTIFACT", message: /d is a folder, not a file/ },
  { name: "weights-flag-on-a-module-carrying-its-weights", make: async (dir) => { write(dir, "m.wasm", (await compile(TWO)).wasm); write(dir, "other.bin", "x"); }, cli: ["run", "m.wasm", "--weights", "other.bin"], code: "BAD_OPTION", message: /--weights applies to a module compiled with kiln compile --weights or --memory-budget; .*m\.wasm carries its weights itself/ },
  { name: "sidecar-file-source-missing", api: (dir) => fileSource(path.join(dir, "nothing.bin")), code: "INVALID_ARTIFACT", message: /cannot open the weights file/ },
  { name: "sidecar-manifest-name-with-folder", make: async (dir) => { const c = await compile(TWO, { weightsFile: "m.bin" }); write(dir, "m.wasm", editManifest(c.wasm, (m) => { m.memory.sidecar!.name = "../../etc/passwd"; })); }, cli: ["run", "m.wasm"], code: "INVALID_ARTIFACT", message: /the manifest's memory\.sidecar .* is not \{ name: a file name, bytes \}/ },
  { name: "sidecar-no-weights-given", api: async () => createSession((await compile(TWO, { weightsFile: "m.bin" })).wasm), code: "INVALID_ARTIFACT", message: /keeps its \d+ bytes of weights outside/ },
  { name: "compile-weights-file-with-folder", api: () => compile(TWO, { weightsFile: "../m.bin" }), code: "BAD_OPTION", message: /option weightsFile takes a file name/ },
  { name: "compile-weights-file-empty", api: () => compile(TWO, { weightsFile: "" }), code: "BAD_OPTION", message: /option weightsFile takes a non-empty string/ },
  { name: "load-weights-file", api: () => load(TWO, { weightsFile: "m.bin" } as never), code: "BAD_OPTION", message: /has no option "weightsFile"/ },
  { name: "compile-weights-flag-is-output", make: (dir) => void write(dir, "two.onnx", TWO), cli: ["compile", "two.onnx", "-o", "m.wasm", "--weights", "m.wasm"], code: "BAD_OPTION", message: /--weights m\.wasm is the -o file/ },
  { name: "compile-memory-budget-zero", api: () => compile(TWO, { memoryBudget: 0 }), code: "BAD_OPTION", message: /option memoryBudget takes an integer >= 1, got 0/ },
  { name: "compile-memory-budget-a-string", api: () => compile(TWO, { memoryBudget: "1GB" as never }), code: "BAD_OPTION", message: /option memoryBudget takes an integer >= 1, got "1GB"/ },
  { name: "compile-memory-budget-below-a-layer", api: () => compile(TWO, { memoryBudget: 32 }), code: "BAD_OPTION", message: /layer "scale" \(MatMul\) reads \d+ bytes of weights, more than the memory budget of 32 bytes: raise it to at least \d+ bytes/ },
  { name: "compile-memory-budget-names-the-largest-layer", api: () => compile(onnxOf(`kiln.graph opsets("" = 13)
input %x : float32[1,16]
const %w0 : float32[16,16] = splat<0.5>
const %w1 : float32[16,64] = splat<0.25>
const %w2 : float32[64,256] = splat<0.125>
%h0 : float32[1,16] = MatMul(%x, %w0) {name="small"}
%h1 : float32[1,64] = MatMul(%h0, %w1) {name="middle"}
%h2 : float32[1,256] = MatMul(%h1, %w2) {name="large"}
output %h2`), { memoryBudget: 2048 }), code: "BAD_OPTION", message: /layer "middle" \(MatMul\) reads \d+ bytes of weights.*more than the memory budget of 2048 bytes: raise it to at least 65536 bytes \(layer "large" alone reads 65536 bytes: no budget under that runs the model\)/ },
  { name: "session-memory-budget-on-a-resident-artifact", api: async () => createSession((await compile(TWO)).wasm, { memoryBudget: 1 << 20 }), code: "BAD_OPTION", message: /memoryBudget 1048576: compile the model with --memory-budget 1048576/ },
  { name: "session-memory-budget-below-the-artifacts", api: async () => { const c = await compile(BIG, { memoryBudget: 4096 }); return createSession(c.wasm, { weights: bytesSource(c.weights!), memoryBudget: 2048 }); }, code: "BAD_OPTION", message: /compile the model with --memory-budget 2048/ },
  { name: "streamed-manifest-wait-garbage", api: async () => { const c = await compile(BIG, { memoryBudget: 4096 }); return createSession(editManifest(c.wasm, (m) => { m.memory.stream!.wait = ["all"] as never; }), { weights: bytesSource(c.weights!) }); }, code: "INVALID_ARTIFACT", message: /the manifest's memory\.stream is .* not \{ budget, bytes, wait: \[layer indices\] \}/ },
  { name: "manifest-memory-past-4gib", api: async () => createSession(editManifest((await compile(TWO)).wasm, (m) => { m.memory.bytes = 2 ** 33; })), code: "INVALID_ARTIFACT", message: /the manifest's memory\.bytes is 8589934592, not whole 64 KiB pages up to 4 GiB/ },
  { name: "manifest-memory-not-pages", api: async () => createSession(editManifest((await compile(TWO)).wasm, (m) => { m.memory.bytes += 1; })), code: "INVALID_ARTIFACT", message: /memory\.bytes is \d+, not whole 64 KiB pages/ },
  { name: "streamed-run-without-weights", api: async () => createSession((await compile(BIG, { memoryBudget: 4096 })).wasm), code: "INVALID_ARTIFACT", message: /weights outside/ },
  { name: "cli-memory-budget-not-a-size", make: (dir) => void write(dir, "two.onnx", TWO), cli: ["compile", "two.onnx", "-o", "m.wasm", "--memory-budget", "lots"], code: "BAD_OPTION", message: /--memory-budget takes a size such as 256MB or 1GB/ },
  { name: "cli-streamed-ok", make: (dir) => void write(dir, "big.onnx", BIG), cli: ["compile", "big.onnx", "-o", "b.wasm", "--memory-budget", "4KB"], code: "ok", message: /b\.wasm \+ .*b\.bin/ },
  { name: "cli-run-below-the-compiled-budget", make: async (dir) => { const c = await compile(BIG, { memoryBudget: 4096, weightsFile: "b.bin" }); write(dir, "b.wasm", c.wasm); write(dir, "b.bin", c.weights!); }, cli: ["run", "b.wasm", "--memory-budget", "2KB"], code: "BAD_OPTION", message: /compile the model with --memory-budget 2048/ },
  { name: "cli-streamed-file-truncated", make: async (dir) => { const c = await compile(BIG, { memoryBudget: 4096, weightsFile: "b.bin" }); write(dir, "b.wasm", c.wasm); write(dir, "b.bin", c.weights!.subarray(0, 100)); }, cli: ["run", "b.wasm"], code: "INVALID_ARTIFACT", message: /the weights of layer "l0" are damaged: the weights source has 100 bytes/ },
  // the CLI's bundle runs the session; dist's sidecar.js makes the weights' source: the source checks
  // the shared memory with the session's checksum module, not its own copy's (which had none for it)
  { name: "cli-run-onnx-threads-under-budget", make: (dir) => void write(dir, "big.onnx", BIG), cli: ["run", "big.onnx", "--threads", "2", "--memory-budget", "4KB"], code: "ok", message: /^h2: float32\[1,16\] \[-?\d/ },
  { name: "run-onnx-with-weights-flag", make: (dir) => void write(dir, "two.onnx", TWO), cli: ["run", "two.onnx", "--weights", "m.bin"], code: "BAD_OPTION", message: /--weights applies to a \.wasm/ },
];
