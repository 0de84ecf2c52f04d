// Normalization kernels. Each is a view (which axes the statistics run over) plus a body over
// emitRows: reduce the mean (and variance), then write every element; per-channel parameters
// are operands broadcast onto the view by strides.
import type { DTypeName } from "../../../runtime/dtypes.js";
import type { Local } from "../../fn.js";
import { isFloat } from "../../memory.js";
import { dense, emitRows, keptOnly, viewStrides, type Kit, type Operand, type View } from "../reduce/rows.js";
import { KernelTable, type KernelCtx, type TensorRef } from "../kernel.js";
import { spatialVarying } from "../padding.js";

const table = new KernelTable();

export function floatType(ctx: KernelCtx): DTypeName {
  const dt = ctx.input(0).dtype;
  if (!isFloat(dt)) ctx.unsupported(`${ctx.node.op} on ${dt} is not supported`);
  for (const t of [...ctx.inputs, ...ctx.outputs]) {
    if (t && !isFloat(t.dtype)) ctx.unsupported(`${ctx.node.op} with a ${t.dtype} operand is not supported`);
  }
  return dt;
}

/** A parameter tensor laid onto view dims with explicit strides (0 = broadcast). */
const param = (t: TensorRef, strides: number[]): Operand => ({ t, strides });
/** a per-channel parameter's strides over a view whose dim 1 is the channels */
const alongChannels = (view: View): number[] => view.dims.map((_, k) => (k === 1 ? 1 : 0));

/**
 * mean and 1/sqrt(var + eps) of x over the reduced axes, in one pass: sums of d = x - x0 and d^2,
 * where x0 is the row's first element. Shifting by a sample keeps E[d^2] - E[d]^2 free of the
 * cancellation the unshifted formula suffers when |mean| >> std, and keeps f32 lane sums small.
 * An infinite or NaN first element shifts by 0 instead (x - inf would make the mean of
 * [-inf, 1, 2] NaN, not -inf).
 */
export function moments(k: Kit, x: Operand, eps: number, stdPlusEps = false) {
  const S = k.S;
  // this run's count where a reduced dim varies (an image's height or width)
  const n = () => k.countOf();
  const shift = S.local();
  k.emit(shift.set(k.first(x)));
  k.emit(shift.set(S.whereEqual(S.sub(shift.get(), shift.get()), S.c(0), shift.get(), S.c(0))));
  const [sum, sq] = k.reduceAll([
    { combine: "add", init: 0, map: (E, get, stat) => E.sub(get(x), stat(shift)) },
    { combine: "add", init: 0, map: (E, get, stat) => { const d = E.local(); return E.mul(d.tee(E.sub(get(x), stat(shift))), d.get()); } },
  ]);
  const dm = S.local();
  k.emit(dm.set(S.div(sum.get(), n())));
  const mean = S.local();
  k.emit(mean.set(S.add(shift.get(), dm.get())));
  const variance = S.local();
  k.emit(variance.set(S.max(S.sub(S.div(sq.get(), n()), S.mul(dm.get(), dm.get())), S.c(0))));
  const inv = S.local();
  const v = () => variance.get();
  // MeanVarianceNormalization divides by sqrt(var) + eps; the others by sqrt(var + eps)
  k.emit(inv.set(S.div(S.c(1), stdPlusEps ? S.add(S.sqrt(v()), S.c(eps)) : S.sqrt(S.add(v(), S.c(eps))))));
  return { mean, inv, variance };
}

/** y = (x - mean) * inv * scale (+ bias) */
function normalize(k: Kit, x: Operand, y: Operand, mean: Local, inv: Local, scale?: Operand, bias?: Operand): void {
  k.write(y, (E, get, stat) => {
    let v = E.mul(E.sub(get(x), stat(mean)), stat(inv));
    if (scale) v = E.mul(v, get(scale));
    if (bias) v = E.add(v, get(bias));
    return v;
  });
}

