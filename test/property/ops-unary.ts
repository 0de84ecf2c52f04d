// Unary elementwise steps, one per op the registry marks `unary` and `fusible` (a float formula):
// the registry decides which ops there are; the table below only says what each needs from
// the outside (attributes, the opset that has it) and what the generator knows of its result
// (ulps it may differ by, where it is NaN, its range). An op the registry adds later runs with
// the defaults (no attributes, 16 ulps, any result).
import { allOps, type OpDef } from "../../compiler/ops/index.js";
import type { Attr } from "../../compiler/ir/graph.js";
import type { Builder, Val } from "./graph.js";
import type { Picker } from "./picker.js";
import { FLOAT, INT, STRING, floats, maybe, operand } from "./operands.js";
import type { Step } from "./steps.js";

interface UnaryInfo {
  /** ulps its result may differ by between correct implementations (0: exactly rounded both ways) */
  ulps?: number;
  /** the input's own rounding matters (argument reduction of sin, cos, tan) */
  inputUlps?: number;
  /** NaN outside [lo, hi] (log, sqrt, asin...) */
  domain?: [number, number];
  /** NaN for an infinite input (sin(inf), inf/inf in softsign, -inf * 0 in gelu) */
  nanOnInf?: boolean;
  /** the result always lies in [lo, hi] (finite) */
  bounded?: [number, number];
  /** the result's range from the input's (for ops that keep it finite and known) */
  range?: (lo: number, hi: number) => [number, number];
  attrs?: (p: Picker) => Record<string, Attr>;
  minOpset?: number;
  /** why the step is left out, when it is */
  skip?: string;
}

const TRANSCENDENTAL = 8;
const PI = 3.1416;

const INFO: Record<string, UnaryInfo> = {
  Abs: { ulps: 0, range: (lo, hi) => [lo <= 0 && hi >= 0 ? 0 : Math.min(Math.abs(lo), Math.abs(hi)), Math.max(Math.abs(lo), Math.abs(hi))] },
  Neg: { ulps: 0, range: (lo, hi) => [-hi, -lo] },
  Sign: { ulps: 0, bounded: [-1, 1] },
  Relu: { ulps: 0, range: (lo, hi) => [Math.max(lo, 0), Math.max(hi, 0)] },
  Floor: { ulps: 0, range: (lo, hi) => [Math.floor(lo), Math.floor(hi)] },
  Ceil: { ulps: 0, range: (lo, hi) => [Math.ceil(lo), Math.ceil(hi)] },
  Round: { ulps: 0, range: (lo, hi) => [Math.round(lo) - 1, Math.round(hi) + 1] },
  Sqrt: { ulps: 0, domain: [0, Infinity] },
  Reciprocal: { ulps: 0 },
  Exp: { ulps: TRANSCENDENTAL },
  Log: { ulps: TRANSCENDENTAL, domain: [0, Infinity] },
  Sigmoid: { ulps: TRANSCENDENTAL, bounded: [0, 1] },
  Tanh: { ulps: TRANSCENDENTAL, bounded: [-1, 1] },
  Erf: { ulps: TRANSCENDENTAL, bounded: [-1, 1] },
  Sin: { ulps: TRANSCENDENTAL, inputUlps: 1, nanOnInf: true, bounded: [-1, 1] },
  Cos: { ulps: TRANSCENDENTAL, inputUlps: 1, nanOnInf: true, bounded: [-1, 1] },
  Tan: { ulps: TRANSCENDENTAL, inputUlps: 1, nanOnInf: true },
  Asin: { ulps: TRANSCENDENTAL, domain: [-1, 1], bounded: [-PI / 2, PI / 2] },
  Acos: { ulps: TRANSCENDENTAL, domain: [-1, 1], bounded: [0, PI] },
  Atan: { ulps: TRANSCENDENTAL, bounded: [-PI / 2, PI / 2] },
  Sinh: { ulps: TRANSCENDENTAL },
  Cosh: { ulps: TRANSCENDENTAL },
  Asinh: { ulps: TRANSCENDENTAL },
  Acosh: { ulps: TRANSCENDENTAL, domain: [1, Infinity] },
  Atanh: { ulps: TRANSCENDENTAL, domain: [-1, 1] },
  LeakyRelu: { ulps: 0, attrs: (p) => maybe(p, () => ({ alpha: FLOAT(p.float(0, 1)) })) },
  HardSigmoid: { ulps: 1, bounded: [0, 1], attrs: (p) => maybe(p, () => ({ alpha: FLOAT(p.float(0.05, 1)), beta: FLOAT(p.float(0, 1)) })) },
  HardSwish: { ulps: 2, nanOnInf: true },
  Elu: { ulps: TRANSCENDENTAL, attrs: (p) => maybe(p, () => ({ alpha: FLOAT(p.float(0, 2)) })) },
  Selu: { ulps: TRANSCENDENTAL, attrs: (p) => maybe(p, () => ({ alpha: FLOAT(p.float(0.5, 2)), gamma: FLOAT(p.float(0.5, 2)) })) },
  Celu: { ulps: TRANSCENDENTAL, attrs: (p) => maybe(p, () => ({ alpha: FLOAT(p.float(0.25, 2)) })) },
  Gelu: { ulps: TRANSCENDENTAL, nanOnInf: true, minOpset: 20, attrs: (p) => maybe(p, () => ({ approximate: STRING("tanh") })) },
  Softplus: { ulps: TRANSCENDENTAL },
  Softsign: { ulps: 1, nanOnInf: true, bounded: [-1, 1] },
  ThresholdedRelu: { ulps: 0, attrs: (p) => maybe(p, () => ({ alpha: FLOAT(p.float(-1, 2)) })) },
  Shrink: { ulps: 0, attrs: (p) => maybe(p, () => ({ lambd: FLOAT(p.float(0, 2)), bias: FLOAT(p.float(0, 1)) })) },
  Mish: { ulps: TRANSCENDENTAL, nanOnInf: true },
  Swish: { ulps: TRANSCENDENTAL, nanOnInf: true, minOpset: 24, attrs: (p) => maybe(p, () => ({ alpha: FLOAT(p.float(0.25, 2)) })) },
  // the threshold is always given: onnxruntime's default is 1 where the spec's is 0
  Binarizer: { ulps: 0, bounded: [0, 1], attrs: (p) => ({ threshold: FLOAT(p.float(-1, 1)) }) },
};

