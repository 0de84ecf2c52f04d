// What an embedder passes to the API: options, feeds, the model argument itself, and models
// over the limits it set.
import { compile, load } from "../../../compiler/driver/api.js";
import { createSession } from "../../../runtime/session.js";
import { ADD, DYNAMIC, onnxOf, type HostileCase } from "../case.js";

type Call = () => Promise<unknown>;
const api = (name: string, call: Call, code: HostileCase["code"], message?: RegExp): HostileCase => ({ name, api: call, code, message });

const run = (feeds: unknown, model = ADD) => async () => (await load(model)).run(feeds as never);
const wasm = async () => (await compile(ADD)).wasm;

/** x float32[1] expanded to 775,000,000 elements (3.1 GB) and summed: a few hundred bytes of model. */
const EXPAND_3GB = onnxOf(`kiln.graph opsets("" = 13)
input %x : float32[1]
const %s : int64[1] = dense<[775000000]>
%e : float32[775000000] = Expand(%x, %s) {name="expand"}
%y : float32[1] = ReduceSum(%e) {name="sum"}
output %y`);
/** the same from a constant: shape inference and constant folding would make the 3.1 GB */
const FILL_3GB = onnxOf(`kiln.graph opsets("" = 13)
const %s : int64[1] = dense<[775000000]>
%c : float32[775000000] = ConstantOfShape(%s) {name="fill"}
%y : float32[1] = ReduceSum(%c) {name="sum"}
output %y`);
const MiB = 1 << 20;

