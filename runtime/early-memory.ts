// A one-thread module's memory made before the engine has compiled the module (format 6: the
// module imports it), and its pages touched while the engine compiles on background threads
// (runtime/session.ts createSession; docs/ARTIFACTS.md). Nothing here runs a module.
import { FORMAT_VERSION, MANIFEST_CHECKSUM_SECTION, MANIFEST_SECTION, type Manifest } from "./manifest.js";
import { sections } from "./sections.js";
import { parseManifest } from "./validate.js";
import { checkMemory, type Limits } from "./limits.js";

/** A module's manifest, read from its bytes before the engine has compiled them, and the memory made for it. */
export interface Early {
  manifest: Manifest;
  memory: WebAssembly.Memory;
}

/**
 * The memory of a one-thread module that imports it (format 6), made from the manifest in its
 * bytes while the engine compiles them; undefined for any other module, or bytes whose manifest
 * is refused (that error is reported once the module is compiled, after a compile error).
 */
export function earlyMemory(code: Uint8Array, limits: Limits | undefined): Early | undefined {
  try {
    const all = sections(code);
    const payloads = (name: string) => all.filter((s) => s.name === name).map((s) => code.slice(s.payload, s.end).buffer);
    const manifest = parseManifest(payloads(MANIFEST_SECTION), payloads(MANIFEST_CHECKSUM_SECTION));
    if (manifest.format < FORMAT_VERSION || manifest.threads) return undefined;
    checkMemory(manifest.memory.bytes, limits);
    return { manifest, memory: memoryOf(manifest.memory.bytes) };
  } catch {
    return undefined;
  }
}

/** A one-thread module's memory, its size fixed as the module declares it (a manifest that says another size fails to link: instantiate) */
export const memoryOf = (bytes: number) => new WebAssembly.Memory({ initial: bytes / 65536, maximum: bytes / 65536 });

/**
 * Write to the memory's pages, 1 MiB at a time from the start, until `compiling` settles: the first
 * write to a page is what costs (the system maps it in: about 4 ms per MB on a small VM, 22.8 MB
 * for SqueezeNet), and the engine compiles on background threads while this thread would wait.
 * The pages left are touched by the first run, as before. Between chunks a task turn lets the
 * compile's result in; the writes are zeros into a fresh memory, so nothing changes. Only the
 * `ranges` are written: pages no run writes stay unmapped.
 */
export async function touchWhile(memory: WebAssembly.Memory, compiling: Promise<unknown>, ranges: readonly [number, number][]): Promise<void> {
  let done = false;
  compiling.then(() => (done = true), () => (done = true));
  const bytes = new Uint8Array(memory.buffer);
  for (const [from, to] of ranges) {
    for (let at = from; at < to && !done; at += 1 << 20) {
      bytes.fill(0, at, Math.min(at + (1 << 20), to));
      // a task turn, not a promise's then, lets the compile's completion task in
      await new Promise((resolve) => (immediate ?? setTimeout)(resolve));
    }
  }
}

/**
 * The memory a run writes, as [from, to) ranges: all of it but, in the weights area, the slots of
 * weights no piece fills. The layout reserves a slot for every constant a layer takes (codegen/
 * placement.ts), and a layer that reads a packed form instead (SqueezeNet's 1x1 convolutions:
 * 2.7 of its 4.9 MB) never writes its slot: touching those pages would only cost their faults.
 * Under a memory budget the weights area is the ring of slots, all of it written.
 */
export function touchedRanges(manifest: Manifest): [number, number][] {
  const { bytes, weightsOffset, weightsBytes, regions, stream } = manifest.memory;
  const end = weightsOffset + weightsBytes;
  if (stream) return [[0, bytes]];
  const filled: [number, number][] = [];
  const add = (at: number, size: number) => {
    if (size > 0 && at < end && at + size > weightsOffset) filled.push([Math.max(at, weightsOffset), Math.min(at + size, end)]);
  };
  for (const r of regions) add(r.offset, r.bytes);
  for (const l of manifest.layers) for (const [at, size] of l.derived ?? []) add(at, size);
  filled.sort((a, b) => a[0] - b[0]);
  const ranges: [number, number][] = [[0, weightsOffset]];
  for (const [from, to] of filled) {
    const last = ranges[ranges.length - 1];
    // a small gap is not worth a range (and a task turn) of its own
    if (from - last[1] < MIN_GAP) last[1] = Math.max(last[1], to);
    else ranges.push([from, to]);
  }
  const last = ranges[ranges.length - 1];
  if (end - last[1] < MIN_GAP) last[1] = bytes;
  else ranges.push([end, bytes]);
  return ranges;
}

/** gaps left untouched are at least this long (16 of the system's 4 KiB pages) */
const MIN_GAP = 1 << 16;

const immediate = (globalThis as { setImmediate?: (f: (v: unknown) => void) => unknown }).setImmediate;
