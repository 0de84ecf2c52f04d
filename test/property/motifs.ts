// Motifs: small subgraphs as exporters write them, which kiln's passes rewrite (passes/): a
// Conv followed by BatchNormalization (fold-constants), bias and activation after a product
// (fuse-epilogue), the decomposed GELU, LayerNorm and scaled Softmax (fuse-patterns), pairs of
// ops that cancel or do nothing (simplify), a node repeated (cse). The steps draw these so each
// pass meets its pattern, and also its near misses (a constant that is not the one the pattern
// needs, a value read outside the pattern).
import { allOps } from "../../compiler/ops/index.js";
import { isFloat, type Builder, type Facts, type Val } from "./graph.js";
import type { Picker } from "./picker.js";
import { FLOAT, INT, INTS, STRING, accumulable, floats, operand, winogradWindow } from "./operands.js";
import type { Step } from "./steps.js";

const TRANSCENDENTAL: Facts = { ulps: 8 };
const SUM: Facts = { inputUlps: 2 };
const scalar = (b: Builder, x: number) => b.constant("float32", [], () => x);

/** An activation the registry lets run in an epilogue. */
function activation(b: Builder, p: Picker, x: Val): Val {
  const ops = allOps().filter((d) => d.traits.has("epilogue") && d.domain === "" && d.name !== "Clip" && (d.name !== "Gelu" || b.opset >= 20) && (d.name !== "Swish" || b.opset >= 24));
  const op = p.pick(ops).name;
  return b.node(op, [x], {}, { ulps: 8 })[0];
}

const convBn: Step = {
  op: "BatchNormalization", name: "Conv+BatchNormalization", nodes: 3,
  build(b, p) {
    const x = operand(b, p, accumulable, "float32", 4, 4);
    if (!accumulable(x) || x.shape.length !== 4) return false;
    const C = x.shape[1], M = p.range(1, 6);
    const k = Math.min(p.range(1, 3), x.shape[2], x.shape[3]);
    if (x.inf && winogradWindow([k, k])) return false;
    const w = b.constant("float32", [M, C, k, k], undefined, [-1, 1]);
    const [y] = b.node("Conv", p.chance(0.5) ? [x, w, b.constant("float32", [M])] : [x, w], {}, SUM);
    const ch = (lo = -1, hi = 1) => b.constant("float32", [M], undefined, [lo, hi]);
    const [z] = b.node("BatchNormalization", [y, ch(), ch(), ch(), ch(0.25, 2)], {}, { inputUlps: 4, ulps: 4 });
    if (p.chance(0.5)) b.node("Relu", [z], {}, {});
    return true;
  },
};

const productEpilogue: Step = {
  op: "MatMul", name: "MatMul/Conv+bias+activation(+residual)", nodes: 4,
  build(b, p) {
    const conv = p.chance(0.4);
    const x = operand(b, p, accumulable, "float32", conv ? 4 : 2, conv ? 4 : 3);
    if (!accumulable(x) || x.shape.length < 2 || (conv && x.shape.length !== 4)) return false;
    const N = p.pick([3, 8, 5, 16]);
    let y: Val;
    if (conv) {
      const k = Math.min(p.pick([1, 3]), x.shape[2], x.shape[3]);
      if (x.inf && winogradWindow([k, k])) return false;
      [y] = b.node("Conv", [x, b.constant("float32", [N, x.shape[1], k, k], undefined, [-1, 1])], k === 3 ? { pads: INTS([1, 1, 1, 1]) } : {}, SUM);
    } else {
      [y] = b.node("MatMul", [x, b.constant("float32", [x.shape[x.shape.length - 1], N], undefined, [-1, 1])], {}, SUM);
    }
    if (p.chance(0.7)) {
      const biasShape = conv ? [N, 1, 1] : [N];
      [y] = b.node("Add", p.chance(0.5) ? [y, b.constant("float32", biasShape)] : [b.constant("float32", biasShape), y]);
    }
    if (p.chance(0.7)) y = activation(b, p, y);
    // a residual: the sum with another value of the output's shape
    if (p.chance(0.4)) {
      const same = b.candidates((v) => floats(v) && v !== y && v.shape.join() === y.shape.join());
      const r = same.length && p.chance(0.7) ? same[0] : b.constant("float32", y.shape);
      b.node(p.chance(0.5) ? "Add" : "Sum", [y, r]);
    }
    return true;
  },
};

const scaledSoftmax: Step = {
  op: "Softmax", name: "Softmax(x * c)", nodes: 2,
  build(b, p) {
    const x = operand(b, p, floats, "float32", 1, 4);
    if (!floats(x) || x.shape.length === 0) return false;
    const c = scalar(b, p.pick([0.125, 0.5, 2, 0.35355339]));
    const [s] = b.node(p.chance(0.5) ? "Mul" : "Div", p.chance(0.5) ? [x, c] : [x, c]);
    b.node("Softmax", [s], p.chance(0.5) ? {} : { axis: INT(-1) }, { inputUlps: 2, ulps: 8 });
    return true;
  },
};

