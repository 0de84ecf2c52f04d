// Symbolic dims compiled once (docs/ARCHITECTURE.md "Symbolic dims"). `shapes` names a model's
// dim_param (`seq`) with a number (pinned: today's fully specialized module) or with bounds
// [min, max]. For bounds, the graph is prepared and optimized at a few probe values of the symbols
// and at their upper bounds; every op keeps its concrete shape rule, and each value's dims are fitted
// as polynomials of the symbols (affine, and products of symbols). The probed graphs must have the
// same structure (else the structure depends on the value: pin it), and constants that runtime
// layers read must not depend on the value (a constant in the prefix form may grow with it: its
// first elements must be the same). The graph compiled is the one at the upper bounds. Where the
// layers read only the model's own initializers, the probes but one are only prepared (their dims
// are all the fit needs from them): prepareSymbolic.
import { KilnError, listed } from "../../runtime/errors.js";
import type { DimExpr, SymbolInfo } from "../../runtime/dims.js";
import { evalDim, symbolAt, symbolRange } from "../../runtime/dims.js";
import { dtype, sizeOf } from "../../runtime/dtypes.js";
import type { Graph } from "../ir/graph.js";
import { differs, fingerprint, fit, fitElements, initializerData, snapshot, UNTOUCHED, type Snapshot } from "./symbolic-snapshot.js";
import { unfoldDimValues } from "./symbolic-unfold.js";
import { invariantFold } from "./symbolic-folds.js";
import { dimsDerived, hiddenConstants, lowPoints, missedDim, sameNear } from "./symbolic-low.js";
import { evaluationCache } from "./evaluate-cache.js";
import { opDef } from "../ops/index.js";
import { rerecordVarying } from "../../codegen/capabilities.js";
import type { DataDims } from "../ops/registry.js";
import { planMemory } from "../../passes/plan-memory.js";

export type ShapesOption = Record<string, readonly number[] | number | string>;

/**
 * A dim given as a sum of other dims and integers (`total: "past+seq"`): a dim the model names
 * apart that is always their sum (GPT-2's attention mask and present key/values over past and new
 * tokens). Its terms, each a dim name or an integer; undefined when `v` is no such sum.
 */
export function parseDimSum(v: string): (string | number)[] | undefined {
  const terms = v.split("+").map((t) => t.trim());
  if (terms.some((t) => !/^(\d+|[A-Za-z_][\w.:-]*)$/.test(t))) return undefined;
  return terms.map((t) => (/^\d+$/.test(t) ? Number(t) : t));
}

export interface DimOptions {
  /** input shapes (by input name), pinned dims substituted: today's option */
  shapes: Record<string, number[]> | undefined;
  /** the dims given bounds, in the order of the manifest's symbols */
  symbols: SymbolInfo[];
  /** the input shapes with the symbols at these values (per symbol, in order) */
  at(values: readonly number[]): Record<string, number[]> | undefined;
  /** the data-dependent dims (symbols a node owns: SymbolInfo.node) at these values, by node */
  dataAt(values: readonly number[]): DataDims;
}

/**
 * With the data-dependent dims a preparation of `graph` found (registry.ts ShapeCtx.dataDim:
 * each node's upper bound), `dims` gains a symbol for each, owned by its node: its value is what
 * the node's kernel writes as it runs, from 0 to that bound (codegen's manifest names the layer).
 */
export function withDataDims(dims: DimOptions, found: ReadonlyMap<string, number>): DimOptions {
  if (!found.size) return dims;
  const owned: SymbolInfo[] = [...found].map(([node, max]) => ({ name: `${node}.count`, min: 0, max, node }));
  const symbols = [...dims.symbols, ...owned];
  const inputs = dims.symbols.length;
  const at = (values: readonly number[]) => dims.at(values.slice(0, inputs));
  const dataAt = (values: readonly number[]): DataDims => ({ values: new Map(owned.map((s, i) => [s.node!, values[inputs + i]])) });
  return { shapes: dims.shapes, symbols, at, dataAt };
}

/** The dim names (dim_params) the graph's inputs declare. */
export function dimNames(graph: Graph): Set<string> {
  const names = new Set<string>();
  for (const i of graph.inputs) for (const d of graph.values.get(i)?.shape ?? []) if (typeof d === "string") names.add(d);
  return names;
}

