// A binary heap of i32 ids in scratch memory (4 bytes each from `base`), ordered by a comparison the
// kernel gives: NonMaxSuppression pops its best candidates from one, Unique sorts with one. O(n log
// n), in place, no recursion.
import binaryen from "binaryen";
import type { Expr, Fn, Local } from "../fn.js";

/** whether the element x goes nearer the heap's root than y (both thunks: each is read more than once) */
export type HeapOrder = (x: () => Expr, y: () => Expr) => Expr;

export class Heap {
  constructor(private readonly fn: Fn, private readonly base: number) {}

  at(k: Expr): Expr {
    const m = this.fn.m;
    return m.i32.add(m.i32.const(this.base), m.i32.shl(k, m.i32.const(2)));
  }

  get(k: Expr): Expr {
    return this.fn.m.i32.load(0, 4, this.at(k));
  }

  set(k: Expr, v: Expr): Expr {
    return this.fn.m.i32.store(0, 4, this.at(k), v);
  }

  /** the element at `at` moved down to its place, the heap `size` long (`at` is changed) */
  siftDown(at: Local, size: () => Expr, first: HeapOrder): Expr {
    const { fn } = this;
    const m = fn.m;
    const [l, best, t] = [fn.local(binaryen.i32), fn.local(binaryen.i32), fn.local(binaryen.i32)];
    const [label, exit] = [fn.label(), fn.label("X")];
    const one = () => m.i32.const(1);
    return m.block(exit, [m.loop(label, fn.block([
      l.set(m.i32.add(m.i32.shl(at.get(), one()), one())),
      m.br(exit, m.i32.ge_u(l.get(), size())),
      best.set(l.get()),
      // nested: the right child is read only where there is one (i32.and evaluates both sides)
      m.if(m.i32.lt_u(m.i32.add(l.get(), one()), size()),
        m.if(first(() => this.get(m.i32.add(l.get(), one())), () => this.get(l.get())), best.set(m.i32.add(l.get(), one())))),
      m.br(exit, m.i32.eqz(first(() => this.get(best.get()), () => this.get(at.get())))),
      t.set(this.get(at.get())),
      this.set(at.get(), this.get(best.get())),
      this.set(best.get(), t.get()),
      at.set(best.get()),
      m.br(label),
    ]))]);
  }

  /** the first `size` elements made a heap */
  heapify(size: Local, first: HeapOrder): Expr {
    const { fn } = this;
    const m = fn.m;
    const [i, root] = [fn.local(binaryen.i32), fn.local(binaryen.i32)];
    return fn.block([
      i.set(m.i32.shr_u(size.get(), m.i32.const(1))),
      fn.loopDyn(m.i32.const(0), i.get(), () => [
        i.set(m.i32.sub(i.get(), m.i32.const(1))),
        root.set(i.get()),
        this.siftDown(root, () => size.get(), first),
      ]),
    ]);
  }

  /** the first `size` elements sorted so that each comes `before` the next (heapsort: not stable; give `before` a tie-break) */
  sort(size: Local, before: HeapOrder): Expr {
    const { fn } = this;
    const m = fn.m;
    // a heap whose root comes last, moved to the end one at a time
    const last: HeapOrder = (x, y) => before(y, x);
    const [end, t, root] = [fn.local(binaryen.i32), fn.local(binaryen.i32), fn.local(binaryen.i32)];
    return fn.block([
      this.heapify(size, last),
      end.set(size.get()),
      fn.loopDyn(m.i32.const(1), size.get(), () => [
        end.set(m.i32.sub(end.get(), m.i32.const(1))),
        t.set(this.get(m.i32.const(0))),
        this.set(m.i32.const(0), this.get(end.get())),
        this.set(end.get(), t.get()),
        root.set(m.i32.const(0)),
        this.siftDown(root, () => end.get(), last),
      ]),
    ]);
  }
}
