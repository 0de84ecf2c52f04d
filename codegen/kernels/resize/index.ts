// Resize / Upsample kernels: nearest, (multi)linear and cubic. Each output loop level computes its axis'
// source coordinate once (in f64, in the ONNX reference's operation order, so nearest-mode ties round
// the same way), and only axes whose map is not the identity take part. The innermost axis' taps
// (offsets and weights) are the same for every row: they are computed once per run into a table in
// scratch (each thread its own), by the same code, and read back in the loop over the row.
import binaryen from "binaryen";
import { resizeInputSlots, resizePlan, type ResizePlan } from "../../../compiler/ops/nn-resize.js";
import { dtype } from "../../../runtime/dtypes.js";
import { stridesOf, type Expr, type Local, type Trips } from "../../fn.js";
import { constant, load, store, wasmType } from "../../memory.js";
import { KernelTable, type KernelCtx } from "../kernel.js";
import { threadScratch, threadShare } from "../../threads.js";
import { copyBytes } from "../movement/view.js";
import { fillEdges } from "../padding.js";
import { evalDim } from "../../../runtime/dims.js";

const table = new KernelTable();

/** Source coordinate (f64) of output position l along one axis. */
function sourceCoord(m: binaryen.Module, plan: ResizePlan, a: number, inLen: number, l: Expr): Expr {
  const f = (v: number) => m.f64.const(v);
  const x = m.f64.convert_u.i32(l);
  // the reference measures the resized axis as in * scale, not the rounded output size
  const scale = plan.scales[a], outLen = inLen * scale;
  const halfPixel = () => m.f64.sub(m.f64.div(m.f64.add(x, f(0.5)), f(scale)), f(0.5));
  switch (plan.coord) {
    case "half_pixel": return halfPixel();
    case "half_pixel_symmetric": {
      const adjustment = plan.out[a] / outLen;
      const offset = (inLen / 2) * (1 - adjustment);
      return m.f64.add(f(offset), halfPixel());
    }
    case "pytorch_half_pixel": return outLen > 1 ? halfPixel() : f(0);
    case "align_corners": return outLen === 1 ? f(0) : m.f64.div(m.f64.mul(x, f(inLen - 1)), f(outLen - 1));
    case "asymmetric": return m.f64.div(x, f(scale));
    case "tf_half_pixel_for_nn": return m.f64.div(m.f64.add(x, f(0.5)), f(scale));
    case "tf_crop_and_resize": {
      const [start, end] = plan.roi[a];
      return outLen > 1 ? m.f64.add(f(start * (inLen - 1)), m.f64.div(m.f64.mul(m.f64.mul(x, f(end - start)), f(inLen - 1)), f(outLen - 1)))
        : f(0.5 * (start + end) * (inLen - 1));
    }
    default: throw new Error(`unknown coordinate_transformation_mode ${plan.coord}`);
  }
}

/** Nearest source index (i32, unclamped) from a source coordinate held in local c. */
function nearestIndex(m: binaryen.Module, plan: ResizePlan, a: number, c: Local): Expr {
  const rounded = (() => {
    switch (plan.nearest) {
      case "round_prefer_floor": return m.f64.ceil(m.f64.sub(c.get(), m.f64.const(0.5)));
      case "round_prefer_ceil": return m.f64.floor(m.f64.add(c.get(), m.f64.const(0.5)));
      case "floor": return m.f64.floor(c.get());
      case "ceil": return m.f64.ceil(c.get());
      // Upsample and Resize-10: truncate when upsampling, round up when downsampling (as onnxruntime)
      case "legacy": return plan.scales[a] < 1 ? m.f64.ceil(c.get()) : m.f64.trunc(c.get());
      default: throw new Error(`unknown nearest_mode ${plan.nearest}`);
    }
  })();
  return m.i32.trunc_s_sat.f64(rounded);
}

const clamp = (m: binaryen.Module, e: Local, hi: number) =>
  m.select(m.i32.lt_s(e.get(), m.i32.const(0)), m.i32.const(0), m.select(m.i32.gt_s(e.get(), m.i32.const(hi)), m.i32.const(hi), e.get()));

