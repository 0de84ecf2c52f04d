// The Conv family: its variants in the order they are tried. A layer takes the first whose plan
// accepts it (KILN_KERNELS can force or forbid variants):
//   empty               an output with no elements
//   winograd-f4x4/f2x2  stride-1 3x3 float32 with constant weights (conv/winograd.ts)
//   depthwise-lanes     depthwise on small images, channels in lanes (conv/depthwise-lanes.ts)
//   im2col-positions    the im2col GEMM over positions, for few of them (conv/small.ts)
//   im2col-gemm         the im2col GEMM for strided or wider windows, grouped layers, stems
//   pointwise-positions 1x1 as the GEMM over few positions, transposed
//   pointwise-gemm      1x1 as the packed GEMM over the image in place, per group
//   grouped-gemm        1x1 of any group count and dtype (float64, int32, tiny layers): the generic GEMM per image and group
//   depthwise-rows      depthwise float32 with hoisted weights along rows (conv/depthwise.ts)
//   direct              any Conv: border and interior runs (conv/direct.ts)
import binaryen from "binaryen";
import { slidingWindow, type Window } from "../../../compiler/ops/nn-geometry.js";
import { dtype } from "../../../runtime/dtypes.js";
import { emitDepthwise, depthwiseApplies } from "./depthwise.js";
import { DEPTHWISE_LANES } from "./depthwise-lanes.js";
import { emitDirectConv } from "./direct.js";
import { IM2COL_GEMM, IM2COL_POSITIONS, POINTWISE_GEMM, POINTWISE_POSITIONS } from "./small.js";
import { WINOGRAD_F2, WINOGRAD_F4 } from "./winograd.js";
import { gemm } from "../matmul/core.js";
import { KernelTable, variant, type KernelCtx, type KernelVariant, type LayerCtx } from "../kernel.js";
import { zeroPadded } from "../padding.js";

const table = new KernelTable();

interface Generic {
  group: number;
  win: Window;
}

/** the window and group count, after the checks every generic variant needs */
function generic(layer: LayerCtx): Generic {
  const x = layer.input(0), w = layer.input(1), y = layer.output(0), bias = layer.inputs[2];
  if (bias && bias.dtype !== y.dtype) layer.unsupported(`bias type ${bias.dtype} differs from ${y.dtype}`);
  return { group: layer.attrs.int("group", 1), win: slidingWindow(layer.attrs, x.dims.slice(2), w.dims.slice(2)) };
}

const isPointwise = (win: Window) => win.kernel.every((k) => k === 1) && win.strides.every((s) => s === 1) &&
  win.padBegin.every((p) => p === 0) && win.padEnd.every((p) => p === 0);

const EMPTY = variant<object>({
  name: "empty",
  plan: (layer) => (layer.output(0).size === 0 ? {} : undefined),
  emit: () => {},
});

/** per image and group: y[n, g] = W[g][Mg, Cg] x[n, g][Cg, HW] + bias[g] */
const GROUPED_GEMM = variant<Generic>({
  name: "grouped-gemm",
  plan: (layer) => {
    const g = generic(layer);
    return isPointwise(g.win) ? g : undefined;
  },
  emit: (ctx, { group }) => {
    const x = ctx.input(0), w = ctx.input(1), y = ctx.output(0), bias = ctx.inputs[2];
    const [N, C] = x.dims, M = y.dims[1];
    const Cg = C / group, Mg = M / group;
    const HW = x.dims.slice(2).reduce((a, b) => a * b, 1); // not x.size / (N * C): C may be 0
    const eb = dtype(y.dtype).bytes;
    const { m, fn } = ctx;
    const wBase = fn.local(binaryen.i32), xBase = fn.local(binaryen.i32), yBase = fn.local(binaryen.i32), bBase = fn.local(binaryen.i32);
    const product = gemm(fn, {
      dtype: y.dtype, M: Mg, N: HW, K: Cg,
      a: { addr: w.addr, base: wBase, rs: Cg, cs: 1 },
      b: { addr: x.addr, base: xBase, rs: HW, cs: 1 },
      c: { addr: y.addr, base: yBase, rs: HW, cs: 1 },
      bias: bias ? { addr: bias.addr, base: bBase, rs: 1, cs: 0, dtype: bias.dtype, beta: 1 } : undefined,
      post: ctx.epilogue,
    });
    fn.emit(fn.nest([ctx.outerCount(x, N), group], ([n, g]) => [
      wBase.set(m.i32.mul(g.get(), m.i32.const(Mg * Cg * eb))),
      bBase.set(m.i32.mul(g.get(), m.i32.const(Mg * eb))),
      xBase.set(m.i32.add(m.i32.mul(n.get(), m.i32.const(C * HW * eb)), m.i32.mul(g.get(), m.i32.const(Cg * HW * eb)))),
      yBase.set(m.i32.add(m.i32.mul(n.get(), m.i32.const(M * HW * eb)), m.i32.mul(g.get(), m.i32.const(Mg * HW * eb)))),
      ...product,
    ]));
  },
});

/** the direct kernel's view of the layer */
const direct = (ctx: KernelCtx, { group, win }: Generic) =>
  ({ x: ctx.input(0), w: ctx.input(1), y: ctx.output(0), bias: ctx.inputs[2], group, win });

const DEPTHWISE_ROWS = variant<Generic>({
  name: "depthwise-rows",
  plan: (layer) => {
    const g = generic(layer);
    return depthwiseApplies({ x: layer.input(0), y: layer.output(0), group: g.group, win: g.win }) ? g : undefined;
  },
  emit: (ctx, g) => emitDepthwise(ctx, direct(ctx, g)),
});

const DIRECT = variant<Generic>({
  name: "direct",
  plan: generic,
  emit: (ctx, g) => emitDirectConv(ctx, direct(ctx, g)),
});

// every variant runs over an image whose height or width varies as the bound's (padding.ts)
table.family("conv", "Conv", [
  EMPTY, WINOGRAD_F4, WINOGRAD_F2, DEPTHWISE_LANES, IM2COL_POSITIONS, IM2COL_GEMM, POINTWISE_POSITIONS, POINTWISE_GEMM,
  GROUPED_GEMM, DEPTHWISE_ROWS, DIRECT,
].map((v) => zeroPadded<unknown>(v, ([POINTWISE_POSITIONS, POINTWISE_GEMM, GROUPED_GEMM] as KernelVariant<unknown>[]).includes(v))));

export const KERNELS = table.families;
