// Every field of a manifest checked before anything runs. The runtime writes inputs, weights and
// reads outputs at the offsets the manifest gives and calls the functions it names, so a damaged
// manifest would otherwise write over the weights, read the wrong bytes or trap: here it is
// INVALID_ARTIFACT, naming the field. Two steps: the manifest alone (parseManifest: its checksum,
// format, keys and types), then against the instantiated module (checkModule: exports, memory size,
// where every tensor and weights piece lies).
import { checksum, hex } from "./checksum.js";
import { dtype, isDTypeName, sizeOf, storageBytes, type DTypeName } from "./dtypes.js";
import { KilnError } from "./errors.js";
import { checkContainers } from "./containers.js";
import { evalDim, type DimExpr } from "./dims.js";
import { DERIVE, FORMAT_VERSION, MANIFEST_CHECKSUM_SECTION, MANIFEST_SECTION, RUN_LAYERS, type DerivedSpan, type Manifest, type TensorSlot, type WeightSpan } from "./manifest.js";

const RECOMPILE = "the artifact is damaged or was not written by kiln compile; recompile the model (or fetch the file again)";

function damaged(what: string): never {
  throw new KilnError("INVALID_ARTIFACT", `${what}; ${RECOMPILE}`);
}

/** The manifest of a module, from the payloads of its kiln.manifest and kiln.manifest.checksum sections. */
export function parseManifest(sections: readonly ArrayBuffer[], sums: readonly ArrayBuffer[]): Manifest {
  if (sections.length === 0) throw new KilnError("INVALID_ARTIFACT", `this wasm module has no ${MANIFEST_SECTION} section; it was not produced by kiln compile`);
  if (sections.length > 1) damaged(`this wasm module has ${sections.length} ${MANIFEST_SECTION} sections where a kiln module has one`);
  const bytes = new Uint8Array(sections[0]);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    damaged(`the ${MANIFEST_SECTION} section is not valid JSON (${(e as Error).message})`);
  }
  // the version first: an artifact of another kiln gets the message that says so
  const format = (json as { format?: unknown } | null)?.format;
  // format 4 is format 5 without derived pieces, sidecar or stream; 5 is 6 with the module's own memory
  if (format !== FORMAT_VERSION && format !== 5 && format !== 4) {
    throw new KilnError("INVALID_ARTIFACT", `artifact format ${JSON.stringify(format)} is not the format ${FORMAT_VERSION} this runtime reads; recompile the model with this kiln version`);
  }
  if (sums.length !== 1) damaged(`this wasm module has ${sums.length} ${MANIFEST_CHECKSUM_SECTION} sections where a kiln module has one`);
  const want = new TextDecoder().decode(sums[0]);
  const got = hex(checksum(bytes));
  if (got !== want) damaged(`the ${MANIFEST_SECTION} section's checksum is ${got} but its ${MANIFEST_CHECKSUM_SECTION} section says ${JSON.stringify(want)}: the manifest was altered`);
  return checkFields(json);
}

// --- the manifest alone: keys and types ---

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function field(o: Record<string, unknown>, key: string, path: string): unknown {
  if (!(key in o)) damaged(`the manifest has no ${path}.${key}`);
  return o[key];
}

function object(o: Record<string, unknown>, key: string, path: string): Record<string, unknown> {
  const v = field(o, key, path);
  if (!isObject(v)) damaged(`the manifest's ${path}.${key} is ${JSON.stringify(v)}, not an object`);
  return v;
}

function array(o: Record<string, unknown>, key: string, path: string): unknown[] {
  const v = field(o, key, path);
  if (!Array.isArray(v)) damaged(`the manifest's ${path}.${key} is ${short(v)}, not a list`);
  return v;
}

function string(o: Record<string, unknown>, key: string, path: string): string {
  const v = field(o, key, path);
  if (typeof v !== "string") damaged(`the manifest's ${path}.${key} is ${short(v)}, not a string`);
  return v;
}

/** A byte offset, size or dim: an integer from 0 up to 2^53. */
function count(v: unknown, path: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0) damaged(`the manifest's ${path} is ${short(v)}, not a non-negative integer`);
  return v as number;
}