/** What prepare and emit both need: the plan, which axes it moves, and each axis' interpolation taps. */
function resizeLayout(ctx: KernelCtx) {
  const x = ctx.input(0), y = ctx.output(0);
  const slots = resizeInputSlots(ctx.node.op, ctx.opset);
  const constInput = (i?: number) => (i === undefined || !ctx.inputs[i] || ctx.inputs[i]!.size === 0 ? undefined : ctx.input(i).value);
  const plan = resizePlan(ctx.attrs, ctx.node.op, ctx.opset, x.dims, { roi: constInput(slots.roi), scales: constInput(slots.scales), sizes: constInput(slots.sizes) },
    (msg) => ctx.unsupported(msg), (msg) => ctx.unsupported(msg));
  const interp = plan.mode !== "nearest";
  const crop = plan.coord === "tf_crop_and_resize";
  const active = x.dims.map((len, a) => plan.out[a] !== len || plan.scales[a] !== 1 || crop || plan.coord === "tf_half_pixel_for_nn");
  // Interpolation taps per axis: offsets `first`..first+n-1 from floor(coordinate), weighted by the
  // kernel at distance (offset - ratio) * scale; antialias (downsampling only) stretches the kernel
  // over 1/scale as much input, as the ONNX reference does.
  const kernels = x.dims.map((_, a) => {
    if (!active[a] || !interp) return { n: 1, first: 0, scale: 1 };
    const scale = plan.antialias ? Math.min(plan.scales[a], 1) : 1;
    const reach = plan.mode === "linear" ? 1 : 2;
    const first = Math.floor(-reach / scale) + 1;
    return { n: 2 - 2 * first, first, scale };
  });
  const last = x.dims.length - 1;
  // the table: per output position of the innermost axis, its taps' weights (f64), byte offsets
  // (i32) and "outside the crop" (i32), 8-aligned; none where that axis is copied as it is
  const n = kernels[last]?.n ?? 1;
  const entryBytes = active[last] && y.dims[last] > 1 ? Math.ceil((12 * n + 4) / 8) * 8 : 0;
  return { plan, interp, crop, active, kernels, taps: kernels.map((k) => k.n), entryBytes, tableBytes: entryBytes * y.dims[last] };
}

