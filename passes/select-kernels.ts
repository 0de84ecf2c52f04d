// select-kernels: records the kernel variant that will run each layer (node.meta.kernel), as the
// code generator chooses it (codegen/capabilities.ts): IR dumps, reports and tests see the choice,
// and the code generator takes a recorded one as given (edit it in IR text to try another).
import type { Graph } from "../compiler/ir/graph.js";
import { KilnError } from "../runtime/errors.js";
import { chooseKernel, kernelVariantNames, matchesVariant, type KernelSelection } from "../codegen/capabilities.js";
import type { Pass, PassStats } from "./pass.js";

/**
 * A selection from its text form: comma-separated variant names (or name prefixes up to a dash,
 * or family/name), each forbidden with a leading "-" and forced otherwise (a leading "+" is
 * optional): "-winograd", "+im2col-gemm,-depthwise-lanes". A name no family has is an error.
 */
export function parseKernelSelection(text: string): KernelSelection {
  const force: string[] = [], forbid: string[] = [];
  const families = kernelVariantNames();
  for (const raw of text.split(",").map((s) => s.trim()).filter((s) => s)) {
    const name = raw.replace(/^[-+]/, "");
    const known = [...families].some(([f, vs]) => vs.some((v) => matchesVariant(name, f, v)));
    if (!known) {
      const all = [...new Set([...families.values()].flat())].sort();
      throw new KilnError("BAD_OPTION", `no kernel variant is named ${JSON.stringify(name)}; variants are ${all.join(", ")}`);
    }
    (raw.startsWith("-") ? forbid : force).push(name);
  }
  return { force, forbid };
}

export function selectKernels(graph: Graph, selection?: KernelSelection): PassStats {
  const stats: PassStats = { layers: 0 };
  for (const n of graph.topoOrder()) {
    if (!n.outputs.some((o) => o && !graph.values.get(o)?.const)) continue; // no work at run time
    const name = n.meta?.kernel ?? chooseKernel(graph, n, selection);
    if (name === undefined) continue; // no kernel: code generation reports it
    n.meta = { ...n.meta, kernel: name };
    stats.layers++;
    stats[name] = (stats[name] ?? 0) + 1;
  }
  return stats;
}

export const selectKernelsPass: Pass = {
  name: "select-kernels",
  description: "records the kernel variant that runs each layer (winograd-f4x4, im2col-gemm, ...), as the code generator chooses it",
  options: { kernels: { default: "", description: "variants to force or forbid, e.g. -winograd (as KILN_KERNELS)" } },
  recordsOnly: true,
  run: (graph, ctx) => selectKernels(graph, parseKernelSelection(String(ctx.options?.kernels ?? ""))),
};