export const OPTION_CASES: HostileCase[] = [
  api("compile-level-7", () => compile(ADD, { level: 7 as never }), "BAD_OPTION", /option level takes 0, 1 or 2, got 7/),
  api("compile-level-as-string", () => compile(ADD, { level: "2" as never }), "BAD_OPTION", /option level takes/),
  api("compile-simd-fast", () => compile(ADD, { simd: "fast" as never }), "BAD_OPTION", /option simd takes "auto", "baseline" or "relaxed", got "fast"/),
  api("compile-unknown-option", () => compile(ADD, { levle: 1 } as never), "BAD_OPTION", /has no option "levle"; the options are .*level/),
  api("compile-options-not-an-object", () => compile(ADD, "fast" as never), "BAD_OPTION", /must be an object/),
  api("compile-options-null", () => compile(ADD, null as never), "BAD_OPTION", /must be an object, got null/),
  api("compile-negative-shape", () => compile(DYNAMIC, { shapes: { x: [-1, 3] } }), "BAD_OPTION", /option shapes.x takes an array of non-negative integers \(an input.s dims, or a dim.s bounds \[min, max\] or \[min, max, step\]\), a non-negative integer \(a dim pinned\) or a sum of dims \("past\+seq"\), got \[-1,3\]/),
  api("compile-dim-bounds-min-over-max", () => compile(DYNAMIC, { shapes: { N: [9, 4] } }), "BAD_OPTION", /shapes.N: bounds \[9, 4\] have min over max/),
  api("compile-dim-sum-over-unknown-dim", () => compile(DYNAMIC, { shapes: { N: "past+seq" } }), "BAD_OPTION", /shapes.N: "past", "seq" must be given a value or bounds in shapes too/),
  api("compile-input-shape-as-sum", () => compile(DYNAMIC, { shapes: { x: "N+1" } }), "BAD_OPTION", /shapes.x: an input takes its dims as an array/),
  api("compile-dim-unknown-name", () => compile(DYNAMIC, { shapes: { seq: [1, 4] } }), "BAD_OPTION", /shapes.seq: the model has no input and no dim named "seq"; inputs are "x", dims "N"/),
  api("compile-shape-as-string", () => compile(DYNAMIC, { shapes: { x: "4x3" as never } }), "BAD_OPTION", /shapes.x/),
  api("compile-kernels-not-a-string", () => compile(ADD, { kernels: 42 as never }), "BAD_OPTION", /option kernels takes a string/),
  api("compile-unknown-kernel-variant", () => compile(ADD, { kernels: "-winogrd" }), "BAD_OPTION", /winogrd/),
  api("compile-limits-negative", () => compile(ADD, { limits: { maxMemoryBytes: -1 } }), "BAD_OPTION", /option limits.maxMemoryBytes takes an integer >= 1, got -1/),
  api("compile-limits-unknown-key", () => compile(ADD, { limits: { maxMemory: 10 } as never }), "BAD_OPTION", /limits has no option "maxMemory"/),
  api("compile-freeze-not-a-tensor", () => compile(ADD, { freeze: { x: { dtype: "float32", dims: [2], data: [1] as never } } }), "BAD_OPTION", /option freeze.x takes a tensor \{ dtype, dims, data \}/),
  api("compile-freeze-unknown-dtype", () => compile(ADD, { freeze: { x: { dtype: "float8" as never, dims: [2], data: Float32Array.of(1, 2) } } }), "BAD_OPTION", /freeze.x/),
  api("compile-model-a-number", () => compile(42 as never), "INVALID_MODEL", /must be a Uint8Array, an ArrayBuffer, a fetch\(\) Response or \(in Node\) a file path, got number/),
  api("load-placement-sometimes", () => load(ADD, { placement: "sometimes" as never }), "BAD_OPTION", /option placement takes "lazy" or "eager", got "sometimes"/),
  api("load-cache-yes", () => load(ADD, { cache: "yes" as never }), "BAD_OPTION", /option cache takes true or false/),
  api("load-max-modules-zero", () => load(ADD, { limits: { maxModules: 0 } }), "BAD_OPTION", /limits.maxModules takes an integer >= 1/),
  api("session-simd-fast", async () => createSession(await wasm(), { simd: "fast" as never }), "BAD_OPTION", /option simd takes/),
  api("session-unknown-option", async () => createSession(await wasm(), { weight: 1 } as never), "BAD_OPTION", /createSession\(\) options has no option "weight"/),
  api("session-artifact-a-string", () => createSession("model.wasm" as never), "INVALID_ARTIFACT", /takes a kiln .wasm as bytes \(Uint8Array, ArrayBuffer\), a fetch\(\) Response or a WebAssembly.Module, got a string/),
  // fetch(...).arrayBuffer() hands over an ArrayBuffer
  api("session-artifact-an-arraybuffer", async () => {
    const bytes = await wasm();
    const s = await createSession(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    await s.run({ x: Float32Array.of(1, 2) });
  }, "ok"),
];

export const FEED_CASES: HostileCase[] = [
  api("feeds-null", run(null), "BAD_INPUT", /takes the inputs as an object/),
  api("feeds-a-typed-array", run(Float32Array.of(1, 2)), "BAD_INPUT", /takes the inputs as an object/),
  api("feed-null", run({ x: null }), "BAD_INPUT", /input "x" is null; pass a typed array/),
  api("feed-a-number", run({ x: 5 }), "BAD_INPUT", /input "x" is the number 5/),
  api("feed-a-bare-array", run({ x: [1, 2] }), "BAD_INPUT", /input "x" is a plain array; pass a typed array/),
  api("feed-data-undefined", run({ x: { data: undefined } }), "BAD_INPUT", /input "x" has data undefined; \{ data, dims \} takes a typed array/),
  api("feed-dims-a-string", run({ x: { data: Float32Array.of(1, 2), dims: "2" } }), "BAD_INPUT", /input "x" has dims the string "2", not a list of non-negative integers/),
  api("feed-dims-negative-dynamic", run({ x: { data: new Float32Array(3), dims: [-1, 3] } }, DYNAMIC), "BAD_INPUT", /input "x" has dims \[-1,3\], not a list of non-negative integers/),
  api("feed-missing", run({}), "BAD_INPUT", /missing input "x"/),
  api("feed-unknown-name", run({ x: Float32Array.of(1, 2), z: Float32Array.of(1) }), "BAD_INPUT", /unknown input "z"/),
  api("feed-wrong-dtype", run({ x: Int32Array.of(1, 2) }), "BAD_INPUT", /must be float32/),
  api("feed-wrong-count", run({ x: Float32Array.of(1, 2, 3) }), "BAD_INPUT", /has 3 elements/),
  api("feed-wrong-dims", run({ x: { data: Float32Array.of(1, 2), dims: [1, 2] } }), "BAD_INPUT", /dims \[1,2\]/),
  api("feed-data-dims-disagree-dynamic", run({ x: { data: new Float32Array(5), dims: [2, 3] } }, DYNAMIC), "BAD_INPUT", /has 5 elements/),
];

export const LIMIT_CASES: HostileCase[] = [
  api("expand-to-3gb-over-limit", () => load(EXPAND_3GB, { limits: { maxMemoryBytes: 256 * MiB } }), "UNSUPPORTED_OP", /needs 2956\.\d MiB of linear memory \(at least: value "e", float32\[775000000\]\), more than limits.maxMemoryBytes = 256.0 MiB/),
  api("constant-3gb-over-limit", () => compile(FILL_3GB, { limits: { maxMemoryBytes: 256 * MiB } }), "UNSUPPORTED_OP", /limits.maxMemoryBytes/),
  api("fed-shape-over-limit", async () => {
    const m = await load(DYNAMIC, { limits: { maxMemoryBytes: MiB } });
    await m.run({ x: { data: new Float32Array(3), dims: [1, 3] } }); // small shapes run
    return m.run({ x: { data: new Float32Array(300_000), dims: [100_000, 3] } });
  }, "UNSUPPORTED_OP", /limits.maxMemoryBytes = 1.0 MiB/),
  api("session-over-limit", async () => createSession(await wasm(), { limits: { maxMemoryBytes: 1000 } }), "UNSUPPORTED_OP", /more than limits.maxMemoryBytes = 1000 bytes/),
  api("compile-within-limit", () => compile(ADD, { limits: { maxMemoryBytes: 16 * MiB } }), "ok"),
];
