// Broadcasting elementwise steps: arithmetic (float and integer), the variadic Max/Min/Sum/Mean,
// comparisons, Where, logic and bitwise ops, and the casts. Which ops are arithmetic, which
// compare and which take any number of inputs comes from the registry's traits and arity.
import { allOps, type OpDef } from "../../compiler/ops/index.js";
import type { DTypeName } from "../../runtime/dtypes.js";
import { isFloat, isInt, type Builder, type Facts, type Val } from "./graph.js";
import type { Picker } from "./picker.js";
import { FLOAT, INT, accumulable, maybe, broadcastOf, broadcasts, floats, fresh, operand, partner, shape, splat } from "./operands.js";
import type { Step } from "./steps.js";

const broadcasting = (d: OpDef) => d.traits.has("broadcasting") && d.domain === "";
const twoInputs = (d: OpDef) => d.arity?.[0] === 2 && d.arity?.[1] === 2;

/** Interval arithmetic for the ranges the generator tracks; infinite when unknown. */
function arith(op: string, a: Val, b: Val): Facts {
  const anyInf = a.inf || b.inf;
  const nan = a.nan || b.nan || anyInf;
  const fin = [a.lo, a.hi, b.lo, b.hi].every(Number.isFinite);
  const hasZero = (v: Val) => v.lo <= 0 && v.hi >= 0;
  let lo = -Infinity, hi = Infinity;
  if (fin && op === "Add") [lo, hi] = [a.lo + b.lo, a.hi + b.hi];
  if (fin && op === "Sub") [lo, hi] = [a.lo - b.hi, a.hi - b.lo];
  if (fin && (op === "Mul" || (op === "Div" && !hasZero(b)))) {
    const xs = op === "Mul" ? [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi] : [a.lo / b.lo, a.lo / b.hi, a.hi / b.lo, a.hi / b.hi];
    [lo, hi] = [Math.min(...xs), Math.max(...xs)];
  }
  const bounded = Number.isFinite(lo) && Math.abs(lo) < 1e30 && Math.abs(hi) < 1e30;
  return {
    lo, hi, ulps: op === "Pow" ? 8 : 0,
    nan: nan || op === "Pow" || (op === "Div" && hasZero(a) && hasZero(b)) || (op === "Mod"),
    inf: anyInf || !bounded || op === "Pow" || (op === "Div" && hasZero(b)),
  };
}

const SMALL_INT = (v: Val) => isInt(v) && (v.dtype === "int32" || v.dtype === "int64") && Math.max(Math.abs(v.lo), Math.abs(v.hi)) < 2 ** 20;
const nonZero = (v: Val) => v.lo > 0 || v.hi < 0;

/** Add, Sub, Mul, Div, Pow, Mod on floats; Add, Sub, Mul, Div, Mod on small integers (divisors never 0). */
function arithmeticStep(def: OpDef): Step {
  const op = def.name;
  return {
    op, nodes: 1,
    build(b: Builder, p: Picker) {
      const ints = op !== "Pow" && p.chance(0.2);
      if (ints) {
        const a = operand(b, p, SMALL_INT, p.pick(["int64", "int32"]));
        if (!SMALL_INT(a)) return false;
        const divides = op === "Div" || op === "Mod";
        // an integer divisor of 0 is undefined behaviour: a constant without zeros
        const c = divides ? b.constant(a.dtype, p.chance(0.5) ? [] : [...a.shape.slice(-1)], () => p.pick([1, 2, 3, -2, -5, 7])) : partner(b, p, a, (v) => v.dtype === a.dtype && SMALL_INT(v));
        if (c.dtype !== a.dtype || (divides && !nonZero(c)) || !SMALL_INT(c)) return false;
        const attrs = op === "Mod" ? maybe(p, () => ({ fmod: INT(1) })) : {};
        const f = arith(op, a, c);
        const m = Math.max(Math.abs(a.lo), Math.abs(a.hi)) * Math.max(Math.abs(c.lo), Math.abs(c.hi)) + Math.abs(c.hi) + Math.abs(a.hi);
        b.node(op, [a, c], attrs, { lo: -m, hi: m, nan: false, inf: false });
        void f;
        return true;
      }
      const a = operand(b, p, floats);
      const c = partner(b, p, a, floats);
      if (!floats(a) || !floats(c)) return false;
      // float Mod needs fmod=1 (C fmod); Pow's exponent may be an integer tensor
      if (op === "Mod") b.node(op, [a, c], { fmod: INT(1) }, { ...arith(op, a, c), nan: true, inf: a.inf });
      else if (op === "Pow" && p.chance(0.3)) b.node(op, [a, b.constant(p.pick(["int64", "int32"]), p.chance(0.5) ? [] : [a.shape[a.shape.length - 1] ?? 1], () => p.pick([2, 3, -1, 0, 1, -2]))], {}, { ulps: 8 });
      else b.node(op, [a, c], {}, arith(op, a, c));
      return true;
    },
  };
}

