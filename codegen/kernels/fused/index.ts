// Kernels for fused nodes (domain kiln.fused). A fusion pass sets node.meta.kind to say which
// family of fused kernel builds the node from its body; each family registers here.
import { KilnError } from "../../../runtime/errors.js";
import { FUSED_DOMAIN } from "../../../compiler/ir/graph.js";
import { registerDomainKernel, type KernelEntry } from "../registry.js";
import { FUSED_ELEMENTWISE_KINDS } from "./elementwise.js";
import { FUSED_EPILOGUE } from "./epilogue.js";

const kinds = new Map<string, KernelEntry>();

export function registerFusedKind(kind: string, entry: KernelEntry): void {
  kinds.set(kind, entry);
}

function entryFor(kind: string | undefined, node: string): KernelEntry {
  const e = kind ? kinds.get(kind) : undefined;
  if (!e) throw new KilnError("INTERNAL", `fused node ${JSON.stringify(node)} has unknown kind ${JSON.stringify(kind)}`);
  return e;
}

registerDomainKernel(FUSED_DOMAIN, (ctx) => entryFor(ctx.node.meta?.kind, ctx.node.name).emit(ctx), {
  prepare: (ctx) => entryFor(ctx.node.meta?.kind, ctx.node.name).prepare?.(ctx) ?? {},
});

for (const [kind, entry] of Object.entries(FUSED_ELEMENTWISE_KINDS)) registerFusedKind(kind, entry);
registerFusedKind("epilogue", FUSED_EPILOGUE);
