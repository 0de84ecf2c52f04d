// Convolution kernels (Conv, ConvTranspose). Single-group float32 layers take, in order: Winograd
// F(2x2,3x3) for stride-1 3x3 with constant weights (conv/winograd.ts), im2col + packed GEMM for
// other strided or wider windows, the packed GEMM over the image for 1x1 (conv/small.ts; over
// positions, transposed, when the image has at most 64 of them). The rest
// run as a GEMM per image and group (1x1) or as direct convolutions split into border and interior
// runs (conv/direct.ts), depthwise ones with hoisted weights (conv/depthwise.ts).
import binaryen from "binaryen";
import { slidingWindow } from "../../../compiler/ops/nn-geometry.js";
import { dtype } from "../../../runtime/dtypes.js";
import { emitDepthwise, depthwiseApplies } from "./depthwise.js";
import { depthwiseLanesPrepare, tryDepthwiseLanes } from "./depthwise-lanes.js";
import { emitDirectConv } from "./direct.js";
import { im2colPrepare, tryIm2col, tryPointwise } from "./small.js";
import { tryWinograd, winogradPrepare } from "./winograd.js";
import { gemm } from "../matmul/core.js";
import { registerKernel, type KernelCtx } from "../registry.js";
import "./transpose.js";

registerKernel("Conv", (ctx: KernelCtx) => {
  const x = ctx.input(0), w = ctx.input(1), y = ctx.output(0);
  const bias = ctx.inputs[2];
  if (y.size === 0) return;
  if (bias && bias.dtype !== y.dtype) ctx.unsupported(`bias type ${bias.dtype} differs from ${y.dtype}`);
  if (tryWinograd(ctx) || tryDepthwiseLanes(ctx) || tryIm2col(ctx) || tryPointwise(ctx)) return;
  const group = ctx.attrs.int("group", 1);
  const win = slidingWindow(ctx.attrs, x.dims.slice(2), w.dims.slice(2));
  const pointwise = win.kernel.every((k) => k === 1) && win.strides.every((s) => s === 1) &&
    win.padBegin.every((p) => p === 0) && win.padEnd.every((p) => p === 0);
  if (!pointwise) {
    const direct = { x, w, y, bias, group, win };
    if (depthwiseApplies(direct)) emitDepthwise(ctx, direct);
    else emitDirectConv(ctx, direct);
    return;
  }
  // per image and group: y[n, g] = W[g][Mg, Cg] x[n, g][Cg, HW] + bias[g]
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
  fn.emit(fn.nest([N, group], ([n, g]) => [
    wBase.set(m.i32.mul(g.get(), m.i32.const(Mg * Cg * eb))),
    bBase.set(m.i32.mul(g.get(), m.i32.const(Mg * eb))),
    xBase.set(m.i32.add(m.i32.mul(n.get(), m.i32.const(C * HW * eb)), m.i32.mul(g.get(), m.i32.const(Cg * HW * eb)))),
    yBase.set(m.i32.add(m.i32.mul(n.get(), m.i32.const(M * HW * eb)), m.i32.mul(g.get(), m.i32.const(Mg * HW * eb)))),
    ...product,
  ]));
}, {
  prepare(ctx) {
    const winograd = winogradPrepare(ctx);
    return winograd.constants ? winograd : depthwiseLanesPrepare(ctx) ?? im2colPrepare(ctx);
  },
});