/**
 * Split `shapes` into input shapes (by input name, as today), pinned dims and bounded dims, with
 * BAD_OPTION naming the dim for bad bounds or a name the model does not have.
 */
export function resolveDimOptions(graph: Graph, shapes: ShapesOption | undefined): DimOptions {
  const given: Record<string, number[]> = {};
  const pins = new Map<string, number>();
  const symbols: SymbolInfo[] = [];
  const sums = new Map<string, (string | number)[]>();
  const dims = dimNames(graph);
  const isInput = (n: string) => graph.inputs.includes(n) || graph.frozenInputs.some((f) => f.name === n);
  // an input's dims as declared: a name both an input's and a dim's (an input "past" of dims
  // [1, past, 4]) takes the dims it fits as the input's, else it is the dim
  const declaredOf = (n: string) => graph.values.get(n)?.shape;
  const fitsInput = (n: string, v: readonly number[]) => {
    const d = declaredOf(n);
    return !d || (d.length === v.length && d.every((x, k) => typeof x !== "number" || x === v[k]));
  };
  for (const [name, v] of Object.entries(shapes ?? {})) {
    const asDim = dims.has(name) && (!Array.isArray(v) || !fitsInput(name, v));
    if (isInput(name) && Array.isArray(v) && !asDim) { given[name] = [...v]; continue; }
    const at = `shapes.${name}`;
    if (isInput(name) && typeof v === "string" && !asDim) throw new KilnError("BAD_OPTION", `${at}: an input takes its dims as an array ([1, 128]); a sum ("past+seq") is for a dim the model names`);
    if (!dims.has(name)) {
      throw new KilnError("BAD_OPTION", `${at}: the model has no input and no dim named ${JSON.stringify(name)}; inputs are ${listed(graph.inputs.map((i) => JSON.stringify(i)))}` +
        (dims.size ? `, dims ${listed([...dims].map((d) => JSON.stringify(d)))}` : ", and it names no dims"));
    }
    if (typeof v === "string") {
      const terms = parseDimSum(v);
      if (!terms) throw new KilnError("BAD_OPTION", `${at}: ${JSON.stringify(v)} is not a sum of dims and integers ("past+seq", "seq+1")`);
      sums.set(name, terms);
      continue;
    }
    // a number pins the dim ([n] too: the command line's seq=128)
    if (typeof v === "number" || v.length === 1) { pins.set(name, typeof v === "number" ? v : v[0]); continue; }
    if (v.length !== 2 && v.length !== 3) throw new KilnError("BAD_OPTION", `${at}: a dim takes a number (pinned), bounds [min, max] or bounds with a step [min, max, step], got [${v.join(",")}]`);
    const [min, max, step = 1] = v;
    if (!v.every(Number.isSafeInteger)) throw new KilnError("BAD_OPTION", `${at}: bounds [${v.join(", ")}] must be whole numbers`);
    if (min > max) throw new KilnError("BAD_OPTION", `${at}: bounds [${min}, ${max}] have min over max`);
    if (min < 0) throw new KilnError("BAD_OPTION", `${at}: bounds [${min}, ${max}]: a dim is at least 0`);
    // a step: the dim takes multiples of it only (an image side a network divides by 8 or 32); the
    // symbol is the dim / step, so the dims after strided layers are polynomials of it
    if (step < 1 || min % step !== 0 || max % step !== 0) throw new KilnError("BAD_OPTION", `${at}: bounds [${v.join(", ")}]: the step must be at least 1 and divide both bounds`);
    if (min === max) pins.set(name, min);
    else symbols.push(step > 1 ? { name, min: min / step, max: max / step, step } : { name, min, max });
  }
  for (const [name, terms] of sums) {
    const unknown = terms.filter((t) => typeof t === "string" && !pins.has(t) && !symbols.some((s) => s.name === t));
    if (unknown.length) throw new KilnError("BAD_OPTION", `shapes.${name}: ${listed(unknown.map((t) => JSON.stringify(t)))} must be given a value or bounds in shapes too (a sum is over dims given)`);
  }
  // the inputs' dims as the model declares them (preparing the graph at some values makes them concrete)
  const declared = new Map(graph.inputs.map((i) => [i, graph.values.get(i)?.shape?.slice()]));
  // with bounds the model compiles once, now: a named dim of an input left without a value (which
  // would fail at the first probe, in words about that probe) is said here, for compile and load alike
  if (symbols.length) {
    const valued = new Set([...pins.keys(), ...symbols.map((x) => x.name), ...sums.keys()]);
    const free = [...declared].filter(([i, shape]) => !given[i] && (shape ?? []).some((d) => typeof d === "string" && !valued.has(d)));
    if (free.length) {
      const names = [...new Set(free.flatMap(([, shape]) => shape!.filter((d): d is string => typeof d === "string" && !valued.has(d))))];
      throw new KilnError("BAD_OPTION", `shapes gives bounds for ${listed(symbols.map((x) => x.name))}, so the model compiles once, now, but input ${listed(free.map(([i, shape]) => `${JSON.stringify(i)} [${shape!.join(",")}]`))} still has free dims (${listed(names)}): pin them or give them bounds in shapes too (--shape ${names[0]}=N or ${names[0]}=A..B; or, for a dim that is the sum of others, the sum: total: "past+seq")`);
    }
  }
  const at = (values: readonly number[]): Record<string, number[]> | undefined => {
    const bound = new Map(pins);
    symbols.forEach((s, i) => bound.set(s.name, values[i] * (s.step ?? 1)));
    for (const [name, terms] of sums) bound.set(name, terms.reduce<number>((a, t) => a + (typeof t === "number" ? t : bound.get(t)!), 0));
    const out: Record<string, number[]> = { ...given };
    for (const i of graph.inputs) {
      const shape = declared.get(i);
      if (given[i] || !shape || !shape.some((d) => typeof d === "string" && bound.has(d))) continue;
      const dims = shape.map((d) => (typeof d === "number" ? d : bound.get(d)));
      // an input with another dim still free stays unbound: today's message asks for it
      if (dims.every((d) => d !== undefined)) out[i] = dims as number[];
    }
    return Object.keys(out).length || shapes ? out : undefined;
  };
  return { shapes: at(symbols.map((s) => s.max)), symbols, at, dataAt: () => ({}) };
}

