// TreeEnsemble (ai.onnx.ml opset 5): per row, each tree walked from its root through the node
// tables (compiler/ops/tree-ensemble.ts, placed as constants: feature, mode, split, the two paths,
// missing-goes-true and the set members' range per node; target and weight per leaf), each leaf's
// weight aggregated into its target: SUM, AVERAGE (each weight divided by the trees' count, as the
// reference adds them), MIN or MAX (from the dtype's largest and smallest finite values). The
// comparisons are the node's mode in X's dtype; a NaN feature takes the true path where the node
// says missing values do, else whatever its comparison gives (false but for NEQ). post_transform
// NONE, SOFTMAX, LOGISTIC and SOFTMAX_ZERO as onnxruntime applies them.
import binaryen from "binaryen";
import { KernelTable, type KernelCtx } from "../kernel.js";
import { treeTables, type TreeTables } from "../../../compiler/ops/tree-ensemble.js";
import type { Expr } from "../../fn.js";

const table = new KernelTable();
const i32s = (xs: number[]) => new Uint8Array(Int32Array.from(xs).buffer);

function tables(ctx: KernelCtx): TreeTables {
  const t = treeTables(ctx.attrs, ctx.input(0).dims[1]);
  if (typeof t === "string") throw new Error(t); // the shape rule refused it already
  return t;
}

table.add("TreeEnsemble", (ctx) => {
  const { m, fn } = ctx;
  const [x, y] = [ctx.input(0), ctx.output(0)];
  const t = tables(ctx);
  const wide = x.dtype === "float64";
  const F = wide ? m.f64 : m.f32;
  const w = wide ? 8 : 4;
  const [N, features] = x.dims;
  const [cFeature, cMode, cSplit, cTrue, cFalse, cMissing, cStart, cEnd, cMembers, cTarget, cWeight, cRoots] = ctx.constantAddrs;
  const i32 = (v: number) => m.i32.const(v);
  const at = (base: number, k: Expr, bytes: number) => m.i32.add(i32(base), m.i32.mul(k, i32(bytes)));
  const int = (base: number, k: Expr) => m.i32.load(0, 4, at(base, k, 4));
  const real = (base: number, k: Expr) => F.load(0, w, at(base, k, w));
  const [ref, node, lo, hi, go, tid] = Array.from({ length: 6 }, () => fn.local(binaryen.i32));
  const [v, s, acc] = [fn.local(wide ? binaryen.f64 : binaryen.f32), fn.local(wide ? binaryen.f64 : binaryen.f32), fn.local(wide ? binaryen.f64 : binaryen.f32)];
  const [walk, step] = [fn.label("X"), fn.label()];
  const out = (row: Expr, target: Expr) => m.i32.add(i32(y.addr), m.i32.mul(m.i32.add(m.i32.mul(row, i32(t.targets)), target), i32(w)));
  const big = wide ? Number.MAX_VALUE : 3.4028234663852886e38;
  const init = [0, 0, big, -big][t.aggregate];
  const cmp = (mode: number): Expr => {
    switch (mode) {
      case 0: return F.le(v.get(), s.get());
      case 1: return F.lt(v.get(), s.get());
      case 2: return F.ge(v.get(), s.get());
      case 3: return F.gt(v.get(), s.get());
      case 4: return F.eq(v.get(), s.get());
      case 5: return F.ne(v.get(), s.get());
      default: {
        // set membership: any member equal
        const [found, seek] = [fn.label("X"), fn.label()];
        return m.block(found, [
          lo.set(int(cStart, node.get())), hi.set(int(cEnd, node.get())),
          m.loop(seek, fn.block([
            m.drop(m.br(found, m.i32.ge_u(lo.get(), hi.get()), i32(0))),
            m.drop(m.br(found, F.eq(v.get(), real(cMembers, lo.get())), i32(1))),
            lo.set(m.i32.add(lo.get(), i32(1))),
            m.br(seek),
          ])),
          i32(0),
        ], binaryen.i32);
      }
    }
  };
  // the node's comparison: the one every node has, known at compile time (a converter's forest is
  // all LEQ), else chosen by a branch chain over the modes the forest has
  const modes = [...new Set(t.mode)].sort((a, b) => a - b);
  const mode = fn.local(binaryen.i32);
  const compare = (): Expr => {
    if (modes.length === 1) return cmp(modes[0]);
    let e: Expr = cmp(modes[modes.length - 1]);
    for (const k of modes.slice(0, -1).reverse()) e = m.if(m.i32.eq(mode.get(), i32(k)), cmp(k), e);
    return m.block(null, [mode.set(int(cMode, node.get())), e], binaryen.i32);
  };
  fn.emit(fn.loop(N, (row) => [
    ...Array.from({ length: t.targets }, (_, k) => F.store(0, w, out(row.get(), i32(k)), F.const(init))),
    fn.loop(t.roots.length, (tree) => [
      ref.set(int(cRoots, tree.get())),
      m.block(walk, [m.loop(step, fn.block([
        m.br(walk, m.i32.lt_s(ref.get(), i32(0))),
        node.set(ref.get()),
        v.set(F.load(0, w, m.i32.add(i32(x.addr), m.i32.mul(m.i32.add(m.i32.mul(row.get(), i32(features)), int(cFeature, node.get())), i32(w))))),
        s.set(real(cSplit, node.get())),
        go.set(m.i32.or(m.i32.and(F.ne(v.get(), v.get()), int(cMissing, node.get())), compare())),
        ref.set(m.select(go.get(), int(cTrue, node.get()), int(cFalse, node.get()))),
        m.br(step),
      ]))]),
      // the leaf: -1 - ref
      tid.set(int(cTarget, m.i32.sub(i32(-1), ref.get()))),
      acc.set(real(cWeight, m.i32.sub(i32(-1), ref.get()))),
      ...(t.aggregate === 0 ? [acc.set(F.div(acc.get(), F.const(t.roots.length)))] : []),
      F.store(0, w, out(row.get(), tid.get()),
        t.aggregate <= 1 ? F.add(F.load(0, w, out(row.get(), tid.get())), acc.get())
          : t.aggregate === 2 ? F.min(F.load(0, w, out(row.get(), tid.get())), acc.get()) : F.max(F.load(0, w, out(row.get(), tid.get())), acc.get())),
    ]),
    ...postTransform(ctx, t, (k) => out(row.get(), i32(k)), F, w),
  ]));
}, {
  prepare: (ctx) => {
    const t = tables(ctx);
    const reals = (xs: number[]) => (ctx.input(0).dtype === "float64" ? new Uint8Array(Float64Array.from(xs).buffer) : new Uint8Array(Float32Array.from(xs).buffer));
    // (an empty table, no set members, still takes a place)
    const nonEmpty = (b: Uint8Array) => (b.length ? b : new Uint8Array(8));
    return {
      constants: [i32s(t.feature), i32s(t.mode), reals(t.split), i32s(t.truePath), i32s(t.falsePath), i32s(t.missingTrue), i32s(t.memberStart), i32s(t.memberEnd), reals(t.members), i32s(t.leafTarget), reals(t.leafWeight), i32s(t.roots)].map(nonEmpty),
    };
  },
  domain: "ai.onnx.ml",
});

