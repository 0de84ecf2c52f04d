// File access for Node callers: model paths, and external data confined to the model's folder.
// Confinement is decided on real paths: a link inside the folder that leads out of it
// (weights.bin -> /etc/passwd) is refused, a name that merely starts with dots (..w.bin) is not.
// Imported lazily so that browser bundles of the API never pull in node:fs.
import type * as FS from "node:fs";
import type * as Path from "node:path";
import { KilnError } from "../../runtime/errors.js";
import type { ExternalDataReader } from "../onnx/tensor.js";

/** Whether `inner` (absolute, normalized) is `dir` itself or below it. */
export function isInside(path: typeof Path, dir: string, inner: string): boolean {
  const rel = path.relative(dir, inner);
  return rel === "" || (rel !== ".." && !rel.startsWith(".." + path.sep) && !path.isAbsolute(rel));
}

/** A user-named file's bytes; a missing file, a folder or an unreadable one is a KilnError of `code`. */
export function readUserFile(fs: typeof FS, file: string, what: string, code: "INVALID_MODEL" | "BAD_INPUT" | "INVALID_ARTIFACT"): Uint8Array {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st) throw new KilnError(code, `${what} ${JSON.stringify(file)} does not exist`);
  if (st.isDirectory()) throw new KilnError(code, `${what} ${JSON.stringify(file)} is a folder, not a file`);
  if (!st.isFile()) throw new KilnError(code, `${what} ${JSON.stringify(file)} is not a regular file`);
  try {
    const buf = fs.readFileSync(file);
    // the Buffer's own memory when it has it alone (no copy: a 10 MB artifact copied costs more
    // than kiln run's whole start-up); a copy when it is a slice of Node's shared pool
    return buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength ? new Uint8Array(buf.buffer, 0, buf.byteLength) : new Uint8Array(buf);
  } catch (e) {
    throw new KilnError(code, `cannot read ${what} ${JSON.stringify(file)}: ${(e as Error).message}`);
  }
}

export async function readModelFile(path: string): Promise<{ bytes: Uint8Array; readExternal: ExternalDataReader }> {
  const fs = await import("node:fs");
  const p = await import("node:path");
  if (typeof path !== "string" || path === "") throw new KilnError("INVALID_MODEL", `the model path must be a non-empty string, got ${JSON.stringify(path)}`);
  const bytes = readUserFile(fs, path, "model file", "INVALID_MODEL");
  // the folder the caller named the model in, with its links resolved
  const dir = fs.realpathSync(p.resolve(p.dirname(path)));
  const readExternal: ExternalDataReader = (location, offset, length, tensor, into) => {
    const of = tensor === undefined ? "external data" : `tensor ${JSON.stringify(tensor)}: external data`;
    const refuse = (why: string) => new KilnError("INVALID_MODEL", `${of} ${JSON.stringify(location)} ${why}; kiln only reads files inside the model's folder ${dir}`);
    if (p.isAbsolute(location) || !isInside(p, dir, p.resolve(dir, location))) throw refuse("is outside the model's folder");
    let real: string;
    try {
      real = fs.realpathSync(p.resolve(dir, location));
    } catch (e) {
      throw new KilnError("INVALID_MODEL", `${of} ${JSON.stringify(location)} cannot be read: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file beside the model" : (e as Error).message}`);
    }
    if (!isInside(p, dir, real) || real === dir) throw refuse(`leads to ${real}, outside the model's folder`);
    return readRange(fs, real, offset, length, `${of} ${JSON.stringify(location)}`, into);
  };
  return { bytes, readExternal };
}

/** Bytes [offset, offset + length) of a regular file (to its end without length), read without the rest. */
function readRange(fs: typeof FS, file: string, offset: number, length: number | undefined, what: string, into?: Uint8Array): Uint8Array {
  const st = fs.statSync(file);
  // a FIFO or device would block or never end
  if (!st.isFile()) throw new KilnError("INVALID_MODEL", `${what} is not a regular file`);
  const end = length === undefined ? st.size : offset + length;
  if (offset > st.size || end > st.size) {
    throw new KilnError("INVALID_MODEL", `${what} has ${st.size} bytes; the model asks for [${offset}, ${end})`);
  }
  // no tensor over wasm32's 4 GiB memory can run; refuse before allocating for it
  if (end - offset > 2 ** 32) throw new KilnError("UNSUPPORTED_OP", `${what} holds ${end - offset} bytes from offset ${offset}, more than the 4 GiB a wasm32 memory can hold`);
  const out = into ?? new Uint8Array(end - offset);
  if (out.length !== end - offset) throw new KilnError("INTERNAL", `${what}: asked to read ${end - offset} bytes into ${out.length}`);
  const fd = fs.openSync(file, "r");
  try {
    for (let got = 0; got < out.length;) {
      const k = fs.readSync(fd, out, got, out.length - got, offset + got);
      if (k === 0) throw new KilnError("INVALID_MODEL", `${what} ended after ${offset + got} bytes while being read`);
      got += k;
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}
