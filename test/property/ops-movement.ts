// Data movement: every output element is a copy of an input element (or a pad value), so the
// result is exact whatever the dtype. Shapes, permutations, slices, indices and pads are drawn
// valid by the spec, including the corners (negative axes and indices, clamped slice bounds,
// negative steps and pads, size-1 dims).
import type { DTypeName } from "../../runtime/dtypes.js";
import type { Attr } from "../../compiler/ir/graph.js";
import { size, type Builder, type Facts, type Val } from "./graph.js";
import type { Picker } from "./picker.js";
import { INT, INTS, STRING, MAX_ELEMENTS, accumulable, axesOf, axis, dim, operand } from "./operands.js";
import type { Step } from "./steps.js";

/** Values movement ops take: floats, int64 and bool. */
const movable = (v: Val) => v.dtype === "float32" || v.dtype === "int64" || v.dtype === "bool";
const same = (x: Val): Facts => ({ lo: x.lo, hi: x.hi, nan: x.nan, inf: x.inf });

function take(b: Builder, p: Picker, minRank = 0, maxRank = 4): Val | undefined {
  const dt: DTypeName = p.chance(0.85) ? "float32" : p.pick(["int64", "bool"]);
  const x = operand(b, p, movable, dt, minRank, maxRank);
  return movable(x) && x.shape.length >= minRank && x.shape.length <= maxRank ? x : undefined;
}

const transposeStep: Step = {
  op: "Transpose", nodes: 1,
  build(b, p) {
    const x = take(b, p, 1, 5);
    if (!x) return false;
    b.node("Transpose", [x], p.chance(0.8) ? { perm: INTS(p.permutation(x.shape.length)) } : {}, same(x));
    return true;
  },
};

/** A factorization of n into `rank` dims, in random order. */
function factors(p: Picker, n: number, rank: number): number[] {
  const out: number[] = [];
  let rest = n;
  for (let k = 0; k < rank - 1; k++) {
    const ds = [...Array(rest).keys()].map((d) => d + 1).filter((d) => rest % d === 0);
    const d = p.pick(ds);
    out.push(d);
    rest /= d;
  }
  out.push(rest);
  return out;
}

const reshapeStep: Step = {
  op: "Reshape", nodes: 1,
  build(b, p) {
    const x = take(b, p);
    if (!x) return false;
    const n = size(x.shape);
    if (n === 0) return false;
    const target = n === 1 && p.chance(0.3) ? [] : factors(p, n, p.range(1, 4));
    // 0 copies the input's dim at that index; one -1 is inferred
    const written = target.map((d, k) => (d === x.shape[k] && p.chance(0.2) ? 0 : d));
    if (written.length && p.chance(0.3)) written[p.int(written.length)] = -1;
    if (written.filter((d) => d === -1).length === 1 && size(target) === 0) return false;
    b.node("Reshape", [x, b.ints(written)], {}, same(x));
    return true;
  },
};

const flattenStep: Step = {
  op: "Flatten", nodes: 1,
  build(b, p) {
    const x = take(b, p);
    if (!x) return false;
    const r = x.shape.length;
    const a = p.range(0, r);
    // the default axis is 1, out of range for a scalar
    b.node("Flatten", [x], p.chance(0.7) || r === 0 ? { axis: INT(p.chance(0.3) && r > 0 ? a - r : a) } : {}, same(x));
    return true;
  },
};

const squeezeStep: Step = {
  op: "Squeeze", nodes: 1,
  build(b, p) {
    const x = take(b, p, 0, 5);
    if (!x) return false;
    const ones = x.shape.flatMap((d, k) => (d === 1 ? [k] : []));
    if (ones.length === 0 || p.chance(0.3)) {
      // no axes: every size-1 dim goes
      b.node("Squeeze", [x], {}, same(x));
      return true;
    }
    const axes = ones.filter(() => p.chance(0.6));
    const written = (axes.length ? axes : [ones[0]]).map((a) => (p.chance(0.3) ? a - x.shape.length : a));
    b.node("Squeeze", [x, b.ints(written)], {}, same(x));
    return true;
  },
};

