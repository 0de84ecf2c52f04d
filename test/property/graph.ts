// Builds one small random graph step by step. Every node is typed by kiln's own shape rule
// (compiler/ops/infer.ts inferNode, the registry's definitions) as it is added: a node that the
// generator built by the ONNX spec but kiln refuses fails the property, like a wrong answer.
//
// Besides the graph, the builder records where the answer may legitimately differ between two
// correct implementations (an op whose result is not correctly rounded, a sum taken in another
// order): run.ts perturbs exactly those places in onnxruntime's copy of the graph by that many
// ulps, and the spread of the perturbed answers is the tolerance (compare.ts).
import { KilnError } from "../../runtime/errors.js";
import { dtype as dtypeInfo, type DTypeName, type TypedArray } from "../../runtime/dtypes.js";
import { Graph, type Attr, type Node, type Tensor } from "../../compiler/ir/graph.js";
import { opDef } from "../../compiler/ops/index.js";
import { ShapeCtx, type InputInfo, type OutputInfo } from "../../compiler/ops/registry.js";
import { rng } from "../../compiler/driver/cli/inputs.js";

/** How a graph input's data is drawn (data.ts). */
/**
 * How a graph input's data is drawn (data.ts): "edges" holds the largest finite floats too,
 * "specials" only infinities, NaN, signed zeros and tiny values among small ones.
 */
export type DataKind = "unit" | "positive" | "wide" | "edges" | "specials" | "ints" | "bools";

/** A value of the graph, with what the generator knows of its contents. */
export interface Val {
  name: string;
  dtype: DTypeName;
  shape: number[];
  /** finite elements lie in [lo, hi] */
  lo: number;
  hi: number;
  /** may hold NaN / an infinity */
  nan: boolean;
  inf: boolean;
  /** depends on no graph input (an initializer, or computed from initializers only) */
  constant: boolean;
  /** computed by exactly rounded ops only: the same bits in any correct implementation */
  exact: boolean;
}

/** What a step declares about the result of a node besides its type. */
export interface Facts {
  lo?: number;
  hi?: number;
  nan?: boolean;
  inf?: boolean;
  /** ulps by which the op's float results may differ from another correct implementation (0: exactly rounded) */
  ulps?: number;
  /** ulps to perturb each float input by instead (ops that sum: their order of summation is free) */
  inputUlps?: number;
}

/** A node of the graph, and how far its results may be off (Facts). */
export interface NodeRec extends Pick<Node, "name" | "op" | "domain" | "inputs" | "outputs" | "attrs"> {
  ulps: number;
  inputUlps: number;
}

export interface InputRec {
  name: string;
  dtype: DTypeName;
  shape: number[];
  kind: DataKind;
}

/** A generator step or kiln itself refused a graph the generator built as valid. */
export class Refused extends Error {}

const FLOATS: ReadonlySet<DTypeName> = new Set(["float32", "float64", "float16"]);
export const isFloat = (v: { dtype: DTypeName }) => FLOATS.has(v.dtype);
export const isInt = (v: { dtype: DTypeName }) => !isFloat(v) && v.dtype !== "bool";
export const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Ranges by data kind: the finite values each kind of input holds. */
export const KIND_RANGE: Record<DataKind, [number, number]> = {
  unit: [-2, 2], positive: [0.125, 4], wide: [-60, 60], edges: [-3.4028234663852886e38, 3.4028234663852886e38], specials: [-2, 2], ints: [-6, 6], bools: [0, 1],
};

export class Builder {
  readonly vals: Val[] = [];
  readonly nodes: NodeRec[] = [];
  readonly inputs: InputRec[] = [];
  readonly constants = new Map<string, Tensor>();
  /** the graph's outputs, chosen by finish() */
  outputs: string[] = [];
  private count = 0;
  private readonly r: () => number;

  constructor(readonly prefix: string, readonly opset: number, readonly seed: number) {
    this.r = rng(seed);
  }

  private fresh(base: string): string {
    return `${this.prefix}${base}${this.count++}`;
  }

  /** A new graph input (at most four per graph). */
  input(dt: DTypeName, shape: number[], kind: DataKind): Val | undefined {
    if (this.inputs.length >= 4) return undefined;
    const name = this.fresh("x");
    this.inputs.push({ name, dtype: dt, shape: [...shape], kind });
    const [lo, hi] = KIND_RANGE[kind];
    const special = kind === "edges" || kind === "specials";
    const val: Val = { name, dtype: dt, shape: [...shape], lo, hi, nan: special, inf: special, constant: false, exact: true };
    this.vals.push(val);
    return val;
  }