/**
 * post_transform over a row's targets, as onnxruntime computes it (the reference leaves it out):
 * SOFTMAX (exp of each less the row's max, over their sum), LOGISTIC (1 / (1 + exp(-|x|)), 1 less
 * that for x < 0), SOFTMAX_ZERO (a value within 1e-7 of 0 scaled by exp(-max) instead, the others as
 * SOFTMAX over their own sum). PROBIT is refused by the shape rule.
 */
function postTransform(ctx: KernelCtx, t: TreeTables, at: (k: number) => Expr, F: binaryen.Module["f32"] | binaryen.Module["f64"], w: number): Expr[] {
  const { m, fn } = ctx;
  const p = w === 8 ? "f64" : "f32";
  const exp = (e: Expr) => ctx.math.call("exp", p, e);
  const load = (k: number) => F.load(0, w, at(k));
  const put = (k: number, e: Expr) => F.store(0, w, at(k), e);
  const ks = Array.from({ length: t.targets }, (_, k) => k);
  const type = w === 8 ? binaryen.f64 : binaryen.f32;
  const [mx, sum, v] = [fn.local(type), fn.local(type), fn.local(type)];
  switch (t.postTransform) {
    case 0: return [];
    case 2: return ks.flatMap((k) => [
      v.set(F.div(F.const(1), F.add(F.const(1), exp(F.neg(F.abs(load(k))))))),
      put(k, m.select(F.lt(load(k), F.const(0)), F.sub(F.const(1), v.get()), v.get())),
    ]);
    case 1: case 3: {
      const zero = (e: () => Expr) => m.i32.and(F.le(e(), F.const(1e-7)), F.ge(e(), F.const(-1e-7)));
      return [
        mx.set(load(0)),
        ...ks.slice(1).map((k) => mx.set(m.select(F.gt(load(k), mx.get()), load(k), mx.get()))),
        sum.set(F.const(0)),
        ...ks.flatMap((k) => t.postTransform === 1
          ? [put(k, exp(F.sub(load(k), mx.get()))), sum.set(F.add(sum.get(), load(k)))]
          : [m.if(zero(() => load(k)), put(k, F.mul(load(k), exp(F.neg(mx.get())))), fn.block([put(k, exp(F.sub(load(k), mx.get()))), sum.set(F.add(sum.get(), load(k)))]))]),
        ...ks.map((k) => put(k, F.div(load(k), sum.get()))),
      ];
    }
    default: throw new Error(`post_transform ${t.postTransform}`); // refused by the shape rule
  }
}

export const KERNELS = table.families;
