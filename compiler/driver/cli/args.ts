// Argument parsing for the kiln CLI: positionals, --flag, --key=value, --key value, -k value,
// -O<level>, repeatable keys. Each command declares its flags; anything else is a usage error
// naming the command's flags (a misspelled --dump-afer used to be ignored, and the run "passed").
import { KilnError } from "../../../runtime/errors.js";

export interface Args {
  positionals: string[];
  flags: Map<string, string[]>;
}

/** A mistake on the command line: BAD_OPTION, exit code 2, printed with the usage. */
export class UsageError extends KilnError {
  constructor(message: string) {
    super("BAD_OPTION", message);
    this.name = "UsageError";
  }
}

/** What a command accepts. */
export interface CommandSpec {
  /** flags that take a value (single letters are written -k value; "O" is -O0, -O1 ...) */
  values: readonly string[];
  /** flags that take none */
  booleans: readonly string[];
  /** how many positional arguments: [min, max] */
  positionals: readonly [number, number];
  /** what the positional arguments are, said when they are missing (default "a file") */
  needs?: string;
}

/** compile options shared by compile, inspect and run (cli/compile-options.ts reads them) */
export const COMPILE_FLAGS = ["shape", "O", "kernels", "dump-before", "dump-after", "dump-format", "dump-dir"] as const;

/** kiln compile's quantization flags (cli/compile-options.ts quantizeOptions) */
export const QUANTIZE_FLAGS = ["quantize", "calibrate", "quantize-threshold", "quantize-target", "quantize-eval"] as const;

/** Flags every command takes. */
export const GLOBAL_BOOLEANS = ["verbose", "help"] as const;

const label = (key: string) => (key === "O" ? "-O0|-O1|-O2" : key.length === 1 ? `-${key}` : `--${key}`);

/** The flags of a command, as a user writes them: "-o, --shape, -O0|-O1|-O2, --json ..." */
export function flagList(spec: CommandSpec): string {
  return [...spec.values, ...spec.booleans, ...GLOBAL_BOOLEANS].map(label).join(", ");
}

/** Levenshtein distance, for "did you mean" (flags are short: the quadratic table is nothing). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

function unknownFlag(written: string, key: string, spec: CommandSpec, command: string): UsageError {
  const known = [...spec.values, ...spec.booleans, ...GLOBAL_BOOLEANS];
  const near = known.filter((k) => k.length > 1).map((k) => [k, distance(key, k)] as const).sort((a, b) => a[1] - b[1])[0];
  const hint = near && near[1] <= 2 ? ` (did you mean ${label(near[0])}?)` : "";
  return new UsageError(`kiln ${command} has no flag ${written}${hint}; its flags are ${flagList(spec)}`);
}

export function parseArgs(argv: string[], spec: CommandSpec, command: string): Args {
  const positionals: string[] = [];
  const flags = new Map<string, string[]>();
  const add = (k: string, v: string) => flags.set(k, [...(flags.get(k) ?? []), v]);
  const booleans = new Set<string>([...spec.booleans, ...GLOBAL_BOOLEANS]);
  const values = new Set(spec.values);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") { positionals.push(...argv.slice(i + 1)); break; }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const key = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (booleans.has(key)) {
        if (eq > 0) throw new UsageError(`--${key} takes no value, got ${JSON.stringify(a)}`);
        add(key, "true");
      } else if (values.has(key)) {
        if (eq > 0) add(key, a.slice(eq + 1));
        else {
          if (i + 1 >= argv.length) throw new UsageError(`--${key} needs a value`);
          add(key, argv[++i]);
        }
      } else throw unknownFlag(eq > 0 ? a.slice(0, eq) : a, key, spec, command);
    } else if (/^-O\d+$/.test(a) && values.has("O")) {
      add("O", a.slice(2));
    } else if (/^-[a-zA-Z]$/.test(a) && values.has(a.slice(1))) {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      add(a.slice(1), argv[++i]);
    } else if (a.startsWith("-") && a !== "-") {
      throw unknownFlag(a, a.replace(/^-+/, ""), spec, command);
    } else positionals.push(a);
  }
  const [min, max] = spec.positionals;
  if (positionals.length > max) {
    throw new UsageError(`kiln ${command} takes ${max === 1 ? "one file" : `at most ${max} arguments`}, got ${positionals.length}: ${positionals.map((p) => JSON.stringify(p)).join(" ")}`);
  }
  if (positionals.length < min && !flags.has("help")) {
    throw new UsageError(`kiln ${command} needs ${spec.needs ?? (min === 1 ? "a file" : `${min} arguments`)}`);
  }
  return { positionals, flags };
}

/**
 * --atol A / --rtol R (kiln test, kiln bench): every output, integer ones too, within
 * A + R * |expected|; either alone keeps the other of `defaults`; neither: undefined (the
 * command's own judgement).
 */
