// Reduction, arg-reduction and softmax-like kernels. Every ReduceX is one row of a table: an
// identity, a combine, a map applied to each element and a finish applied to the total; the
// loop structure (and its SIMD) comes from emitRows.
import type { DTypeName } from "../../../runtime/dtypes.js";
import type { Expr } from "../../fn.js";
import { isFloat } from "../../memory.js";
import binaryen from "binaryen";
import { scalarOps, vectorOps, type Ops } from "./ops.js";
import { dense, emitRows, keptOnly, type Combine, type Kit, type Operand, type View } from "./rows.js";
import { KernelTable, type KernelCtx } from "../kernel.js";
import { reduceAxes } from "../../../compiler/ops/reduce-axes.js";
import { softmaxViewOf } from "./arg.js";

const table = new KernelTable();

interface ReduceSpec {
  combine: Combine;
  /** identity of combine, per dtype */
  init: (dt: DTypeName) => number | bigint;
  map?: (E: Ops, x: Expr) => Expr;
  finish?: (S: Ops, acc: Expr, count: () => Expr) => Expr;
  /** float-only (sqrt, log) */
  floatOnly?: boolean;
  /** defined on bool too (max is any, min is all) */
  bool?: boolean;
}

/** Lowest / highest value of each integer dtype as the compute value (unsigned all-ones is -1). */
const lowest: Partial<Record<DTypeName, number | bigint>> = { int8: -128, int16: -32768, int32: -(2 ** 31), int64: -(2n ** 63n), uint8: 0, uint16: 0, uint32: 0, uint64: 0, bool: 0 };
const highest: Partial<Record<DTypeName, number | bigint>> = { int8: 127, int16: 32767, int32: 2 ** 31 - 1, int64: 2n ** 63n - 1n, uint8: 255, uint16: 65535, uint32: -1, uint64: -1, bool: 1 };

const sum: ReduceSpec = { combine: "add", init: () => 0 };
const specs: Record<string, ReduceSpec> = {
  ReduceSum: sum,
  ReduceMean: { ...sum, finish: (S, a, n) => S.div(a, n()) },
  ReduceMax: { combine: "max", init: (dt) => (isFloat(dt) ? -Infinity : lowest[dt]!), bool: true },
  ReduceMin: { combine: "min", init: (dt) => (isFloat(dt) ? Infinity : highest[dt]!), bool: true },
  ReduceProd: { combine: "mul", init: () => 1 },
  ReduceL1: { ...sum, map: (E, x) => E.abs(x) },
  ReduceL2: { ...sum, map: (E, x) => E.mul(x, x), finish: (S, a) => S.sqrt(a), floatOnly: true },
  ReduceSumSquare: { ...sum, map: (E, x) => E.mul(x, x) },
  ReduceLogSum: { ...sum, finish: (S, a) => S.log(a), floatOnly: true },
};

const reducible = new Set<DTypeName>(["float32", "float64", "float16", "int32", "int64", "uint32", "uint64", "int8", "uint8", "int16", "uint16"]);

function reduceView(ctx: KernelCtx): { view: View; x: Operand; y: Operand } {
  const x = ctx.input(0);
  const axes = reduceAxes(ctx.node.op, ctx.opset, x.dims.length, ctx.attrs, ctx.inputs[1], (msg) => ctx.unsupported(msg));
  const view: View = { dims: x.dims, reduced: x.dims.map((_, k) => axes.includes(k)) };
  return { view, x: dense(x, view), y: keptOnly(ctx.output(0), view) };
}

function checkType(ctx: KernelCtx, floatOnly = false, bool = false): DTypeName {
  const dt = ctx.input(0).dtype;
  if (!(reducible.has(dt) || (bool && dt === "bool")) || (floatOnly && !isFloat(dt))) ctx.unsupported(`${ctx.node.op} on ${dt} is not supported`);
  return dt;
}

/**
 * Reducing leading axes of float32 ([outer, inner] -> [inner]): stream the rows in memory order,
 * combining each row into the output with f32x4 (ORT's order too). emitRows' "across" shape
 * would walk columns, touching a new cache line per element for wide rows.
 */
function emitStreaming(ctx: KernelCtx, spec: ReduceSpec, outer: number, inner: number): void {
  const { m, fn } = ctx;
  const x = ctx.input(0);
  const y = ctx.output(0);
  const V = vectorOps(m, fn, ctx.math);
  const S = scalarOps(m, fn, ctx.math, "float32");
  const row = fn.local(binaryen.i32);
  const vecEnd = inner - (inner % 4);
  // every column of y, four at a time, then the scalar tail; at() is the column's byte offset
  const columns = (f: (E: Ops, at: () => Expr) => Expr): Expr => fn.block([
    fn.loop(vecEnd, (i) => [f(V, () => m.i32.shl(i.get(), m.i32.const(2)))], { step: 4 }),
    fn.loop(inner, (i) => [f(S, () => m.i32.shl(i.get(), m.i32.const(2)))], { start: vecEnd }),
  ]);
  const yv = (E: Ops, at: () => Expr) => E.load("float32", at(), y.addr);
  fn.emit(columns((E, at) => E.store("float32", at(), y.addr, E.c(spec.init("float32")))));
  fn.emit(fn.loop(outer, (r) => [
    row.set(m.i32.mul(r.get(), m.i32.const(inner * 4))),
    columns((E, at) => {
      const v = E.load("float32", m.i32.add(row.get(), at()), x.addr);
      return E.store("float32", at(), y.addr, E[spec.combine](yv(E, at), spec.map ? spec.map(E, v) : v));
    }),
  ]));
  if (spec.finish) fn.emit(columns((E, at) => E.store("float32", at(), y.addr, spec.finish!(E, yv(E, at), () => E.c(outer)))));
}

