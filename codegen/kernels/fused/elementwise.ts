// Kernels for fused nodes built by passes/fuse-elementwise.ts and passes/fuse-patterns.ts.
// "elementwise": the body is a tree of elementwise ops evaluated per output element inside ONE
// broadcasting loop (loops.ts emitElementwise, with its f32x4 path). Each body op contributes the
// same scalar and SIMD formula its own kernel uses (the unary and broadcast tables), so fusing
// never changes an op's math, only where its intermediates live (locals instead of memory).
import binaryen from "binaryen";
import { dtypeFromOnnx, type DTypeName } from "../../../runtime/dtypes.js";
import { KilnError } from "../../../runtime/errors.js";
import type { Node } from "../../../compiler/ir/graph.js";
import type { Expr, Local } from "../../fn.js";
import { convert, wasmType } from "../../memory.js";
import { laneKind } from "../elementwise/ops.js";
import { ARITH_FORMULAS } from "../elementwise/arith.js";
import { LOGIC_FORMULAS } from "../elementwise/logic.js";
import { GATED_FORMULAS } from "../elementwise/gated.js";
import { whereScalar, whereSimd } from "../elementwise/logic.js";
import { powByProducts, powScalar, smallPower } from "../elementwise/pow.js";
import { emitElementwise } from "../loops.js";
import { KernelCtx, type TensorRef } from "../kernel.js";
import { floatOps, vecOps } from "../unary/formula.js";
import { UNARY_FORMULAS } from "../unary/ops.js";
import { clampToConstants, constantClipBounds } from "../unary/clip.js";
import { hasTrait } from "../../../compiler/ops/index.js";
import { intRange, quantize, saturateLanes } from "../quant/common.js";

type Get = () => Expr;

/** the broadcasting ops' formulas, which a fused loop applies as their own kernels do */
const BROADCAST_FORMULAS = { ...ARITH_FORMULAS, ...LOGIC_FORMULAS, ...GATED_FORMULAS };
/** one body op: operand getters -> value (scalar compute type, or v128 in the SIMD loop) */
type Formula = (args: Get[]) => Expr;


/** The dtype a body op produces from its operands' dtypes. */
function resultType(node: Node, ins: DTypeName[]): DTypeName {
  if (hasTrait(node, "comparison")) return "bool";
  if (node.op === "Cast") return castTarget(node);
  if (node.op === "DequantizeLinear") return "float32";
  if (node.op === "QuantizeLinear") return ins[2];
  return node.op === "Where" ? ins[1] : ins[0];
}

function castTarget(node: Node): DTypeName {
  const to = node.attrs.to;
  const info = to?.type === "int" ? dtypeFromOnnx(to.value) : undefined;
  if (!info) throw new KilnError("INTERNAL", `fused Cast ${JSON.stringify(node.name)} has no known target type`, { node: node.name, op: "Cast" });
  return info.name;
}

/** A context for one body node: its attributes, with the fused kernel's builder and math library. */
function nodeCtx(ctx: KernelCtx, node: Node): KernelCtx {
  return new KernelCtx(ctx.m, ctx.fn, node, ctx.opset, [], [], ctx.math);
}

/** A fused Clip's constant bounds (passes/fuse-elementwise.ts admits no others). */
function clipBounds(ctx: KernelCtx, node: Node, refs: Map<string, TensorRef>): { lo?: number; hi?: number } {
  return constantClipBounds(node, (name) => {
    const v = refs.get(name)?.value;
    if (!v || v.data.length !== 1) ctx.unsupported(`fused Clip ${JSON.stringify(node.name)} needs constant scalar bounds`);
    return Number(v.data[0]);
  });
}

/**
 * The most values (external inputs plus body nodes) one fused loop takes. Each is a local in the
 * scalar and in the f32x4 program, and the inputs also a row base (and a splat): about four locals
 * per value, far under V8's 50,000 per function, and a body of a few hundred KB at most. A longer
 * chain becomes several fused loops (passes/fuse-elementwise.ts stops a group here).
 */
export const MAX_FUSED_VALUES = 512;