export function parseTolerance(args: Args, defaults: { atol: number; rtol: number }): { atol: number; rtol: number; ints: true } | undefined {
  const num = (flag: string) => {
    const v = one(args, flag);
    if (v === undefined) return undefined;
    const x = Number(v);
    if (v.trim() === "" || !Number.isFinite(x) || x < 0) throw new UsageError(`--${flag} takes a non-negative number, got ${JSON.stringify(v)}`);
    return x;
  };
  const atol = num("atol"), rtol = num("rtol");
  if (atol === undefined && rtol === undefined) return undefined;
  return { atol: atol ?? defaults.atol, rtol: rtol ?? defaults.rtol, ints: true };
}

export function one(args: Args, key: string): string | undefined {
  const v = args.flags.get(key);
  return v ? v[v.length - 1] : undefined;
}

export function all(args: Args, key: string): string[] {
  return args.flags.get(key) ?? [];
}

/**
 * --shape name=1x3x224x224 (repeatable): an input's dims; or a dim the model names (seq=128 pins
 * it, seq=1..512 gives it bounds: one module for every value within them)
 */
export function parseShapes(specs: string[]): Record<string, number[]> {
  const sum = specs.find((s) => s.slice(s.lastIndexOf("=") + 1).includes("+"));
  if (sum !== undefined) throw new UsageError(`--shape ${sum}: a dim given as a sum of others is taken by kiln compile and kiln run only`);
  return parseShapeOption(specs) as Record<string, number[]>;
}

/** Whether a --shape spec gives bounds (name=MIN..MAX), not dims or a value. */
export const isBoundsSpec = (spec: string): boolean => /=\d+\.\.\d+(:\d+)?$/.test(spec);

/** parseShapes, and total=past+seq: a dim that is the sum of others (symbolic.ts parseDimSum) */
export function parseShapeOption(specs: string[]): Record<string, number[] | string> {
  const shapes: Record<string, number[] | string> = {};
  for (const s of specs) {
    const eq = s.lastIndexOf("=");
    if (eq > 0 && s.slice(eq + 1).includes("+")) { shapes[s.slice(0, eq)] = s.slice(eq + 1); continue; }
    if (eq <= 0) throw new UsageError(`--shape takes name=AxBxC (an input's dims), name=N, name=MIN..MAX or name=MIN..MAX:STEP (a dim's value or bounds), got ${JSON.stringify(s)}`);
    // MIN..MAX, or MIN..MAX:STEP (the dim takes multiples of STEP only)
    const bounds = /^(\d+)\.\.(\d+)(?::(\d+))?$/.exec(s.slice(eq + 1));
    const dims = bounds ? [Number(bounds[1]), Number(bounds[2]), ...(bounds[3] ? [Number(bounds[3])] : [])] : s.slice(eq + 1) === "" ? [] : s.slice(eq + 1).split(/[x,]/).map((d) => (/^\d+$/.test(d) ? Number(d) : NaN));
    if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new UsageError(`--shape ${s}: dims must be non-negative integers`);
    shapes[s.slice(0, eq)] = dims;
  }
  return shapes;
}

/** --memory-budget 256MB: bytes, with an optional unit (KB, MB, GB: powers of 1024; B) */
export function parseBudget(args: Args): number | undefined {
  const v = one(args, "memory-budget");
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|KIB|MB|MIB|GB|GIB)?$/i.exec(v.trim());
  const unit = { B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(m?.[2] ?? "B")[0].toUpperCase() as "B"];
  const bytes = m ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new UsageError(`--memory-budget takes a size such as 256MB or 1GB (units B, KB, MB, GB: powers of 1024), got ${JSON.stringify(v)}`);
  return bytes;
}

const SIMD_CHOICES = ["auto", "baseline", "relaxed"] as const;

/** --simd auto|baseline|relaxed (see CompileOptions.simd) */
/**
 * --threads N (docs/THREADS.md): a count from 1 to 256, or with `auto` allowed (kiln run) "auto";
 * undefined when not given
 */
export function parseThreads(args: Args, auto: boolean): number | "auto" | undefined {
  const v = one(args, "threads");
  if (v === undefined) return undefined;
  if (auto && v === "auto") return "auto";
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 256) throw new UsageError(`--threads takes a thread count from 1 to 256${auto ? " or auto" : ""}, got ${v}`);
  return n;
}

export function parseSimd(args: Args, fallback: (typeof SIMD_CHOICES)[number]): (typeof SIMD_CHOICES)[number] {
  const v = one(args, "simd") ?? fallback;
  if (!(SIMD_CHOICES as readonly string[]).includes(v)) throw new UsageError(`--simd takes ${SIMD_CHOICES.join(", ")}, got ${v}`);
  return v as (typeof SIMD_CHOICES)[number];
}