/** [outer, inner] when axes are exactly the leading [0, a) and the rest is wide enough for lanes. */
function leadingSplit(view: View): [number, number] | undefined {
  const a = view.reduced.indexOf(false);
  if (a <= 0 || view.reduced.slice(a).some((r) => r)) return undefined;
  const outer = view.dims.slice(0, a).reduce((p, d) => p * d, 1);
  const inner = view.dims.slice(a).reduce((p, d) => p * d, 1);
  return outer >= 2 && inner >= 8 ? [outer, inner] : undefined;
}

for (const [op, spec] of Object.entries(specs)) {
  table.add(op, (ctx) => {
    const dt = checkType(ctx, spec.floatOnly, spec.bool);
    const { view, x, y } = reduceView(ctx);
    // symbolic dims take the rows' forms (emitStreaming loops over the bounds)
    const split = dt === "float32" && !ctx.symbolic ? leadingSplit(view) : undefined;
    if (split) return emitStreaming(ctx, spec, ...split);
    emitRows(ctx, dt, view, [x, y], (k) => {
      const acc = k.reduce(spec.combine, spec.init(dt), (E, get) => (spec.map ? spec.map(E, get(x)) : get(x)));
      k.put(y, spec.finish ? spec.finish(k.S, acc.get(), () => k.countOf()) : acc.get());
    });
  });
}

/** log(sum(exp(x - max))) + max: never overflows, and an empty set gives log(0) + -inf = -inf. */
table.add("ReduceLogSumExp", (ctx) => {
  const dt = checkType(ctx, true);
  const { view, x, y } = reduceView(ctx);
  emitRows(ctx, dt, view, [x, y], (k) => {
    const mx = k.reduce("max", -Infinity, (_E, get) => get(x));
    // shift by a finite max: an all -inf (or empty) set must not compute -inf - -inf, nor +inf - +inf
    const safe = k.S.local();
    k.emit(safe.set(k.S.min(k.S.max(mx.get(), k.S.c(-3.4e38)), k.S.c(3.4e38))));
    const s = k.reduce("add", 0, (E, get, stat) => E.exp(E.sub(get(x), stat(safe))));
    k.put(y, k.S.add(k.S.log(s.get()), safe.get()));
  });
});

function softmax(log: boolean) {
  return (ctx: KernelCtx) => {
    const dt = ctx.input(0).dtype;
    if (!isFloat(dt)) ctx.unsupported(`${ctx.node.op} on ${dt} is not supported`);
    const view = softmaxViewOf(ctx);
    const x = dense(ctx.input(0), view);
    const y = dense(ctx.output(0), view);
    emitRows(ctx, dt, view, [x, y], (k: Kit) => {
      const mx = k.reduce("max", -Infinity, (_E, get) => get(x));
      if (log) {
        // (x - max) - log(sum): subtracting max + log(sum) at once rounded the log away when
        // |max| is large (log(2) next to 65504 kept 0.6914 of 0.6931)
        const s = k.reduce("add", 0, (E, get, stat) => E.exp(E.sub(get(x), stat(mx))));
        const logSum = k.S.local();
        k.emit(logSum.set(k.S.log(s.get())));
        k.write(y, (E, get, stat) => E.sub(E.sub(get(x), stat(mx)), stat(logSum)));
        return;
      }
      if (ctx.output(0).dtype !== "float16") {
        // one pass stores exp(x - max) and sums it; a second scales by 1/sum
        const s = k.reduce("add", 0, (E, get, stat) => E.exp(E.sub(get(x), stat(mx))), y);
        const inv = k.S.local();
        k.emit(inv.set(k.S.div(k.S.c(1), s.get())));
        k.write(y, (E, get, stat) => E.mul(get(y), stat(inv)));
        return;
      }
      const s = k.reduce("add", 0, (E, get, stat) => E.exp(E.sub(get(x), stat(mx))));
      k.write(y, (E, get, stat) => E.div(E.exp(E.sub(get(x), stat(mx))), stat(s)));
    });
  };
}

table.add("Softmax", softmax(false));
table.add("LogSoftmax", softmax(true));

export const KERNELS = table.families;
