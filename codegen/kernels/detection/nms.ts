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
  const [b, c, i, j, count, kept, cands, limit] = Array.from({ length: 8 }, () => fn.local(binaryen.i32));
  const [iou, thr] = [fn.local(binaryen.f32), fn.local(binaryen.f32)];
  const candAt = (k: Expr) => m.i32.add(i32(ctx.scratchAddr), m.i32.shl(k, i32(2)));
  const keptAt = (k: Expr) => m.i32.add(i32(ctx.scratchAddr + 4 * N), m.i32.shl(k, i32(2)));
  const cand = (k: Expr) => m.i32.load(0, 4, candAt(k));
  const score = (box: Expr) =>
    m.f32.load(0, 4, m.i32.add(i32(scores.addr), m.i32.shl(m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(b.get(), i32(C)), c.get()), i32(N)), box), i32(2))));
  /** candidate boxes x before y: a higher score, or the same and a lower index */
  const before = (x: () => Expr, y: () => Expr) =>
    m.i32.or(m.f32.gt(score(x()), score(y())), m.i32.and(m.f32.eq(score(x()), score(y())), m.i32.lt_u(x(), y())));
  /** sift the heap's element at `at` down, the heap `size` long */
  const siftDown = (at: Local, size: () => Expr): Expr => {
    const [l, best, t] = [fn.local(binaryen.i32), fn.local(binaryen.i32), fn.local(binaryen.i32)];
    const [label, exit] = [fn.label(), fn.label("X")];
    return m.block(exit, [m.loop(label, fn.block([
      l.set(m.i32.add(m.i32.shl(at.get(), i32(1)), i32(1))),
      m.br(exit, m.i32.ge_u(l.get(), size())),
      best.set(l.get()),
      // nested: the right child is read only where there is one (i32.and evaluates both sides)
      m.if(m.i32.lt_u(m.i32.add(l.get(), i32(1)), size()),
        m.if(before(() => cand(m.i32.add(l.get(), i32(1))), () => cand(l.get())), best.set(m.i32.add(l.get(), i32(1))))),
      m.br(exit, m.i32.eqz(before(() => cand(best.get()), () => cand(at.get())))),
      t.set(cand(at.get())),
      m.i32.store(0, 4, candAt(at.get()), cand(best.get())),
      m.i32.store(0, 4, candAt(best.get()), t.get()),
      at.set(best.get()),
      m.br(label),
    ]))]);
  };
  const suppresses = suppressTest(ctx, iou);
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
        m.i32.store(0, 4, candAt(cands.get()), ii.get()),
        cands.set(m.i32.add(cands.get(), i32(1))),
      ])),
    ]),
    i.set(m.i32.shr_s(cands.get(), i32(1))),
    fn.loopDyn(i32(0), i.get(), () => [
      i.set(m.i32.sub(i.get(), i32(1))),
      root.set(i.get()),
      siftDown(root, () => cands.get()),
    ]),
    kept.set(i32(0)),
    m.block(pop, [m.loop(next, fn.block([
      m.br(pop, m.i32.or(m.i32.eqz(cands.get()), m.i32.ge_u(kept.get(), limit.get()))),
      top.set(cand(i32(0))),
      cands.set(m.i32.sub(cands.get(), i32(1))),
      m.i32.store(0, 4, candAt(i32(0)), cand(cands.get())),
      root.set(i32(0)),
      siftDown(root, () => cands.get()),
      sel.set(i32(1)),
      j.set(i32(0)),
      m.block(compared, [m.loop(each, fn.block([
        m.br(compared, m.i32.ge_u(j.get(), kept.get())),
        m.if(suppresses(() => m.i32.add(m.i32.mul(b.get(), i32(N)), top.get()), () => m.i32.add(m.i32.mul(b.get(), i32(N)), m.i32.load(0, 4, keptAt(j.get())))),
          m.block(null, [sel.set(i32(0)), m.br(compared)])),
        j.set(m.i32.add(j.get(), i32(1))),
        m.br(each),
      ]))]),
      m.if(sel.get(), m.block(null, [
        m.i32.store(0, 4, keptAt(kept.get()), top.get()),
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
}, { prepare: (ctx) => ({ scratchBytes: 8 * ctx.input(0).dims[1] }) });

/**
 * IoU(x, y) > threshold for boxes x and y (their indices among all boxes, batch included), with
 * the reference's early outs: no overlap, or an empty area or union, suppresses nothing.
 */
function suppressTest(ctx: KernelCtx, threshold: Local): (x: () => Expr, y: () => Expr) => Expr {
  const { m, fn } = ctx;
  const boxes = ctx.input(0);
  const centred = ctx.attrs.int("center_point_box", 0) === 1;
  const [ax0, ax1, ay0, ay1, bx0, bx1, by0, by1, lo, hi, ix, iy, inter, areaA, areaB, uni] = Array.from({ length: 16 }, () => fn.local(binaryen.f32));
  const at = (box: () => Expr, k: number) => m.f32.load(4 * k, 4, m.i32.add(m.i32.const(boxes.addr), m.i32.shl(box(), m.i32.const(4))));
  /** the box's x extent then y extent as [min, max] */
  const extents = (box: () => Expr, [x0, x1, y0, y1]: Local[]): Expr[] => centred
    ? [
      x0.set(m.f32.sub(at(box, 0), m.f32.div(at(box, 2), m.f32.const(2)))), x1.set(m.f32.add(at(box, 0), m.f32.div(at(box, 2), m.f32.const(2)))),
      y0.set(m.f32.sub(at(box, 1), m.f32.div(at(box, 3), m.f32.const(2)))), y1.set(m.f32.add(at(box, 1), m.f32.div(at(box, 3), m.f32.const(2)))),
    ]
    // [y1, x1, y2, x2], either corner first
    : [
      x0.set(m.f32.min(at(box, 1), at(box, 3))), x1.set(m.f32.max(at(box, 1), at(box, 3))),
      y0.set(m.f32.min(at(box, 0), at(box, 2))), y1.set(m.f32.max(at(box, 0), at(box, 2))),
    ];
  const zero = () => m.f32.const(0);
  return (x, y) => {
    const exit = fn.label("S");
    return m.block(exit, [
      ...extents(x, [ax0, ax1, ay0, ay1]),
      ...extents(y, [bx0, bx1, by0, by1]),
      // the intersection's sides: none where its max is not past its min
      lo.set(m.f32.max(ax0.get(), bx0.get())), hi.set(m.f32.min(ax1.get(), bx1.get())),
      m.drop(m.br(exit, m.f32.le(hi.get(), lo.get()), m.i32.const(0))),
      ix.set(m.f32.sub(hi.get(), lo.get())),
      lo.set(m.f32.max(ay0.get(), by0.get())), hi.set(m.f32.min(ay1.get(), by1.get())),
      m.drop(m.br(exit, m.f32.le(hi.get(), lo.get()), m.i32.const(0))),
      iy.set(m.f32.sub(hi.get(), lo.get())),
      inter.set(m.f32.mul(ix.get(), iy.get())),
      m.drop(m.br(exit, m.f32.le(inter.get(), zero()), m.i32.const(0))),
      areaA.set(m.f32.mul(m.f32.sub(ax1.get(), ax0.get()), m.f32.sub(ay1.get(), ay0.get()))),
      areaB.set(m.f32.mul(m.f32.sub(bx1.get(), bx0.get()), m.f32.sub(by1.get(), by0.get()))),
      uni.set(m.f32.sub(m.f32.add(areaA.get(), areaB.get()), inter.get())),
      m.drop(m.br(exit, m.i32.or(m.i32.or(m.f32.le(areaA.get(), zero()), m.f32.le(areaB.get(), zero())), m.f32.le(uni.get(), zero())), m.i32.const(0))),
      m.f32.gt(m.f32.div(inter.get(), uni.get()), threshold.get()),
    ], binaryen.i32);
  };
}

export const KERNELS = table.families;
