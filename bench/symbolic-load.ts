// A bounded build's JIT load against the pinned build's (issue 15, criterion 5): the row
// `zoo:minilm seq=1..512` of `npm run bench` alone. The zoo MiniLM with its sequence dim symbolic
// (models/zoo.ts symbolicSeqModel) loaded with seq=1..512 ("kiln") and pinned at 128
// ("kiln-pinned"), each load in a fresh process (load-probe.ts, as loads.ts runs them), the order
// rotating each round; medians.
//   node dist/bench/symbolic-load.js [--runs N] [--dist DIR[,DIR...]] [--stages]
// --dist A/Bs builds: each round runs every build's children (DIR/bench/), so a second checkout's
// dist/ (or a copy of it) is timed interleaved with this one. --stages: where the loads go
// instead (symbolic-stages.ts, the same fresh-process rotation), the median of each stage.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { symbolicSeqModel } from "../models/zoo.js";
import { probeOnce, probeScript, writeInputs } from "./loads.js";
import type { LoadEngine, ProbeArgs } from "./load-probe.js";
import { median } from "./stats.js";
import { PINNED_SEQ, SYMBOLIC_BOUNDS, type Stages } from "./symbolic-stages.js";

const args = process.argv.slice(2);
const opt = (name: string) => { const k = args.indexOf(name); return k >= 0 ? args[k + 1] : undefined; };
const runs = Number(opt("--runs") ?? 7);
const dists = opt("--dist")?.split(",").map((d) => path.resolve(d)) ?? [path.dirname(path.dirname(probeScript()))];
const kinds = ["bounded", "pinned"] as const;
type Kind = (typeof kinds)[number];
const run = promisify(execFile);

/** every (build, kind) cell sampled `runs` times, one fresh process at a time, the order rotating each round after an untimed round */
async function rotate<T>(sample: (dist: string, kind: Kind) => Promise<T>): Promise<Map<string, T[]>> {
  const cells = dists.flatMap((dist) => kinds.map((kind) => ({ dist, kind, key: `${dist} ${kind}`, out: [] as T[] })));
  for (const c of cells) await sample(c.dist, c.kind);
  for (let i = 0; i < runs; i++) for (let j = 0; j < cells.length; j++) {
    const c = cells[(i + j) % cells.length];
    c.out.push(await sample(c.dist, c.kind));
  }
  return new Map(cells.map((c) => [c.key, c.out]));
}

const load = () => `load average ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`;
const ms = (x: number) => x.toFixed(1);

async function loads(): Promise<void> {
  const feeds = [{ name: "hidden_states", dtype: "float32" as const, dims: [1, PINNED_SEQ, 384], kind: "random", seed: 1 }];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-symload-"));
  try {
    const files = await writeInputs(dir, { model: symbolicSeqModel("minilm"), aot: new Uint8Array(0), feeds, engines: [], threads: 1, runs });
    const argsOf = (kind: Kind): ProbeArgs => ({ engine: (kind === "bounded" ? "kiln" : "kiln-pinned") as LoadEngine, threads: 1, model: files.model, tiny: files.tiny, feeds, ...(kind === "bounded" ? { bounds: SYMBOLIC_BOUNDS } : {}) });
    const start = load();
    const got = await rotate((dist, kind) => probeOnce(path.join(dist, "bench/load-probe.js"), argsOf(kind)));
    console.log(`${start} at start, ${load()} at end; ${runs} fresh-process loads per cell, medians (ms)`);
    for (const dist of dists) {
      const [b, p] = kinds.map((k) => got.get(`${dist} ${k}`)!);
      const [bl, pl] = [b, p].map((xs) => median(xs.map((r) => r.loadMs)));
      console.log(`${dist}: bounded load ${ms(bl)}, pinned ${ms(pl)}, bounded/pinned ${(bl / pl).toFixed(2)}x; first run ${ms(median(b.map((r) => r.firstRunMs)))} / ${ms(median(p.map((r) => r.firstRunMs)))}`);
      console.log(`  bounded [${b.map((r) => ms(r.loadMs)).join(", ")}]\n  pinned  [${p.map((r) => ms(r.loadMs)).join(", ")}]`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function stages(): Promise<void> {
  const start = load();
  const got = await rotate(async (dist, kind) => {
    const { stdout } = await run(process.execPath, [path.join(dist, "bench/symbolic-stages.js"), kind], { maxBuffer: 1 << 24 });
    return JSON.parse(stdout.trim().split("\n").pop()!) as Stages;
  });
  console.log(`${start} at start, ${load()} at end; ${runs} fresh processes per cell, median of each stage (ms)`);
  for (const dist of dists) {
    const cols = kinds.map((k) => got.get(`${dist} ${k}`)!);
    const names = [...new Set(cols.flatMap((c) => c.flatMap((s) => Object.keys(s))))];
    console.log(`${dist}\n${"stage".padEnd(40)}${kinds.map((k) => k.padStart(10)).join("")}`);
    for (const n of names) console.log(`${n.padEnd(40)}${cols.map((c) => (c.some((s) => n in s) ? ms(median(c.map((s) => s[n] ?? 0))) : "-").padStart(10)).join("")}`);
  }
}

await (args.includes("--stages") ? stages() : loads());
