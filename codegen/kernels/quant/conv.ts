// ConvInteger and QLinearConv: a direct convolution with an exact i32 accumulator. Padding reads
// as the input's zero point, i.e. contributes nothing, so out-of-range taps are simply skipped.
import binaryen from "binaryen";
import { fillPadding, spatialVarying } from "../padding.js";
import { stridesOf } from "../../fn.js";
import { scalarOps } from "../../math/ops.js";
import { store } from "../../memory.js";
import { byteAt, elem, quantize, scaleAt, zeroPoint } from "./common.js";
import { convFrame, emitPackedConv, packConvWeights, tapAt, type ConvEpilogue, type ConvOperands } from "./conv-packed.js";
import { KernelTable, simpleVariant, variant, type KernelCtx, type KernelVariant } from "../kernel.js";
import { CONV_INTEGER_GEMM, QLINEAR_CONV_GEMM } from "./qops.js";

const table = new KernelTable();

/** out[n, oc, o...] = epilogue(sum over (c, k...) of (x - xZp) * (w - wZp[oc]), oc) */
function emitIntConv(ctx: KernelCtx, ops: ConvOperands, epilogue: ConvEpilogue): void {
  const { m, fn } = ctx;
  const { x, w } = ops;
  const out = ctx.output(0);
  const f = convFrame(ctx, ops);
  // an image whose height or width varies: the bound's code over x's padding filled with its zero point (padding.ts)
  if (spatialVarying(ctx, x)) fillPadding(ctx, x, () => zeroPoint(ctx, ops.xZp, m.i32.const(0)));
  const ws = stridesOf(w.dims);
  const acc = fn.local(binaryen.i32);
  // a symbolic batch: this run's images
  fn.emit(fn.nest([ctx.outerCount(out, out.dims[0]), ...out.dims.slice(1)], (idx) => {
    const [n, oc] = idx;
    const chan0 = () => m.i32.mul(m.i32.div_u(oc.get(), m.i32.const(f.OCg)), m.i32.const(f.Cg));
    const taps = fn.nest([f.Cg, ...f.win.kernel], ([c, ...k]) => {
      const tap = tapAt(ctx, f, n.get(), m.i32.add(chan0(), c.get()), idx.slice(2), k);
      const wi = m.i32.add(m.i32.add(m.i32.mul(oc.get(), m.i32.const(ws[0])), m.i32.mul(c.get(), m.i32.const(ws[1]))), fn.linear(k, ws.slice(2)));
      return [...tap.set, m.if(tap.inside, acc.set(m.i32.add(acc.get(), m.i32.mul(
        m.i32.sub(elem(ctx, x, tap.index), zeroPoint(ctx, ops.xZp, m.i32.const(0))),
        m.i32.sub(elem(ctx, w, wi), zeroPoint(ctx, ops.wZp, oc.get()))))))];
    });
    return [acc.set(m.i32.const(0)), taps, store(m, out.dtype, byteAt(ctx, out, fn.linear(idx, stridesOf(out.dims))), epilogue(acc.get(), oc.get), out.addr)];
  }));
}

/** where the operands are: the weights' input index, and the zero points' */
interface Operands { x: number; w: number; xZp: number; wZp: number }
const CONV_INTEGER: Operands = { x: 0, w: 1, xZp: 2, wZp: 3 };
const QLINEAR_CONV: Operands = { x: 0, w: 3, xZp: 2, wZp: 5 };

const operands = (ctx: KernelCtx, o: Operands): ConvOperands => ({ x: ctx.input(o.x), w: ctx.input(o.w), xZp: o.xZp, wZp: o.wZp });

/** (sum + bias) * (x_scale * w_scale[oc] / y_scale), rounded half to even, plus y_zero_point */
const requantize = (ctx: KernelCtx): ConvEpilogue => {
  const m = ctx.m;
  const S = scalarOps(m, "f32");
  const out = ctx.output(0);
  const bias = ctx.inputs[8];
  return (acc, oc) => {
    const sum = bias ? m.i32.add(acc, elem(ctx, bias, oc())) : acc;
    const mult = S.div(S.mul(scaleAt(ctx, ctx.input(1), m.i32.const(0), "f32"), scaleAt(ctx, ctx.input(4), oc(), "f32")), scaleAt(ctx, ctx.input(6), m.i32.const(0), "f32"));
    return quantize(ctx, "f32", S.mul(m.f32.convert_s.i32(sum), mult), zeroPoint(ctx, 7, m.i32.const(0)), out.dtype);
  };
};

/**
 * The int8 GEMM ("qgemm-pointwise", "qgemm-im2col": quant/qconv-gemm.ts) first; then "packed-lanes"
 * when the weights and their zero point are constants (packed 4 channels a lane), else "direct"
 */
function intConvFamily(name: string, op: string, o: Operands, epilogue: (ctx: KernelCtx) => ConvEpilogue, gemm: KernelVariant<any>[]): void {
  table.family(name, op, [
    ...gemm,
    variant<object>({
      name: "packed-lanes",
      plan: (layer) => (layer.input(o.w).value && (!layer.inputs[o.wZp] || layer.inputs[o.wZp]!.value) ? {} : undefined),
      prepare: (ctx) => packConvWeights(ctx, operands(ctx, o)),
      emit: (ctx) => emitPackedConv(ctx, operands(ctx, o), epilogue(ctx)),
    }),
    simpleVariant((ctx) => emitIntConv(ctx, operands(ctx, o), epilogue(ctx)), undefined, "direct"),
  ]);
}

intConvFamily("conv-integer", "ConvInteger", CONV_INTEGER, () => (acc) => acc, CONV_INTEGER_GEMM);
intConvFamily("qlinear-conv", "QLinearConv", QLINEAR_CONV, requantize, QLINEAR_CONV_GEMM);

export const KERNELS = table.families;