/**
 * Whether a fused loop has a formula for op `op` (the registry's trait "fusible" promises it; the
 * registry-agreement test holds the two together).
 */
export function fusedLoopTakes(op: string): boolean {
  return op === "Where" || op === "Clip" || op === "Cast" || op === "Pow" || op === "QuantizeLinear" || op === "DequantizeLinear" ||
    !!UNARY_FORMULAS[op]?.float || op in BROADCAST_FORMULAS;
}

/**
 * A fused per-tensor QuantizeLinear / DequantizeLinear (passes/fuse-elementwise.ts admits only
 * those, 8-bit, float32, constant scale and zero point): its one scale and zero point.
 */
function quantParams(ctx: KernelCtx, node: Node, refs: Map<string, TensorRef>): { scale: number; zp: number } {
  const one = (name: string | undefined, what: string) => {
    const v = name ? refs.get(name)?.value : undefined;
    if (!v || v.data.length !== 1) ctx.unsupported(`fused ${node.op} ${JSON.stringify(node.name)} needs a constant one-value ${what}`);
    return Number(v.data[0]);
  };
  return { scale: one(node.inputs[1], "scale"), zp: node.inputs[2] ? one(node.inputs[2], "zero point") : 0 };
}

/**
 * The two quantization formulas of the standalone kernels (quant/linear.ts), so fusing changes
 * nothing: DequantizeLinear (x - zp) * scale in f32; QuantizeLinear round_half_even(x / scale) +
 * zp, saturated to the output's 8 bits.
 */
function quantFormula(ctx: KernelCtx, node: Node, ins: DTypeName[], refs: Map<string, TensorRef>, vector: boolean): Formula {
  const m = ctx.m;
  const { scale, zp } = quantParams(ctx, node, refs);
  const [lo, hi] = intRange(ins[2] ?? "uint8");
  if (node.op === "DequantizeLinear") {
    return vector
      ? ([x]) => m.f32x4.mul(m.f32x4.convert_i32x4_s(m.i32x4.sub(x(), m.i32x4.splat(m.i32.const(zp)))), m.f32x4.splat(m.f32.const(scale)))
      : ([x]) => m.f32.mul(m.f32.convert_s.i32(m.i32.sub(x(), m.i32.const(zp))), m.f32.const(scale));
  }
  if (!vector) return ([x]) => quantize(ctx, "f32", m.f32.div(x(), m.f32.const(scale)), m.i32.const(zp), ins[2]);
  const f = (v: number) => m.f32x4.splat(m.f32.const(v));
  return ([x]) => saturateLanes(m, m.f32x4.add(m.f32x4.nearest(m.f32x4.div(x(), f(scale))), f(zp)), lo, hi);
}

function scalarFormula(ctx: KernelCtx, node: Node, ins: DTypeName[], refs: Map<string, TensorRef>): Formula | undefined {
  const m = ctx.m;
  const nctx = nodeCtx(ctx, node);
  if (node.op === "QuantizeLinear" || node.op === "DequantizeLinear") return quantFormula(ctx, node, ins, refs, false);
  if (node.op === "Where") return (a) => whereScalar(m, a.map((g) => g()));
  if (node.op === "Clip") {
    const bounds = clipBounds(ctx, node, refs);
    const F = floatOps(m, ins[0] === "float64" ? "f64" : "f32", nctx);
    return ([x]) => clampToConstants(F, x(), bounds);
  }
  // Cast's semantics live in memory.ts convert (the Cast kernel's scalar form)
  if (node.op === "Cast") return ([x]) => convert(m, ins[0], castTarget(node), x());
  if (node.op === "Pow") {
    const k = smallPower(ins[0], refs.get(node.inputs[1]));
    if (k) return ([x]) => powByProducts((a, b) => (ins[0] === "float64" ? m.f64 : m.f32).mul(a, b), x, k);
    const pow = powScalar(nctx, ins[0], ins[1], ins[0]);
    return (a) => pow(a.map((g) => g()));
  }
  const unary = UNARY_FORMULAS[node.op];
  if (unary?.float && (ins[0] === "float32" || ins[0] === "float64")) {
    const F = floatOps(m, ins[0] === "float64" ? "f64" : "f32", nctx);
    return ([x]) => unary.float!(F, x, nctx);
  }
  const def = BROADCAST_FORMULAS[node.op];
  return def && ((a) => def.scalar(m, ins[0], a.map((g) => g()), nctx));
}