/** the widest range of one dim whose every value kiln prepares to check an If folded from it */
const EXHAUSTIVE = 256;
/** rounds of copying values computed from the dims to run in the module (prepareSymbolic) */
const MAX_UNFOLD_ROUNDS = 3;

/**
 * Distinct probe values per symbol (two each), inside the bounds where they allow, avoiding 1,
 * the model's static dims and each other: the largest below the upper bound first (primes, then
 * any), since passes' size thresholds (a product big enough for the packed kernel) then decide as
 * at the bound, which is the graph compiled; then values past the bound. With `past`, only values
 * past the bound: the retry when a threshold lies between the probes below and the bound (MiniLM
 * with seq in 1..8: its head products take the packed Einsum from 8 rows, so 7 and 5 do not).
 */
function probeValues(symbols: readonly SymbolInfo[], avoid: ReadonlySet<number>, past = false): number[][] {
  const taken = new Set<number>();
  const isPrime = (n: number) => { for (let d = 2; d * d <= n; d++) if (n % d === 0) return false; return n > 1; };
  return symbols.map((s) => {
    const lo = Math.max(2, s.min);
    const pool: number[] = [];
    // a symbol with a step is the dim / step: what must not coincide are the dims, v * step
    const step = s.step ?? 1;
    const ok = (v: number) => !avoid.has(v * step) && !taken.has(v * step) && !pool.includes(v);
    if (!past) for (const prime of [true, false]) for (let v = s.max - 1; v >= lo && pool.length < 2; v--) if ((!prime || isPrime(v)) && ok(v)) pool.push(v);
    for (let v = s.max + 1; pool.length < 2; v++) if (ok(v)) pool.push(v);
    pool.forEach((v) => taken.add(v * step));
    return pool;
  });
}

/**
 * What `run` does with a graph: "bounds", prepare and optimize it (the graph compiled); "probe",
 * prepare it and run the passes that rewrite the graph (never generated: what only records
 * decisions for code generation is left out); "shapes", prepare it only (inference and folding).
 */
export type ProbeStep = "bounds" | "probe" | "shapes";

/** How a graph is prepared (and optimized): at these input shapes and data-dependent dims, as `step` says */
export type PrepareRun<T> = (g: Graph, shapes: Record<string, number[]> | undefined, step: ProbeStep, data: DataDims) => Promise<T>;

