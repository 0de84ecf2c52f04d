// What a caller passes as options is checked before any work: every key known, every value of its
// kind and range. A mistake is a BAD_OPTION naming the option and the values it takes, never a
// silently different result (an unknown `simd` used to build another artifact; a misspelled key
// was ignored). The runtime owns this so createSession checks its options with the same rules.
import { KilnError } from "./errors.js";
import { isDTypeName } from "./dtypes.js";

/** Checks one option's value (never undefined: an option set to undefined counts as not given). */
export type OptionRule = {
  /** what the option takes, for messages: `"lazy" or "eager"`, `an integer from 0 to 2` */
  readonly takes: string;
  readonly ok: (value: unknown, path: string) => boolean;
};

export type OptionRules = Record<string, OptionRule>;

const show = (v: unknown): string => {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "function") return "a function";
  if (Array.isArray(v)) return `[${v.slice(0, 8).map((x) => (typeof x === "string" ? JSON.stringify(x) : String(x))).join(",")}${v.length > 8 ? ",..." : ""}]`;
  if (v === null) return "null";
  if (typeof v === "object") return `a ${(v as object).constructor?.name ?? "object"}`;
  return String(v);
};

const bad = (path: string, rule: OptionRule, value: unknown) =>
  new KilnError("BAD_OPTION", `option ${path} takes ${rule.takes}, got ${show(value)}`);

export const rules = {
  oneOf: (...values: readonly (string | number)[]): OptionRule => ({
    takes: values.map((v) => JSON.stringify(v)).join(", ").replace(/, ([^,]*)$/, " or $1"),
    ok: (v) => values.includes(v as string | number),
  }),
  boolean: { takes: "true or false", ok: (v: unknown) => typeof v === "boolean" } as OptionRule,
  string: { takes: "a string", ok: (v: unknown) => typeof v === "string" } as OptionRule,
  nonEmptyString: { takes: "a non-empty string", ok: (v: unknown) => typeof v === "string" && v.length > 0 } as OptionRule,
  function: { takes: "a function", ok: (v: unknown) => typeof v === "function" } as OptionRule,
  object: { takes: "an object", ok: (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v) } as OptionRule,
  /** an integer in [min, max] */
  int: (min: number, max = Number.MAX_SAFE_INTEGER): OptionRule => ({
    takes: max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`,
    ok: (v) => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max,
  }),
  /** an object of known keys, each checked by its own rule (a nested options object, such as limits) */
  shape: (inner: OptionRules): OptionRule => ({
    takes: `an object with ${Object.keys(inner).join(", ")}`,
    ok: (v, path) => {
      checkOptions(path, v, inner);
      return true;
    },
  }),
  /** an object whose every value passes `each` (input names to shapes, to tensors) */
  record: (each: OptionRule): OptionRule => ({
    takes: `an object of ${each.takes}`,
    ok: (v, path) => {
      if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
      for (const [k, x] of Object.entries(v)) {
        const at = /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`;
        if (x === undefined || !each.ok(x, at)) throw bad(at, each, x);
      }
      return true;
    },
  }),
  dims: { takes: "an array of non-negative integers", ok: (v: unknown) => Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && d >= 0) } as OptionRule,
  /** a tensor: { dtype, dims, data } with a known dtype and as many elements as dims say */
  tensor: {
    takes: "a tensor { dtype, dims, data }",
    ok: (v: unknown) => {
      const t = v as { dtype?: unknown; dims?: unknown; data?: unknown };
      if (typeof v !== "object" || v === null || typeof t.dtype !== "string" || !isDTypeName(t.dtype)) return false;
      if (!Array.isArray(t.dims) || !t.dims.every((d) => Number.isSafeInteger(d) && d >= 0)) return false;
      const n = t.dims.reduce((a: number, d: number) => a * d, 1);
      return (ArrayBuffer.isView(t.data) || Array.isArray(t.data)) && (t.data as ArrayLike<unknown>).length === n;
    },
  } as OptionRule,
  /** a thread count (1 to 256) or "auto" (docs/THREADS.md) */
  threads: { takes: "an integer from 1 to 256 or \"auto\"", ok: (v: unknown, p: string) => v === "auto" || rules.int(1, 256).ok(v, p) } as OptionRule,
  /** accepted as given: the value's own consumer checks it (a weights image, a dump hook) */
  any: { takes: "anything", ok: () => true } as OptionRule,
};

/**
 * Throws BAD_OPTION when `options` is not an object, has a key `known` does not list, or a value
 * its rule refuses. `what` names the options in messages ("compile() options", "limits").
 */
export function checkOptions(what: string, options: unknown, known: OptionRules): void {
  if (options === undefined) return;
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new KilnError("BAD_OPTION", `${what} must be an object, got ${show(options)}`);
  }
  const names = Object.keys(known);
  for (const [key, value] of Object.entries(options)) {
    const rule = known[key];
    if (!Object.hasOwn(known, key)) {
      throw new KilnError("BAD_OPTION", `${what} has no option ${JSON.stringify(key)}; the options are ${names.join(", ")}`);
    }
    if (value === undefined) continue;
    const path = what.endsWith(" options") ? key : `${what}.${key}`;
    if (!rule.ok(value, path)) throw bad(path, rule, value);
  }
}
