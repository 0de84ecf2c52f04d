// Opening a .wasm by its path, in Node, so that its weights are in the process once: the bytes
// before the trailing kiln.weights section (code, manifest, the relaxed build's code) are read into
// a buffer and compiled; the weights image is never read whole, but piece by piece straight from
// the file into the module's memory as the scheduler places each layer's pieces
// (runtime/schedule.ts, the same checksum checks and derived forms as for bytes). Reading the file
// whole instead kept its bytes (the image included) beside the placed weights until the first run
// ended: with a ResNet-50's 100 MB image, the process peaked at 0.65x onnxruntime-web's RSS.
// Node only: node:fs loads when a file is opened (as fileSource's does), so a browser bundle of the
// runtime that never calls these carries no fs (esbuild's node:* stay external).
import { KilnError } from "./errors.js";
import { MANIFEST_SECTION, WEIGHTS_SECTION, type Manifest, type WeightRegion } from "./manifest.js";
import { readLeb, sections } from "./sections.js";
import { createSession, type Session, type SessionOptions } from "./session.js";
import { imagePosition, type WeightsWriter } from "./weights.js";

type Fs = typeof import("node:fs");

/** A writer of the image's pieces from the file (createSession's weights option) that lets the file go. */
export type FileWeights = WeightsWriter & { close(): void };

export interface ArtifactFile {
  file: string;
  /** the artifact's bytes before its weights section (all of them when it has none, or is not well-formed) */
  bytes: Uint8Array;
  /** the weights image read from the file as pieces are placed, when the artifact's image is its last section */
  weights?: FileWeights;
  /** the image's bytes the file holds, and the section's length: fewer when the file was cut short */
  image?: { present: number; declared: number };
  /** close the file (idempotent: the writer closes it too once every piece is placed) */
  close(): void;
}

/** position and payload of the trailing kiln.weights section (its declared end may pass a cut file's end), or undefined */
function weightsSection(fs: Fs, fd: number, size: number): { start: number; payload: number; end: number } | undefined {
  const head = new Uint8Array(64);
  let at = 8;
  while (at < size) {
    const got = fs.readSync(fd, head, 0, Math.min(head.length, size - at), at);
    const [len, body] = readLeb(head.subarray(0, got), 1);
    const end = at + body + len;
    if (head[0] === 0 && end >= size) {
      const [nameLen, name] = readLeb(head.subarray(0, got), body);
      const isWeights = name + nameLen <= got && new TextDecoder().decode(head.subarray(name, name + nameLen)) === WEIGHTS_SECTION;
      return isWeights ? { start: at, payload: at + name + nameLen, end } : undefined;
    }
    if (end <= at || end > size) return undefined; // not well-formed: the runtime says what is wrong
    at = end;
  }
  return undefined;
}

/** the manifest's weight regions, read as is (createSession validates the manifest), or undefined */
function regionsOf(bytes: Uint8Array): WeightRegion[] | undefined {
  try {
    const manifest = sections(bytes).find((s) => s.name === MANIFEST_SECTION);
    if (!manifest) return undefined;
    const regions = (JSON.parse(new TextDecoder().decode(bytes.subarray(manifest.payload, manifest.end))) as Manifest).memory.regions;
    return Array.isArray(regions) ? regions : undefined;
  } catch {
    return undefined;
  }
}

function readFully(fs: Fs, fd: number, into: Uint8Array, at: number, bytes: number, position: number): void {
  let done = 0;
  while (done < bytes) {
    // one read takes at most 2 GiB - 1 bytes
    const got = fs.readSync(fd, into, at + done, Math.min(bytes - done, 0x40000000), position + done);
    if (got === 0) return; // a file cut short: openSession names the layer, a piece's checksum says so too
    done += got;
  }
}

