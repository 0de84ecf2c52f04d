// What the artifact checks cost (manifest validation, a checksum per weights piece): AOT load +
// first run of one artifact, with the checks and without, interleaved in one process:
//   node --expose-gc dist/bench/integrity-cost.js model.wasm [--rounds N] [--baseline DIR OLD.wasm]
// "checked" is createSession(bytes) + the first run, as a user runs it. "unchecked" is the same
// runtime over the same code and image with the checksums taken out of the manifest (weights
// "external", passed beside the module): every step but the hashing. With --baseline, also the
// runtime of another kiln build (DIR/runtime/session.js, e.g. the commit before the checks, built)
// over its own artifact of the same model. Rounds rotate the order; medians in ms of wall time
// and of the process's CPU time (all threads; steadier than wall time on a shared machine).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { appendManifest } from "../codegen/artifact.js";
import { MANIFEST_CHECKSUM_SECTION, MANIFEST_SECTION, type Manifest, type WeightSpan } from "../runtime/manifest.js";
import { sections, withoutSections } from "../runtime/sections.js";
import { createSession } from "../runtime/session.js";
import { memoryHash } from "../runtime/checksum.js";
import { dtype, sizeOf } from "../runtime/dtypes.js";
import { imagePosition, splitWeights } from "../runtime/weights.js";
import { median } from "./stats.js";

const args = process.argv.slice(2);
const file = args.find((a, k) => !a.startsWith("--") && !["--rounds", "--baseline"].includes(args[k - 1]) && args[k - 2] !== "--baseline");
if (!file) {
  console.error("usage: node --expose-gc dist/bench/integrity-cost.js model.wasm [--rounds N] [--baseline DIR OLD.wasm]");
  process.exit(2);
}
const rounds = Number(args[args.indexOf("--rounds") + 1] ?? 9) || 9;
const b = args.indexOf("--baseline");

type Create = (bytes: Uint8Array, options?: object) => Promise<{ inputs: readonly { name: string; dtype: string; dims: number[] }[]; run(f: object): Promise<unknown> }>;
interface Variant { name: string; load: () => Promise<[number, number]> }

const feedsFor = (inputs: readonly { name: string; dtype: string; dims: number[] }[]) =>
  Object.fromEntries(inputs.map((i) => [i.name, new (dtype(i.dtype as "float32").array)(sizeOf(i.dims))]));

async function loadAndRun(create: Create, bytes: Uint8Array, options?: object): Promise<[wall: number, cpu: number]> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const s = await create(bytes, options);
  await s.run(feedsFor(s.inputs));
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return [wall, (c.user + c.system) / 1000];
}

const wasm = new Uint8Array(readFileSync(file));
const split = splitWeights(wasm);
// the same artifact without checksums: the weights beside the module, as an in-process JIT module keeps them
const s = sections(split.code).find((x) => x.name === MANIFEST_SECTION)!;
const manifest: Manifest = JSON.parse(new TextDecoder().decode(split.code.subarray(s.payload, s.end)));
const bare = (w: WeightSpan): WeightSpan => [w[0], w[1]];
const unsealed: Manifest = { ...manifest, layers: manifest.layers.map((l) => ({ ...l, weights: l.weights.map(bare) })), memory: { ...manifest.memory, weights: "external", unclaimed: manifest.memory.unclaimed.map(bare) } };
const uncheckedCode = appendManifest(withoutSections(split.code, [MANIFEST_SECTION, MANIFEST_CHECKSUM_SECTION]), unsealed);

const variants: Variant[] = [
  { name: "checked", load: () => loadAndRun(createSession as Create, wasm) },
  { name: "unchecked", load: () => loadAndRun(createSession as Create, uncheckedCode, { weights: split.weights }) },
];
if (b >= 0) {
  const dir = resolve(args[b + 1]);
  const old = new Uint8Array(readFileSync(args[b + 2]));
  const other = (await import(pathToFileURL(`${dir}/runtime/session.js`).href)).createSession as Create;
  variants.push({ name: "baseline", load: () => loadAndRun(other, old) });
}

const gc = (globalThis as { gc?: () => void }).gc;
for (const v of variants) await v.load(); // warm-up: each path compiled and tiered once
const samples = new Map(variants.map((v) => [v.name, { wall: [] as number[], cpu: [] as number[] }]));
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < variants.length; k++) {
    const v = variants[(r + k) % variants.length];
    gc?.();
    const [wall, cpu] = await v.load();
    samples.get(v.name)!.wall.push(wall);
    samples.get(v.name)!.cpu.push(cpu);
  }
}
const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(" ");
for (const kind of ["wall", "cpu"] as const) {
  for (const [name, xs] of samples) console.log(`${kind.padEnd(4)} ${name.padEnd(10)} median ${median(xs[kind]).toFixed(1).padStart(7)} ms   (${fmt(xs[kind])})`);
  const checked = median(samples.get("checked")![kind]);
  for (const name of ["unchecked", "baseline"].filter((n) => samples.has(n))) {
    console.log(`${kind.padEnd(4)} checked vs ${name}: ${((checked / median(samples.get(name)![kind]) - 1) * 100).toFixed(1)}%`);
  }
}
// the checksums alone: every piece hashed once where it lies (the image in a wasm memory, as placed)
const image = split.weights ?? new Uint8Array(0);
const memory = new WebAssembly.Memory({ initial: Math.ceil(image.length / 65536) });
new Uint8Array(memory.buffer).set(image);
const hash = memoryHash(memory);
const at = imagePosition(manifest.memory.regions, 0);
const pieces = [...new Map([...manifest.layers.flatMap((l) => l.weights), ...manifest.memory.unclaimed].map((w) => [w[0], w[1]])).entries()];
const hashMs: number[] = [];
for (let r = 0; r < rounds; r++) {
  const t0 = performance.now();
  for (const [offset, bytes] of pieces) hash(at(offset), bytes);
  hashMs.push(performance.now() - t0);
}
console.log(`kiln32 over the ${pieces.length} pieces (${(image.length / 1e6).toFixed(1)} MB) in memory: median ${median(hashMs).toFixed(1)} ms (${hashMs.map((x) => x.toFixed(1)).join(" ")})`);
if (!gc) console.log("(run node with --expose-gc to collect between samples)");