const unsqueezeStep: Step = {
  op: "Unsqueeze", nodes: 1,
  build(b, p) {
    const x = take(b, p, 0, 4);
    if (!x) return false;
    const r = x.shape.length + p.range(1, 2);
    const axes = axesOf(p, r).written.slice(0, r - x.shape.length);
    while (axes.length < r - x.shape.length) {
      const a = p.int(r);
      if (!axes.some((y) => (y + r) % r === a)) axes.push(a);
      else break;
    }
    if (axes.length !== r - x.shape.length) return false;
    b.node("Unsqueeze", [x, b.ints(axes)], {}, same(x));
    return true;
  },
};

const concatStep: Step = {
  op: "Concat", nodes: 1,
  build(b, p) {
    const x = take(b, p, 1, 4);
    if (!x) return false;
    const a = axis(p, x.shape.length);
    const fits = (v: Val) => v.dtype === x.dtype && v.shape.length === x.shape.length && v.shape.every((d, k) => k === a.axis || d === x.shape[k]);
    const parts = [x];
    for (let n = p.range(1, 3); parts.length < n;) {
      const have = b.candidates((v) => fits(v) && v !== x);
      const s = x.shape.map((d, k) => (k === a.axis ? p.pick([1, 2, 3, 0]) : d));
      parts.push(have.length && p.chance(0.5) ? have[0] : p.chance(0.3) ? x : b.constant(x.dtype, s, undefined, x.dtype === "bool" ? [0, 1] : [-2, 2]));
    }
    if (size(x.shape) / x.shape[a.axis] * parts.reduce((t, v) => t + v.shape[a.axis], 0) > MAX_ELEMENTS) return false;
    b.node("Concat", parts, { axis: INT(a.written) }, { lo: Math.min(...parts.map((v) => v.lo)), hi: Math.max(...parts.map((v) => v.hi)), nan: parts.some((v) => v.nan), inf: parts.some((v) => v.inf) });
    return true;
  },
};

const splitStep: Step = {
  op: "Split", nodes: 1,
  build(b, p) {
    const x = take(b, p, 1, 4);
    if (!x) return false;
    const a = axis(p, x.shape.length);
    const d = x.shape[a.axis];
    if (d === 0) return false; // onnxruntime refuses to split an empty axis
    const n = p.range(1, Math.min(3, d));
    const attrs: Record<string, Attr> = p.chance(0.6) ? { axis: INT(a.written) } : {};
    if (!attrs.axis && a.axis !== 0) return false;
    if (p.chance(0.5)) {
      // explicit sizes (a zero-size part is allowed)
      const sizes: number[] = [];
      let rest = d;
      for (let k = 0; k < n - 1; k++) {
        const s = p.int(rest + 1);
        sizes.push(s);
        rest -= s;
      }
      sizes.push(rest);
      b.node("Split", [x, b.ints(sizes)], attrs, same(x), n);
    } else {
      // equal parts by num_outputs (opset 18); an uneven split makes the last part smaller
      if (Math.ceil(d / n) * (n - 1) >= d && d % n !== 0) return false;
      b.node("Split", [x], { ...attrs, num_outputs: INT(n) }, same(x), n);
    }
    return true;
  },
};

const SENTINELS = [2 ** 62, -(2 ** 62)];