function knownDType(o: Record<string, unknown>, path: string): DTypeName {
  const d = string(o, "dtype", path);
  if (!isDTypeName(d)) damaged(`the manifest's ${path}.dtype ${JSON.stringify(d)} is not a dtype this runtime knows`);
  return d;
}

const short = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? s.slice(0, 40) + "..." : s;
};

function dims(o: Record<string, unknown>, path: string): number[] {
  const d = array(o, "dims", path);
  d.forEach((x, k) => count(x, `${path}.dims[${k}]`));
  if (!Number.isSafeInteger(sizeOf(d as number[]))) damaged(`the manifest's ${path}.dims [${d.join(",")}] hold more elements than memory can`);
  return d as number[];
}

function slot(v: unknown, path: string): void {
  if (!isObject(v)) damaged(`the manifest's ${path} is not an object`);
  string(v, "name", path);
  knownDType(v, path);
  dims(v, path);
  count(field(v, "offset", path), `${path}.offset`);
}

/**
 * [offset, bytes, checksum?] (a streamed piece's checksum may be null, and a fourth entry gives its
 * position in the weights file), or with `derived` [offset, bytes, checksum, fn]
 */
function span(v: unknown, path: string, derived?: boolean): void {
  if (!Array.isArray(v) || (derived ? v.length !== 4 : v.length < 2 || v.length > 4)) damaged(`the manifest's ${path} is ${short(v)}, not [offset, bytes, checksum${derived ? ", fn" : ""}]`);
  v.forEach((x, k) => k !== 2 && count(x, `${path}[${k}]`));
  const sum = v[2];
  if (v.length > 2 && !(sum === null && !derived) && !(Number.isInteger(sum) && sum >= 0 && sum <= 0xffffffff)) damaged(`the manifest's ${path} checksum ${short(sum)} is not a 32-bit checksum`);
}

function frozen(v: unknown, path: string): void {
  if (!isObject(v)) damaged(`the manifest's ${path} is not an object`);
  string(v, "name", path);
  const { big } = dtype(knownDType(v, path));
  const n = sizeOf(dims(v, path));
  const values = array(v, "values", path);
  if (values.length !== n) damaged(`the manifest's ${path} has ${values.length} values for ${n} elements`);
  values.forEach((x, k) => {
    // JSON writes a NaN or infinite float as null
    const ok = typeof x === "number" || (big ? typeof x === "string" && /^-?\d+$/.test(x) : x === null);
    if (!ok) damaged(`the manifest's ${path}.values[${k}] is ${short(x)}`);
  });
}

