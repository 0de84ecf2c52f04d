// bench/symbolic-stages.ts, which bench/symbolic-load.ts --stages runs in fresh processes: a staged
// load of the zoo MiniLM walks the stages load() takes (compile.ts prepareOptimized), the probes'
// pipelines apart. Never asserts times.
import { describe, expect, it } from "vitest";
import { stagedLoad } from "../bench/symbolic-stages.js";
import { symbolicSeqModel } from "../models/zoo.js";

describe("bench/symbolic-stages", () => {
  const bytes = symbolicSeqModel("minilm");
  it("with seq=1..512: the check probe with the rewrites only, the grid's other probe prepared only (MiniLM's layers read only its initializers), then the bounds' run with the passes that record decisions; the module sized at the bounds", async () => {
    const s = await stagedLoad(bytes, true);
    const stage = (what: string) => Object.keys(s).flatMap((k) => new RegExp(`^(\\w+): ${what}$`).exec(k)?.[1] ?? []);
    expect(stage("prepare")).toEqual(["probe1", "probe2", "bounds"]);
    expect(stage("passes")).toEqual(["probe1", "bounds"]);
    expect(Object.keys(s).filter((k) => k.startsWith("probe1.") && /select-kernels|plan-memory/.test(k))).toEqual([]);
    expect(s["bounds.select-kernels"]).toBeGreaterThanOrEqual(0);
    expect(s["probe bookkeeping"]).toBeGreaterThanOrEqual(0);
    const pinned = await stagedLoad(bytes, false);
    expect(Object.keys(pinned).filter((k) => /^\w+: passes$/.test(k))).toEqual(["pinned: passes"]);
    // the arena planned at 512 positions against 128
    expect(s["arena MB"]).toBeGreaterThan(pinned["arena MB"]);
  }, 120_000);
});
