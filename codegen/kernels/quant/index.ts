// DynamicQuantizeLinear, and the family's other kernel files (QuantizeLinear / DequantizeLinear
// in linear.ts; the quantized MatMul and Conv in matmul.ts and conv.ts, listed on their own).
import binaryen from "binaryen";
import { scalarOps } from "../../math/ops.js";
import { store } from "../../memory.js";
import { KernelTable } from "../kernel.js";
import { elem, quantize } from "./common.js";
import { KERNELS as LINEAR } from "./linear.js";

// other families read tensors through these
export { byteAt, elem, quantize, scaleAt, zeroPoint } from "./common.js";

const table = new KernelTable();

// uint8 over [min(0, x), max(0, x)]: scale = range / 255, zero point = round(-min / scale).
// A zero range takes scale 1 (as onnxruntime), so an all-zero input quantizes to zeros, not NaN.
table.add("DynamicQuantizeLinear", (ctx) => {
  const { m, fn } = ctx;
  const x = ctx.input(0);
  const [y, yScale, yZp] = [ctx.output(0), ctx.output(1), ctx.output(2)];
  const S = scalarOps(m, "f32");
  const [lo, hi, scale, zp] = [fn.local(binaryen.f32), fn.local(binaryen.f32), fn.local(binaryen.f32), fn.local(binaryen.i32)];
  fn.emit(lo.set(S.c(0)), hi.set(S.c(0)));
  fn.emit(fn.loop(x.size, (i) => {
    const v = fn.local(binaryen.f32);
    return [v.set(elem(ctx, x, i.get())), lo.set(S.min(lo.get(), v.get())), hi.set(S.max(hi.get(), v.get()))];
  }));
  fn.emit(scale.set(m.select(S.eq(lo.get(), hi.get()), S.c(1), S.div(S.sub(hi.get(), lo.get()), S.c(255)))));
  fn.emit(zp.set(quantize(ctx, "f32", S.div(S.neg(lo.get()), scale.get()), m.i32.const(0), "uint8")));
  fn.emit(fn.loop(x.size, (i) => [
    store(m, "uint8", i.get(), quantize(ctx, "f32", S.div(elem(ctx, x, i.get()), scale.get()), zp.get(), "uint8"), y.addr),
  ]));
  fn.emit(store(m, "float32", m.i32.const(0), scale.get(), yScale.addr), store(m, "uint8", m.i32.const(0), zp.get(), yZp.addr));
});

export const KERNELS = [...LINEAR, ...table.families];