function simdFormula(ctx: KernelCtx, node: Node, ins: DTypeName[], refs: Map<string, TensorRef>): Formula | undefined {
  const m = ctx.m;
  const nctx = nodeCtx(ctx, node);
  if (node.op === "QuantizeLinear" || node.op === "DequantizeLinear") return quantFormula(ctx, node, ins, refs, true);
  if (node.op === "Where") return (a) => whereSimd(m, a.map((g) => g()));
  if (node.op === "Clip") {
    const bounds = clipBounds(ctx, node, refs);
    const V = vecOps(m, nctx);
    return ([x]) => clampToConstants(V, x(), bounds);
  }
  if (node.op === "Cast") return ins[0] === castTarget(node) ? ([x]) => x() : undefined;
  if (node.op === "Pow") {
    const k = ins[0] === "float32" ? smallPower(ins[0], refs.get(node.inputs[1])) : undefined;
    return k && (([x]) => powByProducts((a, b) => m.f32x4.mul(a, b), x, k));
  }
  const unary = UNARY_FORMULAS[node.op];
  if (unary) {
    const V = vecOps(m, nctx);
    return unary.simd && (([x]) => unary.simd!(V, x, nctx));
  }
  const def = BROADCAST_FORMULAS[node.op];
  return def?.simd && ((a) => def.simd!(m, laneKind(ins[0]), a.map((g) => g()), nctx));
}

interface Plan {
  /** per body node: its formula, in body order; `reads` replaces the node's inputs as the formula's arguments */
  steps: { node: Node; formula: Formula; reads?: string[] }[];
}

/**
 * A DequantizeLinear reading a QuantizeLinear of the same body with the same scale and zero point
 * (a QDQ graph's fake quantization between two float ops), in f32x4 lanes from the
 * QuantizeLinear's float input: (q - zp) * s with q = clamp(nearest(x / s) + zp, lo, hi) is
 * clamp(nearest(x / s), lo - zp, hi - zp) * s, whole numbers throughout, so the same values
 * without the conversions to i32 and back (about half the instructions of the pair on x64). NaN
 * takes the integer path's value: QuantizeLinear turns it into 0, which dequantizes to -zp * s;
 * zero is +0 as there.
 */
function fakeQuantPair(ctx: KernelCtx, dq: Node, body: Node[], dtypes: Map<string, DTypeName>, refs: Map<string, TensorRef>): { formula: Formula; reads: string[] } | undefined {
  const q = body.find((n) => n.op === "QuantizeLinear" && n.outputs[0] === dq.inputs[0]);
  if (!q || dtypes.get(q.inputs[0]) !== "float32") return undefined;
  const a = quantParams(ctx, q, refs), b = quantParams(ctx, dq, refs);
  if (Math.fround(a.scale) !== Math.fround(b.scale) || a.zp !== b.zp) return undefined;
  const m = ctx.m;
  const [lo, hi] = intRange(dtypes.get(q.outputs[0])!);
  const f = (v: number) => m.f32x4.splat(m.f32.const(v));
  const { scale, zp } = a;
  const formula: Formula = ([x]) => {
    const r = ctx.fn.local(binaryen.v128);
    // + 0 makes a rounded -0 the +0 the integer path gives ((0 - zp) * s is +0 when zp is 0)
    const set = r.set(m.f32x4.add(m.f32x4.nearest(m.f32x4.div(x(), f(scale))), f(0)));
    // pmax/pmin keep a NaN first operand: NaN lanes are replaced after, where r != r
    const clamped = m.f32x4.pmin(m.f32x4.pmax(r.get(), f(lo - zp)), f(hi - zp));
    const value = m.f32x4.mul(m.v128.bitselect(clamped, f(0 - zp), m.f32x4.eq(r.get(), r.get())), f(scale));
    return m.block(null, [set, value], binaryen.v128);
  };
  return { formula, reads: [q.inputs[0]] };
}

