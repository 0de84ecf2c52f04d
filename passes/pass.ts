// What a pass is: a named rewrite of a typed Graph with one job. Passes run after shape inference,
// so every value has a dtype and concrete shape, and they must keep it so. A pass may declare
// options (kiln opt --passes 'name{key=value}') and reports what it did as named counts.
import type { Graph } from "../compiler/ir/graph.js";
import { KilnError } from "../runtime/errors.js";
import type { Evaluator } from "../compiler/ops/infer.js";

export type OptionValue = string | number | boolean;

export interface PassContext {
  /** evaluates a node on constant inputs with the model's own kernels */
  evaluate: Evaluator;
  /** this pass's options: the declared defaults, overridden by what the caller gave */
  options?: Readonly<Record<string, OptionValue>>;
}

/** What a pass reports: named counts (nodes removed, groups fused, bytes saved ...). */
export type PassStats = Record<string, number>;

export interface PassOption {
  default: OptionValue;
  /** one sentence for --help */
  description: string;
}

export interface Pass {
  readonly name: string;
  /** one sentence for --help and the README */
  readonly description: string;
  readonly options?: Readonly<Record<string, PassOption>>;
  /**
   * the pass changes no node, shape or constant: it records decisions for code generation
   * (kernel variants, the memory plan). The probes of a symbolic build, which only read the
   * graph's structure, shapes and constants, skip it (compiler/driver/symbolic.ts).
   */
  readonly recordsOnly?: boolean;
  run(graph: Graph, ctx: PassContext): PassStats | void | Promise<PassStats | void>;
}

/** A pass's effective options: its defaults with `given` on top; an unknown or mistyped option is an error. */
export function passOptions(pass: Pass, given: Readonly<Record<string, OptionValue>> = {}): Record<string, OptionValue> {
  const declared = pass.options ?? {};
  const out: Record<string, OptionValue> = Object.fromEntries(Object.entries(declared).map(([k, o]) => [k, o.default]));
  for (const [k, v] of Object.entries(given)) {
    const o = declared[k];
    if (!o) {
      const known = Object.keys(declared);
      throw new KilnError("BAD_OPTION", `pass ${pass.name} has no option ${JSON.stringify(k)}${known.length ? ` (it has ${known.join(", ")})` : " (it takes none)"}`);
    }
    if (typeof v !== typeof o.default) throw new KilnError("BAD_OPTION", `pass ${pass.name} option ${k} takes a ${typeof o.default}, got ${JSON.stringify(v)}`);
    out[k] = v;
  }
  return out;
}
