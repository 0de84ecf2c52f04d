// kiln.quant LookupTable (made by passes/fuse-qdq-lut.ts): each byte of X indexes a 256-entry
// table. Four bytes per step: one i32 load of X, four table loads, one i32 store of Y.
import { QUANT_LUT_DOMAIN } from "../../../compiler/ops/quant-lut.js";
import binaryen from "binaryen";
import { KernelTable } from "../kernel.js";

const table = new KernelTable();

table.add("LookupTable", (ctx) => {
  const { m, fn } = ctx;
  const x = ctx.input(0), t = ctx.input(1), y = ctx.output(0);
  // symbolic dims: x and y share one padded layout, so the whole slot maps (the padding's bytes
  // too, never read as values)
  ctx.readsPadded();
  const entry = (byte: binaryen.ExpressionRef) => m.i32.load8_u(t.addr, 1, byte);
  const n4 = x.size - (x.size % 4);
  if (n4 > 0) {
    const w = fn.local(binaryen.i32);
    const byte = (k: number) => m.i32.and(k ? m.i32.shr_u(w.get(), m.i32.const(8 * k)) : w.get(), m.i32.const(255));
    fn.emit(fn.loop(n4, (i) => [
      w.set(m.i32.load(x.addr, 1, i.get())),
      m.i32.store(y.addr, 1, i.get(), m.i32.or(
        m.i32.or(entry(byte(0)), m.i32.shl(entry(byte(1)), m.i32.const(8))),
        m.i32.or(m.i32.shl(entry(byte(2)), m.i32.const(16)), m.i32.shl(entry(byte(3)), m.i32.const(24))))),
    ], { step: 4 }));
  }
  fn.emit(fn.loop(x.size, (i) => [m.i32.store8(y.addr, 1, i.get(), entry(m.i32.load8_u(x.addr, 1, i.get())))], { start: n4 }));
}, { domain: QUANT_LUT_DOMAIN });

export const KERNELS = table.families;
