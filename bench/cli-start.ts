// How long the CLI takes from a shell, for the commands that must start fast (they load no
// compiler): wall time of `node bin/kiln.js ...`, median of N fresh processes, with the CPU time
// the process used (user + system), which a busy machine inflates less than wall time, and
// `node -e 0` beside them as the floor (Node's own start and exit); the commands interleaved.
// bin/kiln.js runs dist/cli/kiln.js when it is fresh (npm run bench:start builds it).
//   npm run bench:start -- [model.wasm] [--runs 5]
// Without a .wasm it compiles the AOT SqueezeNet of issue 18's criterion 6 (the shared light
// SqueezeNet with seeded weights, models/light-seed.ts, kiln compile's defaults) into a temp folder.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { compile } from "../compiler/driver/api.js";
import { seedLightModel } from "../models/light-seed.js";

const root = path.resolve(import.meta.dirname, "../..");
const argv = process.argv.slice(2);
const runs = argv.includes("--runs") ? Number(argv[argv.indexOf("--runs") + 1]) : 5;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const SQUEEZENET = path.resolve(root, "../shared/onnx/light/light_squeezenet.onnx");

/** the seeded light SqueezeNet compiled as kiln compile does by default, in a temp folder */
async function squeezenet(): Promise<string | undefined> {
  if (!fs.existsSync(SQUEEZENET)) {
    console.log(`(no ${SQUEEZENET}: timing --help only; pass a .wasm to time run and inspect)`);
    return undefined;
  }
  const { wasm } = await compile(seedLightModel(new Uint8Array(fs.readFileSync(SQUEEZENET)), 1));
  console.log(`squeezenet.wasm: ${wasm.length} bytes`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-cli-start-"));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "squeezenet.wasm");
  fs.writeFileSync(file, wasm);
  return file;
}

/** `node bin/kiln.js ...args`, or with no args `node -e 0` (Node's own start and exit: the floor) */
function time(args: string[]): { wallMs: number; cpuMs: number } {
  // /usr/bin/time would do; this keeps to Node: the child reports its own CPU time at exit
  const t0 = performance.now();
  const script = args.length ? [path.join(root, "bin/kiln.js"), ...args] : ["-e", "0"];
  const r = spawnSync(process.execPath, ["--import", "data:text/javascript,process.on('exit',()=>{const u=process.cpuUsage();process.stderr.write('\\nCPU '+((u.user+u.system)/1000)+'\\n')})", ...script], { encoding: "utf8" });
  const wallMs = performance.now() - t0;
  if (r.status !== 0) throw new Error(`kiln ${args.join(" ")} failed: ${r.stderr}`);
  return { wallMs, cpuMs: Number(/CPU ([0-9.]+)/.exec(r.stderr)?.[1]) };
}

const model = argv.find((a) => a.endsWith(".wasm")) ?? (await squeezenet());
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(", ");
console.log(`load average ${load()} (${os.cpus().length} cores)`);
const commands: string[][] = [[], ["--help"], ...(model ? [["run", model, "--json"], ["inspect", model]] : [])];
// interleaved: one of each command a round (after one unmeasured round), so a change in the
// machine's load falls on all of them alike
const samples = commands.map(() => [] as { wallMs: number; cpuMs: number }[]);
for (let round = -1; round < runs; round++) commands.forEach((args, k) => { const s = time(args); if (round >= 0) samples[k].push(s); });
commands.forEach((args, k) => {
  const wall = samples[k].map((s) => s.wallMs), cpu = samples[k].map((s) => s.cpuMs);
  const name = args.length ? `kiln ${args.map((a) => (a === model ? path.basename(a) : a)).join(" ")}` : "node -e 0 (the floor)";
  console.log(`${name.padEnd(37)} wall median ${median(wall).toFixed(0)} ms (${wall.map((x) => x.toFixed(0)).join(", ")}), CPU median ${median(cpu).toFixed(0)} ms`);
});
console.log(`load average ${load()}`);
