// Which layers w8a8 keeps float, chosen by what each costs the model's output rather than by its
// own error (quantize-static.ts measures that first). A layer's own relative error says little
// about the output: an early layer's 2% can carry through fifty layers to 20%, a late one's 5%
// stay 5%. So the float model is compiled once more with each candidate layer's quantization
// behind a switch (a float input of one value, 0 or 1: the layer reads x + m * (fq(x) - x) and
// W + m * (Wq - W), fq = DequantizeLinear(QuantizeLinear(x)), Wq its int8 weights dequantized),
// and run on the calibration inputs with switches set: what each layer alone costs the output,
// then the fewest most costly layers to keep float for the whole model's output to be within the
// target. The quantized model stores float where no int8 layer reads a result, so a layer's
// quantization is exactly its input's and weights'.
//
// The activation parameters are inputs too, and each calibration input runs with those of the
// other inputs' ranges (leave one out): an input the model is quantized for is one whose values
// the ranges hold, and the error measured on it says nothing of what an input outside them (a
// bolder line, a wider page) loses to clipping. Left out, each input is as one never calibrated
// on, and the layers whose ranges it leaves cost what they would cost on such inputs.
import type { Graph, Node, Tensor } from "../compiler/ir/graph.js";
import { addConstant } from "./rewrite.js";
import { addValue, type SwitchedRun } from "./quantize-common.js";

export type { SwitchedRun };

/** A layer the pass would quantize: its input's int8 parameters for each calibration input left out, and its weights as the int8 kernels see them. */
export interface SwitchedLayer {
  node: Node;
  /** x's parameters from every calibration input's range but input i's */
  x: (i: number) => { scale: number; zero: number };
  /** the int8 weights dequantized, in the weights' layout */
  deq: Float32Array;
}


/** The names of layer k's inputs: its switch, its activation's scale and zero point. */
export const switchName = (k: number) => `kiln.quantize_switch.${k}`;
const scaleName = (k: number) => `kiln.quantize_scale.${k}`;
const zeroName = (k: number) => `kiln.quantize_zero.${k}`;

const scalar = (dtype: "float32" | "int8", v: number): Tensor => ({ dtype, dims: [], data: dtype === "int8" ? Int8Array.of(v) : Float32Array.of(v) });

function graphInput(g: Graph, name: string, dtype: "float32" | "int8", shape: number[]): string {
  const v = g.value(name);
  v.dtype = dtype;
  v.shape = shape;
  g.inputs.push(name);
  return name;
}

function node(g: Graph, base: string, op: string, inputs: string[], out: string): string {
  g.addNode({ name: g.uniqueNodeName(base), op, domain: "", inputs, outputs: [out], attrs: {} });
  return out;
}

/** v + m * (alt - v), a new float value of v's shape. */
function blend(g: Graph, v: string, alt: string, m: string, shape: readonly (number | string)[]): string {
  const d = node(g, `${v}.switch_sub`, "Sub", [alt, v], addValue(g, `${v}.switch_d`, "float32", shape));
  const md = node(g, `${v}.switch_mul`, "Mul", [d, m], addValue(g, `${v}.switch_md`, "float32", shape));
  return node(g, `${v}.switch_add`, "Add", [v, md], addValue(g, `${v}.switch`, "float32", shape));
}

/**
 * A copy of g in which each layer's quantization is behind its switch input (switchName(k),
 * float32 [1]: 0 runs it float, 1 as w8a8 computes it), its activation's scale and zero point
 * inputs too (float32 [], int8 []). Undefined when g cannot be copied.
 */
export function switchedGraph(g: Graph, layers: readonly SwitchedLayer[]): Graph | undefined {
  const s = g.copy();
  if (!s) return undefined;
  layers.forEach((l, k) => {
    const n = s.node(l.node.name);
    const m = graphInput(s, switchName(k), "float32", [1]);
    const [x, w] = n.inputs;
    const xShape = s.values.get(x)!.shape ?? [];
    const sc = graphInput(s, scaleName(k), "float32", []), z = graphInput(s, zeroName(k), "int8", []);
    const q = node(s, `${x}.switch_q`, "QuantizeLinear", [x, sc, z], addValue(s, `${x}.switch_q`, "int8", xShape));
    const fq = node(s, `${x}.switch_dq`, "DequantizeLinear", [q, sc, z], addValue(s, `${x}.switch_fq`, "float32", xShape));
    s.setInput(n, 0, blend(s, x, fq, m, xShape));
    const wt = s.values.get(w)!.const!;
    const wq = addConstant(s, `${w}.switch_wq`, { dtype: "float32", dims: [...wt.dims], data: l.deq });
    s.setInput(n, 1, blend(s, w, wq, m, wt.dims));
  });
  return s;
}

