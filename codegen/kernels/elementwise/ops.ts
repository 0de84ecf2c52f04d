// Typed scalar and 4-lane instruction tables for the elementwise families: one place that picks
// f32/f64/i32/i64 and the signed/unsigned variant of an instruction for a dtype.
import binaryen from "binaryen";
import { dtype, type DTypeName } from "../../../runtime/dtypes.js";
import type { Expr } from "../../fn.js";
import { isFloat, wasmType } from "../../memory.js";
import { i64 as libI64 } from "../../math/lib.js";
import { emitElementwise } from "../loops.js";
import { KernelTable, type KernelCtx, type KernelFamily } from "../kernel.js";


export type Bin = (a: Expr, b: Expr) => Expr;
type Group = Record<string, Bin>;

const signedOps = ["lt", "le", "gt", "ge", "div", "rem", "shr"];

/** Scalar instructions of a dtype's compute type; comparisons, div, rem and shr pick _s/_u by the dtype. */
export function scalarOps(m: binaryen.Module, dt: DTypeName) {
  const t = wasmType(dt);
  const g = (t === binaryen.f32 ? m.f32 : t === binaryen.f64 ? m.f64 : t === binaryen.i64 ? m.i64 : m.i32) as unknown as Group;
  const float = isFloat(dt);
  const suffix = dtype(dt).signed && dt !== "bool" ? "_s" : "_u";
  const op = (name: string): Bin => {
    const full = float ? name : signedOps.includes(name) ? name + suffix : name;
    const f = g[full];
    if (!f) throw new Error(`no ${full} for ${dt}`);
    return (a, b) => f(a, b);
  };
  return {
    t, float, op,
    zero: () => (t === binaryen.f32 ? m.f32.const(0) : t === binaryen.f64 ? m.f64.const(0) : t === binaryen.i64 ? i64(m, 0) : m.i32.const(0)),
  };
}

export type LaneKind = "f32" | "s32" | "u32";

/** How a dtype's 4 lanes compute: f32x4 for float32, i32x4 signed or unsigned for the rest. */
export function laneKind(dt: DTypeName): LaneKind {
  return dt === "float32" ? "f32" : dtype(dt).signed ? "s32" : "u32";
}

/** A 4-lane instruction for a lane kind: float names (lt, max) map to i32x4's _s/_u forms. */
export function laneOp(m: binaryen.Module, kind: LaneKind, name: string): Bin {
  const g = (kind === "f32" ? m.f32x4 : m.i32x4) as unknown as Group;
  const suffix = kind === "s32" ? "_s" : "_u";
  const full = kind === "f32" || !["lt", "le", "gt", "ge", "min", "max"].includes(name) ? name : name + suffix;
  const f = g[full];
  if (!f) throw new Error(`no ${kind} lane op ${full}`);
  return (a, b) => f(a, b);
}

/** -1/0 lane masks to the 0/1 lanes of bool */
export const maskToBool = (m: binaryen.Module, mask: Expr): Expr => m.i32x4.neg(mask);

export interface BroadcastOp {
  /** scalar form in the compute type of `dt` (the first input's dtype) */
  scalar: (m: binaryen.Module, dt: DTypeName, v: Expr[], ctx: KernelCtx) => Expr;
  /** 4-lane form for lane kind `kind` of the first input */
  simd?: (m: binaryen.Module, kind: LaneKind, v: Expr[], ctx: KernelCtx) => Expr;
  /** the operand dtypes (inputs then output) the SIMD form handles; default: all float32 */
  simdWhen?: (dtypes: DTypeName[]) => boolean;
}

/** A file's broadcasting ops by name: their kernels, and the formulas fused elementwise kernels reuse. */
export class BroadcastTable {
  readonly formulas: Record<string, BroadcastOp> = {};

  define(op: string | string[], def: BroadcastOp): void {
    for (const o of Array.isArray(op) ? op : [op]) this.formulas[o] = def;
  }

  /** one kernel per op, over every input of the node */
  kernels(): KernelFamily[] {
    const table = new KernelTable();
    for (const [op, def] of Object.entries(this.formulas)) table.add(op, (ctx) => broadcastKernel(ctx, def));
    return table.families;
  }
}

function broadcastKernel(ctx: KernelCtx, def: BroadcastOp): void {
  const inputs = ctx.inputs.filter((t) => t !== undefined).map((t) => t!);
  const dt = inputs[0].dtype;
  emitElementwise(ctx, {
    inputs,
    output: ctx.output(0),
    scalar: (v) => def.scalar(ctx.m, dt, v, ctx),
    simd: def.simd && ((v) => def.simd!(ctx.m, laneKind(dt), v, ctx)),
    simdWhen: def.simdWhen,
  });
}

/** simdWhen for ops whose lane form is right for every lane dtype (the loop still skips 64-bit and float16) */
export const anyLanes = () => true;

/**
 * Evaluate `vals` once into fresh locals of `types`, then build `body` from reads of them: a value
 * used twice (select, Where-like masks) must not be the same expression node twice.
 */
export function bind(ctx: KernelCtx, vals: Expr[], types: binaryen.Type[], body: (get: (() => Expr)[]) => Expr): Expr {
  const locals = vals.map((_, k) => ctx.fn.local(types[k]));
  return ctx.m.block(null, [...locals.map((l, k) => l.set(vals[k])), body(locals.map((l) => () => l.get()))], binaryen.auto);
}

/** An i64 constant from a number or bigint. */
export const i64 = (m: binaryen.Module, v: number | bigint): Expr => libI64(m, BigInt(v));
