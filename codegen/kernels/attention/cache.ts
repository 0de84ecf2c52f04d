// TensorScatter (opset 24), a KV cache's update: present = past, then for each batch entry b and
// each row block before the axis, the update's `seq` rows land at positions w[b] .. w[b] + seq - 1
// along the axis (linear: one contiguous run of bytes), or at those positions modulo the cache's
// length (circular: at most two runs, the second wrapping to position 0). With symbolic dims the
// update's length may vary: this run's rows are read from its padded layout.
//
// write_indices are run-time values: a negative one, or in linear mode one whose rows would run
// past the cache, is reported (KernelCtx.badIndex: BAD_INPUT after the run, as onnxruntime fails)
// with the first position outside the cache, and that batch entry's update is skipped, so nothing
// is written outside the output.
import binaryen from "binaryen";
import { dtype } from "../../../runtime/dtypes.js";
import { tensorScatterGeometry } from "../../../compiler/ops/attention-cache.js";
import type { Expr, Local } from "../../fn.js";
import { constant } from "../../memory.js";
import { emitCopy } from "../movement/index.js";
import { copyBytes } from "../movement/view.js";
import type { KernelCtx } from "../kernel.js";

export function emitTensorScatter(ctx: KernelCtx): void {
  const { m, fn } = ctx;
  const [past, update, out] = [ctx.input(0), ctx.input(1), ctx.output(0)];
  const wi = ctx.inputs[2];
  const g = tensorScatterGeometry(ctx.attrs.string("mode", "linear"), ctx.attrs.int("axis", -2), past.dims, update.dims, wi?.dims, (msg) => ctx.unsupported(msg));
  // symbolic dims: the update's length may vary (a prompt's tokens, then one per step; its rows
  // padded to the bound's), the cache's shape may not
  const varying = ctx.symbolic?.dims.get(update.name);
  if ([past, out, wi].some((t) => t && ctx.symbolic?.dims.get(t.name)) || varying?.some((d, k) => k !== g.axis && typeof d !== "number")) {
    ctx.unsupported("TensorScatter over symbolic dims takes only a varying update length (the cache's dims fixed); pin the others (--shape NAME=N)");
  }
  const seq = (): Expr => (varying ? ctx.runtimeDim(update, g.axis)! : m.i32.const(g.seq));
  emitCopy(ctx, past, out);
  if (!g.seq || !g.row || !g.batch || !g.perBatch) return;
  const rowBytes = (g.row * dtype(past.dtype).bits) / 8;
  const [w, start, first] = [fn.local(binaryen.i64), fn.local(binaryen.i32), fn.local(binaryen.i32)];
  const [dst, src] = [fn.local(binaryen.i32), fn.local(binaryen.i32)];
  const max = () => constant(m, "int64", g.maxSeq);
  // this block's rows: the cache's from position 0, the update's (at the bound's stride)
  const block = (b: Local, q: Local): Expr[] => {
    const k = () => m.i32.add(m.i32.mul(b.get(), m.i32.const(g.perBatch)), q.get());
    return [
      dst.set(m.i32.add(m.i32.const(out.addr), m.i32.mul(k(), m.i32.const(g.maxSeq * rowBytes)))),
      src.set(m.i32.add(m.i32.const(update.addr), m.i32.mul(k(), m.i32.const(g.seq * rowBytes)))),
    ];
  };
  const at = (base: Local, rows: Expr) => m.i32.add(base.get(), m.i32.mul(rows, m.i32.const(rowBytes)));
  // linear: w in [0, maxSeq - seq]; circular: w >= 0 (unsigned compares take negatives as huge)
  const ok = g.circular ? m.i64.ge_s(w.get(), m.i64.const(0)) : m.i64.le_u(w.get(), m.i64.extend_u(m.i32.sub(m.i32.const(g.maxSeq), seq())));
  // the first position outside the cache: w itself when negative or past the end, else the end
  const firstBad = () => m.select(m.i64.lt_s(w.get(), m.i64.const(0)), w.get(), m.select(m.i64.gt_s(w.get(), max()), w.get(), max()));
  const write = (b: Local): Expr => fn.loop(g.perBatch, (q) => [
    ...block(b, q),
    ...(g.circular
      ? [
        // rows start .. start + first - 1, then the rest from position 0
        m.memory.copy(at(dst, start.get()), src.get(), m.i32.mul(first.get(), m.i32.const(rowBytes))),
        m.memory.copy(dst.get(), at(src, first.get()), m.i32.mul(m.i32.sub(seq(), first.get()), m.i32.const(rowBytes))),
      ]
      : [varying
        ? m.memory.copy(at(dst, m.i32.wrap(w.get())), src.get(), m.i32.mul(seq(), m.i32.const(rowBytes)))
        : copyBytes(fn, at(dst, m.i32.wrap(w.get())), src.get(), g.seq * rowBytes)]),
  ]);
  fn.emit(fn.loop(g.batch, (b) => [
    w.set(wi ? m.i64.load(wi.addr, 8, m.i32.mul(b.get(), m.i32.const(8))) : m.i64.const(0)),
    m.if(ok, m.block(null, [
      ...(g.circular
        ? [
          start.set(m.i32.wrap(m.i64.rem_u(w.get(), max()))),
          first.set(m.select(m.i32.lt_u(seq(), m.i32.sub(m.i32.const(g.maxSeq), start.get())), seq(), m.i32.sub(m.i32.const(g.maxSeq), start.get()))),
        ]
        : []),
      write(b),
    ]), ctx.badIndex(firstBad, max)),
  ]));
}