function emitResize(ctx: KernelCtx): void {
  const { m, fn } = ctx;
  const x = ctx.input(0), y = ctx.output(0);
  if (y.size === 0) return;
  const { plan, interp, crop, active, kernels, taps, entryBytes } = resizeLayout(ctx);
  const dt = x.dtype, eb = dtype(dt).bytes, t = wasmType(dt);
  if (interp && t !== binaryen.f32 && t !== binaryen.f64) ctx.unsupported(`${plan.mode} Resize on ${dt}`);
  const rank = x.dims.length;
  const inStr = stridesOf(x.dims), outStr = stridesOf(y.dims);
  const coord = fn.local(binaryen.f64), base = fn.local(binaryen.i32), ratio = fn.local(binaryen.f64), total = fn.local(binaryen.f64);
  const dist = fn.local(binaryen.f64), pos = fn.local(binaryen.i32);
  // per axis and tap: byte offset and weight; per axis: "outside the crop"
  const idx = taps.map((n) => Array.from({ length: n }, () => fn.local(binaryen.i32)));
  const wt = taps.map((n) => Array.from({ length: n }, () => fn.local(binaryen.f64)));
  const outside = x.dims.map(() => fn.local(binaryen.i32));
  const f = (v: number) => m.f64.const(v);
  const A = plan.cubicA;
  const d = () => dist.get();
  // Keys' cubic kernel on |d| in [0, 1] and [1, 2]; the triangle for linear
  const near = () => m.f64.add(m.f64.mul(m.f64.mul(m.f64.sub(m.f64.mul(f(A + 2), d()), f(A + 3)), d()), d()), f(1));
  const far = () => m.f64.sub(m.f64.mul(m.f64.add(m.f64.mul(m.f64.sub(m.f64.mul(f(A), d()), f(5 * A)), d()), f(8 * A)), d()), f(4 * A));
  const kernelAt = (): Expr => plan.mode === "linear" ? m.f64.max(f(0), m.f64.sub(f(1), d()))
    : m.select(m.f64.lt(d(), f(1)), near(), m.select(m.f64.lt(d(), f(2)), far(), f(0)));
  const normalize = plan.antialias || plan.excludeOutside;

  const axisSetup = (a: number, l: Local): Expr[] => {
    const len = x.dims[a];
    const byteStride = inStr[a] * eb;
    const bytes = (e: Expr) => m.i32.mul(e, m.i32.const(byteStride));
    if (!active[a]) return [idx[a][0].set(bytes(l.get()))];
    const code: Expr[] = [coord.set(sourceCoord(m, plan, a, len, l.get()))];
    if (crop) code.push(outside[a].set(m.i32.or(m.f64.lt(coord.get(), f(0)), m.f64.gt(coord.get(), f(len - 1)))));
    if (taps[a] === 1) {
      code.push(base.set(nearestIndex(m, plan, a, coord)), idx[a][0].set(bytes(clamp(m, base, len - 1))));
      return code;
    }
    const k = kernels[a];
    code.push(
      base.set(m.i32.trunc_s_sat.f64(m.f64.floor(coord.get()))),
      ratio.set(m.f64.sub(coord.get(), m.f64.convert_s.i32(base.get()))),
    );
    // neighbours outside the input repeat the edge, or weigh 0 with exclude_outside
    for (let i = 0; i < k.n; i++) {
      code.push(
        dist.set(m.f64.abs(m.f64.mul(m.f64.sub(f(k.first + i), ratio.get()), f(k.scale)))),
        wt[a][i].set(kernelAt()),
        pos.set(m.i32.add(base.get(), m.i32.const(k.first + i))),
      );
      if (plan.excludeOutside) {
        code.push(m.if(m.i32.or(m.i32.lt_s(pos.get(), m.i32.const(0)), m.i32.gt_s(pos.get(), m.i32.const(len - 1))), wt[a][i].set(f(0))));
      }
      code.push(idx[a][i].set(bytes(clamp(m, pos, len - 1))));
    }
    if (normalize) {
      code.push(total.set(wt[a].map((w) => w.get()).reduce((p, q) => m.f64.add(p, q))));
      for (const w of wt[a]) code.push(w.set(m.f64.div(w.get(), total.get())));
    }
    return code;
  };

  const ops = t === binaryen.f64 ? m.f64 : m.f32;
  const weight = (w: Local) => (t === binaryen.f64 ? w.get() : m.f32.demote(w.get()));
  /** the interpolated value: a weighted sum over every combination of one neighbour per axis */
  const value = (): Expr => {
    let sum: Expr | undefined;
    const combos = taps.reduce<number[][]>((acc, n) => acc.flatMap((c) => Array.from({ length: n }, (_, i) => [...c, i])), [[]]);
    for (const pick of combos) {
      let e = load(m, dt, pick.map((i, a) => idx[a][i].get()).reduce((p, q) => m.i32.add(p, q)), x.addr);
      pick.forEach((i, a) => { if (taps[a] > 1) e = ops.mul(e, weight(wt[a][i])); });
      sum = sum === undefined ? e : ops.add(sum, e);
    }
    return sum!;
  };

  // symbolic dims (the padded layout: strides at the bounds): an axis not resized (scale 1, as a
  // batch, or DETR's mask [1, batch, H, W]) runs this run's extent; so does an axis it resizes (an
  // image whose height or width varies) where each
  // output's source coordinate is a function of the output's position and a scale the same at
  // every value (the coordinate modes that do not measure the axis; the scale checked on the
  // dims' expressions), and x's padding holds copies of the run's edge (padding.ts fillEdges):
  // a tap past the run's last element, which a module pinned there clamps to it, reads its copy.
  const varying = y.dims.map((_, a) => ctx.runtimeDim(y, a));
  const lengthFree = ["asymmetric", "half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn"].includes(plan.coord) && !plan.excludeOutside;
  let edges = false;
  varying.forEach((v, a) => {
    if (v === undefined) return;
    const xe = ctx.symbolic!.dims.get(x.name)?.[a], ye = ctx.symbolic!.dims.get(y.name)![a];
    const scaled = xe !== undefined && typeof xe !== "number" && typeof ye !== "number" && ye.length === xe.length && ye.every((term, j) => term[0] === xe[j][0] * plan.scales[a] && term.slice(1).join() === xe[j].slice(1).join()) &&
      // pytorch_half_pixel maps an axis resized to one element to 0: never within the bounds
      (plan.coord !== "pytorch_half_pixel" || evalDim(ye, ctx.symbolic!.symbols.map((s) => s.min)) > 1);
    if (active[a] ? !(lengthFree && scaled) : ctx.runtimeDim(x, a) === undefined) {
      ctx.unsupported(`Resize runs a symbolic dim along an axis it resizes only where the source coordinate does not measure the axis (coordinate_transformation_mode asymmetric, half_pixel, pytorch_half_pixel or tf_half_pixel_for_nn, no exclude_outside) by a scale the same at every value (axis ${a} of ${JSON.stringify(y.name)} varies, mode ${plan.coord}); ${ctx.pinHintOf(y, a)}`);
    }
    // taps past the run's edge: interpolation's, nearest rounding up (down from 0 never passes it)
    if (active[a] && (interp || !(plan.coord === "asymmetric" && (plan.nearest === "floor" || plan.nearest === "legacy")))) edges = true;
  });
  // as many copies of the edge as a tap reaches past it (1 for linear and nearest, 2 for cubic, more when antialiasing stretches the kernel)
  if (edges) fillEdges(ctx, x, Math.max(1, ...kernels.map((k) => k.first + k.n - 1)));
  const tripsOf = (a: number): Trips => (varying[a] !== undefined ? () => ctx.runtimeDim(y, a)! : y.dims[a]);
  const o: Local[] = [];
  // threads: the outermost axis of more than one output position shared out (each element
  // computed as on one thread)
  const splitAxis = y.dims.findIndex((len) => len > 1);
  const threads = splitAxis >= 0 ? ctx.splitAmong() : undefined;
  const last = rank - 1;
  const row = fn.local(binaryen.i32);
  const n = taps[last];
  if (entryBytes) {
    // the innermost axis' taps, once for every row: this thread's table
    fn.emit(fn.trips(y.dims[last], (l) => [
      ...axisSetup(last, l),
      row.set(m.i32.add(threadScratch(m, threads, ctx.scratchAddr), m.i32.mul(l.get(), m.i32.const(entryBytes)))),
      ...wt[last].map((w, i) => m.f64.store(8 * i, 8, row.get(), w.get())),
      ...idx[last].map((p, i) => m.i32.store(8 * n + 4 * i, 4, row.get(), p.get())),
      ...(crop ? [m.i32.store(12 * n, 4, row.get(), outside[last].get())] : []),
    ]));
  }
  /** the innermost level's setup read back from the table */
  const fromTable = (l: Local): Expr[] => [
    row.set(m.i32.add(threadScratch(m, threads, ctx.scratchAddr), m.i32.mul(l.get(), m.i32.const(entryBytes)))),
    ...(taps[last] > 1 ? wt[last].map((w, i) => w.set(m.f64.load(8 * i, 8, row.get()))) : []),
    ...idx[last].map((p, i) => p.set(m.i32.load(8 * n + 4 * i, 4, row.get()))),
    ...(crop ? [outside[last].set(m.i32.load(12 * n, 4, row.get()))] : []),
  ];
  // nearest: an output slab along axis a (every inner axis) whose source index is the previous
  // slab's is that slab again (upsampling repeats rows): copied, not computed again; with threads,
  // never along the axis they share out, where the previous slab may be another thread's
  const repeats = (a: number) => !interp && !crop && active[a] && (!threads || a > splitAxis) && a < last;
  const prev = x.dims.map((_, a) => (repeats(a) ? fn.local(binaryen.i32) : undefined));
  const nest = (a: number): Expr[] => {
    if (a === rank) {
      const yp = fn.linear(o, outStr.map((s) => s * eb));
      const v = crop ? m.select(outside.filter((_, b) => active[b]).map((l) => l.get()).reduce((p, q) => m.i32.or(p, q)), constant(m, dt, plan.extrapolation), value()) : value();
      return [store(m, dt, yp, v, y.addr)];
    }
    const level = (l: Local) => {
      o[a] = l;
      const setup = a === last && entryBytes ? fromTable(l) : axisSetup(a, l);
      const p = prev[a];
      if (!p) return [...setup, ...nest(a + 1)];
      const slab = outStr[a] * eb;
      const at = (base: number) => m.i32.add(m.i32.const(base), fn.linear(o.slice(0, a + 1), outStr.slice(0, a + 1).map((st) => st * eb)));
      const again = copyBytes(fn, at(y.addr), at(y.addr - slab), slab);
      return [...setup, m.if(m.i32.eq(idx[a][0].get(), p.get()), again, fn.block(nest(a + 1))), p.set(idx[a][0].get())];
    };
    const trips = tripsOf(a);
    const p = prev[a];
    if (p) return [p.set(m.i32.const(-1)), fn.trips(trips, level)];
    if (a === splitAxis && threads) {
      const share = threadShare(m, threads, trips);
      return [fn.loopDyn(share.lo, share.hi, level)];
    }
    return [fn.trips(trips, level)];
  };
  fn.emit(...nest(0));
}

table.add(["Resize", "Upsample"], emitResize, {
  prepare: (ctx) => {
    const { tableBytes } = resizeLayout(ctx);
    return tableBytes ? { scratchBytes: tableBytes } : {};
  },
});

export const KERNELS = table.families;
