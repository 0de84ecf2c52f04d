// NonMaxSuppression, as onnxruntime and the ONNX reference run it. Per batch and class: the boxes
// whose score is over score_threshold (every box when it is absent) are candidates, taken best
// first (higher score; on a tie the lower box index) from a max-heap in scratch memory; a
// candidate is kept unless its IoU with a box already kept for this class is over iou_threshold,
// until max_output_boxes_per_class are kept. The rows [batch, class, box] go out in that order.
// Their count is the output's data-dependent dim (kernels/counts.ts): the runtime gives the
// output that many rows. IoU in float32 with the reference's tests (an empty intersection, area or union
// suppresses nothing); corners in either order (center_point_box 0) or centres and sizes (1).
import binaryen from "binaryen";
import type { Expr, Local } from "../../fn.js";
import { constant } from "../../memory.js";
import { KernelTable, type KernelCtx } from "../kernel.js";
import { writeCount } from "../counts.js";
import { Heap } from "../heap.js";

const table = new KernelTable();

table.add("NonMaxSuppression", (ctx) => {
  const { m, fn } = ctx;
  const [boxes, scores, out] = [ctx.input(0), ctx.input(1), ctx.output(0)];
  const [maxOut, iouIn, scoreIn] = [ctx.inputs[2], ctx.inputs[3], ctx.inputs[4]];
  const i32 = (v: number) => m.i32.const(v);
  // the dims at the bounds give the strides (the padded layout); a varying one is this run's extent
  const [B, N] = [boxes.dims[0], boxes.dims[1]];
  const C = scores.dims[1];
  const varying = (t: typeof boxes, k: number, bound: number) => () => ctx.runtimeDim(t, k) ?? i32(bound);
  const [nB, nC, nN] = [varying(boxes, 0, B), varying(scores, 1, C), varying(boxes, 1, N)];
  const [b, c, j, count, kept, cands, limit] = Array.from({ length: 7 }, () => fn.local(binaryen.i32));
  const [iou, thr] = [fn.local(binaryen.f32), fn.local(binaryen.f32)];
  const heap = new Heap(fn, ctx.scratchAddr);
  const cand = (k: Expr) => heap.get(k);
  // each kept box's extents and area (x0, x1, y0, y1, area: KEPT_BYTES), computed once as it is kept
  const keptAt = (k: Expr) => m.i32.add(i32(ctx.scratchAddr + 4 * N), m.i32.mul(k, i32(KEPT_BYTES)));
  const score = (box: Expr) =>
    m.f32.load(0, 4, m.i32.add(i32(scores.addr), m.i32.shl(m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(b.get(), i32(C)), c.get()), i32(N)), box), i32(2))));
  /** candidate boxes x before y: a higher score, or the same and a lower index */
  const before = (x: () => Expr, y: () => Expr) =>
    m.i32.or(m.f32.gt(score(x()), score(y())), m.i32.and(m.f32.eq(score(x()), score(y())), m.i32.lt_u(x(), y())));
  const box = boxGeometry(ctx, iou);
  const [top, root] = [fn.local(binaryen.i32), fn.local(binaryen.i32)];
  const sel = fn.local(binaryen.i32);
  const [pop, next, compared, each] = [fn.label("X"), fn.label(), fn.label("X"), fn.label()];
  const rowAt = (k: number) => m.i32.add(i32(out.addr + 8 * k), m.i32.mul(count.get(), i32(24)));
  // max_output_boxes_per_class: absent or empty 0 (none kept), negative 0, capped by the boxes
  const perClass = maxOut && maxOut.size
    ? m.select(m.i64.lt_s(m.i64.load(0, 8, i32(maxOut.addr)), constant(m, "int64", 0)), i32(0),
      m.select(m.i64.lt_s(m.i64.load(0, 8, i32(maxOut.addr)), m.i64.extend_u(nN())), m.i32.wrap(m.i64.load(0, 8, i32(maxOut.addr))), nN()))
    : i32(0);
  fn.emit(count.set(i32(0)));
  fn.emit(limit.set(perClass));
  fn.emit(iou.set(iouIn && iouIn.size ? m.f32.load(0, 4, i32(iouIn.addr)) : m.f32.const(0)));
  const filtered = !!scoreIn && scoreIn.size > 0;
  if (filtered) fn.emit(thr.set(m.f32.load(0, 4, i32(scoreIn!.addr))));
  fn.emit(fn.loopDyn(i32(0), nB(), (bb) => [b.set(bb.get()), fn.loopDyn(i32(0), nC(), (cc) => [
    c.set(cc.get()),
    // the candidates, then the heap over them
    cands.set(i32(0)),
    fn.loopDyn(i32(0), nN(), (ii) => [
      m.if(filtered ? m.f32.gt(score(ii.get()), thr.get()) : i32(1), m.block(null, [
        heap.set(cands.get(), ii.get()),
        cands.set(m.i32.add(cands.get(), i32(1))),
      ])),
    ]),
    heap.heapify(cands, before),
    kept.set(i32(0)),
    m.block(pop, [m.loop(next, fn.block([
      m.br(pop, m.i32.or(m.i32.eqz(cands.get()), m.i32.ge_u(kept.get(), limit.get()))),
      top.set(cand(i32(0))),
      cands.set(m.i32.sub(cands.get(), i32(1))),
      heap.set(i32(0), cand(cands.get())),
      root.set(i32(0)),
      heap.siftDown(root, () => cands.get(), before),
      ...box.load(() => m.i32.add(m.i32.mul(b.get(), i32(N)), top.get())),
      sel.set(i32(1)),
      j.set(i32(0)),
      m.block(compared, [m.loop(each, fn.block([
        m.br(compared, m.i32.ge_u(j.get(), kept.get())),
        m.if(box.suppressedBy(keptAt(j.get())), m.block(null, [sel.set(i32(0)), m.br(compared)])),
        j.set(m.i32.add(j.get(), i32(1))),
        m.br(each),
      ]))]),
      m.if(sel.get(), m.block(null, [
        box.store(keptAt(kept.get())),
        kept.set(m.i32.add(kept.get(), i32(1))),
        m.i64.store(0, 8, rowAt(0), m.i64.extend_u(b.get())),
        m.i64.store(0, 8, rowAt(1), m.i64.extend_u(c.get())),
        m.i64.store(0, 8, rowAt(2), m.i64.extend_u(top.get())),
        count.set(m.i32.add(count.get(), i32(1))),
      ])),
      m.br(next),
    ]))]),
  ])]));
  fn.emit(writeCount(ctx, count.get()));
}, { prepare: (ctx) => ({ scratchBytes: (4 + KEPT_BYTES) * ctx.input(0).dims[1] }) });