function checkFields(json: unknown): Manifest {
  if (!isObject(json)) damaged("the manifest is not a JSON object");
  string(json, "kiln", "manifest");
  array(json, "features", "manifest").forEach((f, k) => typeof f === "string" || damaged(`the manifest's features[${k}] is not a string`));
  array(json, "inputs", "manifest").forEach((s, k) => slot(s, `inputs[${k}]`));
  array(json, "outputs", "manifest").forEach((s, k) => slot(s, `outputs[${k}]`));
  array(json, "frozen", "manifest").forEach((f, k) => frozen(f, `frozen[${k}]`));
  array(json, "layers", "manifest").forEach((l, k) => {
    const path = `layers[${k}]`;
    if (!isObject(l)) damaged(`the manifest's ${path} is not an object`);
    for (const key of ["name", "op"]) string(l, key, path);
    if ("kernel" in l) string(l, "kernel", path);
    if ("flops" in l) count(l.flops, `${path}.flops`);
    array(l, "weights", path).forEach((w, j) => span(w, `${path}.weights[${j}]`));
    // [offset, bytes, checksum, fn]
    if ("derived" in l) array(l, "derived", path).forEach((d, j) => span(d, `${path}.derived[${j}]`, true));
  });
  const memory = object(json, "memory", "manifest");
  for (const key of ["bytes", "weightsOffset", "weightsBytes"]) count(field(memory, key, "memory"), `memory.${key}`);
  // whole 64 KiB pages, at most wasm32's 4 GiB: the memory is made from it before the module links
  if ((memory.bytes as number) % 65536 || (memory.bytes as number) > 2 ** 32) damaged(`the manifest's memory.bytes is ${memory.bytes}, not whole 64 KiB pages up to 4 GiB`);
  const where = field(memory, "weights", "memory");
  if (where !== "data" && where !== "section" && where !== "external") damaged(`the manifest's memory.weights is ${short(where)}, not "data", "section" or "external"`);
  array(memory, "regions", "memory").forEach((r, k) => {
    if (!isObject(r)) damaged(`the manifest's memory.regions[${k}] is not an object`);
    count(field(r, "offset", `memory.regions[${k}]`), `memory.regions[${k}].offset`);
    count(field(r, "bytes", `memory.regions[${k}]`), `memory.regions[${k}].bytes`);
  });
  array(memory, "unclaimed", "memory").forEach((w, j) => span(w, `memory.unclaimed[${j}]`));
  // the weights sources' loader places stored pieces only: such artifacts are compiled prepacked
  const layers = json.layers as { derived?: unknown[] }[];
  if (("sidecar" in memory || "stream" in memory) && layers.some((l) => l.derived?.length)) damaged("the manifest has derived pieces and a sidecar or streamed weights, which kiln never writes together");
  // memory.sidecar and memory.stream are checked where they are read, outside this bundle: kiln run
  // (compiler/driver/cli/cmd-run.ts) and the weights sources' loader (runtime/sources.ts)
  if ("model" in json) modelInfo(object(json, "model", "manifest"));
  checkContainers(json, damaged);
  if ("symbols" in json) checkSymbols(json);
  return json as unknown as Manifest;
}

/**
 * manifest.symbols and the slots' dim expressions (runtime/dims.ts): at most 4 symbols (their
 * values go in the reserved bytes), each read from an input dim that is the symbol alone or
 * written by a layer (a data-dependent dim); every
 * term over known symbols, a symbol's coefficient non-negative, so a dim is smallest at the lower
 * bounds (there at least 0) and largest at the upper ones (there the slot's dims, which the slot
 * checks keep in memory): no feed within the bounds writes or reads past its slot.
 */
function checkSymbols(json: Record<string, unknown>): void {
  const syms = array(json, "symbols", "manifest"), lo: number[] = [], hi: number[] = [];
  const bad = (path: string, v: unknown) => damaged(`the manifest's ${path} ${short(v)} does not fit the symbolic dims' bounds`);
  if (syms.length > 4) bad("symbols", syms);
  syms.forEach((v, k) => {
    const at = isObject(v) && v.at as number[];
    lo.push(count(isObject(v) && v.min, `symbols[${k}].min`));
    hi.push(count(isObject(v) && v.max, `symbols[${k}].max`));
    // a data-dependent dim instead: written by a layer of the module (the runtime checks the value it reads back)
    if (isObject(v) && v.layer !== undefined) {
      if (at !== undefined || v.step !== undefined || lo[k] > hi[k] || count(v.layer, "layer") >= (json.layers as unknown[]).length) bad(`symbols[${k}]`, v);
      return;
    }
    // read from an input dim that is this symbol alone
    const e = Array.isArray(at) && at.length === 2 && at.every(Number.isInteger) && (json.inputs as TensorSlot[])[at[0]]?.expr?.[at[1]];
    // a step (the symbol is the dim / step): a whole number from 2 on, the input dim step * the symbol
    const step = isObject(v) && v.step !== undefined ? count(v.step, `symbols[${k}].step`) : 1;
    if (lo[k] > hi[k] || step < 1 || JSON.stringify(e) !== `[[${step},${k}]]`) bad(`symbols[${k}]`, v);
  });
  const term = (t: unknown) => Array.isArray(t) && Number.isSafeInteger(t[0]) && (t.length === 1 || t[0] >= 0) && t.slice(1).every((i) => Number.isInteger(i) && i >= 0 && i < syms.length);
  for (const side of ["inputs", "outputs"]) (json[side] as TensorSlot[]).forEach(({ expr: e, dims }, j) => {
    const ok = e === undefined || (Array.isArray(e) && e.length === dims.length && e.every((d: unknown, k) =>
      (typeof d === "number" ? d === dims[k] : Array.isArray(d) && d.every(term) && evalDim(d as DimExpr, lo) >= 0 && evalDim(d as DimExpr, hi) === dims[k])));
    if (!ok) bad(`${side}[${j}].expr`, e);
  });
}

