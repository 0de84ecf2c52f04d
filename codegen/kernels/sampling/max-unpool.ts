// MaxUnpool: y is zeros but for y[I[e]] = x[e], e over X in row-major order, so where indices
// repeat the last such element wins (as onnxruntime and the reference). An index is a flat
// position in the whole output, N and C included (as MaxPool's Indices are); with output_shape
// the output has that shape and the indices address it (onnxruntime, PyTorch: what MaxPool's
// indices into its larger input mean). The ONNX reference instead unpools into the inferred shape
// and pads it at the end, which its node test test_maxunpool_export_with_output_shape encodes.
// An index outside [0, y.size) is reported (KernelCtx.badIndex: BAD_INPUT after the run) and
// skipped. Elements move as bytes (no conversion).
import binaryen from "binaryen";
import { dtype } from "../../../runtime/dtypes.js";
import { constant, load } from "../../memory.js";
import { rawLoad, rawStore } from "../movement/raw.js";
import { KernelTable, type KernelCtx } from "../kernel.js";

const table = new KernelTable();

table.add("MaxUnpool", (ctx: KernelCtx) => {
  const { m, fn } = ctx;
  const [x, idx, y] = [ctx.input(0), ctx.input(1), ctx.output(0)];
  const b = dtype(y.dtype).bytes;
  const given = fn.local(binaryen.i64);
  const i32 = (v: number) => m.i32.const(v);
  fn.emit(m.memory.fill(i32(y.addr), i32(0), i32(y.size * b)));
  fn.emit(fn.loop(x.size, (e) => [
    given.set(load(m, "int64", m.i32.mul(e.get(), i32(8)), idx.addr)),
    m.if(m.i64.lt_u(given.get(), constant(m, "int64", y.size)),
      rawStore(m, b, m.i32.add(i32(y.addr), m.i32.mul(m.i32.wrap(given.get()), i32(b))), rawLoad(m, b, m.i32.add(i32(x.addr), m.i32.mul(e.get(), i32(b))))),
      ctx.badIndex(() => given.get(), () => constant(m, "int64", y.size))),
  ]));
});

export const KERNELS = table.families;
