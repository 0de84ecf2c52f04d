// Comparisons (bool out), logical and bitwise ops, BitShift and Where, all with numpy broadcasting.
import binaryen from "binaryen";
import { dtype } from "../../../runtime/dtypes.js";
import type { Expr } from "../../fn.js";
import { emitElementwise } from "../loops.js";
import { anyLanes, bind, i64, BroadcastTable, laneOp, maskToBool, scalarOps } from "./ops.js";
import { KernelTable } from "../kernel.js";

const broadcast = new BroadcastTable();

const table = new KernelTable();

const comparisons = { Equal: "eq", Less: "lt", Greater: "gt", LessOrEqual: "le", GreaterOrEqual: "ge" } as const;

for (const [op, name] of Object.entries(comparisons)) {
  broadcast.define(op, {
    scalar: (m, dt, [a, b]) => scalarOps(m, dt).op(name)(a, b),
    simd: (m, kind, [a, b]) => maskToBool(m, laneOp(m, kind, name)(a, b)),
    simdWhen: anyLanes,
  });
}

// Bool logic and integer bitwise ops are the same instructions on the compute type.
const bitwise = { And: "and", Or: "or", Xor: "xor", BitwiseAnd: "and", BitwiseOr: "or", BitwiseXor: "xor" } as const;

for (const [op, name] of Object.entries(bitwise)) {
  broadcast.define(op, {
    scalar: (m, dt, [a, b]) => scalarOps(m, dt).op(name)(a, b),
    simd: (m, _k, [a, b]) => m.v128[name](a, b),
    simdWhen: anyLanes,
  });
}

// BitShift on unsigned ints; a shift by the bit width or more gives 0 (C leaves it undefined,
// wasm would shift by the count modulo the width).
broadcast.define("BitShift", {
  scalar: (m, dt, [x0, y0], ctx) => {
    const ops = scalarOps(m, dt);
    const left = ctx.attrs.string("direction") === "LEFT";
    if (!left && ctx.attrs.string("direction") !== "RIGHT") ctx.unsupported(`BitShift direction must be LEFT or RIGHT`);
    const bits = dtype(dt).bytes * 8;
    const width = ops.t === binaryen.i64 ? i64(m, bits) : m.i32.const(bits);
    return bind(ctx, [x0, y0], [ops.t, ops.t], ([x, y]) =>
      m.select(ops.op("ge")(y(), width), ops.zero(), ops.op(left ? "shl" : "shr")(x(), y())));
  },
});

// Where(cond, X, Y): X and Y set the dtype; the condition is bool.
export const whereScalar = (m: binaryen.Module, [cv, xv, yv]: Expr[]): Expr => m.select(cv, xv, yv);
export const whereSimd = (m: binaryen.Module, [cv, xv, yv]: Expr[]): Expr =>
  m.v128.bitselect(xv, yv, m.i32x4.ne(cv, m.i32x4.splat(m.i32.const(0))));

table.add("Where", (ctx) => {
  const m = ctx.m;
  const [c, x, y] = [ctx.input(0), ctx.input(1), ctx.input(2)];
  emitElementwise(ctx, {
    inputs: [c, x, y],
    output: ctx.output(0),
    scalar: (v) => whereScalar(m, v),
    simd: (v) => whereSimd(m, v),
    simdWhen: anyLanes,
  });
});

export const LOGIC_FORMULAS = broadcast.formulas;
export const KERNELS = [...broadcast.kernels(), ...table.families];