  /** A new initializer; `fill` gives element i (by default random in [lo, hi]). */
  constant(dt: DTypeName, shape: number[], fill?: (i: number) => number, range: [number, number] = [-2, 2]): Val {
    const name = this.fresh("c");
    const info = dtypeInfo(dt);
    const n = size(shape);
    const data = new info.array(n) as TypedArray;
    const nums: number[] = [];
    for (let i = 0; i < n; i++) {
      let x = fill ? fill(i) : range[0] + this.r() * (range[1] - range[0]);
      if (!info.float) x = dt === "bool" ? (x ? 1 : 0) : Math.round(x);
      else x = Math.fround(Math.round(x * 64) / 64); // short decimals in IR dumps, exactly representable
      nums.push(x);
      (data as unknown as (number | bigint)[])[i] = info.big ? BigInt(x) : x;
    }
    this.constants.set(name, { dtype: dt, dims: [...shape], data });
    const finite = nums.filter(Number.isFinite);
    const val: Val = {
      name, dtype: dt, shape: [...shape], constant: true, exact: true,
      lo: finite.length ? Math.min(...finite) : 0, hi: finite.length ? Math.max(...finite) : 0,
      nan: nums.some(Number.isNaN), inf: nums.some((x) => Math.abs(x) === Infinity),
    };
    this.vals.push(val);
    return val;
  }

  /** An int64 constant holding `xs` (axes, shapes, pads, indices). */
  ints(xs: number[], shape: number[] = [xs.length]): Val {
    return this.constant("int64", shape, (i) => xs[i]);
  }

  /** A float random number in [0, 1) for data the generator makes itself. */
  random(): number {
    return this.r();
  }

  /**
   * Add a node; its outputs are typed by kiln's shape rule. `facts` say what is known of the
   * (first) output's values and how far it may be off; by default an output may hold anything.
   */
  node(op: string, inputs: (Val | null)[], given: { [name: string]: Attr | undefined } = {}, facts: Facts = {}, outputs = 1, domain = ""): Val[] {
    const attrs = Object.fromEntries(Object.entries(given).filter((e): e is [string, Attr] => e[1] !== undefined));
    const def = opDef(domain, op);
    if (!def) throw new Error(`${op} is not in kiln's op registry`);
    const name = this.fresh(op.toLowerCase());
    const outs = Array.from({ length: outputs }, () => this.fresh("v"));
    const node = { name, op, domain, inputs: inputs.map((v) => v?.name ?? ""), outputs: outs, attrs };
    // the registry's shape rule, as compiler/ops/infer.ts inferNode applies it (which is async)
    const infos: (InputInfo | undefined)[] = inputs.map((v) => v ? { name: v.name, dtype: v.dtype, shape: v.shape, value: this.constants.get(v.name) } : undefined);
    let types: OutputInfo[];
    try {
      types = def.shape(new ShapeCtx(node, this.opset, infos));
    } catch (e) {
      if (e instanceof KilnError) throw new Refused(`kiln's shape rule refused ${op}: ${e.message}`);
      throw e;
    }
    const present = inputs.filter((v): v is Val => v !== null);
    const constant = present.length > 0 && present.every((v) => v.constant);
    const exact = present.every((v) => v.exact) && !facts.ulps && !facts.inputUlps;
    this.nodes.push({ ...node, ulps: facts.ulps ?? 0, inputUlps: facts.inputUlps ?? 0 });
    return outs.map((o, k) => {
      const val: Val = {
        name: o, dtype: types[k].dtype, shape: [...types[k].shape], constant, exact,
        lo: k === 0 ? facts.lo ?? -Infinity : -Infinity, hi: k === 0 ? facts.hi ?? Infinity : Infinity,
        nan: k === 0 ? facts.nan ?? true : true, inf: k === 0 ? facts.inf ?? true : true,
      };
      if (val.dtype === "bool") Object.assign(val, { lo: 0, hi: 1, nan: false, inf: false });
      this.vals.push(val);
      return val;
    });
  }

  /** Values a step may read: those satisfying `ok`, most recent first (picks near 0 read the newest). */
  candidates(ok: (v: Val) => boolean): Val[] {
    return this.vals.filter(ok).reverse();
  }

  /** Whether any graph input feeds the graph (a graph of constants alone is still valid, but rarer). */
  get hasInput(): boolean {
    return this.inputs.length > 0;
  }

  /**
   * The graph's outputs: every node output no node reads, and `extra` (picked by the recipe) of
   * the values that are read as well, so an intermediate a fusion pass keeps in a local must
   * also be stored.
   */
  finish(extra: number[]): void {
    const read = new Set(this.nodes.flatMap((n) => n.inputs));
    const produced = this.vals.filter((v) => this.nodes.some((n) => n.outputs.includes(v.name)));
    const sinks = produced.filter((v) => !read.has(v.name));
    const inner = produced.filter((v) => read.has(v.name));
    const chosen = new Set(extra.filter((e) => e > 0 && inner.length).map((e) => inner[e % inner.length].name));
    this.outputs = [...sinks.map((v) => v.name), ...[...chosen].filter((n) => !sinks.some((v) => v.name === n))];
  }
}

/**
 * A graph input of onnxruntime's copy of the graph that multiplies a value (by 1 in the reference
 * run), or, `additive`, is added to it (0 in the reference run).
 */
