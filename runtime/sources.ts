// Where a session's weights come from when they are not inside the .wasm: a reader of byte ranges,
// asynchronous, that reads straight into the view it is given (the module's memory). The session
// takes any object of this shape (createSession(wasm, { weights: source })); this file has the
// usual ones: bytes in memory, a Node file, a Blob or File, and a URL read with HTTP Range
// requests. It is its own entry (kiln/runtime/sources), so a bundle that runs weights from the
// .wasm pulls none of it, and Node's fs only loads when fileSource is called.
import { hex, type MemoryHash } from "./checksum.js";
import { KilnError } from "./errors.js";
import type { Manifest, WeightSpan } from "./manifest.js";
import type { LayerLoader, StreamedWeights } from "./schedule.js";
import { imageBytes, imagePosition } from "./weights.js";

/** What a source reads: byte ranges of the weights image (the .wasm's kiln.weights payload, a sidecar file). */
export interface WeightsReader {
  /** the source's length in bytes, when known before reading (a file's, a Blob's, bytes') */
  readonly size?: number;
  /**
   * Fill `into` with the bytes at [position, position + into.length); resolves to how many bytes
   * were there (fewer at the end of the source, which the session reports naming the layer).
   */
  read(position: number, into: Uint8Array): Promise<number>;
  /** let the source go (a file's handle); the session calls it when every piece is in memory, or never */
  close?(): Promise<void>;
}

/** A reader the session takes as createSession(wasm, { weights }): it makes the session's loader. */
export type WeightsSource = WeightsReader & StreamedWeights;

/** A reader of your own (a cache, an IndexedDB store ...) as a source for createSession. */
export function streamed(reader: WeightsReader): WeightsSource {
  return { ...reader, loader: (memory, manifest, hash) => new SourceLoader(reader, memory, manifest, hash) };
}

/** A source over bytes already in memory (the default for an image in a Uint8Array). */
export function bytesSource(bytes: Uint8Array): WeightsSource {
  return streamed({
    size: bytes.length,
    async read(position, into) {
      const part = bytes.subarray(position, position + into.length);
      into.set(part);
      return part.length;
    },
  });
}

/** A Blob or File (a user's <input type=file>, an OPFS file): each range sliced and read alone. */
export function blobSource(blob: Blob): WeightsSource {
  return streamed({
    size: blob.size,
    async read(position, into) {
      const part = new Uint8Array(await blob.slice(position, position + into.length).arrayBuffer());
      into.set(part);
      return part.length;
    },
  });
}

/**
 * A URL read with HTTP Range requests, one per range the session asks for (a layer's pieces). A
 * server that ignores Range (200, the whole file) is read once and kept; a range past the end is
 * a short read. `fetchImpl` defaults to the global fetch.
 */
export function urlSource(url: string, options: { size?: number; fetch?: typeof fetch; headers?: Record<string, string> } = {}): WeightsSource {
  const get = options.fetch ?? fetch;
  let whole: Promise<Uint8Array> | undefined;
  // the first response says whether the server honours Range: reads asked meanwhile wait for it
  let first: Promise<unknown> | undefined;
  const failed = (why: string) => new KilnError("INVALID_ARTIFACT", `reading the weights from ${url}: ${why}; check the URL and the server`);
  return streamed({
    size: options.size,
    read(position, into) {
      if (first) return first.then(() => read(position, into));
      const p = read(position, into);
      first = p.catch(() => undefined);
      return p;
    },
  });

  async function read(position: number, into: Uint8Array): Promise<number> {
    if (!into.length) return 0;
    let part: Uint8Array;
    if (whole) part = (await whole).subarray(position, position + into.length);
    else {
      let r: Response;
      try {
        r = await get(url, { headers: { ...options.headers, Range: `bytes=${position}-${position + into.length - 1}` } });
      } catch (e) {
        throw failed(`the request failed (${(e as Error)?.message ?? String(e)})`);
      }
      if (r.status === 416) return 0; // the range starts past the end
      if (!r.ok) throw failed(`the response is ${r.status} ${r.statusText}`);
      if (r.status === 200) {
        whole = r.arrayBuffer().then((b) => new Uint8Array(b));
        return read(position, into);
      }
      part = new Uint8Array(await r.arrayBuffer());
    }
    const n = Math.min(part.length, into.length);
    into.set(part.subarray(0, n));
    return n;
  }
}

/**
 * A file in Node, read with FileHandle.read straight into the view the session gives (the wasm
 * memory: no staging buffer), in Node's thread pool, beside the running model.
 */
