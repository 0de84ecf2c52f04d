// bench/symbolic-stages.ts, which bench/symbolic-load.ts --stages runs in fresh processes: a staged
// load of the zoo MiniLM walks the stages load() takes (compile.ts prepareOptimized), the probes'
// pipelines apart. Never asserts times.
import { describe, expect, it } from "vitest";
import { stagedLoad } from "../bench/symbolic-stages.js";
import { symbolicSeqModel } from "../models/zoo.js";

describe("bench/symbolic-stages", () => {
  const bytes = symbolicSeqModel("minilm");
  it("with seq=1..512: two probes of rewrites only, then the bounds' run with the passes that record decisions; the module sized at the bounds", async () => {
    const s = await stagedLoad(bytes, true);
    const runs = [...new Set(Object.keys(s).flatMap((k) => /^(\w+): passes$/.exec(k)?.[1] ?? []))];
    expect(runs).toEqual(["probe1", "probe2", "bounds"]);
    for (const r of ["probe1", "probe2"]) expect(Object.keys(s).filter((k) => k.startsWith(`${r}.`) && /select-kernels|plan-memory/.test(k))).toEqual([]);
    expect(s["bounds.select-kernels"]).toBeGreaterThanOrEqual(0);
    expect(s["probe bookkeeping"]).toBeGreaterThanOrEqual(0);
    const pinned = await stagedLoad(bytes, false);
    expect(Object.keys(pinned).filter((k) => /^\w+: passes$/.test(k))).toEqual(["pinned: passes"]);
    // the arena planned at 512 positions against 128
    expect(s["arena MB"]).toBeGreaterThan(pinned["arena MB"]);
  }, 120_000);
});