/** Max, Min, Sum, Mean of one to four broadcasting inputs. */
function variadicStep(def: OpDef): Step {
  const op = def.name;
  const exact = op === "Max" || op === "Min";
  return {
    op, nodes: 1,
    build(b: Builder, p: Picker) {
      // three or more summands: their order is free, so none may be large enough to overflow
      const n = p.range(1, 4);
      const ok = exact || n < 3 ? floats : accumulable;
      const a = operand(b, p, ok);
      if (!ok(a)) return false;
      const xs = [a];
      while (xs.length < n) {
        const c = partner(b, p, a, ok);
        if (!ok(c) || !xs.every((x) => broadcasts(x.shape, c.shape))) break;
        xs.push(c);
      }
      const lo = Math.min(...xs.map((x) => x.lo)), hi = Math.max(...xs.map((x) => x.hi));
      // Sum and Mean of three or more: the order of the additions is free; Mean divides (or multiplies by 1/n)
      const facts: Facts = exact ? { lo, hi, nan: xs.some((x) => x.nan), inf: xs.some((x) => x.inf) }
        : { inputUlps: xs.length > 2 ? 1 : 0, ulps: op === "Mean" ? 1 : 0 };
      b.node(op, xs, {}, facts);
      void broadcastOf;
      return true;
    },
  };
}

/** Less, Greater, ..., Equal: floats, integers (and bools for Equal). */
function compareStep(def: OpDef): Step {
  const op = def.name;
  return {
    op, nodes: 1,
    build(b: Builder, p: Picker) {
      const dt: DTypeName = p.chance(0.25) ? p.pick(["int64", "int32"]) : op === "Equal" && p.chance(0.2) ? "bool" : "float32";
      // Equal of floats compares exact values only: a result off by an ulp (legitimately) is
      // equal or not, and no perturbation finds the one value that ties
      const ok = (v: Val) => v.dtype === dt && (op !== "Equal" || dt !== "float32" || v.exact);
      const a = operand(b, p, ok, dt);
      const c = partner(b, p, a, ok);
      if (!ok(a) || !ok(c)) return false;
      b.node(op, [a, c]);
      return true;
    },
  };
}

const whereStep: Step = {
  op: "Where", nodes: 1,
  build(b, p) {
    const cond = operand(b, p, (v) => v.dtype === "bool", "bool");
    const dt: DTypeName = p.chance(0.2) ? "int64" : "float32";
    const x = partner(b, p, cond, (v) => v.dtype === dt);
    const x2 = x.dtype === dt ? x : fresh(b, p, dt, [...cond.shape]);
    const y = partner(b, p, x2, (v) => v.dtype === dt && broadcasts(v.shape, cond.shape));
    if (cond.dtype !== "bool" || x2.dtype !== dt || y.dtype !== dt || !broadcasts(y.shape, cond.shape)) return false;
    b.node("Where", [cond, x2, y], {}, { lo: Math.min(x2.lo, y.lo), hi: Math.max(x2.hi, y.hi), nan: x2.nan || y.nan, inf: x2.inf || y.inf });
    return true;
  },
};

/** And, Or, Xor on bools; Not. */
function logicStep(def: OpDef): Step {
  return {
    op: def.name, nodes: 1,
    build(b, p) {
      const a = operand(b, p, (v) => v.dtype === "bool", "bool");
      if (a.dtype !== "bool") return false;
      if (def.arity?.[1] === 1) b.node(def.name, [a]);
      else {
        const c = partner(b, p, a, (v) => v.dtype === "bool");
        if (c.dtype !== "bool") return false;
        b.node(def.name, [a, c]);
      }
      return true;
    },
  };
}

/** BitwiseAnd/Or/Xor/Not on integers; BitShift on unsigned ones by less than their width. */
function bitwiseStep(def: OpDef): Step {
  const op = def.name;
  return {
    op, nodes: 1,
    build(b, p) {
      if (op === "BitShift") {
        const dt = p.pick(["uint8", "uint32", "uint64"] as const);
        const a = fresh(b, p, dt, shape(p, 1, 3));
        const bits = dt === "uint8" ? 8 : dt === "uint32" ? 32 : 64;
        const s = b.constant(dt, [a.shape[a.shape.length - 1]], () => p.int(bits));
        b.node(op, [a, s], { direction: { type: "string", value: p.pick(["LEFT", "RIGHT"]) } });
        return true;
      }
      const dt: DTypeName = p.pick(["int32", "int64", "uint8", "int8"]);
      const a = operand(b, p, (v) => v.dtype === dt, dt);
      if (a.dtype !== dt) return false;
      if (def.arity?.[1] === 1) b.node(op, [a]);
      else b.node(op, [a, partner(b, p, a, (v) => v.dtype === dt)]);
      return true;
    },
  };
}

/** PRelu: the slope broadcasts to X (one way). */
const preluStep: Step = {
  op: "PRelu", nodes: 1,
  build(b, p) {
    const x = operand(b, p, floats, "float32", 1);
    if (!floats(x) || x.shape.length === 0) return false;
    const r = x.shape.length;
    const slopeShape = p.pick([[1], [x.shape[r - 1]], r >= 3 ? [x.shape[1], ...x.shape.slice(2).map(() => 1)] : [1], [...x.shape]]);
    const slope = p.chance(0.8) ? b.constant("float32", slopeShape, undefined, [-1, 1]) : fresh(b, p, "float32", slopeShape);
    b.node("PRelu", [x, slope]);
    return true;
  },
};