const sliceStep: Step = {
  op: "Slice", nodes: 1,
  build(b, p) {
    const x = take(b, p, 1, 4);
    if (!x) return false;
    const { axes, written } = axesOf(p, x.shape.length);
    const starts: number[] = [], ends: number[] = [], steps: number[] = [];
    for (const a of axes) {
      const d = x.shape[a];
      const step = p.chance(0.3) ? p.pick([2, -1, -2, 3]) : 1;
      const bound = () => (p.chance(0.1) ? p.pick(SENTINELS) : p.range(-d - 1, d + 1));
      starts.push(bound());
      ends.push(bound());
      steps.push(step);
    }
    const inputs: (Val | null)[] = [x, b.ints(starts), b.ints(ends)];
    const withSteps = steps.some((s) => s !== 1) || p.chance(0.3);
    if (withSteps || p.chance(0.6)) inputs.push(b.ints(written));
    if (withSteps) inputs.push(b.ints(steps));
    b.node("Slice", inputs, {}, same(x));
    return true;
  },
};

const gatherStep: Step = {
  op: "Gather", nodes: 1,
  build(b, p) {
    const x = take(b, p, 1, 4);
    if (!x) return false;
    const a = axis(p, x.shape.length);
    const d = x.shape[a.axis];
    if (d === 0) return false; // no index is valid on an empty axis
    const idxShape = p.pick([[], [dim(p, 7)], [2, dim(p, 4)]]);
    if (size(x.shape) / d * size(idxShape) > MAX_ELEMENTS) return false;
    // indices in [-d, d): negative ones count from the end
    const idx = b.constant(p.chance(0.8) ? "int64" : "int32", idxShape, () => Math.floor(b.random() * 2 * d) - d);
    b.node("Gather", [x, idx], a.written !== 0 || p.chance(0.5) ? { axis: INT(a.written) } : {}, same(x));
    return true;
  },
};

const gatherElementsStep: Step = {
  op: "GatherElements", nodes: 1,
  build(b, p) {
    const x = take(b, p, 1, 4);
    if (!x) return false;
    const a = axis(p, x.shape.length);
    const d = x.shape[a.axis];
    if (d === 0) return false;
    const s = x.shape.map((n, k) => (k === a.axis ? dim(p, 7) : p.chance(0.3) ? Math.max(1, n - 1) : n));
    const idx = b.constant("int64", s, () => Math.floor(b.random() * 2 * d) - d);
    b.node("GatherElements", [x, idx], { axis: INT(a.written) }, same(x));
    return true;
  },
};

const padStep: Step = {
  op: "Pad", nodes: 1,
  build(b, p) {
    const x = take(b, p, 1, 4);
    if (!x) return false;
    const r = x.shape.length;
    const modes = ["constant", "reflect", "edge", ...(b.opset >= 19 ? ["wrap"] : [])];
    const mode = x.shape.every((d) => d > 0) ? p.pick(modes) : "constant";
    // reflect needs pads below the axis size; wrap and edge at most the size; constant may crop (negative)
    const limit = (d: number) => (mode === "reflect" ? d - 1 : mode === "constant" ? 3 : d);
    const useAxes = p.chance(0.3);
    const axes = useAxes ? axesOf(p, r) : { axes: [...Array(r).keys()], written: [...Array(r).keys()] };
    const pad = (a: number) => {
      const v = p.int(Math.min(limit(x.shape[a]), 3) + 1);
      return mode === "constant" && p.chance(0.15) ? -Math.min(v, x.shape[a] - 1) : v;
    };
    // pads follow the axes input's order (axesOf may write the axes reversed)
    const order = axes.written.map((w) => (w + r) % r);
    const begin = order.map(pad);
    const end = order.map(pad);
    const out = x.shape.map((d, k) => d + (order.includes(k) ? begin[order.indexOf(k)] + end[order.indexOf(k)] : 0));
    if (out.some((d) => d < 0) || size(out) > MAX_ELEMENTS) return false;
    const inputs: (Val | null)[] = [x, b.ints([...begin, ...end])];
    const value = mode === "constant" && x.dtype !== "bool" && p.chance(0.5) ? b.constant(x.dtype, [], () => p.pick([1.5, -2, 0, 3])) : null;
    if (value || useAxes) inputs.push(value);
    if (useAxes) inputs.push(b.ints(axes.written));
    b.node("Pad", inputs, mode !== "constant" || p.chance(0.3) ? { mode: STRING(mode) } : {}, { ...same(x), lo: Math.min(x.lo, -2), hi: Math.max(x.hi, 3) });
    return true;
  },
};