/** Opens a .wasm for running: a typed error when the path is not a readable file. */
export async function openArtifactFile(file: string): Promise<ArtifactFile> {
  const fs = await import("node:fs");
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (e) {
    throw new KilnError("BAD_INPUT", `cannot open the artifact ${file}: ${(e as Error).message}; pass the path of a .wasm written by kiln compile`);
  }
  let open = true;
  const close = () => {
    if (open) fs.closeSync(fd);
    open = false;
  };
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new KilnError("BAD_INPUT", `the artifact ${file} is not a file; pass the path of a .wasm written by kiln compile`);
    const size = stat.size;
    let section: ReturnType<typeof weightsSection>;
    try {
      section = weightsSection(fs, fd, size);
    } catch {
      section = undefined;
    }
    const bytes = new Uint8Array(section?.start ?? size);
    readFully(fs, fd, bytes, 0, bytes.length, 0);
    if (!section) return { file, bytes, close };
    const regions = regionsOf(bytes);
    if (!regions) {
      // a manifest the runtime will refuse, with its reason: it gets the whole file
      const all = new Uint8Array(size);
      readFully(fs, fd, all, 0, size, 0);
      return { file, bytes: all, close };
    }
    const position = imagePosition(regions, section.payload);
    const weights: FileWeights = Object.assign((into: Uint8Array, at: (addr: number) => number, only?: WeightRegion) => {
      if (!open) throw new KilnError("INTERNAL", `the artifact file ${file} was closed before every weight piece was placed`);
      for (const r of only ? [only] : regions) readFully(fs, fd, into, at(r.offset), r.bytes, position(r.offset));
    }, { close });
    return { file, bytes, weights, image: { present: size - section.payload, declared: section.end - section.payload }, close };
  } catch (e) {
    close();
    throw e;
  }
}

/** closes the file of a session dropped before its first run ended (the writer closes it then) */
const dropped = typeof FinalizationRegistry === "function" ? new FinalizationRegistry<() => void>((close) => close()) : undefined;

/**
 * A session on a .wasm named by its path (Node): its weights image read from the file into the
 * module's memory as each layer's pieces are placed, never whole into a buffer. options as
 * createSession's; options.weights (a sidecar file's source) wins over the file's own image, and
 * with proxy: true the worker gets the whole file's bytes, as createSession(bytes) does.
 */
export async function openSession(file: string, options: SessionOptions = {}): Promise<Session> {
  if (typeof file !== "string") throw new KilnError("BAD_INPUT", `openSession takes the path of a .wasm, got ${file === null ? "null" : typeof file}; for bytes use createSession`);
  return sessionOf(await openArtifactFile(file), options);
}

/** openSession's second half, for a caller that looked at the artifact's bytes first (kiln run); the session owns the file after. */
export async function sessionOf(artifact: ArtifactFile, options: SessionOptions = {}): Promise<Session> {
  let session: Session;
  try {
    if (options.proxy || options.weights !== undefined || !artifact.weights) {
      const bytes = artifact.weights && options.proxy ? (await import("node:fs")).readFileSync(artifact.file) : artifact.bytes;
      artifact.close();
      return await createSession(bytes, options);
    }
    session = await createSession(artifact.bytes, { ...options, weights: artifact.weights });
  } catch (e) {
    artifact.close();
    throw e;
  }
  const { present, declared } = artifact.image!;
  if (present < declared) {
    session.terminate?.();
    artifact.close();
    throw truncated(session.manifest, present, declared, artifact.file);
  }
  dropped?.register(session, artifact.close);
  return session;
}

/** INVALID_ARTIFACT naming the first layer with a piece past a cut file's end, before anything runs. */
function truncated(manifest: Manifest, present: number, declared: number, file: string): KilnError {
  const position = imagePosition(manifest.memory.regions, 0);
  const k = manifest.layers.findIndex((l) => l.weights.some(([offset, size]) => position(offset) + size > present));
  const l = k < 0 ? undefined : manifest.layers[k];
  return new KilnError("INVALID_ARTIFACT",
    `the weights of ${l ? `layer ${JSON.stringify(l.name)}` : "this module"} are damaged: ${file}'s weights section holds ${present} of its ${declared} bytes: it is truncated; copy the file again (or recompile the model)`,
    l ? { node: l.name, op: l.op } : {});
}