/** The axis attribute (default -1) as a non-negative axis. */
export function axisOf(ctx: KernelCtx): number {
  const r = ctx.input(0).dims.length;
  const axis = ctx.attrs.int("axis", -1);
  return axis < 0 ? axis + r : axis;
}

/** LayerNormalization / RMSNormalization: statistics over [axis, rank), scale broadcast onto it. */
function trailing(ctx: KernelCtx) {
  const X = ctx.input(0);
  const axis = axisOf(ctx);
  const view: View = { dims: X.dims, reduced: X.dims.map((_, k) => k >= axis) };
  const onto = (t: TensorRef) => param(t, viewStrides(t.dims, X.dims));
  return { dt: floatType(ctx), view, x: dense(X, view), y: dense(ctx.output(0), view), scale: onto(ctx.input(1)), onto };
}

/** Y, Mean, InvStdDev over axes [axis, rank). */
table.add("LayerNormalization", (ctx) => {
  const { dt, view, x, y, scale, onto } = trailing(ctx);
  const bias = ctx.inputs[2] && onto(ctx.inputs[2]);
  const extra = [1, 2].map((i) => ctx.outputs[i] && keptOnly(ctx.outputs[i]!, view));
  const ops = [x, y, scale, ...(bias ? [bias] : []), ...extra.filter((o): o is Operand => !!o)];
  emitRows(ctx, dt, view, ops, (k) => {
    const { mean, inv } = moments(k, x, ctx.attrs.float("epsilon", 1e-5));
    normalize(k, x, y, mean, inv, scale, bias);
    if (extra[0]) k.put(extra[0], mean.get());
    if (extra[1]) k.put(extra[1], inv.get());
  });
});

/** y = x / sqrt(mean(x^2) + eps) * scale over axes [axis, rank). */
table.add("RMSNormalization", (ctx) => {
  const { dt, view, x, y, scale } = trailing(ctx);
  const eps = ctx.attrs.float("epsilon", 1e-5);
  emitRows(ctx, dt, view, [x, y, scale], (k) => {
    const S = k.S;
    const sq = k.reduce("add", 0, (E, get) => E.mul(get(x), get(x)));
    const inv = S.local();
    k.emit(inv.set(S.div(S.c(1), S.sqrt(S.add(S.div(sq.get(), k.countOf()), S.c(eps))))));
    k.write(y, (E, get, stat) => E.mul(E.mul(get(x), stat(inv)), get(scale)));
  });
});

/** Statistics per (n, c) over the spatial dims; scale and bias per channel. */
table.add("InstanceNormalization", (ctx) => {
  const dt = floatType(ctx);
  const X = ctx.input(0);
  const [N, C] = X.dims;
  const hw = X.dims.slice(2).reduce((a, b) => a * b, 1);
  // an image whose height or width varies (the padded layout): each spatial dim its own loop
  const view: View = spatialVarying(ctx, X) ? { dims: X.dims, reduced: X.dims.map((_, k) => k >= 2) } : { dims: [N, C, hw], reduced: [false, false, true] };
  const x = dense(X, view);
  const y = dense(ctx.output(0), view);
  const scale = param(ctx.input(1), alongChannels(view));
  const bias = param(ctx.input(2), alongChannels(view));
  emitRows(ctx, dt, view, [x, y, scale, bias], (k) => {
    const { mean, inv } = moments(k, x, ctx.attrs.float("epsilon", 1e-5));
    normalize(k, x, y, mean, inv, scale, bias);
  });
});

