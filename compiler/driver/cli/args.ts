// Minimal argument parsing for the kiln CLI: positionals, --flag, --key=value, --key value,
// repeatable keys.
export interface Args {
  positionals: string[];
  flags: Map<string, string[]>;
}

export class UsageError extends Error {}

export function parseArgs(argv: string[], booleans: readonly string[]): Args {
  const positionals: string[] = [];
  const flags = new Map<string, string[]>();
  const add = (k: string, v: string) => flags.set(k, [...(flags.get(k) ?? []), v]);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") { positionals.push(...argv.slice(i + 1)); break; }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const key = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (eq > 0) add(key, a.slice(eq + 1));
      else if (booleans.includes(key)) add(key, "true");
      else {
        if (i + 1 >= argv.length) throw new UsageError(`--${key} needs a value`);
        add(key, argv[++i]);
      }
    } else if (/^-[a-zA-Z]$/.test(a)) {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      add(a.slice(1), argv[++i]);
    } else if (/^-O\d$/.test(a)) {
      add("O", a.slice(2));
    } else positionals.push(a);
  }
  return { positionals, flags };
}

export function one(args: Args, key: string): string | undefined {
  const v = args.flags.get(key);
  return v ? v[v.length - 1] : undefined;
}

export function all(args: Args, key: string): string[] {
  return args.flags.get(key) ?? [];
}

/** --shape name=1x3x224x224 (repeatable) */
export function parseShapes(specs: string[]): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  for (const s of specs) {
    const eq = s.lastIndexOf("=");
    if (eq <= 0) throw new UsageError(`--shape takes name=AxBxC, got ${JSON.stringify(s)}`);
    const dims = s.slice(eq + 1) === "" ? [] : s.slice(eq + 1).split(/[x,]/).map(Number);
    if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw new UsageError(`--shape ${s}: dims must be non-negative integers`);
    shapes[s.slice(0, eq)] = dims;
  }
  return shapes;
}

const SIMD_CHOICES = ["auto", "baseline", "relaxed"] as const;

/** --simd auto|baseline|relaxed (see CompileOptions.simd) */
export function parseSimd(args: Args, fallback: (typeof SIMD_CHOICES)[number]): (typeof SIMD_CHOICES)[number] {
  const v = one(args, "simd") ?? fallback;
  if (!(SIMD_CHOICES as readonly string[]).includes(v)) throw new UsageError(`--simd takes ${SIMD_CHOICES.join(", ")}, got ${v}`);
  return v as (typeof SIMD_CHOICES)[number];
}