/**
 * Prepare (and optimize) `graph` at the symbols' upper bounds and fresh copies (`remake`) at probe
 * values, then set graph.symbolic: each varying value's dims as expressions of the symbols.
 * `run` prepares (and optimizes) a graph for input shapes as `step` says.
 */
export function prepareSymbolic<T>(graph: Graph, remake: () => Graph, dims: DimOptions,
  run: PrepareRun<T>): Promise<T> {
  // the probes fold the same dims-free constants again: each evaluation is kept for the build
  return evaluationCache(() => probeSymbolic(graph, remake, dims, run));
}

/** what a probe's error says to a dim that must take only some values: pin it, or (a dim without one) give it a step */
const onlySome = (all: readonly SymbolInfo[]): string => {
  // a data-dependent dim (a count a node writes) takes whatever its node gives: nothing to advise
  const symbols = all.filter((s) => s.node === undefined);
  if (!symbols.length) return "kiln takes this model's data-dependent dims only where the layers after them follow them";
  const free = symbols.find((s) => !s.step);
  if (free) return `if the dim must take only some values, pin it or, where it takes the multiples of a number (an image side a network's strides divide), give its bounds a step (${free.name}: [min, max, step], --shape ${free.name}=MIN..MAX:STEP)`;
  return `if the dims must take only some values, pin them or give their bounds a larger step, one the model's strides divide (now ${listed(symbols.map((x) => `${x.name} in steps of ${x.step}`))})`;
};

/** errors of a probe past the bounds (probeSymbolic may take the probes again inside them) */
const PAST_BOUNDS = new WeakSet<KilnError>();

async function probeSymbolic<T>(graph: Graph, remake: () => Graph, dims: DimOptions,
  run: PrepareRun<T>): Promise<T> {
  const avoid = new Set<number>();
  for (const v of graph.values.values()) for (const d of v.shape ?? []) if (typeof d === "number") avoid.add(d);
  const state = { touched: false };
  try {
    return await probeSymbolicAvoiding(graph, remake, dims, run, avoid, state);
  } catch (e) {
    // narrow bounds leave no values inside them apart from 1, the bound and the model's own dims,
    // and the model refuses a value past them (a decoder's position table indexed past its end,
    // where past + seq stays within it inside the bounds): the probes again, inside the bounds where
    // the model's own dims allow (the check probe still tests the fit). The first error stands when
    // that changes no probe or fails too before the graph compiled was touched.
    const again = probeValues(dims.symbols, new Set());
    if (state.touched || !(e instanceof KilnError) || !PAST_BOUNDS.has(e) || sameProbes(again, probeValues(dims.symbols, avoid))) throw e;
    try {
      return await probeSymbolicAvoiding(graph, remake, dims, run, new Set(), state);
    } catch (e2) {
      throw state.touched ? e2 : e;
    }
  }
}

const sameProbes = (a: number[][], b: number[][]) => a.every((p, i) => p.join() === b[i].join());