/** The switched model's feeds for calibration input i: layer k on where `on(k)`, every layer's activation parameters with input i left out. */
export function switches(layers: readonly SwitchedLayer[], on: (k: number) => boolean): (i: number) => Record<string, Tensor> {
  return (i) => Object.fromEntries(layers.flatMap((l, k) => {
    const p = l.x(i);
    return [[switchName(k), { dtype: "float32", dims: [1], data: Float32Array.of(on(k) ? 1 : 0) } as Tensor], [scaleName(k), scalar("float32", p.scale)], [zeroName(k), scalar("int8", p.zero)]];
  }));
}

export interface Sensitivity {
  /** each layer's cost: the output's error with that layer alone quantized (on the first inputs) */
  cost: number[];
  /** the layers to keep float */
  float: Set<number>;
  /** the output's error on every calibration input (left out of the ranges) with the others quantized */
  error: number;
  /** `error` is the int8 build's (`verify`), not the switched model's */
  verified: boolean;
}

/** The least f in [from, count] with `within(f)` (within(count) holds), assuming within is monotone: steps doubling from `from`, then halving. */
async function least(within: (f: number) => Promise<boolean>, from: number, count: number): Promise<number> {
  if (from >= count || await within(from)) return from;
  let lo = from, step = 1, hi = Math.min(count, from + 1);
  while (hi < count && !(await within(hi))) { lo = hi; step *= 2; hi = Math.min(count, hi + step); }
  // within(lo) fails, within(hi) holds
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (await within(mid)) hi = mid; else lo = mid;
  }
  return hi;
}

/**
 * The fewest layers, most costly first, to keep float for the output's error on all `inputs`
 * calibration inputs to be at most `target` (every layer float when no fewer reach it). Costs are
 * measured on the first `samples` inputs. The switched model's error (float arithmetic around
 * fake-quantized inputs and weights) picks a count; with `verify` (the int8 build's error with
 * those layers float) the count then grows until the int8 build is within the target too: its
 * kernels round where the float model does not (PaddleOCR's classifier: 0.046 switched, 0.083 built,
 * with 52 of 53 layers quantized), and a deep network carries those roundings to its output.
 */
export async function chooseFloatLayers(run: SwitchedRun, layers: readonly SwitchedLayer[], inputs: number, samples: number, target: number,
  verify?: (float: Set<number>) => Promise<number>): Promise<Sensitivity> {
  const count = layers.length;
  const all = Array.from({ length: inputs }, (_, i) => i);
  const error = await run(switches(layers, () => true), all);
  const built = new Map<number, number>();
  /** the int8 build's error with the `f` layers of `order` float */
  const builtWith = async (order: readonly number[], f: number) => {
    if (!built.has(f)) built.set(f, f >= count ? 0 : await verify!(new Set(order.slice(0, f))));
    return built.get(f)!;
  };
  if (!(count > 0) || (error <= target && (!verify || await builtWith([], 0) <= target))) {
    return { cost: [], float: new Set(), error: built.get(0) ?? error, verified: built.has(0) };
  }
  const first = all.slice(0, Math.max(1, Math.min(samples, inputs)));
  const cost: number[] = [];
  for (let k = 0; k < count; k++) cost.push(await run(switches(layers, (j) => j === k), first));
  const order = cost.map((c, k) => [c, k] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).map(([, k]) => k);
  const errors = new Map<number, number>([[0, error]]);
  /** the switched model's error with the `f` most costly layers float */
  const withFloat = async (f: number) => {
    if (!errors.has(f)) {
      const float = new Set(order.slice(0, f));
      errors.set(f, f >= count ? 0 : await run(switches(layers, (k) => !float.has(k)), all));
    }
    return errors.get(f)!;
  };
  const switched = await least(async (f) => (await withFloat(f)) <= target, 0, count);
  if (!verify) return { cost, float: new Set(order.slice(0, switched)), error: await withFloat(switched), verified: false };
  const f = await least(async (n) => (await builtWith(order, n)) <= target, switched, count);
  return { cost, float: new Set(order.slice(0, f)), error: await builtWith(order, f), verified: true };
}