/** Statistics per (n, group); scale and bias per group (opset 18) or per channel (opset 21). */
table.add("GroupNormalization", (ctx) => {
  const dt = floatType(ctx);
  const X = ctx.input(0);
  const [N, C] = X.dims;
  const G = ctx.attrs.int("num_groups");
  if (G <= 0 || C % G !== 0) ctx.unsupported(`num_groups ${G} does not divide ${C} channels`);
  const hw = X.dims.slice(2).reduce((a, b) => a * b, 1);
  // an image whose height or width varies (the padded layout): each spatial dim its own loop
  const spatial = spatialVarying(ctx, X) ? X.dims.slice(2) : [hw];
  const view: View = { dims: [N, G, C / G, ...spatial], reduced: [false, false, true, ...spatial.map(() => true)] };
  const perChannel = ctx.input(1).size === C && !(ctx.opset < 21 && C !== G);
  const ps = perChannel ? [0, C / G, 1, ...spatial.map(() => 0)] : [0, 1, 0, ...spatial.map(() => 0)];
  const x = dense(X, view);
  const y = dense(ctx.output(0), view);
  const scale = param(ctx.input(1), ps);
  const bias = param(ctx.input(2), ps);
  emitRows(ctx, dt, view, [x, y, scale, bias], (k) => {
    const { mean, inv } = moments(k, x, ctx.attrs.float("epsilon", 1e-5));
    normalize(k, x, y, mean, inv, scale, bias);
  });
});

/**
 * BatchNormalization: inference is a per-channel affine map with the given statistics; training
 * mode normalizes with the batch's own statistics (over N and the spatial dims) and also returns
 * the updated running mean and variance.
 */
table.add("BatchNormalization", (ctx) => {
  const dt = floatType(ctx);
  const X = ctx.input(0);
  const N = X.dims[0] ?? 1;
  const C = X.dims[1] ?? 1;
  const hw = X.dims.slice(2).reduce((a, b) => a * b, 1);
  const training = ctx.attrs.int("training_mode", 0) === 1;
  // an image whose height or width varies (the padded layout): each spatial dim its own loop
  const spatial = !training && spatialVarying(ctx, X);
  const view: View = spatial ? { dims: X.dims, reduced: X.dims.map(() => false) } : { dims: [N, C, hw], reduced: [training, false, training] };
  const x = dense(X, view);
  const y = dense(ctx.output(0), view);
  const [scale, bias, mean, v] = [1, 2, 3, 4].map((i) => param(ctx.input(i), alongChannels(view)));
  const eps = ctx.attrs.float("epsilon", 1e-5);
  if (!training) {
    // (x - mean) times scale / sqrt(var + eps), as onnxruntime and the Conv folding do: dividing
    // first overflowed to inf for x near the float32 limit where the result is finite
    emitRows(ctx, dt, view, [x, y, scale, bias, mean, v], (k) => {
      k.write(y, (E, get) => E.add(E.mul(E.sub(get(x), get(mean)), E.div(get(scale), E.sqrt(E.add(get(v), E.c(eps))))), get(bias)));
    });
    return;
  }
  const momentum = ctx.attrs.float("momentum", 0.9);
  const [runMean, runVar] = [1, 2].map((i) => ctx.outputs[i] && keptOnly(ctx.outputs[i]!, view));
  const ops = [x, y, scale, bias, mean, v, ...[runMean, runVar].filter((o): o is Operand => !!o)];
  emitRows(ctx, dt, view, ops, (k) => {
    const S = k.S;
    const stats = moments(k, x, eps);
    normalize(k, x, y, stats.mean, stats.inv, scale, bias);
    const blend = (old: Operand, cur: Local) => S.add(S.mul(k.first(old), S.c(momentum)), S.mul(cur.get(), S.c(1 - momentum)));
    if (runMean) k.put(runMean, blend(mean, stats.mean));
    if (runVar) k.put(runVar, blend(v, stats.variance));
  });
});

/** MeanVarianceNormalization over `axes` (default N, H, W). */
table.add("MeanVarianceNormalization", (ctx) => {
  const dt = floatType(ctx);
  const X = ctx.input(0);
  const r = X.dims.length;
  const axes = ctx.attrs.ints("axes", [0, 2, 3]).map((a) => (a < 0 ? a + r : a));
  const view: View = { dims: X.dims, reduced: X.dims.map((_, k) => axes.includes(k)) };
  const x = dense(X, view);
  const y = dense(ctx.output(0), view);
  emitRows(ctx, dt, view, [x, y], (k) => {
    const { mean, inv } = moments(k, x, 1e-9, true);
    normalize(k, x, y, mean, inv);
  });
});

export const KERNELS = table.families;
