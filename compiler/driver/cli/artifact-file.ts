// kiln run model.wasm reads its artifact in two parts: everything before the weights image (code,
// manifest, the relaxed build's code) into a buffer, and the image straight from the file into the
// module's memory, piece by piece as the scheduler places them (runtime/schedule.ts): not into a
// buffer first and copied from there, which touched every page of the image twice (a fresh buffer's
// page faults cost about what the copy into memory does) and kept the buffer for the collector.
import * as fs from "node:fs";
import { MANIFEST_SECTION, WEIGHTS_SECTION, type Manifest, type WeightRegion } from "../../../runtime/manifest.js";
import { readLeb, sections } from "../../../runtime/sections.js";
import { imagePosition, type WeightsWriter } from "../../../runtime/weights.js";

export interface ArtifactFile {
  /** the artifact's bytes before its weights section (all of them when it has none, or is not well-formed) */
  bytes: Uint8Array;
  /** writes weights pieces from the file into memory (createSession's weights option), when the artifact's image is its last section */
  weights?: WeightsWriter;
  close(): void;
}

/** position, size and payload of the trailing kiln.weights section, or undefined */
function weightsSection(fd: number, size: number): { start: number; payload: number } | undefined {
  const head = new Uint8Array(64);
  let at = 8;
  while (at < size) {
    const got = fs.readSync(fd, head, 0, Math.min(head.length, size - at), at);
    const [len, body] = readLeb(head.subarray(0, got), 1);
    const end = at + body + len;
    if (head[0] === 0 && end === size) {
      const [nameLen, name] = readLeb(head.subarray(0, got), body);
      const isWeights = name + nameLen <= got && new TextDecoder().decode(head.subarray(name, name + nameLen)) === WEIGHTS_SECTION;
      return isWeights ? { start: at, payload: at + name + nameLen } : undefined;
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

function readFully(fd: number, into: Uint8Array, at: number, bytes: number, position: number): void {
  let done = 0;
  while (done < bytes) {
    const got = fs.readSync(fd, into, at + done, bytes - done, position + done);
    if (got === 0) return; // a file cut short: the piece's checksum says so
    done += got;
  }
}

/**
 * Opens a .wasm for running (`file` is a regular file the caller checked). The writer maps memory
 * addresses to file positions through the manifest's regions, read from the bytes before the image;
 * createSession validates that manifest before any piece is placed.
 */
export function openArtifactFile(file: string): ArtifactFile {
  const fd = fs.openSync(file, "r");
  const close = () => fs.closeSync(fd);
  try {
    const size = fs.fstatSync(fd).size;
    let section: { start: number; payload: number } | undefined;
    try {
      section = weightsSection(fd, size);
    } catch {
      section = undefined;
    }
    const bytes = new Uint8Array(section?.start ?? size);
    readFully(fd, bytes, 0, bytes.length, 0);
    if (!section) return { bytes, close };
    const regions = regionsOf(bytes);
    if (!regions) {
      // a manifest the runtime will refuse, with its reason: it gets the whole file
      const all = new Uint8Array(size);
      readFully(fd, all, 0, size, 0);
      return { bytes: all, close };
    }
    const position = imagePosition(regions, section.payload);
    const weights: WeightsWriter = (into, at, only) => {
      for (const r of only ? [only] : regions) readFully(fd, into, at(r.offset), r.bytes, position(r.offset));
    };
    return { bytes, weights, close };
  } catch (e) {
    close();
    throw e;
  }
}
