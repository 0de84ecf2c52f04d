// `node dist/bench/profile-ab.js model.onnx --base DIR [--runs 31] [--kernels SEL] [--simd relaxed] [--shape name=AxB ...]`:
// an A/B of two kiln builds on one model, layer by layer: this build and the one in DIR (e.g. a
// copy of main's dist/) each load the model, and their session.profile runs alternate in this
// process (order rotating each round); per run the layers' times are summed by class (the layer's
// name without its leading "layerN." for fused int8 products, else its op), and the medians over
// the runs are printed beside their ratio to the base. Summing a run's own layers makes the
// figure steadier on a shared machine than whole runs are (a burst of load lands on both builds'
// layers of that round). `--kernels` applies to this build only (e.g. -qstrassen, for an A/B of
// one variant within one build, with --base dist).
import path from "node:path";
import { readFileSync } from "node:fs";
import { parseShapes } from "../compiler/driver/cli/args.js";
import { load } from "../compiler/driver/api.js";
import { makeInput } from "../compiler/driver/cli/inputs.js";
import type { Tensor } from "../runtime/session.js";
import { runIfMain } from "../models/cli.js";
import { median } from "./stats.js";

type Profile = { layer: string; op: string; kernel: string; ms: number }[];

/** the class a layer's time is summed under */
const layerClass = (l: Profile[number]) => (l.op.includes("MatMulInteger") || l.op.includes("QLinear") ? l.layer.replace(/^layer\d+\./, "") : l.op);

async function main(argv: string[]): Promise<number> {
  const opt = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const file = argv.find((a, k) => !a.startsWith("--") && !["--base", "--runs", "--kernels", "--simd", "--shape"].includes(argv[k - 1]));
  const base = opt("--base");
  if (!file || !base) {
    console.error("usage: profile-ab model.onnx --base DIR [--runs N] [--kernels SEL] [--simd baseline|relaxed] [--shape name=AxB ...]");
    return 2;
  }
  const runs = Number(opt("--runs") ?? 31);
  const simd = (opt("--simd") ?? "baseline") as "baseline" | "relaxed";
  const shapes = parseShapes(argv.filter((_, k) => argv[k - 1] === "--shape"));
  const bytes = readFileSync(file);
  const baseLoad = ((await import(path.resolve(base, "compiler/driver/api.js"))) as { load: typeof load }).load;
  const builds = [
    { name: `base (${base})`, model: await baseLoad(bytes, { cache: false, simd, shapes }) },
    { name: "this build", model: await load(bytes, { cache: false, simd, shapes, kernels: opt("--kernels") }) },
  ];
  const sessions = builds.map((b) => b.model.session!);
  const feeds: Record<string, Tensor> = {};
  sessions[1].inputs.forEach((s, k) => { feeds[s.name] = { dtype: s.dtype, ...makeInput("random", s.dtype, [...s.dims], 42 + k) } as Tensor; });
  for (let w = 0; w < 3; w++) for (const s of sessions) await s.profile(feeds);
  const sums = sessions.map(() => new Map<string, number[]>());
  for (let r = 0; r < runs; r++) {
    for (let j = 0; j < sessions.length; j++) {
      const k = (r + j) % sessions.length;
      const prof = (await sessions[k].profile(feeds)) as Profile;
      const run = new Map<string, number>([["total", 0]]);
      for (const l of prof) {
        run.set(layerClass(l), (run.get(layerClass(l)) ?? 0) + l.ms);
        run.set("total", run.get("total")! + l.ms);
      }
      for (const [c, ms] of run) sums[k].set(c, [...(sums[k].get(c) ?? []), ms]);
    }
  }
  const load0 = readFileSync("/proc/loadavg", "utf8").split(" ")[0];
  console.log(`${file}: medians of ${runs} profiled runs each, alternated (load ${load0}); ms, and this build / base`);
  for (const c of sums[0].keys()) {
    const a = median(sums[0].get(c)!), b = median(sums[1].get(c) ?? [0]);
    console.log(`  ${c.slice(0, 36).padEnd(36)} base ${a.toFixed(3).padStart(8)}  this ${b.toFixed(3).padStart(8)}  ${(b / a).toFixed(3)}`);
  }
  return 0;
}

runIfMain(import.meta.url, main);
