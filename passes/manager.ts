// The pass manager: runs named passes in order, times each, counts nodes before and after,
// collects what each pass reports, verifies the graph after each one when asked (tests, and
// KILN_VERIFY_EACH=1 / --verify-each), and calls the dump hook before/after the passes the user
// asked for (MLIR's print-ir-after-all).
import type { Graph } from "../compiler/ir/graph.js";
import { verifyGraph } from "../compiler/ir/verify.js";
import { verifyTypes } from "../compiler/ops/verify-types.js";
import { KilnError } from "../runtime/errors.js";
import { passOptions, type OptionValue, type Pass, type PassContext, type PassStats } from "./pass.js";

export interface PassStat {
  name: string;
  ms: number;
  nodesBefore: number;
  nodesAfter: number;
  /** what the pass reported */
  stats: PassStats;
}

/** Which pass boundaries to dump: "all", or a list of pass names. */
export type DumpSelection = "all" | readonly string[] | undefined;

export interface DumpHook {
  before?: DumpSelection;
  after?: DumpSelection;
  /** called with a sequence number, the point ("before" | "after") and the pass name */
  write(graph: Graph, seq: number, point: "before" | "after", pass: string): void | Promise<void>;
}

export interface RunOptions {
  dump?: DumpHook;
  /** run the IR verifier after every pass, naming the pass that broke the graph */
  verifyEach?: boolean;
  /** options by pass name */
  options?: Readonly<Record<string, Readonly<Record<string, OptionValue>>>>;
  /** called before each pass runs (compile progress on a terminal) */
  onPass?: (name: string, index: number, count: number) => void;
}

const selected = (sel: DumpSelection, name: string) => sel === "all" || (sel !== undefined && sel.includes(name));

export async function runPasses(graph: Graph, passes: readonly Pass[], ctx: Omit<PassContext, "options">, run: RunOptions = {}): Promise<PassStat[]> {
  const stats: PassStat[] = [];
  const { dump } = run;
  let seq = 0;
  for (const [k, p] of passes.entries()) {
    run.onPass?.(p.name, k, passes.length);
    if (dump && selected(dump.before, p.name)) await dump.write(graph, seq++, "before", p.name);
    const nodesBefore = graph.g.order;
    const options = passOptions(p, run.options?.[p.name]);
    const t0 = performance.now();
    const reported = await p.run(graph, { ...ctx, options });
    const ms = performance.now() - t0;
    stats.push({ name: p.name, ms, nodesBefore, nodesAfter: graph.g.order, stats: reported ?? {} });
    if (run.verifyEach) {
      try {
        verifyGraph(graph, { typed: true });
        await verifyTypes(graph);
      } catch (e) {
        const why = e instanceof KilnError ? e.message : String(e);
        throw new KilnError("INTERNAL", `the graph is invalid after pass ${p.name}: ${why}`);
      }
    }
    if (dump && selected(dump.after, p.name)) await dump.write(graph, seq++, "after", p.name);
  }
  return stats;
}