/** The unary float ops with steps of their own elsewhere (they take more than one input or a `to`). */
const OWN_STEPS = new Set(["Cast", "Clip"]);

/** What the generator knows of op(x) for an x with these facts. */
function facts(info: UnaryInfo, x: Val) {
  const [a, b] = info.domain ?? [-Infinity, Infinity];
  const outside = x.lo < a || x.hi > b;
  const nan = x.nan || (x.inf && !!info.nanOnInf) || outside;
  const [lo, hi] = info.bounded ?? (info.range && Number.isFinite(x.lo) && Number.isFinite(x.hi) ? info.range(x.lo, x.hi) : [-Infinity, Infinity]);
  const inf = info.bounded ? false : info.range ? x.inf : true;
  return { lo, hi, nan, inf, ulps: info.ulps ?? 16, inputUlps: info.inputUlps };
}

function unaryStep(def: OpDef): Step {
  const info = INFO[def.name] ?? {};
  // Binarizer: onnxruntime refuses NaN inputs (the spec maps NaN to 0)
  const ok = def.domain === "ai.onnx.ml" ? (v: Val) => floats(v) && !v.nan : floats;
  return {
    op: def.name, domain: def.domain, nodes: 1,
    build(b: Builder, p: Picker) {
      if (info.minOpset && b.opset < info.minOpset) return false;
      const x = operand(b, p, ok);
      if (!ok(x)) return false;
      b.node(def.name, [x], info.attrs?.(p) ?? {}, facts(info, x), 1, def.domain);
      return true;
    },
  };
}

export function unarySteps(): Step[] {
  return allOps()
    .filter((d) => d.traits.has("unary") && d.traits.has("fusible") && !OWN_STEPS.has(d.name) && !INFO[d.name]?.skip)
    .map(unaryStep);
}

/** IsNaN, IsInf: the unary ops with a bool result. */
export function predicateSteps(): Step[] {
  return allOps().filter((d) => d.traits.has("unary") && !d.traits.has("fusible") && (d.name === "IsNaN" || d.name === "IsInf")).map((d) => ({
    op: d.name, domain: d.domain, nodes: 1,
    build(b: Builder, p: Picker) {
      const x = operand(b, p, floats);
      const attrs = d.name === "IsInf" && p.chance(0.5) ? { [p.pick(["detect_positive", "detect_negative"])]: INT(0) } : {};
      b.node(d.name, [x], attrs);
      return true;
    },
  }));
}
