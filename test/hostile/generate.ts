// Writes the hostile corpus: each case's files in a folder of its own, named after the case,
// and corpus.json listing every case with how it runs and the code it must give.
//   npm run hostile:generate -- DIR    (DIR defaults to a new temp folder; it prints where)
// test/hostile.test.ts generates into a temp folder and runs each case.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { HostileCase } from "./case.js";
import { CASES } from "./cases/index.js";

export interface GeneratedCase {
  name: string;
  dir: string;
  cli?: string[];
  api: boolean;
  code: HostileCase["code"];
}

export async function generateCorpus(root: string, cases: readonly HostileCase[] = CASES): Promise<GeneratedCase[]> {
  const seen = new Set<string>();
  const out: GeneratedCase[] = [];
  for (const c of cases) {
    if (seen.has(c.name) || !/^[a-z0-9][a-z0-9.-]*$/.test(c.name)) throw new Error(`hostile case name ${JSON.stringify(c.name)} is repeated or not a plain folder name`);
    seen.add(c.name);
    if (!c.cli && !c.api) throw new Error(`hostile case ${c.name} says neither how to run it on the CLI nor through the API`);
    const dir = path.join(root, c.name);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    await c.make?.(dir);
    out.push({ name: c.name, dir, cli: c.cli, api: !!c.api, code: c.code });
  }
  fs.writeFileSync(path.join(root, "corpus.json"), JSON.stringify(out, null, 1) + "\n");
  return out;
}

// run as a script (bundled by npm run hostile:generate): generate into the folder given
if (process.argv[1] && /hostile-generate\.m?js$/.test(process.argv[1])) {
  const root = process.argv[2] ?? fs.mkdtempSync(path.join(os.tmpdir(), "kiln-hostile-"));
  fs.mkdirSync(root, { recursive: true });
  const list = await generateCorpus(root);
  for (const c of list) console.log(`${c.code.padEnd(16)} ${c.name}${c.cli ? `   (cd ${c.name} && kiln ${c.cli.join(" ")})` : ""}`);
  console.log(`\n${list.length} cases in ${root}`);
}
