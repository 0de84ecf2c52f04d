// Whether a file the user names is a WebAssembly module (a kiln artifact) or something else (an
// ONNX model): by its first bytes, as the runtime checks them, not by its name.
import * as fs from "node:fs";

export const isWasmBytes = (b: Uint8Array) => b.length >= 4 && b[0] === 0 && b[1] === 0x61 && b[2] === 0x73 && b[3] === 0x6d;

/** Whether `file` starts with the wasm magic (\0asm); false when it cannot be read (the caller's reader says why). */
export function fileIsWasm(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, "r");
    const head = new Uint8Array(4);
    return fs.readSync(fd, head, 0, 4, 0) === 4 && isWasmBytes(head);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