const expandStep: Step = {
  op: "Expand", nodes: 1,
  build(b, p) {
    const x = take(b, p, 0, 4);
    if (!x) return false;
    // the target: x's dims with some 1s widened, some dims 1 (kept), maybe new leading dims
    const target = [...(p.chance(0.4) ? [dim(p, 4)] : []), ...x.shape.map((d) => (d === 1 && p.chance(0.6) ? dim(p, 5) : p.chance(0.2) ? 1 : d))];
    const out = target.map((d, k) => Math.max(d, x.shape[k - (target.length - x.shape.length)] ?? 1));
    if (size(out) > MAX_ELEMENTS) return false;
    b.node("Expand", [x, b.ints(target)], {}, same(x));
    return true;
  },
};

const tileStep: Step = {
  op: "Tile", nodes: 1,
  build(b, p) {
    const x = take(b, p, 1, 4);
    if (!x) return false;
    const reps = x.shape.map(() => (p.chance(0.4) ? p.range(2, 3) : 1));
    if (size(x.shape) * size(reps) > MAX_ELEMENTS) return false;
    b.node("Tile", [x, b.ints(reps)], {}, same(x));
    return true;
  },
};

const depthSpaceStep: Step = {
  op: "DepthToSpace", nodes: 1,
  build(b, p) {
    // onnxruntime has float kernels only
    const x = take(b, p, 4, 4);
    if (!x || x.dtype !== "float32") return false;
    const [, C, H, W] = x.shape;
    const bs = p.pick([2, 3]);
    if (p.chance(0.5) && H % bs === 0 && W % bs === 0) {
      b.node("SpaceToDepth", [x], { blocksize: INT(bs) }, same(x));
      return true;
    }
    if (C % (bs * bs) !== 0) return false;
    b.node("DepthToSpace", [x], { blocksize: INT(bs), ...(p.chance(0.5) ? { mode: STRING("CRD") } : {}) }, same(x));
    return true;
  },
};

const identityStep: Step = {
  op: "Identity", nodes: 1,
  build(b, p) {
    const x = take(b, p);
    if (!x) return false;
    b.node("Identity", [x], {}, same(x));
    return true;
  },
};

const triluStep: Step = {
  op: "Trilu", nodes: 1,
  build(b, p) {
    const x = take(b, p, 2, 4);
    if (!x || x.dtype === "bool") return false;
    const k = p.chance(0.5) ? b.ints([p.range(-3, 3)], []) : null;
    b.node("Trilu", k ? [x, k] : [x], p.chance(0.5) ? { upper: INT(0) } : {}, { ...same(x), lo: Math.min(x.lo, 0), hi: Math.max(x.hi, 0) });
    return true;
  },
};

const cumSumStep: Step = {
  op: "CumSum", nodes: 1,
  build(b, p) {
    const x = operand(b, p, accumulable, "float32", 1, 4);
    if (!accumulable(x) || x.shape.length === 0) return false;
    const attrs: Record<string, Attr> = {};
    if (p.chance(0.3)) attrs.exclusive = INT(1);
    if (p.chance(0.3)) attrs.reverse = INT(1);
    b.node("CumSum", [x, b.ints([axis(p, x.shape.length).written], [])], attrs, { inputUlps: 2 });
    return true;
  },
};

export function movementSteps(): Step[] {
  return [
    transposeStep, reshapeStep, flattenStep, squeezeStep, unsqueezeStep, concatStep, splitStep, sliceStep, gatherStep,
    gatherElementsStep, padStep, expandStep, tileStep, depthSpaceStep, identityStep, triluStep, cumSumStep,
  ];
}
