// Choosing a layer's kernel variant: once per layer, from the family's list in order, the user's
// forced variants first (their heuristics off) and forbidden ones never. The choice names the
// variant, so reports, the manifest, profiles and IR dumps can say which ran.
import { KilnError } from "../../runtime/errors.js";
import { matchesVariant, STATIC_SHAPE_VARIANTS, type KernelFamily, type KernelVariant, type LayerCtx } from "./kernel.js";

export interface KernelChoice<P = unknown> {
  family: KernelFamily;
  variant: KernelVariant<P>;
  plan: P;
  /** the variant's name, or what it reports for this plan (a fused epilogue: its anchor's) */
  name: string;
}

function choice<P>(family: KernelFamily, variant: KernelVariant<P>, plan: P): KernelChoice<P> {
  return { family, variant, plan, name: variant.describe?.(plan) ?? variant.name };
}

/**
 * A layer with a varying dim (LayerCtx.varying): the variants with a symbolic form come first, with
 * their heuristics, then with them off (a size heuristic judged the bounds, not a run's dims); a
 * staticShapes variant (recorded before the dims were known to vary, too) only where none of them
 * can run the layer, to be refused with the reason (codegen/symbolic.ts checkEmitted).
 */
export function selectVariant(family: KernelFamily, layer: LayerCtx): KernelChoice {
  if (layer.recorded !== undefined && !(layer.varying && STATIC_SHAPE_VARIANTS.has(layer.recorded))) return recordedVariant(family, layer.recorded, layer);
  const { force, forbid } = layer.selection;
  const named = (patterns: readonly string[], v: KernelVariant<unknown>) => patterns.some((p) => matchesVariant(p, family.name, v.name));
  const allowed = family.variants.filter((v) => !named(forbid, v));
  for (const v of allowed) {
    if (!named(force, v)) continue;
    const plan = v.plan(layer, true);
    if (plan !== undefined) return choice(family, v, plan);
  }
  if (layer.varying) {
    for (const forced of [false, true]) {
      for (const v of allowed) {
        const plan = v.staticShapes ? undefined : v.plan(layer, forced);
        if (plan !== undefined) return choice(family, v, plan);
      }
    }
  }
  for (const v of allowed) {
    const plan = v.plan(layer, false);
    if (plan !== undefined) return choice(family, v, plan);
  }
  const off = family.variants.filter((v) => named(forbid, v)).map((v) => v.name);
  throw new KilnError("UNSUPPORTED_OP", `no kernel variant of ${family.name} runs this layer` +
    (off.length ? ` (the kernel selection forbids ${off.join(", ")}; allow one of them again)` : ""), layer.context());
}

/**
 * The variant recorded for the layer (node.meta.kernel: by passes/select-kernels.ts, or by hand in
 * IR text), planned with its heuristics off: it must still be able to run the layer.
 */
function recordedVariant(family: KernelFamily, name: string, layer: LayerCtx): KernelChoice {
  for (const v of family.variants) {
    // a variant that reports another name (a fused epilogue: its anchor's) passes the name on
    if (!v.describe && v.name !== name) continue;
    const plan = v.plan(layer, true);
    if (plan === undefined) continue;
    const c = choice(family, v, plan);
    if (c.name === name) return c;
  }
  const known = family.variants.map((v) => v.name).join(", ");
  throw new KilnError("UNSUPPORTED_OP", `the recorded kernel ${JSON.stringify(name)} cannot run this layer (${family.name} has ${known})`, layer.context());
}