export async function fileSource(file: string): Promise<WeightsSource> {
  const fs = await import("node:fs/promises");
  let handle: import("node:fs/promises").FileHandle;
  try {
    handle = await fs.open(file, "r");
  } catch (e) {
    throw new KilnError("INVALID_ARTIFACT", `cannot open the weights file ${file}: ${(e as Error).message}`);
  }
  const { size } = await handle.stat();
  let closed = false;
  return streamed({
    size,
    async read(position, into) {
      let done = 0;
      // one read takes at most 2 GiB - 1 bytes; a read returns fewer bytes at the end of the file
      while (done < into.length) {
        const want = Math.min(into.length - done, 0x40000000);
        const { bytesRead } = await handle.read(into, done, want, position + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done;
    },
    async close() {
      if (!closed) await handle.close();
      closed = true;
    },
  });
}

/** manifest.memory.stream's fields (runtime/validate.ts leaves them to their one reader, here). */
function checkStream(s: unknown, layers: number): Manifest["memory"]["stream"] {
  const { budget, bytes, wait } = (s ?? {}) as Record<string, unknown>;
  const count = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  if (!count(budget) || !count(bytes) || !Array.isArray(wait) || !wait.every((k) => count(k) && k < layers)) {
    throw new KilnError("INVALID_ARTIFACT", `the manifest's memory.stream is ${JSON.stringify(s)?.slice(0, 80)}, not { budget, bytes, wait: [layer indices] }; the artifact is damaged or was not written by kiln compile: recompile the model`);
  }
  return s as Manifest["memory"]["stream"];
}

/**
 * A session's loader over a reader: reads each layer's pieces straight into memory at their
 * addresses (from their positions in the image), once, and checks each one's checksum there. A
 * reader shorter than the image, a short read or a wrong checksum stops the session for good:
 * INVALID_ARTIFACT naming the first layer whose pieces are bad, before that layer runs.
 */
class SourceLoader implements LayerLoader {
  /** the pieces read or being read, by image position */
  private readonly loads = new Map<number, Promise<void>>();
  private readonly image: (addr: number) => number;
  private readonly hash: MemoryHash;
  private failure: KilnError | undefined;
  /** under a memory budget: the layers' pieces share slots, and are read again on every run */
  private readonly stream: Manifest["memory"]["stream"];
  /** under a memory budget: the resident pieces (constant outputs), read once */
  private residents: Promise<number> | undefined;

  constructor(private readonly reader: WeightsReader, private readonly memory: WebAssembly.Memory, private readonly manifest: Manifest, hash: MemoryHash) {
    const { regions, stream } = manifest.memory;
    this.stream = stream && checkStream(stream, manifest.layers.length);
    this.image = imagePosition(regions, 0);
    this.hash = hash;
    const want = stream?.bytes ?? imageBytes(regions), got = reader.size;
    if (got === undefined || got === want) return;
    // a short file: the first layer with a piece past its end is named now, before anything runs
    const cut = got < want ? manifest.layers.findIndex((l) => l.weights.some((w) => this.position(w) + w[1] > got)) : -1;
    this.damaged(cut < 0 ? undefined : cut, `the weights source has ${got} bytes where the module's image has ${want}${got < want ? ": it is truncated" : ": it is not this module's weights file"}`);
  }

  /** a piece's position in the image: its own under a budget, else from its address */
  private position(w: WeightSpan): number {
    return w[3] ?? this.image(w[0]);
  }

  async load(k: number | undefined): Promise<number> {
    const spans = k === undefined ? this.manifest.memory.unclaimed : this.manifest.layers[k].weights;
    // under a budget a layer's pieces are read on every run (their slots held others' since)
    if (this.stream && k !== undefined) await (this.residents ??= this.load(undefined));
    const fresh = this.stream && k !== undefined ? spans : spans.filter((w) => !this.loads.has(this.position(w)));
    for (const w of fresh) this.loads.set(this.position(w), this.read(w, k));
    await Promise.all(spans.map((w) => this.loads.get(this.position(w))));
    return fresh.reduce((a, w) => a + w[1], 0);
  }

  async run(runLayers: (from: number, to: number) => void): Promise<boolean> {
    const reading = this.manifest.layers.flatMap((l, k) => (l.weights.length ? [k] : []));
    // under a budget, a layer listed in `wait` has its pieces read only once the layers before it
    // ran: its slots overlap the previous reading layer's
    const wait = new Set(this.stream?.wait);
    // the next layer's read is awaited after this one's layers ran: a trap between must not leave it unhandled
    const load = (j: number) => (j < reading.length ? this.load(reading[j]).then(() => undefined, (e: unknown) => e) : undefined);
    let next = load(0), from = 0;
    const run = (to: number) => {
      try {
        runLayers(from, to);
      } catch (e) {
        // a trap is a kiln bug (kernels never index outside their tensors): say so, typed
        throw new KilnError("INTERNAL", `the compiled model trapped: ${(e as Error).message}`);
      }
    };
    for (const [j, k] of reading.entries()) {
      run(k); // the layers before k read no pieces: they run while k's are read
      const e = await (next ??= load(j));
      if (e) throw e;
      next = wait.has(reading[j + 1]) ? undefined : load(j + 1);
      from = k;
    }
    run(this.manifest.layers.length);
    return this.end();
  }

  async end(): Promise<boolean> {
    await this.load(undefined);
    if (this.stream) return false; // read again on the next run
    await this.reader.close?.();
    return true;
  }

  private async read(w: WeightSpan, layer: number | undefined): Promise<void> {
    if (this.failure) throw this.failure;
    const [offset, size, want] = w;
    const at = this.position(w);
    const got = await this.reader.read(at, new Uint8Array(this.memory.buffer, offset, size));
    if (this.failure) throw this.failure;
    if (got < size) this.damaged(layer, `the weights source ends at byte ${at + got}, inside the piece at image position ${at} (${size} bytes): it is truncated`);
    const sum = want == null ? want : this.hash(offset, size); // none: written by the compiler in this process
    if (sum !== want) this.damaged(layer, `the piece at image position ${at} (${size} bytes) has checksum ${hex(sum!)} where the manifest says ${hex(want!)}`);
  }

  /** Stops the session for good: INVALID_ARTIFACT naming the layer whose piece is bad. */
  private damaged(layer: number | undefined, why: string): never {
    const l = layer === undefined ? undefined : this.manifest.layers[layer];
    throw (this.failure = new KilnError("INVALID_ARTIFACT",
      `the weights of ${l ? `layer ${JSON.stringify(l.name)}` : "this module"} are damaged: ${why}; the weights file was altered or cut after kiln compile wrote it: copy it again (or recompile the model)`,
      l ? { node: l.name, op: l.op } : {}));
  }
}