const geluErf: Step = {
  op: "Erf", name: "x * 0.5 * (1 + Erf(x / sqrt 2))", nodes: 5,
  build(b, p) {
    const x = operand(b, p, floats);
    if (!floats(x)) return false;
    const [d] = p.chance(0.5) ? b.node("Div", [x, scalar(b, 1.4142135)]) : b.node("Mul", [x, scalar(b, 0.70710677)]);
    const [e] = b.node("Erf", [d], {}, TRANSCENDENTAL);
    const [a] = b.node(p.chance(0.8) ? "Add" : "Sum", [e, scalar(b, 1)]);
    const order = p.int(3);
    if (order === 0) b.node("Mul", [b.node("Mul", [x, a])[0], scalar(b, 0.5)]);
    else if (order === 1) b.node("Mul", [b.node("Mul", [x, scalar(b, 0.5)])[0], a]);
    else b.node("Mul", [x, b.node("Mul", [a, scalar(b, 0.5)])[0]]);
    return true;
  },
};

const geluTanh: Step = {
  op: "Tanh", name: "0.5 x (1 + Tanh(sqrt(2/pi) (x + 0.044715 x^3)))", nodes: 8,
  build(b, p) {
    const x = operand(b, p, floats);
    if (!floats(x)) return false;
    const [cube] = b.node("Pow", [x, scalar(b, 3)], {}, { ulps: 8 });
    const [t] = b.node("Mul", [cube, scalar(b, 0.044715)]);
    const [s] = b.node("Add", [x, t]);
    const [u] = b.node("Mul", [s, scalar(b, 0.7978846)]);
    const [th] = b.node("Tanh", [u], {}, TRANSCENDENTAL);
    const [a] = b.node("Add", [th, scalar(b, 1)]);
    const [h] = b.node("Mul", [x, scalar(b, 0.5)]);
    b.node("Mul", [h, a]);
    return true;
  },
};

const layerNorm: Step = {
  op: "ReduceMean", name: "decomposed LayerNorm", nodes: 8,
  build(b, p) {
    const x = operand(b, p, accumulable, "float32", 1, 3);
    if (!accumulable(x) || x.shape.length === 0) return false;
    const axes = b.ints([-1]);
    const [mean] = b.node("ReduceMean", [x, axes], {}, { inputUlps: 2, ulps: 1 });
    const [d] = b.node("Sub", [x, mean]);
    const [sq] = p.chance(0.5) ? b.node("Pow", [d, scalar(b, 2)], {}, { ulps: 2 }) : b.node("Mul", [d, d]);
    const [v] = b.node("ReduceMean", [sq, b.ints([-1])], {}, { inputUlps: 2, ulps: 1 });
    const [ve] = b.node("Add", [v, scalar(b, p.pick([1e-5, 1e-12, 0.001]))]);
    const [sd] = b.node("Sqrt", [ve]);
    const [n] = p.chance(0.7) ? b.node("Div", [d, sd]) : b.node("Mul", [d, b.node("Reciprocal", [sd])[0]]);
    if (b.nodes.length < 8 || p.chance(0.5)) b.node("Mul", [n, b.constant("float32", [x.shape[x.shape.length - 1]], undefined, [0.5, 1.5])]);
    return true;
  },
};

/**
 * A MobileNet block: depthwise 3x3 Conv, Relu or Clip(0, 6), pointwise 1x1 Conv, and sometimes
 * a residual Add: the region layout-nhwc runs channels-last (channels a multiple of 4).
 */
const depthwiseBlock: Step = {
  op: "Conv", name: "depthwise + pointwise Conv (channels-last region)", nodes: 5,
  build(b, p) {
    const C = p.pick([4, 8, 12]);
    const fits = (v: Val) => accumulable(v) && v.shape.length === 4 && v.shape[1] === C && v.shape[2] >= 3 && v.shape[3] >= 3;
    const have = b.candidates(fits);
    const x = have.length && p.chance(0.5) ? have[0] : b.input("float32", [p.pick([1, 2]), C, p.range(3, 11), p.range(3, 11)], p.pick(["unit", "specials"] as const));
    if (!x) return false;
    const stride = p.chance(0.3) ? 2 : 1;
    const dwAttrs = { group: INT(C), kernel_shape: INTS([3, 3]), pads: INTS([1, 1, 1, 1]), ...(stride > 1 ? { strides: INTS([2, 2]) } : {}) };
    const [d] = b.node("Conv", [x, b.constant("float32", [C, 1, 3, 3], undefined, [-1, 1]), b.constant("float32", [C])], dwAttrs, SUM);
    const [a] = p.chance(0.5) ? b.node("Relu", [d]) : b.node("Clip", [d, scalar(b, 0), scalar(b, 6)]);
    const M = p.chance(0.5) ? C : p.pick([4, 8, 16]);
    const [y] = b.node("Conv", p.chance(0.7) ? [a, b.constant("float32", [M, C, 1, 1], undefined, [-1, 1]), b.constant("float32", [M])] : [a, b.constant("float32", [M, C, 1, 1], undefined, [-1, 1])], {}, SUM);
    if (M === C && stride === 1 && p.chance(0.5)) b.node("Add", [y, x]);
    return true;
  },
};