/** Clip with constant, run-time or absent bounds (min <= max or not: then every result is max). */
const clipStep: Step = {
  op: "Clip", nodes: 1,
  build(b, p) {
    const x = operand(b, p, floats);
    if (!floats(x)) return false;
    const bound = (v: number) => (p.chance(0.2) ? b.input("float32", [], "unit") ?? splat(b, p, "float32", []) : b.constant("float32", [], () => v));
    // An absent bound: onnxruntime clamps to the largest finite float (the spec's text names
    // numeric_limits as the default) where the reference implementation (numpy) leaves infinities
    // alone, as kiln does; so an input that may hold infinities gets both bounds.
    const both = x.inf;
    const lo = both || p.chance(0.7) ? bound(p.float(-2, 1)) : null;
    const hi = both || p.chance(0.7) ? bound(p.float(-1, 3)) : null;
    const inputs = hi ? [x, lo, hi] : lo ? [x, lo] : [x];
    b.node("Clip", inputs, {}, { nan: x.nan, inf: x.inf && (!lo || !hi), lo: lo ? Math.max(x.lo, lo.lo) : x.lo, hi: hi ? Math.min(x.hi, hi.hi) : x.hi });
    return true;
  },
};

const INT_RANGE: Partial<Record<DTypeName, [number, number]>> = {
  int8: [-128, 127], uint8: [0, 255], int32: [-(2 ** 31), 2 ** 31 - 1], int64: [-(2 ** 53), 2 ** 53], uint32: [0, 2 ** 32 - 1],
};

/**
 * Cast between float32, float16, float64, the integers and bool. A float reaches an integer type
 * only when it is known finite and in range: out of range the result is undefined (C++ casts).
 */
const castStep: Step = {
  op: "Cast", nodes: 2,
  build(b, p) {
    const x = operand(b, p, (v) => v.dtype === "float32" || SMALL_INT(v) || v.dtype === "bool");
    const targets: DTypeName[] = ["float32", "int64", "int32", "bool", "float16", "float64", "int8", "uint8"];
    const to = p.pick(targets);
    const range = INT_RANGE[to];
    if (isFloat(x) && range && (x.nan || x.inf || !(x.lo > range[0] && x.hi < range[1]))) return false;
    const codes: Record<string, number> = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11 };
    const facts: Facts = isFloat(x) && to === "bool" ? { lo: 0, hi: 1, nan: false, inf: false } : { lo: x.lo, hi: x.hi, nan: x.nan, inf: x.inf };
    const [y] = b.node("Cast", [x], { to: INT(codes[to]) }, facts);
    // float16 and float64 go back to float32 (few onnxruntime CPU kernels take them); small ints may stay
    if (to === "float16" || to === "float64" || ((to === "int8" || to === "uint8") && p.chance(0.7))) {
      b.node("Cast", [y], { to: INT(1) }, { ...facts, lo: to === "uint8" ? 0 : facts.lo });
    }
    return true;
  },
};

/** CastLike: the target type from another value. */
const castLikeStep: Step = {
  op: "CastLike", nodes: 1,
  build(b, p) {
    const x = operand(b, p, (v) => SMALL_INT(v) || v.dtype === "bool" || (v.dtype === "float32" && !v.nan && !v.inf && v.lo > -1e9 && v.hi < 1e9));
    const like = p.pick(["float32", "int64", "int32", "bool"] as const);
    if (!(SMALL_INT(x) || x.dtype === "bool" || x.dtype === "float32")) return false;
    if (x.dtype === "float32" && (x.nan || x.inf || x.lo <= -1e9 || x.hi >= 1e9) && like !== "float32" && like !== "bool") return false;
    b.node("CastLike", [x, b.constant(like, [], () => 1)], {}, { lo: x.lo, hi: x.hi, nan: x.nan, inf: x.inf });
    return true;
  },
};

export function binarySteps(): Step[] {
  const ops = allOps().filter(broadcasting);
  const arithmetic = ops.filter((d) => twoInputs(d) && !d.traits.has("comparison") && (d.traits.has("fusible") || d.name === "Mod") && d.name !== "PRelu" && d.name !== "Where");
  const variadic = ops.filter((d) => d.arity?.[1] === Infinity);
  const compare = ops.filter((d) => d.traits.has("comparison"));
  const rest = allOps().filter((d) => !d.traits.has("fusible") && d.domain === "" && (d.traits.has("broadcasting") || d.traits.has("unary")));
  const logic = rest.filter((d) => d.name === "And" || d.name === "Or" || d.name === "Xor" || d.name === "Not");
  const bitwise = rest.filter((d) => d.name.startsWith("Bit"));
  return [
    ...arithmetic.map(arithmeticStep), ...variadic.map(variadicStep), ...compare.map(compareStep),
    ...logic.map(logicStep), ...bitwise.map(bitwiseStep), whereStep, preluStep, clipStep, castStep, castLikeStep,
  ];
}

void FLOAT;