export interface Perturbation {
  name: string;
  shape: number[];
  ulps: number;
  additive: boolean;
  /** additive by ulps of the least subnormal (2^-149): a sum's zero takes either sign, see assemble */
  tiny?: boolean;
}

/**
 * ulps from which an op's results are also perturbed absolutely, by that many ulps of 1: a math
 * function written as exp(x) - 1 or (e^x - e^-x) / 2 (as the spec's formulas are) is off by
 * ulps of 1 near 0, where another, more careful one is not (Elu(-1e-40): 0 or -1e-40).
 */
const ABSOLUTE_FROM = 8;

const isF32 = (dt: DTypeName | undefined) => dt === "float32";

/**
 * The IR graph of one or more builders' graphs side by side (a batch compiles as one model).
 * With `perturb`, every place a builder marked inexact reads its value through a Mul by a new
 * float32 graph input: onnxruntime's copy for the tolerance runs (the graph kiln compiles has none).
 */
export function assemble(builders: readonly Builder[], perturb: boolean): { graph: Graph; perturbations: Perturbation[]; outputs: string[] } {
  const g = new Graph();
  g.opsets.set("", builders[0]?.opset ?? 18);
  if (builders.some((b) => b.nodes.some((n) => n.domain === "ai.onnx.ml"))) g.opsets.set("ai.onnx.ml", 3);
  const perturbations: Perturbation[] = [];
  const types = new Map<string, Val>();
  for (const b of builders) for (const v of b.vals) types.set(v.name, v);
  const declare = (name: string, v: { dtype: DTypeName; shape: number[] }) => {
    const gv = g.value(name);
    gv.dtype = v.dtype;
    gv.shape = [...v.shape];
    return gv;
  };
  let k = 0;
  /** value * p (+ q when the op's results are also off absolutely), named `out` */
  const through = (value: string, ulps: number, out = `${value}__p${k}`, absolute = false): string => {
    const v = types.get(value.replace(/__raw$/, ""))!;
    const input = (additive: boolean) => {
      const p = `p${k++}`;
      declare(p, v);
      g.inputs.push(p);
      perturbations.push({ name: p, shape: [...v.shape], ulps, additive });
      return p;
    };
    const scaled = absolute ? `${out}__scaled` : out;
    declare(scaled, v);
    g.addNode({ name: `perturb${k}`, op: "Mul", domain: "", inputs: [value, input(false)], outputs: [scaled], attrs: {} });
    if (absolute) {
      declare(out, v);
      g.addNode({ name: `perturb${k}`, op: "Add", domain: "", inputs: [scaled, input(true)], outputs: [out], attrs: {} });
    }
    return out;
  };
  /**
   * value + a term of a least subnormal, named `out`: the sign of a zero that a sum (a product,
   * a convolution, a reduction) gives is not defined (-0 + -0 is -0, but a sum begun at +0 is
   * +0; onnxruntime's one-product MatMul gives -0 * 1 = -0, kiln's +0): the term turns such a
   * zero to either sign, so 1/x or Pow(x, -1) of it is unstable. Other values do not move.
   */
  const zeroSign = (value: string, out: string): void => {
    const v = types.get(out)!;
    const p = `p${k++}`;
    declare(p, v);
    g.inputs.push(p);
    perturbations.push({ name: p, shape: [...v.shape], ulps: 1, additive: true, tiny: true });
    declare(out, v);
    g.addNode({ name: `perturb${k}`, op: "Add", domain: "", inputs: [value, p], outputs: [out], attrs: {} });
  };
  const outputs: string[] = [];
  for (const b of builders) {
    for (const i of b.inputs) {
      declare(i.name, i);
      g.inputs.push(i.name);
    }
    for (const [name, t] of b.constants) declare(name, { dtype: t.dtype, shape: t.dims }).const = t;
    for (const n of b.nodes) {
      const inputs = n.inputs.map((i) => (perturb && n.inputUlps > 0 && i && isF32(types.get(i)?.dtype) ? through(i, n.inputUlps) : i));
      const raw = n.outputs.map((o) => (perturb && (n.ulps > 0 || n.inputUlps > 0) && isF32(types.get(o)?.dtype) ? `${o}__raw` : o));
      raw.forEach((o, j) => declare(o, types.get(n.outputs[j])!));
      g.addNode({ name: n.name, op: n.op, domain: n.domain, inputs, outputs: raw, attrs: n.attrs });
      raw.forEach((o, j) => {
        if (o === n.outputs[j]) return;
        const out = n.outputs[j];
        const scaled = n.ulps > 0 ? through(o, n.ulps, n.inputUlps > 0 ? `${out}__u` : out, n.ulps >= ABSOLUTE_FROM) : o;
        if (n.inputUlps > 0) zeroSign(scaled, out);
      });
    }
    for (const v of b.outputs) outputs.push(v);
  }
  g.outputs = outputs;
  return { graph: g, perturbations, outputs };
}