/** Ops that cancel or do nothing: inverse Transposes, Reshape chains, no-op Cast/Pad/Slice/Expand, Dropout. */
const noops: Step = {
  op: "Transpose", name: "cancelling and no-op movement", nodes: 3,
  build(b, p) {
    const x = operand(b, p, floats, "float32", 1, 4);
    if (!floats(x) || x.shape.length === 0) return false;
    const r = x.shape.length;
    const same = { lo: x.lo, hi: x.hi, nan: x.nan, inf: x.inf };
    let y: Val;
    switch (p.int(6)) {
      case 0: {
        const perm = p.permutation(r);
        const inv = perm.map((_, k) => perm.indexOf(k));
        [y] = b.node("Transpose", [b.node("Transpose", [x], { perm: INTS(perm) }, same)[0]], { perm: INTS(inv) }, same);
        break;
      }
      case 1:
        // a 0 in the shape copies the input's dim unless allowzero says it is a 0 (an empty x)
        [y] = b.node("Reshape", [b.node("Reshape", [x, b.ints([-1])], {}, same)[0], b.ints(x.shape)], x.shape.includes(0) ? { allowzero: INT(1) } : {}, same);
        break;
      case 2:
        [y] = b.node("Cast", [x], { to: INT(1) }, same);
        break;
      case 3:
        [y] = b.node("Pad", [x, b.ints(new Array(2 * r).fill(0))], {}, same);
        break;
      case 4:
        [y] = b.node("Slice", [x, b.ints([0]), b.ints([2 ** 62]), b.ints([p.int(r)])], {}, same);
        break;
      default:
        [y] = b.node("Dropout", [x], p.chance(0.5) ? {} : { seed: INT(3) }, same);
    }
    if (p.chance(0.6)) b.node("Relu", [y], {}, {});
    return true;
  },
};

/** The exporters' HardSwish: x * Clip(x + 3, 0, 6) / 6, one loop after fuse-elementwise. */
const hardSwishChain: Step = {
  op: "Clip", name: "x * Clip(x + 3, 0, 6) / 6", nodes: 4,
  build(b, p) {
    const x = operand(b, p, floats);
    if (!floats(x)) return false;
    const [s] = b.node("Add", [x, scalar(b, 3)]);
    const [c] = b.node("Clip", [s, scalar(b, 0), scalar(b, 6)], {}, { lo: 0, hi: 6, nan: x.nan, inf: false });
    const [m] = b.node("Mul", [x, c]);
    b.node(p.chance(0.5) ? "Div" : "Mul", [m, scalar(b, p.chance(0.5) ? 6 : 1 / 6)]);
    return true;
  },
};

/** Where reading comparisons of the values it selects (fused into one loop). */
const selectChain: Step = {
  op: "Where", name: "Where(x > c, f(x), y)", nodes: 3,
  build(b, p) {
    const x = operand(b, p, floats);
    if (!floats(x)) return false;
    const [cond] = b.node(p.pick(x.exact ? ["Greater", "Less", "GreaterOrEqual", "Equal"] : ["Greater", "Less", "GreaterOrEqual"]), [x, scalar(b, p.pick([0, 0.5, -1]))]);
    const [fx] = b.node(p.pick(["Neg", "Abs", "Relu", "Exp"]), [x], {}, { ulps: 8 });
    b.node("Where", [cond, fx, p.chance(0.5) ? x : scalar(b, 0)]);
    return true;
  },
};

/** A node repeated with the same inputs and attributes (cse merges it), then both read. */
const repeat: Step = {
  op: "Add", name: "a repeated node", nodes: 2,
  build(b, p) {
    if (b.nodes.length === 0) return false;
    const n = b.nodes[b.nodes.length - 1 - p.int(Math.min(b.nodes.length, 3))];
    const ins = n.inputs.map((i) => (i ? b.vals.find((v) => v.name === i)! : null));
    const first = b.vals.find((v) => v.name === n.outputs[0])!;
    const [again] = b.node(n.op, ins, n.attrs, { ulps: n.ulps, inputUlps: n.inputUlps }, n.outputs.length, n.domain);
    if (isFloat(first) && first.dtype === "float32" && p.chance(0.7)) b.node("Sub", [first, again]);
    return true;
  },
};

export function motifSteps(): Step[] {
  void FLOAT;
  void STRING;
  return [convBn, productEpilogue, depthwiseBlock, scaledSoftmax, geluErf, geluTanh, layerNorm, noops, hardSwishChain, selectChain, repeat];
}