async function probeSymbolicAvoiding<T>(graph: Graph, remake: () => Graph, dims: DimOptions,
  run: PrepareRun<T>,
  avoid: ReadonlySet<number>, state: { touched: boolean }): Promise<T> {
  const { symbols } = dims;
  const k = symbols.length;
  const max = symbols.map((s) => s.max);
  // a 2^k grid of each symbol's first probe value and its upper bound fits multilinear
  // polynomials exactly (the grid's corner at the bounds is the graph compiled: it is not probed
  // again); the second values, off the grid, check the fit
  let probes: number[][] = [], points: number[][] = [], check: number[] = [];
  const probeAt = (values: number[][]) => {
    probes = values.map((p, i) => [p[0], max[i]]);
    points = Array.from({ length: 2 ** k }, (_, mask) => probes.map((p, i) => p[(mask >> i) & 1]));
    check = values.map((p) => p[1]);
  };
  probeAt(probeValues(symbols, avoid));
  // the constants that differ between probes taken so far
  const varyingIn = (snaps: Snapshot[]) => [...snaps[0].consts].filter(([name, c]) => snaps.some((s) => { const p = s.consts.get(name); return p && differs(c, p); })).map(([name]) => name);
  const sameAtBounds = (e: KilnError) => run(remake(), dims.at(max), "shapes", dims.dataAt(max)).then(() => false, (f: unknown) => f instanceof KilnError && f.message === e.message);
  /** `make()` prepared (and optimized) at `at` as `step` says, and its snapshot */
  const probeOne = async (make: () => Graph, at: number[], step: ProbeStep, said?: { why: string; advice: string }) => {
    const g = make();
    const untouched = initializerData(g);
    try {
      await run(g, dims.at(at), step, dims.dataAt(at));
    } catch (e) {
      if (!(e instanceof KilnError)) throw e;
      // an operator kiln does not define is unsupported at every value: said as a pinned build says it
      if (e.code === "UNSUPPORTED_OP" && e.context.op !== undefined && !opDef(e.context.domain ?? "", e.context.op)) throw e;
      // an error the same at the bounds (a required attribute missing) is the model's at every
      // value: said as a pinned build says it, with no advice about the dims
      if (at.some((v, i) => v !== max[i]) && await sameAtBounds(e)) throw e;
      // a probe past the bounds (narrow bounds leave no room for values apart from 1, each other and the model's static dims)
      const past = symbols.filter((s, i) => at[i] < s.min || at[i] > s.max);
      // why past them: within the bounds, the values apart from 1 and the bound are the model's own dims (or none)
      // (dims, of a symbol with a step its multiples: the symbol's values are the dim / step)
      const taken = (s: SymbolInfo) => { const st = s.step ?? 1; return [...avoid].filter((v) => v % st === 0 && v / st > Math.max(1, s.min - 1) && v / st < s.max).sort((a, b) => a - b); };
      const inside = listed(past.map(symbolRange)) + (past.some((s) => taken(s).length)
        ? `, where too few values lie apart from 1, the bound and dims the model has already (${listed([...new Set(past.flatMap((s) => taken(s)))].map(String))}) to fit the dims from`
        : ", where too few values lie apart from 1 and the bound to fit the dims from");
      const why = past.length ? `a value kiln probes past the bounds ${inside}; widen them if the model takes such values, else the dims may not follow the symbols there` : said?.why ?? "a probe of the bounds";
      const err = new KilnError(e.code, `at ${symbols.map((s, i) => symbolAt(s, at[i])).join(", ")} (${why}): ${e.message.replace(/^[A-Z_]+: /, "").replace(/ \[node .*$/s, "")}; ${said?.advice ?? onlySome(symbols)}`, e.context);
      if (past.length) PAST_BOUNDS.add(err);
      throw err;
    }
    return snapshot(g, untouched);
  };
  /**
   * the snapshots at every probe in full (the grid but its corner at the bounds, then the check,
   * or `checked` when it was taken already); with `scout`, only until some constant differs between them
   */
  const probe = async (make: () => Graph, scout = false, checked?: Snapshot) => {
    const snaps: Snapshot[] = checked ? [checked] : [];
    for (const at of [...points.slice(0, -1), ...(checked ? [] : [check])]) {
      if (scout && snaps.length > 1 && varyingIn(snaps).length) break;
      snaps.push(await probeOne(make, at, "probe"));
    }
    return checked ? [...snaps.slice(1), checked] : snaps;
  };
  // The check first, in full: when its layers read no constant but the model's own initializers,
  // nothing they read can differ between values, and the grid's other corners are only prepared,
  // for their dims (a value keeps its name through the passes: their dims are the compiled
  // graph's at those values); the structure and the constants are checked at the check alone,
  // the probe farthest below the bounds (a size threshold between the corners and the bounds lies
  // between it and them too). Else every probe in full, as the check's constants may differ.
  const checked = await probeOne(remake, check, "probe");
  const quick = [...checked.consts.values()].every((c) => c.sum === UNTOUCHED);
  let snaps: Snapshot[] = [];
  if (quick) for (const at of points.slice(0, -1)) snaps.push(await probeOne(remake, at, "shapes"));
  snaps = quick ? [...snaps, checked] : await probe(remake, true, checked);
  /** the snapshots of probes in full: their structure and constants are the compiled graph's */
  let full = quick ? [checked] : snaps;
  let make = remake;
  // the lower bounds (symbolic-low.ts): values computed from the dims that every probe saw the
  // same may differ lower down (a clamp); constants that do are run in the module too (below)
  const lows: { at: number[]; snap: Snapshot }[] = [];
  let near: { at: number[]; snap: Snapshot } | undefined;
  const hidden = new Set<string>();
  // the probes near the bounds to compare with: the grid's probe prepared only, or (every probe
  // in full) the check and the grid's first probe, taken already; with the former, a second one
  // prepared where a constant differs: a value both see alike is the one to compare
  const derived = dimsDerived(graph);
  const lowest = lowPoints(symbols, quick ? points[0] : check);
  if (lowest.length && derived.size) {
    near = quick ? { at: points[0], snap: snaps[0] } : { at: check, snap: checked };
    let also = quick ? undefined : snaps[0];
    for (const { at, symbol } of lowest) {
      const s = symbols[symbol];
      const advice = s.node === undefined ? `raise the lower bound of ${s.name} if the model does not take ${symbolAt(s, at[symbol])}` : `${s.name} is the count node ${JSON.stringify(s.node)} gives at run time, which may be ${at[symbol]}`;
      const snap = await probeOne(remake, at, "shapes", { why: "its lower bound, where kiln checks the values computed from the dims", advice });
      lows.push({ at, snap });
      const differing = hiddenConstants(derived, near.snap, snap);
      if (!differing.length) continue;
      also ??= await probeOne(remake, check, "shapes");
      for (const name of differing) if (sameNear(name, near.snap, also)) hidden.add(name);
    }
  }
  // values computed from the dims alone that differ between probes (a causal mask): their nodes
  // are copied to run in the module (symbolic-unfold.ts), and the probes taken again (the first
  // round stopped at the first probe that showed one). The probes' graphs are copies of `graph`
  // as imported: it is changed only once they are made.
  // A second round takes the values that only then differ: CSE merged two equal masks (BART's
  // layers) into the one the first round saw, and once that one runs in the module, the other
  // is a constant of its own again.
  let varying = [...new Set([...(!quick && snaps.length > 1 ? varyingIn(snaps) : []), ...hidden])];
  const unfolding: string[] = [];
  for (let round = 0; varying.length && round < MAX_UNFOLD_ROUNDS; round++) {
    const values = [...unfolding, ...varying];
    const unfolded = remake();
    if (!unfoldDimValues(unfolded, values)) break;
    unfolding.splice(0, unfolding.length, ...values);
    const first = [unfolded];
    make = () => {
      const g = first.pop();
      if (g) return g;
      const copy = remake();
      unfoldDimValues(copy, values);
      return copy;
    };
    snaps = full = await probe(make);
    varying = varyingIn(snaps).filter((v) => !values.includes(v));
  }
  state.touched = true;
  if (unfolding.length) unfoldDimValues(graph, unfolding);
  else if (snaps.length < points.length) snaps = full = await probe(remake); // nothing to copy: every probe, for the checks below
  // a value of the check's graph (the compiled graph's, where their structures agree) that a
  // prepared corner lacks or has at another rank (made by a pass): those corners in full
  if (quick && snaps.slice(0, -1).some((s) => [...checked.shapes].some(([name, d]) => s.shapes.get(name)?.length !== d.length))) {
    snaps = full = await probe(remake, false, checked);
  }
  const untouched = initializerData(graph);
  const result = await run(graph, dims.at(max), "bounds", dims.dataAt(max));
  const main = snapshot(graph, untouched);
  // `on`: the symbols it depends on where the probes tell them apart (else all of them)
  // `low`: found at a lower bound alone (the probes near the upper bound agree): a higher lower bound may serve
  const depends = (what: string, node?: { name: string; op: string }, on: readonly SymbolInfo[] = symbols, low = false) => {
    // a data-dependent dim cannot be pinned: said apart
    const pins = on.filter((s) => s.node === undefined);
    const owned = on.filter((s) => s.node !== undefined);
    const raise = low ? `raise the lower bound of ${listed(pins.map((s) => s.name))} where the model need not take lower values, or ` : "";
    const advice = [...(pins.length ? [`${raise}pin ${pins.length > 1 ? "them" : "it"} with ${pins.map((s) => `--shape ${s.name}=N`).join(" ")}`] : []),
      ...owned.map((s) => `${s.name} is the count node ${JSON.stringify(s.node)} gives at run time, which kiln cannot pin`)];
    return new KilnError("UNSUPPORTED_OP", `${what} depends on the value of ${listed(on.map((s) => s.name))}, so one module cannot serve ${pins.length ? "the bounds" : "every count"}; ${advice.join("; ")}`, node ? { node: node.name, op: node.op } : {});
  };
  /** the symbols values seen at points vary with: two points differing in that symbol alone see different values (all of them when none does) */
  const varyingWith = (values: readonly number[], at: readonly (readonly number[])[]): readonly SymbolInfo[] => {
    const found = symbols.filter((_, i) => at.some((p, a) => at.some((q, b) => b > a && values[a] !== values[b] && p.every((v, k) => (k === i ? v !== q[k] : v === q[k])))));
    return found.length ? found : symbols;
  };
  const producer = new Map<string, { name: string; op: string }>();
  for (const n of graph.topoOrder()) for (const o of n.outputs) producer.set(o, n);
  // a constant that differs at a lower bound alone and still reads as one (no copy runs it in the module)
  for (const name of hidden) {
    if (unfolding.includes(name) && !main.consts.has(name)) continue;
    const low = lows.find((l) => l.snap.consts.get(name) && differs(near!.snap.consts.get(name)!, l.snap.consts.get(name)!))!;
    throw depends(`the constant ${JSON.stringify(name)} (the same at every probe near the bounds, another value at ${symbols.map((s, i) => symbolAt(s, low.at[i])).join(" ")})`, producer.get(name),
      symbols.filter((_, i) => low.at[i] !== near!.at[i]), true);
  }
  // an If folded at compile time whose condition was computed from values that differ between
  // probes (seq > 40 from Shape(x)): the branch every probe took need not be every value's (at
  // bounds 1..64 with every probe over 40, a module running one branch for all: a wrong answer at
  // 10). One symbol over at most EXHAUSTIVE values: every value prepared, and the build stands when
  // each takes the compiled graph's branch; else refused.
  const dependent = new Set<string>();
  for (const s of snaps) {
    for (const name of new Set([...s.folds.keys(), ...main.folds.keys()])) {
      if (s.folds.get(name)?.cone !== main.folds.get(name)?.cone) dependent.add(name);
    }
  }
  // a condition that holds its value over the whole bounds needs no check (invariantFold)
  for (const name of [...dependent]) if (invariantFold(name, main, [...snaps.slice(0, -1), main], snaps[snaps.length - 1], probes, check)) dependent.delete(name);
  if (dependent.size) {
    const [name] = dependent;
    if (k !== 1 || symbols[0].max - symbols[0].min + 1 > EXHAUSTIVE) {
      throw depends(`the condition of If ${JSON.stringify(name)}, folded at compile time (kiln checks every value of one dim over at most ${EXHAUSTIVE} values),`, { name, op: "If" });
    }
    for (let v = symbols[0].min; v < symbols[0].max; v++) {
      const folds = (await probeOne(make, [v], "shapes")).folds;
      const other = [...dependent].find((d) => folds.get(d)?.taken !== main.folds.get(d)?.taken);
      if (other !== undefined) throw depends(`the branch If ${JSON.stringify(other)} takes (${folds.get(other)?.taken ?? "none"} at ${symbolAt(symbols[0], v)}, ${main.folds.get(other)?.taken ?? "none"} at ${symbols[0].max * (symbols[0].step ?? 1)})`, { name: other, op: "If" });
    }
  }
  const structureError = () => {
    for (const s of full) {
      const i = s.nodes.findIndex((n, j) => main.nodes[j]?.key !== n.key);
      if (i >= 0 || s.nodes.length !== main.nodes.length) {
        const at = i >= 0 ? i : Math.min(s.nodes.length, main.nodes.length);
        return depends("the graph's structure at this node", main.nodes[at] ?? s.nodes[at]);
      }
    }
    return undefined;
  };
  const differentStructure = structureError();
  if (differentStructure) {
    // a structure the preparation already makes differently below the bounds (a branch taken or a
    // value folded by the dims' values: an If on seq > 40) is the model's, at every value below
    // the probes too: refused. One only the passes make differently (a kernel's size threshold
    // between the probes and the bounds) is probed past the bounds instead (a model may refuse
    // values past its bounds: then the first finding stands).
    const prepared = async (at: number[]) => (await probeOne(make, at, "shapes")).nodes.map((n) => n.key).join("\n");
    const atBounds = await prepared(max);
    for (const at of [...points.slice(0, -1), check]) if (await prepared(at) !== atBounds) throw differentStructure;
    probeAt(probeValues(symbols, avoid, true));
    snaps = full = await probe(make).catch((e: unknown) => { if (e instanceof KilnError) return []; throw e; });
    if (!snaps.length || structureError()) throw differentStructure;
  }
  // the grid in order (its last corner the graph compiled), then the check
  const grid = [...snaps.slice(0, -1), main];
  const atCheck = snaps[snaps.length - 1];
  const exprs = new Map<string, DimExpr[]>();
  for (const [name, maxDims] of main.shapes) {
    const seen = [...grid, atCheck].map((s) => s.shapes.get(name));
    const where = producer.get(name);
    const lacking = [...points, check].filter((_, i) => !seen[i]);
    if (lacking.length) throw depends(`whether the graph has ${JSON.stringify(name)} (not at ${lacking.map((p) => symbols.map((s, i) => symbolAt(s, p[i])).join(" ")).join(", ")})`, where);
    if (seen.some((d) => d!.length !== maxDims.length)) throw depends(`the rank of ${JSON.stringify(name)}`, where);
    const e = maxDims.map((_, j) => fit(seen.slice(0, points.length).map((d) => d![j]), probes));
    e.forEach((x, j) => {
      const ok = x !== undefined && evalDim(x, check) === seen[points.length]![j];
      if (!ok) throw depends(`dim ${j} of ${JSON.stringify(name)} (${seen.map((d) => d![j]).join(", ")} at ${[...points, check].map((p) => symbols.map((s, i) => symbolAt(s, p[i])).join(" ")).join(", ")}) is not a polynomial of the symbols that kiln takes, so it`, where, varyingWith(seen.map((d) => d![j]), [...points, check]));
    });
    if (e.some((x) => typeof x !== "number")) exprs.set(name, e as DimExpr[]);
  }
  for (const low of lows) {
    const miss = missedDim(exprs, main, near!.snap, near!.at, low.snap, low.at);
    if (!miss) continue;
    const where = symbols.map((s, i) => symbolAt(s, low.at[i])).join(" ");
    const what = miss.dim < 0 ? `the rank of ${JSON.stringify(miss.name)} ([${miss.low.join(",")}] at ${where})` : `dim ${miss.dim} of ${JSON.stringify(miss.name)} (${miss.low[miss.dim]} at ${where}, where the polynomial fitted at the probes near the bounds gives ${miss.fitted[miss.dim]}) is not a polynomial of the symbols that kiln takes, so it`;
    throw depends(what, producer.get(miss.name), symbols.filter((_, i) => low.at[i] !== near!.at[i]), true);
  }
  // constants runtime layers read: the same at every probe, or (varying dims) the same first elements
  for (const [name, c] of main.consts) {
    const t = graph.values.get(name)!.const!;
    for (const s of full) {
      const p = s.consts.get(name);
      if (!p) throw depends(`whether ${JSON.stringify(name)} is a constant`);
      // an untouched initializer at one probe and not at another: compare contents
      const sum = (q: { sum: number }, n: number) => (q.sum === UNTOUCHED ? fingerprint(t, n) : q.sum);
      // dims that differ: the smaller constant the first elements of the larger (a probe past the
      // bounds holds more than the compiled graph's)
      const same = p.dims.join() === c.dims.join()
        ? (p.sum === UNTOUCHED && c.sum === UNTOUCHED) || (p.sum !== UNTOUCHED && sum(c, sizeOf(c.dims)) === p.sum)
        : p.sum !== UNTOUCHED && !differs(c, p);
      if (!same) throw depends(`the constant ${JSON.stringify(name)} (${dtype(t.dtype).name}[${c.dims.join(",")}] at the bounds)`, producer.get(name));
    }
  }
  // small integer values computed in the module from the dims: each element's polynomial, where
  // it has one (a kernel that reads one at compile time takes it: Slice's starts and ends)
  const values = new Map<string, DimExpr[]>();
  for (const name of main.known.keys()) {
    const e = fitElements([...grid, atCheck].map((s) => s.known.get(name)), probes, check);
    if (e) values.set(name, e);
  }
  graph.symbolic = { symbols, dims: exprs, ...(values.size ? { values } : {}) };
  rerecordVarying(graph);
  // a reshape shares its input's bytes only where the padded layouts agree (compiler/ir/padded.ts)
  if (graph.memoryPlan) graph.memoryPlan = planMemory(graph);
  return result;
}