/** Drops the steps nothing reads (a QuantizeLinear whose DequantizeLinear reads past it, fakeQuantPair), last to first. */
function pruneUnread(plan: Plan, output: string): void {
  const read = new Set([output]);
  plan.steps = plan.steps.reduceRight<Plan["steps"]>((kept, step) => {
    if (!read.has(step.node.outputs[0])) return kept;
    for (const i of step.reads ?? step.node.inputs) read.add(i);
    return [step, ...kept];
  }, []);
}

/**
 * The per-element program: external inputs into locals, then each body node's result into a local
 * (a value read twice must not be one expression node twice), the last one being the output.
 */
function evaluate(ctx: KernelCtx, names: string[], plan: Plan, vals: Expr[], vector: boolean): Expr {
  const { m, fn } = ctx;
  const locals = new Map<string, Local>();
  const stmts: Expr[] = [];
  const bindTo = (name: string, e: Expr) => {
    const l = fn.local(vector ? binaryen.v128 : binaryen.getExpressionType(e));
    stmts.push(l.set(e));
    locals.set(name, l);
    return l;
  };
  names.forEach((n, j) => bindTo(n, vals[j]));
  let last: Local | undefined;
  for (const { node, formula, reads } of plan.steps) {
    last = bindTo(node.outputs[0], formula((reads ?? node.inputs).map((i) => () => locals.get(i)!.get())));
  }
  return m.block(null, [...stmts, last!.get()], last!.type);
}

export function emitFusedElementwise(ctx: KernelCtx): void {
  const body = ctx.node.body ?? [];
  const refs = new Map<string, TensorRef>();
  ctx.node.inputs.forEach((name, i) => refs.set(name, ctx.input(i)));
  const out = ctx.output(0);
  if (body.length === 0 || body[body.length - 1].outputs[0] !== ctx.node.outputs[0]) {
    ctx.unsupported(`fused elementwise node must end with the node producing its output`);
  }
  const dtypes = new Map<string, DTypeName>([...refs].map(([n, t]) => [n, t.dtype]));
  const scalar: Plan = { steps: [] };
  const simd: Plan = { steps: [] };
  let vectorOk = true;
  for (const node of body) {
    const ins = node.inputs.map((i) => dtypes.get(i) ?? ctx.unsupported(`fused body reads ${JSON.stringify(i)}, which it neither receives nor computes`));
    const s = scalarFormula(ctx, node, ins, refs) ?? ctx.unsupported(`${node.op} on ${ins.join(", ")} cannot run in a fused elementwise loop`);
    scalar.steps.push({ node, formula: s });
    const pair = node.op === "DequantizeLinear" ? fakeQuantPair(ctx, node, body, dtypes, refs) : undefined;
    const v = pair?.formula ?? simdFormula(ctx, node, ins, refs);
    if (v) simd.steps.push({ node, formula: v, reads: pair?.reads });
    else vectorOk = false;
    dtypes.set(node.outputs[0], resultType(node, ins));
  }
  pruneUnread(simd, ctx.node.outputs[0]);
  // f32x4 lanes only when every value is float32 (bool conditions ride as 0/1 i32 lanes, 8-bit
  // quantized values as i32 lanes between their QuantizeLinear and DequantizeLinear)
  vectorOk &&= [...dtypes.values()].every((d) => d === "float32" || d === "bool" || d === "int8" || d === "uint8");
  const names = ctx.node.inputs;
  const want = wasmType(out.dtype);
  emitElementwise(ctx, {
    inputs: names.map((n) => refs.get(n)!),
    output: out,
    scalar: (vals) => {
      const e = evaluate(ctx, names, scalar, vals, false);
      if (binaryen.getExpressionType(e) !== want) ctx.unsupported(`fused body computes a different type than its output ${out.dtype}`);
      return e;
    },
    simd: vectorOk ? (vals) => evaluate(ctx, names, simd, vals, true) : undefined,
    simdWhen: () => vectorOk,
  });
}