/** manifest.model: text only (tools print it and generate doc comments from it), every key optional. */
function modelInfo(m: Record<string, unknown>): void {
  for (const key of ["doc", "name", "producer", "domain"]) if (key in m) string(m, key, "model");
  if ("version" in m) count(m.version, "model.version");
  const record = (key: string, each: (v: unknown, path: string) => void) => {
    if (!(key in m)) return;
    for (const [k, v] of Object.entries(object(m, key, "model"))) each(v, `model.${key}[${JSON.stringify(k)}]`);
  };
  const text = (v: unknown, path: string) => typeof v === "string" || damaged(`the manifest's ${path} is ${short(v)}, not a string`);
  record("metadata", text);
  record("docs", text);
  record("declared", (v, path) => {
    if (!Array.isArray(v)) damaged(`the manifest's ${path} is ${short(v)}, not a list`);
    v.forEach((d, k) => typeof d === "string" || count(d, `${path}[${k}]`));
  });
}

// --- against the module: exports and where everything lies in its memory ---

/** Every check that needs the module: the functions the manifest names, and every offset in its memory. */
export function checkModule(manifest: Manifest, mod: WebAssembly.Module, instance: WebAssembly.Instance): void {
  const exports = new Map(WebAssembly.Module.exports(mod).map((e) => [e.name, e.kind]));
  for (const [name, kind] of [["memory", "memory"], ["run", "function"], [RUN_LAYERS, "function"]]) {
    if (exports.get(name) !== kind) damaged(`the module exports no ${kind} ${JSON.stringify(name)}`);
  }
  const memoryBytes = (instance.exports.memory as WebAssembly.Memory).buffer.byteLength;
  // run_layers(0, 0) runs nothing and returns how many layers the module has
  const layers = (instance.exports[RUN_LAYERS] as (from: number, to: number) => unknown)(0, 0);
  if (layers !== manifest.layers.length) damaged(`the manifest lists ${manifest.layers.length} layers; the module has ${short(layers)}`);
  const { memory } = manifest;
  if (memory.bytes !== memoryBytes) damaged(`the manifest says the memory has ${memory.bytes} bytes; the module's has ${memoryBytes}`);
  if (memory.weightsOffset + memory.weightsBytes > memoryBytes) damaged(`the manifest's weights [${memory.weightsOffset}, +${memory.weightsBytes}] run past the end of memory (${memoryBytes} bytes)`);
  const regions = memory.regions;
  regions.forEach((r, k) => {
    const prev = regions[k - 1];
    if (r.bytes === 0 || r.offset + r.bytes > memoryBytes || (prev && r.offset < prev.offset + prev.bytes)) {
      damaged(`the manifest's memory.regions[${k}] [${r.offset}, +${r.bytes}] is empty, out of memory (${memoryBytes} bytes) or out of order`);
    }
  });
  const pieces = checkSpans(manifest);
  const derived = checkDerived(manifest, instance, memoryBytes);
  checkSlots(manifest, memoryBytes, pieces, derived);
}

/**
 * Derived pieces (codegen/derive.ts) inside memory, in a module that makes them (exports DERIVE,
 * places an image they come from); the pieces. A wrong offset or function index makes
 * bytes that fail their checksum when the layer is placed.
 */
function checkDerived(manifest: Manifest, instance: WebAssembly.Instance, memoryBytes: number): DerivedSpan[] {
  const all = manifest.layers.flatMap((l) => l.derived ?? []);
  const { regions, weights } = manifest.memory;
  for (const [offset, bytes] of all) {
    if (!bytes || offset + bytes > memoryBytes || !instance.exports[DERIVE] || weights === "data" || !regions.length) {
      damaged(`the manifest's derived weights [${offset}, +${bytes}] are misplaced`);
    }
  }
  return all;
}

