// Files the CLI writes (-o, --report): their folder is checked before any work, so a typo in a
// path fails at once rather than after a long compile, and a failed write is a typed error.
import * as fs from "node:fs";
import * as path from "node:path";
import { KilnError } from "../../../runtime/errors.js";

/** BAD_OPTION unless `file` can be written: its folder exists and is writable, and it is not itself a folder. */
export function checkOutputFile(file: string, flag: string): void {
  const dir = path.dirname(path.resolve(file));
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (!st) throw new KilnError("BAD_OPTION", `${flag} ${file}: the folder ${dir} does not exist`);
  if (!st.isDirectory()) throw new KilnError("BAD_OPTION", `${flag} ${file}: ${dir} is not a folder`);
  if (fs.statSync(file, { throwIfNoEntry: false })?.isDirectory()) throw new KilnError("BAD_OPTION", `${flag} ${file} is a folder; give a file name`);
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw new KilnError("BAD_OPTION", `${flag} ${file}: the folder ${dir} is not writable`);
  }
}

export function writeOutputFile(file: string, flag: string, data: Uint8Array | string): void {
  try {
    fs.writeFileSync(file, data);
  } catch (e) {
    throw new KilnError("BAD_OPTION", `${flag} ${file}: cannot write it: ${(e as Error).message}`);
  }
}
