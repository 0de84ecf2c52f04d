// File access for Node callers: model paths and external data confined to the model's folder.
// Imported lazily so that browser bundles of the API never pull in node:fs.
import { KilnError } from "../../runtime/errors.js";
import type { ExternalDataReader } from "../onnx/tensor.js";

export async function readModelFile(path: string): Promise<{ bytes: Uint8Array; readExternal: ExternalDataReader }> {
  const fs = await import("node:fs");
  const p = await import("node:path");
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(fs.readFileSync(path));
  } catch (e) {
    throw new KilnError("INVALID_MODEL", `cannot read ${path}: ${(e as Error).message}`);
  }
  const dir = p.resolve(p.dirname(path));
  const readExternal: ExternalDataReader = (location, offset, length) => {
    const full = p.resolve(dir, location);
    const rel = p.relative(dir, full);
    if (p.isAbsolute(location) || rel.startsWith("..") || p.isAbsolute(rel)) {
      throw new KilnError("INVALID_MODEL", `external data location ${JSON.stringify(location)} is outside the model's folder; kiln only reads files beside the model`);
    }
    let buf: Buffer;
    try {
      buf = fs.readFileSync(full);
    } catch (e) {
      throw new KilnError("INVALID_MODEL", `cannot read external data ${JSON.stringify(location)}: ${(e as Error).message}`);
    }
    const end = length === undefined ? buf.length : offset + length;
    if (offset < 0 || end > buf.length) {
      throw new KilnError("INVALID_MODEL", `external data ${JSON.stringify(location)} has ${buf.length} bytes; the model asks for [${offset}, ${end})`);
    }
    return new Uint8Array(buf.buffer, buf.byteOffset + offset, end - offset);
  };
  return { bytes, readExternal };
}