/** Every listed piece inside one region, with its checksum unless the compiler writes the weights itself; the pieces, sorted. */
function checkSpans(manifest: Manifest): WeightSpan[] {
  const { regions, unclaimed, weights: where } = manifest.memory;
  const named: [string, WeightSpan][] = [...manifest.layers.flatMap((l) => l.weights.map((w) => [`layer ${JSON.stringify(l.name)}`, w] as [string, WeightSpan])), ...unclaimed.map((w) => ["memory.unclaimed", w] as [string, WeightSpan])];
  const starts = regions.map((r) => r.offset);
  for (const [owner, w] of named) {
    const [offset, bytes] = w;
    const k = lastAtOrBefore(starts, offset);
    const r = regions[k];
    if (bytes === 0 || !r || offset + bytes > r.offset + r.bytes) damaged(`the manifest lists weights [${offset}, +${bytes}] for ${owner} outside the weights image`);
    if (w[2] === undefined && where !== "external") damaged(`the manifest lists weights [${offset}, +${bytes}] for ${owner} without a checksum`);
  }
  return named.map(([, w]) => w).sort((a, b) => a[0] - b[0]);
}

/** Index of the last sorted start <= x, or -1. */
function lastAtOrBefore(starts: readonly number[], x: number): number {
  let lo = 0, hi = starts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (starts[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

interface Range {
  what: string;
  input: boolean;
  start: number;
  end: number;
}

/**
 * Inputs and outputs inside memory, aligned for their dtype. An input overlaps no weights and no
 * other tensor: writing it must not change anything else. An output may be the very bytes of an
 * input or another output (a reshape aliases), or lie inside a weights piece (a constant output).
 */
function checkSlots(manifest: Manifest, memoryBytes: number, pieces: readonly WeightSpan[], derived: readonly DerivedSpan[]): void {
  const { regions, weightsOffset, weightsBytes } = manifest.memory;
  // derived pieces count as weights: no input or output lies on one
  const weights = [...regions.map((r) => [r.offset, r.offset + r.bytes]), [weightsOffset, weightsOffset + weightsBytes], ...derived.map(([a, n]) => [a, a + n])].filter(([a, b]) => b > a);

  const starts = pieces.map((p) => p[0]);
  const ranges: Range[] = [];
  const add = (s: TensorSlot, k: number, input: boolean) => {
    const what = `${input ? "inputs" : "outputs"}[${k}] (${JSON.stringify(s.name)})`;
    const size = dtype(s.dtype).bytes;
    // packed 4- and 2-bit types take ceil(n * bits / 8) bytes
    const end = s.offset + storageBytes(s.dtype, sizeOf(s.dims));
    if (s.offset % size) damaged(`the manifest's ${what} offset ${s.offset} is not aligned for ${s.dtype}`);
    if (end > memoryBytes) damaged(`the manifest's ${what} [${s.offset}, ${end}) runs past the end of memory (${memoryBytes} bytes)`);
    if (end === s.offset) return;
    const inWeights = weights.some(([a, b]) => s.offset < b && a < end);
    if (inWeights) {
      const p = pieces[lastAtOrBefore(starts, s.offset)];
      const insidePiece = !input && p && end <= p[0] + p[1];
      if (!insidePiece) damaged(`the manifest's ${what} [${s.offset}, ${end}) overlaps the weights`);
      return;
    }
    ranges.push({ what, input, start: s.offset, end });
  };
  manifest.inputs.forEach((s, k) => add(s, k, true));
  manifest.outputs.forEach((s, k) => add(s, k, false));
  ranges.sort((a, b) => a.start - b.start || a.end - b.end);
  let reach: Range | undefined; // of the ranges so far, the one ending last
  for (const r of ranges) {
    if (reach && r.start < reach.end) {
      const alias = r.start === reach.start && r.end === reach.end && !(r.input && reach.input);
      if (!alias) damaged(`the manifest's ${r.what} [${r.start}, ${r.end}) overlaps ${reach.what} [${reach.start}, ${reach.end})`);
    }
    if (!reach || r.end > reach.end) reach = r;
  }
}