/** bytes of a kept box's record: its x extent, y extent and area, float32 each */
const KEPT_BYTES = 20;

/**
 * The candidate's geometry, loaded once per candidate (`load`, its index among all boxes, batch
 * included), tested against each kept box's record (`suppressedBy`: IoU over the threshold, with
 * the reference's early outs: no overlap, or an empty area or union, suppresses nothing) and
 * stored as a record once kept (`store`).
 */
function boxGeometry(ctx: KernelCtx, threshold: Local) {
  const { m, fn } = ctx;
  const boxes = ctx.input(0);
  const centred = ctx.attrs.int("center_point_box", 0) === 1;
  const [x0, x1, y0, y1, area, lo, hi, ix, iy, inter, other, uni] = Array.from({ length: 12 }, () => fn.local(binaryen.f32));
  const at = (box: () => Expr, k: number) => m.f32.load(4 * k, 4, m.i32.add(m.i32.const(boxes.addr), m.i32.shl(box(), m.i32.const(4))));
  const half = (box: () => Expr, k: number) => m.f32.div(at(box, k), m.f32.const(2));
  const zero = () => m.f32.const(0);
  const field = (rec: Expr, k: number) => m.f32.load(4 * k, 4, rec);
  const rec = fn.local(binaryen.i32);
  return {
    load: (box: () => Expr): Expr[] => [
      ...(centred
        ? [x0.set(m.f32.sub(at(box, 0), half(box, 2))), x1.set(m.f32.add(at(box, 0), half(box, 2))), y0.set(m.f32.sub(at(box, 1), half(box, 3))), y1.set(m.f32.add(at(box, 1), half(box, 3)))]
        // [y1, x1, y2, x2], either corner first
        : [x0.set(m.f32.min(at(box, 1), at(box, 3))), x1.set(m.f32.max(at(box, 1), at(box, 3))), y0.set(m.f32.min(at(box, 0), at(box, 2))), y1.set(m.f32.max(at(box, 0), at(box, 2)))]),
      area.set(m.f32.mul(m.f32.sub(x1.get(), x0.get()), m.f32.sub(y1.get(), y0.get()))),
    ],
    store: (addr: Expr): Expr => fn.block([rec.set(addr), ...[x0, x1, y0, y1, area].map((v, k) => m.f32.store(4 * k, 4, rec.get(), v.get()))]),
    suppressedBy: (addr: Expr): Expr => {
      const exit = fn.label("S");
      const none = (c: Expr) => m.drop(m.br(exit, c, m.i32.const(0)));
      return m.block(exit, [
        rec.set(addr),
        // the intersection's sides: none where its max is not past its min
        lo.set(m.f32.max(x0.get(), field(rec.get(), 0))), hi.set(m.f32.min(x1.get(), field(rec.get(), 1))),
        none(m.f32.le(hi.get(), lo.get())),
        ix.set(m.f32.sub(hi.get(), lo.get())),
        lo.set(m.f32.max(y0.get(), field(rec.get(), 2))), hi.set(m.f32.min(y1.get(), field(rec.get(), 3))),
        none(m.f32.le(hi.get(), lo.get())),
        iy.set(m.f32.sub(hi.get(), lo.get())),
        inter.set(m.f32.mul(ix.get(), iy.get())),
        none(m.f32.le(inter.get(), zero())),
        other.set(field(rec.get(), 4)),
        uni.set(m.f32.sub(m.f32.add(area.get(), other.get()), inter.get())),
        none(m.i32.or(m.i32.or(m.f32.le(area.get(), zero()), m.f32.le(other.get(), zero())), m.f32.le(uni.get(), zero()))),
        m.f32.gt(m.f32.div(inter.get(), uni.get()), threshold.get()),
      ], binaryen.i32);
    },
  };
}

export const KERNELS = table.families;
